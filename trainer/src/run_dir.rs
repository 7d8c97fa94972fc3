//! Where things live, each path named once: the bundled data, runs and models (under the
//! workspace root, so `cargo run -p trainer` works from any directory of a checkout), and the
//! layout of a run directory:
//!
//! ```text
//! runs/<name>/config.json        the full configuration, so the run can be rebuilt
//!             metrics.jsonl      a line of averages every --log-every steps
//!             samples/step-N.png the fixed sample grid every --sample-every steps
//!             samples.png        the grid at the end
//!             checkpoints/       the newest checkpoints (crate::checkpoint writes and reads them)
//! models/<name>.safetensors      the exported generator, samples next to it as <name>.png
//! ```

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// The bundled digits, relative to the workspace root.
pub const BUNDLED_DATA: &str = "data/mnist";

/// True if `dir` looks like this project's workspace root.
fn is_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("trainer").is_dir() && dir.join("runtime").is_dir()
}

/// The workspace root: the current directory or its nearest ancestor that holds the workspace,
/// else the directory this crate was built from, else the current directory.
pub fn workspace_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Some(dir) = cwd.ancestors().find(|d| is_root(d)) {
        return dir.to_path_buf();
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    match built.parent() {
        Some(p) if is_root(p) => p.to_path_buf(),
        _ => cwd,
    }
}

/// The default data directory (the bundled digits).
pub fn default_data_dir() -> PathBuf {
    workspace_root().join(BUNDLED_DATA)
}

/// The default directory for run directories.
pub fn default_runs_dir() -> PathBuf {
    workspace_root().join("runs")
}

/// The default directory for exported models.
pub fn default_models_dir() -> PathBuf {
    workspace_root().join("models")
}

/// `models/<name>.safetensors` in the workspace: where a run's generator is exported.
pub fn model_file(run_name: &str) -> PathBuf {
    default_models_dir().join(format!("{run_name}.safetensors"))
}

/// A run's configuration file; its presence is what makes a directory a run.
pub fn config_file(run: &Path) -> PathBuf {
    run.join("config.json")
}

/// A run's checkpoint directory.
pub fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// The run a checkpoint file belongs to (`<run>/checkpoints/<file>`), if it is inside one.
pub fn of_checkpoint(file: &Path) -> Option<PathBuf> {
    file.parent().and_then(Path::parent).map(Path::to_path_buf)
}

/// The directory of a run's periodic sample grids.
pub fn samples_dir(run: &Path) -> PathBuf {
    run.join("samples")
}

/// The sample grid of `step`; zero-padded so names sort by step.
pub fn step_grid(run: &Path, step: u64) -> PathBuf {
    samples_dir(run).join(format!("step-{step:08}.png"))
}

/// The sample grid at the end of training.
pub fn final_grid(run: &Path) -> PathBuf {
    run.join("samples.png")
}

/// The newest run directory (by the time its config.json was written).
pub fn newest(runs_dir: &Path) -> Result<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(runs_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if let Ok(m) = config_file(&p).metadata().and_then(|m| m.modified()) {
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

/// The lock a training process holds on its run directory, released when dropped or when the
/// process ends (however it ends: the operating system drops the lock with the file handle, so a
/// killed run leaves no stale lock).
pub struct RunLock {
    _file: File,
}

/// Locks `run` (an advisory lock on `run/train.lock`) for this process, or fails if another process
/// trains in it. Two processes in one run would interleave their metrics and prune each other's
/// checkpoints. Then removes the temporary files of writes a killed run left behind.
pub fn lock(run: &Path) -> Result<RunLock> {
    let path = run.join("train.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked { path: run.into() }),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    for dir in [run.to_path_buf(), checkpoints_dir(run), samples_dir(run)] {
        crate::output_file::remove_stale_in(&dir);
    }
    Ok(RunLock { _file: file })
}

/// A run's `metrics.jsonl`, open for appending (a resumed run continues it).
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens the log of a run at `step`. Lines after that step (logged by a run that was killed
    /// before its next checkpoint, and about to be logged again) and a last line cut short (a
    /// kill or a full disk in the middle of a write) are dropped first, so every step is logged
    /// once, on a line of its own.
    pub fn open(run: &Path, step: u64) -> Result<Self> {
        let path = run.join("metrics.jsonl");
        match std::fs::read(&path) {
            Ok(old) => {
                let kept = lines_up_to(&old, step);
                if kept.len() != old.len() {
                    crate::output_file::write_atomic(&path, kept)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(MetricsLog { path, file })
    }

    /// Appends `line` as one line of JSON, in one write.
    pub fn append(&mut self, line: &impl Serialize) -> Result<()> {
        let mut json = serde_json::to_string(line).map_err(|e| Error::Json {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        json.push('\n');
        self.file
            .write_all(json.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The leading lines of a metrics log that are complete and record a step up to `step`.
fn lines_up_to(log: &[u8], step: u64) -> &[u8] {
    let mut end = 0;
    for line in log.split_inclusive(|&b| b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        let logged = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64));
        match logged {
            Some(s) if s <= step => end += line.len(),
            _ => break,
        }
    }
    &log[..end]
}

/// UTC time as `YYYYMMDD-HHMMSS`, for run names that sort by age.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_after_the_step_or_cut_short_are_dropped() {
        let log = b"{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"st";
        assert_eq!(lines_up_to(log, 2), b"{\"step\":1}\n{\"step\":2}\n");
        assert_eq!(lines_up_to(log, 9), &log[..log.len() - 4]);
        assert_eq!(lines_up_to(b"garbage\n{\"step\":1}\n", 5), b"");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn finds_the_bundled_digits() {
        assert!(default_data_dir()
            .join("train-images-idx3-ubyte.gz")
            .is_file());
    }
}
