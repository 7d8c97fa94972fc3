//! Stacked MNIST end to end: `train --stack 3`, export of the 3-channel generator, and `eval`
//! on generator files whose modes are known, on raw and PNG images and on a run directory.

use std::path::{Path, PathBuf};
mod common;

use common::{trainer, trainer_json};

use runtime::format::LayerSpec;
use runtime::write::ModelBuilder;
use runtime::Shape;
use serde_json::Value;

const PIXELS: usize = 784;

fn assert_error(args: &[&str], needle: &str) {
    let (code, _, err) = trainer(args);
    assert_ne!(code, 0, "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

fn root() -> PathBuf {
    trainer::run_dir::workspace_root()
}

/// The options every eval here shares: the bundled classifier and digits, JSON out.
fn yardstick() -> Vec<String> {
    vec![
        "--classifier".into(),
        root()
            .join("models/digits-classifier.safetensors")
            .display()
            .to_string(),
        "--data".into(),
        root().join("data/mnist").display().to_string(),
        "--json".into(),
    ]
}

fn eval_json(args: &[&str]) -> Value {
    let rest = yardstick();
    let mut all: Vec<&str> = vec!["eval"];
    all.extend_from_slice(args);
    all.extend(rest.iter().map(String::as_str));
    trainer_json(&all)
}

/// The bundled digits as bytes and labels.
fn bundled() -> (Vec<u8>, Vec<u32>) {
    let data = trainer::data::load_idx_dir(&root().join("data/mnist")).unwrap();
    let bytes = data
        .samples
        .iter()
        .map(|&v| ((v + 1.0) * 127.5).round() as u8)
        .collect();
    (bytes, data.labels.unwrap())
}

/// A 3x28x28 "generator" that ignores z and always draws the bundled digits `picks`, one per
/// channel: every image is the same mode.
fn fixed_stack_generator(picks: [usize; 3]) -> Vec<u8> {
    let (bytes, _) = bundled();
    let bias: Vec<f32> = picks
        .iter()
        .flat_map(|&i| &bytes[i * PIXELS..(i + 1) * PIXELS])
        .map(|&b| (f32::from(b) / 127.5 - 1.0).clamp(-0.999, 0.999).atanh())
        .collect();
    let mut b = ModelBuilder::new(4, 0, Shape { c: 3, h: 28, w: 28 });
    b.dtype(runtime::format::DType::F32);
    b.layer(
        LayerSpec::Dense {
            in_features: 4,
            out_features: 3 * PIXELS,
        },
        Some(vec![0.0; 4 * 3 * PIXELS]),
        Some(bias),
    );
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn a_collapsed_generator_scores_one_mode_and_real_stacks_many() {
    let dir = tempfile::tempdir().unwrap();
    let (_, labels) = bundled();
    // The first digits of the bundled file, which the classifier reads right.
    let picks = [0, 1, 2];
    let mode = picks.iter().fold(0, |m, &i| 10 * m + labels[i] as usize);
    let g = write(dir.path(), "g.safetensors", &fixed_stack_generator(picks));
    let j = eval_json(&["--model", &g, &g, "--count", "300"]);
    assert_eq!(j["kind"], "stacked");
    let r = &j["results"][0];
    assert_eq!(r["images"], 300);
    assert_eq!(r["modes_captured"], 1);
    assert_eq!(r["mode_histogram"][mode], 300);
    let kl = r["kl_to_uniform"].as_f64().unwrap();
    assert!((kl - 1000f64.ln()).abs() < 1e-9, "{kl}");
    assert_eq!(r["frechet_per_channel"].as_array().unwrap().len(), 3);
    // 300 real stacks drawn from 1,000 modes: about 260 distinct, KL near ln(1000/300).
    let base = &j["real_baseline"];
    assert_eq!(base["images"], 300);
    let modes = base["modes_captured"].as_u64().unwrap();
    assert!((220..=300).contains(&modes), "{modes}");
    assert!(base["kl_to_uniform"].as_f64().unwrap() < 1.5);
    // Identical images are far from real digits, channel by channel.
    for k in 0..3 {
        let real = base["frechet_per_channel"][k].as_f64().unwrap();
        let fixed = r["frechet_per_channel"][k].as_f64().unwrap();
        assert!(
            fixed > 3.0 * real,
            "channel {k}: real {real}, fixed {fixed}"
        );
    }
    assert_eq!(j["summary"]["sources"], 2);
    assert_eq!(j["summary"]["modes_captured"]["mean"], 1.0);
    assert_eq!(j["summary"]["modes_captured"]["se"], 0.0);
}

#[test]
fn raw_and_png_stacks_are_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = bundled();
    let pngs = dir.path().join("pngs");
    std::fs::create_dir(&pngs).unwrap();
    let mut raw = Vec::new();
    for i in 0..30 {
        // Digits i, i + 30 and i + 60 as red, green and blue, channels last.
        let hwc: Vec<u8> = (0..PIXELS)
            .flat_map(|p| [0, 30, 60].map(|o| bytes[(i + o) * PIXELS + p]))
            .collect();
        image::RgbImage::from_raw(28, 28, hwc.clone())
            .unwrap()
            .save(pngs.join(format!("{i:02}.png")))
            .unwrap();
        raw.extend(hwc);
    }
    let raw = write(dir.path(), "stacks.raw", &raw);
    let from_raw = eval_json(&["--images", &raw, "--channels", "3"]);
    let from_png = eval_json(&["--images", pngs.to_str().unwrap(), "--channels", "3"]);
    assert_eq!(from_raw["kind"], "stacked");
    assert_eq!(from_raw["results"][0]["images"], 30);
    assert_eq!(
        from_raw["results"][0]["mode_histogram"],
        from_png["results"][0]["mode_histogram"]
    );
    let bad = write(dir.path(), "bad.raw", &[0u8; PIXELS]);
    let c = ["--images", bad.as_str(), "--channels", "3"];
    assert_error(&[&["eval"], &c[..]].concat(), "28x28x3");
    assert_error(
        &["eval", "--images", &raw, "--channels", "2"],
        "--channels 2",
    );
}

#[test]
fn stack_trains_exports_and_evaluates_a_three_channel_generator() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let train = |more: &[&str]| {
        let mut args = vec![
            "train",
            "--stack",
            "3",
            "--batch-size",
            "16",
            "--limit",
            "64",
            "--sample-every",
            "0",
            "--checkpoint-every",
            "0",
            "--no-export",
            "--quiet",
            "--device",
            "cpu",
            "--runs-dir",
            runs,
        ];
        args.extend_from_slice(more);
        trainer(&args)
    };
    let (code, _, err) = train(&["--steps", "3", "--seed", "5", "--name", "s"]);
    assert_eq!(code, 0, "{err}");
    let run = dir.path().join("s");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["data"]["source"], "stacked");
    assert_eq!(config["data"]["seed"], 5);
    // Resuming with the same data is accepted; the stacking's seed is the run's.
    let (code, _, err) = train(&["--resume", run.to_str().unwrap(), "--steps", "4"]);
    assert_eq!(code, 0, "{err}");
    let out = dir.path().join("s.safetensors");
    let (code, _, err) = trainer(&[
        "export",
        "--run",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&out).unwrap();
    let g = runtime::Generator::load(&bytes).unwrap();
    assert_eq!(g.output_shape(), Shape { c: 3, h: 28, w: 28 });
    assert_eq!(g.metadata("provenance.dataset"), Some("stacked-mnist"));
    let j = eval_json(&["--run", run.to_str().unwrap(), "--count", "20"]);
    assert_eq!(j["kind"], "stacked");
    assert_eq!(j["results"][0]["images"], 20);
    assert_error(&["train", "--stack", "2"], "only 3");
    assert_error(
        &["train", "--stack", "3", "--images", runs],
        "cannot be used with",
    );
}
