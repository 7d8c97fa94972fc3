//! The two generator shapes that the benchmark (`cargo bench -p runtime`),
//! the candle comparison and the AArch64 instruction counts all run, built
//! with the same random weights everywhere so that their figures describe
//! one network: the classic MLP GAN generator and a small DCGAN for 28x28
//! (docs/performance.md). Weights are `0.05 * N(0, 1)` from a fixed seed,
//! stored as f16.

use crate::format::{DType, LayerSpec, TensorRole, TABLE_LEN};
use crate::rng::LatentRng;
use crate::write::{IntTensor, ModelBuilder};
use crate::Shape;

/// A layer with the f32 weight and bias values that were stored (rounded
/// to f16).
pub type RefLayer = (LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>);

/// A reference generator: its file, and its layers for passes that run
/// without the file.
pub struct Reference {
    pub name: &'static str,
    pub file: Vec<u8>,
    pub layers: Vec<RefLayer>,
}

/// Latent length of both references.
pub const LATENT: usize = 100;

fn random(name: &'static str, output: Shape, specs: &[LayerSpec]) -> Reference {
    let mut rng = LatentRng::new(1234);
    let mut b = ModelBuilder::new(LATENT, 0, output);
    b.dtype(DType::F16);
    let mut layers = Vec::new();
    for s in specs {
        let mut gen = |role| {
            s.tensor_len(role).filter(|&n| n > 0).map(|n| {
                let mut v = vec![0.0; n];
                rng.fill_normal(&mut v);
                v.iter_mut().for_each(|x| *x *= 0.05);
                v
            })
        };
        let (w, bias) = (gen(TensorRole::Weight), gen(TensorRole::Bias));
        layers.push((*s, w.clone(), bias.clone()));
        b.layer(*s, w, bias);
    }
    Reference {
        name,
        file: b.build().expect("a reference generator is a valid model"),
        layers,
    }
}

/// 100 -> 128 -> 256 -> 512 -> 1024 -> 784, LeakyReLU (0.2) between layers,
/// tanh (1.50 M multiply-accumulates).
pub fn mlp() -> Reference {
    let dims = [LATENT, 128, 256, 512, 1024, 784];
    let mut specs = Vec::new();
    for (i, w) in dims.windows(2).enumerate() {
        specs.push(LayerSpec::Dense {
            in_features: w[0],
            out_features: w[1],
        });
        specs.push(if i + 2 < dims.len() {
            LayerSpec::LeakyRelu { slope: 0.2 }
        } else {
            LayerSpec::Tanh
        });
    }
    random(
        "MLP 100-128-256-512-1024-784",
        Shape { c: 1, h: 28, w: 28 },
        &specs,
    )
}

/// A transposed convolution from `i` to `o` channels that doubles the
/// image (kernel 4, stride 2, padding 1), as DCGANs use.
pub fn convt(i: usize, o: usize) -> LayerSpec {
    LayerSpec::ConvTranspose2d {
        in_channels: i,
        out_channels: o,
        kernel: 4,
        stride: 2,
        padding: 1,
        output_padding: 0,
    }
}

/// Dense 100 -> 7x7x64, ReLU, transposed convolutions 64 -> 32 and 32 -> 1
/// (kernel 4, stride 2, padding 1) with a ReLU between, tanh (1.79 M
/// multiply-accumulates).
pub fn small_dcgan() -> Reference {
    random(
        "DCGAN dense 7x7x64, convT 64-32-1",
        Shape { c: 1, h: 28, w: 28 },
        &[
            LayerSpec::Dense {
                in_features: LATENT,
                out_features: 64 * 7 * 7,
            },
            LayerSpec::Reshape { c: 64, h: 7, w: 7 },
            LayerSpec::Relu,
            convt(64, 32),
            LayerSpec::Relu,
            convt(32, 1),
            LayerSpec::Tanh,
        ],
    )
}

/// The same generator quantised to a version-2 file (see [`quantize`]).
pub fn integer(r: &Reference) -> Vec<u8> {
    let output = Shape { c: 1, h: 28, w: 28 };
    quantize(&r.layers, LATENT, 0, output, 12)
        .build()
        .expect("a quantised reference generator is a valid model")
}

/// A version-2 builder of the float layers `layers`, quantised plainly,
/// without calibration: the latent and every requantising layer's output
/// get `frac` fraction bits (values up to `2^(15 - frac)`), `tanh` and
/// `sigmoid` 15, the other kinds their input's; per output channel
/// `scale = max |w| / 127`, doubled until the channel keeps the overflow
/// bound; weights and biases rounded to nearest; the embedding in its
/// activation's units; the tables from f64.
pub fn quantize(
    layers: &[RefLayer],
    latent_dim: usize,
    num_classes: usize,
    output: Shape,
    frac: u32,
) -> ModelBuilder {
    let mut fracs = vec![frac];
    for (s, _, _) in layers {
        let last = fracs[fracs.len() - 1];
        fracs.push(match s {
            LayerSpec::Dense { .. }
            | LayerSpec::Conv2d { .. }
            | LayerSpec::ConvTranspose2d { .. } => frac,
            LayerSpec::Tanh | LayerSpec::Sigmoid => 15,
            _ => last,
        });
    }
    let mut b = ModelBuilder::new_integer(latent_dim, num_classes, output, fracs.clone());
    for ((s, w, bias), &f_in) in layers.iter().zip(&fracs) {
        b.int_layer(*s, int_tensors(s, w.as_deref(), bias.as_deref(), f_in));
    }
    b
}

