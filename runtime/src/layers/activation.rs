//! The element-wise activations `relu`, `leaky_relu`, `tanh` and
//! `sigmoid`: any input, the same shape out, computed in place.

use super::Layer;
use crate::error::Error;
use crate::format::{LayerSpec, TABLE_LEN};
use crate::kernels::{self, integer::round_half_away, Weights};

/// Version 2: the fraction bits of `tanh`'s and `sigmoid`'s output (and of
/// their tables).
pub(super) const TABLE_FRAC: u32 = 15;

/// Applies the activation `spec` to `x` in place.
pub(super) fn run(spec: LayerSpec, x: &mut [f32]) {
    match spec {
        LayerSpec::Relu => kernels::relu(x),
        LayerSpec::LeakyRelu { slope } => kernels::leaky_relu(x, slope),
        LayerSpec::Tanh => kernels::tanh(x),
        LayerSpec::Sigmoid => kernels::sigmoid(x),
        _ => {}
    }
}

/// Version 2: `leaky_relu`'s slope as `k = round(slope * 32768)` (halves
/// away from zero), which needs the slope in `-1 ..= 1`. `slope * 32768`
/// is exact in f32.
pub(super) fn int_slope(i: usize, slope: f32) -> Result<i32, Error> {
    if !(-1.0..=1.0).contains(&slope) {
        return Err(Error::SlopeOutOfRange { layer: i, slope });
    }
    Ok(round_half_away(slope * 32768.0))
}

/// Version 2: the activation of `layer` on int16 values in place; `table`
/// is the layer's table for `tanh` and `sigmoid`.
pub(super) fn run_int(layer: &Layer, table: Weights<'_>, x: &mut [i16]) {
    match layer.spec {
        LayerSpec::Relu => {
            for v in x {
                *v = (*v).max(0);
            }
        }
        LayerSpec::LeakyRelu { .. } => {
            for v in x {
                *v = leaky(*v, layer.int_slope);
            }
        }
        LayerSpec::Tanh | LayerSpec::Sigmoid => {
            let odd = matches!(layer.spec, LayerSpec::Tanh);
            let f = u32::from(layer.f_in);
            let table = decode(&table);
            for v in x {
                *v = lookup(&table, *v, f, odd);
            }
        }
        _ => {}
    }
}

/// `q` if `q >= 0`, else `(q * k + 2^14) >> 15`, saturated.
#[inline]
fn leaky(q: i16, k: i32) -> i16 {
    if q >= 0 {
        return q;
    }
    let y = (i32::from(q) * k + (1 << 14)) >> 15;
    saturate(y)
}

/// `v` saturated to 16 bits.
#[inline]
fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// The table's entries, decoded once per call rather than at every lookup
/// (three reads per value from the stored bytes took most of the output
/// layer's time); zero past the stored ones, which the loader rules out.
fn decode(table: &Weights<'_>) -> [i16; TABLE_LEN] {
    let mut t = [0i16; TABLE_LEN];
    for (d, b) in t.iter_mut().zip(table.bytes().chunks_exact(2)) {
        *d = i16::from_le_bytes([b[0], b[1]]);
    }
    t
}

/// The table function of `q` (with `f` fraction bits) in units of `2^-15`:
/// `|q|` at 11 fraction bits, capped at 8.0, interpolated linearly between
/// the table's entries at multiples of `1/32`; then mirrored for a negative
/// `q`, as an odd function (`tanh`) or as `1 - v` (`sigmoid`).
#[inline]
fn lookup(table: &[i16; TABLE_LEN], q: i16, f: u32, odd: bool) -> i16 {
    let a = i32::from(q).abs();
    let u = if f <= 11 {
        a << (11 - f)
    } else {
        (a + (1 << (f - 12))) >> (f - 11)
    };
    let u = u.min(16384) as usize;
    let (j, r) = (u >> 6, (u & 63) as i32);
    let t = |j: usize| i32::from(table[j.min(TABLE_LEN - 1)]);
    let v = if j == TABLE_LEN - 1 {
        t(j)
    } else {
        t(j) + (((t(j + 1) - t(j)) * r + 32) >> 6)
    };
    saturate(match (q >= 0, odd) {
        (true, _) => v,
        (false, true) => -v,
        (false, false) => 32768 - v,
    })
}
