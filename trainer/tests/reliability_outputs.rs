//! What the trainer writes: a request too large for memory is refused before it is allocated, an
//! existing file is replaced only by a complete new one, a failed command leaves none of its
//! outputs, and no output overwrites an input.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{
    command_fails_with_one_line, fails_with_one_line, names_in, toy_train_args,
    with_file_size_limit,
};
use runtime::format::{DType, LayerSpec};
use runtime::write::ModelBuilder;
use runtime::Shape;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A generator of 1 x `side` x `side` grey images: a dense layer to 2 x 2, then nearest
/// upsampling (`side` a power of two), so the file stays tiny whatever the image size.
fn upsampling_model(side: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new(
        2,
        0,
        Shape {
            c: 1,
            h: side,
            w: side,
        },
    );
    b.dtype(DType::F32);
    b.layer(
        LayerSpec::Dense {
            in_features: 2,
            out_features: 4,
        },
        Some(vec![0.25, 0.5, 0.75, 1.0, -0.25, -0.5, -0.75, 1.0]),
        Some(vec![0.0; 4]),
    );
    b.layer(LayerSpec::Reshape { c: 1, h: 2, w: 2 }, None, None);
    let mut scale = side / 2;
    while scale > 1 {
        let step = scale.min(64);
        b.layer(LayerSpec::UpsampleNearest { scale: step }, None, None);
        scale /= step;
    }
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

/// A generator whose finite weights overflow: +inf and -inf meet in the last dense layer, so
/// every output is NaN.
fn overflowing_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(2, 0, Shape { c: 1, h: 2, w: 2 });
    b.dtype(DType::F32);
    let big = 3.0e38f32;
    let dense = |i, o| LayerSpec::Dense {
        in_features: i,
        out_features: o,
    };
    b.layer(dense(2, 1), Some(vec![big, big]), Some(vec![1.0]));
    b.layer(dense(1, 2), Some(vec![big, -big]), Some(vec![0.0; 2]));
    b.layer(dense(2, 4), Some(vec![1.0; 8]), Some(vec![0.0; 4]));
    b.layer(LayerSpec::Reshape { c: 1, h: 2, w: 2 }, None, None);
    b.layer(LayerSpec::Tanh, None, None);
    b.build().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn sample_requests_beyond_the_memory_budget_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "big.safetensors", &upsampling_model(4096));
    assert!(std::fs::metadata(&model).unwrap().len() < 1024);
    let out = dir.path().join("x.raw");
    // 100,000 images of 16 Mpixel: 1.6 TB, refused before the first image.
    fails_with_one_line(
        &[
            "sample",
            "--model",
            s(&model),
            "--out",
            s(&out),
            "--format",
            "raw",
            "--count",
            "100000",
        ],
        &["--count", "limit"],
    );
    // The default PNG grid of 64 such images: about 5 GiB of pictures.
    fails_with_one_line(
        &["sample", "--model", s(&model), "--out", s(&out)],
        &["--count", "budget"],
    );
    assert_eq!(names_in(dir.path()), ["big.safetensors"]);
}

/// Runs `command`, returning its exit status and its peak resident memory in KiB.
#[cfg(target_os = "linux")]
fn run_measured(mut command: Command) -> (i32, i64) {
    // Reaped by wait4 below, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child = command.spawn().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[test]
#[cfg(target_os = "linux")]
fn raw_samples_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.safetensors", &upsampling_model(1024));
    let out = dir.path().join("x.raw");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args([
        "sample",
        "--model",
        s(&model),
        "--out",
        s(&out),
        "--format",
        "raw",
        "--count",
        "24",
    ]);
    command.stdout(std::process::Stdio::null());
    let (code, peak_kib) = run_measured(command);
    assert_eq!(code, 0);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 24 << 20);
    // One image at a time (4 MiB as f32, the scratch buffer), where holding all 24 (as f32 and
    // twice as bytes) took 144 MiB.
    assert!(peak_kib < 40 * 1024, "peak {peak_kib} KiB");
}

#[test]
#[cfg(unix)]
fn a_failed_write_keeps_the_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.safetensors", &upsampling_model(2));
    let keep = write(dir.path(), "keep.png", b"the user's picture");
    // Raw bytes past the limit, then a PNG past it: each fails half-way through its write.
    for format in ["raw", "png"] {
        let args = [
            "sample",
            "--model",
            s(&model),
            "--out",
            s(&keep),
            "--format",
            format,
            "--count",
            "20000",
        ];
        command_fails_with_one_line(with_file_size_limit(&args, 4096), &["keep.png"]);
        assert_eq!(std::fs::read(&keep).unwrap(), b"the user's picture");
        assert_eq!(names_in(dir.path()), ["keep.png", "m.safetensors"]);
    }
}

#[test]
fn sample_refuses_to_write_over_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = upsampling_model(2);
    let model = write(dir.path(), "m.safetensors", &bytes);
    let same = dir.path().join(".").join("m.safetensors");
    for format in ["png", "raw"] {
        fails_with_one_line(
            &[
                "sample",
                "--model",
                s(&model),
                "--out",
                s(&same),
                "--format",
                format,
            ],
            &["--out", "model file"],
        );
    }
    assert_eq!(std::fs::read(&model).unwrap(), bytes);
}

#[test]
fn a_generator_that_draws_nan_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "nan.safetensors", &overflowing_model());
    let out = dir.path().join("o.png");
    fails_with_one_line(
        &["sample", "--model", s(&model), "--out", s(&out)],
        &["NaN"],
    );
    assert!(!out.exists());
}

/// A two-step toy run in `runs/r`.
fn toy_run(runs: &Path) -> PathBuf {
    let ok = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(toy_train_args(
            "2",
            &[
                "--runs-dir",
                s(runs),
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
    runs.join("r")
}

#[test]
fn a_failed_export_leaves_no_half_of_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let run = toy_run(&dir.path().join("runs"));
    let out = dir.path().join("x.safetensors");
    // The samples picture's path is taken by a directory: the export fails, and leaves no model.
    let png = dir.path().join("x.png");
    std::fs::create_dir(&png).unwrap();
    let export = ["export", "--run", s(&run), "--out", s(&out)];
    fails_with_one_line(&export, &["x.png"]);
    assert!(!out.exists());
    assert_eq!(names_in(dir.path()), ["runs", "x.png"]);
    // So the same command, once the path is free, needs no --force.
    std::fs::remove_dir(&png).unwrap();
    let (code, _, err) = common::trainer(&export);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_file() && png.is_file());
    // A model named like its own picture would be replaced by it.
    let png_model = dir.path().join("y.png");
    fails_with_one_line(
        &["export", "--run", s(&run), "--out", s(&png_model)],
        &["y.png", "<out>.png"],
    );
    assert!(!png_model.exists());
    // An export never writes over the checkpoint it reads.
    let ck = trainer::checkpoint::list(&run.join("checkpoints")).unwrap();
    let ck = ck.last().unwrap();
    fails_with_one_line(
        &["export", "--checkpoint", s(ck), "--out", s(ck), "--force"],
        &["checkpoint"],
    );
    assert!(trainer::checkpoint::read(ck).is_ok());
}
