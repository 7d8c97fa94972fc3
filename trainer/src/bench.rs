//! `trainer bench`: training throughput of each architecture, measured as a training run sees it
//! (one generator and one discriminator update per step, bundled digits, batches 64 and 1024 by
//! default), next to the same configuration in PyTorch when it is installed
//! (`scripts/pytorch_reference.py`, run in the same process tree, so on the same machine state).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;
use serde::Deserialize;

use crate::config::{DeviceChoice, TrainArgs, TrainConfig};
use crate::error::{Error, Result};
use crate::models::Arch;
use crate::train::{device_name, select_device, Trainer};

/// The PyTorch reference: (python, script), or why it is skipped.
type Torch = std::result::Result<(String, PathBuf), String>;

/// `trainer bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Architectures to measure (comma-separated).
    #[arg(long = "arch", value_enum, value_delimiter = ',', default_values_t = [Arch::Mlp, Arch::Dcgan])]
    pub archs: Vec<Arch>,
    /// Samples per batch; several (comma-separated) give one row each.
    #[arg(long = "batch-size", value_delimiter = ',', default_values_t = [64, 1024])]
    pub batch_sizes: Vec<usize>,
    /// Timed steps per window (default: 2,560 images' worth, at least 3).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Timed windows; the table shows their median.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Untimed steps before measuring (default: 320 images' worth, at least 2).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Also measure the class-conditional variants.
    #[arg(long)]
    pub conditional: bool,
    /// Instead of the table, print where one step's time goes (forward, backward, optimiser).
    #[arg(long)]
    pub profile: bool,
    /// Python that runs the PyTorch reference (scripts/pytorch_reference.py) in the same run;
    /// skipped when it cannot `import torch`. Default: $MICROGAN_PYTHON, else python3.
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// Do not run the PyTorch reference.
    #[arg(long)]
    pub no_pytorch: bool,
    /// Also measure PyTorch with torch.compile.
    #[arg(long)]
    pub torch_compile: bool,
}

impl BenchArgs {
    /// Timed steps per window at `batch`.
    pub fn steps_for(&self, batch: usize) -> u64 {
        self.steps
            .unwrap_or((2560 / batch.max(1)).max(3) as u64)
            .max(1)
    }

    /// Warm-up steps at `batch`.
    pub fn warmup_for(&self, batch: usize) -> u64 {
        self.warmup.unwrap_or((320 / batch.max(1)).max(2) as u64)
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub arch: Arch,
    pub conditional: bool,
    pub batch: usize,
    pub median_images_per_s: f64,
    pub min: f64,
    pub max: f64,
}

/// Measures one configuration.
pub fn measure(arch: Arch, conditional: bool, batch: usize, a: &BenchArgs) -> Result<BenchRow> {
    if batch == 0 {
        return Err(Error::InvalidArgument(
            "--batch-size must be at least 1".into(),
        ));
    }
    let device = select_device(a.device)?;
    let (steps, warmup) = (a.steps_for(batch), a.warmup_for(batch));
    let repeats = a.repeats.max(1);
    let args = TrainArgs {
        arch: Some(arch),
        conditional,
        unconditional: !conditional,
        batch_size: Some(batch),
        steps: Some(warmup + steps * repeats as u64),
        ..TrainArgs::default()
    };
    let cfg = TrainConfig::from_args(&args)?;
    let mut t = Trainer::new(cfg, &device)?;
    for _ in 0..warmup {
        t.train_step()?;
    }
    let mut rates = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        for _ in 0..steps {
            t.train_step()?;
        }
        rates.push((steps as usize * batch) as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(BenchRow {
        arch,
        conditional,
        batch,
        median_images_per_s: rates[rates.len() / 2],
        min: rates[0],
        max: rates[rates.len() - 1],
    })
}

/// One PyTorch measurement, as the reference script prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct TorchRow {
    pub arch: String,
    pub batch: usize,
    pub threads: usize,
    pub compile: bool,
    pub torch: String,
    pub images_per_s: f64,
    pub min: f64,
    pub max: f64,
}

/// The reference script: next to the crate in a source checkout, else under the working directory.
fn reference_script() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pytorch_reference.py");
    [here, PathBuf::from("scripts/pytorch_reference.py")]
        .into_iter()
        .find(|p| p.is_file())
}

