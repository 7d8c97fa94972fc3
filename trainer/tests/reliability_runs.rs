//! A run directory: locked while a process trains in it, cleaned of a killed run's temporary
//! files, never left half-made, and resumed only as it was configured.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{fails_with_one_line, toy_train_args, trainer};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Toy-run options in `runs` under `name`: checkpoints every 20 steps.
fn run_args<'a>(steps: &'a str, runs: &'a Path, name: &'a str) -> Vec<&'a str> {
    toy_train_args(
        steps,
        &[
            "--checkpoint-every",
            "20",
            "--sample-every",
            "0",
            "--runs-dir",
            s(runs),
            "--name",
            name,
            "--no-export",
            "--quiet",
        ],
    )
}

fn resume_args<'a>(run: &'a Path, steps: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--resume",
        s(run),
        "--steps",
        steps,
        "--no-export",
        "--quiet",
    ]
}

fn checkpoints(run: &Path) -> Vec<PathBuf> {
    trainer::checkpoint::list(&run.join("checkpoints")).unwrap()
}

#[test]
fn a_run_is_locked_while_it_trains_and_cleaned_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let run = runs.join("busy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(run_args("1000000", runs, "busy"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while checkpoints(&run).is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint after 40 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A second process on the same run is refused, and changes nothing.
    let config = std::fs::read(run.join("config.json")).unwrap();
    fails_with_one_line(&resume_args(&run, "2000000"), &["busy", "in use"]);
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), config);

    child.kill().unwrap();
    child.wait().unwrap();
    // What a write killed half-way leaves (process ids above the kernel's limit never run).
    let stale = [
        run.join("checkpoints/.step-0000099999.safetensors.4194399.tmp"),
        run.join(".samples.png.4194399.tmp"),
        run.join("samples/.step-00000040.png.4194399.tmp"),
        run.join(".config.json.4194399.tmp"),
    ];
    for p in &stale {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![0u8; 4096]).unwrap();
    }
    // The killed process's lock went with it; the next run removes the temporary files.
    let next = trainer::checkpoint::newest_valid(&run).unwrap().info.step + 2;
    let next = next.to_string();
    let (code, _, err) = trainer(&resume_args(&run, &next));
    assert_eq!(code, 0, "{err}");
    for p in &stale {
        assert!(!p.exists(), "{} was left", p.display());
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_non_utf8_data_path_is_refused_before_a_run_is_made() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"imgs-\xff"));
    std::fs::create_dir(&odd).unwrap();
    image::GrayImage::new(8, 8).save(odd.join("a.png")).unwrap();
    image::GrayImage::new(8, 8).save(odd.join("b.png")).unwrap();
    let runs = dir.path().join("runs");
    for flag in ["--images", "--data"] {
        let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(["train", flag])
            .arg(&odd)
            .args([
                "--runs-dir",
                s(&runs),
                "--name",
                "n",
                "--no-export",
                "--quiet",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(flag) && err.contains("UTF-8"),
            "{err}"
        );
    }
    assert!(!runs.exists(), "a half-made run was left");
}

/// A finished 20-step toy run named `name` in `runs`.
fn finished_run(runs: &Path, name: &str) -> PathBuf {
    let (code, _, err) = trainer(&run_args("20", runs, name));
    assert_eq!(code, 0, "{err}");
    runs.join(name)
}

#[test]
fn resume_refuses_options_that_contradict_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), "r");
    let config = std::fs::read(run.join("config.json")).unwrap();
    let base = resume_args(&run, "40");
    let with = |more: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(more.iter().copied()).collect()
    };
    fails_with_one_line(
        &with(&["--arch", "mlp", "--lr", "0.1", "--batch-size", "8"]),
        &["--arch mlp", "--lr 0.1", "--batch-size 8", "contradict"],
    );
    fails_with_one_line(&with(&["--latent-dim", "7"]), &["--latent-dim 7"]);
    fails_with_one_line(&with(&["--conditional"]), &["--conditional"]);
    // --steps below the run's step is refused, and config.json is not rewritten.
    fails_with_one_line(&resume_args(&run, "10"), &["--steps 10", "step 20"]);
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), config);
    // The same values as the run's are no contradiction.
    let (code, _, err) = trainer(&with(&["--arch", "toy", "--toy", "ring8"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_edited_config_is_checked_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), "r");
    let path = run.join("config.json");
    let good = std::fs::read_to_string(&path).unwrap();
    for (from, to, needle) in [
        ("\"batch_size\": 64", "\"batch_size\": 1", "--batch-size 1"),
        ("\"lr\": 0.0002", "\"lr\": -1.0", "--lr -1"),
        ("\"log_every\": 50", "\"log_every\": 0", "--log-every"),
    ] {
        assert!(good.contains(from), "{from} not in {good}");
        std::fs::write(&path, good.replace(from, to)).unwrap();
        fails_with_one_line(&resume_args(&run, "40"), &["config.json", needle]);
    }
}

