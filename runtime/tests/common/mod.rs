//! Shared test helpers: small generators built with `ModelBuilder`, random
//! weights, and a straightforward f64 forward pass to check the runtime.

#![allow(dead_code)]

use runtime::format::{DType, LayerSpec, TensorRole};
use runtime::write::ModelBuilder;
use runtime::Shape;

/// Deterministic uniform values in [-scale, scale) (xorshift64*).
pub struct Values(u64);

impl Values {
    pub fn new(seed: u64) -> Self {
        Values(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self, scale: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next(scale)).collect()
    }
}

/// A layer with its weight and bias values.
pub type Layer = (LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>);

/// A layer list with random tensors, ready for `ModelBuilder` and for the
/// reference pass.
pub struct Spec {
    pub latent_dim: usize,
    pub num_classes: usize,
    pub output: Shape,
    pub layers: Vec<Layer>,
}

impl Spec {
    pub fn new(
        latent_dim: usize,
        num_classes: usize,
        output: Shape,
        specs: &[LayerSpec],
        seed: u64,
    ) -> Self {
        let mut v = Values::new(seed);
        let layers = specs
            .iter()
            .map(|s| {
                let fan_in = match *s {
                    LayerSpec::Dense { in_features, .. } => in_features,
                    LayerSpec::Conv2d {
                        in_channels,
                        kernel,
                        ..
                    }
                    | LayerSpec::ConvTranspose2d {
                        in_channels,
                        kernel,
                        ..
                    } => in_channels * kernel * kernel,
                    _ => 1,
                };
                let scale = 1.5 / (fan_in as f32).sqrt();
                let w = s
                    .tensor_shape(TensorRole::Weight)
                    .map(|_| v.vec(s.tensor_len(TensorRole::Weight).unwrap(), scale));
                let b = s
                    .tensor_shape(TensorRole::Bias)
                    .map(|_| v.vec(s.tensor_len(TensorRole::Bias).unwrap(), 0.3));
                (*s, w, b)
            })
            .collect();
        Spec {
            latent_dim,
            num_classes,
            output,
            layers,
        }
    }

    pub fn builder(&self, dtype: DType) -> ModelBuilder {
        let mut b = ModelBuilder::new(self.latent_dim, self.num_classes, self.output);
        b.dtype(dtype);
        for (s, w, bias) in &self.layers {
            b.layer(*s, w.clone(), bias.clone());
        }
        b
    }

    pub fn build(&self, dtype: DType) -> Vec<u8> {
        self.builder(dtype).build().expect("test model builds")
    }

    /// A version-2 builder of this spec, quantised plainly (see
    /// `runtime::reference::quantize`).
    pub fn integer_builder(&self) -> ModelBuilder {
        runtime::reference::quantize(&self.layers, self.latent_dim, self.num_classes, self.output)
            .expect("test model quantises")
    }

    pub fn build_integer(&self) -> Vec<u8> {
        self.integer_builder()
            .build()
            .expect("integer test model builds")
    }

