use core::fmt;

/// Everything that can stop the frame loop or a host program's frame files.
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
    /// A fixed class the model does not have (`num_classes` is 0 for an unconditional model).
    NoSuchClass { class: usize, num_classes: usize },
    /// The display is too small to hold an image and a caption.
    DisplayTooSmall { width: u32, height: u32 },
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
            Error::NoSuchClass {
                class,
                num_classes: 0,
            } => write!(f, "class {class} asked for, but the model is unconditional"),
            Error::NoSuchClass { class, num_classes } => write!(
                f,
                "class {class} asked for, but the model has classes 0 to {}",
                num_classes - 1
            ),
            Error::DisplayTooSmall { width, height } => write!(
                f,
                "a {width}x{height} display is too small (at least 32x16 is needed)"
            ),
            #[cfg(feature = "std")]
            Error::FrameFile { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl core::error::Error for Error {}
