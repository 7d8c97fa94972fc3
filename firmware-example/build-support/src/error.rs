use std::fmt;
use std::path::PathBuf;

/// Why a board's build script refuses to build.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The runtime refused the model file.
    Model(runtime::Error),
    /// The model does not fit the board.
    DoesNotFit {
        board: &'static str,
        resource: &'static str,
        needed: usize,
        available: usize,
    },
    /// The model file could not be read.
    ModelFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file the build script copies or generates could not be written.
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Cargo did not set a variable it sets for every build script (run by hand?).
    Cargo(&'static str),
    /// A numeric build setting is not a number in its range.
    Setting {
        name: &'static str,
        value: String,
        min: u32,
        max: u32,
    },
    /// `MICROGAN_CLASS` is not a class of the model (`num_classes` 0: an unconditional one).
    ClassSetting { value: String, num_classes: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
            Error::Model(e) => write!(f, "model: {e}"),
            Error::ModelFile { path, source } => write!(
                f,
                "cannot read the model file {}: {source} (train and export one, or point \
                 MICROGAN_MODEL at another)",
                path.display()
            ),
            Error::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            Error::Cargo(name) => write!(f, "{name} is not set (cargo sets it for build scripts)"),
            Error::Setting {
                name,
                value,
                min,
                max,
            } => write!(f, "{name}={value:?}: expected a number from {min} to {max}"),
            Error::ClassSetting {
                value,
                num_classes: 0,
            } => write!(
                f,
                "MICROGAN_CLASS={value:?}: the model is unconditional (leave MICROGAN_CLASS unset)"
            ),
            Error::ClassSetting { value, num_classes } => write!(
                f,
                "MICROGAN_CLASS={value:?}: the model has classes 0 to {}",
                num_classes - 1
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Model(e) => Some(e),
            Error::ModelFile { source, .. } | Error::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}
