//! `trainer export`: folds batch norm, writes the generator through the runtime's own writer, then
//! proves the file by running it with the runtime and comparing with candle's evaluation-mode
//! generator on fixed latents. A file that does not match within [`Tolerance`] is not written.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use clap::{Args, ValueEnum};
use runtime::format::{DType, LayerSpec};
use runtime::rng::LatentRng;
use runtime::{Generator, Shape};

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::models::{ExportLayer, Gan};
use crate::paths;
use crate::train::Trainer;

/// Latents compared between candle and the runtime on every export.
pub const CHECK_LATENTS: usize = 32;
/// Seed of those latents.
pub const CHECK_SEED: u64 = 0x6578_706f_7274;

/// How closely the runtime must reproduce candle's f32 generator: the larger of the two errors
/// f16 rounding of ~10^5 weights can cause in a 5-layer network, measured over the shipped
/// models with a wide margin.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub max_abs_error: f32,
    pub min_psnr_db: f64,
}

impl Tolerance {
    /// The documented limits: f16 files within 0.05 (max abs, on a [-1, 1] output) and 40 dB;
    /// f32 files within 1e-3 and 80 dB (only summation order differs).
    pub fn for_dtype(d: ExportDtype) -> Self {
        match d {
            ExportDtype::F16 => Tolerance {
                max_abs_error: 0.05,
                min_psnr_db: 40.0,
            },
            ExportDtype::F32 => Tolerance {
                max_abs_error: 1e-3,
                min_psnr_db: 80.0,
            },
        }
    }
}

/// Storage type of the exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportDtype {
    /// Half precision: half the flash, the default for boards.
    #[default]
    F16,
    /// Single precision.
    F32,
}

/// `trainer export` options.
#[derive(Debug, Clone, Args, Default)]
pub struct ExportArgs {
    /// Run directory to export from [default: the newest run in runs/].
    #[arg(long, value_name = "DIR", conflicts_with = "checkpoint")]
    pub run: Option<PathBuf>,
    /// A specific checkpoint file instead of a run's newest one.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Output file [default: models/<run name>.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Weight storage type.
    #[arg(long, value_enum, default_value_t = ExportDtype::F16)]
    pub dtype: ExportDtype,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Where to look for the newest run [default: runs/ in the workspace].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
}

/// Options shared by `export` and the export at the end of `train`.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub out: Option<PathBuf>,
    pub dtype: ExportDtype,
    pub force: bool,
    /// Skip the PNG of samples written next to the model.
    pub no_samples: bool,
    /// Latents compared with candle (0: [`CHECK_LATENTS`]).
    pub check_latents: usize,
}

/// What an export measured and wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub path: PathBuf,
    pub bytes: usize,
    pub params: usize,
    pub macs: u64,
    pub scratch_bytes: usize,
    pub max_abs_error: f32,
    pub psnr_db: f64,
    pub checked_latents: usize,
}

/// `models/<name>.safetensors` in the workspace.
pub fn default_out_path(run_name: &str) -> PathBuf {
    paths::default_models_dir().join(format!("{run_name}.safetensors"))
}

/// The newest run directory (by the time its config.json was written).
pub fn newest_run(runs_dir: &Path) -> Result<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(runs_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if let Ok(m) = p.join("config.json").metadata().and_then(|m| m.modified()) {
                if best.as_ref().is_none_or(|(t, _)| m > *t) {
                    best = Some((m, p));
                }
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| Error::NoRuns {
        path: runs_dir.into(),
    })
}

/// `trainer export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    let (loaded, cfg) = match &a.checkpoint {
        Some(file) => {
            let l = checkpoint::read(file)?;
            // A checkpoint inside a run directory (<run>/checkpoints/) has its config two levels up.
            let cfg = file
                .parent()
                .and_then(Path::parent)
                .and_then(|d| TrainConfig::load(d).ok());
            (l, cfg)
        }
        None => {
            let dir = match &a.run {
                Some(d) => d.clone(),
                None => newest_run(&a.runs_dir.clone().unwrap_or_else(paths::default_runs_dir))?,
            };
            let cfg = TrainConfig::load(&dir)?;
            (checkpoint::newest_valid(&dir)?, Some(cfg))
        }
    };
    let gan = Gan::new(&loaded.info.spec, &Device::Cpu, 0)?;
    checkpoint::restore(&loaded, &gan, None)?;
    let name = cfg.as_ref().map_or_else(
        || {
            loaded
                .info
                .path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned())
        },
        |c| c.name.clone(),
    );
    let out = a.out.clone().unwrap_or_else(|| default_out_path(&name));
    let prov = provenance(cfg.as_ref(), &gan, loaded.info.step);
    let opts = ExportOptions {
        out: Some(out),
        dtype: a.dtype,
        force: a.force,
        no_samples: false,
        check_latents: CHECK_LATENTS,
    };
    let report = export_gan(&gan, &prov, &opts)?;
    print_report(&report, a.dtype);
    Ok(())
}