    /// The forward pass in f64 on the weights as stored (rounded to `dtype`).
    pub fn reference(&self, dtype: DType, z: &[f32], class: Option<usize>) -> Vec<f64> {
        let stored = |v: &Option<Vec<f32>>| -> Vec<f64> {
            v.as_ref()
                .map(|v| {
                    v.iter()
                        .map(|&x| match dtype {
                            DType::F16 => f64::from(half::f16::from_f32(x).to_f32()),
                            // F32; the float files have no other dtype.
                            _ => f64::from(x),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut x: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
        // (c, h, w) of the current activation when it is an image.
        let mut shape = (0usize, 0usize, 0usize);
        for (spec, w, b) in &self.layers {
            let (w, b) = (stored(w), stored(b));
            x = match *spec {
                LayerSpec::Dense {
                    in_features,
                    out_features,
                } => (0..out_features)
                    .map(|o| {
                        b[o] + (0..in_features)
                            .map(|i| w[o * in_features + i] * x[i])
                            .sum::<f64>()
                    })
                    .collect(),
                LayerSpec::Conv2d {
                    in_channels,
                    out_channels,
                    kernel: k,
                    stride,
                    padding,
                } => {
                    let (_, h, wd) = shape;
                    let oh = (h + 2 * padding - k) / stride + 1;
                    let ow = (wd + 2 * padding - k) / stride + 1;
                    let mut y = vec![0.0; out_channels * oh * ow];
                    for o in 0..out_channels {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let mut s = b[o];
                                for c in 0..in_channels {
                                    for ky in 0..k {
                                        for kx in 0..k {
                                            if let Some(p) = padded(
                                                oy * stride + ky,
                                                ox * stride + kx,
                                                padding,
                                                h,
                                                wd,
                                            ) {
                                                s += w[((o * in_channels + c) * k + ky) * k + kx]
                                                    * x[c * h * wd + p];
                                            }
                                        }
                                    }
                                }
                                y[(o * oh + oy) * ow + ox] = s;
                            }
                        }
                    }
                    shape = (out_channels, oh, ow);
                    y
                }
                LayerSpec::ConvTranspose2d {
                    in_channels,
                    out_channels,
                    kernel: k,
                    stride,
                    padding,
                    output_padding,
                } => {
                    // Scatter form: each input pixel spreads over a k x k patch.
                    let (_, h, wd) = shape;
                    let oh = (h - 1) * stride + k + output_padding - 2 * padding;
                    let ow = (wd - 1) * stride + k + output_padding - 2 * padding;
                    let mut y = vec![0.0; out_channels * oh * ow];
                    for o in 0..out_channels {
                        for p in 0..oh * ow {
                            y[o * oh * ow + p] = b[o];
                        }
                    }
                    for c in 0..in_channels {
                        for iy in 0..h {
                            for ix in 0..wd {
                                let v = x[(c * h + iy) * wd + ix];
                                for o in 0..out_channels {
                                    for ky in 0..k {
                                        for kx in 0..k {
                                            if let Some(p) = padded(
                                                iy * stride + ky,
                                                ix * stride + kx,
                                                padding,
                                                oh,
                                                ow,
                                            ) {
                                                y[o * oh * ow + p] += v * w
                                                    [((c * out_channels + o) * k + ky) * k + kx];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    shape = (out_channels, oh, ow);
                    y
                }
                LayerSpec::UpsampleNearest { scale } => {
                    let (c, h, wd) = shape;
                    let (oh, ow) = (h * scale, wd * scale);
                    let mut y = vec![0.0; c * oh * ow];
                    for ch in 0..c {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                y[(ch * oh + oy) * ow + ox] =
                                    x[(ch * h + oy / scale) * wd + ox / scale];
                            }
                        }
                    }
                    shape = (c, oh, ow);
                    y
                }
                LayerSpec::Reshape { c, h, w } => {
                    shape = (c, h, w);
                    x
                }
                LayerSpec::Relu => x.iter().map(|&v| v.max(0.0)).collect(),
                LayerSpec::LeakyRelu { slope } => x
                    .iter()
                    .map(|&v| if v >= 0.0 { v } else { f64::from(slope) * v })
                    .collect(),
                LayerSpec::Tanh => x.iter().map(|v| v.tanh()).collect(),
                LayerSpec::Sigmoid => x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
                LayerSpec::EmbedConcat { dim, .. } => {
                    let k = class.unwrap();
                    x.extend_from_slice(&w[k * dim..(k + 1) * dim]);
                    x
                }
                LayerSpec::OneHotConcat { classes } => {
                    let k = class.unwrap();
                    x.extend((0..classes).map(|i| if i == k { 1.0 } else { 0.0 }));
                    x
                }
            };
        }
        x
    }
}

/// The flat index of `(y - padding, x - padding)` in an `h x w` image, or
/// `None` outside it: where a padded convolution's tap lands.
fn padded(y: usize, x: usize, padding: usize, h: usize, w: usize) -> Option<usize> {
    let (y, x) = (y.checked_sub(padding)?, x.checked_sub(padding)?);
    (y < h && x < w).then_some(y * w + x)
}

/// Checks `got` against the f64 reference within f32 rounding.
pub fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * (1.0 + w.abs());
        assert!(
            (f64::from(g) - w).abs() <= tol,
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// An MLP with one-hot conditioning: dense (with an input length that is not
/// a multiple of 16), leaky ReLU, ReLU, reshape, tanh.
pub fn mlp_onehot() -> Spec {
    Spec::new(
        30,
        3,
        Shape { c: 3, h: 4, w: 4 },
        &[
            LayerSpec::OneHotConcat { classes: 3 },
            LayerSpec::Dense {
                in_features: 33,
                out_features: 40,
            },
            LayerSpec::LeakyRelu { slope: 0.2 },
            LayerSpec::Dense {
                in_features: 40,
                out_features: 48,
            },
            LayerSpec::Relu,
            LayerSpec::Reshape { c: 3, h: 4, w: 4 },
            LayerSpec::Tanh,
        ],
        1,
    )
}

/// A convolutional generator with an embedding: every image layer kind.
pub fn conv_embed() -> Spec {
    Spec::new(
        6,
        4,
        Shape { c: 1, h: 5, w: 5 },
        &[
            LayerSpec::EmbedConcat { classes: 4, dim: 3 },
            LayerSpec::Dense {
                in_features: 9,
                out_features: 18,
            },
            LayerSpec::Relu,
            LayerSpec::Reshape { c: 2, h: 3, w: 3 },
            LayerSpec::ConvTranspose2d {
                in_channels: 2,
                out_channels: 3,
                kernel: 3,
                stride: 2,
                padding: 1,
                output_padding: 1,
            },
            LayerSpec::LeakyRelu { slope: 0.1 },
            LayerSpec::UpsampleNearest { scale: 2 },
            LayerSpec::Conv2d {
                in_channels: 3,
                out_channels: 2,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::Relu,
            LayerSpec::Conv2d {
                in_channels: 2,
                out_channels: 1,
                kernel: 4,
                stride: 2,
                padding: 0,
            },
            LayerSpec::Sigmoid,
        ],
        2,
    )
}

/// The DCGANs' doubling transposed convolution, as the reference
/// generators build it.
pub use runtime::reference::convt;

/// An unconditional DCGAN-like generator ending without an activation.
pub fn dcgan_plain() -> Spec {
    Spec::new(
        8,
        0,
        Shape { c: 1, h: 12, w: 12 },
        &[
            LayerSpec::Dense {
                in_features: 8,
                out_features: 4 * 3 * 3,
            },
            LayerSpec::Reshape { c: 4, h: 3, w: 3 },
            convt(4, 3),
            LayerSpec::Tanh,
            convt(3, 1),
        ],
        3,
    )
}

/// A file from a header text and a data section.
pub fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f
}

/// The header text and data section of a well-formed file.
pub fn split(file: &[u8]) -> (String, Vec<u8>) {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    (
        String::from_utf8(file[8..8 + n].to_vec()).unwrap(),
        file[8 + n..].to_vec(),
    )
}

/// The file with `from` replaced by `to` in its header (which must hold it).
pub fn edit(file: &[u8], from: &str, to: &str) -> Vec<u8> {
    let (h, d) = split(file);
    assert!(h.contains(from), "header lacks {from}: {h}");
    raw_file(&h.replacen(from, to, 1), &d)
}