#[test]
fn options_for_other_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    fails_with_one_line(
        &[
            "train",
            "--channels",
            "3",
            "--runs-dir",
            s(&runs),
            "--no-export",
        ],
        &["--channels 3", "--images"],
    );
    fails_with_one_line(
        &[
            "train",
            "--image-size",
            "64",
            "--runs-dir",
            s(&runs),
            "--no-export",
        ],
        &["--image-size 64", "--images"],
    );
    assert!(!runs.exists());
}

#[test]
fn a_checkpoint_whose_step_was_edited_or_renamed_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), "r");
    let ck = checkpoints(&run).pop().unwrap();
    // Copied under a later step's name: the name and the metadata disagree.
    let renamed = run
        .join("checkpoints")
        .join(trainer::checkpoint::file_name(30));
    std::fs::copy(&ck, &renamed).unwrap();
    let err = trainer::checkpoint::read(&renamed)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("step 20") && err.contains("step 30"), "{err}");
    assert_eq!(
        trainer::checkpoint::newest_valid(&run).unwrap().info.step,
        20
    );
    std::fs::remove_file(&renamed).unwrap();
    // The step edited in the header (same length, so the file still parses): the CRC covers it.
    let bytes = std::fs::read(&ck).unwrap();
    let at = bytes
        .windows(11)
        .position(|w| w == b"\"step\":\"20\"")
        .unwrap();
    let mut edited = bytes.clone();
    edited[at..at + 11].copy_from_slice(b"\"step\":\"90\"");
    let forged = run
        .join("checkpoints")
        .join(trainer::checkpoint::file_name(90));
    std::fs::write(&forged, &edited).unwrap();
    let err = trainer::checkpoint::read(&forged)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn a_pack_mismatch_names_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let mut args = run_args("20", runs, "p");
    args.extend(["--pack", "2"]);
    let (code, _, err) = trainer(&args);
    assert_eq!(code, 0, "{err}");
    let path = runs.join("p/config.json");
    let cfg = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, cfg.replace("\"pack\": 2", "\"pack\": 4")).unwrap();
    fails_with_one_line(
        &resume_args(&runs.join("p"), "40"),
        &["pack 2 in the checkpoint, 4 in this run"],
    );
}

/// An IDX data directory of `labels.len()` blank 4 x 4 images with these labels.
fn idx_dir(root: &Path, labels: &[u8]) -> PathBuf {
    let dir = root.join("idx");
    std::fs::create_dir_all(&dir).unwrap();
    let n = (labels.len() as u32).to_be_bytes();
    let mut images = [vec![0, 0, 8, 3], n.to_vec(), vec![0, 0, 0, 4, 0, 0, 0, 4]].concat();
    images.extend(vec![0u8; labels.len() * 16]);
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    let file = [vec![0, 0, 8, 1], n.to_vec(), labels.to_vec()].concat();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), file).unwrap();
    dir
}

#[test]
fn a_stray_label_does_not_make_a_model_of_unseen_classes() {
    let dir = tempfile::tempdir().unwrap();
    let mut labels: Vec<u8> = (0..64).map(|i| i % 2).collect();
    labels[5] = 200;
    let data = idx_dir(dir.path(), &labels);
    let runs = dir.path().join("runs");
    fails_with_one_line(
        &[
            "train",
            "--data",
            s(&data),
            "--conditional",
            "--arch",
            "mlp",
            "--batch-size",
            "8",
            "--steps",
            "1",
            "--runs-dir",
            s(&runs),
            "--no-export",
        ],
        &["--conditional", "200", "198"],
    );
    assert!(!runs.exists());
}

/// `train` exports to `models/<name>.safetensors` of the workspace it runs in: here a stand-in
/// workspace in `root` (what `run_dir::workspace_root` recognises), so the test writes nothing
/// into the real one.
fn stand_in_workspace(root: &Path) {
    std::fs::write(root.join("Cargo.toml"), "[workspace]\n").unwrap();
    for d in ["trainer", "runtime", "models"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

#[test]
fn train_refuses_to_replace_a_model_before_training_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    stand_in_workspace(root);
    let model = root.join("models/r.safetensors");
    std::fs::write(&model, b"an older model").unwrap();
    let args = toy_train_args("2", &["--name", "r", "--runs-dir", "runs", "--quiet"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(&args).current_dir(root);
    common::command_fails_with_one_line(command, &["r.safetensors", "--force"]);
    assert!(!root.join("runs").exists(), "it trained before refusing");
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(&args)
        .arg("--force")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&model).unwrap();
    assert!(runtime::Generator::load(&bytes).is_ok());
    assert!(root.join("models/r.png").is_file());
}
