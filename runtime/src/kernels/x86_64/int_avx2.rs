//! The integer kernels (version 2) on AVX2: the portable dense layer
//! compiled with AVX2 enabled, where LLVM turns a row's `i8 x i16` dot
//! product into `VPMOVSXBW` + `VPMADDWD`, and the convolutions of module
//! `int_madd` (input channel pairs by `VPMADDWD`). Integer sums are exact,
//! so any vector order equals the plain kernels. Chosen like the float
//! kernels: at compile time where the build enables AVX2, else at run time
//! under `std`, else the portable kernels.

use super::{int_dense, int_madd, int_parity};
use crate::kernels::integer::{portable, IntParams};
use crate::kernels::ConvGeom;

/// Whether this CPU has AVX2.
#[inline]
fn available() -> bool {
    if cfg!(target_feature = "avx2") {
        return true;
    }
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(feature = "std"))]
    {
        false
    }
}

/// Integer dense layer.
pub fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    if available() {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { dense_avx2(p, x, y) }
    } else {
        portable::dense(p, x, y)
    }
}

/// Integer `conv2d`.
pub fn conv2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv(p, g, x, y, false)
}

/// Integer `conv_transpose2d`.
pub fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv(p, g, x, y, true)
}

fn conv(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16], transpose: bool) {
    if available() {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { conv_avx2(p, g, x, y, transpose) }
    } else {
        portable::conv_body(p, g, x, y, transpose)
    }
}

#[target_feature(enable = "avx2")]
unsafe fn dense_avx2(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    if !int_dense::dense(p, x, y) {
        portable::dense_body(p, x, y)
    }
}

#[target_feature(enable = "avx2")]
unsafe fn conv_avx2(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16], transpose: bool) {
    if !(transpose && int_parity::conv_transpose(p, g, x, y)) {
        int_madd::conv(p, g, x, y, transpose)
    }
}
