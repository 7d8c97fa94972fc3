//! `trainer sample`: images from an exported model file, made by the runtime (not candle), so what
//! a user looks at is what a board will draw from the same file and seed.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use runtime::output::to_grey_u8;
use runtime::rng::LatentRng;
use runtime::Generator;

use crate::budget;
use crate::error::{Error, Result};
use crate::grid;
use crate::output_file::{self, OutputFile};

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
    /// Magnification of the PNG grid: each pixel drawn N x N [default: about 112 pixels per
    /// image side, 4 for 28-pixel digits].
    #[arg(long, value_name = "N", value_parser = grid::parse_scale)]
    pub scale: Option<usize>,
}

/// Largest `--count`: keeps a raw file and a grid to a sensible size.
const MAX_COUNT: usize = 100_000;

/// `trainer sample`.
pub fn run(a: &SampleArgs) -> Result<()> {
    if output_file::same_file(&a.model, &a.out) {
        return Err(Error::InvalidArgument(format!(
            "--out {} is the model file; choose another output",
            a.out.display()
        )));
    }
    let bytes = std::fs::read(&a.model).map_err(|e| Error::io(&a.model, e))?;
    let gen = Generator::load(&bytes).map_err(|e| Error::Model {
        path: a.model.clone(),
        reason: e.to_string(),
    })?;
    write_samples(
        &gen,
        &a.out,
        a.format,
        a.seed,
        a.class,
        Some(a.count),
        a.scale,
    )?;
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Generates `count` images (default 64, or 8 per class for a conditional model) with latents
/// from `LatentRng::new(seed)`, one latent vector after another, and writes them; a PNG grid is
/// magnified `scale` times (default [`grid::default_scale`]).
pub fn write_samples(
    gen: &Generator<'_>,
    out: &Path,
    format: SampleFormat,
    seed: u64,
    class: Option<usize>,
    count: Option<usize>,
    scale: Option<usize>,
) -> Result<()> {
    render(gen, out, format, seed, class, count, scale)?.commit()
}

/// As [`write_samples`], but leaves the file uncommitted, so a command with several outputs can
/// write all of them or none.
pub fn render(
    gen: &Generator<'_>,
    out: &Path,
    format: SampleFormat,
    seed: u64,
    class: Option<usize>,
    count: Option<usize>,
    scale: Option<usize>,
) -> Result<OutputFile> {
    let classes = gen.num_classes();
    let shape = gen.output_shape();
    let scale = scale
        .unwrap_or_else(|| grid::default_scale(shape.h, shape.w))
        .clamp(1, grid::MAX_SCALE);
    let points = shape.h == 1 && shape.w == 1 && shape.c == 2;
    let count = count.unwrap_or(if points {
        2_500
    } else if classes > 0 && class.is_none() {
        classes * 8
    } else {
        64
    });
    check_request(count, class, classes)?;
    let kind = match format {
        SampleFormat::Raw => Kind::Raw,
        SampleFormat::Png if points => Kind::Scatter,
        SampleFormat::Png => Kind::Grid,
    };
    check_budget(gen, kind, count, scale)?;
    let mut file = OutputFile::create(out)?;
    match kind {
        Kind::Raw => write_raw(gen, seed, class, count, &mut file)?,
        Kind::Scatter => {
            let values = output_values(gen, seed, class, count)?;
            let extent = values
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                .clamp(1.0, 100.0)
                * 2.4;
            file.write_bytes(&grid::scatter_png(out, &values, &[], extent)?)?;
        }
        Kind::Grid => {
            let cols = if classes > 0 && class.is_none() {
                classes
            } else {
                (count as f64).sqrt().ceil() as usize
            };
            let bytes = output_bytes(gen, seed, class, count)?;
            let tiles = grid::Tiles {
                count,
                c: shape.c,
                h: shape.h,
                w: shape.w,
                cols,
                scale,
            };
            let png = grid::grid_png(out, &bytes, &tiles)?;
            file.write_bytes(&png)?;
        }
    }
    Ok(file)
}

/// What is written: its memory needs differ.
#[derive(Clone, Copy)]
enum Kind {
    /// Streamed: one image in memory at a time.
    Raw,
    /// Every point, as f32.
    Scatter,
    /// Every image as bytes, and the grid picture (RGB, then grey).
    Grid,
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

/// Refuses a request whose memory (the runtime's buffers, and for a picture every image and the
/// grid) exceeds [`budget::SAMPLE`], or whose raw file exceeds [`budget::RAW_FILE`], before any of
/// it is allocated.
fn check_budget(gen: &Generator<'_>, kind: Kind, count: usize, scale: usize) -> Result<()> {
    let shape = gen.output_shape();
    let n = gen.output_len() as u64;
    // Bytes held per image: as f32 points; or as bytes, with the RGB grid and its grey copy.
    let per_image = match kind {
        Kind::Raw => 0,
        Kind::Scatter => n * 4,
        Kind::Grid => {
            let s = scale as u64;
            n + 4 * (shape.h as u64 * s + 1) * (shape.w as u64 * s + 1)
        }
    };
    let runtime = budget::runtime_bytes(gen).saturating_add(2 * n);
    let needed = runtime.saturating_add(per_image.saturating_mul(count as u64));
    let fit = budget::SAMPLE.saturating_sub(runtime) / per_image.max(1);
    budget::check("sample", needed, budget::SAMPLE, &lower_count(fit))?;
    if let Kind::Raw = kind {
        let bytes = n.saturating_mul(count as u64);
        budget::check_file(
            "sample --format raw",
            bytes,
            &lower_count(budget::RAW_FILE / n.max(1)),
        )?;
    }
    Ok(())
}

/// The advice of a budget error: the largest `--count` that fits.
fn lower_count(fit: u64) -> String {
    if fit == 0 {
        "this model's images are too large to draw even one".into()
    } else {
        format!("lower --count to at most {fit}")
    }
}

/// Calls `each` with every output in turn (`count` of them), latents from
/// `LatentRng::new(seed)`, the classes cycling unless `class` is given. Refuses an output that
/// holds NaN or infinity, which would otherwise become black pixels.
fn for_each_output(
    gen: &Generator<'_>,
    seed: u64,
    class: Option<usize>,
    count: usize,
    mut each: impl FnMut(&[f32]) -> Result<()>,
) -> Result<()> {
    let classes = gen.num_classes();
    let mut rng = LatentRng::new(seed);
    let mut z = vec![0f32; gen.latent_dim()];
    let mut scratch = vec![0f32; gen.scratch_len()];
    let mut out = vec![0f32; gen.output_len()];
    // Weights reordered once for the fastest kernels (same images).
    let mut prepared = vec![0f32; gen.prepared_len()];
    let fast = gen
        .prepare(&mut prepared)
        .map_err(|e| Error::InvalidArgument(format!("generation failed: {e}")))?;
    for i in 0..count {
        rng.fill_normal(&mut z);
        let k = (classes > 0).then(|| class.unwrap_or(i % classes));
        fast.generate(&z, k, &mut scratch, &mut out)
            .map_err(|e| Error::InvalidArgument(format!("generation failed: {e}")))?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteOutput { image: i });
        }
        each(&out)?;
    }
    Ok(())
}

