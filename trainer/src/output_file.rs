//! Every file the trainer writes goes through here: a temporary file beside the target, written,
//! fsynced and renamed over it, so an existing file is only ever replaced by a complete new one.
//! A failed or interrupted write leaves the old file as it was and removes its temporary file; the
//! temporary files of a killed process (named `.<file>.<pid>.tmp`) are removed by the next write
//! to the same target, or by the next run in the same run directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Temporary files being written now; removed by [`remove_pending`] when a signal ends the process.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A file being written: bytes go to a temporary file until [`OutputFile::commit`] renames it over
/// the target. Dropped without a commit, it removes the temporary file.
pub struct OutputFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Starts writing `path`. Refuses a target that exists and is not a regular file (a device such
    /// as `/dev/null`, a directory, a symlink), which a rename would replace.
    pub fn create(path: &Path) -> Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.is_file() {
                return Err(Error::io(
                    path,
                    std::io::Error::other("exists and is not a regular file; choose another path"),
                ));
            }
        }
        let (dir, name) = split(path);
        remove_stale(&dir, Stale::DeadWriters(&name));
        let tmp = dir.join(temp_name(&name, std::process::id()));
        register(&tmp);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| {
                unregister(&tmp);
                Error::io(path, e)
            })?;
        Ok(OutputFile {
            path: path.into(),
            tmp,
            file: Some(BufWriter::new(file)),
        })
    }

    /// The file this will become.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes bytes, naming the target in the error.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.path.clone();
        self.write_all(bytes).map_err(|e| Error::io(path, e))
    }

    /// Flushes and fsyncs the temporary file and renames it over the target, then fsyncs the
    /// directory, so after a crash the target is either the old file or the whole new one.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take();
        let result = (|| {
            let file = file
                .ok_or_else(|| std::io::Error::other("already committed"))?
                .into_inner()
                .map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&self.tmp, &self.path)?;
            if let Ok(d) = File::open(split(&self.path).0) {
                // Directory fsync is not supported everywhere; the rename is already done.
                let _ = d.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e| Error::io(&self.path, e))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            // Not committed: the target keeps its old contents.
            drop(f.into_parts().0);
        }
        // After a commit the name is gone; after a failure it is removed.
        let _ = std::fs::remove_file(&self.tmp);
        unregister(&self.tmp);
    }
}

/// Writes `bytes` to `path` through an [`OutputFile`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut out = OutputFile::create(path)?;
    out.write_bytes(bytes)?;
    out.commit()
}

/// Several outputs of one command, all written or none: each is complete in its temporary file
/// before the first is renamed, and if a later rename fails the files the earlier ones created are
/// removed again.
pub fn commit_all(files: Vec<OutputFile>) -> Result<()> {
    let mut created: Vec<PathBuf> = Vec::new();
    for f in files {
        let path = f.path().to_path_buf();
        let existed = std::fs::symlink_metadata(&path).is_ok();
        if let Err(e) = f.commit() {
            for p in &created {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        if !existed {
            created.push(path);
        }
    }
    Ok(())
}

/// True when `a` and `b` name the same existing file (through links, `.` or `..`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Removes the temporary files of killed writes in `dir`, whichever target and process they
/// belong to (a process id may have been reused): for a directory this process alone writes, such
/// as a locked run directory.
pub fn remove_stale_in(dir: &Path) {
    remove_stale(dir, Stale::AnyTarget);
}

/// Removes the files the writes in flight were using; called when a signal ends the process.
pub fn remove_pending() {
    if let Ok(list) = PENDING.lock() {
        for p in list.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn register(tmp: &Path) {
    if let Ok(mut list) = PENDING.lock() {
        list.push(tmp.into());
    }
}

fn unregister(tmp: &Path) {
    if let Ok(mut list) = PENDING.lock() {
        list.retain(|p| p != tmp);
    }
}

/// The directory and the file name of a target.
fn split(path: &Path) -> (PathBuf, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    (dir.into(), name)
}

fn temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.{pid}.tmp")
}

/// The target name and process id of a temporary file's name, if it is one.
fn parse_temp(file: &str) -> Option<(&str, u32)> {
    let rest = file.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = rest.rsplit_once('.')?;
    Some((name, pid.parse().ok()?))
}

/// Which temporary files [`remove_stale`] removes.
enum Stale<'a> {
    /// Those of this target whose process no longer runs (another process may be writing it).
    DeadWriters(&'a str),
    /// Every one, except this process's own.
    AnyTarget,
}

/// Removes temporary files in `dir` left by killed writes.
fn remove_stale(dir: &Path, which: Stale<'_>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some((name, pid)) = file.to_str().and_then(parse_temp) else {
            continue;
        };
        let stale = pid != std::process::id()
            && match which {
                Stale::DeadWriters(target) => target == name && !alive(pid),
                Stale::AnyTarget => true,
            };
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether a process runs with this id (Linux: its `/proc` entry). Elsewhere every id counts as
/// alive, so only this process's own files are removed there.
fn alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn write_atomic_replaces_a_file_and_refuses_other_targets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.bin");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"x").unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(sub.is_dir());

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(write_atomic(&link, b"x").is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keep.png");
        std::fs::write(&file, b"old").unwrap();
        let mut out = OutputFile::create(&file).unwrap();
        out.write_bytes(b"half of the new").unwrap();
        drop(out);
        assert_eq!(std::fs::read(&file).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Process ids above the kernel's limit (2^22) never run.
        let dead = dir.path().join(temp_name("a.bin", 4_194_399));
        let other = dir.path().join(temp_name("b.bin", 4_194_399));
        let live = dir.path().join(temp_name("a.bin", 1));
        for p in [&dead, &other, &live] {
            std::fs::write(p, b"x").unwrap();
        }
        write_atomic(&dir.path().join("a.bin"), b"new").unwrap();
        assert!(!dead.exists() && other.exists() && live.exists());
        remove_stale_in(dir.path());
        assert!(!other.exists() && !live.exists());
    }

    #[test]
    fn temporary_names_parse() {
        assert_eq!(
            parse_temp(".step-01.safetensors.42.tmp"),
            Some(("step-01.safetensors", 42))
        );
        assert_eq!(parse_temp("step.42.tmp"), None);
        assert_eq!(parse_temp(".a.tmp"), None);
    }
}
