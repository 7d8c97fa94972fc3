//! Writes a development model: the architecture of a shipped generator with deterministic
//! pseudo-random weights (untrained: it draws noise). For working on the firmware before a
//! trained model exists; never ship its output as a model.
//!
//! `cargo run -p gan-sim --example dev_model -- OUT.safetensors [dcgan|dcgan-f32|mlp] [CLASSES] [SEED]`
//! (`dcgan-f32` stores the weights as f32, to measure what f16 storage costs).

#[path = "../../app/tests/support/mod.rs"]
mod support;

use std::process::ExitCode;

use runtime::format::DType;

const USAGE: &str = "usage: dev_model OUT.safetensors [dcgan|dcgan-f32|mlp (default dcgan)] \
                     [CLASSES for dcgan (default 10)] [SEED (default 1)]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse::<u64>().map_err(|e| format!("argument {s:?}: {e}")),
    };
    let made = match (args.first(), args.get(1).map(String::as_str)) {
        (None, _) => Err(USAGE.to_string()),
        (Some(_), arch @ (None | Some("dcgan" | "dcgan-f32"))) => {
            match (number(2, 10), number(3, 1)) {
                (Ok(classes), Ok(seed)) if classes <= 1000 => {
                    let dtype = if arch == Some("dcgan-f32") {
                        DType::F32
                    } else {
                        DType::F16
                    };
                    Ok(support::dcgan(seed, classes as usize, 1, dtype))
                }
                (Ok(_), Ok(_)) => Err("at most 1000 classes".to_string()),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        (Some(_), Some("mlp")) => number(3, 1).map(|seed| support::mlp(seed, DType::F16)),
        (Some(_), Some(other)) => Err(format!("unknown architecture {other:?}\n{USAGE}")),
    };
    let (out, bytes) = match (args.first(), made) {
        (Some(out), Ok(bytes)) => (out, bytes),
        (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        (None, Ok(_)) => return ExitCode::FAILURE,
    };
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
