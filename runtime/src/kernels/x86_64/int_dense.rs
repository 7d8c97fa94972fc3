//! The integer dense layer on AVX2, eight rows at a time: each row's int8
//! weights widened (`VPMOVSXBW`) and multiplied with the input, 16 at a
//! time, by `VPMADDWD` into its own register, then the eight registers
//! summed across lanes together (three rounds of `VPHADDD`), so that one
//! register holds the eight rows' sums and [`Requant8`] requantises them at
//! once. Rows one at a time, as LLVM vectorises the portable kernel, end
//! each row with a reduction and a scalar requantisation, which cost as
//! much as the products in the short rows of a generator's first layer
//! (100 inputs). The input is copied, zero-padded to a multiple of 16, so
//! that a row's last partial block adds nothing from past its end. Integer
//! sums are exact, so the result equals the plain kernels bit for bit.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_setzero_si256, _mm_loadu_si128,
};

use super::int_lanes::sum_lanes;
use super::int_requant::Requant8;
use crate::kernels::integer::{int_dense_fits, IntParams, Requant};
use core::arch::x86_64::__m128i;

/// Rows per group: the lanes of the summed register.
const ROWS: usize = 8;
/// Inputs per `VPMADDWD`.
const BLOCK: usize = 16;
/// Room for the padded input copy, in int16 (8 KiB).
const X_ROOM: usize = 4096;

/// `y[o] = requant(bias[o] + sum_i w[o, i] * x[i])`, if the input fits the
/// copy (else `false`, having written nothing).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) -> bool {
    let n = x.len();
    if n == 0 || n > X_ROOM || !int_dense_fits(p, n, y.len()) {
        return false;
    }
    let mut xp = [0i16; X_ROOM];
    xp[..n].copy_from_slice(x);
    let blocks = n.div_ceil(BLOCK);
    let w = p.weights();
    let last = y.len() - 1;
    for o0 in (0..y.len()).step_by(ROWS) {
        let mut acc = [_mm256_setzero_si256(); ROWS];
        for (r, a) in acc.iter_mut().enumerate() {
            // A last group short of 8 repeats its last row.
            *a = row(w, (o0 + r).min(last) * n, &xp, blocks);
        }
        let (rq, bias) = match Requant8::channels(p, o0) {
            Some(c) => c,
            None => tail_channels(p, o0, last),
        };
        let sums = _mm256_add_epi32(sum_lanes(&acc), bias);
        // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
        let v: [i32; ROWS] = core::mem::transmute(rq.apply(sums));
        for (d, &v) in y[o0..].iter_mut().zip(&v) {
            *d = v as i16;
        }
    }
    true
}

/// The requantisations and biases of rows `o0..` up to `last`, the last
/// repeated.
#[inline(always)]
unsafe fn tail_channels(p: &IntParams<'_>, o0: usize, last: usize) -> (Requant8, __m256i) {
    let (mut bias, mut rq) = ([0i32; ROWS], [Requant { m: 0, sh: 1 }; ROWS]);
    for (r, (b, q)) in bias.iter_mut().zip(&mut rq).enumerate() {
        let o = (o0 + r).min(last);
        (*b, *q) = (p.bias(o), p.requant(o));
    }
    (Requant8::new(&rq), _mm256_loadu_si256(bias.as_ptr().cast()))
}

/// The lane-wise products of the row at `w[at..]` with `xp`, over `blocks`
/// blocks of 16.
#[inline(always)]
unsafe fn row(w: &[i8], at: usize, xp: &[i16; X_ROOM], blocks: usize) -> __m256i {
    let mut s = _mm256_setzero_si256();
    let xb = xp.as_ptr();
    if at + blocks * BLOCK <= w.len() {
        let wb = w.as_ptr().add(at);
        for b in 0..blocks {
            // SAFETY: the row's blocks lie within `w` (checked above) and
            // `blocks * 16` inputs within the copy (`n <= X_ROOM`, a
            // multiple of 16).
            let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.add(b * BLOCK).cast()));
            let xv = _mm256_loadu_si256(xb.add(b * BLOCK).cast());
            s = _mm256_add_epi32(s, _mm256_madd_epi16(wv, xv));
        }
    } else {
        for b in 0..blocks {
            let wv = _mm256_cvtepi8_epi16(load16(w, at + b * BLOCK));
            // SAFETY: as above.
            let xv = _mm256_loadu_si256(xb.add(b * BLOCK).cast());
            s = _mm256_add_epi32(s, _mm256_madd_epi16(wv, xv));
        }
    }
    s
}

/// The 16 weights from `w[at]`, those past the end of `w` zero (past the
/// row, they meet the input copy's zeros).
#[inline(always)]
unsafe fn load16(w: &[i8], at: usize) -> __m128i {
    match w.get(at..at + BLOCK) {
        Some(v) => _mm_loadu_si128(v.as_ptr().cast()),
        None => {
            let mut tail = [0i8; BLOCK];
            let rest = w.get(at..).unwrap_or(&[]);
            tail[..rest.len()].copy_from_slice(rest);
            _mm_loadu_si128(tail.as_ptr().cast())
        }
    }
}
