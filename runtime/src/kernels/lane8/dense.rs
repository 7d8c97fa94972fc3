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
        // Integer weights: `dense_fits` rejects them.
        DType::I8 | DType::I16 | DType::I32 => {}
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
        // SAFETY: `b` holds at least y.len() >= first + 8 elements (of its
        // own dtype, which may differ from the weights').
        let bp = b.bytes().as_ptr().add(first * b.dtype().size());
        let bias = match b.dtype() {
            DType::F16 => V::load_f16(bp),
            DType::F32 => V::load_f32_bytes(bp),
            // Integer tensors: the size checks turned them away.
            DType::I8 | DType::I16 | DType::I32 => V::zero(),
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

/// f32 slots [`prepare`] fills for a dense layer: its full blocks of 8 rows
/// as f16, `[block][input][row]`, two f16 per slot. 0 for f32 weights
/// (their f32 copy would outgrow L2 and gain nothing).
#[cfg(target_arch = "x86_64")]
pub(crate) fn prepared_len(w: &Weights<'_>, n_in: usize, n_out: usize) -> usize {
    if w.dtype() != DType::F16 {
        return 0;
    }
    (n_out / 8).saturating_mul(n_in).saturating_mul(4)
}

/// Writes a dense layer's f16 weights in the order [`prepared`] reads
/// them: for every block of 8 rows, input by input, the 8 rows' weights
/// side by side. False, with nothing written, where there is nothing to
/// prepare or `w` or `dst` is too short.
#[cfg(target_arch = "x86_64")]
pub(crate) fn prepare(w: &Weights<'_>, n_in: usize, n_out: usize, dst: &mut [f32]) -> bool {
    let n = prepared_len(w, n_in, n_out);
    let src = w.bytes();
    if n == 0 || dst.len() < n || n_in.saturating_mul(n_out).saturating_mul(2) > src.len() {
        return false;
    }
    let half = |row: usize, i: usize| {
        let at = 2 * (row * n_in + i);
        u32::from(u16::from_le_bytes([src[at], src[at + 1]]))
    };
    for (blk, out) in dst[..n].chunks_exact_mut(n_in * 4).enumerate() {
        for (i, pairs) in out.chunks_exact_mut(4).enumerate() {
            for (p, slot) in pairs.iter_mut().enumerate() {
                let r = blk * 8 + 2 * p;
                // The bits travel unchanged: f32 moves never touch them.
                *slot = f32::from_bits(half(r, i) | half(r + 1, i) << 16);
            }
        }
    }
    true
}

/// Dense layer reading the weights [`prepare`] wrote to `pre`: a vector
/// holds one partial sum of 8 rows, so the sums need no transposition and
/// the tail no gathering. The 16 partial sums run in two halves of 8
/// (each sum alone keeps its order), then add left to right. Rows past the
/// last full block run the kernel on the weights as stored.
///
/// # Safety
///
/// `V`'s CPU features must be present, `dense_fits(w, b, x.len(),
/// y.len())` must hold and `pre` must hold [`prepared_len`] values
/// written by [`prepare`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn prepared<V: Lane8>(
    w: Weights<'_>,
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    pre: &[f32],
) {
    let n = x.len();
    let full = n - n % LANES;
    let xp = x.as_ptr();
    let blocks = y.len() / 8;
    for (blk, out) in y.chunks_exact_mut(8).enumerate() {
        // SAFETY: block `blk` spans `n * 16` bytes from `blk * n * 16`,
        // inside the `blocks * n * 4` slots of `pre`; `i < n = x.len()`.
        let p = pre.as_ptr().cast::<u8>().add(blk * n * 16);
        let wv = |i: usize| V::load_f16(p.add(16 * i));
        let mut s = V::zero();
        for h in 0..2 {
            let mut acc = [V::zero(); 8];
            let mut i0 = h * 8;
            while i0 < full {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = a.add_mul(wv(i0 + j), V::splat(xp.add(i0 + j)));
                }
                i0 += LANES;
            }
            for (j, a) in acc.iter().enumerate() {
                s = if h == 0 && j == 0 { *a } else { s.add(*a) };
            }
        }
        for i in full..n {
            s = s.add_mul(wv(i), V::splat(xp.add(i)));
        }
        // SAFETY: `b` holds y.len() >= blk * 8 + 8 elements.
        let bp = b.bytes().as_ptr().add(blk * 8 * b.dtype().size());
        let bias = match b.dtype() {
            DType::F16 => V::load_f16(bp),
            DType::F32 => V::load_f32_bytes(bp),
            // Integer tensors: the size checks turned them away.
            DType::I8 | DType::I16 | DType::I32 => V::zero(),
        };
        let mut res = [0.0f32; 8];
        s.add(bias).store(res.as_mut_ptr());
        out.copy_from_slice(&res);
    }
    let done = blocks * 8;
    if done < y.len() {
        let rest = y.len() - done;
        dense::<V>(
            w.slice(done * n, rest * n),
            b.slice(done, rest),
            x,
            &mut y[done..],
        );
    }
}
