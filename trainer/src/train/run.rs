//! `trainer train` around the [`Trainer`](super::Trainer): a run directory created or resumed,
//! the loop with its progress bar, metrics lines, sample grids and checkpoints, an interruption
//! saved as a checkpoint, and the export at the end.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use clap::ValueEnum;
use serde::Serialize;

use super::{device_name, select_device, StepStats, Trainer};
use crate::checkpoint;
use crate::config::{TrainArgs, TrainConfig};
use crate::error::{Error, Result};
use crate::export::{default_out, ExportDtype, ExportOptions};
use crate::interrupt;
use crate::models::ema::{self, Ema};
use crate::run_dir::{self, MetricsLog, RunLock};

/// A line of `metrics.jsonl`: averages over the steps since the previous line.
#[derive(Serialize)]
struct MetricsLine {
    step: u64,
    epoch: u64,
    d_loss: f32,
    g_loss: f32,
    d_real: f32,
    d_fake: f32,
    images_per_s: f64,
    elapsed_s: f64,
}

/// The steps since the last metrics line: summed statistics and when the window began.
struct Window {
    sum: StepStats,
    steps: u32,
    since: Instant,
}

impl Window {
    fn new() -> Self {
        Window {
            sum: StepStats::default(),
            steps: 0,
            since: Instant::now(),
        }
    }

    fn add(&mut self, s: &StepStats) {
        self.sum.d_loss += s.d_loss;
        self.sum.g_loss += s.g_loss;
        self.sum.d_real += s.d_real;
        self.sum.d_fake += s.d_fake;
        self.steps += 1;
    }

    /// The window's averages as a metrics line at the trainer's step; starts a new window.
    fn close(&mut self, t: &Trainer, started: Instant) -> MetricsLine {
        let n = self.steps as f32;
        let secs = self.since.elapsed().as_secs_f64();
        let line = MetricsLine {
            step: t.step,
            epoch: t.epoch_of(t.step - 1),
            d_loss: self.sum.d_loss / n,
            g_loss: self.sum.g_loss / n,
            d_real: self.sum.d_real / n,
            d_fake: self.sum.d_fake / n,
            images_per_s: (self.steps as usize * t.cfg.batch_size) as f64 / secs.max(1e-9),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        *self = Window::new();
        line
    }
}

/// What a finished run leaves.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub checkpoint: PathBuf,
    pub steps: u64,
    pub seconds: f64,
    pub images_per_s: f64,
}

/// `trainer train`: builds or resumes a run, trains it, and (unless `--no-export`) exports it.
/// The run directory stays locked until the export is written.
pub fn run(args: &TrainArgs) -> Result<RunSummary> {
    let device = select_device(args.device)?;
    let (mut t, run, _lock) = match &args.resume {
        Some(dir) => resume(dir, args, &device)?,
        None => start(args, &device)?,
    };
    let dtypes = export_dtypes(args)?;
    t.grid_scale = args.scale;
    let summary = train_loop(&mut t, &run, args.quiet)?;
    for dtype in dtypes {
        let opts = ExportOptions {
            out: Some(default_out(&t.cfg.name, dtype)),
            dtype,
            force: args.force,
            scale: args.scale,
            ..Default::default()
        };
        t.export(&opts)?;
    }
    Ok(summary)
}

/// The dtypes `--export-dtype` names (none with `--no-export`). Arguments built in code rather
/// than parsed may leave the list empty: f16 then, as on the command line.
fn export_dtypes(args: &TrainArgs) -> Result<Vec<ExportDtype>> {
    if args.no_export {
        return Ok(Vec::new());
    }
    if args.export_dtype.is_empty() {
        return Ok(vec![ExportDtype::F16]);
    }
    args.export_dtype
        .iter()
        .map(|name| ExportDtype::from_str(name, true).map_err(Error::InvalidArgument))
        .collect()
}

