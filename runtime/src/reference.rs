//! The two generator shapes that the benchmark (`cargo bench -p runtime`),
//! the candle comparison and the AArch64 instruction counts all run, built
//! with the same random weights everywhere so that their figures describe
//! one network: the classic MLP GAN generator and a small DCGAN for 28x28
//! (docs/performance.md). Weights are `0.05 * N(0, 1)` from a fixed seed,
//! stored as f16.

use crate::error::Error;
use crate::format::{DType, LayerSpec, TensorRole};
use crate::quantize::Calibration;
use crate::rng::LatentRng;
use crate::write::ModelBuilder;
use crate::{Generator, Shape};

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
    quantize(&r.layers, LATENT, 0, output)
        .and_then(|b| b.build())
        .expect("a quantised reference generator is a valid model")
}

/// A version-2 builder of the float layers `layers`: their f32 file, quantised by
/// [`crate::quantize`] calibrated on 16 latents, so that tests, benchmarks and fuzz seeds make
/// integer files the way the exporter does.
pub fn quantize(
    layers: &[RefLayer],
    latent_dim: usize,
    num_classes: usize,
    output: Shape,
) -> Result<ModelBuilder, Error> {
    let mut b = ModelBuilder::new(latent_dim, num_classes, output);
    b.dtype(DType::F32);
    for (s, w, bias) in layers {
        b.layer(*s, w.clone(), bias.clone());
    }
    let file = b.build()?;
    let gen = Generator::load(&file)?;
    let cal = Calibration {
        count: 16,
        ..Calibration::default()
    };
    crate::quantize::quantize(&gen, cal).map(|(b, _)| b)
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
