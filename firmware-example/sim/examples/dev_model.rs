//! Writes a development model: the digit DCGAN's architecture with deterministic pseudo-random
//! weights (untrained: it draws noise). For working on the firmware before a trained model
//! exists; never ship its output as a model.
//!
//! `cargo run -p gan-sim --example dev_model -- OUT.safetensors [CLASSES] [SEED]`

#[path = "../../app/tests/support/mod.rs"]
mod support;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: dev_model OUT.safetensors [CLASSES (default 10)] [SEED (default 1)]");
        return ExitCode::FAILURE;
    };
    let number = |i: usize, default: u64| match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse::<u64>().map_err(|e| format!("argument {s:?}: {e}")),
    };
    let (classes, seed) = match (number(1, 10), number(2, 1)) {
        (Ok(c), Ok(s)) if c <= 1000 => (c as usize, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        _ => {
            eprintln!("error: at most 1000 classes");
            return ExitCode::FAILURE;
        }
    };
    let bytes = support::dcgan(seed, classes, 1, runtime::format::DType::F16);
    match std::fs::write(out, &bytes) {
        Ok(()) => {
            println!(
                "{out}: {} bytes, untrained development weights",
                bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
