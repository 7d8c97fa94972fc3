//! x86-64 kernels with AVX2 and F16C: f16 weights are converted eight at a
//! time by `vcvtph2ps`, and every multiply-accumulate is a `vmulps` then a
//! `vaddps` (never an FMA), so the results equal the plain kernels bit for
//! bit. The loops themselves are shared with NEON (module `lane8`); this
//! module only names the instructions.
//!
//! The kernels are chosen at compile time when the build enables both
//! features (`-C target-cpu=native`, `-C target-feature=+avx2,+f16c`), and
//! otherwise, under the `std` feature, at run time from the CPU's
//! identification, which `std` caches after the first query. A `no_std`
//! build for baseline x86-64 uses the portable kernels.

use core::arch::x86_64::*;

use crate::kernels::lane8::{dense_prepared_body, lane8_kernels, Lane8};
use crate::kernels::{IntConvFn, IntDenseFn, Weights};

/// Whether this CPU runs the kernels of this module.
#[inline]
pub(crate) fn available() -> bool {
    if cfg!(all(target_feature = "avx2", target_feature = "f16c")) {
        return true;
    }
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(feature = "std"))]
    {
        false
    }
}

/// An AVX register of eight f32.
#[derive(Clone, Copy)]
pub(crate) struct Avx(__m256);

// SAFETY: every method needs AVX2 and F16C, which the entry points of
// `lane8` establish with `available()` before calling in.
unsafe impl Lane8 for Avx {
    #[inline]
    fn available() -> bool {
        available()
    }
    const INT_DENSE: IntDenseFn = super::int_avx2::dense;
    const INT_CONV2D: IntConvFn = super::int_avx2::conv2d;
    const INT_CONV_TRANSPOSE2D: IntConvFn = super::int_avx2::conv_transpose2d;
    lane8_kernels!("avx2,f16c");
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn zero() -> Self {
        Avx(_mm256_setzero_ps())
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load(p: *const f32) -> Self {
        Avx(_mm256_loadu_ps(p))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_f16(p: *const u8) -> Self {
        Avx(_mm256_cvtph_ps(_mm_loadu_si128(p.cast())))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load_f32_bytes(p: *const u8) -> Self {
        Avx(_mm256_loadu_ps(p.cast()))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn splat(p: *const f32) -> Self {
        Avx(_mm256_broadcast_ss(&*p))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn add_mul(self, a: Self, b: Self) -> Self {
        Avx(_mm256_add_ps(self.0, _mm256_mul_ps(a.0, b.0)))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn add(self, a: Self) -> Self {
        Avx(_mm256_add_ps(self.0, a.0))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn or(self, bits: Self) -> Self {
        Avx(_mm256_or_ps(self.0, bits.0))
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn transpose8(r: [Self; 8]) -> [Self; 8] {
        let r = r.map(|v| v.0);
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xee>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xee>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xee>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xee>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
        .map(Avx)
    }
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self.0)
    }
}

/// The 8-lane dense layer on the weights `lane8::dense::prepare` wrote to
/// `pre`.
///
/// # Safety
///
/// AVX2 and F16C are present, `dense_fits(w, b, x.len(), y.len())` holds
/// and `pre` holds the prepared length of these weights, as prepared.
#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dense_prepared(
    w: Weights<'_>,
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    pre: &[f32],
) {
    dense_prepared_body::<Avx>(w, b, x, y, pre)
}
