//! The `trainer export` command: its options, and finding the run or checkpoint to export.

use std::path::PathBuf;

use clap::Args;

use super::check::CHECK_LATENTS;
use super::file::{default_out, export_run, ExportOptions};
use super::ExportDtype;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::output_file;
use crate::run_dir;

/// `trainer export` options.
#[derive(Debug, Clone, Args, Default)]
pub struct ExportArgs {
    /// Run directory to export from [default: the newest run in runs/].
    #[arg(long, value_name = "DIR", conflicts_with = "checkpoint")]
    pub run: Option<PathBuf>,
    /// A specific checkpoint file instead of a run's newest one.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Output file [default: models/<run name>.safetensors; -f32 or -i8 before the extension for
    /// those dtypes].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Weight storage type: f16 (the default for boards), f32, or i8 (an integer generator).
    #[arg(long, value_enum, default_value_t = ExportDtype::F16)]
    pub dtype: ExportDtype,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Where to look for the newest run [default: runs/ in the workspace].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Magnification of the sample picture written beside the model: each pixel drawn N x N
    /// [default: about 112 pixels per image side, 4 for 28-pixel digits].
    #[arg(long, value_name = "N", value_parser = crate::grid::parse_scale)]
    pub scale: Option<usize>,
}

/// `trainer export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    let (loaded, cfg) = match &a.checkpoint {
        Some(file) => {
            let cfg = run_dir::of_checkpoint(file).and_then(|d| TrainConfig::load(&d).ok());
            (checkpoint::read(file)?, cfg)
        }
        None => {
            let dir = match &a.run {
                Some(d) => d.clone(),
                None => {
                    run_dir::newest(&a.runs_dir.clone().unwrap_or_else(run_dir::default_runs_dir))?
                }
            };
            let cfg = TrainConfig::load(&dir)?;
            (checkpoint::newest_valid(&dir)?, Some(cfg))
        }
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&name_of(&loaded, cfg.as_ref()), a.dtype));
    if output_file::same_file(&out, &loaded.info.path) {
        return Err(Error::InvalidArgument(format!(
            "--out {} is the checkpoint being exported; choose another output",
            out.display()
        )));
    }
    let gan = checkpoint::load_gan(&loaded)?;
    let opts = ExportOptions {
        out: Some(out),
        dtype: a.dtype,
        force: a.force,
        no_samples: false,
        check_latents: CHECK_LATENTS,
        scale: a.scale,
    };
    export_run(&gan, cfg.as_ref(), loaded.info.step, &opts).map(|_| ())
}

/// The run's name, else the checkpoint file's stem: the default model file's name.
fn name_of(loaded: &checkpoint::Loaded, cfg: Option<&TrainConfig>) -> String {
    cfg.map_or_else(
        || {
            loaded
                .info
                .path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned())
        },
        |c| c.name.clone(),
    )
}
