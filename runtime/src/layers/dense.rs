//! `dense`: a fully connected layer, `y = W x + b` with `W` stored
//! `[out, in]`.

use super::{Act, Input, Layer};
use crate::error::{Error, Name};
use crate::kernels::{self, IntParams, Weights};

/// Takes a flat vector (or an image, read flat) of `in_features` elements.
pub(super) fn chain(
    input: &Input,
    in_features: usize,
    out_features: usize,
) -> Result<(Act, u64), Error> {
    if input.act.len() != in_features {
        return Err(input.mismatch(Name::new("").and_uint(in_features).and(" elements")));
    }
    input.bounded(Some(out_features))?;
    let macs = (in_features as u64).saturating_mul(out_features as u64);
    Ok((Act::Flat(out_features), macs))
}

pub(super) fn prepared_len(layer: &Layer, data: &[u8]) -> usize {
    kernels::dense_prepared_len(&layer.weight(data), layer.input.len(), layer.output.len())
}

pub(super) fn prepare(layer: &Layer, data: &[u8], dst: &mut [f32]) {
    let w = layer.weight(data);
    kernels::prepare_dense(w, layer.input.len(), layer.output.len(), dst);
}

pub(super) fn run(w: Weights<'_>, bias: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    if pre.is_empty() {
        kernels::dense(w, bias, x, y);
    } else {
        kernels::dense_prepared(w, bias, x, y, pre);
    }
}

/// Version 2: the integer dense layer, `x` and `y` int16 activations.
pub(super) fn run_int(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    kernels::int_dense(p, x, y);
}
