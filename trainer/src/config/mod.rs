//! The training configuration: command-line options, presets, and the resolved `config.json` a
//! run directory keeps so it can be rebuilt and resumed.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::data::{toy::ToyKind, DataSource};
use crate::error::{Error, Result};
use crate::losses::GanLoss;
use crate::models::{Arch, ToyNet};
use crate::optim::{AdamConfig, LrDecay};
use crate::run_dir;

mod checks;
mod resume;

pub use resume::check_resume_options;

/// Named starting points; any option given on the command line overrides them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Unconditional dcgan at width 2, non-saturating loss, 9,000 steps (57 epochs of the bundled
    /// digits): all ten digit classes in every seed measured, in about 10 minutes on a CPU core,
    /// and an int8 file that fits the Pico.
    #[default]
    Default,
    /// The classic reference GAN exactly: unconditional mlp, non-saturating loss, batch 64,
    /// 200 epochs, Adam 2e-4 (0.5, 0.999).
    Classic,
}

/// Where to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA if this binary was built with it and a GPU is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// `trainer train` options.
#[derive(Debug, Clone, Args, Default)]
pub struct TrainArgs {
    /// Starting configuration; the options below override it.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    /// Network family.
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Condition both networks on the class label (needs labelled data). Add --mode-seeking 0.2,
    /// or the conditional dcgan tends to draw a single image per class.
    #[arg(long, overrides_with = "unconditional")]
    pub conditional: bool,
    /// Train an unconditional GAN (the default; overrides an earlier --conditional).
    #[arg(long)]
    pub unconditional: bool,
    /// Generator loss: non-saturating or minimax.
    #[arg(long, value_enum)]
    pub loss: Option<GanLoss>,
    /// Directory with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]
    /// [default: the bundled digits, data/mnist].
    #[arg(long, value_name = "DIR", conflicts_with_all = ["images", "toy"])]
    pub data: Option<PathBuf>,
    /// Stacked MNIST, the 1,000-mode test of mode collapse: `--stack 3` trains on 60,000
    /// 3-channel images, each channel a digit drawn independently (with --seed) from the digit
    /// data (--data, the bundled digits by default); the 3-digit number they read is the label
    /// that `trainer eval` counts modes with. 3 is the only value.
    #[arg(long, value_name = "DIGITS", conflicts_with_all = ["images", "toy"])]
    pub stack: Option<usize>,
    /// Train on a folder of PNG/JPEG images (unlabelled) instead.
    #[arg(long, value_name = "DIR", conflicts_with = "toy")]
    pub images: Option<PathBuf>,
    /// Side of the square images made from --images [default: 28].
    #[arg(long, value_name = "PIXELS")]
    pub image_size: Option<usize>,
    /// Channels of the images made from --images: 1 (grey) or 3 (RGB) [default: 1].
    #[arg(long)]
    pub channels: Option<usize>,
    /// Train on a 2-D toy distribution (use with --arch toy).
    #[arg(long, value_enum)]
    pub toy: Option<ToyKind>,
    /// Use only the first N samples of the data.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Total optimisation steps (one generator and one discriminator update each).
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Total epochs (passes over the data, last partial batch dropped) instead of --steps.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Samples per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// PacGAN: the discriminator judges N samples at once (concatenated along the feature or
    /// channel axis) and gives one score per pack, which penalises a generator whose samples look
    /// alike. The batch size must be a multiple of N. 1 is the usual GAN.
    #[arg(long, value_name = "N")]
    pub pack: Option<usize>,
    /// Weight of the mode-seeking term (MSGAN, Mao et al. 2019) added to the generator's loss: it
    /// rewards outputs that differ when their latents differ, which keeps a class-conditional
    /// generator from drawing one image per class. 0 (the default) trains the plain GAN.
    #[arg(long, value_name = "WEIGHT")]
    pub mode_seeking: Option<f64>,
    /// Size of the toy networks: small (128-unit layers, fast) or large (the published
    /// mode-collapse benchmark's: G 4 x 400 with batch norm, D 3 x 200 maxout).
    #[arg(long, value_enum, value_name = "SIZE")]
    pub toy_net: Option<ToyNet>,
    /// Channel multiplier of the dcgan networks [default: 2]: 2 doubles every convolution's
    /// channels (G 64 and 32, D 32 and 64) over 1, the small pair sized for f16 on the Pico,
    /// for about 3.3x the generator's multiply-adds per image (still about 120-150 ms on the
    /// Pico as an int8 file).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Channel multiplier of the dcgan discriminator alone [default: --width].
    #[arg(long, value_name = "N")]
    pub d_width: Option<usize>,
    /// Keep an exponential moving average of the generator's weights (and batch-norm statistics)
    /// with this decay per step, for instance 0.999, and export, sample and evaluate it in place
    /// of the raw weights: the average smooths the step-to-step wobble of GAN training. It leaves
    /// the training step itself alone. 0 turns it off.
    #[arg(long, value_name = "DECAY")]
    pub ema: Option<f64>,
    /// Adam learning rate (both networks).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: none (constant, the usual practice) or linear (down to lr/steps
    /// at the last step, which sharpens the modes of the toy mixtures).
    #[arg(long, value_enum, value_name = "SCHEDULE")]
    pub lr_decay: Option<LrDecay>,
    /// Adam beta1.
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam beta2.
    #[arg(long)]
    pub beta2: Option<f64>,
    /// Length of the latent vector z.
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// Seed for initialisation, shuffling and latents.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a sample grid every N steps (0: only at the end).
    #[arg(long, value_name = "N")]
    pub sample_every: Option<u64>,
    /// Write a checkpoint every N steps (0: only at the end).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Append a line to metrics.jsonl every N steps [default: 50].
    #[arg(long, value_name = "N")]
    pub log_every: Option<u64>,
    /// Run name [default: <arch>[-cond]-<loss>[-pack<N>]-<data>-<UTC time>].
    #[arg(long)]
    pub name: Option<String>,
    /// Where run directories are created [default: runs/ in the workspace].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Continue the run in DIR from its newest valid checkpoint (its config.json is used;
    /// --steps/--epochs may extend it).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Memory the run may take, in GiB: the data, both networks with their gradients and Adam
    /// moments, a batch's activations and a checkpoint being written, estimated from the sizes
    /// before anything is allocated [default: 8].
    #[arg(long, value_name = "GIB")]
    pub max_memory: Option<u64>,
    /// Replace models/<name>.safetensors (and .png) at the end if they exist.
    #[arg(long)]
    pub force: bool,
    /// Do not export the generator to models/ at the end.
    #[arg(long)]
    pub no_export: bool,
    /// Dtypes to export at the end, comma-separated (`f16,i8` writes both): f16 to
    /// models/<run>.safetensors, f32 and i8 to models/<run>-f32.safetensors and
    /// models/<run>-i8.safetensors.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "f16",
        value_parser = clap::builder::PossibleValuesParser::new(["f16", "f32", "i8"])
    )]
    pub export_dtype: Vec<String>,
    /// Magnification of the sample grids written during the run and beside the exported model:
    /// each pixel drawn N x N [default: about 112 pixels per image side, 4 for 28-pixel digits].
    #[arg(long, value_name = "N", value_parser = crate::grid::parse_scale)]
    pub scale: Option<usize>,
    /// Hide the progress bar (for logs and scripts).
    #[arg(long)]
    pub quiet: bool,
}

