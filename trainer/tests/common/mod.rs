//! Shared helpers: the binary, and tiny, fast configurations on a prefix of the bundled digits.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

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
