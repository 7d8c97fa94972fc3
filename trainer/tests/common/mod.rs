//! Shared helpers: tiny, fast configurations on a prefix of the bundled digits.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use trainer::config::{TrainArgs, TrainConfig};
use trainer::models::params::ParamStore;
use trainer::models::Arch;
use trainer::train::Trainer;

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
