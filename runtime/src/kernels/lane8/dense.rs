//! Dense layers over 8-lane vectors (see the parent module for the order
//! of the sums).

use super::Lane8;
use crate::format::DType;
use crate::kernels::f16::weight;
use crate::kernels::{Weights, LANES};

/// Rows per dense block: 2 vectors each, 8 accumulators in all, which
/// leaves registers for the input and weight vectors on AVX2 (16 registers).
const ROWS: usize = 4;

/// Dense layer, `dense_fits(w, b, x.len(), y.len())` already checked.
///
/// # Safety
///
/// `V`'s CPU features must be present, and `w`, `b` must hold at least
/// `x.len() * y.len()` and `y.len()` elements.
#[inline(always)]
pub(crate) unsafe fn dense<V: Lane8>(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    match w.dtype() {
        DType::F16 => dense_typed::<V, 2>(w, b, x, y),
        DType::F32 => dense_typed::<V, 4>(w, b, x, y),
    }
}

#[inline(always)]
unsafe fn dense_typed<V: Lane8, const SIZE: usize>(
    w: Weights<'_>,
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
) {
    let n = x.len();
    let layer = Layer {
        w: &w,
        b: &b,
        x,
        n,
        full: n - n % LANES,
    };
    let split8 = y.len() - y.len() % 8;
    let (y8, rest) = y.split_at_mut(split8);
    for (blk, out) in y8.chunks_exact_mut(8).enumerate() {
        layer.rows8::<V, SIZE>(out, blk * 8);
    }
    let split4 = rest.len() - rest.len() % ROWS;
    let (y4, y1) = rest.split_at_mut(split4);
    for (blk, out) in y4.chunks_exact_mut(ROWS).enumerate() {
        layer.rows::<V, SIZE, ROWS>(out, split8 + blk * ROWS);
    }
    for (i, out) in y1.chunks_exact_mut(1).enumerate() {
        layer.rows::<V, SIZE, 1>(out, split8 + split4 + i);
    }
}

/// The operands every block of rows reads: `n` inputs, of which the first
/// `full` run in 16-lane chunks.
struct Layer<'a> {
    w: &'a Weights<'a>,
    b: &'a Weights<'a>,
    x: &'a [f32],
    n: usize,
    full: usize,
}

impl Layer<'_> {
    /// The 16 partial sums of rows `first..first + R` over the whole 16-element
    /// chunks of `x`.
    #[inline(always)]
    unsafe fn sums<V: Lane8, const SIZE: usize, const R: usize>(
        &self,
        first: usize,
    ) -> [[V; 2]; R] {
        let Layer { w, x, n, full, .. } = *self;
        let row_bytes = n * SIZE;
        let wp = w.bytes().as_ptr();
        let xp = x.as_ptr();
        let load = |p: *const u8| {
            if SIZE == 2 {
                V::load_f16(p)
            } else {
                V::load_f32_bytes(p)
            }
        };
        let mut acc = [[V::zero(); 2]; R];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= full <= n = x.len(), and row `first + r` spans
            // bytes `(first + r) * row_bytes..` + row_bytes, inside the
            // `n * y.len()` elements the caller checked.
            let x0 = V::load(xp.add(i));
            let x1 = V::load(xp.add(i + 8));
            for (r, a) in acc.iter_mut().enumerate() {
                let p = wp.add((first + r) * row_bytes + i * SIZE);
                a[0] = a[0].add_mul(load(p), x0);
                a[1] = a[1].add_mul(load(p.add(8 * SIZE)), x1);
            }
            i += LANES;
        }
        acc
    }

    /// Eight output rows: the partial sums of two blocks of four rows are
    /// transposed so that one vector holds lane `j` of all eight rows, and the
    /// left-to-right sum of the 16 lanes, the tail and the bias run eight rows
    /// per vector operation.
    #[inline(always)]
    unsafe fn rows8<V: Lane8, const SIZE: usize>(&self, out: &mut [f32], first: usize) {
        let Layer { w, b, x, n, full } = *self;
        let lo = self.sums::<V, SIZE, ROWS>(first);
        let hi = self.sums::<V, SIZE, ROWS>(first + ROWS);
        let half = |h: usize| core::array::from_fn(|r| if r < 4 { lo[r][h] } else { hi[r - 4][h] });
        let t0 = V::transpose8(half(0));
        let t1 = V::transpose8(half(1));
        let mut s = t0[0];
        for t in t0[1..].iter().chain(&t1) {
            s = s.add(*t);
        }
        let wb = w.bytes();
        for (i, xv) in x.iter().enumerate().skip(full) {
            // Column `i` of the eight rows, as stored, then converted in one
            // vector operation (not element by element in software).
            let mut col = [0u8; 32];
            for (r, c) in col.chunks_exact_mut(SIZE).enumerate() {
                let at = ((first + r) * n + i) * SIZE;
                if let Some(b) = wb.get(at..at + SIZE) {
                    c.copy_from_slice(b);
                }
            }
            // SAFETY: `col` holds 8 elements of SIZE bytes, `xv` is one.
            let wv = if SIZE == 2 {
                V::load_f16(col.as_ptr())
            } else {
                V::load_f32_bytes(col.as_ptr())
            };
            s = s.add_mul(wv, V::splat(xv));
        }
        // SAFETY: `b` holds at least y.len() >= first + 8 elements.
        let bp = b.bytes().as_ptr().add(first * SIZE);
        let bias = if SIZE == 2 {
            V::load_f16(bp)
        } else {
            V::load_f32_bytes(bp)
        };
        let mut res = [0.0f32; 8];
        s.add(bias).store(res.as_mut_ptr());
        out.copy_from_slice(&res[..out.len().min(8)]);
    }

    /// Output rows `first..first + R` into `out` (`R` long).
    #[inline(always)]
    unsafe fn rows<V: Lane8, const SIZE: usize, const R: usize>(
        &self,
        out: &mut [f32],
        first: usize,
    ) {
        let Layer { w, b, x, n, full } = *self;
        let acc = self.sums::<V, SIZE, R>(first);
        let mut lanes = [[0.0f32; LANES]; R];
        for (l, a) in lanes.iter_mut().zip(&acc) {
            // SAFETY: each `l` holds 16 f32.
            a[0].store(l.as_mut_ptr());
            a[1].store(l.as_mut_ptr().add(8));
        }
        // Left to right within each row; rows interleaved.
        let mut s = [0.0f32; R];
        for (s, l) in s.iter_mut().zip(&lanes) {
            *s = l[0];
        }
        for j in 1..LANES {
            for (s, l) in s.iter_mut().zip(&lanes) {
                *s += l[j];
            }
        }
        for (r, (s, o)) in s.iter_mut().zip(out.iter_mut()).enumerate() {
            let row = (first + r) * n;
            for (i, xv) in x.iter().enumerate().skip(full) {
                *s += weight(w, row + i) * xv;
            }
            *o = *s + weight(b, first + r);
        }
    }
}