/// The python to use, if it can import torch (and why not, otherwise).
fn torch_python(a: &BenchArgs) -> std::result::Result<String, String> {
    let python = a
        .python
        .clone()
        .or_else(|| std::env::var("MICROGAN_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    match Command::new(&python)
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(python),
        Ok(_) => Err(format!(
            "`{python} -c \"import torch\"` failed (pip install torch)"
        )),
        Err(e) => Err(format!("cannot run {python}: {e}")),
    }
}

/// Runs the PyTorch reference for one configuration with `threads` intra-op threads.
fn measure_torch(
    python: &str,
    script: &Path,
    arch: Arch,
    batch: usize,
    threads: usize,
    a: &BenchArgs,
) -> std::result::Result<Vec<TorchRow>, String> {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--arch", arch.name()])
        .args(["--batch", &batch.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--steps", &a.steps_for(batch).to_string()])
        .args(["--repeats", &a.repeats.max(1).to_string()])
        .args(["--warmup", &a.warmup_for(batch).to_string()])
        .args([
            "--device",
            if a.device == DeviceChoice::Cuda {
                "cuda"
            } else {
                "cpu"
            },
        ]);
    if a.torch_compile {
        cmd.arg("--compile");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "the PyTorch reference failed: {}",
            err.lines().last().unwrap_or("no message")
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad line from the reference: {e}")))
        .collect()
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

/// Milliseconds since `s`.
fn ms(s: Instant) -> f64 {
    s.elapsed().as_secs_f64() * 1e3
}

/// The gradients of `loss`, then one step of `opt` (the gradients freed inside the timing, as in
/// a training step), timed into `backward` and `adam`.
fn timed_update(
    loss: &candle_core::Tensor,
    opt: &mut crate::optim::Adam,
    backward: &mut f64,
    adam: &mut f64,
) -> Result<()> {
    let s = Instant::now();
    let grads = loss.backward()?;
    *backward += ms(s);
    let s = Instant::now();
    opt.step(&grads)?;
    drop(grads);
    *adam += ms(s);
    Ok(())
}

/// Times each phase of `steps` training steps, the phases exactly as `Trainer::train_step` runs
/// them (every phase ends with the values it produced, which on the CPU means computed).
pub fn profile(arch: Arch, batch: usize, a: &BenchArgs) -> Result<StepProfile> {
    use crate::losses;
    use candle_core::Tensor;
    let device = select_device(a.device)?;
    let (steps, warmup) = (a.steps_for(batch), a.warmup_for(batch));
    let args = TrainArgs {
        arch: Some(arch),
        unconditional: true,
        batch_size: Some(batch),
        steps: Some(warmup + steps),
        ..TrainArgs::default()
    };
    let cfg = TrainConfig::from_args(&args)?;
    let mut t = Trainer::new(cfg, &device)?;
    for _ in 0..warmup {
        t.train_step()?;
    }
    let mut p = StepProfile::default();
    for _ in 0..steps {
        let s = Instant::now();
        let batch_data = t.batch(t.step)?;
        p.batch += ms(s);
        let s = Instant::now();
        let fake = t.gan.g.forward_t(&batch_data.z, None, true)?;
        let logits = t.gan.d.forward(&fake, None)?;
        let g_loss = losses::generator_loss(t.cfg.loss, &logits)?;
        p.g_forward += ms(s);
        timed_update(&g_loss, &mut t.opt_g, &mut p.g_backward, &mut p.g_adam)?;
        let s = Instant::now();
        let b = batch;
        let both = Tensor::cat(&[&batch_data.real, &fake.detach()], 0)?;
        let logits = t.gan.d.forward(&both, None)?;
        let (rl, fl) = (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?);
        let d_loss = losses::discriminator_loss(&rl, &fl)?;
        p.d_forward += ms(s);
        timed_update(&d_loss, &mut t.opt_d, &mut p.d_backward, &mut p.d_adam)?;
        let s = Instant::now();
        let d_real = candle_nn::ops::sigmoid(&rl.detach())?.mean_all()?;
        let d_fake = candle_nn::ops::sigmoid(&fl.detach())?.mean_all()?;
        Tensor::stack(&[&d_loss, &g_loss, &d_real, &d_fake], 0)?.to_vec1::<f32>()?;
        p.readback += ms(s);
        t.step += 1;
    }
    let n = steps as f64;
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
        "time per training step (ms, mean of the timed steps after warm-up), {} threads",
        candle_core::utils::get_num_threads()
    );
    println!();
    println!("| architecture | batch | batch + z | G fwd (G+D+loss) | G bwd | G Adam | D fwd | D bwd | D Adam | read-back | total |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (arch, batch) in configs(a) {
        let p = profile(arch, batch, a)?;
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
            "| {arch} | {batch} | {} | {:.2} |",
            cells.join(" | "),
            v.iter().sum::<f64>()
        );
    }
    Ok(())
}

fn configs(a: &BenchArgs) -> Vec<(Arch, usize)> {
    let mut out = Vec::new();
    for &arch in &a.archs {
        for &b in &a.batch_sizes {
            out.push((arch, b));
        }
    }
    out
}

/// Runs every configuration, each followed by the PyTorch reference on the same configuration
/// when PyTorch is available, and prints a markdown table with the ratios.
pub fn run(a: &BenchArgs) -> Result<()> {
    if a.batch_sizes.contains(&0) {
        return Err(Error::InvalidArgument(
            "--batch-size must be at least 1".into(),
        ));
    }
    if a.profile {
        return print_profile(a);
    }
    let device = select_device(a.device)?;
    let threads = candle_core::utils::get_num_threads();
    let torch = if a.no_pytorch {
        Err("--no-pytorch".to_string())
    } else {
        match reference_script() {
            Some(script) => torch_python(a).map(|py| (py, script)),
            None => Err("scripts/pytorch_reference.py not found".into()),
        }
    };
    print_header(a, &device, threads, &torch);
    let mut rows = configs(a)
        .into_iter()
        .map(|(arch, b)| (arch, false, b))
        .collect::<Vec<_>>();
    if a.conditional {
        rows.extend(configs(a).into_iter().map(|(arch, b)| (arch, true, b)));
    }
    for (arch, cond, batch) in rows {
        print_row(arch, cond, batch, a, &torch, threads)?;
    }
    Ok(())
}

/// The table's title lines and header.
fn print_header(a: &BenchArgs, device: &candle_core::Device, threads: usize, torch: &Torch) {
    println!(
        "training throughput (images/s: batch x steps/s), device {} ({} threads), median of {} timed windows after warm-up",
        device_name(device),
        threads,
        a.repeats.max(1),
    );
    match torch {
        Ok((py, _)) => println!("PyTorch reference: {py}, same threads, eager"),
        Err(why) => println!("PyTorch reference skipped: {why}"),
    }
    println!();
    println!(
        "| architecture | batch | trainer images/s (min-max) | PyTorch eager (min-max) | ratio |{}",
        if a.torch_compile {
            " torch.compile | ratio |"
        } else {
            ""
        }
    );
    println!(
        "|---|---:|---:|---:|---:|{}",
        if a.torch_compile { "---:|---:|" } else { "" }
    );
}

/// One row of the table: the trainer's throughput and PyTorch's for the same configuration.
fn print_row(
    arch: Arch,
    cond: bool,
    batch: usize,
    a: &BenchArgs,
    torch: &Torch,
    threads: usize,
) -> Result<()> {
    let r = measure(arch, cond, batch, a)?;
    let name = format!("{}{}", r.arch, if cond { " --conditional" } else { "" });
    let ours = format!("{:.0} ({:.0}-{:.0})", r.median_images_per_s, r.min, r.max);
    let theirs = match (torch, cond) {
        (Ok((py, script)), false) => measure_torch(py, script, arch, batch, threads, a),
        (Ok(_), true) => Err("no conditional reference".into()),
        (Err(_), _) => Ok(Vec::new()),
    };
    let cell = |compile: bool| match &theirs {
        Ok(rows) => match rows.iter().find(|t| t.compile == compile) {
            Some(t) => format!(
                "{:.0} ({:.0}-{:.0}) | {:.2}x",
                t.images_per_s,
                t.min,
                t.max,
                r.median_images_per_s / t.images_per_s
            ),
            None => "- | -".into(),
        },
        Err(e) => format!("{e} | -"),
    };
    println!(
        "| {name} | {batch} | {ours} | {} |{}",
        cell(false),
        if a.torch_compile {
            format!(" {} |", cell(true))
        } else {
            String::new()
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    /// Windows hold about 2,560 images whatever the batch, and the defaults cover both
    /// architectures at batches 64 and 1024.
    #[test]
    fn defaults_scale_windows_with_the_batch() {
        let a = Cli::parse_from(["bench"]).bench;
        assert_eq!(a.batch_sizes, vec![64, 1024]);
        assert_eq!(a.archs, vec![Arch::Mlp, Arch::Dcgan]);
        assert_eq!((a.steps_for(64), a.warmup_for(64)), (40, 5));
        assert_eq!((a.steps_for(1024), a.warmup_for(1024)), (3, 2));
        let a = Cli::parse_from(["bench", "--batch-size", "8,16", "--steps", "7"]).bench;
        assert_eq!(a.batch_sizes, vec![8, 16]);
        assert_eq!(a.steps_for(16), 7);
        assert_eq!(configs(&a).len(), 4);
    }

    /// The reference script's output line parses into a row.
    #[test]
    fn parses_a_reference_line() {
        let line = r#"{"arch": "mlp", "batch": 64, "threads": 2, "compile": false, "torch": "2.15.0", "images_per_s": 2850.5, "min": 2700.0, "max": 2900.0}"#;
        let row: TorchRow = serde_json::from_str(line).unwrap();
        assert_eq!(
            (row.arch.as_str(), row.batch, row.compile),
            ("mlp", 64, false)
        );
        assert!((row.images_per_s - 2850.5).abs() < 1e-9);
    }

    /// A zero batch is refused before anything is built.
    #[test]
    fn zero_batch_is_an_error() {
        let a = Cli::parse_from(["bench", "--batch-size", "0", "--no-pytorch"]).bench;
        assert!(matches!(run(&a), Err(Error::InvalidArgument(_))));
    }
}
