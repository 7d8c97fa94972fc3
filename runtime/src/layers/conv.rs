//! `conv2d`: a 2-D convolution, weights `[out, in, k, k]`, output
//! `(in + 2 * padding - kernel) / stride + 1` per axis. The geometry, the
//! tap counting, the prepared weights and the kernel calls here serve the
//! transposed convolution too, the direction a parameter.

use super::{Act, Input, Layer};
use crate::error::{Error, Name};
use crate::format::{LayerSpec, Shape};
use crate::kernels::{self, ConvGeom, IntParams, Weights};

pub(super) fn chain(input: &Input, spec: &LayerSpec) -> Result<(Act, u64), Error> {
    let (in_c, out_c, kernel, stride, padding) = params(spec);
    let s = input.image(in_c)?;
    let dim = |d: usize| {
        d.checked_add(padding.checked_mul(2)?)
            .and_then(|v| v.checked_sub(kernel))
            .map(|v| v / stride + 1)
    };
    let (Some(h), Some(w)) = (dim(s.h), dim(s.w)) else {
        return Err(input.mismatch(
            Name::new("an image of at least ")
                .and_uint(kernel)
                .and("x")
                .and_uint(kernel)
                .and(" with padding"),
        ));
    };
    let taps =
        taps(h, s.h, kernel, stride, padding).saturating_mul(taps(w, s.w, kernel, stride, padding));
    output(input, in_c, Shape { c: out_c, h, w }, taps)
}

/// The output image `o` of a convolution in either direction with `taps`
/// (output, input) pixel pairs, and its MACs.
pub(super) fn output(input: &Input, in_c: usize, o: Shape, taps: u64) -> Result<(Act, u64), Error> {
    input.bounded(o.c.checked_mul(o.h).and_then(|v| v.checked_mul(o.w)))?;
    let macs = taps.saturating_mul(in_c as u64).saturating_mul(o.c as u64);
    Ok((Act::Image(o), macs))
}

/// Number of `(output, kernel tap)` pairs along one axis whose input index
/// `out * stride + tap - padding` falls in `0..in_len` (conv2d), used for the
/// MAC count. Lengths are at most 2^24 (checked before), and a stride beyond
/// 2^25 counts like 2^25, so native `isize` arithmetic cannot overflow on a
/// 32-bit target (and 64-bit division stays out of a Cortex-M0+ build).
pub(super) fn taps(
    out_len: usize,
    in_len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> u64 {
    const CAP: usize = 1 << 25;
    let (out_len, in_len) = (out_len.min(CAP) as isize, in_len.min(CAP) as isize);
    let s = stride.min(CAP) as isize;
    let mut n = 0u64;
    // Taps with k - padding >= in_len never land; padding < kernel.
    for k in 0..kernel.min(padding.saturating_add(CAP)) {
        let off = k as isize - padding.min(CAP) as isize;
        // t in 0..out_len with 0 <= t*stride + off < in_len
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let hi = if in_len > off {
            ((in_len - off + s - 1) / s).min(out_len)
        } else {
            0
        };
        if hi > lo {
            n += (hi - lo) as u64;
        }
    }
    n
}

/// `(in_channels, out_channels, kernel, stride, padding)` of either
/// convolution.
pub(super) fn params(spec: &LayerSpec) -> (usize, usize, usize, usize, usize) {
    match *spec {
        LayerSpec::Conv2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
        }
        | LayerSpec::ConvTranspose2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => (in_channels, out_channels, kernel, stride, padding),
        _ => (0, 0, 0, 1, 0),
    }
}

/// What the kernels need to know of a convolution in either direction.
pub(super) fn geometry(layer: &Layer) -> ConvGeom {
    let (i, o) = (layer.input.image(), layer.output.image());
    let (_, _, kernel, stride, padding) = params(&layer.spec);
    ConvGeom {
        in_c: i.c,
        in_h: i.h,
        in_w: i.w,
        out_c: o.c,
        out_h: o.h,
        out_w: o.w,
        kernel,
        stride,
        padding,
    }
}

/// Prepared length of a convolution in either direction (`transpose`).
pub(super) fn prepared_len(layer: &Layer, transpose: bool) -> usize {
    kernels::prepared_len(&geometry(layer), transpose)
}

pub(super) fn prepare(layer: &Layer, data: &[u8], dst: &mut [f32], transpose: bool) {
    kernels::prepare_conv(layer.weight(data), &geometry(layer), transpose, dst);
}

/// Runs a convolution in either direction (`transpose`), from the file's
/// weights or from prepared ones (`pre` not empty).
pub(super) fn run(
    layer: &Layer,
    w: Weights<'_>,
    bias: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    pre: &[f32],
    transpose: bool,
) {
    let g = geometry(layer);
    if pre.is_empty() {
        if transpose {
            kernels::conv_transpose2d(w, bias, &g, x, y);
        } else {
            kernels::conv2d(w, bias, &g, x, y);
        }
    } else {
        kernels::conv_prepared(w, bias, &g, x, y, transpose, pre);
    }
}

/// Version 2: a convolution in either direction (`transpose`) on int16
/// activations.
pub(super) fn run_int(layer: &Layer, p: &IntParams<'_>, x: &[i16], y: &mut [i16], transpose: bool) {
    let g = geometry(layer);
    if transpose {
        kernels::int_conv_transpose2d(p, &g, x, y);
    } else {
        kernels::int_conv2d(p, &g, x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_counts_match_brute_force() {
        for (out, inp, k, s, p) in [
            (14, 7, 4, 2, 1),
            (5, 5, 3, 1, 1),
            (3, 8, 3, 3, 0),
            (1, 1, 1, 1, 0),
        ] {
            let mut n = 0;
            for t in 0..out {
                for kk in 0..k {
                    let i = (t * s + kk) as i64 - p as i64;
                    if i >= 0 && i < inp as i64 {
                        n += 1;
                    }
                }
            }
            assert_eq!(taps(out, inp, k, s, p), n, "{out} {inp} {k} {s} {p}");
        }
    }
}
