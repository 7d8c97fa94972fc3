//! `trainer sample`: images from an exported model file, made by the runtime (not candle), so what
//! a user looks at is what a board will draw from the same file and seed.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use runtime::output::to_grey_u8;
use runtime::rng::LatentRng;
use runtime::Generator;

use crate::error::{Error, Result};
use crate::grid;

/// Output kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SampleFormat {
    /// A PNG grid (a scatter plot for a 2-D point model).
    #[default]
    Png,
    /// N x H x W x C bytes, row-major, 0 = the low end of the output range.
    Raw,
}

/// `trainer sample` options.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    /// An exported generator file.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Output file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Seed of the latents (the runtime's LatentRng, identical on every target).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Class of every image (conditional models; default: cycle through the classes).
    #[arg(long)]
    pub class: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SampleFormat::Png)]
    pub format: SampleFormat,
}

/// Largest `--count`: keeps a raw file and a grid to a sensible size.
const MAX_COUNT: usize = 100_000;

/// `trainer sample`.
pub fn run(a: &SampleArgs) -> Result<()> {
    let bytes = std::fs::read(&a.model).map_err(|e| Error::io(&a.model, e))?;
    let gen = Generator::load(&bytes).map_err(|e| Error::Model {
        path: a.model.clone(),
        reason: e.to_string(),
    })?;
    write_samples(&gen, &a.out, a.format, a.seed, a.class, Some(a.count))?;
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Generates `count` images (default 64, or 8 per class for a conditional model) with latents
/// from `LatentRng::new(seed)`, one latent vector after another, and writes them.
pub fn write_samples(
    gen: &Generator<'_>,
    out: &Path,
    format: SampleFormat,
    seed: u64,
    class: Option<usize>,
    count: Option<usize>,
) -> Result<()> {
    let classes = gen.num_classes();
    let shape = gen.output_shape();
    let points = shape.h == 1 && shape.w == 1 && shape.c == 2;
    let count = count.unwrap_or(if points {
        2_500
    } else if classes > 0 && class.is_none() {
        classes * 8
    } else {
        64
    });
    check_request(count, class, classes)?;
    let values = generate(gen, seed, class, count)?;
    let n = gen.output_len();
    let mut bytes = vec![0u8; count * n];
    for (img, o) in values.chunks(n).zip(bytes.chunks_mut(n)) {
        to_grey_u8(img, gen.output_activation(), o);
    }
    match format {
        SampleFormat::Raw => write_raw(out, &bytes, shape.c, shape.h * shape.w),
        SampleFormat::Png if points => {
            let extent = values
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                .clamp(1.0, 100.0)
                * 2.4;
            grid::save_scatter(out, &values, &[], extent)
        }
        SampleFormat::Png => {
            let cols = if classes > 0 && class.is_none() {
                classes
            } else {
                (count as f64).sqrt().ceil() as usize
            };
            grid::save_grid(out, &bytes, count, shape.c, shape.h, shape.w, cols)
        }
    }
}

/// An error unless `count` images of `class` can be drawn from a model with `classes` classes.
fn check_request(count: usize, class: Option<usize>, classes: usize) -> Result<()> {
    if count == 0 || count > MAX_COUNT {
        return Err(Error::InvalidArgument(format!(
            "--count {count} must be between 1 and {MAX_COUNT}"
        )));
    }
    match (class, classes) {
        (Some(k), 0) => Err(Error::InvalidArgument(format!(
            "--class {k}: this model is not conditional"
        ))),
        (Some(k), n) if k >= n => Err(Error::InvalidArgument(format!(
            "--class {k}: the model has classes 0..{}",
            n - 1
        ))),
        _ => Ok(()),
    }
}

/// `count` outputs, one after another; the classes cycle unless `class` is given.
fn generate(
    gen: &Generator<'_>,
    seed: u64,
    class: Option<usize>,
    count: usize,
) -> Result<Vec<f32>> {
    let (classes, n) = (gen.num_classes(), gen.output_len());
    let mut rng = LatentRng::new(seed);
    let mut z = vec![0f32; gen.latent_dim()];
    let mut scratch = vec![0f32; gen.scratch_len()];
    let mut values = vec![0f32; count * n];
    // Weights reordered once for the fastest kernels (same images).
    let mut prepared = vec![0f32; gen.prepared_len()];
    let fast = gen
        .prepare(&mut prepared)
        .map_err(|e| Error::InvalidArgument(format!("generation failed: {e}")))?;
    for i in 0..count {
        rng.fill_normal(&mut z);
        let k = if classes == 0 {
            None
        } else {
            Some(class.unwrap_or(i % classes))
        };
        fast.generate(&z, k, &mut scratch, &mut values[i * n..(i + 1) * n])
            .map_err(|e| Error::InvalidArgument(format!("generation failed: {e}")))?;
    }
    Ok(values)
}

/// Writes the images channels last, as image tools expect.
fn write_raw(out: &Path, bytes: &[u8], c: usize, hw: usize) -> Result<()> {
    let n = c * hw;
    let mut hwc = vec![0u8; bytes.len()];
    for (src, dst) in bytes.chunks(n).zip(hwc.chunks_mut(n)) {
        for ch in 0..c {
            for p in 0..hw {
                dst[p * c + ch] = src[ch * hw + p];
            }
        }
    }
    std::fs::write(out, &hwc).map_err(|e| Error::io(out, e))
}
