//! The requantisation of eight 32-bit sums at once on AVX2, equal to
//! [`Requant::apply`] lane by lane: `acc * m` as a 64-bit product
//! (`VPMULDQ`, even and odd lanes apart), the rounding constant added, an
//! arithmetic shift by each lane's own count (AVX2 shifts 64-bit lanes only
//! logically, so negative values are complemented around it) and the
//! saturation to 16 bits, about twenty instructions for eight outputs where
//! the scalar form takes about eight for one.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi64, _mm256_and_si256, _mm256_andnot_si256, _mm256_blend_epi32,
    _mm256_blendv_epi8, _mm256_cmpgt_epi32, _mm256_cmpgt_epi64, _mm256_loadu_si256,
    _mm256_mul_epi32, _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_setzero_si256,
    _mm256_slli_epi64, _mm256_sllv_epi64, _mm256_srli_epi32, _mm256_srli_epi64, _mm256_srlv_epi64,
    _mm256_sub_epi32, _mm256_sub_epi64, _mm256_xor_si256,
};

use crate::format::DType;
use crate::kernels::integer::{IntParams, Requant};
use crate::kernels::Weights;

/// Eight channels' requantisations, as 64-bit lanes: the even channels'
/// (0, 2, 4, 6) and the odd ones'.
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    m: [__m256i; 2],
    round: [__m256i; 2],
    shift: [__m256i; 2],
}

impl Requant8 {
    /// Lane `j` requantises as `rq[j]`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn new(rq: &[Requant; 8]) -> Requant8 {
        let (mut m, mut round, mut shift) = ([[0i64; 4]; 2], [[0i64; 4]; 2], [[0i64; 4]; 2]);
        for (j, r) in rq.iter().enumerate() {
            // What `Requant::apply` does with the shift.
            let sh = r.sh.clamp(1, 62);
            let (half, lane) = (j % 2, j / 2);
            m[half][lane] = r.m;
            round[half][lane] = 1i64 << (sh - 1);
            shift[half][lane] = i64::from(sh);
        }
        let load = |v: &[[i64; 4]; 2]| {
            // SAFETY: each row holds the 4 i64 of a register.
            [0, 1].map(|h| unsafe { _mm256_loadu_si256(v[h].as_ptr().cast()) })
        };
        Requant8 {
            m: load(&m),
            round: load(&round),
            shift: load(&shift),
        }
    }

    /// Lane `j` requantised as channel `o0 + j` of `p` ([`IntParams::requant`]),
    /// its bias in lane `j` of the second value; `None` if `p` holds fewer
    /// than `o0 + 8` channels. The eight scales are decoded at once: the
    /// significand, and the shift from the exponent field, both zeroed
    /// (the sum mapped to 0) where the scale is not normal and positive or
    /// the shift leaves `1 ..= 62`, as in `requant_params`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn channels(p: &IntParams<'_>, o0: usize) -> Option<(Requant8, __m256i)> {
        let load = |w: &Weights<'_>, dtype| {
            let bytes = w
                .bytes()
                .get(o0 * 4..o0 * 4 + 32)
                .filter(|_| w.dtype() == dtype)?;
            // SAFETY: 32 bytes (sliced, so checked); AVX2 is present.
            Some(unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) })
        };
        let (bits, bias) = (load(&p.scale, DType::F32)?, load(&p.bias, DType::I32)?);
        let e = _mm256_srli_epi32::<23>(bits);
        let base = 150 + i64::from(p.f_in) - i64::from(p.f_out);
        let sh = _mm256_sub_epi32(_mm256_set1_epi32(base.clamp(-1024, 1024) as i32), e);
        let in_range = |v: __m256i, lo: i32, hi: i32| {
            _mm256_andnot_si256(
                _mm256_cmpgt_epi32(_mm256_set1_epi32(lo), v),
                _mm256_cmpgt_epi32(_mm256_set1_epi32(hi + 1), v),
            )
        };
        // The sign bit is part of `e`, so a negative scale leaves 1 ..= 254.
        let valid = _mm256_and_si256(in_range(e, 1, 254), in_range(sh, 1, 62));
        let m = _mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x7f_ffff)),
            _mm256_set1_epi32(0x80_0000),
        );
        let m = _mm256_and_si256(m, valid);
        let one = _mm256_set1_epi32(1);
        let sh = _mm256_blendv_epi8(one, sh, valid);
        let low = _mm256_set1_epi64x(0xffff_ffff);
        let (m, sh) = (
            [_mm256_and_si256(m, low), _mm256_srli_epi64::<32>(m)],
            [_mm256_and_si256(sh, low), _mm256_srli_epi64::<32>(sh)],
        );
        let round = |s: __m256i| {
            _mm256_sllv_epi64(
                _mm256_set1_epi64x(1),
                _mm256_sub_epi64(s, _mm256_set1_epi64x(1)),
            )
        };
        let rq = Requant8 {
            m,
            round: [round(sh[0]), round(sh[1])],
            shift: sh,
        };
        Some((rq, bias))
    }

    /// Every lane requantised as `rq`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn splat(rq: Requant) -> Requant8 {
        Requant8::new(&[rq; 8])
    }

    /// The eight sums of `acc` requantised: 32-bit lanes in `-32768 ..=
    /// 32767`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn apply(&self, acc: __m256i) -> __m256i {
        let even = self.half(acc, 0);
        let odd = self.half(_mm256_srli_epi64::<32>(acc), 1);
        _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
    }

    /// The requantised low 32 bits of each 64-bit lane of `acc`, with the
    /// channels of half `h`, as 64-bit values.
    #[inline(always)]
    unsafe fn half(&self, acc: __m256i, h: usize) -> __m256i {
        // |acc * m| < 2^55 and the rounding constant is at most 2^61: no
        // 64-bit lane overflows, as in the scalar form.
        let v = _mm256_add_epi64(_mm256_mul_epi32(acc, self.m[h]), self.round[h]);
        let neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
        // An arithmetic shift: `!((!v) >> s)` where `v` is negative.
        let v = _mm256_xor_si256(
            _mm256_srlv_epi64(_mm256_xor_si256(v, neg), self.shift[h]),
            neg,
        );
        let (hi, lo) = (
            _mm256_set1_epi64x(i64::from(i16::MAX)),
            _mm256_set1_epi64x(i64::from(i16::MIN)),
        );
        let v = _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
        _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v))
    }
}
