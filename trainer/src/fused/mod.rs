//! Fused CPU kernels for the training step, as candle custom ops.
//!
//! candle runs every tensor operation as its own pass over memory with a fresh output buffer; at
//! the sizes of these GANs (a few million parameters, batch 64) that per-operation cost, not the
//! arithmetic, dominates a step. Each op here does in one pass what took several.
//!
//! Every op has a CPU implementation only. On other devices the callers use the plain candle
//! formulas they replace (see each caller), so a CUDA build computes the same thing, unfused.
//! Every op is tested against those plain formulas on random inputs, values and gradients.

pub mod act;
pub mod adam;
pub mod conv;
pub mod norm;

use candle_core::{CpuStorage, Layout};

/// The contiguous f32 slice a layout describes, or an error naming the op.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32 tensors")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expects contiguous tensors")
    };
    Ok(&v[start..end])
}

/// The mutable version of [`f32_slice`].
fn f32_slice_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a mut [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32 tensors")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expects contiguous tensors")
    };
    Ok(&mut v[start..end])
}
