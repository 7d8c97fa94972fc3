//! The binary: bad input ends with one line on stderr and a non-zero exit, never a panic.

mod common;

use common::trainer;

fn assert_one_line_error(args: &[&str], needle: &str) {
    let (code, _, err) = trainer(args);
    assert_ne!(code, 0, "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?} printed {lines:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{args:?}: {}",
        lines[0]
    );
}

#[test]
fn bad_arguments_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_one_line_error(&["train", "--arch", "resnet"], "resnet");
    assert_one_line_error(
        &["train", "--data", &format!("{d}/missing"), "--runs-dir", d],
        "missing",
    );
    assert_one_line_error(&["train", "--images", d, "--runs-dir", d], "no PNG or JPEG");
    assert_one_line_error(&["train", "--images", d, "--conditional"], "labelled");
    assert_one_line_error(&["train", "--steps", "0"], "at least 1");
    assert_one_line_error(&["train", "--batch-size", "1"], "too small");
    assert_one_line_error(&["train", "--no-such-option"], "no-such-option");
    assert_one_line_error(&["export", "--run", &format!("{d}/none")], "none");
    assert_one_line_error(&["export", "--runs-dir", d], "no training run");
    assert_one_line_error(
        &[
            "sample",
            "--model",
            &format!("{d}/x.safetensors"),
            "--out",
            "o.png",
        ],
        "x.safetensors",
    );
    // A data file given as a model.
    let data = trainer::run_dir::default_data_dir().join("train-labels-idx1-ubyte.gz");
    let out = format!("{d}/o.png");
    assert_one_line_error(
        &["sample", "--model", data.to_str().unwrap(), "--out", &out],
        "train-labels",
    );
    assert_one_line_error(&["resume"], "resume");
}

#[test]
fn help_works() {
    let (code, out, _) = trainer(&["train", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--preset") && out.contains("--conditional") && out.contains("--device"));
}
