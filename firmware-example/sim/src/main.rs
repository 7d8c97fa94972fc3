//! The firmware example on the host: the same frames as the boards, written as PNG (what the
//! OLED would show) and as the PBM/PGM/f32 files the boards write, for comparison with `cmp`.

mod animation;
mod error;
mod run;

/// Development models (untrained, deterministic weights) for unit tests; shared with the app's
/// tests.
#[cfg(test)]
#[path = "../../app/tests/support/mod.rs"]
mod dev_models;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// Draw generated samples as a 128x64 SSD1306 would show them, into image files.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Generator file (microgan format).
    #[arg(long, default_value = "models/dcgan-digits-i8.safetensors")]
    pub model: PathBuf,
    /// Number of frames to make.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub frames: u32,
    /// Seed of the latent sequence (the boards use the default).
    #[arg(long, default_value_t = gan_app::DEFAULT_SEED)]
    pub seed: u64,
    /// How grey becomes 1-bit.
    #[arg(long, value_enum, default_value_t = DitherArg::from(gan_app::Dither::DEFAULT))]
    pub dither: DitherArg,
    /// Folder for the frame files (created if missing).
    #[arg(long, default_value = "sim-frames")]
    pub out: PathBuf,
    /// File name prefix: PREFIX-NNN.png, PREFIX-NNN.pbm, PREFIX-NNN-image.pbm, ...
    #[arg(long, default_value = "host")]
    pub prefix: String,
    /// Pixel size of the PNG (1 = one pixel per display pixel).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub png_scale: u32,
    /// Latent walk: N frames from each latent to the next along the great circle between them
    /// (spherical interpolation), so the image morphs; frame j*N is exactly the j-th latent.
    /// Also writes PREFIX-walk.png (the display, animated) and PREFIX-walk-strip.png (one row
    /// per latent-to-latent segment, the grey output above the dithered image). The boards
    /// build the same walk with MICROGAN_WALK_STEPS=N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(gan_app::walk::MAX_STEPS)))]
    pub walk: Option<u32>,
    /// Draw every frame as class K (conditional models only). Default: the classes cycle, one
    /// per fresh latent (per walk segment with --walk, so the class changes at each keyframe).
    /// The boards build the same with MICROGAN_CLASS=K.
    #[arg(long, value_name = "K")]
    pub class: Option<usize>,
    /// Frames per second of the animated PNG.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub fps: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DitherArg {
    Ordered,
    FloydSteinberg,
}

impl From<gan_app::Dither> for DitherArg {
    fn from(d: gan_app::Dither) -> Self {
        match d {
            gan_app::Dither::Ordered => DitherArg::Ordered,
            gan_app::Dither::FloydSteinberg => DitherArg::FloydSteinberg,
        }
    }
}

impl From<DitherArg> for gan_app::Dither {
    fn from(d: DitherArg) -> Self {
        match d {
            DitherArg::Ordered => gan_app::Dither::Ordered,
            DitherArg::FloydSteinberg => gan_app::Dither::FloydSteinberg,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
