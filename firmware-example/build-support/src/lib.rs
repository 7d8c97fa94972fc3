//! What the board crates' build scripts share: put `memory.x` on the linker path, read build
//! settings from the environment (a latent walk, a fixed class), and embed the model chosen by
//! `MICROGAN_MODEL` after checking it against the board's flash and RAM, so that a model that
//! cannot fit is refused with a sentence before anything compiles.
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
mod walk;

pub use cargo::{link_memory_file, link_memory_x, number_setting, out_dir, target};
pub use constants::Constants;
pub use embed::{embed_model, prepare, Embedded, DEFAULT_MODEL};
pub use error::Error;
pub use walk::walk_settings;

/// Development models (untrained, deterministic weights) for unit tests; shared with the app's
/// tests.
#[cfg(test)]
#[path = "../../app/tests/support/mod.rs"]
mod dev_models;

/// Returns the value, or ends the build script with the error's message (and, for a refused
/// model, which one was chosen and how to choose another).
pub fn or_exit<T>(result: Result<T, Error>) -> T {
    let e = match result {
        Ok(value) => return value,
        Err(e) => e,
    };
    eprintln!("error: {e}");
    if matches!(
        e,
        Error::Model(_) | Error::DoesNotFit { .. } | Error::ModelFile { .. }
    ) {
        let setting = embed::model_setting();
        eprintln!(
            "  model: MICROGAN_MODEL={} (relative to the repository root)",
            setting.to_string_lossy()
        );
    }
    if matches!(e, Error::DoesNotFit { .. }) {
        eprintln!("  build with a smaller model: MICROGAN_MODEL=path/to/model.safetensors");
    }
    std::process::exit(1);
}
