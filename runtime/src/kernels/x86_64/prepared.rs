//! Weights prepared once for the x86-64 kernels (`Generator::prepare`):
//! the AVX-512 layouts where dispatch runs that set, else the AVX2 one of
//! the convolutions with more than 8 output channels, which is the same
//! `[block of 16 output channels][input channel][tap][16]` layout. Dense
//! layers are prepared for AVX-512 only.

pub use super::avx512::{dense_prepared, dense_prepared_len, prepare_dense};
use super::{avx2, avx2::Avx, avx512};
use crate::kernels::{lane8, ConvArgs, ConvGeom, Weights};

/// f32 values of a convolution's prepared weights for the set dispatch
/// runs; 0 where it reads them as stored.
pub fn prepared_len(g: &ConvGeom, transpose: bool) -> usize {
    if avx512::available() {
        avx512::prepared_len(g, transpose)
    } else if avx2::available() {
        lane8::wide_prepared_len(g)
    } else {
        0
    }
}

/// Converts and transposes a convolution's weights into `dst` (at least
/// [`prepared_len`] values). False, with nothing written, when there is
/// nothing to prepare or the weights or `dst` are too short.
pub fn prepare_conv(w: Weights<'_>, g: &ConvGeom, transpose: bool, dst: &mut [f32]) -> bool {
    if avx512::available() {
        avx512::prepare_conv(w, g, transpose, dst)
    } else {
        lane8::prepare::<Avx>(w, g, transpose, dst)
    }
}

/// Either convolution (`c.transpose`) with the weights [`prepare_conv`]
/// wrote into `pre`; the kernels without them where `pre` is shorter than
/// [`prepared_len`] (so the result is the same either way).
pub(crate) fn conv_prepared(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
    if avx512::available() {
        avx512::conv_prepared(c, y, pre)
    } else {
        lane8::conv_prepared::<Avx>(c, y, pre)
    }
}
