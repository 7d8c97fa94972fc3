//! Reference kernels: the summation order of the module docs written as
//! directly as possible. They define what the fast kernels must equal.

// Index loops mirror the formulas in the module docs.
#![allow(clippy::needless_range_loop)]

use super::{ConvGeom, Weights, LANES};

/// `y[o] = sum_i w[o, i] * x[i] + b[o]` for `o < y.len()`, `i < x.len()`.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let n = x.len();
    if !super::dense_fits(&w, &b, n, y.len()) {
        return;
    }
    let full = n - n % LANES;
    for (o, out) in y.iter_mut().enumerate() {
        let row = o * n;
        let mut acc = [0.0f32; LANES];
        for i in 0..full {
            acc[i % LANES] += w.at(row + i) * x[i];
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s += *a;
        }
        for i in full..n {
            s += w.at(row + i) * x[i];
        }
        *out = s + b.at(o);
    }
}

/// PyTorch `Conv2d` (weight `[out_c, in_c, k, k]`), padding taps skipped.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv(w, b, g, x, y, false)
}

/// PyTorch `ConvTranspose2d` (weight `[in_c, out_c, k, k]`), as a gather.
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv(w, b, g, x, y, true)
}

/// The input index that output index `o` reads through kernel tap `kk`
/// along a side of `n` inputs, if any: `o * stride + kk - padding` for a
/// convolution, the `i` with `i * stride + kk - padding == o` for a
/// transposed one.
fn tap(transpose: bool, g: &ConvGeom, o: usize, kk: usize, n: usize) -> Option<usize> {
    if transpose {
        let t = (o + g.padding).checked_sub(kk)?;
        (t % g.stride == 0 && t / g.stride < n).then_some(t / g.stride)
    } else {
        let i = (o * g.stride + kk).checked_sub(g.padding)?;
        (i < n).then_some(i)
    }
}

/// Both convolutions as a gather: every output is its bias plus, in the
/// order of [`gather`], the taps that land inside the input.
fn conv(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32], transpose: bool) {
    if !super::conv_fits(&w, &b, g, x, y) {
        return;
    }
    for o in 0..g.out_c {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut s = b.at(o);
                gather(g, transpose, (o, oy, ox), |wi, xi| s += w.at(wi) * x[xi]);
                y[(o * g.out_h + oy) * g.out_w + ox] = s;
            }
        }
    }
}

/// Calls `f(weight index, input index)` for every tap of output
/// `(o, oy, ox)` that lands inside the input, input channel by channel and
/// tap by tap in kernel order: which products a convolution output sums,
/// in the format's order (the float and the integer reference share it).
pub(crate) fn gather(
    g: &ConvGeom,
    transpose: bool,
    (o, oy, ox): (usize, usize, usize),
    mut f: impl FnMut(usize, usize),
) {
    let k = g.kernel;
    for c in 0..g.in_c {
        let plane = if transpose {
            c * g.out_c + o
        } else {
            o * g.in_c + c
        };
        for ky in 0..k {
            for kx in 0..k {
                let iy = tap(transpose, g, oy, ky, g.in_h);
                let ix = tap(transpose, g, ox, kx, g.in_w);
                if let (Some(iy), Some(ix)) = (iy, ix) {
                    f((plane * k + ky) * k + kx, (c * g.in_h + iy) * g.in_w + ix);
                }
            }
        }
    }
}