/// Every output as bytes, channels first, 0 = the low end of the output range.
fn output_bytes(
    gen: &Generator<'_>,
    seed: u64,
    class: Option<usize>,
    count: usize,
) -> Result<Vec<u8>> {
    let n = gen.output_len();
    let mut bytes = vec![0u8; count * n];
    let mut chunks = bytes.chunks_mut(n);
    for_each_output(gen, seed, class, count, |img| {
        if let Some(o) = chunks.next() {
            to_grey_u8(img, gen.output_activation(), o);
        }
        Ok(())
    })?;
    Ok(bytes)
}

/// Every output's values, one after another.
fn output_values(
    gen: &Generator<'_>,
    seed: u64,
    class: Option<usize>,
    count: usize,
) -> Result<Vec<f32>> {
    let mut values = Vec::with_capacity(count * gen.output_len());
    for_each_output(gen, seed, class, count, |img| {
        values.extend_from_slice(img);
        Ok(())
    })?;
    Ok(values)
}

/// Streams the images to `file` channels last, as image tools expect: one image in memory at a
/// time, whatever the count.
fn write_raw(
    gen: &Generator<'_>,
    seed: u64,
    class: Option<usize>,
    count: usize,
    file: &mut OutputFile,
) -> Result<()> {
    let shape = gen.output_shape();
    let (c, hw) = (shape.c, shape.h * shape.w);
    let mut chw = vec![0u8; c * hw];
    let mut hwc = vec![0u8; c * hw];
    for_each_output(gen, seed, class, count, |img| {
        to_grey_u8(img, gen.output_activation(), &mut chw);
        for ch in 0..c {
            for p in 0..hw {
                hwc[p * c + ch] = chw[ch * hw + p];
            }
        }
        file.write_bytes(&hwc)
    })
}
