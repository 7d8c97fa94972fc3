//! The memory budgets of the commands: what a request would take is worked out from the model's
//! sizes and the options, and a request over budget is refused before anything is allocated, with
//! the option to change. Without this a small file or an accepted option (a 760-byte model that
//! draws 4096 x 4096 images, `--image-size 1024`) made the process abort on a failed allocation
//! or the kernel kill it, after taking the machine's memory.

use crate::error::{Error, Result};

const GIB: u64 = 1 << 30;

/// `sample` and `eval`: the runtime's buffers plus what the output holds.
pub const SAMPLE: u64 = 2 * GIB;
/// The largest file `sample --format raw` writes (it is streamed, so this bounds the disk, not
/// the memory).
pub const RAW_FILE: u64 = 16 * GIB;
/// `train`'s default (`--max-memory`, in GiB): the data, both networks with their gradients and
/// Adam moments, a batch's activations, and a checkpoint being written.
pub const TRAIN_DEFAULT_GIB: u64 = 8;

/// An error unless `needed` bytes fit in `budget`; `fix` says which option lowers the need.
pub fn check(what: &'static str, needed: u64, budget: u64, fix: &str) -> Result<()> {
    if needed <= budget {
        return Ok(());
    }
    Err(Error::OverBudget {
        what,
        needed,
        budget,
        fix: fix.into(),
    })
}

/// An error unless a file of `bytes` fits in [`RAW_FILE`].
pub fn check_file(what: &'static str, bytes: u64, fix: &str) -> Result<()> {
    if bytes <= RAW_FILE {
        return Ok(());
    }
    Err(Error::OutputTooLarge {
        what,
        bytes,
        limit: RAW_FILE,
        fix: fix.into(),
    })
}

/// The runtime's buffers for drawing from `gen` (latent, scratch, output, prepared weights), in
/// bytes: a hostile file can make each of them large.
pub fn runtime_bytes(gen: &runtime::Generator<'_>) -> u64 {
    [
        gen.latent_dim(),
        gen.scratch_len(),
        gen.output_len(),
        gen.prepared_len(),
    ]
    .iter()
    .fold(0u64, |sum, &n| sum.saturating_add(4 * n as u64))
}

/// Bytes as the user reads them: GiB, MiB or bytes.
pub fn human(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}
