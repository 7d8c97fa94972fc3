//! Fast integer kernels, written so that LLVM vectorises them on any
//! target (and again, wider, where a set compiles them with more vector
//! features: `x86_64::int_avx2`). Integer sums are exact, so the loops may
//! run in any order: a dense row is an `i8 x i16` dot product, one running
//! sum that LLVM vectorises as a reduction (`VPMADDWD` on x86-64); a
//! convolution keeps a tile of one output row in 32-bit accumulators and
//! adds each weight times a run of its input row to it (an `axpy`), the
//! runs contiguous at stride 1 and in every transposed convolution (whose
//! tile keeps its column classes apart, see `slot`).

use super::{int_conv_fits, int_dense_fits, IntParams};
use crate::kernels::ConvGeom;

/// Output pixels of a row that a convolution accumulates at once.
const TILE: usize = 64;
/// Accumulators of a tile: room for [`slot`]'s layout.
const ACC: usize = 2 * TILE;

/// Where a tile's pixel `d` accumulates: a transposed convolution of
/// stride `s` keeps its `s` column classes (`d % s`) apart, each
/// contiguous, so that a kernel column's pixels, `s` apart in the row, are
/// neighbours there (below `2 * TILE` for any `s`; `d` itself at `s = 1`).
#[inline(always)]
fn slot(d: usize, s: usize) -> usize {
    (d % s) * TILE.div_ceil(s) + d / s
}

/// The stride [`slot`] splits columns by: a transposed convolution's, else 1.
#[inline(always)]
fn classes(g: &ConvGeom, transpose: bool) -> usize {
    if transpose {
        g.stride.max(1)
    } else {
        1
    }
}

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
                let mut acc = [bias; ACC];
                let tile = Tile { x0, x1, oy, o };
                accumulate(p, g, x, &tile, &mut acc, transpose);
                let s = classes(g, transpose);
                for (d, dst) in y[out_row + x0..out_row + x1].iter_mut().enumerate() {
                    *dst = rq.apply(acc[slot(d, s)]);
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

/// Kernel taps handled per pass: their input rows and column runs are
/// worked out once per tile, outside the loop over input channels.
const TAPS: usize = 16;

/// A kernel column's run: `count` input pixels from `x_at`, `x_step`
/// apart, onto accumulators from `acc_at`, `acc_step` apart.
#[derive(Clone, Copy, Default)]
struct Run {
    kx: usize,
    x_at: usize,
    x_step: usize,
    acc_at: usize,
    acc_step: usize,
    count: usize,
}

/// Adds every tap of the tile's pixels to `acc`, [`TAPS`] kernel rows and
/// columns at a time.
#[inline(always)]
fn accumulate(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    t: &Tile,
    acc: &mut [i32; ACC],
    transpose: bool,
) {
    for ky0 in (0..g.kernel).step_by(TAPS) {
        let mut rows = [(0usize, 0usize); TAPS];
        let mut n_rows = 0;
        for ky in ky0..(ky0 + TAPS).min(g.kernel) {
            if let Some(iy) = row_tap(g, t.oy, ky, transpose) {
                rows[n_rows] = (ky, iy);
                n_rows += 1;
            }
        }
        for kx0 in (0..g.kernel).step_by(TAPS) {
            let mut runs = [Run::default(); TAPS];
            let mut n_runs = 0;
            for kx in kx0..(kx0 + TAPS).min(g.kernel) {
                if let Some(r) = run(g, t, kx, transpose) {
                    runs[n_runs] = r;
                    n_runs += 1;
                }
            }
            taps(p, g, x, t, acc, transpose, &rows[..n_rows], &runs[..n_runs]);
        }
    }
}

/// Adds, for every input channel, the taps of `rows` x `runs` to `acc`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn taps(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    t: &Tile,
    acc: &mut [i32; ACC],
    transpose: bool,
    rows: &[(usize, usize)],
    runs: &[Run],
) {
    let (k, w) = (g.kernel, p.weights());
    for c in 0..g.in_c {
        let plane = if transpose {
            c * g.out_c + t.o
        } else {
            t.o * g.in_c + c
        };
        for &(ky, iy) in rows {
            let row = &x[(c * g.in_h + iy) * g.in_w..][..g.in_w];
            let taps = &w[(plane * k + ky) * k..][..k];
            for r in runs {
                axpy(acc, i32::from(taps[r.kx]), row, r);
            }
        }
    }
}

/// `acc[r.acc_at + j * r.acc_step] += wv * row[r.x_at + j * r.x_step]`
/// for `j < r.count`; a plain zip where both steps are 1.
#[inline(always)]
fn axpy(acc: &mut [i32; ACC], wv: i32, row: &[i16], r: &Run) {
    let dst = &mut acc[r.acc_at..];
    let src = &row[r.x_at..];
    if r.acc_step == 1 && r.x_step == 1 {
        for (a, &v) in dst[..r.count].iter_mut().zip(&src[..r.count]) {
            *a = a.wrapping_add(wv * i32::from(v));
        }
    } else {
        let pairs = dst
            .iter_mut()
            .step_by(r.acc_step)
            .zip(src.iter().step_by(r.x_step));
        for (a, &v) in pairs.take(r.count) {
            *a = a.wrapping_add(wv * i32::from(v));
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

/// The run of kernel column `kx` over the tile, if it reaches any pixel.
/// `conv2d`: output `ox` reads input `ox * stride + kx - padding`;
/// `conv_transpose2d`: input `ix` reaches output `ix * stride + kx - padding`.
#[inline(always)]
fn run(g: &ConvGeom, t: &Tile, kx: usize, transpose: bool) -> Option<Run> {
    let (s, pad) = (g.stride, g.padding);
    if transpose {
        // Inputs whose output lies in x0..x1.
        let lo = (t.x0 + pad).saturating_sub(kx).div_ceil(s);
        let hi = (t.x1 + pad).checked_sub(kx)?.div_ceil(s).min(g.in_w);
        (lo < hi).then(|| Run {
            kx,
            x_at: lo,
            x_step: 1,
            acc_at: slot(lo * s + kx - pad - t.x0, s),
            acc_step: 1,
            count: hi - lo,
        })
    } else {
        // Outputs in x0..x1 whose input lies in the row.
        let lo = pad.saturating_sub(kx).div_ceil(s).max(t.x0);
        let hi = (g.in_w + pad).checked_sub(kx)?.div_ceil(s).min(t.x1);
        (lo < hi).then(|| Run {
            kx,
            x_at: lo * s + kx - pad,
            x_step: s,
            acc_at: lo - t.x0,
            acc_step: 1,
            count: hi - lo,
        })
    }
}
