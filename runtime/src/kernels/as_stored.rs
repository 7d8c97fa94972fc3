//! Prepared weights where no kernel reads any (every target but x86-64,
//! whose AVX-512 kernels do): nothing to prepare, and the prepared entry
//! points run the kernels on the weights as stored.

use super::{conv2d, conv_transpose2d, dense, ConvArgs, ConvGeom, Weights};

/// f32 values a convolution's weights take once transposed for the fastest
/// kernel ([`prepare_conv`]): none here.
pub fn prepared_len(_g: &ConvGeom, _transpose: bool) -> usize {
    0
}

/// Transposes a convolution's weights once for [`conv_prepared`]: there is
/// nothing to prepare here (false).
pub fn prepare_conv(_w: Weights<'_>, _g: &ConvGeom, _transpose: bool, _dst: &mut [f32]) -> bool {
    false
}

/// [`conv2d`] or [`conv_transpose2d`] (`transpose`); `pre` is always empty
/// here.
#[inline]
pub(crate) fn conv_prepared(c: ConvArgs<'_>, y: &mut [f32], _pre: &[f32]) {
    if c.transpose {
        conv_transpose2d(c.w, c.b, c.g, c.x, y)
    } else {
        conv2d(c.w, c.b, c.g, c.x, y)
    }
}

/// f32 slots a dense layer's weights take once reordered for the fastest
/// kernel ([`prepare_dense`]): none here.
pub fn dense_prepared_len(_w: &Weights<'_>, _n_in: usize, _n_out: usize) -> usize {
    0
}

/// Reorders a dense layer's weights once for [`dense_prepared`]: there is
/// nothing to prepare here (false).
pub fn prepare_dense(_w: Weights<'_>, _n_in: usize, _n_out: usize, _dst: &mut [f32]) -> bool {
    false
}

/// [`dense`]; `pre` is always empty here.
pub fn dense_prepared(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32], _pre: &[f32]) {
    dense(w, b, x, y)
}
