//! `trainer eval` and `trainer classifier` end to end, on generator files built for the purpose
//! (so the expected figures are known exactly), the bundled digits and a tiny training run.

use std::path::{Path, PathBuf};
mod common;

use common::{toy_train_args, trainer, trainer_json};

use runtime::format::LayerSpec;
use runtime::write::ModelBuilder;
use runtime::Shape;

fn assert_error(args: &[&str], needle: &str) {
    let (code, _, err) = trainer(args);
    assert_ne!(code, 0, "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{args:?}: {err}"
    );
}

fn root() -> PathBuf {
    trainer::run_dir::workspace_root()
}

fn classifier() -> String {
    root()
        .join("models/digits-classifier.safetensors")
        .display()
        .to_string()
}

fn digits_dir() -> String {
    root().join("data/mnist").display().to_string()
}

/// The first `n` bundled digits as raw bytes.
fn bundled_digits(n: usize) -> Vec<u8> {
    let data = trainer::data::load_idx_dir(&root().join("data/mnist")).unwrap();
    data.samples[..n * 784]
        .iter()
        .map(|&v| ((v + 1.0) * 127.5).round() as u8)
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// [`point_generator`] written to `dir/{name}.safetensors`; its path.
fn point_file(dir: &Path, name: &str, at: [f32; 2], spread: f32, dataset: Option<&str>) -> String {
    let bytes = point_generator(at, spread, dataset);
    write(dir, &format!("{name}.safetensors"), &bytes)
}

/// A 2-D "generator" that puts every sample at `at` plus `spread * z`.
fn point_generator(at: [f32; 2], spread: f32, dataset: Option<&str>) -> Vec<u8> {
    let mut b = ModelBuilder::new(2, 0, Shape { c: 2, h: 1, w: 1 });
    b.dtype(runtime::format::DType::F32);
    b.layer(
        LayerSpec::Dense {
            in_features: 2,
            out_features: 2,
        },
        Some(vec![spread, 0.0, 0.0, spread]),
        Some(at.to_vec()),
    );
    if let Some(d) = dataset {
        b.provenance("dataset", d);
    }
    b.build().unwrap()
}

/// A random 28x28 digit generator, conditional when `classes > 0`.
fn digit_generator(classes: usize) -> Vec<u8> {
    let latent = 4;
    let mut b = ModelBuilder::new(latent, classes, Shape { c: 1, h: 28, w: 28 });
    let mut inputs = latent;
    if classes > 0 {
        b.layer(LayerSpec::OneHotConcat { classes }, None, None);
        inputs += classes;
    }
    let weight: Vec<f32> = (0..784 * inputs)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    b.layer(
        LayerSpec::Dense {
            in_features: inputs,
            out_features: 784,
        },
        Some(weight),
        Some(vec![-0.5; 784]),
    );
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

#[test]
fn toy_protocol_scores_known_generators_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // Collapsed onto the grid mode (2, -2): one mode, every sample high quality, KL = ln 25.
    let collapsed = point_file(dir.path(), "collapsed", [2.0, -2.0], 0.0, Some("grid25"));
    // Spread far beyond 3 std (0.15) around the centre mode: few high-quality samples.
    let wide = point_file(dir.path(), "wide", [0.0, 0.0], 1.0, Some("grid25"));
    let j = trainer_json(&[
        "eval",
        "--model",
        &collapsed,
        &wide,
        "--toy-samples",
        "500,2000",
        "--json",
    ]);
    assert_eq!(j["kind"], "toy");
    assert_eq!(j["distribution"], "grid25");
    assert_eq!(j["modes"], 25);
    let rows = j["results"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows[..2] {
        assert_eq!(row["modes_captured"], 1);
        assert_eq!(row["high_quality"], 1.0);
        assert!((row["reverse_kl"].as_f64().unwrap() - 25f64.ln()).abs() < 1e-9);
        let hist: Vec<u64> = row["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(hist.iter().filter(|&&c| c > 0).count(), 1);
        assert_eq!(hist.iter().sum::<u64>(), row["samples"].as_u64().unwrap());
    }
    assert_eq!(rows[0]["samples"], 500);
    assert_eq!(rows[1]["samples"], 2000);
    // N(0, 1) lands within 0.15 of a grid mode with probability about 1.1% near the centre.
    let hq = rows[3]["high_quality"].as_f64().unwrap();
    assert!(hq > 0.0 && hq < 0.05, "{hq}");
    let summary = &j["summary"][1];
    assert_eq!(summary["samples"], 2000);
    assert_eq!(summary["sources"], 2);
    assert!(summary["modes_captured"]["se"].as_f64().unwrap() > 0.0);
}

#[test]
fn toy_distribution_comes_from_provenance_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let anon = point_file(dir.path(), "anon", [1.0, 0.0], 0.001, None);
    assert_error(&["eval", "--model", &anon, "--toy-samples", "100"], "--toy");
    let j = trainer_json(&[
        "eval",
        "--model",
        &anon,
        "--toy",
        "ring8",
        "--toy-samples",
        "100",
        "--json",
    ]);
    assert_eq!(j["distribution"], "ring8");
    assert_eq!(j["results"][0]["modes_captured"], 1);
    assert_eq!(j["results"][0]["high_quality"], 1.0);
    let ring = point_file(dir.path(), "ring", [1.0, 0.0], 0.0, Some("ring8"));
    let grid = point_file(dir.path(), "grid", [0.0, 0.0], 0.0, Some("grid25"));
    assert_error(
        &["eval", "--model", &ring, &grid, "--toy-samples", "100"],
        "separately",
    );
    let (code, table, _) = trainer(&["eval", "--model", &ring, "--toy-samples", "100"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("ring8 (8 modes)") && table.contains("reverse KL"),
        "{table}"
    );
}

#[test]
fn real_digits_score_like_real_digits_and_blank_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let real = write(dir.path(), "real.raw", &bundled_digits(300));
    let blank = write(dir.path(), "blank.raw", &vec![0u8; 300 * 784]);
    let j = trainer_json(&[
        "eval",
        "--images",
        &real,
        &blank,
        "--classifier",
        &classifier(),
        "--data",
        &digits_dir(),
        "--json",
    ]);
    assert_eq!(j["kind"], "digits");
    assert_eq!(j["heldout_images"], 1000);
    let base = &j["real_baseline"];
    assert_eq!(base["images"], 300);
    let (r, b) = (&j["results"][0], &j["results"][1]);
    assert_eq!(r["images"], 300);
    assert_eq!(r["classes_covered"], 10);
    assert_eq!(
        r["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        300
    );
    assert!(r["mean_confidence"].as_f64().unwrap() > 0.9);
    assert!(r["kl_to_real"].as_f64().unwrap() < 0.05);
    assert!(r["conditional_accuracy"].is_null());
    // Identical blank images are one class, far from real digits.
    assert_eq!(b["classes_covered"], 1);
    assert!((b["kl_to_real"].as_f64().unwrap() - 2.0).abs() < 0.5);
    let (fr, fb) = (
        r["frechet_distance"].as_f64().unwrap(),
        b["frechet_distance"].as_f64().unwrap(),
    );
    assert!(fb > 10.0 * fr, "real {fr}, blank {fb}");
    assert_eq!(j["summary"]["sources"], 2);
}

#[test]
fn png_folders_are_read_as_grey_digits() {
    let dir = tempfile::tempdir().unwrap();
    let pngs = dir.path().join("pngs");
    std::fs::create_dir(&pngs).unwrap();
    let digits = bundled_digits(20);
    for (i, d) in digits.chunks(784).enumerate() {
        image::GrayImage::from_raw(28, 28, d.to_vec())
            .unwrap()
            .save(pngs.join(format!("{i:02}.png")))
            .unwrap();
    }
    let raw = write(dir.path(), "same.raw", &digits);
    let args = [
        "--classifier",
        &classifier(),
        "--data",
        &digits_dir(),
        "--json",
    ];
    let from_png =
        trainer_json(&[&["eval", "--images", pngs.to_str().unwrap()], &args[..]].concat());
    let from_raw = trainer_json(&[&["eval", "--images", &raw], &args[..]].concat());
    assert_eq!(from_png["results"][0]["images"], 20);
    assert_eq!(
        from_png["results"][0]["histogram"],
        from_raw["results"][0]["histogram"]
    );
}

#[test]
fn generator_files_are_sampled_with_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let uncond = write(dir.path(), "u.safetensors", &digit_generator(0));
    let cond = write(dir.path(), "c.safetensors", &digit_generator(10));
    let common = [
        "--classifier",
        &classifier(),
        "--data",
        &digits_dir(),
        "--count",
        "40",
        "--json",
    ];
    let j = trainer_json(&[&["eval", "--model", &uncond], &common[..]].concat());
    assert_eq!(j["results"][0]["images"], 40);
    assert!(j["results"][0]["conditional_accuracy"].is_null());
    let j = trainer_json(&[&["eval", "--model", &cond], &common[..]].concat());
    let acc = j["results"][0]["conditional_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    // The same seed draws the same images; another seed draws others.
    let again = trainer_json(&[&["eval", "--model", &cond], &common[..]].concat());
    assert_eq!(j["results"], again["results"]);
}

#[test]
fn bad_inputs_end_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = classifier();
    let data = digits_dir();
    let odd = write(d, "odd.raw", &[0u8; 785]);
    assert_error(
        &[
            "eval",
            "--images",
            &odd,
            "--classifier",
            &c,
            "--data",
            &data,
        ],
        "784",
    );
    let junk = write(d, "junk.safetensors", b"not a model at all");
    assert_error(&["eval", "--model", &junk], "junk.safetensors");
    let mut b = ModelBuilder::new(2, 0, Shape { c: 3, h: 2, w: 2 });
    b.layer(
        LayerSpec::Dense {
            in_features: 2,
            out_features: 12,
        },
        Some(vec![0.1; 24]),
        Some(vec![0.0; 12]),
    );
    let colour = write(d, "colour.safetensors", &b.build().unwrap());
    assert_error(
        &[
            "eval",
            "--model",
            &colour,
            "--classifier",
            &c,
            "--data",
            &data,
        ],
        "1x28x28",
    );
    let real = write(d, "real.raw", &bundled_digits(10));
    let missing = d.join("none.safetensors").display().to_string();
    assert_error(
        &[
            "eval",
            "--images",
            &real,
            "--classifier",
            &missing,
            "--data",
            &data,
        ],
        "trainer -- classifier",
    );
    // A generator file is not a classifier.
    let gen = write(d, "g.safetensors", &digit_generator(0));
    assert_error(
        &[
            "eval",
            "--images",
            &real,
            "--classifier",
            &gen,
            "--data",
            &data,
        ],
        "format",
    );
    assert_error(&["eval", "--images", &real, "--count", "1"], "--count");
    assert_error(
        &["eval", "--model", &gen, "--toy-samples", "0"],
        "--toy-samples",
    );
    assert_error(
        &[
            "eval",
            "--images",
            &real,
            "--classifier",
            &c,
            "--data",
            &data,
            "--holdout",
            "1",
        ],
        "--holdout",
    );
    let (code, _, err) = trainer(&["eval"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--model") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn run_directories_are_evaluated_from_their_newest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let (code, _, err) = trainer(&toy_train_args(
        "20",
        &[
            "--no-export",
            "--quiet",
            "--runs-dir",
            runs,
            "--name",
            "tiny",
        ],
    ));
    assert_eq!(code, 0, "{err}");
    let run = dir.path().join("tiny").display().to_string();
    let j = trainer_json(&["eval", "--run", &run, "--toy-samples", "200", "--json"]);
    assert_eq!(j["distribution"], "ring8");
    assert!(j["results"][0]["source"]
        .as_str()
        .unwrap()
        .contains("step 20"));
    assert_error(
        &[
            "eval",
            "--run",
            &dir.path().join("nothing").display().to_string(),
        ],
        "nothing",
    );
}

#[test]
fn classifier_trains_on_tiny_data_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("digits");
    std::fs::create_dir(&data).unwrap();
    let n = 120u32;
    let mut images = vec![0, 0, 8, 3];
    for d in [n, 28, 28] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    images.extend_from_slice(&bundled_digits(n as usize));
    std::fs::write(data.join("train-images-idx3-ubyte"), images).unwrap();
    let labels = trainer::data::load_idx_dir(&root().join("data/mnist"))
        .unwrap()
        .labels
        .unwrap();
    let mut lbl = vec![0, 0, 8, 1];
    lbl.extend_from_slice(&n.to_be_bytes());
    lbl.extend(labels[..n as usize].iter().map(|&l| l as u8));
    std::fs::write(data.join("train-labels-idx1-ubyte"), lbl).unwrap();
    let out = dir.path().join("c.safetensors").display().to_string();
    let d = data.display().to_string();
    let args = [
        "classifier",
        "--data",
        &d,
        "--epochs",
        "1",
        "--holdout",
        "20",
        "--out",
        &out,
    ];
    let (code, stdout, err) = trainer(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("held-out accuracy") && stdout.contains("20 held-out digits"),
        "{stdout}"
    );
    assert_error(&args, "already exists");
    // The new file is a usable yardstick.
    let raw = write(dir.path(), "r.raw", &bundled_digits(10));
    let j = trainer_json(&[
        "eval",
        "--images",
        &raw,
        "--classifier",
        &out,
        "--data",
        &d,
        "--holdout",
        "20",
        "--json",
    ]);
    assert_eq!(j["heldout_images"], 20);
}

/// A 28 x 28 generator whose finite weights overflow: +inf and -inf meet in the last dense layer,
/// so every pixel is NaN, which would become a black pixel.
fn overflowing_digit_generator() -> Vec<u8> {
    let mut b = ModelBuilder::new(2, 0, Shape { c: 1, h: 28, w: 28 });
    b.dtype(runtime::format::DType::F32);
    let big = 3.0e38f32;
    let dense = |i, o| LayerSpec::Dense {
        in_features: i,
        out_features: o,
    };
    b.layer(dense(2, 1), Some(vec![big, big]), Some(vec![1.0]));
    b.layer(dense(1, 2), Some(vec![big, -big]), Some(vec![0.0; 2]));
    b.layer(
        dense(2, 784),
        Some(vec![1.0; 2 * 784]),
        Some(vec![0.0; 784]),
    );
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

#[test]
fn a_generator_that_draws_nan_is_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let nan = write(
        dir.path(),
        "nan.safetensors",
        &overflowing_digit_generator(),
    );
    let (c, data) = (classifier(), digits_dir());
    let args = ["eval", "--model", &nan, "--classifier", &c, "--data", &data];
    assert_error(&args, "NaN");
}
