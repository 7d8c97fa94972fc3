//! Fast integer kernels, written so that LLVM vectorises them on any
//! target (and again, wider, where a set compiles them with more vector
//! features: `x86_64::int_avx2`). Integer sums are exact, so the loops may
//! run in any order: a dense row is an `i8 x i16` dot product over 16
//! independent 32-bit lanes (`VPMADDWD` on x86-64, `SMLAL` on AArch64); a
//! convolution keeps a tile of one output row in 32-bit accumulators and
//! adds each weight times a run of its input row to it (an `axpy`), the
//! runs contiguous at stride 1.

use super::{int_conv_fits, int_dense_fits, IntParams};
use crate::kernels::ConvGeom;

/// Output pixels of a row that a convolution accumulates at once.
const TILE: usize = 64;

/// `y[o] = requant(bias[o] + sum_i w[o, i] * x[i])`.
pub fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    dense_body(p, x, y)
}

/// [`dense`], inlined into the callers that compile it with other target
/// features.
#[inline(always)]
pub(crate) fn dense_body(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    let n = x.len();
    if n == 0 || !int_dense_fits(p, n, y.len()) {
        return;
    }
    for ((o, out), row) in y.iter_mut().enumerate().zip(p.weights().chunks_exact(n)) {
        *out = p.requant(o).apply(p.bias(o).wrapping_add(dot(row, x)));
    }
}

/// `sum w[i] * x[i]`, wrapping: one running sum, which LLVM vectorises as
/// a reduction (`PMADDWD`, two int16 products summed into an int32 lane, on
/// x86-64).
#[inline(always)]
fn dot(w: &[i8], x: &[i16]) -> i32 {
    w.iter().zip(x).fold(0i32, |s, (&wv, &xv)| {
        s.wrapping_add(i32::from(wv) * i32::from(xv))
    })
}

/// `conv2d` in integers.
pub fn conv2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv_body(p, g, x, y, false)
}

/// `conv_transpose2d` in integers.
pub fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv_body(p, g, x, y, true)
}

/// Either convolution (`transpose`): for each output channel and output
/// row, tiles of [`TILE`] pixels start at the bias and take, input channel
/// by channel and tap by tap, the weight times the input pixels that tap
/// reaches from the tile.
#[inline(always)]
pub(crate) fn conv_body(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
    transpose: bool,
) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    for o in 0..g.out_c {
        let (bias, rq) = (p.bias(o), p.requant(o));
        for oy in 0..g.out_h {
            let out_row = (o * g.out_h + oy) * g.out_w;
            for x0 in (0..g.out_w).step_by(TILE) {
                let x1 = (x0 + TILE).min(g.out_w);
                let mut acc = [bias; TILE];
                let tile = Tile { x0, x1, oy, o };
                accumulate(p, g, x, &tile, &mut acc, transpose);
                for (dst, &a) in y[out_row + x0..out_row + x1].iter_mut().zip(&acc) {
                    *dst = rq.apply(a);
                }
            }
        }
    }
}

/// Output pixels `x0..x1` of row `oy` of channel `o`.
struct Tile {
    x0: usize,
    x1: usize,
    oy: usize,
    o: usize,
}

/// Adds every tap of the tile's pixels to `acc`.
#[inline(always)]
fn accumulate(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    t: &Tile,
    acc: &mut [i32; TILE],
    transpose: bool,
) {
    let (k, w) = (g.kernel, p.weights());
    for c in 0..g.in_c {
        let plane = if transpose {
            c * g.out_c + t.o
        } else {
            t.o * g.in_c + c
        };
        for ky in 0..k {
            let Some(iy) = row_tap(g, t.oy, ky, transpose) else {
                continue;
            };
            let row = &x[(c * g.in_h + iy) * g.in_w..][..g.in_w];
            let taps = &w[(plane * k + ky) * k..][..k];
            for (kx, &wv) in taps.iter().enumerate() {
                if transpose {
                    scatter(acc, i32::from(wv), row, g, t, kx);
                } else {
                    gather(acc, i32::from(wv), row, g, t, kx);
                }
            }
        }
    }
}

/// The input row output row `oy` reads through kernel row `ky`, if any.
#[inline(always)]
fn row_tap(g: &ConvGeom, oy: usize, ky: usize, transpose: bool) -> Option<usize> {
    if transpose {
        let t = (oy + g.padding).checked_sub(ky)?;
        (t % g.stride == 0 && t / g.stride < g.in_h).then_some(t / g.stride)
    } else {
        let i = (oy * g.stride + ky).checked_sub(g.padding)?;
        (i < g.in_h).then_some(i)
    }
}

/// `ceil(a / b)` for `b >= 1`.
#[inline(always)]
fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

/// `conv2d`: output pixel `ox` reads input `ox * stride + kx - padding`
/// where that lies in the row.
#[inline(always)]
fn gather(acc: &mut [i32; TILE], wv: i32, row: &[i16], g: &ConvGeom, t: &Tile, kx: usize) {
    let (s, pad) = (g.stride, g.padding);
    let lo = ceil_div(pad.saturating_sub(kx), s).max(t.x0);
    let hi = match (g.in_w + pad).checked_sub(kx) {
        Some(n) => ceil_div(n, s).min(t.x1),
        None => 0,
    };
    if lo >= hi {
        return;
    }
    let first = lo * s + kx - pad;
    let dst = &mut acc[lo - t.x0..hi - t.x0];
    if s == 1 {
        for (a, &v) in dst.iter_mut().zip(&row[first..first + (hi - lo)]) {
            *a = a.wrapping_add(wv * i32::from(v));
        }
    } else {
        for (a, &v) in dst.iter_mut().zip(row[first..].iter().step_by(s)) {
            *a = a.wrapping_add(wv * i32::from(v));
        }
    }
}

/// `conv_transpose2d`: input pixel `ix` reaches output
/// `ix * stride + kx - padding` where that lies in the tile.
#[inline(always)]
fn scatter(acc: &mut [i32; TILE], wv: i32, row: &[i16], g: &ConvGeom, t: &Tile, kx: usize) {
    let (s, pad) = (g.stride, g.padding);
    let lo = ceil_div((t.x0 + pad).saturating_sub(kx), s);
    let hi = match (t.x1 + pad).checked_sub(kx) {
        Some(n) => ceil_div(n, s).min(g.in_w),
        None => 0,
    };
    if lo >= hi {
        return;
    }
    let first = lo * s + kx - pad - t.x0;
    let src = &row[lo..hi];
    if s == 1 {
        for (a, &v) in acc[first..first + src.len()].iter_mut().zip(src) {
            *a = a.wrapping_add(wv * i32::from(v));
        }
    } else {
        for (a, &v) in acc[first..].iter_mut().step_by(s).zip(src) {
            *a = a.wrapping_add(wv * i32::from(v));
        }
    }
}
