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

/// What training a spec takes, in bytes, by part; the largest part decides which option the
/// error names.
#[derive(Debug, Clone, Copy)]
pub struct TrainMemory {
    /// The training samples, as f32.
    pub data: u64,
    /// Both networks' values, gradients and two Adam moments, plus a checkpoint being written
    /// (values and moments copied, then serialised).
    pub networks: u64,
    /// One batch through G and, real and fake, through D: outputs, gradients and temporaries.
    pub activations: u64,
}

impl TrainMemory {
    pub fn total(&self) -> u64 {
        self.data
            .saturating_add(self.networks)
            .saturating_add(self.activations)
    }
}

/// The memory of training `spec` with batches of `batch` on `samples` values of data.
pub fn train_memory(spec: &crate::models::ModelSpec, batch: usize, samples: usize) -> TrainMemory {
    let (g, d) = crate::models::size::of(spec);
    let values = g.values.saturating_add(d.values);
    let per_sample = g
        .activations_per_sample
        .saturating_add(2 * d.activations_per_sample);
    TrainMemory {
        data: 4 * samples as u64,
        // 4 copies while training, 6 more while a checkpoint is written.
        networks: values.saturating_mul(4 * 10),
        activations: per_sample
            .saturating_mul(batch as u64)
            .saturating_mul(4 * 3),
    }
}

/// An error unless an image folder's `count` images, as f32 samples of `size` x `size` x
/// `channels`, fit in `max_gib` GiB: checked before any image is decoded.
pub fn check_image_folder(count: usize, size: usize, channels: usize, max_gib: u64) -> Result<()> {
    let bytes = (count as u64)
        .saturating_mul((size * size * channels) as u64)
        .saturating_mul(4);
    check(
        "train",
        bytes,
        max_gib.saturating_mul(GIB),
        "the folder's images alone exceed it: use fewer images or a smaller --image-size, or raise --max-memory",
    )
}

/// An error unless training fits in `max_gib` GiB, naming the option that lowers the largest part.
pub fn check_train(m: &TrainMemory, max_gib: u64) -> Result<()> {
    let fix = if m.networks >= m.activations && m.networks >= m.data {
        "the networks grow with the image: lower --image-size (or --pack, --latent-dim), or raise --max-memory"
    } else if m.activations >= m.data {
        "lower --batch-size (or --image-size), or raise --max-memory"
    } else {
        "use fewer samples (--limit), or raise --max-memory"
    };
    check("train", m.total(), max_gib.saturating_mul(GIB), fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, ModelSpec, ToyNet};

    fn spec(arch: Arch, side: usize) -> ModelSpec {
        ModelSpec {
            arch,
            latent_dim: 100,
            num_classes: 10,
            embed_dim: 10,
            channels: 1,
            height: side,
            width: side,
            pack: 1,
            toy_net: ToyNet::Small,
            g_width: 1,
            d_width: 1,
        }
    }

    #[test]
    fn the_presets_fit_and_large_images_do_not() {
        // Full MNIST (60,000 digits) in both architectures, batch 64 and the benchmark's 1024.
        for arch in [Arch::Mlp, Arch::Dcgan] {
            for (batch, limit) in [(64, GIB), (1024, TRAIN_DEFAULT_GIB * GIB)] {
                let m = train_memory(&spec(arch, 28), batch, 60_000 * 784);
                assert!(m.total() < limit, "{arch} batch {batch}: {m:?}");
            }
        }
        let m = train_memory(&spec(Arch::Mlp, 1024), 2, 1024 * 1024);
        let err = check_train(&m, TRAIN_DEFAULT_GIB).unwrap_err().to_string();
        assert!(err.contains("--image-size") && err.contains("GiB"), "{err}");
        assert!(check_train(&m, 100).is_ok());
    }
}
