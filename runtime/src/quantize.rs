//! Turning a float generator (format version 1) into an integer one (version 2), feature `std`:
//! the exporter's half of "Format version 2: integer generators" in docs/model-format.md.
//!
//! Three steps. Calibration runs the float generator on fixed latents (every class of a
//! conditional one) and records the largest magnitude at each layer boundary. Each boundary then
//! gets its fraction bits `F`, the most that keep that magnitude, plus a quarter of headroom,
//! within 16 bits (the layers that cannot change `F` tie boundaries together, which then share
//! the smallest). Last, each layer's tensors are quantised: int8 weights with a scale per output
//! channel (coarsened where the loader's overflow bound needs it), int32 biases in the
//! accumulator's scale, tables for `tanh` and `sigmoid`, embedding rows in their boundary's `F`.

use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::error::Error;
use crate::format::{LayerSpec, TensorRole};
use crate::model::Generator;
use crate::rng::LatentRng;
use crate::write::{IntTensor, ModelBuilder};

/// Calibration latents and their seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    pub count: usize,
    pub seed: u64,
}

impl Default for Calibration {
    /// 256 latents from seed 0x63616c6962 ("calib").
    fn default() -> Self {
        Calibration {
            count: 256,
            seed: 0x63_616c_6962,
        }
    }
}

/// What quantisation chose, for the exporter to print.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    /// Largest magnitude seen at each boundary (latent, then each layer's output).
    pub max_abs: Vec<f32>,
    /// Fraction bits of each boundary.
    pub frac: Vec<u32>,
    /// Output channels whose scale was coarsened to keep the overflow bound, over all layers.
    pub coarsened_channels: usize,
    pub calibration: Calibration,
}

/// Largest `F` the format allows.
const MAX_FRAC: u32 = 24;
/// Headroom over the calibrated magnitude: a quarter.
const HEADROOM: f64 = 1.25;
/// The loader's bound on `|bias| + 32768 * sum |w|` per channel.
const ACC_LIMIT: f64 = 2_147_483_647.0;

/// Quantises `gen` (a version-1 generator) into a version-2 file builder with the same layers
/// and provenance, plus `provenance.quantization`.
pub fn quantize(
    gen: &Generator<'_>,
    cal: Calibration,
) -> Result<(ModelBuilder, QuantReport), Error> {
    if gen.is_integer() {
        return Err(Error::CannotQuantize {
            layer: 0,
            reason: "the generator is already an integer one",
        });
    }
    let specs: Vec<LayerSpec> = gen.layers().collect();
    let max_abs = calibrate(gen, cal)?;
    let frac = choose_frac(&specs, &max_abs);
    let mut b = ModelBuilder::new_integer(
        gen.latent_dim(),
        gen.num_classes(),
        gen.output_shape(),
        frac.clone(),
    );
    let mut coarsened = 0;
    for (i, spec) in specs.iter().enumerate() {
        let (w, bias) = gen.layer_values(i);
        let (tensors, n) = layer_tensors(i, spec, &w, &bias, frac[i])?;
        coarsened += n;
        b.int_layer(*spec, tensors);
    }
    for (k, v) in gen.metadata_entries() {
        if let Some(key) = k.strip_prefix("provenance.") {
            b.provenance(key, v);
        }
    }
    b.provenance("quantization", &describe(cal));
    let report = QuantReport {
        max_abs,
        frac,
        coarsened_channels: coarsened,
        calibration: cal,
    };
    Ok((b, report))
}

/// The value of `provenance.quantization`.
fn describe(cal: Calibration) -> String {
    format!(
        "int8 weights per output channel, int16 activations; calibrated on {} latents, seed {}",
        cal.count, cal.seed
    )
}

/// The largest magnitude at each boundary over the calibration latents (image `i` gets class
/// `i % classes`, as `trainer sample` does).
fn calibrate(gen: &Generator<'_>, cal: Calibration) -> Result<Vec<f32>, Error> {
    let mut rng = LatentRng::new(cal.seed);
    let mut z = vec![0f32; gen.latent_dim()];
    let mut max_abs = vec![0f32; gen.layers().count() + 1];
    for i in 0..cal.count.max(1) {
        rng.fill_normal(&mut z);
        let class = (gen.num_classes() > 0).then(|| i % gen.num_classes());
        gen.trace(&z, class, &mut |boundary, values| {
            let m = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            max_abs[boundary] = max_abs[boundary].max(m);
        })?;
    }
    Ok(max_abs)
}

/// Whether a layer of this kind may set its output's `F` (only the requantising kinds do).
fn requantises(spec: &LayerSpec) -> bool {
    matches!(
        spec,
        LayerSpec::Dense { .. } | LayerSpec::Conv2d { .. } | LayerSpec::ConvTranspose2d { .. }
    )
}

