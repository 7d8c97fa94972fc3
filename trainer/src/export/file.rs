//! The model file: the generator's layers and provenance written through the runtime's own
//! writer, and written to disk only once [`super::compare`] has accepted it.

use std::path::{Path, PathBuf};

use runtime::format::DType;
use runtime::quantize::{quantize, Calibration, QuantReport};
use runtime::{Generator, Shape};

use super::check::{compare, Tolerance, CHECK_LATENTS};
use super::{model_error, ExportDtype};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::models::Gan;
use crate::output_file::{self, OutputFile};

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
    /// Magnification of the sample picture (`None`: [`crate::grid::default_scale`]).
    pub scale: Option<usize>,
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
    /// What quantisation chose, for an integer file.
    pub quantization: Option<QuantReport>,
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

/// Builds the file bytes (already loaded once by the runtime's writer).
pub fn build_bytes(gan: &Gan, prov: &[(String, String)], dtype: ExportDtype) -> Result<Vec<u8>> {
    build_file(gan, prov, dtype).map(|(bytes, _)| bytes)
}

/// Builds the file bytes, and for an integer file what its quantisation chose: the f32 file is
/// built first, and the runtime's quantiser calibrates on the generator it loads from it.
pub fn build_file(
    gan: &Gan,
    prov: &[(String, String)],
    dtype: ExportDtype,
) -> Result<(Vec<u8>, Option<QuantReport>)> {
    let float = build_float(gan, prov, dtype)?;
    if dtype != ExportDtype::I8 {
        return Ok((float, None));
    }
    let (bytes, report) = quantized(&float)?;
    Ok((bytes, Some(report)))
}

/// The integer file of an f32 file's generator, by the runtime's calibrating quantiser (its
/// provenance carried over): `export --dtype i8` and `import --dtype i8`.
pub fn quantized(float: &[u8]) -> Result<(Vec<u8>, QuantReport)> {
    let gen = Generator::load(float).map_err(|e| model_error("(export)", e))?;
    let (builder, report) =
        quantize(&gen, Calibration::default()).map_err(|e| model_error("(export)", e))?;
    let bytes = builder.build().map_err(|e| model_error("(export)", e))?;
    Ok((bytes, report))
}

/// The float file: f16, or f32 (which an integer file is quantised from).
fn build_float(gan: &Gan, prov: &[(String, String)], dtype: ExportDtype) -> Result<Vec<u8>> {
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
        ExportDtype::F32 | ExportDtype::I8 => DType::F32,
    });
    for layer in gan.g.export()? {
        b.layer(layer.spec, layer.weight, layer.bias);
    }
    for (k, v) in prov {
        b.provenance(k, v);
    }
    b.build().map_err(|e| model_error("(export)", e))
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
    if !opts.no_samples && out.with_extension("png") == out {
        return Err(Error::InvalidArgument(format!(
            "--out {}: the samples are written to <out>.png; give the model another extension",
            out.display()
        )));
    }
    let (bytes, quantization) = build_file(gan, prov, opts.dtype).map_err(|e| match e {
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
    Tolerance::for_dtype(opts.dtype).check(max_abs_error, psnr_db)?;
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let gen = Generator::load(&bytes).map_err(|e| model_error(&out, e))?;
    let report = ExportReport {
        path: out.clone(),
        bytes: bytes.len(),
        params: gen.param_count(),
        macs: gen.macs(),
        scratch_bytes: gen.scratch_len() * 4,
        max_abs_error,
        psnr_db,
        checked_latents: count,
        quantization,
    };
    write_model(&out, &bytes, &gen, (!opts.no_samples).then_some(opts.scale))?;
    Ok(report)
}

/// Writes a model file and (with `samples`) its sample grid `<out>.png`, made by the runtime from
/// the file's own bytes: the picture the board would draw. Both files are complete before either
/// is renamed into place: a failure leaves neither.
/// `samples` is `None` for no picture, else the grid's magnification (`None`: the default).
pub fn write_model(
    out: &Path,
    bytes: &[u8],
    gen: &Generator<'_>,
    samples: Option<Option<usize>>,
) -> Result<()> {
    let mut model = OutputFile::create(out)?;
    model.write_bytes(bytes)?;
    let mut files = vec![model];
    if let Some(scale) = samples {
        let png = out.with_extension("png");
        let format = crate::sample::SampleFormat::Png;
        files.push(crate::sample::render(
            gen, &png, format, 0, None, None, scale,
        )?);
    }
    output_file::commit_all(files)
}

/// Exports `gan` (trained to `step` under `cfg`, when known) and prints what was written: the
/// end of `trainer train` and `trainer export`.
pub fn export_run(
    gan: &Gan,
    cfg: Option<&TrainConfig>,
    step: u64,
    opts: &ExportOptions,
) -> Result<ExportReport> {
    let report = export_gan(gan, &provenance(cfg, gan, step), opts)?;
    print_report(&report, opts.dtype);
    Ok(report)
}

fn print_report(r: &ExportReport, dtype: ExportDtype) {
    let tol = Tolerance::for_dtype(dtype);
    println!(
        "wrote {} ({} bytes, {})",
        r.path.display(),
        r.bytes,
        dtype.name()
    );
    println!("  parameters         {}", r.params);
    println!("  MACs per image     {}", r.macs);
    println!("  scratch buffer     {} bytes", r.scratch_bytes);
    println!(
        "  runtime vs candle  max abs error {:.2e} (limit {}), PSNR {:.1} dB (limit {}) on {} latents",
        r.max_abs_error, tol.max_abs_error, r.psnr_db, tol.min_psnr_db, r.checked_latents
    );
    if let Some(q) = &r.quantization {
        print_quantization(q);
    }
    println!(
        "  samples            {}",
        r.path.with_extension("png").display()
    );
}

/// The calibration behind an integer file: each boundary's largest magnitude and fraction bits.
fn print_quantization(q: &QuantReport) {
    println!(
        "  calibration        {} latents (seed {}), every class; {} channel scales coarsened",
        q.calibration.count, q.calibration.seed, q.coarsened_channels
    );
    for (i, (m, f)) in q.max_abs.iter().zip(&q.frac).enumerate() {
        let what = if i == 0 {
            "latent".to_string()
        } else {
            format!("layer.{} out", i - 1)
        };
        println!(
            "    {what:<14} max |x| {m:>10.4}  F = {f:>2} (step {:.1e})",
            0.5f64.powi(*f as i32)
        );
    }
}

/// Where a run's file of `dtype` goes by default: `models/<run>.safetensors` for f16,
/// `models/<run>-f32.safetensors` and `models/<run>-i8.safetensors` for the others.
pub fn default_out(run_name: &str, dtype: ExportDtype) -> PathBuf {
    match dtype {
        ExportDtype::F16 => crate::run_dir::model_file(run_name),
        d => crate::run_dir::model_file(&format!("{run_name}-{}", d.name())),
    }
}
