//! Checkpoints: both networks, their batch-norm statistics and both optimisers' moments in one
//! safetensors file, written atomically (temporary file, fsync, rename) with a CRC-32 of every
//! tensor in the metadata. A truncated or corrupted file is detected on load and the previous
//! checkpoint is used instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::models::ema::{self, Ema};
use crate::models::{Gan, ModelSpec};
use crate::optim::Adam;
use crate::run_dir;

const FORMAT: &str = "microgan-checkpoint";
/// Version 2: the CRC covers the step and the other metadata too (version 1 files, whose CRC
/// covers the tensors only, are still read).
const VERSION: &str = "2";
/// Metadata keys the CRC covers from version 2 on, in this order.
const COVERED: [&str; 4] = ["step", "opt_g_t", "opt_d_t", "spec"];
/// Checkpoints kept per run; older ones are removed after a newer one is safely on disk.
const KEEP: usize = 3;

/// What a checkpoint holds besides tensors.
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    pub step: u64,
    pub spec: ModelSpec,
    pub path: PathBuf,
}

/// CRC-32 over every tensor's name and f32 little-endian bytes, in name order, then (version 2)
/// the [`COVERED`] metadata values, so a step edited into the header is caught like a flipped
/// weight.
fn checksum(tensors: &[(String, Tensor)], meta: Option<&HashMap<String, String>>) -> Result<u32> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = crc32fast::Hasher::new();
    for (name, t) in sorted {
        h.update(name.as_bytes());
        for v in t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()? {
            h.update(&v.to_le_bytes());
        }
    }
    if let Some(meta) = meta {
        for key in COVERED {
            let value = meta.get(key).map_or("", String::as_str);
            h.update(&(value.len() as u64).to_le_bytes());
            h.update(value.as_bytes());
        }
    }
    Ok(h.finalize())
}

/// The step a checkpoint's file name states, if it is named as [`file_name`] names them.
fn step_in_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("step-")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// The checkpoint file name for a step; zero-padded so names sort by step.
pub fn file_name(step: u64) -> String {
    format!("step-{step:010}.safetensors")
}

/// Saves a checkpoint into `dir/checkpoints/` and prunes old ones; returns its path. `ema` is the
/// generator's weight average, when the run keeps one.
pub fn save(
    dir: &Path,
    gan: &Gan,
    (opt_g, opt_d): (&Adam, &Adam),
    ema: Option<&Ema>,
    step: u64,
) -> Result<PathBuf> {
    let ck_dir = run_dir::checkpoints_dir(dir);
    std::fs::create_dir_all(&ck_dir).map_err(|e| Error::io(&ck_dir, e))?;
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (n, v) in gan.g_params.all() {
        tensors.push((format!("g.{n}"), v.as_tensor().to_device(&Device::Cpu)?));
    }
    for (n, v) in gan.d_params.all() {
        tensors.push((format!("d.{n}"), v.as_tensor().to_device(&Device::Cpu)?));
    }
    if let Some(ema) = ema {
        tensors.extend(ema.tensors()?);
    }
    for (n, t) in opt_g.state()? {
        tensors.push((format!("opt_g.{n}"), t.to_device(&Device::Cpu)?));
    }
    for (n, t) in opt_d.state()? {
        tensors.push((format!("opt_d.{n}"), t.to_device(&Device::Cpu)?));
    }
    let spec = serde_json::to_string(&gan.spec).map_err(|e| Error::Json {
        path: dir.into(),
        reason: e.to_string(),
    })?;
    let mut meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("version", VERSION.to_string()),
        ("step", step.to_string()),
        ("opt_g_t", opt_g.t.to_string()),
        ("opt_d_t", opt_d.t.to_string()),
        ("spec", spec),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let crc = checksum(&tensors, Some(&meta))?;
    meta.insert("crc32".into(), format!("{crc:08x}"));
    let path = ck_dir.join(file_name(step));
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    crate::output_file::write_atomic(&path, &bytes)?;
    prune(&ck_dir, KEEP);
    Ok(path)
}

