//! `conv_transpose2d`: a transposed 2-D convolution, weights
//! `[in, out, k, k]`, output per axis
//! `(in - 1) * stride + kernel + output_padding - 2 * padding`. Geometry and
//! tap counting are the convolution's ([`conv`](super::conv)) with input and
//! output exchanged; its prepared weights and kernel calls are the
//! convolution's with `transpose` set.

use super::conv::{output, params, taps};
use super::{Act, Input};
use crate::error::{Error, Name};
use crate::format::{LayerSpec, Shape};

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
