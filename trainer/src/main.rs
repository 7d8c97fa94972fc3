//! `trainer`: train a GAN, export its generator, sample from an exported file, benchmark.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train GANs with candle and export generators for microcontrollers.
#[derive(Parser)]
#[command(name = "trainer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a GAN (by default on the bundled digits), then export its generator to models/.
    Train(Box<trainer::config::TrainArgs>),
    /// Export a run's generator as a model file, verified against the runtime.
    Export(trainer::export::ExportArgs),
    /// Import a generator trained in PyTorch (its state dict) as a model file, verified.
    Import(trainer::import::ImportArgs),
    /// Draw images from an exported model file with the runtime.
    Sample(trainer::sample::SampleArgs),
    /// Print training throughput (images/s) of each architecture on this machine.
    Bench(trainer::bench::BenchArgs),
    /// Train the digit classifier that `eval` measures generated digits with.
    Classifier(trainer::eval::ClassifierArgs),
    /// Measure generators or images: digit classes, coverage, Frechet distance, or the 2-D protocol.
    Eval(trainer::eval::EvalArgs),
}

fn main() -> ExitCode {
    trainer::ops::tune_allocator();
    trainer::ops::default_threads();
    // A signal ends any command at once, leaving no half-written file; training defers it to
    // write a checkpoint first.
    trainer::interrupt::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(a) => trainer::train::run(&a).map(|_| ()),
        Command::Export(a) => trainer::export::run(&a),
        Command::Import(a) => trainer::import::run(&a),
        Command::Sample(a) => trainer::sample::run(&a),
        Command::Bench(a) => trainer::bench::run(&a),
        Command::Classifier(a) => trainer::eval::run_classifier(&a),
        Command::Eval(a) => trainer::eval::run_eval(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                trainer::Error::Interrupted { .. } => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// clap's usage errors span several lines; a user (and a script's log) gets one.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
