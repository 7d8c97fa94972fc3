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
    if !super::conv_fits(&w, &b, g, x, y) {
        return;
    }
    let k = g.kernel;
    for o in 0..g.out_c {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut s = b.at(o);
                for c in 0..g.in_c {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * g.stride + ky).checked_sub(g.padding);
                            let ix = (ox * g.stride + kx).checked_sub(g.padding);
                            if let (Some(iy), Some(ix)) = (iy, ix) {
                                if iy < g.in_h && ix < g.in_w {
                                    let wv = w.at(((o * g.in_c + c) * k + ky) * k + kx);
                                    s += wv * x[(c * g.in_h + iy) * g.in_w + ix];
                                }
                            }
                        }
                    }
                }
                y[(o * g.out_h + oy) * g.out_w + ox] = s;
            }
        }
    }
}

/// PyTorch `ConvTranspose2d` (weight `[in_c, out_c, k, k]`), as a gather.
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if !super::conv_fits(&w, &b, g, x, y) {
        return;
    }
    let k = g.kernel;
    // The input index a tap reads, if any.
    let tap = |o: usize, kk: usize, n: usize| -> Option<usize> {
        let t = (o + g.padding).checked_sub(kk)?;
        (t % g.stride == 0 && t / g.stride < n).then_some(t / g.stride)
    };
    for o in 0..g.out_c {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut s = b.at(o);
                for c in 0..g.in_c {
                    for ky in 0..k {
                        for kx in 0..k {
                            if let (Some(iy), Some(ix)) = (tap(oy, ky, g.in_h), tap(ox, kx, g.in_w))
                            {
                                let wv = w.at(((c * g.out_c + o) * k + ky) * k + kx);
                                s += wv * x[(c * g.in_h + iy) * g.in_w + ix];
                            }
                        }
                    }
                }
                y[(o * g.out_h + oy) * g.out_w + ox] = s;
            }
        }
    }
}
