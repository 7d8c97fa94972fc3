use core::fmt;

/// Everything that can stop the frame loop or a firmware build.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The runtime refused the model or a generate call.
    Model(runtime::Error),
    /// A caller-provided buffer is shorter than the model needs.
    BufferTooSmall {
        buffer: &'static str,
        needed: usize,
        available: usize,
    },
    /// The model does not fit the board (checked by the board's build script).
    DoesNotFit {
        board: &'static str,
        resource: &'static str,
        needed: usize,
        available: usize,
    },
    /// The display is too small to hold an image and a caption.
    DisplayTooSmall { width: u32, height: u32 },
    /// A board's build script could not read the model file.
    #[cfg(feature = "std")]
    ModelFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A host program could not write a frame file.
    #[cfg(feature = "std")]
    FrameFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl From<runtime::Error> for Error {
    fn from(e: runtime::Error) -> Self {
        Error::Model(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Model(e) => write!(f, "model: {e}"),
            Error::BufferTooSmall {
                buffer,
                needed,
                available,
            } => write!(
                f,
                "{buffer} buffer holds {available} elements, the model needs {needed}"
            ),
            Error::DoesNotFit {
                board,
                resource,
                needed,
                available,
            } => write!(
                f,
                "the model does not fit the {board}: it needs {needed} bytes of {resource}, \
                 {available} are available"
            ),
            Error::DisplayTooSmall { width, height } => write!(
                f,
                "a {width}x{height} display is too small (at least 32x16 is needed)"
            ),
            #[cfg(feature = "std")]
            Error::ModelFile { path, source } => write!(
                f,
                "cannot read the model file {}: {source} (train and export one, or point \
                 MICROGAN_MODEL at another)",
                path.display()
            ),
            #[cfg(feature = "std")]
            Error::FrameFile { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl core::error::Error for Error {}