/// The most fraction bits that keep `max_abs` with headroom within 16 bits.
fn fitting_frac(max_abs: f32) -> u32 {
    let m = f64::from(max_abs) * HEADROOM;
    (0..=MAX_FRAC)
        .rev()
        .find(|&f| m * f64::from(1u32 << f) <= 32767.0)
        .unwrap_or(0)
}

/// `F` per boundary: boundaries joined by a layer that keeps `F` form a group, which takes the
/// smallest `F` its members need; `tanh` and `sigmoid` outputs are 15, and a group feeding
/// `onehot_concat` at most 14.
fn choose_frac(specs: &[LayerSpec], max_abs: &[f32]) -> Vec<u32> {
    let mut group = vec![0usize; specs.len() + 1];
    let mut fixed: Vec<Option<u32>> = vec![None];
    for (i, spec) in specs.iter().enumerate() {
        group[i + 1] = match spec {
            LayerSpec::Tanh | LayerSpec::Sigmoid => {
                fixed.push(Some(15));
                fixed.len() - 1
            }
            s if requantises(s) => {
                fixed.push(None);
                fixed.len() - 1
            }
            _ => group[i],
        };
    }
    let mut frac: Vec<u32> = fixed.iter().map(|f| f.unwrap_or(MAX_FRAC)).collect();
    for (b, &g) in group.iter().enumerate() {
        if fixed[g].is_none() {
            frac[g] = frac[g].min(fitting_frac(max_abs[b]));
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        if matches!(spec, LayerSpec::OneHotConcat { .. }) {
            frac[group[i]] = frac[group[i]].min(14);
        }
    }
    group.iter().map(|&g| frac[g]).collect()
}

/// Layer `i`'s version-2 tensors from its float values, with `f_in` its input's `F`; also the
/// number of channels coarsened.
fn layer_tensors(
    i: usize,
    spec: &LayerSpec,
    w: &[f32],
    bias: &[f32],
    f_in: u32,
) -> Result<(Vec<(TensorRole, IntTensor)>, usize), Error> {
    let channels = match *spec {
        LayerSpec::Dense { out_features, .. } => Some((out_features, ChannelAxis::Outer)),
        LayerSpec::Conv2d { out_channels, .. } => Some((out_channels, ChannelAxis::Outer)),
        LayerSpec::ConvTranspose2d {
            in_channels,
            out_channels,
            kernel,
            ..
        } => Some((
            out_channels,
            ChannelAxis::Middle {
                outer: in_channels,
                inner: kernel * kernel,
            },
        )),
        _ => None,
    };
    if let Some((out, axis)) = channels {
        return Ok(quantize_channels(i, w, bias, out, axis, f_in)?.into_parts());
    }
    Ok(match *spec {
        LayerSpec::Tanh => (vec![(TensorRole::Table, table(f64::tanh))], 0),
        LayerSpec::Sigmoid => {
            let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
            (vec![(TensorRole::Table, table(sigmoid))], 0)
        }
        LayerSpec::EmbedConcat { .. } => {
            let unit = f64::from(1u32 << f_in);
            let rows = w.iter().map(|&v| saturate16(f64::from(v) * unit)).collect();
            (vec![(TensorRole::Weight, IntTensor::I16(rows))], 0)
        }
        LayerSpec::LeakyRelu { slope } if !(-1.0..=1.0).contains(&slope) => {
            return Err(Error::CannotQuantize {
                layer: i,
                reason: "an integer leaky_relu needs a slope in -1..=1",
            })
        }
        _ => (Vec::new(), 0),
    })
}

/// `T[j] = min(32767, round(f(j / 32) * 32768))`, `j = 0 ..= 256`.
fn table(f: impl Fn(f64) -> f64) -> IntTensor {
    let t = (0..=256)
        .map(|j| saturate16(f(f64::from(j) / 32.0) * 32768.0))
        .collect();
    IntTensor::I16(t)
}

/// `v` rounded to nearest (halves away from zero) and saturated to 16 bits.
fn saturate16(v: f64) -> i16 {
    v.round().clamp(-32768.0, 32767.0) as i16
}

/// Where a weight tensor keeps its output channels: the first axis (`dense`, `conv2d`), or the
/// second of `[outer, out, inner]` (`conv_transpose2d`'s `[in, out, k, k]`).
#[derive(Clone, Copy)]
enum ChannelAxis {
    Outer,
    Middle { outer: usize, inner: usize },
}

impl ChannelAxis {
    /// The indices of channel `o`'s weights among `len` weights of `out` channels.
    fn indices(self, o: usize, out: usize, len: usize) -> Vec<usize> {
        match self {
            ChannelAxis::Outer => {
                let per = len / out.max(1);
                (o * per..(o + 1) * per).collect()
            }
            ChannelAxis::Middle { outer, inner } => (0..outer)
                .flat_map(|c| {
                    let start = (c * out + o) * inner;
                    start..start + inner
                })
                .collect(),
        }
    }
}

/// A requantising layer's quantised tensors.
struct Channels {
    weight: Vec<i8>,
    bias: Vec<i32>,
    scale: Vec<f32>,
    coarsened: usize,
}

impl Channels {
    /// The stored tensors, and the number of channels coarsened.
    fn into_parts(self) -> (Vec<(TensorRole, IntTensor)>, usize) {
        let tensors = vec![
            (TensorRole::Weight, IntTensor::I8(self.weight)),
            (TensorRole::Bias, IntTensor::I32(self.bias)),
            (TensorRole::Scale, IntTensor::F32(self.scale)),
        ];
        (tensors, self.coarsened)
    }
}

/// Quantises each of `out` channels of `w` (laid out along `axis`) and its bias.
fn quantize_channels(
    layer: usize,
    w: &[f32],
    bias: &[f32],
    out: usize,
    axis: ChannelAxis,
    f_in: u32,
) -> Result<Channels, Error> {
    let mut q = Channels {
        weight: vec![0; w.len()],
        bias: vec![0; out],
        scale: vec![0.0; out],
        coarsened: 0,
    };
    for o in 0..out {
        let idx = axis.indices(o, out, w.len());
        let values: Vec<f64> = idx.iter().map(|&k| f64::from(w[k])).collect();
        let b = bias.get(o).copied().map_or(0.0, f64::from);
        let (scale, ws, qb, coarse) = quantize_channel(layer, &values, b, f_in)?;
        for (&k, &v) in idx.iter().zip(&ws) {
            q.weight[k] = v;
        }
        q.bias[o] = qb;
        q.scale[o] = scale;
        q.coarsened += usize::from(coarse);
    }
    Ok(q)
}

/// One channel: its scale, int8 weights, int32 bias (in units of `scale * 2^-f_in`) and whether
/// the scale was coarsened to keep `|bias| + 32768 * sum |w| <= 2^31 - 1`.
fn quantize_channel(
    layer: usize,
    w: &[f64],
    b: f64,
    f_in: u32,
) -> Result<(f32, Vec<i8>, i32, bool), Error> {
    let max = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    // A channel of zeros gets the scale that makes its bias exact enough: any positive scale is
    // valid for its weights.
    let mut scale = if max > 0.0 {
        max / 127.0
    } else {
        b.abs().max(1e-30) / 2e9
    };
    for attempt in 0..64 {
        let s = f64::from(scale as f32);
        let ws: Vec<i8> = w
            .iter()
            .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let qb = (b * f64::from(1u32 << f_in) / s).round();
        let sum: f64 = ws.iter().map(|&v| f64::from(v).abs()).sum();
        if qb.abs() + 32768.0 * sum <= ACC_LIMIT {
            return Ok((s as f32, ws, qb as i32, attempt > 0));
        }
        scale *= 1.0 + ((qb.abs() + 32768.0 * sum) / ACC_LIMIT - 1.0).max(0.01);
    }
    Err(Error::CannotQuantize {
        layer,
        reason: "no weight scale keeps the accumulator within 32 bits",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_bits_keep_a_quarter_of_headroom() {
        assert_eq!(fitting_frac(1.0), 14); // 1.25 * 2^14 = 20480 <= 32767 < 1.25 * 2^15
        assert_eq!(fitting_frac(0.0), MAX_FRAC);
        assert_eq!(fitting_frac(30000.0), 0);
        assert_eq!(fitting_frac(5.0), 12);
    }

    #[test]
    fn groups_share_the_smallest_fraction_bits() {
        use LayerSpec::*;
        let specs = [
            OneHotConcat { classes: 10 },
            Dense {
                in_features: 20,
                out_features: 4,
            },
            Relu,
            Tanh,
        ];
        // Latent 0.5 would take 15 bits, but onehot caps its group at 14; the dense output and
        // the relu share 3.0's 13 bits; tanh is 15.
        let f = choose_frac(&specs, &[0.5, 0.5, 1.0, 3.0, 1.0]);
        assert_eq!(f, vec![14, 14, 13, 13, 15]);
    }

    #[test]
    fn a_channel_too_heavy_for_32_bits_is_coarsened() {
        let w = vec![1.0f64; 70_000];
        let (s, ws, _, coarse) = quantize_channel(0, &w, 0.0, 10).unwrap();
        let sum: f64 = ws.iter().map(|&v| f64::from(v).abs()).sum();
        assert!(coarse && 32768.0 * sum <= ACC_LIMIT && s > 1.0 / 127.0);
    }

    #[test]
    fn tables_follow_the_documented_formula() {
        let IntTensor::I16(t) = table(f64::tanh) else {
            panic!("tanh table is I16")
        };
        assert_eq!((t.len(), t[0], t[32], t[256]), (257, 0, 24956, 32767));
    }

    #[test]
    fn transposed_convolution_channels_are_the_middle_axis() {
        let axis = ChannelAxis::Middle { outer: 2, inner: 2 };
        assert_eq!(axis.indices(1, 3, 12), vec![2, 3, 8, 9]);
    }
}
