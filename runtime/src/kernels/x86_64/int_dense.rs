//! The integer dense layer on AVX2, eight rows at a time: each row's int8
//! weights widened (`VPMOVSXBW`) and multiplied with the input, 16 at a
//! time, by `VPMADDWD` into its own register, then the eight registers
//! summed across lanes together (three rounds of `VPHADDD`), so that one
//! register holds the eight rows' sums and [`Requant8`] requantises them at
//! once. Rows one at a time, as LLVM vectorises the portable kernel, end
//! each row with a reduction and a scalar requantisation, which cost as
//! much as the products in the short rows of a generator's first layer
//! (100 inputs). The eight rows go side by side, each block of the input
//! loaded once for the eight. Where the CPU has AVX-512 BW and VNNI
//! (`VNNI`), blocks are 32 inputs on `zmm` registers, each multiply-add one
//! `VPDPWSSD`, and the two halves of each sum added before the reduction.
//! The input is copied, zero-padded to a whole block, so that a row's last
//! partial block adds nothing from past its end. Integer sums are exact,
//! so the result equals the plain kernels bit for bit.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_setzero_si256, _mm512_castsi512_si256, _mm512_cvtepi8_epi16, _mm512_dpwssd_epi32,
    _mm512_extracti64x4_epi64, _mm512_loadu_si512, _mm512_setzero_si512, _mm_loadu_si128,
};

use super::int_lanes::sum_lanes;
use super::int_requant::Requant8;
use crate::kernels::integer::{int_dense_fits, IntParams, Requant};
use core::arch::x86_64::__m128i;

/// Rows per group: the lanes of the summed register.
const ROWS: usize = 8;
/// Inputs per `VPMADDWD`.
const BLOCK: usize = 16;
/// Inputs per `VPDPWSSD` on `zmm`.
const BLOCK512: usize = 32;
/// Room for the padded input copy, in int16 (8 KiB).
const X_ROOM: usize = 4096;

/// `y[o] = requant(bias[o] + sum_i w[o, i] * x[i])`, if the input fits the
/// copy (else `false`, having written nothing); `VNNI`: on `zmm` registers
/// by `VPDPWSSD`.
///
/// # Safety
/// The CPU must have AVX2, and with `VNNI` AVX-512 F, BW and VNNI; the
/// caller enables them.
#[inline(always)]
pub(crate) unsafe fn dense<const VNNI: bool>(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) -> bool {
    let n = x.len();
    if n == 0 || n > X_ROOM || !int_dense_fits(p, n, y.len()) {
        return false;
    }
    let mut xp = [0i16; X_ROOM];
    xp[..n].copy_from_slice(x);
    let (blocks, blocks512) = (n.div_ceil(BLOCK), n.div_ceil(BLOCK512));
    let w = p.weights();
    let last = y.len() - 1;
    for o0 in (0..y.len()).step_by(ROWS) {
        // A last group short of 8 repeats its last row.
        let at: [usize; ROWS] = core::array::from_fn(|r| (o0 + r).min(last) * n);
        let acc = if VNNI && at[ROWS - 1] + blocks512 * BLOCK512 <= w.len() {
            rows512(w, &at, &xp, blocks512)
        } else if at[ROWS - 1] + blocks * BLOCK <= w.len() {
            rows(w, &at, &xp, blocks)
        } else {
            let mut acc = [_mm256_setzero_si256(); ROWS];
            for (a, &at) in acc.iter_mut().zip(&at) {
                *a = row(w, at, &xp, blocks);
            }
            acc
        };
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

/// The lane-wise products of the eight rows at `w[at[r]..]` with `xp`, over
/// `blocks` blocks of 16, the rows side by side: each block of the input
/// is loaded once for the eight, and eight independent sums keep the
/// multipliers busy where one row's seven blocks would not.
///
/// # Safety
/// The CPU must have AVX2; every row's blocks lie within `w` (the last
/// row's end at most `w.len()`, the rows in increasing order) and
/// `blocks * 16` inputs within `xp`.
#[inline(always)]
unsafe fn rows(w: &[i8], at: &[usize; ROWS], xp: &[i16; X_ROOM], blocks: usize) -> [__m256i; ROWS] {
    let mut acc = [_mm256_setzero_si256(); ROWS];
    let (xb, wb) = (xp.as_ptr(), w.as_ptr());
    for b in 0..blocks {
        let xv = _mm256_loadu_si256(xb.add(b * BLOCK).cast());
        for (a, &at) in acc.iter_mut().zip(at) {
            let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.add(at + b * BLOCK).cast()));
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, xv));
        }
    }
    acc
}

/// [`rows`] on `zmm` registers, blocks of 32 by `VPDPWSSD`, each sum's two
/// halves added at the end.
///
/// # Safety
/// As [`rows`] with blocks of 32; the CPU must have AVX-512 F, BW and VNNI.
#[inline(always)]
unsafe fn rows512(
    w: &[i8],
    at: &[usize; ROWS],
    xp: &[i16; X_ROOM],
    blocks: usize,
) -> [__m256i; ROWS] {
    let mut acc = [_mm512_setzero_si512(); ROWS];
    let (xb, wb) = (xp.as_ptr(), w.as_ptr());
    for b in 0..blocks {
        let xv = _mm512_loadu_si512(xb.add(b * BLOCK512).cast());
        for (a, &at) in acc.iter_mut().zip(at) {
            let wv = _mm512_cvtepi8_epi16(_mm256_loadu_si256(wb.add(at + b * BLOCK512).cast()));
            *a = _mm512_dpwssd_epi32(*a, wv, xv);
        }
    }
    // A loop, not `map`: a closure would not inherit the enabled features,
    // and its intrinsics would become calls.
    let mut sums = [_mm256_setzero_si256(); ROWS];
    for (s, a) in sums.iter_mut().zip(acc) {
        *s = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a));
    }
    sums
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
