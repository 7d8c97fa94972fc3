//! The trainer's one error type: every failure a user can cause carries what they need to fix it.

use std::path::PathBuf;

/// Everything that can go wrong in the trainer, one variant per failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data directory that does not exist or lacks the expected files.
    DataMissing { path: PathBuf, hint: String },
    /// An IDX file whose bytes do not describe what its header or name promise.
    Idx { path: PathBuf, reason: String },
    /// An image in an `--images` folder that cannot be used.
    Image { path: PathBuf, reason: String },
    /// An `--images` folder without any PNG or JPEG file.
    EmptyImageDir { path: PathBuf },
    /// A command-line value or combination that makes no sense.
    InvalidArgument(String),
    /// A checkpoint that is missing, corrupt, or does not fit this run.
    Checkpoint { path: PathBuf, reason: String },
    /// A run directory that is missing or incomplete.
    Run { path: PathBuf, reason: String },
    /// No run to export from.
    NoRuns { path: PathBuf },
    /// A loss became NaN or infinite.
    NonFinite {
        step: u64,
        what: String,
        last_checkpoint: Option<PathBuf>,
    },
    /// The exported file does not reproduce candle's generator closely enough.
    ExportMismatch {
        max_abs_error: f32,
        psnr_db: f64,
        limit: String,
    },
    /// Refused to replace an existing file.
    WouldOverwrite { path: PathBuf },
    /// Training stopped by Ctrl-C after writing a checkpoint.
    Interrupted { checkpoint: PathBuf },
    /// A tensor operation failed.
    Candle(candle_core::Error),
    /// The runtime rejected a model file.
    Model { path: PathBuf, reason: String },
    /// JSON that could not be read or written.
    Json { path: PathBuf, reason: String },
    /// Fewer samples than a figure needs.
    TooFewSamples {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    /// Two inputs whose sizes must agree do not.
    DimensionMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// A class index beyond the number of classes.
    ClassOutOfRange { class: usize, classes: usize },
    /// A KL divergence that is infinite: mass where the reference has none.
    InfiniteDivergence { index: usize },
    /// NaN or infinity in values an evaluation needs finite.
    NonFiniteValues(&'static str),
    /// A digit classifier file that is missing, corrupt or not a classifier.
    Classifier { path: PathBuf, reason: String },
    /// A request that would take more memory than the command's budget (`crate::budget`).
    OverBudget {
        what: &'static str,
        needed: u64,
        budget: u64,
        fix: String,
    },
    /// An output file larger than the limit on what one command writes.
    OutputTooLarge {
        what: &'static str,
        bytes: u64,
        limit: u64,
        fix: String,
    },
    /// A generator whose output holds NaN or infinity (finite weights that overflow).
    NonFiniteOutput { image: usize },
    /// A run directory another process is training in.
    Locked { path: PathBuf },
    /// A file that cannot be read as a PyTorch state dict (pickle or safetensors).
    StateDict { path: PathBuf, reason: String },
    /// A tensor the architecture needs is not in the state dict.
    MissingTensor { key: String, role: String },
    /// A state-dict tensor whose shape does not fit the architecture.
    TensorShape {
        key: String,
        expected: String,
        found: Vec<usize>,
    },
    /// A state-dict tensor that holds integers where weights are expected.
    TensorDtype { key: String, found: String },
    /// NaN or infinity in a state-dict tensor.
    NonFiniteTensor { key: String },
    /// A batch norm whose `running_var + eps` is not positive in some channel.
    BadVariance { key: String, channel: usize },
    /// State-dict tensors that the architecture does not use.
    UnusedTensors { keys: Vec<String> },
    /// A batch norm that no preceding layer can absorb.
    UnfoldableBatchNorm { key: String, after: String },
    /// A line of a user's layer list that cannot be used.
    LayerList { line: usize, reason: String },
    /// A step of a layer list that cannot take the previous step's output.
    LayerChain { step: String, reason: String },
    /// A state dict that none of the known architectures matches.
    UnknownArchitecture { keys: Vec<String> },
    /// An output whose image shape cannot be told, or contradicts `--image-shape`.
    ImageShape { outputs: usize, reason: String },
    /// A file of reference images (`--against`) that cannot be used.
    ReferenceFile { path: PathBuf, reason: String },
    /// The runtime's images differ from a reference file's (PyTorch's) beyond the tolerance.
    ReferenceMismatch {
        path: PathBuf,
        max_abs_error: f32,
        psnr_db: f64,
        limit: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// `Ok` when the two sizes of `what` are equal, else [`Error::DimensionMismatch`].
    pub fn check_equal(what: &'static str, left: usize, right: usize) -> Result<()> {
        if left != right {
            return Err(Error::DimensionMismatch { what, left, right });
        }
        Ok(())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::DataMissing { path, hint } => {
                write!(f, "data directory {} not found or incomplete: {hint}", path.display())
            }
            Error::Idx { path, reason } => write!(f, "{}: not a valid IDX file: {reason}", path.display()),
            Error::Image { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::EmptyImageDir { path } => {
                write!(f, "{}: no PNG or JPEG images in this folder", path.display())
            }
            Error::InvalidArgument(msg) => write!(f, "{msg}"),
            Error::Checkpoint { path, reason } => write!(f, "checkpoint {}: {reason}", path.display()),
            Error::Run { path, reason } => write!(f, "run {}: {reason}", path.display()),
            Error::NoRuns { path } => write!(
                f,
                "no training run found in {} (train one first, or pass --run DIR or --checkpoint FILE)",
                path.display()
            ),
            Error::NonFinite { step, what, last_checkpoint } => {
                write!(f, "{what} became NaN or infinite at step {step}; ")?;
                match last_checkpoint {
                    Some(p) => write!(f, "the last good checkpoint is {}", p.display()),
                    None => write!(f, "no checkpoint had been written yet"),
                }
            }
            Error::ExportMismatch { max_abs_error, psnr_db, limit } => write!(
                f,
                "the exported file does not match candle's generator (max abs error {max_abs_error:.3e}, \
                 PSNR {psnr_db:.1} dB; required {limit}); nothing written"
            ),
            Error::WouldOverwrite { path } => write!(
                f,
                "{} already exists; pass --force to replace it or --out to choose another file",
                path.display()
            ),
            Error::Interrupted { checkpoint } => {
                write!(f, "interrupted; checkpoint written to {}", checkpoint.display())
            }
            Error::Candle(e) => write!(f, "tensor operation failed: {}", first_line(&e.to_string())),
            Error::Model { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::Json { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::TooFewSamples { what, needed, got } => {
                write!(f, "{what}: {got} given, at least {needed} needed")
            }
            Error::DimensionMismatch { what, left, right } => {
                write!(f, "{what}: sizes {left} and {right} do not fit together")
            }
            Error::ClassOutOfRange { class, classes } => {
                write!(f, "class {class} is out of range: there are {classes} classes")
            }
            Error::InfiniteDivergence { index } => {
                write!(f, "KL divergence is infinite: category {index} never occurs in the reference")
            }
            Error::NonFiniteValues(what) => write!(f, "{what} contain NaN or infinity"),
            Error::Classifier { path, reason } => write!(f, "digit classifier {}: {reason}", path.display()),
            Error::OverBudget { what, needed, budget, fix } => write!(
                f,
                "{what} would need {} of memory, above its budget of {}; {fix}",
                human(*needed),
                human(*budget)
            ),
            Error::OutputTooLarge { what, bytes, limit, fix } => write!(
                f,
                "{what} would write {}, above the limit of {}; {fix}",
                human(*bytes),
                human(*limit)
            ),
            Error::NonFiniteOutput { image } => write!(
                f,
                "the generator's output for image {image} holds NaN or infinity (its weights overflow); nothing written"
            ),
            Error::Locked { path } => write!(
                f,
                "run {} is in use by another trainer process; wait for it to finish",
                path.display()
            ),
            Error::StateDict { path, reason } => {
                write!(f, "{}: not a readable PyTorch state dict: {reason}", path.display())
            }
            Error::MissingTensor { key, role } => write!(f, "the state dict has no `{key}` ({role})"),
            Error::TensorShape { key, expected, found } => {
                write!(f, "`{key}` has shape {found:?}, expected {expected}")
            }
            Error::TensorDtype { key, found } => {
                write!(f, "`{key}` holds {found} values, expected floating-point weights")
            }
            Error::NonFiniteTensor { key } => write!(f, "`{key}` contains NaN or infinity"),
            Error::BadVariance { key, channel } => write!(
                f,
                "`{key}`: running_var + eps is not positive in channel {channel}"
            ),
            Error::UnusedTensors { keys } => write!(
                f,
                "the state dict holds tensors the architecture does not use: {} (another --arch or layer list may fit)",
                keys.join(", ")
            ),
            Error::UnfoldableBatchNorm { key, after } => write!(
                f,
                "batch norm `{key}` follows {after}: only a dense or convolution layer (with reshapes or upsampling between) can absorb it"
            ),
            Error::LayerList { line, reason } => write!(f, "layer list, line {line}: {reason}"),
            Error::LayerChain { step, reason } => write!(f, "`{step}`: {reason}"),
            Error::UnknownArchitecture { keys } => write!(
                f,
                "no known architecture has these keys ({}); pass --arch, or list the layers with --layers",
                keys.join(", ")
            ),
            Error::ImageShape { outputs, reason } => {
                write!(f, "the generator's {outputs} outputs: {reason}")
            }
            Error::ReferenceFile { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::ReferenceMismatch { path, max_abs_error, psnr_db, limit } => write!(
                f,
                "the runtime's images differ from {} (max abs error {max_abs_error:.3e}, PSNR {psnr_db:.1} dB; required {limit}); nothing written",
                path.display()
            ),
        }
    }
}

/// Bytes as the user reads them: GiB, MiB or bytes.
fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// candle errors can carry multi-line backtraces; a user gets one line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Candle(e) => Some(e),
            _ => None,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e)
    }
}

/// The trainer's result type.
pub type Result<T> = std::result::Result<T, Error>;