/// The version-2 tensors of layer `s` with input fraction bits `f_in`.
fn int_tensors(
    s: &LayerSpec,
    w: Option<&[f32]>,
    bias: Option<&[f32]>,
    f_in: u32,
) -> Vec<(TensorRole, IntTensor)> {
    let (w, bias) = (w.unwrap_or(&[]), bias.unwrap_or(&[]));
    match *s {
        LayerSpec::Dense { out_features, .. } => channels(w, bias, out_features, 1, f_in),
        LayerSpec::Conv2d { out_channels, .. } => channels(w, bias, out_channels, 1, f_in),
        LayerSpec::ConvTranspose2d {
            in_channels,
            out_channels,
            ..
        } => channels(w, bias, out_channels, in_channels, f_in),
        LayerSpec::EmbedConcat { .. } => {
            let unit = f64::from(1u32 << f_in);
            let q = w
                .iter()
                .map(|&v| (f64::from(v) * unit).round().clamp(-32768.0, 32767.0) as i16);
            vec![(TensorRole::Weight, IntTensor::I16(q.collect()))]
        }
        LayerSpec::Tanh | LayerSpec::Sigmoid => {
            let tanh = matches!(s, LayerSpec::Tanh);
            let f = |x: f64| {
                if tanh {
                    x.tanh()
                } else {
                    1.0 / (1.0 + (-x).exp())
                }
            };
            let t =
                (0..TABLE_LEN).map(|j| (f(j as f64 / 32.0) * 32768.0).round().min(32767.0) as i16);
            vec![(TensorRole::Table, IntTensor::I16(t.collect()))]
        }
        _ => vec![],
    }
}

/// Weights, biases and scales of a layer with `out` output channels whose
/// weights are `blocks` runs per channel (1 for `[out, ...]`, `in` for a
/// transposed convolution's `[in, out, k, k]`).
fn channels(
    w: &[f32],
    bias: &[f32],
    out: usize,
    blocks: usize,
    f_in: u32,
) -> Vec<(TensorRole, IntTensor)> {
    let per = w.len() / (out * blocks).max(1);
    let channel = |i: usize| (i / per.max(1)) % out;
    let mut scale = vec![0f32; out];
    for (i, v) in w.iter().enumerate() {
        scale[channel(i)] = scale[channel(i)].max(v.abs() / 127.0);
    }
    let unit = f64::from(1u32 << f_in);
    let quantise = |scale: &[f32]| -> (Vec<i8>, Vec<i32>) {
        let wq = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / scale[channel(i)]).round() as i8);
        let bq = bias.iter().zip(scale).map(|(&b, &s)| {
            (f64::from(b) * unit / f64::from(s))
                .round()
                .clamp(-1e9, 1e9) as i32
        });
        (wq.collect(), bq.collect())
    };
    for s in scale.iter_mut().filter(|s| **s == 0.0) {
        *s = 1.0;
    }
    loop {
        let (wq, bq) = quantise(&scale);
        let mut sums = vec![0u64; out];
        for (i, &v) in wq.iter().enumerate() {
            sums[channel(i)] += u64::from(v.unsigned_abs());
        }
        let broken: Vec<usize> = (0..out)
            .filter(|&o| u64::from(bq[o].unsigned_abs()) + 32768 * sums[o] > i32::MAX as u64)
            .collect();
        if broken.is_empty() {
            return vec![
                (TensorRole::Weight, IntTensor::I8(wq)),
                (TensorRole::Bias, IntTensor::I32(bq)),
                (TensorRole::Scale, IntTensor::F32(scale)),
            ];
        }
        for o in broken {
            scale[o] *= 2.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generator;

    #[test]
    fn references_load_with_their_sizes() {
        let (m, d) = (mlp(), small_dcgan());
        assert_eq!(Generator::load(&m.file).unwrap().macs(), 1_503_744);
        assert_eq!(Generator::load(&d.file).unwrap().macs(), 1_791_360);
        assert_eq!(m.layers.len(), 10);
        for file in [integer(&m), integer(&d)] {
            assert!(Generator::load(&file).unwrap().is_integer());
        }
        assert_eq!(
            small_dcgan().file,
            small_dcgan().file,
            "the weights are fixed"
        );
    }
}
