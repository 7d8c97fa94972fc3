//! `trainer export`: folds batch norm, writes the generator through the runtime's own writer, then
//! proves the file by running it with the runtime and comparing with candle's evaluation-mode
//! generator on fixed latents. A file that does not match within [`Tolerance`] is not written.
//!
//! Export knows nothing of the training loop: it takes a built [`crate::models::Gan`] (a live
//! run's, or one rebuilt from a checkpoint by [`crate::checkpoint::load_gan`]).

mod check;
mod command;
mod file;

pub use check::{check_inputs, runtime_outputs};
pub use check::{compare, error_stats, Tolerance, CHECK_LATENTS, CHECK_SEED};
pub use command::{run, ExportArgs};
pub use file::{
    build_bytes, build_file, default_out, export_gan, export_run, quantized, write_model,
    ExportOptions, ExportReport,
};

use std::path::PathBuf;

use clap::ValueEnum;

use crate::error::Error;

/// Storage type of the exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportDtype {
    /// Half precision: half the flash, the default for boards.
    #[default]
    F16,
    /// Single precision.
    F32,
    /// Integers (format version 2): int8 weights with a scale per output channel, int16
    /// activations; about half the f16 file, and no floating-point arithmetic per
    /// multiply-accumulate on a core without an FPU.
    I8,
}

impl ExportDtype {
    /// The name on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            ExportDtype::F16 => "f16",
            ExportDtype::F32 => "f32",
            ExportDtype::I8 => "i8",
        }
    }
}

/// The error of a model file the runtime refused (`path`, or "(export)" before it has one).
fn model_error(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.into(),
        reason: e.to_string(),
    }
}