/// Removes all but the newest `keep` checkpoints; failures only cost disk space.
fn prune(ck_dir: &Path, keep: usize) {
    if let Ok(mut files) = list(ck_dir) {
        files.truncate(files.len().saturating_sub(keep));
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Checkpoint files in `ck_dir`, oldest first.
pub fn list(ck_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !ck_dir.is_dir() {
        return Ok(out);
    }
    for e in std::fs::read_dir(ck_dir).map_err(|e| Error::io(ck_dir, e))? {
        let p = e.map_err(|e| Error::io(ck_dir, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("step-") && name.ends_with(".safetensors") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// A verified checkpoint read into memory.
pub struct Loaded {
    pub info: CheckpointInfo,
    pub tensors: HashMap<String, Tensor>,
    pub opt_g_t: u64,
    pub opt_d_t: u64,
}

/// Reads and verifies one checkpoint file.
pub fn read(path: &Path) -> Result<Loaded> {
    let bad = |reason: String| Error::Checkpoint {
        path: path.into(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, st_meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let meta = st_meta.metadata().clone().unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| bad(format!("metadata key {k:?} is missing")))
    };
    if get("format")? != FORMAT {
        return Err(bad("not a microgan checkpoint".into()));
    }
    let version = get("version")?;
    if version != VERSION && version != "1" {
        return Err(bad(format!(
            "checkpoint version {version} is not supported"
        )));
    }
    let num = |k: &str| -> Result<u64> {
        get(k)?
            .parse()
            .map_err(|_| bad(format!("metadata {k:?} is not a number")))
    };
    let step = num("step")?;
    if let Some(named) = step_in_name(path).filter(|&n| n != step) {
        return Err(bad(format!(
            "its metadata says step {step} but its name says step {named}"
        )));
    }
    let opt_g_t = num("opt_g_t")?;
    let opt_d_t = num("opt_d_t")?;
    let spec: ModelSpec =
        serde_json::from_str(&get("spec")?).map_err(|e| bad(format!("bad spec: {e}")))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
        bad(format!(
            "cannot read tensors ({})",
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    let list: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let want = get("crc32")?;
    let covered = (version != "1").then_some(&meta);
    let got = format!("{:08x}", checksum(&list, covered)?);
    if got != want {
        return Err(bad(format!(
            "checksum mismatch (stored {want}, computed {got}): the file is corrupted"
        )));
    }
    Ok(Loaded {
        info: CheckpointInfo {
            step,
            spec,
            path: path.into(),
        },
        tensors,
        opt_g_t,
        opt_d_t,
    })
}

/// The newest checkpoint of a run that verifies, skipping (and reporting) damaged ones.
pub fn newest_valid(run: &Path) -> Result<Loaded> {
    let files = list(&run_dir::checkpoints_dir(run))?;
    let mut last_err = None;
    for f in files.iter().rev() {
        match read(f) {
            Ok(l) => return Ok(l),
            Err(e) => {
                eprintln!("warning: skipping {e}");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| Error::Run {
        path: run.into(),
        reason: "has no checkpoint".into(),
    }))
}

/// The GAN a verified checkpoint holds with its raw weights, ignoring any weight average.
pub fn load_raw_gan(l: &Loaded) -> Result<Gan> {
    let gan = Gan::new(&l.info.spec, &Device::Cpu, 0)?;
    restore(l, &gan, None)?;
    Ok(gan)
}

/// Loads a verified checkpoint into a freshly built GAN (and optimisers, when given), refusing a
/// checkpoint of another architecture.
pub fn restore(l: &Loaded, gan: &Gan, opts: Option<(&mut Adam, &mut Adam)>) -> Result<()> {
    let path = &l.info.path;
    if l.info.spec != gan.spec {
        return Err(Error::Checkpoint {
            path: path.clone(),
            reason: format!(
                "it holds another model than this run builds: {}",
                differences(&l.info.spec, &gan.spec)
            ),
        });
    }
    let bad = |reason: String| Error::Checkpoint {
        path: path.clone(),
        reason,
    };
    gan.g_params.load(&l.tensors, "g.").map_err(bad)?;
    gan.d_params.load(&l.tensors, "d.").map_err(bad)?;
    if let Some((og, od)) = opts {
        og.load(&l.tensors, "opt_g.", l.opt_g_t).map_err(bad)?;
        od.load(&l.tensors, "opt_d.", l.opt_d_t).map_err(bad)?;
    }
    Ok(())
}

/// The GAN a verified checkpoint holds, rebuilt on the CPU (for export and evaluation, which need
/// no optimiser). A run that keeps a weight average (`--ema`) is exported and evaluated with it:
/// its generator holds the average in place of the raw weights.
pub fn load_gan(l: &Loaded) -> Result<Gan> {
    let gan = load_raw_gan(l)?;
    if ema::in_checkpoint(&l.tensors) {
        ema::use_from_checkpoint(&gan, &l.tensors).map_err(|e| Error::Checkpoint {
            path: l.info.path.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(gan)
}

/// What differs between the checkpoint's spec and the run's, each side named: "pack 4 in the
/// checkpoint, 2 in this run".
fn differences(checkpoint: &ModelSpec, run: &ModelSpec) -> String {
    let fields = |s: &ModelSpec| {
        [
            ("architecture", s.arch.to_string()),
            ("latent size", s.latent_dim.to_string()),
            ("classes", s.num_classes.to_string()),
            ("class embedding", s.embed_dim.to_string()),
            ("output", format!("{}x{}x{}", s.channels, s.height, s.width)),
            ("pack", s.pack.to_string()),
            ("toy networks", s.toy_net.name().to_string()),
            ("generator width", s.g_width.to_string()),
            ("discriminator width", s.d_width.to_string()),
        ]
    };
    fields(checkpoint)
        .into_iter()
        .zip(fields(run))
        .filter(|(a, b)| a.1 != b.1)
        .map(|((what, a), (_, b))| format!("{what} {a} in the checkpoint, {b} in this run"))
        .collect::<Vec<_>>()
        .join("; ")
}
