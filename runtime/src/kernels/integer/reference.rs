//! Plain integer kernels: each output's 32-bit sum written as directly as
//! the format states it (bias, then every weight times its input, the
//! taps in the padding skipped), then requantised. They define what the
//! fast integer kernels must equal.

// Index loops mirror the formulas of the format.
#![allow(clippy::needless_range_loop)]

use super::{int_conv_fits, int_dense_fits, IntParams};
use crate::kernels::reference::gather;
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

/// Both convolutions as a gather, over the float reference's taps
/// ([`gather`]); the order does not matter in integers.
fn conv(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16], transpose: bool) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    let w = p.weights();
    for o in 0..g.out_c {
        let rq = p.requant(o);
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut acc = p.bias(o);
                gather(g, transpose, (o, oy, ox), |wi, xi| {
                    acc = acc.wrapping_add(i32::from(w[wi]) * i32::from(x[xi]));
                });
                y[(o * g.out_h + oy) * g.out_w + ox] = rq.apply(acc);
            }
        }
    }
}
