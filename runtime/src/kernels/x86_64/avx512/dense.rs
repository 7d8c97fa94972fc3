//! AVX-512 dense layers: sixteen rows at a time, with the weights as
//! stored or as [`prepare_dense`] reordered them (see the parent module).

use core::arch::x86_64::*;

use super::{available, load_w, transpose16};
use crate::format::DType;
use crate::kernels::lane8;
use crate::kernels::x86_64::avx2::Avx;
use crate::kernels::{dense_fits, Weights, LANES};

/// Every full block of 16 rows.
///
/// # Safety
///
/// The features are present and `dense_fits(w, b, x.len(), y.len())`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dense_512(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let blocks = y.len() / 16;
    for blk in 0..blocks {
        rows16(&w, &b, x, y, blk * 16);
    }
}

/// Rows `first..first + 16`.
///
/// # Safety
///
/// The features are present, `dense_fits(w, b, x.len(), y.len())` holds
/// and `first + 16 <= y.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn rows16(w: &Weights<'_>, b: &Weights<'_>, x: &[f32], y: &mut [f32], first: usize) {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let xp = x.as_ptr();
    let mut acc = [_mm512_setzero_ps(); 16];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 <= full <= x.len(); row `first + r` holds elements
        // `(first + r) * n..` + n of `w`, inside the checked length.
        let xv = _mm512_loadu_ps(xp.add(i));
        for (r, a) in acc.iter_mut().enumerate() {
            let wv = load_w(w, (first + r) * n + i, 16);
            *a = _mm512_add_ps(*a, _mm512_mul_ps(wv, xv));
        }
        i += LANES;
    }
    transpose16(&mut acc);
    let mut s = acc[0];
    for a in &acc[1..] {
        s = _mm512_add_ps(s, *a);
    }
    if tail > 0 && (tail > 1 || full > 0) && 16 * n * 4 < i32::MAX as usize {
        s = tail_gathered(w, x, first, s);
    } else if tail > 0 {
        let mut t = [_mm512_setzero_ps(); 16];
        for (r, tv) in t.iter_mut().enumerate() {
            *tv = load_w(w, (first + r) * n + full, tail);
        }
        transpose16(&mut t);
        for (j, tv) in t.iter().enumerate() {
            if j < tail {
                // SAFETY: full + j < n = x.len().
                let xv = _mm512_set1_ps(*xp.add(full + j));
                s = _mm512_add_ps(s, _mm512_mul_ps(*tv, xv));
            }
        }
    }
    s = _mm512_add_ps(s, load_w(b, first, 16));
    // SAFETY: first + 16 <= y.len().
    _mm512_storeu_ps(y.as_mut_ptr().add(first), s);
}

/// `s` plus the tail products of rows `first..first + 16`, column by
/// column: each column is gathered across the sixteen rows (f16 columns two
/// at a time, as the halves of 32-bit words, every word inside its row).
///
/// # Safety
///
/// As for [`rows16`]; the tail is not empty, `n > 1` and `16 * n * 4`
/// fits an `i32`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn tail_gathered(w: &Weights<'_>, x: &[f32], first: usize, mut s: __m512) -> __m512 {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let size = w.dtype().size();
    let rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((n * size) as i32),
    );
    // SAFETY: the block's rows start here.
    let p = w.bytes().as_ptr().add(first * n * size);
    let mut add = |j: usize, col: __m512| {
        // SAFETY: j < tail, so full + j < n = x.len().
        let xv = _mm512_set1_ps(*x.as_ptr().add(full + j));
        s = _mm512_add_ps(s, _mm512_mul_ps(col, xv));
    };
    match w.dtype() {
        DType::F16 => {
            let mut j = 0;
            while j < tail {
                // Columns j and j + 1, or for a last odd column the word
                // that ends with it (full + j >= 1 as n > 1).
                let pair = j + 1 < tail;
                let at = if pair { full + j } else { full + j - 1 };
                let off = _mm512_add_epi32(rows, _mm512_set1_epi32((at * 2) as i32));
                // SAFETY: every word read holds elements `at` and `at + 1`
                // of a row of the block, inside `w`.
                let v = _mm512_i32gather_epi32::<1>(off, p.cast());
                let lo = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
                let hi = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(v)));
                if pair {
                    add(j, lo);
                    add(j + 1, hi);
                } else {
                    add(j, hi);
                }
                j += 2;
            }
        }
        DType::F32 => {
            for j in 0..tail {
                let off = _mm512_add_epi32(rows, _mm512_set1_epi32(((full + j) * 4) as i32));
                // SAFETY: element `full + j` of each row of the block.
                add(j, _mm512_i32gather_ps::<1>(off, p.cast()));
            }
        }
        // Integer weights: `dense_fits` rejected them.
        DType::I8 | DType::I16 | DType::I32 => {}
    }
    s
}

