//! x86-64: AVX2 with F16C (the 8-lane kernels of `lane8` on `ymm`
//! registers) and AVX-512 (its own kernels on `zmm` registers, which hand
//! the AVX2 ones what they leave). Either is chosen at compile time where
//! the build enables its features, else at run time under `std`.

pub(crate) mod avx2;
pub(crate) mod avx512;

use self::avx2::Avx;
use super::{lane8, KernelSet, PORTABLE};

/// The AVX2 + F16C kernels (the portable ones where the CPU lacks them).
pub const AVX2: KernelSet = lane8::set::<Avx>("x86-64 AVX2+F16C");

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

/// The set this CPU runs fastest.
#[inline]
pub(crate) fn fastest() -> KernelSet {
    if avx512::available() {
        AVX512
    } else if avx2::available() {
        AVX2
    } else {
        PORTABLE
    }
}
