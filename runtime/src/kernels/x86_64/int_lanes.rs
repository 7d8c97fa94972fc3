//! Register-level steps the AVX2 integer kernels share: the multiply-add of
//! int16 pairs into 32-bit lanes, fused into one `VPDPWSSD` where the CPU
//! has AVX-512 VNNI (on `ymm` registers, with VL), and the sums across
//! lanes of eight registers at once.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_dpwssd_epi32, _mm256_hadd_epi32, _mm256_madd_epi16,
    _mm256_permute2x128_si256,
};

/// `acc + madd(a, b)`: each 32-bit lane plus the two products of its int16
/// pairs; with `VNNI`, one `VPDPWSSD` (the same wrapping sum) instead of
/// `VPMADDWD` + `VPADDD`.
///
/// # Safety
/// The CPU must have AVX2, and with `VNNI` AVX-512 VNNI and VL, enabled
/// in the caller.
#[inline(always)]
pub(super) unsafe fn madd_add<const VNNI: bool>(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    if VNNI {
        _mm256_dpwssd_epi32(acc, a, b)
    } else {
        _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
    }
}

/// Lane `k` of the result: the sum of `acc[k]`'s eight lanes.
#[inline(always)]
pub(super) unsafe fn sum_lanes(acc: &[__m256i; 8]) -> __m256i {
    // Each 128-bit half: [s0, s1, s2, s3] of its half of acc[0..4] ...
    let lo = _mm256_hadd_epi32(
        _mm256_hadd_epi32(acc[0], acc[1]),
        _mm256_hadd_epi32(acc[2], acc[3]),
    );
    let hi = _mm256_hadd_epi32(
        _mm256_hadd_epi32(acc[4], acc[5]),
        _mm256_hadd_epi32(acc[6], acc[7]),
    );
    // ... and the two halves of each added.
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(lo, hi),
        _mm256_permute2x128_si256::<0x31>(lo, hi),
    )
}
