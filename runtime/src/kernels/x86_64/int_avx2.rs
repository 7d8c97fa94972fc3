//! The integer kernels (version 2) on AVX2: the dense layer of module
//! `int_dense` (eight rows at a time; the portable one beyond its input
//! copy), the doubling transposed convolutions of module `int_parity`
//! (four parity classes) and the other convolutions of module `int_madd`
//! (input channel pairs by `VPMADDWD`). The AVX-512 set runs the same
//! kernels where the CPU has AVX-512 VNNI, the doubling convolutions'
//! multiply-adds fused into `VPDPWSSD` ([`vnni_conv_transpose2d`]) and the
//! dense layer on `zmm` registers ([`vnni_dense`]).
//! Integer sums are exact, so any vector order equals the plain kernels.
//! Chosen like the float kernels: at compile time where the build enables
//! the features, else at run time under `std`, else the portable kernels.

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

/// Whether this CPU has AVX-512 VNNI, VL and BW on top of AVX2 (every CPU
/// with the first has the others).
#[inline]
fn vnni_available() -> bool {
    if cfg!(all(
        target_feature = "avx2",
        target_feature = "avx512vl",
        target_feature = "avx512bw",
        target_feature = "avx512vnni"
    )) {
        return true;
    }
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(feature = "std"))]
    {
        false
    }
}

/// Integer dense layer, on `zmm` registers by `VPDPWSSD` where the CPU has
/// AVX-512 BW and VNNI.
pub fn vnni_dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    if vnni_available() {
        // SAFETY: the CPU has AVX2, AVX-512 F, BW and VNNI (checked above).
        unsafe { dense_vnni(p, x, y) }
    } else {
        dense(p, x, y)
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

/// Integer `conv_transpose2d`, fused multiply-adds in the doubling ones
/// where the CPU has AVX-512 VNNI.
pub fn vnni_conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    if vnni_available() {
        // SAFETY: the CPU has AVX2, AVX-512 VL and VNNI (checked above).
        unsafe { conv_transpose_vnni(p, g, x, y) }
    } else {
        conv(p, g, x, y, true)
    }
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
    if !int_dense::dense::<false>(p, x, y) {
        portable::dense_body(p, x, y)
    }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dense_vnni(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    if !int_dense::dense::<true>(p, x, y) {
        portable::dense_body(p, x, y)
    }
}

#[target_feature(enable = "avx2")]
unsafe fn conv_avx2(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16], transpose: bool) {
    if !(transpose && int_parity::conv_transpose::<false>(p, g, x, y)) {
        int_madd::conv(p, g, x, y, transpose)
    }
}

#[target_feature(enable = "avx2,avx512vl,avx512vnni")]
unsafe fn conv_transpose_vnni(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    if !int_parity::conv_transpose::<true>(p, g, x, y) {
        int_madd::conv(p, g, x, y, true)
    }
}