/// Exports the generator of a live training run (the end of `trainer train`).
pub fn export_trainer(t: &Trainer, opts: &ExportOptions) -> Result<ExportReport> {
    let prov = provenance(Some(&t.cfg), &t.gan, t.step);
    let report = export_gan(&t.gan, &prov, opts)?;
    print_report(&report, opts.dtype);
    Ok(report)
}

/// The provenance keys the format documents.
fn provenance(cfg: Option<&TrainConfig>, gan: &Gan, step: u64) -> Vec<(String, String)> {
    let mut p = vec![
        ("arch".to_string(), gan.spec.arch.name().to_string()),
        ("steps".into(), step.to_string()),
        (
            "trainer".into(),
            format!("microgan trainer {}", env!("CARGO_PKG_VERSION")),
        ),
        ("batchnorm".into(), "folded".into()),
    ];
    if let Some(c) = cfg {
        p.push(("dataset".into(), c.data.name()));
        p.push(("loss".into(), c.loss.name().into()));
        p.push(("seed".into(), c.seed.to_string()));
        p.push(("batch_size".into(), c.batch_size.to_string()));
        p.push(("run".into(), c.name.clone()));
        if let Some(n) = c.limit {
            p.push(("limit".into(), n.to_string()));
        }
        let epochs = match c.data.clone() {
            crate::data::DataSource::Toy { .. } => None,
            _ => crate::data::load(&c.data).ok().map(|d| {
                let len = c.limit.map_or(d.len(), |l| l.min(d.len()));
                step as f64 / c.steps_per_epoch(len) as f64
            }),
        };
        if let Some(e) = epochs {
            p.push(("epochs".into(), format!("{e:.2}")));
        }
    }
    p
}

/// Converts the trainer's layer list into the runtime's.
fn to_runtime(layer: ExportLayer) -> (LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>) {
    match layer {
        ExportLayer::Dense {
            in_features,
            out_features,
            weight,
            bias,
        } => (
            LayerSpec::Dense {
                in_features,
                out_features,
            },
            Some(weight),
            Some(bias),
        ),
        ExportLayer::ConvTranspose2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            output_padding,
            weight,
            bias,
        } => (
            LayerSpec::ConvTranspose2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                output_padding,
            },
            Some(weight),
            Some(bias),
        ),
        ExportLayer::Reshape { c, h, w } => (LayerSpec::Reshape { c, h, w }, None, None),
        ExportLayer::Relu => (LayerSpec::Relu, None, None),
        ExportLayer::LeakyRelu { slope } => (LayerSpec::LeakyRelu { slope }, None, None),
        ExportLayer::Tanh => (LayerSpec::Tanh, None, None),
        ExportLayer::EmbedConcat {
            classes,
            dim,
            weight,
        } => (LayerSpec::EmbedConcat { classes, dim }, Some(weight), None),
    }
}

/// Builds the file bytes (already loaded once by the runtime's writer).
pub fn build_bytes(gan: &Gan, prov: &[(String, String)], dtype: ExportDtype) -> Result<Vec<u8>> {
    let s = &gan.spec;
    let mut b = runtime::write::ModelBuilder::new(
        s.latent_dim,
        s.num_classes,
        Shape {
            c: s.channels,
            h: s.height,
            w: s.width,
        },
    );
    b.dtype(match dtype {
        ExportDtype::F16 => DType::F16,
        ExportDtype::F32 => DType::F32,
    });
    for layer in gan.g.export()? {
        let (spec, w, bias) = to_runtime(layer);
        b.layer(spec, w, bias);
    }
    for (k, v) in prov {
        b.provenance(k, v);
    }
    b.build().map_err(|e| Error::Model {
        path: "(export)".into(),
        reason: e.to_string(),
    })
}

/// Runs the file with the runtime and candle's generator in evaluation mode on the same fixed
/// latents; returns (max abs error, PSNR in dB).
pub fn compare(gan: &Gan, bytes: &[u8], count: usize) -> Result<(f32, f64)> {
    let gen = Generator::load(bytes).map_err(|e| Error::Model {
        path: "(export)".into(),
        reason: e.to_string(),
    })?;
    let s = &gan.spec;
    let mut rng = LatentRng::new(CHECK_SEED);
    let mut z = vec![0f32; count * s.latent_dim];
    rng.fill_normal(&mut z);
    let classes: Vec<u32> = (0..count)
        .map(|i| (i % s.num_classes.max(1)) as u32)
        .collect();
    let device = gan.g_params.device();
    let zt = Tensor::from_slice(&z, (count, s.latent_dim), device)?;
    let lt = Tensor::from_slice(&classes, count, device)?;
    let want = gan
        .g
        .forward_t(&zt, s.conditional().then_some(&lt), false)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let n = gen.output_len();
    let mut scratch = vec![0f32; gen.scratch_len()];
    let mut got = vec![0f32; count * n];
    for i in 0..count {
        let class = s.conditional().then_some(classes[i] as usize);
        gen.generate(
            &z[i * s.latent_dim..(i + 1) * s.latent_dim],
            class,
            &mut scratch,
            &mut got[i * n..(i + 1) * n],
        )
        .map_err(|e| Error::Model {
            path: "(export)".into(),
            reason: e.to_string(),
        })?;
    }
    Ok(error_stats(&want, &got, gen.output_activation()))
}

