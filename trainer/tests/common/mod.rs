//! Shared helpers: the binary, and tiny, fast configurations on a prefix of the bundled digits.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use trainer::config::{TrainArgs, TrainConfig};
use trainer::models::params::ParamStore;
use trainer::models::Arch;
use trainer::train::Trainer;

/// Runs the trainer binary: (exit code, stdout, stderr).
pub fn trainer(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `trainer` and parses its JSON output, failing with stderr on error.
pub fn trainer_json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = trainer(args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// `trainer train` on the toy ring of 8 Gaussians (2-D points, a small MLP: a hundred steps a
/// second) for `steps` steps, then the options in `more`.
pub fn toy_train_args<'a>(steps: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--arch", "toy", "--toy", "ring8", "--steps", steps];
    args.extend_from_slice(more);
    args
}

/// Options for a few-step run on 64 digits, batch 16.
pub fn tiny_args(arch: Arch, conditional: bool, runs: &Path) -> TrainArgs {
    TrainArgs {
        arch: Some(arch),
        conditional,
        unconditional: !conditional,
        limit: Some(64),
        batch_size: Some(16),
        steps: Some(3),
        sample_every: Some(0),
        checkpoint_every: Some(0),
        log_every: Some(1),
        runs_dir: Some(runs.to_path_buf()),
        name: Some(format!(
            "{}-{}",
            arch.name(),
            if conditional { "cond" } else { "uncond" }
        )),
        no_export: true,
        quiet: true,
        device: trainer::config::DeviceChoice::Cpu,
        ..TrainArgs::default()
    }
}

/// Options that resume the run in `run` up to `steps`, quietly on the CPU, without export.
pub fn resume_args(run: &Path, steps: u64) -> TrainArgs {
    TrainArgs {
        resume: Some(run.to_path_buf()),
        steps: Some(steps),
        no_export: true,
        quiet: true,
        device: trainer::config::DeviceChoice::Cpu,
        ..Default::default()
    }
}

/// `trainer export --run <run> --out <out>`.
pub fn export_run(run: &Path, out: &Path) {
    let opts = trainer::export::ExportArgs {
        run: Some(run.to_path_buf()),
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    trainer::export::run(&opts).unwrap();
}

/// A ready trainer for a tiny configuration.
pub fn tiny_trainer(arch: Arch, conditional: bool) -> Trainer {
    let dir = std::env::temp_dir();
    let cfg = TrainConfig::from_args(&tiny_args(arch, conditional, &dir)).unwrap();
    Trainer::new(cfg, &candle_core::Device::Cpu).unwrap()
}

/// Every tensor of a network (parameters and running statistics) as flat vectors.
pub fn snapshot(p: &ParamStore) -> BTreeMap<String, Vec<f32>> {
    p.all()
        .keys()
        .map(|k| (k.clone(), p.values(k).unwrap()))
        .collect()
}

/// Runs the trainer and checks the failure: non-zero exit, one non-empty stderr line, starting
/// with `error: ` and containing every needle.
pub fn fails_with_one_line(args: &[&str], needles: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{args:?} panicked: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?} printed {lines:?}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{args:?}: {:?} lacks {n:?}", lines[0]);
    }
}

/// [`fails_with_one_line`] for a command built by the caller (a limit set, a directory chosen).
pub fn command_fails_with_one_line(mut command: Command, needles: &[&str]) {
    let out = command.env("RUST_BACKTRACE", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{command:?} succeeded: {err}");
    assert_ne!(out.status.code(), Some(101), "{command:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{command:?} printed {lines:?}");
    assert!(lines[0].starts_with("error: "), "{command:?}: {}", lines[0]);
    for n in needles {
        assert!(
            lines[0].contains(n),
            "{command:?}: {:?} lacks {n:?}",
            lines[0]
        );
    }
}

/// The trainer binary with `args`, every file it writes limited to `bytes`: a write past the limit
/// fails (EFBIG) as a write on a full disk fails (ENOSPC), without a full disk.
#[cfg(unix)]
pub fn with_file_size_limit(args: &[&str], bytes: u64) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(args);
    // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal).
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The write then fails with EFBIG instead of the signal ending the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    command
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
