//! `conv_transpose2d`: a transposed 2-D convolution, weights
//! `[in, out, k, k]`, output `(in - 1) * stride + kernel + output_padding
//! - 2 * padding` per axis. Geometry and tap counting are the convolution's
//! ([`conv`](super::conv)) with input and output exchanged.

use super::conv::{geometry, output, params, taps};
use super::{Act, Input, Layer};
use crate::error::{Error, Name};
use crate::format::{LayerSpec, Shape};
use crate::kernels;

pub(super) fn chain(input: &Input, spec: &LayerSpec) -> Result<(Act, u64), Error> {
    let (in_c, out_c, kernel, stride, padding) = params(spec);
    let output_padding = match *spec {
        LayerSpec::ConvTranspose2d { output_padding, .. } => output_padding,
        _ => 0,
    };
    let s = input.image(in_c)?;
    let dim = |d: usize| {
        d.checked_sub(1)?
            .checked_mul(stride)
            .and_then(|v| v.checked_add(kernel))
            .and_then(|v| v.checked_add(output_padding))
            .and_then(|v| v.checked_sub(padding.checked_mul(2)?))
            .filter(|&v| v >= 1)
    };
    let (Some(h), Some(w)) = (dim(s.h), dim(s.w)) else {
        return Err(input.mismatch(Name::new("a larger image (the output would be empty)")));
    };
    // Input positions whose output lands in the image: the convolution's
    // count with the two lengths exchanged.
    let taps =
        taps(s.h, h, kernel, stride, padding).saturating_mul(taps(s.w, w, kernel, stride, padding));
    output(input, in_c, Shape { c: out_c, h, w }, taps)
}

pub(super) fn prepared_len(layer: &Layer) -> usize {
    kernels::prepared_len(&geometry(layer), true)
}

pub(super) fn prepare(layer: &Layer, data: &[u8], dst: &mut [f32]) {
    kernels::prepare_conv(layer.weight(data), &geometry(layer), true, dst);
}

pub(super) fn run(layer: &Layer, data: &[u8], x: &[f32], y: &mut [f32], pre: &[f32]) {
    let (w, bias, g) = (layer.weight(data), layer.bias(data), geometry(layer));
    if pre.is_empty() {
        kernels::conv_transpose2d(w, bias, &g, x, y);
    } else {
        kernels::conv_prepared(w, bias, &g, x, y, true, pre);
    }
}
