//! What the board crates' build scripts share: put `memory.x` on the linker path, read build
//! settings from the environment, and embed the model chosen by `MICROGAN_MODEL` after checking
//! it against the board's flash and RAM, so that a model that cannot fit is refused with a
//! sentence before anything compiles.
//!
//! A host crate: it runs in build scripts, never on a board. A board's `build.rs` is a few
//! calls:
//!
//! ```no_run
//! use gan_build_support::{budget, or_exit};
//!
//! or_exit(gan_build_support::link_memory_x());
//! or_exit(gan_build_support::embed_model(&budget::PICO));
//! ```

pub mod budget;
mod cargo;
mod constants;
mod embed;
mod error;

pub use cargo::{link_memory_x, number_setting, out_dir};
pub use constants::Constants;
pub use embed::{embed_model, prepare, Embedded, DEFAULT_MODEL};
pub use error::Error;

/// Development models (untrained, deterministic weights) for unit tests; shared with the app's
/// tests.
#[cfg(test)]
#[path = "../../app/tests/support/mod.rs"]
mod dev_models;

/// Returns the value, or ends the build script with the error's message (and, for a refused
/// model, how to choose another).
pub fn or_exit<T>(result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            eprintln!("error: {e}");
            for hint in e.hints() {
                eprintln!("  {hint}");
            }
            std::process::exit(1);
        }
    }
}
