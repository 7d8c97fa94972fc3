//! The Cortex-M0+ integer kernels (version-2 files), in Rust shaped for
//! Thumb-1: `MULS` is a single-cycle 32-bit multiply there, so a MAC is a
//! load or two, a multiply and an add, and what matters is keeping the
//! loop's pointers and sums in the eight low registers.
//!
//! - dense: two rows share each input load, their two sums in registers;
//! - the stride-2 transposed convolution (module `stride2`): a row of
//!   32-bit sums on the stack (at most [`MAX_W`] columns), and for each
//!   input channel and kernel row one pass along the input row, each input
//!   value `x[j]` read once for the four output columns it reaches.
//!
//! Integer sums are exact, so the order is free and the results equal the
//! plain kernels' bit for bit. Other convolutions run the portable kernels.

use super::{requant, stride2};
use crate::kernels::integer::{int_conv_fits, int_dense_fits, portable, IntParams};
use crate::kernels::ConvGeom;

/// Rows a dense step computes together.
const ROWS: usize = 2;
/// Widest output row the transposed convolution keeps on the stack.
const MAX_W: usize = 128;

/// Integer dense layer, [`ROWS`] rows at a time.
pub(super) fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    let n = x.len();
    if n == 0 || !int_dense_fits(p, n, y.len()) {
        return;
    }
    let w = p.weights();
    let store = |o: usize, sum: i32| {
        let (bias, rq) = requant::channel(p, o);
        requant::apply(rq, bias.wrapping_add(sum))
    };
    for (k, out) in y.chunks_mut(ROWS).enumerate() {
        let o = k * ROWS;
        if let Ok(out) = <&mut [i16; ROWS]>::try_from(&mut *out) {
            let (a, b) = dot2(&w[o * n..(o + 1) * n], &w[(o + 1) * n..(o + 2) * n], x);
            out[0] = store(o, a);
            out[1] = store(o + 1, b);
        } else {
            for (r, dst) in out.iter_mut().enumerate() {
                let row = &w[(o + r) * n..(o + r + 1) * n];
                *dst = store(o + r, dot2(row, row, x).0);
            }
        }
    }
}

/// The dot products of rows `a` and `b` with `x` (all one length).
#[inline(always)]
fn dot2(a: &[i8], b: &[i8], x: &[i16]) -> (i32, i32) {
    let (mut sa, mut sb) = (0i32, 0i32);
    for ((&xv, &wa), &wb) in x.iter().zip(a).zip(b) {
        let xv = i32::from(xv);
        sa = sa.wrapping_add(i32::from(wa) * xv);
        sb = sb.wrapping_add(i32::from(wb) * xv);
    }
    (sa, sb)
}

/// Integer `conv_transpose2d`: the stride-2 kernel of module `stride2`
/// where the geometry suits it and a row fits [`MAX_W`], else the portable
/// one.
pub(super) fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    if !stride2::suits(g) || g.out_w > MAX_W {
        return portable::conv_transpose2d(p, g, x, y);
    }
    let w = p.weights();
    let mut sums = [0i32; MAX_W];
    let sums = &mut sums[..g.out_w];
    for o in 0..g.out_c {
        let (bias, rq) = requant::channel(p, o);
        for oy in 0..g.out_h {
            sums.fill(bias);
            let (taps, n_taps) = stride2::row_taps(oy, g.in_h);
            for &(ky, iy) in &taps[..n_taps] {
                for c in 0..g.in_c {
                    let at = ((c * g.out_c + o) * 4 + ky) * 4;
                    let row = (c * g.in_h + iy) * g.in_w;
                    if let (Some(k), Some(xr)) = (w.get(at..at + 4), x.get(row..row + g.in_w)) {
                        row_tap(sums, [k[0], k[1], k[2], k[3]], xr);
                    }
                }
            }
            let at = (o * g.out_h + oy) * g.out_w;
            for (dst, &s) in y[at..at + g.out_w].iter_mut().zip(sums.iter()) {
                *dst = requant::apply(rq, s);
            }
        }
    }
}

/// Adds one kernel row `k` applied to input row `x` to the output row
/// `sums` (`2 * x.len()` long): column `2j - 1` takes
/// `k0 * x[j] + k2 * x[j - 1]`, column `2j` takes `k1 * x[j] + k3 * x[j - 1]`,
/// the first column `k1 * x[0]`, the last `k2 * x[n - 1]`.
#[inline(always)]
fn row_tap(sums: &mut [i32], k: [i8; 4], x: &[i16]) {
    let [k0, k1, k2, k3] = k.map(i32::from);
    let (Some((first, rest)), Some(&x0)) = (sums.split_first_mut(), x.first()) else {
        return;
    };
    let mut prev = i32::from(x0);
    *first = first.wrapping_add(k1 * prev);
    let mut pairs = rest.chunks_exact_mut(2);
    for (pair, &xv) in (&mut pairs).zip(&x[1..]) {
        let cur = i32::from(xv);
        pair[0] = pair[0].wrapping_add(k0 * cur).wrapping_add(k2 * prev);
        pair[1] = pair[1].wrapping_add(k1 * cur).wrapping_add(k3 * prev);
        prev = cur;
    }
    if let Some(last) = pairs.into_remainder().first_mut() {
        *last = last.wrapping_add(k2 * prev);
    }
}
