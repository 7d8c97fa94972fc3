use std::fmt;
use std::path::PathBuf;

/// Why the program stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The frame loop or the runtime refused the model, or a frame file could not be written.
    App(Box<gan_app::Error>),
    /// The display stopped answering.
    Display(String),
    /// A PNG could not be written.
    Png { path: PathBuf, message: String },
}

impl From<gan_app::Error> for Error {
    fn from(e: gan_app::Error) -> Self {
        Error::App(Box::new(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::App(e) => write!(f, "{e}"),
            Error::Display(e) => write!(f, "the display stopped answering: {e}"),
            Error::Png { path, message } => write!(f, "cannot write {}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {}