/// Rows at least this long run the AVX2 kernel: the finish is then a few
/// per cent of a row, and reading four rows at once (rather than sixteen)
/// streams large weight matrices from memory slightly faster.
const LONG: usize = 1024;

/// Dense layer (see the module docs of `kernels` for the order); the AVX2
/// kernel for the last rows (fewer than 16), rows of `LONG` inputs or
/// more, and where the CPU lacks AVX-512.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !available() {
        return lane8::dense::<Avx>(w, b, x, y);
    }
    let n = x.len();
    if n >= LONG {
        return lane8::dense::<Avx>(w, b, x, y);
    }
    if !dense_fits(&w, &b, n, y.len()) {
        return;
    }
    // SAFETY: the features are present and the sizes checked.
    unsafe { dense_512(w, b, x, y) };
    last_rows(w, b, x, y);
}

/// The rows after the last full block of 16, which the AVX2 kernel runs.
fn last_rows(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let done = y.len() - y.len() % 16;
    if done < y.len() {
        let rest = y.len() - done;
        lane8::dense::<Avx>(
            w.slice(done * n, rest * n),
            b.slice(done, rest),
            x,
            &mut y[done..],
        );
    }
}

/// f32 slots [`prepare_dense`] fills for a dense layer: its full blocks of
/// 16 rows as f16, `[block][input][row]`, two f16 per slot. 0 for f32
/// weights (their f32 copy would outgrow L2 and gain nothing) and where
/// this CPU lacks AVX-512.
pub fn dense_prepared_len(w: &Weights<'_>, n_in: usize, n_out: usize) -> usize {
    if !available() || w.dtype() != DType::F16 {
        return 0;
    }
    (n_out / 16).saturating_mul(n_in).saturating_mul(8)
}

/// Writes a dense layer's f16 weights in the order [`dense_prepared`]
/// reads them: for every block of 16 rows, input by input, the 16 rows'
/// weights side by side. False, with nothing written, where there is
/// nothing to prepare or `w` or `dst` is too short.
pub fn prepare_dense(w: Weights<'_>, n_in: usize, n_out: usize, dst: &mut [f32]) -> bool {
    let n = dense_prepared_len(&w, n_in, n_out);
    let src = w.bytes();
    if n == 0 || dst.len() < n || n_in.saturating_mul(n_out).saturating_mul(2) > src.len() {
        return false;
    }
    let half = |row: usize, i: usize| {
        let at = 2 * (row * n_in + i);
        u32::from(u16::from_le_bytes([src[at], src[at + 1]]))
    };
    for (blk, out) in dst[..n].chunks_exact_mut(n_in * 8).enumerate() {
        for (i, pairs) in out.chunks_exact_mut(8).enumerate() {
            for (p, slot) in pairs.iter_mut().enumerate() {
                let r = blk * 16 + 2 * p;
                // The bits travel unchanged: f32 moves never touch them.
                *slot = f32::from_bits(half(r, i) | half(r + 1, i) << 16);
            }
        }
    }
    true
}

/// Dense layer reading the weights [`prepare_dense`] wrote to `pre`: each
/// register holds one partial sum of 16 rows, so the sums need no
/// transposition and every weight load is one contiguous 32-byte read.
/// Rows past the last full block, and every row where `pre` is shorter
/// than [`dense_prepared_len`], run [`dense`](crate::kernels::dense); the
/// bits are the same.
pub fn dense_prepared(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    let n = dense_prepared_len(&w, x.len(), y.len());
    if n == 0 || pre.len() < n {
        return dense(w, b, x, y);
    }
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    // SAFETY: the features are present (n > 0), the sizes checked and
    // `pre` holds every full block.
    unsafe { dense_prepared_512(b, x, y, pre) };
    last_rows(w, b, x, y);
}