/// Max abs error and PSNR of `got` against `want`; the peak is the output range (2 for tanh, 1
/// for sigmoid, the reference's own spread for an unbounded output).
pub fn error_stats(
    want: &[f32],
    got: &[f32],
    act: runtime::format::OutputActivation,
) -> (f32, f64) {
    let mut max_abs = 0f32;
    let mut se = 0f64;
    for (a, b) in want.iter().zip(got) {
        let d = (a - b).abs();
        // A NaN anywhere must fail the check, not vanish in `max`.
        max_abs = if d.is_nan() {
            f32::INFINITY
        } else {
            max_abs.max(d)
        };
        se += f64::from(d) * f64::from(d);
    }
    let mse = se / want.len().max(1) as f64;
    let peak = match act {
        runtime::format::OutputActivation::Tanh => 2.0,
        runtime::format::OutputActivation::Sigmoid => 1.0,
        runtime::format::OutputActivation::None => {
            let lo = want.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = want.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            f64::from((hi - lo).max(1e-6))
        }
    };
    let psnr = if mse.is_nan() {
        0.0
    } else if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (peak * peak / mse).log10()
    };
    (max_abs, psnr)
}

/// Builds, checks and writes the file; writes nothing unless the runtime matches candle.
pub fn export_gan(
    gan: &Gan,
    prov: &[(String, String)],
    opts: &ExportOptions,
) -> Result<ExportReport> {
    let out = opts
        .out
        .clone()
        .ok_or_else(|| Error::InvalidArgument("no output file given".into()))?;
    if out.exists() && !opts.force {
        return Err(Error::WouldOverwrite { path: out });
    }
    let bytes = build_bytes(gan, prov, opts.dtype).map_err(|e| match e {
        Error::Model { reason, .. } => Error::Model {
            path: out.clone(),
            reason,
        },
        e => e,
    })?;
    let count = if opts.check_latents == 0 {
        CHECK_LATENTS
    } else {
        opts.check_latents
    };
    let (max_abs_error, psnr_db) = compare(gan, &bytes, count)?;
    let tol = Tolerance::for_dtype(opts.dtype);
    if !(max_abs_error <= tol.max_abs_error && psnr_db >= tol.min_psnr_db) {
        return Err(Error::ExportMismatch {
            max_abs_error,
            psnr_db,
            limit: format!(
                "max abs error <= {} and PSNR >= {} dB",
                tol.max_abs_error, tol.min_psnr_db
            ),
        });
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::checkpoint::write_atomic(&out, &bytes)?;
    let gen = Generator::load(&bytes).map_err(|e| Error::Model {
        path: out.clone(),
        reason: e.to_string(),
    })?;
    let report = ExportReport {
        path: out.clone(),
        bytes: bytes.len(),
        params: gen.param_count(),
        macs: gen.macs(),
        scratch_bytes: gen.scratch_len() * 4,
        max_abs_error,
        psnr_db,
        checked_latents: count,
    };
    // The picture the board would draw, made by the runtime from the file just written.
    if !opts.no_samples {
        let png = out.with_extension("png");
        crate::sample::write_samples(&gen, &png, crate::sample::SampleFormat::Png, 0, None, None)?;
    }
    Ok(report)
}

fn print_report(r: &ExportReport, dtype: ExportDtype) {
    let tol = Tolerance::for_dtype(dtype);
    println!(
        "wrote {} ({} bytes, {:?})",
        r.path.display(),
        r.bytes,
        dtype
    );
    println!("  parameters         {}", r.params);
    println!("  MACs per image     {}", r.macs);
    println!("  scratch buffer     {} bytes", r.scratch_bytes);
    println!(
        "  runtime vs candle  max abs error {:.2e} (limit {}), PSNR {:.1} dB (limit {}) on {} latents",
        r.max_abs_error, tol.max_abs_error, r.psnr_db, tol.min_psnr_db, r.checked_latents
    );
    println!(
        "  samples            {}",
        r.path.with_extension("png").display()
    );
}