/// Refuses, before training, a run whose export would be refused at the end: its model file
/// exists and `--force` was not given.
fn check_export_target(args: &TrainArgs, name: &str) -> Result<()> {
    for dtype in export_dtypes(args)? {
        let model = default_out(name, dtype);
        if !args.force && model.exists() {
            return Err(Error::InvalidArgument(format!(
                "{} already exists; pass --force to replace it, --name to train under another name, or --no-export",
                model.display()
            )));
        }
    }
    Ok(())
}

/// Creates a new run directory for the configuration `args` give, locked. Nothing is created
/// unless the data loads and the run fits its memory budget, and a directory this creates is
/// removed again if its configuration cannot be written.
fn start(args: &TrainArgs, device: &Device) -> Result<(Trainer, PathBuf, RunLock)> {
    let cfg = TrainConfig::from_args(args)?;
    check_export_target(args, &cfg.name)?;
    let runs = args
        .runs_dir
        .clone()
        .unwrap_or_else(run_dir::default_runs_dir);
    let run = runs.join(&cfg.name);
    let exists = || {
        Error::InvalidArgument(format!(
            "run {} already exists; use --resume {} or another --name",
            run.display(),
            run.display()
        ))
    };
    if run_dir::config_file(&run).exists() {
        return Err(exists());
    }
    let t = Trainer::new(cfg, device)?;
    let created = !run.exists();
    std::fs::create_dir_all(&run).map_err(|e| Error::io(&run, e))?;
    let lock = run_dir::lock(&run)?;
    // Another process may have started the same name since the check above.
    if run_dir::config_file(&run).exists() {
        return Err(exists());
    }
    let made = std::fs::create_dir_all(run_dir::samples_dir(&run))
        .map_err(|e| Error::io(&run, e))
        .and_then(|()| t.cfg.save(&run));
    if let Err(e) = made {
        if created {
            drop(lock);
            let _ = std::fs::remove_dir_all(&run);
        }
        return Err(e);
    }
    Ok((t, run, lock))
}

/// Rebuilds a run from its directory and its newest valid checkpoint, locked.
fn resume(dir: &Path, args: &TrainArgs, device: &Device) -> Result<(Trainer, PathBuf, RunLock)> {
    if !run_dir::config_file(dir).is_file() {
        // Read first for its error message; a directory without a configuration is no run.
        TrainConfig::load(dir)?;
    }
    let lock = run_dir::lock(dir)?;
    let mut cfg = TrainConfig::load(dir)?;
    crate::config::check_resume_options(args, &cfg)?;
    check_export_target(args, &cfg.name)?;
    if let Some(s) = args.steps {
        cfg.steps = s;
        cfg.epochs = None;
    } else if let Some(e) = args.epochs {
        cfg.epochs = Some(e);
    }
    if let Some(m) = args.max_memory {
        cfg.max_memory_gib = m;
    }
    cfg.validate()?;
    let loaded = checkpoint::newest_valid(dir)?;
    let mut t = Trainer::new(cfg, device)?;
    let at = loaded.info.step;
    if t.cfg.steps < at {
        return Err(Error::InvalidArgument(format!(
            "--steps {} is below the run's step {at}: a resumed run can only go on",
            t.cfg.steps
        )));
    }
    checkpoint::restore(&loaded, &t.gan, Some((&mut t.opt_g, &mut t.opt_d)))?;
    if let Some(ema) = &mut t.ema {
        if ema::in_checkpoint(&loaded.tensors) {
            ema.load(&loaded.tensors, &t.device)
                .map_err(|e| Error::Checkpoint {
                    path: loaded.info.path.clone(),
                    reason: e.to_string(),
                })?;
        } else {
            *ema = Ema::new(t.cfg.ema, &t.gan.g_params)?;
        }
    }
    t.step = at;
    eprintln!(
        "resuming {} at step {} from {}",
        dir.display(),
        t.step,
        loaded.info.path.display()
    );
    t.cfg.save(dir)?;
    Ok((t, dir.to_path_buf(), lock))
}

/// The progress bar of a run (hidden with `--quiet`), at the step it starts from.
fn progress_bar(quiet: bool, total: u64, start_step: u64) -> indicatif::ProgressBar {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps, {per_sec}, ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_position(start_step);
    bar.reset_eta();
    bar
}

