//! Development models for tests: the shape of the shipped digit DCGAN with deterministic
//! pseudo-random weights. They exercise every code path but draw noise, not digits; they are
//! built in memory (or into a temporary file) and never shipped.
#![allow(dead_code)]

use runtime::format::{DType, LayerSpec};
use runtime::write::ModelBuilder;
use runtime::Shape;

/// xorshift64*: reproducible weights without a dependency.
struct Weights(u64);

impl Weights {
    /// `n` values uniform in +-sqrt(3 / fan_in), the variance of He-style initialisation / 2.
    fn take(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let bound = (3.0 / fan_in as f32).sqrt();
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let u =
                    (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
                (2.0 * u - 1.0) * bound
            })
            .collect()
    }
}

/// The digit DCGAN's architecture (dense 100 -> 64x7x7, transposed convolutions 64 -> 32 -> 1,
/// tanh), conditioned by a one-hot class vector when `classes > 0`. `scale` shrinks the
/// channel counts for quick tests (1 = the real size).
pub fn dcgan(seed: u64, classes: usize, scale: usize, dtype: DType) -> Vec<u8> {
    let latent = 100;
    let (c1, c2) = (64 / scale, 32 / scale);
    let mut w = Weights(seed | 1);
    let mut b = ModelBuilder::new(latent, classes, Shape { c: 1, h: 28, w: 28 });
    b.dtype(dtype);
    let mut inputs = latent;
    if classes > 0 {
        b.layer(LayerSpec::OneHotConcat { classes }, None, None);
        inputs += classes;
    }
    dense(&mut b, &mut w, inputs, c1 * 7 * 7);
    b.layer(LayerSpec::Reshape { c: c1, h: 7, w: 7 }, None, None);
    b.layer(LayerSpec::Relu, None, None);
    for (cin, cout) in [(c1, c2), (c2, 1)] {
        b.layer(
            LayerSpec::ConvTranspose2d {
                in_channels: cin,
                out_channels: cout,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0,
            },
            Some(w.take(cin * cout * 16, cin * 4)),
            Some(w.take(cout, cin * 4)),
        );
        b.layer(activation(cout == 1), None, None);
    }
    finish(b, "dcgan")
}

/// An MLP generator (100 -> 128 -> 256 -> 512 -> 1024 -> 784, tanh): about 3 MB in f16, too big
/// for the Pico's flash.
pub fn mlp(seed: u64, dtype: DType) -> Vec<u8> {
    let mut w = Weights(seed | 1);
    let mut b = ModelBuilder::new(100, 0, Shape { c: 1, h: 28, w: 28 });
    b.dtype(dtype);
    let sizes = [100, 128, 256, 512, 1024, 784];
    for pair in sizes.windows(2) {
        dense(&mut b, &mut w, pair[0], pair[1]);
        b.layer(activation(pair[1] == 784), None, None);
    }
    finish(b, "mlp")
}

/// A dense layer `inputs -> outputs` with weights and bias from `w`.
fn dense(b: &mut ModelBuilder, w: &mut Weights, inputs: usize, outputs: usize) {
    b.layer(
        LayerSpec::Dense {
            in_features: inputs,
            out_features: outputs,
        },
        Some(w.take(outputs * inputs, inputs)),
        Some(w.take(outputs, inputs)),
    );
}

/// Tanh after the last layer (images in -1..1), ReLU between layers.
fn activation(last: bool) -> LayerSpec {
    if last {
        LayerSpec::Tanh
    } else {
        LayerSpec::Relu
    }
}

/// Names the architecture and marks the weights as untrained, then writes the file.
fn finish(mut b: ModelBuilder, arch: &str) -> Vec<u8> {
    b.provenance("arch", arch);
    b.provenance("trainer", "random weights for development, untrained");
    b.build().expect("the development model is valid")
}
