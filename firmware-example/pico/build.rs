//! Puts memory.x on the linker path and embeds the model chosen by `MICROGAN_MODEL`, refusing
//! one that does not fit the Pico's 2 MiB of flash and 264 KiB of RAM before anything compiles.

use std::path::{Path, PathBuf};
use std::{env, fs, process};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    process::exit(1);
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    if let Err(e) = fs::write(out.join("memory.x"), include_bytes!("memory.x")) {
        fail(format!("writing memory.x: {e}"));
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    gan_app::build_support::embed_model_or_exit(&root, &gan_app::budget::PICO);
}
