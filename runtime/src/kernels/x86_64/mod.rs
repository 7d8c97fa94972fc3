//! x86-64: AVX2 with F16C (the 8-lane kernels of `lane8` on `ymm`
//! registers) and AVX-512 (its own kernels on `zmm` registers, which hand
//! the AVX2 ones what they leave). Either is chosen at compile time where
//! the build enables its features, else at run time under `std`.
//!
//! Under `std` the environment variable [`CAP_VAR`] set to `avx2` keeps
//! dispatch off AVX-512 on any CPU, so that the AVX2 kernels, what most
//! x86-64 CPUs run, can be measured and tested on a CPU that has both.

pub(crate) mod avx2;
pub(crate) mod avx512;
mod cap;
pub(crate) mod int_avx2;
mod int_dense;
mod int_lanes;
mod int_madd;
mod int_narrow;
mod int_parity;
mod int_requant;
pub(crate) mod prepared;

pub use self::cap::{avx512_allowed, CAP_VAR};

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
    // The AVX2 integer kernels, the dense layers on `zmm` and the doubling
    // transposed convolutions' multiply-adds fused by AVX-512 VNNI where
    // the CPU has it.
    int_dense: int_avx2::vnni_dense,
    int_conv2d: int_avx2::conv2d,
    int_conv_transpose2d: int_avx2::vnni_conv_transpose2d,
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

#[cfg(test)]
mod tests {
    use core::arch::x86_64::_mm512_storeu_ps;

    use super::*;
    use crate::format::DType;
    use crate::kernels::f16::assert_converts_every_finite_f16;
    use crate::kernels::lane8::Lane8;
    use crate::kernels::Weights;

    /// A vector f16 conversion: `2 * lanes` bytes in, `lanes` floats out.
    type Convert = unsafe fn(&[u8], &mut [f32]);

    /// `vcvtph2ps` on `ymm` (F16C) and on `zmm` (AVX-512) agrees with the
    /// reference conversion on every finite f16 (each skipped on a CPU
    /// without its features).
    #[test]
    fn f16_conversion_is_exact_for_every_finite_value() {
        let forms: [(bool, usize, Convert); 2] = [
            (avx2::available(), 8, convert_ymm),
            (avx512::available(), 16, convert_zmm),
        ];
        for (present, lanes, convert) in forms {
            if present {
                // SAFETY: the features are present; `convert` reads
                // `2 * lanes` bytes and writes `lanes` floats, what the
                // buffers hold.
                assert_converts_every_finite_f16(lanes, |bytes, got| unsafe {
                    convert(bytes, got)
                });
            }
        }
    }

    #[target_feature(enable = "avx2,f16c")]
    unsafe fn convert_ymm(bytes: &[u8], out: &mut [f32]) {
        Avx::load_f16(bytes.as_ptr()).store(out.as_mut_ptr())
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn convert_zmm(bytes: &[u8], out: &mut [f32]) {
        let w = Weights::new(bytes, DType::F16);
        _mm512_storeu_ps(out.as_mut_ptr(), avx512::load_w(&w, 0, 16))
    }
}
