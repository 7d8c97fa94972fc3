//! A real `trainer train` process killed with SIGKILL: every checkpoint left under its final name
//! verifies, a truncated newest checkpoint is skipped for the previous one, and `--resume`
//! continues the step count, losing at most one checkpoint interval.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::toy_train_args;

/// Steps between checkpoints in these runs.
const EVERY: u64 = 20;

/// A toy run ([`toy_train_args`]): checkpoints come fast.
fn train_args(runs: &Path, steps: u64) -> Vec<String> {
    let (steps, every) = (steps.to_string(), EVERY.to_string());
    let more = [
        "--checkpoint-every",
        &every,
        "--log-every",
        "1",
        "--sample-every",
        "0",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "killed",
        "--no-export",
        "--quiet",
    ];
    toy_train_args(&steps, &more)
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The trainer binary with `args`.
fn trainer_with(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(args);
    command
}

fn spawn(args: &[String]) -> Child {
    trainer_with(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn checkpoints(run: &Path) -> Vec<PathBuf> {
    trainer::checkpoint::list(&run.join("checkpoints")).unwrap()
}

/// Waits until the run holds a checkpoint newer than `after` (and at least `count` of them),
/// then waits `extra` more so the kill lands at an arbitrary point of the loop, and kills it.
fn kill_after_checkpoint(mut child: Child, run: &Path, after: u64, count: usize, extra: Duration) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let files = checkpoints(run);
        let newest = files.last().map_or(0, |f| step_of(f));
        if files.len() >= count && newest > after {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the trainer exited early with {status}");
        }
        assert!(Instant::now() < deadline, "no checkpoint after 40 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(extra);
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the trainer finished before it was killed"
    );
}

/// The step in a checkpoint's name (`step-0000000120.safetensors`).
fn step_of(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name.trim_start_matches("step-")
        .trim_end_matches(".safetensors")
        .parse()
        .unwrap()
}

/// Steps of the complete lines of metrics.jsonl (a kill may leave half a line at the end, which
/// the next resume drops).
fn logged_steps(run: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| {
            let rest = l.strip_prefix("{\"step\":")?;
            rest[..rest.find(',')?].parse().ok()
        })
        .collect()
}

/// After a kill: every file under a checkpoint name verifies (writes are atomic), and the newest
/// is at most one interval behind the last step the run logged. Returns the newest step.
fn check_after_kill(run: &Path) -> u64 {
    let files = checkpoints(run);
    assert!(!files.is_empty());
    for f in &files {
        let l = trainer::checkpoint::read(f)
            .unwrap_or_else(|e| panic!("{} is damaged after SIGKILL: {e}", f.display()));
        assert_eq!(l.info.step, step_of(f));
    }
    let newest = trainer::checkpoint::newest_valid(run).unwrap().info.step;
    let last_logged = *logged_steps(run).last().unwrap();
    assert!(
        newest + EVERY >= last_logged,
        "killed after step {last_logged}, newest checkpoint is step {newest}"
    );
    newest
}

#[test]
fn sigkill_then_resume_loses_at_most_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let run = runs.join("killed");
    let never_ends = train_args(runs, 1_000_000);

    // Killed right after its third checkpoint, then twice more at other points of the loop.
    kill_after_checkpoint(spawn(&never_ends), &run, 0, 3, Duration::ZERO);
    let mut newest = check_after_kill(&run);
    for extra_ms in [3, 17] {
        let mut args = never_ends.clone();
        args.extend(["--resume".into(), run.to_str().unwrap().into()]);
        kill_after_checkpoint(
            spawn(&args),
            &run,
            newest,
            1,
            Duration::from_millis(extra_ms),
        );
        let after = check_after_kill(&run);
        assert!(
            after > newest,
            "resume did not advance: {newest} -> {after}"
        );
        newest = after;
    }

    // Truncate the newest checkpoint: the previous one is used.
    let files = checkpoints(&run);
    assert!(files.len() >= 2, "{files:?}");
    let last = files.last().unwrap();
    let bytes = std::fs::read(last).unwrap();
    std::fs::write(last, &bytes[..bytes.len() / 2]).unwrap();
    let err = trainer::checkpoint::read(last).err().unwrap().to_string();
    assert!(
        err.contains(last.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    let previous = step_of(&files[files.len() - 2]);
    let fallback = trainer::checkpoint::newest_valid(&run).unwrap();
    assert_eq!(fallback.info.step, previous);

    // A write cut short (a kill, a full disk) leaves half a line at the end of the log.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(run.join("metrics.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"step\":99999,\"epo").unwrap();

    // Resume to a fixed end: it starts from the previous checkpoint and counts on from there.
    let end = previous + 2 * EVERY + 5;
    let mut args = train_args(runs, end);
    args.extend(["--resume".into(), run.to_str().unwrap().into()]);
    let out = trainer_with(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "resume failed: {stderr}");
    assert!(
        stderr.contains("skipping") && stderr.contains(&format!("at step {previous}")),
        "{stderr}"
    );
    // The log holds every step once, each on a line of its own: the rows logged after the
    // checkpoint it resumed from (and the cut line) were dropped, not repeated or glued to.
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line:?}"
        );
    }
    let want: Vec<u64> = (1..=end).collect();
    assert_eq!(logged_steps(&run), want, "steps lost or repeated");
    let final_ck = trainer::checkpoint::newest_valid(&run).unwrap();
    assert_eq!(final_ck.info.step, end);
}

#[test]
fn resume_with_only_damaged_checkpoints_fails_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let run = runs.join("killed");
    let out = trainer_with(&train_args(runs, 2 * EVERY)).output().unwrap();
    assert!(out.status.success());
    for f in checkpoints(&run) {
        let mut bytes = std::fs::read(&f).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x40;
        std::fs::write(&f, &bytes).unwrap();
    }
    let mut args = train_args(runs, 3 * EVERY);
    args.extend(["--resume".into(), run.to_str().unwrap().into()]);
    let out = trainer_with(&args).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("checksum"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn sigint_writes_a_checkpoint_of_the_last_step() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let run = runs.join("killed");
    let child = trainer_with(&train_args(runs, 1_000_000))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while checkpoints(&run).is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint after 40 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(7));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: interrupted; checkpoint written to"));
    // Nothing is lost: the checkpoint holds the last step the run logged.
    let newest = trainer::checkpoint::newest_valid(&run).unwrap();
    assert_eq!(Some(&newest.info.step), logged_steps(&run).last());
    assert!(
        lines[0].contains(newest.info.path.to_str().unwrap()),
        "{stderr}"
    );
}
