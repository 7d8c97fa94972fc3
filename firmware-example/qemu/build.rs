//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the board), and sets the number of frames from `MICROGAN_FRAMES`.

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
    gan_app::build_support::embed_model_or_exit(&root, &gan_app::budget::MPS2);

    println!("cargo:rerun-if-env-changed=MICROGAN_FRAMES");
    let frames = match env::var("MICROGAN_FRAMES") {
        Err(_) => 2,
        Ok(s) => match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => fail(format!(
                "MICROGAN_FRAMES={s:?}: expected a number of frames from 1 to 1000"
            )),
        },
    };
    let consts =
        format!("/// Frames to make before exiting QEMU.\npub const FRAMES: u32 = {frames};\n");
    if let Err(e) = fs::write(out.join("frames.rs"), consts) {
        fail(format!("writing frames.rs: {e}"));
    }
}
