//! Hostile input to the binary: files of the wrong kind, damaged data, unwritable or full outputs,
//! damaged models. Each ends with exactly one `error:` line naming the culprit and a non-zero exit,
//! never a panic or a backtrace. (tests/cli.rs covers bad options, a missing data directory, an
//! empty image folder and a data file given as a model.)

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{
    command_fails_with_one_line, fails_with_one_line, toy_train_args, with_file_size_limit,
};

use runtime::format::{tensor_name, DType, LayerSpec, TensorRole};
use runtime::write::ModelBuilder;
use runtime::Shape;

/// `trainer train` with `input` given by `flag` (`--data`, `--images`) fails as
/// [`fails_with_one_line`] checks.
fn refuses_input(flag: &str, input: &Path, runs: &Path, needles: &[&str]) {
    fails_with_one_line(&["train", flag, s(input), "--runs-dir", s(runs)], needles);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn bundled(name: &str) -> PathBuf {
    trainer::run_dir::default_data_dir().join(name)
}

/// A data directory holding `images` as the image file and the real labels.
fn data_dir(root: &Path, name: &str, images: &[u8]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::copy(
        bundled("train-labels-idx1-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    dir
}

/// A valid little generator (F32 so a weight can be overwritten in place).
fn small_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(2, 0, Shape { c: 1, h: 2, w: 2 });
    b.dtype(DType::F32);
    b.layer(
        LayerSpec::Dense {
            in_features: 2,
            out_features: 4,
        },
        Some(vec![0.25, 0.5, 0.75, 1.0, -0.25, -0.5, -0.75, 1234.5]),
        Some(vec![0.0; 4]),
    );
    b.layer(LayerSpec::Reshape { c: 1, h: 2, w: 2 }, None, None);
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

#[test]
fn a_model_file_given_as_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/dcgan-digits.safetensors"),
    )
    .unwrap_or_else(|_| small_model());
    let data = data_dir(dir.path(), "model-as-data", &model);
    refuses_input("--data", &data, dir.path(), &["train-images-idx3-ubyte"]);
}

#[test]
fn damaged_idx_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gz = std::fs::read(bundled("train-images-idx3-ubyte.gz")).unwrap();
    // A gzip stream cut in half.
    let cut = data_dir(dir.path(), "cut-gzip", &gz[..gz.len() / 2]);
    // An IDX header announcing 60,000 images of 28x28 followed by 100 bytes.
    let mut short = vec![0, 0, 8, 3];
    for d in [60_000u32, 28, 28] {
        short.extend(d.to_be_bytes());
    }
    short.extend([7u8; 100]);
    let truncated = data_dir(dir.path(), "truncated", &short);
    // A wrong magic number and an empty file.
    let bad_magic = data_dir(
        dir.path(),
        "bad-magic",
        &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 5],
    );
    let empty = data_dir(dir.path(), "empty", &[]);
    for d in [cut, truncated, bad_magic, empty] {
        refuses_input("--data", &d, dir.path(), &["train-images-idx3-ubyte"]);
    }
}

/// A folder `name` in `dir` of black grey PNGs of the given sizes: a.png, b.png, ...
fn png_folder(dir: &Path, name: &str, sizes: &[(u32, u32)]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for (&(w, h), file) in sizes.iter().zip('a'..) {
        image::GrayImage::new(w, h)
            .save(folder.join(format!("{file}.png")))
            .unwrap();
    }
    folder
}

#[test]
fn mixed_and_damaged_images_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = png_folder(dir.path(), "mixed", &[(28, 28), (32, 20)]);
    refuses_input("--images", &mixed, dir.path(), &["b.png", "share one size"]);
    let broken = png_folder(dir.path(), "broken", &[(28, 28)]);
    std::fs::write(broken.join("b.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    refuses_input("--images", &broken, dir.path(), &["b.png"]);
}

#[test]
fn unwritable_and_full_outputs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file cannot be created, whoever runs the test (root included).
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("x");
    fails_with_one_line(
        &toy_train_args(
            "2",
            &["--runs-dir", s(&under_file), "--no-export", "--quiet"],
        ),
        &["a-file"],
    );
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, small_model()).unwrap();
    let out = under_file.join("grid.png");
    fails_with_one_line(
        &["sample", "--model", s(&model), "--out", s(&out)],
        &["a-file"],
    );
    // A device given as the output is refused: a rename would replace it with a regular file.
    if let Some(full) = link_to_dev_full(dir.path(), "full.raw") {
        fails_with_one_line(
            &[
                "sample",
                "--model",
                s(&model),
                "--out",
                s(&full),
                "--format",
                "raw",
            ],
            &["full.raw", "not a regular file"],
        );
        assert!(std::fs::symlink_metadata(&full).unwrap().is_symlink());
    }
    // Export of a real (two-step) run to an unwritable place.
    let runs = dir.path().join("runs");
    let ok = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(toy_train_args(
            "2",
            &[
                "--runs-dir",
                s(&runs),
                "--name",
                "r",
                "--no-export",
                "--quiet",
            ],
        ))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let run = runs.join("r");
    fails_with_one_line(&["export", "--run", s(&run), "--out", s(&out)], &["a-file"]);
}