/// Everything that defines a run, as written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub name: String,
    pub preset: Preset,
    pub arch: Arch,
    pub conditional: bool,
    pub loss: GanLoss,
    pub data: DataSource,
    pub limit: Option<usize>,
    pub steps: u64,
    pub batch_size: usize,
    /// Samples per discriminator input (PacGAN); 1 for configurations written before it existed.
    #[serde(default = "one")]
    pub pack: usize,
    /// Weight of the generator's mode-seeking term; 0 (none) for configurations written before it
    /// existed.
    #[serde(default)]
    pub mode_seeking: f64,
    /// Size of the toy networks; `small` for configurations written before it existed.
    #[serde(default)]
    pub toy_net: ToyNet,
    /// Channel multiplier of the dcgan networks; 1 for configurations written before it existed.
    #[serde(default = "one")]
    pub width: usize,
    /// Channel multiplier of the dcgan discriminator when it differs from `width`.
    #[serde(default)]
    pub d_width: Option<usize>,
    /// Decay of the generator's weight average (0: none, and for configurations written before it
    /// existed).
    #[serde(default)]
    pub ema: f64,
    pub adam: AdamConfig,
    pub latent_dim: usize,
    pub seed: u64,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub log_every: u64,
    /// Epochs asked for, when the length was given in epochs.
    pub epochs: Option<u64>,
    /// The memory budget in GiB (`crate::budget`); the default for configurations written before
    /// it existed.
    #[serde(default = "default_max_memory")]
    pub max_memory_gib: u64,
    pub trainer_version: String,
}

