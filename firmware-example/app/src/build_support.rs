//! For board build scripts: pick the model file, refuse it if it does not fit the board, and tell
//! the firmware its buffer sizes as constants.
//!
//! The model is one build-time setting, the `MICROGAN_MODEL` environment variable: a path,
//! relative to the repository root unless absolute, defaulting to [`DEFAULT_MODEL`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

use crate::budget::{Board, Needs, Usage};
use crate::Error;

/// The model a firmware embeds unless `MICROGAN_MODEL` says otherwise.
pub const DEFAULT_MODEL: &str = "models/dcgan-digits.safetensors";

/// What the build script found, for its summary line.
#[derive(Debug)]
pub struct Embedded {
    pub path: PathBuf,
    pub needs: Needs,
    pub usage: Usage,
}

/// Resolves `MICROGAN_MODEL` against `repo_root`, checks the model against `board`, and writes
/// `$OUT_DIR/model_sizes.rs` (constants `LATENT_LEN`, `SCRATCH_LEN`, `OUTPUT_LEN`, `MODEL_BYTES`,
/// `RAM_BYTES`, `MODEL_NAME`) and sets `MICROGAN_MODEL_FILE` for [`crate::include_model!`].
pub fn embed_model(repo_root: &Path, board: &Board) -> Result<Embedded, Error> {
    println!("cargo:rerun-if-env-changed=MICROGAN_MODEL");
    let setting = env::var_os("MICROGAN_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into());
    let path = repo_root.join(setting);
    println!("cargo:rerun-if-changed={}", path.display());
    let path = fs::canonicalize(&path).map_err(|source| Error::ModelFile {
        path: path.clone(),
        source,
    })?;
    let bytes = fs::read(&path).map_err(|source| Error::ModelFile {
        path: path.clone(),
        source,
    })?;
    let generator = runtime::Generator::load(&bytes)?;
    let needs = Needs::of(&generator, bytes.len());
    let usage = board.check(&needs)?;

    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "/// File name of the embedded model.");
    let _ = writeln!(out, "pub const MODEL_NAME: &str = {name:?};");
    for (doc, name, value) in [
        (
            "f32 elements of the latent vector.",
            "LATENT_LEN",
            needs.latent,
        ),
        (
            "f32 elements of the runtime's scratch buffer.",
            "SCRATCH_LEN",
            needs.scratch,
        ),
        (
            "f32 elements of one generated image.",
            "OUTPUT_LEN",
            needs.output,
        ),
        (
            "Bytes of the embedded model.",
            "MODEL_BYTES",
            needs.model_bytes,
        ),
        (
            "Bytes of RAM the frame loop's static buffers take.",
            "RAM_BYTES",
            usage.ram,
        ),
    ] {
        let _ = writeln!(out, "/// {doc}\npub const {name}: usize = {value};");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let sizes = out_dir.join("model_sizes.rs");
    fs::write(&sizes, out).map_err(|source| Error::ModelFile {
        path: sizes,
        source,
    })?;
    println!("cargo:rustc-env=MICROGAN_MODEL_FILE={}", path.display());
    Ok(Embedded { path, needs, usage })
}

/// Runs [`embed_model`] and ends the build script with the error's message if it fails.
pub fn embed_model_or_exit(repo_root: &Path, board: &Board) -> Embedded {
    match embed_model(repo_root, board) {
        Ok(embedded) => embedded,
        Err(e) => {
            let setting = env::var("MICROGAN_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.into());
            eprintln!("error: {e}");
            eprintln!("  model: MICROGAN_MODEL={setting} (relative to the repository root)");
            if matches!(e, Error::DoesNotFit { .. }) {
                eprintln!("  build with a smaller model: MICROGAN_MODEL=path/to/model.safetensors");
            }
            std::process::exit(1);
        }
    }
}
