//! The load-time checks of the version-2 layers that requantise (`dense`,
//! `conv2d`, `conv_transpose2d`), per output channel: the weight scale is a
//! normal positive finite f32, the requantisation shift is in `1 ..= 62`,
//! and the 32-bit sum cannot overflow in any order. The work is one pass
//! over the layer's weights, which the file holds.

use super::{conv::params, weights, Layer};
use crate::error::Error;
use crate::format::{tensor_name, LayerSpec, TensorRole};
use crate::kernels::integer::{shift, significand};
use crate::kernels::Weights;

/// `2^31 - 1`, the bound on `|bias| + 32768 * sum |w|`.
const ACC_MAX: u64 = i32::MAX as u64;

/// Checks every output channel of layer `i` (nothing for other kinds).
pub(crate) fn check(layer: &Layer, i: usize, data: &[u8]) -> Result<(), Error> {
    let Some(channels) = Channels::of(&layer.spec) else {
        return Ok(());
    };
    let scale = weights(layer.scale_or_table, data);
    let (w, bias) = (weights(layer.weight, data), weights(layer.bias, data));
    let (f_in, f_out) = (u32::from(layer.f_in), u32::from(layer.f_out));
    for o in 0..channels.out {
        check_scale(i, o, scale.at(o), f_in, f_out)?;
        if !channels.within_bound(&w, bias.int_at(o), o) {
            return Err(Error::AccumulatorBound {
                tensor: tensor_name(i, TensorRole::Weight),
                channel: o,
            });
        }
    }
    Ok(())
}

/// Channel `o`'s scale is valid and gives a shift in `1 ..= 62`.
fn check_scale(i: usize, o: usize, scale: f32, f_in: u32, f_out: u32) -> Result<(), Error> {
    let tensor = || tensor_name(i, TensorRole::Scale);
    if significand(scale).is_none() || scale.is_sign_negative() {
        return Err(Error::InvalidScale {
            tensor: tensor(),
            channel: o,
            bits: scale.to_bits(),
        });
    }
    let sh = shift(scale, f_in, f_out);
    if !(1..=62).contains(&sh) {
        return Err(Error::ShiftOutOfRange {
            tensor: tensor(),
            channel: o,
            shift: sh as i32,
        });
    }
    Ok(())
}

/// Where the weights of each output channel lie: `blocks` runs of `len`
/// elements, the first at `o * len`, each `stride` after the previous.
struct Channels {
    out: usize,
    len: usize,
    blocks: usize,
    stride: usize,
}

impl Channels {
    fn of(spec: &LayerSpec) -> Option<Channels> {
        match *spec {
            LayerSpec::Dense {
                in_features,
                out_features,
            } => Some(Channels {
                out: out_features,
                len: in_features,
                blocks: 1,
                stride: 0,
            }),
            LayerSpec::Conv2d { .. } => {
                let (in_c, out_c, k, _, _) = params(spec);
                Some(Channels {
                    out: out_c,
                    len: in_c * k * k,
                    blocks: 1,
                    stride: 0,
                })
            }
            LayerSpec::ConvTranspose2d { .. } => {
                let (in_c, out_c, k, _, _) = params(spec);
                Some(Channels {
                    out: out_c,
                    len: k * k,
                    blocks: in_c,
                    stride: out_c * k * k,
                })
            }
            _ => None,
        }
    }

    /// Whether `|bias| + 32768 * sum |w|` over channel `o`'s weights stays
    /// within `2^31 - 1` (stopping at the first run that breaks it).
    fn within_bound(&self, w: &Weights<'_>, bias: i32, o: usize) -> bool {
        let mut total = u64::from(bias.unsigned_abs());
        for b in 0..self.blocks {
            let start = o * self.len + b * self.stride;
            let run = w.bytes().get(start..start + self.len).unwrap_or(&[]);
            let sum: u64 = run
                .iter()
                .map(|&v| u64::from((v as i8).unsigned_abs()))
                .sum();
            total = total.saturating_add(sum.saturating_mul(32768));
            if total > ACC_MAX {
                return false;
            }
        }
        true
    }
}
