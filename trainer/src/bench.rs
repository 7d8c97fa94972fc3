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
    /// Instead of the table, print where one step's time goes (forward, backward, optimiser).
    #[arg(long)]
    pub profile: bool,
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

/// Milliseconds per phase of one training step, summed over the timed steps.
#[derive(Debug, Clone, Default)]
pub struct StepProfile {
    pub batch: f64,
    pub g_forward: f64,
    pub g_backward: f64,
    pub g_adam: f64,
    pub d_forward: f64,
    pub d_backward: f64,
    pub d_adam: f64,
    pub readback: f64,
}

/// Times each phase of `steps` training steps, the phases exactly as `Trainer::train_step` runs
/// them (every phase ends with the values it produced, which on the CPU means computed).
pub fn profile(arch: Arch, a: &BenchArgs) -> Result<StepProfile> {
    use crate::losses;
    use candle_core::Tensor;
    let device = select_device(a.device)?;
    let args = TrainArgs {
        arch: Some(arch),
        unconditional: true,
        batch_size: Some(a.batch_size),
        steps: Some(a.warmup + a.steps),
        ..TrainArgs::default()
    };
    let cfg = TrainConfig::from_args(&args)?;
    let mut t = Trainer::new(cfg, &device)?;
    for _ in 0..a.warmup {
        t.train_step()?;
    }
    let mut p = StepProfile::default();
    let ms = |s: Instant| s.elapsed().as_secs_f64() * 1e3;
    for _ in 0..a.steps.max(1) {
        let s = Instant::now();
        let batch = t.batch(t.step)?;
        p.batch += ms(s);
        let s = Instant::now();
        let fake = t.gan.g.forward_t(&batch.z, None, true)?;
        let logits = t.gan.d.forward(&fake, None)?;
        let g_loss = losses::generator_loss(t.cfg.loss, &logits)?;
        p.g_forward += ms(s);
        let s = Instant::now();
        let grads = g_loss.backward()?;
        p.g_backward += ms(s);
        let s = Instant::now();
        t.opt_g.step(&grads)?;
        drop(grads);
        p.g_adam += ms(s);
        let s = Instant::now();
        let b = a.batch_size;
        let both = Tensor::cat(&[&batch.real, &fake.detach()], 0)?;
        let logits = t.gan.d.forward(&both, None)?;
        let (rl, fl) = (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?);
        let d_loss = losses::discriminator_loss(&rl, &fl)?;
        p.d_forward += ms(s);
        let s = Instant::now();
        let grads = d_loss.backward()?;
        p.d_backward += ms(s);
        let s = Instant::now();
        t.opt_d.step(&grads)?;
        drop(grads);
        p.d_adam += ms(s);
        let s = Instant::now();
        let d_real = candle_nn::ops::sigmoid(&rl.detach())?.mean_all()?;
        let d_fake = candle_nn::ops::sigmoid(&fl.detach())?.mean_all()?;
        Tensor::stack(&[&d_loss, &g_loss, &d_real, &d_fake], 0)?.to_vec1::<f32>()?;
        p.readback += ms(s);
        t.step += 1;
    }
    let n = a.steps.max(1) as f64;
    for v in [
        &mut p.batch,
        &mut p.g_forward,
        &mut p.g_backward,
        &mut p.g_adam,
        &mut p.d_forward,
        &mut p.d_backward,
        &mut p.d_adam,
        &mut p.readback,
    ] {
        *v /= n;
    }
    Ok(p)
}

fn print_profile(a: &BenchArgs) -> Result<()> {
    println!(
        "time per training step (ms, mean of {} steps after {} warm-up), batch {}, {} threads",
        a.steps,
        a.warmup,
        a.batch_size,
        candle_core::utils::get_num_threads()
    );
    println!();
    println!("| architecture | batch + z | G fwd (G+D+loss) | G bwd | G Adam | D fwd | D bwd | D Adam | read-back | total |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for arch in [Arch::Mlp, Arch::Dcgan] {
        let p = profile(arch, a)?;
        let v = [
            p.batch,
            p.g_forward,
            p.g_backward,
            p.g_adam,
            p.d_forward,
            p.d_backward,
            p.d_adam,
            p.readback,
        ];
        let cells: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
        println!(
            "| {arch} | {} | {:.2} |",
            cells.join(" | "),
            v.iter().sum::<f64>()
        );
    }
    Ok(())
}

/// Runs every configuration and prints a markdown table.
pub fn run(a: &BenchArgs) -> Result<()> {
    if a.profile {
        return print_profile(a);
    }
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