#[test]
fn damaged_models_are_refused_by_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = small_model();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases = [
        write("garbage.safetensors", &garbage),
        write("empty.safetensors", &[]),
        write("truncated.safetensors", &good[..good.len() - 5]),
        write("header-only.safetensors", &good[..40]),
    ];
    for p in &cases {
        let name = p.file_name().unwrap().to_str().unwrap();
        fails_with_one_line(&["sample", "--model", s(p), "--out", s(&out)], &[name]);
    }
    // A NaN where a weight was: the runtime names the tensor.
    let mut nan = good.clone();
    let needle = 1234.5f32.to_le_bytes();
    let at = nan.windows(4).position(|w| w == needle).unwrap();
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let p = write("nan.safetensors", &nan);
    let weight = tensor_name(0, TensorRole::Weight);
    fails_with_one_line(
        &["sample", "--model", s(&p), "--out", s(&out)],
        &["nan.safetensors", weight.as_str(), "NaN"],
    );
    // And an infinity.
    let mut inf = good;
    inf[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let p = write("inf.safetensors", &inf);
    fails_with_one_line(
        &["sample", "--model", s(&p), "--out", s(&out)],
        &["inf.safetensors", weight.as_str(), "infinity"],
    );
    assert!(
        !out.exists(),
        "a refused model still wrote {}",
        out.display()
    );
}

#[test]
fn out_of_range_sample_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, small_model()).unwrap();
    let out = dir.path().join("o.png");
    // An unconditional model given a class, and option values that are not numbers.
    let sample = |more: &[&str], needles: &[&str]| {
        let args = [&["sample", "--model", s(&model), "--out", s(&out)], more].concat();
        fails_with_one_line(&args, needles);
    };
    sample(&["--class", "3"], &["class"]);
    sample(&["--count", "many"], &["many"]);
    fails_with_one_line(
        &["train", "--data", s(dir.path()), "--image-size", "-3"],
        &["-3"],
    );
}

/// A link to /dev/full in `dir`, if the device exists.
fn link_to_dev_full(dir: &Path, name: &str) -> Option<PathBuf> {
    if !Path::new("/dev/full").exists() {
        return None;
    }
    let link = dir.join(name);
    std::os::unix::fs::symlink("/dev/full", &link).ok()?;
    Some(link)
}

/// A PNG smaller than the image crate's 8 KiB write buffer would be flushed only when the buffer
/// is dropped, where the error is lost; the trainer encodes in memory and checks the write.
#[test]
fn a_small_png_on_a_full_disk_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, small_model()).unwrap();
    let out = dir.path().join("small.png");
    let args = ["sample", "--model", s(&model), "--out", s(&out)];
    command_fails_with_one_line(with_file_size_limit(&args, 64), &["small.png", "too large"]);
    assert!(!out.exists());
}

/// Options that were accepted and then took the machine's memory (an MLP at 1024 x 1024 has
/// 1.6 billion parameters) are refused before anything is allocated, naming the option; the
/// run directory is not created.
#[test]
fn training_beyond_the_memory_budget_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let images = png_folder(dir.path(), "imgs", &[(8, 8); 8]);
    let runs = dir.path().join("runs");
    for arch in ["mlp", "dcgan"] {
        fails_with_one_line(
            &[
                "train",
                "--arch",
                arch,
                "--images",
                s(&images),
                "--image-size",
                "1024",
                "--batch-size",
                "2",
                "--runs-dir",
                s(&runs),
                "--no-export",
            ],
            &["--image-size", "--max-memory", "budget"],
        );
    }
    // A batch whose activations exceed the budget names --batch-size.
    fails_with_one_line(
        &[
            "train",
            "--arch",
            "dcgan",
            "--images",
            s(&images),
            "--image-size",
            "512",
            "--batch-size",
            "8",
            "--runs-dir",
            s(&runs),
            "--no-export",
        ],
        &["--batch-size"],
    );
    // A folder whose images alone exceed the budget is refused before one is decoded: 100 images
    // at 1024 x 1024 x 3 are 1.2 GiB as f32.
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..100 {
        image::GrayImage::new(8, 8)
            .save(many.join(format!("{i:03}.png")))
            .unwrap();
    }
    fails_with_one_line(
        &[
            "train",
            "--arch",
            "dcgan",
            "--images",
            s(&many),
            "--image-size",
            "1024",
            "--channels",
            "3",
            "--max-memory",
            "1",
            "--runs-dir",
            s(&runs),
            "--no-export",
        ],
        &["folder's images", "--image-size", "--max-memory"],
    );
    assert!(!runs.exists());
}