/// The dcgan networks' default channel multiplier: width 2 measured a lower Frechet distance than
/// width 1 over three training seeds and still fits the Pico as an int8 file.
pub const DCGAN_WIDTH: usize = 2;

impl TrainConfig {
    /// Resolves the options against the preset. `steps` stays 0 when given in epochs until the
    /// data size is known (see [`TrainConfig::resolve_epochs`]).
    pub fn from_args(a: &TrainArgs) -> Result<Self> {
        let classic = a.preset == Preset::Classic;
        let data = data_source(a)?;
        let is_toy = matches!(data, DataSource::Toy { .. });
        let arch = a.arch.unwrap_or(if is_toy {
            Arch::Toy
        } else if classic {
            Arch::Mlp
        } else {
            Arch::Dcgan
        });
        let conditional = a.conditional && !a.unconditional;
        let loss = a.loss.unwrap_or(GanLoss::Ns);
        let toy_net = a.toy_net.unwrap_or_default();
        if a.toy_net.is_some() && arch != Arch::Toy {
            return Err(Error::InvalidArgument(format!(
                "--toy-net sizes the toy networks; {arch} has a fixed size"
            )));
        }
        checks::only_for_images(a)?;
        let (steps, epochs) = length(a, classic)?;
        let d = AdamConfig::default();
        let adam = AdamConfig {
            lr: a.lr.unwrap_or(d.lr),
            beta1: a.beta1.unwrap_or(d.beta1),
            beta2: a.beta2.unwrap_or(d.beta2),
            eps: d.eps,
            decay: a.lr_decay.unwrap_or_default(),
        };
        let latent_dim = a
            .latent_dim
            .unwrap_or(if arch == Arch::Toy { 2 } else { 100 });
        let mut cfg = TrainConfig {
            name: String::new(),
            preset: a.preset,
            arch,
            conditional,
            loss,
            data,
            limit: a.limit,
            steps,
            batch_size: a.batch_size.unwrap_or(64),
            pack: a.pack.unwrap_or(1),
            toy_net,
            width: a
                .width
                .unwrap_or(if arch == Arch::Dcgan { DCGAN_WIDTH } else { 1 }),
            d_width: a.d_width,
            ema: a.ema.unwrap_or(0.0),
            mode_seeking: a.mode_seeking.unwrap_or(0.0),
            adam,
            latent_dim,
            seed: a.seed,
            sample_every: a.sample_every.unwrap_or(500),
            checkpoint_every: a.checkpoint_every.unwrap_or(1000),
            log_every: a.log_every.unwrap_or(50),
            epochs,
            max_memory_gib: a.max_memory.unwrap_or(crate::budget::TRAIN_DEFAULT_GIB),
            trainer_version: env!("CARGO_PKG_VERSION").into(),
        };
        cfg.name = match &a.name {
            Some(n) => n.clone(),
            None => cfg.default_name(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// `<arch>[-cond]-<loss>[-pack<N>][-large]-<data>-<UTC time>`: names that say what was trained
    /// and sort by age.
    fn default_name(&self) -> String {
        format!(
            "{}{}-{}{}{}-{}-{}",
            self.arch.name(),
            if self.conditional { "-cond" } else { "" },
            self.loss.name(),
            if self.pack > 1 {
                format!("-pack{}", self.pack)
            } else {
                String::new()
            },
            if self.toy_net == ToyNet::Large {
                "-large"
            } else {
                ""
            },
            self.data.name(),
            run_dir::timestamp()
        )
    }

    /// Steps per epoch for `len` samples (the last partial batch is dropped, as the reference does
    /// not; with 10,000 digits and batch 64 that is 156 steps, the figure epochs are quoted in).
    pub fn steps_per_epoch(&self, len: usize) -> u64 {
        (len / self.batch_size).max(1) as u64
    }

    /// Turns a length in epochs into steps once the data size is known.
    pub fn resolve_epochs(&mut self, len: usize) -> Result<()> {
        if len < self.batch_size {
            return Err(Error::InvalidArgument(format!(
                "the data has {len} samples, fewer than one batch of {}",
                self.batch_size
            )));
        }
        if let Some(e) = self.epochs {
            self.steps = e * self.steps_per_epoch(len);
        }
        Ok(())
    }

    /// Reads `config.json` from a run directory.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let path = crate::run_dir::config_file(run_dir);
        if !run_dir.is_dir() {
            return Err(Error::Run {
                path: run_dir.into(),
                reason: "no such directory".into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let cfg: TrainConfig = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Checked as strictly as the command line: an edited file must not train what the
        // options would refuse.
        cfg.validate().map_err(|e| Error::Json {
            path,
            reason: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Writes `config.json` into a run directory.
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let path = crate::run_dir::config_file(run_dir);
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Json {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::output_file::write_atomic(&path, text.as_bytes())
    }
}

/// The data the options name: an image folder, a toy distribution, or digits (the bundled ones
/// by default), single or stacked.
fn data_source(a: &TrainArgs) -> Result<DataSource> {
    let digits = || a.data.clone().unwrap_or_else(run_dir::default_data_dir);
    Ok(if let Some(dir) = &a.images {
        DataSource::Images {
            dir: dir.clone(),
            size: a.image_size.unwrap_or(28),
            channels: a.channels.unwrap_or(1),
        }
    } else if let Some(kind) = a.toy {
        DataSource::Toy { kind }
    } else if let Some(n) = a.stack {
        if n != crate::data::stacked::STACK {
            return Err(Error::InvalidArgument(format!(
                "--stack {n}: only 3 is supported (one digit per colour channel, 1,000 modes)"
            )));
        }
        DataSource::Stacked {
            dir: digits(),
            seed: a.seed,
        }
    } else {
        DataSource::Idx { dir: digits() }
    })
}

/// The run's length: (steps, epochs), steps 0 when given in epochs (the classic preset's 200).
fn length(a: &TrainArgs, classic: bool) -> Result<(u64, Option<u64>)> {
    let default_steps = if classic { 0 } else { 9_000 };
    let epochs = a.epochs.or(if classic && a.steps.is_none() {
        Some(200)
    } else {
        None
    });
    let steps = a.steps.unwrap_or(default_steps);
    if a.steps == Some(0) || a.epochs == Some(0) {
        return Err(Error::InvalidArgument(
            "--steps/--epochs must be at least 1".into(),
        ));
    }
    Ok((steps, epochs))
}

fn default_max_memory() -> u64 {
    crate::budget::TRAIN_DEFAULT_GIB
}

fn one() -> usize {
    1
}
