//! Plain integer kernels: each output's 32-bit sum written as directly as
//! the format states it (bias, then every weight times its input, the
//! taps in the padding skipped), then requantised. They define what the
//! fast integer kernels must equal.

// Index loops mirror the formulas of the format.
#![allow(clippy::needless_range_loop)]

use super::{int_conv_fits, int_dense_fits, IntParams};
use crate::kernels::ConvGeom;

/// `y[o] = requant(bias[o] + sum_i w[o, i] * x[i])`.
pub fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    let n = x.len();
    if !int_dense_fits(p, n, y.len()) {
        return;
    }
    let w = p.weights();
    for (o, out) in y.iter_mut().enumerate() {
        let mut acc = p.bias(o);
        for i in 0..n {
            acc = acc.wrapping_add(i32::from(w[o * n + i]) * i32::from(x[i]));
        }
        *out = p.requant(o).apply(acc);
    }
}

/// `conv2d` (weight `[out_c, in_c, k, k]`) in integers.
pub fn conv2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv(p, g, x, y, false)
}

/// `conv_transpose2d` (weight `[in_c, out_c, k, k]`) in integers, as a
/// gather.
pub fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv(p, g, x, y, true)
}

/// The input index that output index `o` reads through kernel tap `kk`
/// along a side of `n` inputs, if any (as in the float reference).
fn tap(transpose: bool, g: &ConvGeom, o: usize, kk: usize, n: usize) -> Option<usize> {
    if transpose {
        let t = (o + g.padding).checked_sub(kk)?;
        (t % g.stride == 0 && t / g.stride < n).then_some(t / g.stride)
    } else {
        let i = (o * g.stride + kk).checked_sub(g.padding)?;
        (i < n).then_some(i)
    }
}

fn conv(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16], transpose: bool) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    let (k, w) = (g.kernel, p.weights());
    for o in 0..g.out_c {
        let rq = p.requant(o);
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut acc = p.bias(o);
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
                                let wv = i32::from(w[(plane * k + ky) * k + kx]);
                                let xv = i32::from(x[(c * g.in_h + iy) * g.in_w + ix]);
                                acc = acc.wrapping_add(wv * xv);
                            }
                        }
                    }
                }
                y[(o * g.out_h + oy) * g.out_w + ox] = rq.apply(acc);
            }
        }
    }
}
