//! Embedding the model: pick the file, refuse it if it does not fit the board, and tell the
//! firmware its buffer sizes as constants.
//!
//! The model is one build-time setting, the `MICROGAN_MODEL` environment variable: a path,
//! relative to the repository root unless absolute, defaulting to [`DEFAULT_MODEL`].

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::budget::{Board, Needs, Usage};
use crate::{out_dir, Constants, Error};

/// The model a firmware embeds unless `MICROGAN_MODEL` says otherwise: the shipped generator as
/// an integer file, which a core without an FPU runs without software floating point.
pub const DEFAULT_MODEL: &str = "models/dcgan-digits-i8.safetensors";

/// What the build script found, for its summary line.
#[derive(Debug)]
pub struct Embedded {
    pub path: PathBuf,
    pub needs: Needs,
    pub usage: Usage,
    /// The model's `num_classes` (0: unconditional).
    pub classes: usize,
}

/// `MICROGAN_MODEL`, or [`DEFAULT_MODEL`] when it is not set.
pub(crate) fn model_setting() -> OsString {
    std::env::var_os("MICROGAN_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into())
}

/// The repository the board crates live in (this crate is `firmware-example/build-support`):
/// `MICROGAN_MODEL` is relative to it.
fn repo_root() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().and_then(Path::parent).unwrap_or(here)
}

/// Resolves `MICROGAN_MODEL` against the repository root, checks the model against `board` and
/// writes its constants into `OUT_DIR` (see [`prepare`]), and sets `MICROGAN_MODEL_FILE` for
/// `gan_app::include_model!`.
pub fn embed_model(board: &Board) -> Result<Embedded, Error> {
    println!("cargo:rerun-if-env-changed=MICROGAN_MODEL");
    let path = repo_root().join(model_setting());
    println!("cargo:rerun-if-changed={}", path.display());
    let embedded = prepare(&path, &out_dir()?, board)?;
    println!(
        "cargo:rustc-env=MICROGAN_MODEL_FILE={}",
        embedded.path.display()
    );
    Ok(embedded)
}

/// Loads the model at `path` with the runtime (so a broken file fails the build with the
/// runtime's message), checks it against `board`, and writes `out_dir/model_sizes.rs`: constants
/// `MODEL_NAME`, `LATENT_LEN`, `SCRATCH_LEN`, `OUTPUT_LEN`, `MODEL_BYTES` and `RAM_BYTES`.
pub fn prepare(path: &Path, out_dir: &Path, board: &Board) -> Result<Embedded, Error> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::ModelFile { path, source }
    };
    let path = fs::canonicalize(path).map_err(read_error(path))?;
    let bytes = fs::read(&path).map_err(read_error(&path))?;
    let generator = runtime::Generator::load(&bytes).map_err(Error::Model)?;
    let needs = Needs::of(&generator, bytes.len());
    let usage = board.check(&needs)?;
    sizes(&path, &needs, &usage).write(out_dir, "model_sizes.rs")?;
    Ok(Embedded {
        path,
        needs,
        usage,
        classes: generator.num_classes(),
    })
}

/// The constants of `model_sizes.rs`.
fn sizes(path: &Path, needs: &Needs, usage: &Usage) -> Constants {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut c = Constants::new();
    c.add(
        "File name of the embedded model.",
        "MODEL_NAME",
        "&str",
        name,
    );
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
        c.add(doc, name, "usize", value);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{MPS2, PICO};
    use crate::dev_models as support;
    use runtime::format::DType;
    use std::env;

    /// A fresh folder under the system's temporary folder.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = env::temp_dir().join(format!("gan-build-support-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fitting_model_gets_its_buffer_sizes_written() {
        let dir = scratch_dir("fits");
        let model = dir.join("dcgan.safetensors");
        fs::write(&model, support::dcgan(1, 10, 4, DType::F16)).unwrap();
        let embedded = prepare(&model, &dir, &PICO).unwrap();
        let sizes = fs::read_to_string(dir.join("model_sizes.rs")).unwrap();
        assert!(
            sizes.contains("pub const LATENT_LEN: usize = 100;"),
            "{sizes}"
        );
        assert!(sizes.contains(&format!(
            "pub const SCRATCH_LEN: usize = {};",
            embedded.needs.scratch
        )));
        assert!(sizes.contains("pub const OUTPUT_LEN: usize = 784;"));
        assert!(sizes.contains("pub const MODEL_NAME: &str = \"dcgan.safetensors\";"));
        assert_eq!(
            embedded.usage.flash,
            fs::metadata(&model).unwrap().len() as usize
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_3_mb_mlp_is_refused_for_the_pico_but_fits_qemu() {
        let dir = scratch_dir("mlp");
        let model = dir.join("mlp.safetensors");
        fs::write(&model, support::mlp(1, DType::F16)).unwrap();
        let err = prepare(&model, &dir, &PICO).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DoesNotFit {
                    resource: "flash",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("does not fit the Raspberry Pi Pico"));
        assert!(prepare(&model, &dir, &MPS2).is_ok());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_and_broken_files_are_named() {
        let dir = scratch_dir("broken");
        let missing = dir.join("nothing-here.safetensors");
        let err = prepare(&missing, &dir, &PICO).unwrap_err();
        assert!(matches!(err, Error::ModelFile { .. }));
        assert!(
            err.to_string().contains("nothing-here.safetensors"),
            "{err}"
        );
        let broken = dir.join("broken.safetensors");
        fs::write(&broken, b"\x08\0\0\0\0\0\0\0{}      ").unwrap();
        assert!(matches!(
            prepare(&broken, &dir, &PICO),
            Err(Error::Model(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }
}