/// An error unless both losses of the step just taken are finite.
fn check_finite(s: &StepStats, step: u64, last_checkpoint: &Option<PathBuf>) -> Result<()> {
    for (what, v) in [
        ("the generator loss", s.g_loss),
        ("the discriminator loss", s.d_loss),
    ] {
        if !v.is_finite() {
            return Err(Error::NonFinite {
                step,
                what: what.into(),
                last_checkpoint: last_checkpoint.clone(),
            });
        }
    }
    Ok(())
}

/// Trains until `cfg.steps`, writing metrics, grids and checkpoints into `run`.
pub fn train_loop(t: &mut Trainer, run: &Path, quiet: bool) -> Result<RunSummary> {
    // Ctrl-C and SIGTERM are requests until the final checkpoint is written.
    let deferral = interrupt::defer();
    let (total, start_step) = (t.cfg.steps, t.step);
    let mut metrics = MetricsLog::open(run, start_step)?;
    let samples_dir = run_dir::samples_dir(run);
    std::fs::create_dir_all(&samples_dir).map_err(|e| Error::io(&samples_dir, e))?;
    let bar = progress_bar(quiet, total, start_step);
    let mut last_ck: Option<PathBuf> = checkpoint::list(&run_dir::checkpoints_dir(run))?.pop();
    let started = Instant::now();
    let mut window = Window::new();
    while t.step < total {
        if interrupt::requested() {
            bar.finish_and_clear();
            let ck = t.save_checkpoint(run)?;
            return Err(Error::Interrupted { checkpoint: ck });
        }
        let s = t.train_step()?;
        check_finite(&s, t.step, &last_ck).inspect_err(|_| bar.finish_and_clear())?;
        window.add(&s);
        bar.set_position(t.step);
        if t.step.is_multiple_of(t.cfg.log_every) || t.step == total {
            let line = window.close(t, started);
            metrics.append(&line)?;
            bar.set_message(format!(
                "D {:.3} G {:.3} D(x) {:.2} D(G(z)) {:.2}",
                line.d_loss, line.g_loss, line.d_real, line.d_fake
            ));
        }
        if t.cfg.sample_every > 0 && t.step.is_multiple_of(t.cfg.sample_every) {
            t.save_samples(&run_dir::step_grid(run, t.step))?;
        }
        if t.cfg.checkpoint_every > 0
            && t.step.is_multiple_of(t.cfg.checkpoint_every)
            && t.step < total
        {
            last_ck = Some(t.save_checkpoint(run)?);
        }
    }
    bar.finish_and_clear();
    finish(
        t,
        run,
        started.elapsed().as_secs_f64(),
        start_step,
        deferral,
    )
}

/// The last checkpoint and sample grid of a run that reached its step count, and its summary.
fn finish(
    t: &mut Trainer,
    run: &Path,
    seconds: f64,
    start_step: u64,
    deferral: interrupt::Deferral,
) -> Result<RunSummary> {
    let ck = t.save_checkpoint(run)?;
    // From here a signal ends the process at once (the final grid and the export can be redone
    // from the checkpoint); one that came while the checkpoint was written is honoured now.
    interrupt::set_note(format!(
        "training finished; the final checkpoint is {}",
        ck.display()
    ));
    if deferral.end() {
        return Err(Error::Interrupted { checkpoint: ck });
    }
    let grid = run_dir::final_grid(run);
    t.save_samples(&grid)?;
    let done = t.step - start_step;
    let images_per_s = (done as usize * t.cfg.batch_size) as f64 / seconds.max(1e-9);
    eprintln!(
        "trained {} to step {} in {:.0} s ({:.0} images/s on {}); samples {}; checkpoint {}",
        t.cfg.name,
        t.step,
        seconds,
        images_per_s,
        device_name(&t.device),
        grid.display(),
        ck.display()
    );
    Ok(RunSummary {
        run_dir: run.into(),
        checkpoint: ck,
        steps: t.step,
        seconds,
        images_per_s,
    })
}
