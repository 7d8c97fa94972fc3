//! Ctrl-C (SIGINT) and SIGTERM. While a run trains, a signal is a request that the loop honours
//! between steps by writing a checkpoint first. At any other time (loading, the final sample grid,
//! the export, `sample`, `eval`) it ends the process at once: the writes in flight remove their
//! temporary files, so no output is left half-written, and the process exits with status 130. A
//! signal is never ignored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::output_file;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static DEFERRED: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<bool> = OnceLock::new();
/// What the exit message adds (the run's final checkpoint, once written).
static NOTE: Mutex<Option<String>> = Mutex::new(None);

/// Installs the handler (once per process); false if another handler was installed first.
pub fn install() -> bool {
    *HANDLER.get_or_init(|| ctrlc::set_handler(on_signal).is_ok())
}

fn on_signal() {
    REQUESTED.store(true, Ordering::SeqCst);
    if !DEFERRED.load(Ordering::SeqCst) {
        exit_now();
    }
}

fn exit_now() -> ! {
    output_file::remove_pending();
    let note = NOTE.lock().ok().and_then(|n| n.clone());
    match note {
        Some(n) => eprintln!("error: interrupted; {n}"),
        None => eprintln!("error: interrupted; no output was left half-written"),
    }
    std::process::exit(130)
}

/// Signals become requests until the returned guard is dropped (or [`Deferral::end`] is called):
/// the caller polls [`requested`] and stops cleanly.
pub fn defer() -> Deferral {
    install();
    REQUESTED.store(false, Ordering::SeqCst);
    DEFERRED.store(true, Ordering::SeqCst);
    Deferral(())
}

/// True once a signal has arrived during a [`Deferral`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Adds `note` to the message printed when a later signal ends the process.
pub fn set_note(note: String) {
    if let Ok(mut n) = NOTE.lock() {
        *n = Some(note);
    }
}

/// The period in which signals are requests; see [`defer`].
pub struct Deferral(());

impl Deferral {
    /// Ends the period; true if a signal arrived during it (including one that raced with the
    /// end), which the caller must honour.
    pub fn end(self) -> bool {
        drop(self);
        requested()
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        DEFERRED.store(false, Ordering::SeqCst);
    }
}
