use std::fmt;
use std::path::PathBuf;

/// Why the simulator stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading the model or writing a frame file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The model file is not a valid generator.
    Model {
        path: PathBuf,
        source: Box<runtime::Error>,
    },
    /// The frame loop refused the model or its buffers.
    App(Box<gan_app::Error>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Model { path, source } => write!(f, "{}: {source}", path.display()),
            Error::App(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Model { source, .. } => Some(source.as_ref()),
            Error::App(e) => Some(e.as_ref()),
        }
    }
}

impl From<gan_app::Error> for Error {
    fn from(e: gan_app::Error) -> Self {
        Error::App(Box::new(e))
    }
}
