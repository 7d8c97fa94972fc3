//! Writes the seed corpus: small generators of every layer kind, built with `ModelBuilder` in
//! both dtypes of version 1 and quantised to version 2 (integer). The shipped models are copied next to them by the fuzz command (see
//! docs/reliability.md).
//!
//! Usage: `cargo run --example make_seeds -- <dir>`

use runtime::format::{DType, LayerSpec, TensorRole};
use runtime::write::ModelBuilder;
use runtime::Shape;

/// Small deterministic weights in [-0.5, 0.5).
fn values(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// The layers with their weights and biases.
fn with_weights(layers: &[LayerSpec]) -> Vec<(LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>)> {
    let mut seed = 7;
    layers
        .iter()
        .map(|l| {
            let tensor = |role, seed: &mut u64| {
                l.tensor_shape(role)
                    .and_then(|_| l.tensor_len(role))
                    .map(|n| values(n, seed))
            };
            let w = tensor(TensorRole::Weight, &mut seed);
            let bias = tensor(TensorRole::Bias, &mut seed);
            (*l, w, bias)
        })
        .collect()
}

/// A version-1 file in `dtype`, or (`None`) the version-2 file of the same weights.
fn build(
    latent: usize,
    classes: usize,
    out: Shape,
    layers: &[LayerSpec],
    dtype: Option<DType>,
) -> Result<Vec<u8>, runtime::Error> {
    let layers = with_weights(layers);
    let mut b = match dtype {
        Some(dtype) => {
            let mut b = ModelBuilder::new(latent, classes, out);
            b.dtype(dtype);
            for (l, w, bias) in layers {
                b.layer(l, w, bias);
            }
            b
        }
        None => runtime::reference::quantize(&layers, latent, classes, out)?,
    };
    b.provenance("seed", "7");
    b.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: make_seeds <dir>")?;
    std::fs::create_dir_all(&dir)?;
    use LayerSpec::*;
    let models: Vec<(&str, usize, usize, Shape, Vec<LayerSpec>)> = vec![
        (
            "dense-tanh",
            4,
            0,
            Shape { c: 1, h: 2, w: 2 },
            vec![
                Dense {
                    in_features: 4,
                    out_features: 4,
                },
                Reshape { c: 1, h: 2, w: 2 },
                Tanh,
            ],
        ),
        (
            "onehot-sigmoid",
            3,
            2,
            Shape { c: 2, h: 2, w: 2 },
            vec![
                OneHotConcat { classes: 2 },
                Dense {
                    in_features: 5,
                    out_features: 6,
                },
                LeakyRelu { slope: 0.2 },
                Dense {
                    in_features: 6,
                    out_features: 8,
                },
                Reshape { c: 2, h: 2, w: 2 },
                Sigmoid,
            ],
        ),
        (
            "embed-conv",
            3,
            3,
            Shape { c: 1, h: 4, w: 4 },
            vec![
                EmbedConcat { classes: 3, dim: 2 },
                Dense {
                    in_features: 5,
                    out_features: 8,
                },
                Relu,
                Reshape { c: 2, h: 2, w: 2 },
                ConvTranspose2d {
                    in_channels: 2,
                    out_channels: 2,
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                    output_padding: 1,
                },
                UpsampleNearest { scale: 2 },
                Conv2d {
                    in_channels: 2,
                    out_channels: 1,
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                },
                Tanh,
            ],
        ),
    ];
    for (name, latent, classes, out, layers) in &models {
        let kinds = [
            (Some(DType::F16), "f16"),
            (Some(DType::F32), "f32"),
            (None, "int8"),
        ];
        for (dtype, suffix) in kinds {
            let bytes = build(*latent, *classes, *out, layers, dtype)?;
            std::fs::write(format!("{dir}/{name}-{suffix}.safetensors"), bytes)?;
        }
    }
    Ok(())
}
