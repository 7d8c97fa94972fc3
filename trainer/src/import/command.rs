//! The `trainer import` command: its options, the provenance it records, and its report.

use std::path::{Path, PathBuf};

use clap::Args;
use runtime::Shape;

use super::arch::ImportArch;
use super::file::{write_model, ImportOptions, ImportReport};
use super::layer_list::{self, Step};
use super::network;
use super::state_dict::StateDict;
use crate::error::{Error, Result};
use crate::export::{ExportDtype, Tolerance};

/// `trainer import` options.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The generator's state dict: `torch.save(generator.state_dict(), FILE)` (.pt, .pth) or a
    /// safetensors file of it.
    #[arg(value_name = "STATE_DICT")]
    pub source: PathBuf,
    /// Its architecture [default: recognised by the keys].
    #[arg(long, value_enum, default_value_t = ImportArch::Auto)]
    pub arch: ImportArch,
    /// Any other generator: its layers in order, separated by `;` (see docs/import.md), e.g.
    /// "dense fc; leaky_relu slope=0.2; dense out; tanh".
    #[arg(long, value_name = "STEPS", conflicts_with_all = ["arch", "layers_file"])]
    pub layers: Option<String>,
    /// The same layer list in a file, one step per line.
    #[arg(long, value_name = "FILE", conflicts_with = "arch")]
    pub layers_file: Option<PathBuf>,
    /// Shape of one image when the last layer is flat and not 1 x s x s or 3 x s x s (or the
    /// non-square image of a convolutional generator).
    #[arg(long, value_name = "C,H,W", value_parser = parse_shape)]
    pub image_shape: Option<Shape>,
    /// Output file [default: models/<state dict's name>.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Weight storage type.
    #[arg(long, value_enum, default_value_t = ExportDtype::F16)]
    pub dtype: ExportDtype,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Also hold the file to PyTorch's images: a safetensors file with `z`, `images` (and
    /// `labels`), as scripts/pytorch_import.py writes it.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Do not draw the PNG of samples next to the model.
    #[arg(long)]
    pub no_samples: bool,
}

/// How the state dict's layers are known.
#[derive(Debug, Clone)]
pub enum Source {
    Arch(ImportArch),
    Layers(Vec<Step>),
}

/// `C,H,W` as three positive integers.
fn parse_shape(s: &str) -> std::result::Result<Shape, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("`{s}` is not C,H,W (three positive integers)"))?;
    match v[..] {
        [c, h, w] => Ok(Shape { c, h, w }),
        _ => Err(format!("`{s}` is not C,H,W (three positive integers)")),
    }
}

/// `trainer import`.
pub fn run(a: &ImportArgs) -> Result<()> {
    let source = match (&a.layers, &a.layers_file) {
        (Some(text), _) => Source::Layers(layer_list::parse(text)?),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
            Source::Layers(layer_list::parse(&text)?)
        }
        (None, None) => Source::Arch(a.arch),
    };
    let stem = a
        .source
        .file_stem()
        .map_or("imported".into(), |s| s.to_string_lossy().into_owned());
    let opts = ImportOptions {
        out: a
            .out
            .clone()
            .unwrap_or_else(|| crate::run_dir::model_file(&stem)),
        dtype: a.dtype,
        force: a.force,
        against: a.against.clone(),
        no_samples: a.no_samples,
    };
    let (report, arch) = import(&a.source, &source, a.image_shape, &opts)?;
    print_report(&report, &arch, a.dtype);
    Ok(())
}

/// Reads the state dict at `path`, resolves its layers, and writes the checked model file;
/// returns the report and the architecture's name.
pub fn import(
    path: &Path,
    source: &Source,
    image_shape: Option<Shape>,
    opts: &ImportOptions,
) -> Result<(ImportReport, String)> {
    if same_file(path, &opts.out) {
        return Err(Error::InvalidArgument(format!(
            "--out {} is the state dict itself; choose another file",
            opts.out.display()
        )));
    }
    let mut sd = StateDict::read(path)?;
    let (steps, arch) = match source {
        Source::Arch(a) => {
            let a = a.resolve(&sd)?;
            (a.steps(&sd, image_shape)?, a.name())
        }
        Source::Layers(steps) => (steps.clone(), "layers"),
    };
    let net = network::resolve(&mut sd, &steps, image_shape)?;
    let report = write_model(&net, &provenance(path, arch), opts)?;
    Ok((report, arch.to_string()))
}

/// The provenance keys an imported file carries: the architecture, the state dict's file name
/// (no folders: a file must not reveal where it was made), the trainer, the fold.
fn provenance(path: &Path, arch: &str) -> Vec<(String, String)> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // The format cannot store quotes, backslashes or control characters.
    let name: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    vec![
        ("arch".into(), arch.into()),
        ("source".into(), name),
        (
            "trainer".into(),
            format!("microgan trainer {}", env!("CARGO_PKG_VERSION")),
        ),
        ("batchnorm".into(), "folded".into()),
    ]
}

/// True when both paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn print_report(r: &ImportReport, arch: &str, dtype: ExportDtype) {
    let tol = Tolerance::for_dtype(dtype);
    let o = r.output;
    println!(
        "wrote {} ({} bytes, {:?})",
        r.path.display(),
        r.bytes,
        dtype
    );
    println!("  architecture       {arch}");
    println!(
        "  latent, classes    {}, {}; images {} x {} x {}",
        r.latent_dim, r.num_classes, o.c, o.h, o.w
    );
    println!("  parameters         {}", r.params);
    println!("  MACs per image     {}", r.macs);
    println!("  scratch buffer     {} bytes", r.scratch_bytes);
    println!(
        "  runtime vs f32     max abs error {:.2e} (limit {}), PSNR {:.1} dB (limit {}) on {} latents",
        r.max_abs_error,
        tol.max_abs_error,
        r.psnr_db,
        tol.min_psnr_db,
        crate::export::CHECK_LATENTS
    );
    if let Some((max_abs, psnr, n)) = r.against {
        println!(
            "  runtime vs PyTorch max abs error {max_abs:.2e}, PSNR {psnr:.1} dB on {n} images"
        );
    }
}
