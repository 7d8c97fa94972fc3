use core::fmt;

/// Why the firmware stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The frame loop or the runtime refused the embedded model.
    App(gan_app::Error),
    /// QEMU could not create or write a frame file (is semihosting enabled?).
    HostFile,
}

impl From<gan_app::Error> for Error {
    fn from(e: gan_app::Error) -> Self {
        Error::App(e)
    }
}

impl From<runtime::Error> for Error {
    fn from(e: runtime::Error) -> Self {
        Error::App(e.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::App(e) => write!(f, "{e}"),
            Error::HostFile => f.write_str(
                "cannot write a frame file on the host (run QEMU with -semihosting-config enable=on)",
            ),
        }
    }
}

impl core::error::Error for Error {}
