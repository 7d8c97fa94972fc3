//! Signals are honoured until the process exits: SIGTERM after the last training step (while the
//! final sample grid is drawn) ends the process with status 130 instead of being ignored, and
//! leaves no temporary file.

#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::toy_train_args;

const STEPS: &str = "30";

/// Starts a toy run whose only checkpoint is the final one, waits for that checkpoint, stops the
/// process there (SIGSTOP), sends SIGTERM and lets it go on. Returns `None` when the process had
/// already exited before it could be stopped, else its exit code and stderr.
fn term_after_the_last_step(runs: &Path, name: &str) -> Option<(Option<i32>, String)> {
    let args = toy_train_args(
        STEPS,
        &[
            "--checkpoint-every",
            "0",
            "--sample-every",
            "0",
            "--runs-dir",
            runs.to_str().unwrap(),
            "--name",
            name,
            "--no-export",
            "--quiet",
        ],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let last = runs
        .join(name)
        .join("checkpoints")
        .join(trainer::checkpoint::file_name(STEPS.parse().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !last.exists() {
        assert!(Instant::now() < deadline, "no final checkpoint after 60 s");
        if child.try_wait().unwrap().is_some() {
            panic!("the trainer exited without its final checkpoint");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals to our own child, which has not been reaped (try_wait saw it running).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    if child.try_wait().unwrap().is_some() {
        return None;
    }
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGCONT);
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Names of temporary files under `dir`, at any depth.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            found.extend(temporaries(&e.path()));
        } else if name.ends_with(".tmp") {
            found.push(name);
        }
    }
    found
}

#[test]
fn sigterm_after_the_last_step_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    // The window (the final grid) lasts a few milliseconds; a run that ends before it is caught
    // is retried.
    let mut caught = 0;
    for attempt in 0..6 {
        let name = format!("r{attempt}");
        let Some((code, err)) = term_after_the_last_step(&runs, &name) else {
            continue;
        };
        caught += 1;
        assert_eq!(code, Some(130), "the signal was ignored: {err}");
        assert!(err.contains("error: interrupted"), "{err}");
        assert!(err.contains("checkpoint"), "{err}");
        assert!(temporaries(&runs.join(&name)).is_empty());
        // What was left is usable: the final checkpoint verifies.
        let ck = trainer::checkpoint::newest_valid(&runs.join(&name)).unwrap();
        assert_eq!(ck.info.step.to_string(), STEPS);
        if caught == 2 {
            break;
        }
    }
    assert!(
        caught > 0,
        "the process always ended before it could be stopped"
    );
}