/// # Safety
///
/// The features are present, `b` holds `y.len()` elements and `pre`
/// `(y.len() / 16) * x.len() * 8`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dense_prepared_512(b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let xp = x.as_ptr();
    let row = |p: *const u8| _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
    for blk in 0..y.len() / 16 {
        // SAFETY (loads): input i of the block is 32 bytes at `wp + 32 i`.
        let wp = pre.as_ptr().add(blk * n * 8).cast::<u8>();
        let mut acc = [_mm512_setzero_ps(); 16];
        let mut i = 0;
        while i < full {
            for (j, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*xp.add(i + j));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(row(wp.add(32 * (i + j))), xv));
            }
            i += LANES;
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s = _mm512_add_ps(s, *a);
        }
        for i in full..n {
            let xv = _mm512_set1_ps(*xp.add(i));
            s = _mm512_add_ps(s, _mm512_mul_ps(row(wp.add(32 * i)), xv));
        }
        s = _mm512_add_ps(s, load_w(&b, blk * 16, 16));
        _mm512_storeu_ps(y.as_mut_ptr().add(blk * 16), s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .flat_map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = ((s >> 8) as f32 / 16_777_216.0 - 0.5) * 0.2;
                half::f16::from_f32(v).to_bits().to_le_bytes()
            })
            .collect()
    }

    /// The reordered weights give [`dense`]'s bits: full blocks and a rest
    /// of rows, inputs below, at and above a multiple of 16, long rows.
    #[test]
    fn prepared_dense_equals_dense() {
        if !available() {
            return;
        }
        for (n_in, n_out) in [(1, 16), (15, 33), (16, 16), (17, 47), (100, 64), (1030, 20)] {
            let (wb, bb) = (f16_bytes(n_in * n_out, 1), f16_bytes(n_out, 2));
            let (w, b) = (Weights::new(&wb, DType::F16), Weights::new(&bb, DType::F16));
            let x: Vec<f32> = (0..n_in).map(|i| (i as f32 * 0.37).sin()).collect();
            let n = dense_prepared_len(&w, n_in, n_out);
            assert_eq!(n, (n_out / 16) * n_in * 8);
            let mut pre = vec![f32::NAN; n];
            assert!(prepare_dense(w, n_in, n_out, &mut pre));
            let (mut want, mut got) = (vec![0.0; n_out], vec![0.0; n_out]);
            dense(w, b, &x, &mut want);
            dense_prepared(w, b, &x, &mut got, &pre);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&want), bits(&got), "{n_in} -> {n_out}");
        }
    }

    /// Nothing is written for f32 weights, a short buffer or short weights,
    /// and a short buffer at run time means the unprepared kernel.
    #[test]
    fn prepare_dense_refuses_what_it_cannot_fill() {
        if !available() {
            return;
        }
        let wb = f16_bytes(32 * 20, 3);
        let w = Weights::new(&wb, DType::F16);
        let mut dst = vec![1.0f32; 2 * 20 * 8];
        assert!(!prepare_dense(w, 20, 32, &mut dst[..2 * 20 * 8 - 1]));
        assert!(!prepare_dense(w.slice(0, 32 * 20 - 1), 20, 32, &mut dst));
        assert!(dst.iter().all(|&v| v == 1.0));
        let f32_bytes = vec![0u8; 32 * 20 * 4];
        assert_eq!(
            dense_prepared_len(&Weights::new(&f32_bytes, DType::F32), 20, 32),
            0
        );
        let bb = f16_bytes(32, 4);
        let b = Weights::new(&bb, DType::F16);
        let x = vec![0.5f32; 20];
        let (mut want, mut got) = (vec![0.0; 32], vec![0.0; 32]);
        dense(w, b, &x, &mut want);
        dense_prepared(w, b, &x, &mut got, &dst[..7]);
        assert_eq!(want, got);
    }
}
