//! PyTorch's own images as a second check (`--against FILE`): a safetensors file with the latents
//! `z` (`[N, latent]`), the images PyTorch's generator made from them in evaluation mode
//! (`images`, `N x C x H x W` values in any shape with N rows) and, for a conditional generator,
//! their classes (`labels`, `[N]`, any integer dtype). `scripts/pytorch_import.py` writes one.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use runtime::Generator;

use crate::error::{Error, Result};
use crate::export::{error_stats, runtime_outputs, Tolerance};

/// The runtime's images for the file's latents against PyTorch's: (max abs error, PSNR in dB,
/// images compared), or [`Error::ReferenceMismatch`] outside `tol`.
pub fn check(gen: &Generator<'_>, file: &Path, tol: Tolerance) -> Result<(f32, f64, usize)> {
    let bad = |reason: String| Error::ReferenceFile {
        path: file.to_path_buf(),
        reason,
    };
    let mut tensors = candle_core::safetensors::load(file, &Device::Cpu)
        .map_err(|e| bad(first_line(&e.to_string())))?;
    let mut take = |name: &str| {
        tensors
            .remove(name)
            .ok_or_else(|| bad(format!("no tensor `{name}`")))
    };
    let z = take("z")?;
    let images = take("images")?;
    let n = z.dims().first().copied().unwrap_or(0);
    if z.dims() != [n, gen.latent_dim()] || n == 0 {
        return Err(bad(format!(
            "`z` has shape {:?}, expected [N, {}]",
            z.dims(),
            gen.latent_dim()
        )));
    }
    if images.elem_count() != n * gen.output_len() {
        return Err(bad(format!(
            "`images` has shape {:?}, expected {n} images of {} values",
            images.dims(),
            gen.output_len()
        )));
    }
    let classes = labels(gen, tensors.remove("labels"), n).map_err(bad)?;
    let z = floats(&z)?;
    let want = floats(&images)?;
    if z.iter().chain(&want).any(|v| !v.is_finite()) {
        return Err(bad("NaN or infinity in `z` or `images`".into()));
    }
    let got = runtime_outputs(gen, &z, &classes).map_err(|e| bad(e.to_string()))?;
    let (max_abs_error, psnr_db) = error_stats(&want, &got, gen.output_activation());
    tol.check(max_abs_error, psnr_db)
        .map_err(|_| Error::ReferenceMismatch {
            path: file.to_path_buf(),
            max_abs_error,
            psnr_db,
            limit: format!(
                "max abs error <= {} and PSNR >= {} dB",
                tol.max_abs_error, tol.min_psnr_db
            ),
        })?;
    Ok((max_abs_error, psnr_db, n))
}

/// The classes of the `n` images: the file's `labels` for a conditional generator (each below
/// its class count), zeros for an unconditional one.
fn labels(
    gen: &Generator<'_>,
    labels: Option<Tensor>,
    n: usize,
) -> std::result::Result<Vec<u32>, String> {
    let classes = gen.num_classes();
    let Some(l) = labels.filter(|_| classes > 0) else {
        return match classes {
            0 => Ok(vec![0; n]),
            _ => Err("no tensor `labels` for this conditional generator".into()),
        };
    };
    let values = l
        .to_dtype(DType::I64)
        .and_then(|t| t.flatten_all()?.to_vec1::<i64>())
        .map_err(|e| first_line(&e.to_string()))?;
    if values.len() != n {
        return Err(format!(
            "`labels` has {} values for {n} latents",
            values.len()
        ));
    }
    values
        .iter()
        .map(|&v| {
            u32::try_from(v)
                .ok()
                .filter(|&c| (c as usize) < classes)
                .ok_or_else(|| format!("label {v} is not a class of 0..{classes}"))
        })
        .collect()
}

fn floats(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
