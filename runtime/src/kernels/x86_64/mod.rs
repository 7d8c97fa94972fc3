//! x86-64: AVX2 with F16C (the 8-lane kernels of `lane8` on `ymm`
//! registers) and AVX-512 (its own kernels on `zmm` registers, which hand
//! the AVX2 ones what they leave). Either is chosen at compile time where
//! the build enables its features, else at run time under `std`.

pub(crate) mod avx2;
pub(crate) mod avx512;

use self::avx2::Avx;
use super::{lane8, ConvGeom, KernelSet, Weights};

/// The AVX2 + F16C kernels (the portable ones where the CPU lacks them).
pub const AVX2: KernelSet = KernelSet {
    name: "x86-64 AVX2+F16C",
    dense: lane8::dense::<Avx>,
    conv2d: lane8::conv2d::<Avx>,
    conv_transpose2d: lane8::conv_transpose2d::<Avx>,
};

/// The AVX-512 kernels (the AVX2 ones where the CPU lacks AVX-512).
pub const AVX512: KernelSet = KernelSet {
    name: "x86-64 AVX-512",
    dense: avx512::dense,
    conv2d: avx512::conv2d,
    conv_transpose2d: avx512::conv_transpose2d,
};

/// The sets this CPU runs, slowest first.
pub(crate) fn available() -> [Option<KernelSet>; 2] {
    [
        avx2::available().then_some(AVX2),
        avx512::available().then_some(AVX512),
    ]
}

/// Dense layer with the fastest kernel this CPU has.
#[inline]
pub(crate) fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if avx512::available() {
        return avx512::dense(w, b, x, y);
    }
    lane8::dense::<Avx>(w, b, x, y)
}

/// Either convolution with the fastest kernel this CPU has.
#[inline]
pub(crate) fn conv(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
) {
    if avx512::available() {
        return avx512::conv(w, b, g, x, y, transpose, None);
    }
    lane8::conv::<Avx>(w, b, g, x, y, transpose)
}
