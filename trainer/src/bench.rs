//! `trainer bench`: training throughput of each architecture, measured as a training run sees it
//! (one generator and one discriminator update per step, bundled digits, batch 64 by default).

use std::time::Instant;

use clap::Args;

use crate::config::{DeviceChoice, TrainArgs, TrainConfig};
use crate::error::Result;
use crate::models::Arch;
use crate::train::{device_name, select_device, Trainer};

/// `trainer bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Samples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Timed steps per repetition.
    #[arg(long, default_value_t = 40)]
    pub steps: u64,
    /// Repetitions; the table shows their median.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Untimed steps before measuring.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Also measure the class-conditional variants.
    #[arg(long)]
    pub conditional: bool,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub arch: Arch,
    pub conditional: bool,
    pub median_images_per_s: f64,
    pub min: f64,
    pub max: f64,
}

/// Measures one configuration.
pub fn measure(arch: Arch, conditional: bool, a: &BenchArgs) -> Result<BenchRow> {
    let device = select_device(a.device)?;
    let args = TrainArgs {
        arch: Some(arch),
        conditional,
        unconditional: !conditional,
        batch_size: Some(a.batch_size),
        steps: Some(a.warmup + a.steps * a.repeats as u64),
        ..TrainArgs::default()
    };
    let cfg = TrainConfig::from_args(&args)?;
    let mut t = Trainer::new(cfg, &device)?;
    for _ in 0..a.warmup {
        t.train_step()?;
    }
    let mut rates = Vec::with_capacity(a.repeats);
    for _ in 0..a.repeats.max(1) {
        let start = Instant::now();
        for _ in 0..a.steps.max(1) {
            t.train_step()?;
        }
        rates.push((a.steps.max(1) as usize * a.batch_size) as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(BenchRow {
        arch,
        conditional,
        median_images_per_s: rates[rates.len() / 2],
        min: rates[0],
        max: rates[rates.len() - 1],
    })
}

/// Runs every configuration and prints a markdown table.
pub fn run(a: &BenchArgs) -> Result<()> {
    let device = select_device(a.device)?;
    let threads = candle_core::utils::get_num_threads();
    println!(
        "training throughput, batch {}, device {} ({} threads), median of {} x {} steps after {} warm-up",
        a.batch_size,
        device_name(&device),
        threads,
        a.repeats,
        a.steps,
        a.warmup
    );
    println!();
    println!("| architecture | images/s (median) | min | max | steps/s |");
    println!("|---|---:|---:|---:|---:|");
    let mut configs = vec![(Arch::Mlp, false), (Arch::Dcgan, false)];
    if a.conditional {
        configs.extend([(Arch::Mlp, true), (Arch::Dcgan, true)]);
    }
    for (arch, cond) in configs {
        let r = measure(arch, cond, a)?;
        println!(
            "| {}{} | {:.0} | {:.0} | {:.0} | {:.1} |",
            r.arch,
            if r.conditional { " --conditional" } else { "" },
            r.median_images_per_s,
            r.min,
            r.max,
            r.median_images_per_s / a.batch_size as f64
        );
    }
    Ok(())
}
