//! Structure-aware: the input picks a layer list (every kind, small odd geometries: strides above
//! the kernel, padding, output padding, upsampling), conditioning, the format version and
//! weights (version 2: int8 weights, int32 biases, scales, tables, fraction bits); whatever
//! `ModelBuilder` accepts (it proves the file by loading it) must generate with buffers of exactly
//! `scratch_len()` / `output_len()` for every class, with no panic and no out-of-bounds access.
//! Raw byte mutations rarely keep a file's header consistent; this reaches the shape and kernel
//! code instead.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use runtime::format::{DType, LayerSpec, TensorRole};
use runtime::rng::LatentRng;
use runtime::write::{IntTensor, ModelBuilder};
use runtime::{Generator, Shape};

/// Keeps each input fast: tensors and activations of a few thousand elements.
const MAX_TENSOR: usize = 4096;

fn layer(u: &mut Unstructured, classes: usize) -> Result<LayerSpec> {
    let small = |u: &mut Unstructured, lo: usize, hi: usize| u.int_in_range(lo..=hi);
    Ok(match u.int_in_range(0u8..=10)? {
        0 => LayerSpec::Dense {
            in_features: small(u, 1, 64)?,
            out_features: small(u, 1, 64)?,
        },
        1 => {
            let kernel = small(u, 1, 5)?;
            LayerSpec::Conv2d {
                in_channels: small(u, 1, 6)?,
                out_channels: small(u, 1, 6)?,
                kernel,
                stride: small(u, 1, 4)?,
                padding: small(u, 0, kernel - 1)?,
            }
        }
        2 => {
            let kernel = small(u, 1, 5)?;
            let stride = small(u, 1, 4)?;
            LayerSpec::ConvTranspose2d {
                in_channels: small(u, 1, 6)?,
                out_channels: small(u, 1, 6)?,
                kernel,
                stride,
                padding: small(u, 0, kernel - 1)?,
                output_padding: small(u, 0, stride - 1)?,
            }
        }
        3 => LayerSpec::UpsampleNearest {
            scale: small(u, 1, 4)?,
        },
        4 => LayerSpec::Reshape {
            c: small(u, 1, 6)?,
            h: small(u, 1, 8)?,
            w: small(u, 1, 8)?,
        },
        5 => LayerSpec::Relu,
        6 => LayerSpec::LeakyRelu {
            slope: [0.2, 0.01, 0.00001, 1.5][small(u, 0, 3)?],
        },
        7 => LayerSpec::Tanh,
        8 => LayerSpec::Sigmoid,
        9 => LayerSpec::EmbedConcat {
            classes: classes.max(1),
            dim: small(u, 1, 8)?,
        },
        _ => LayerSpec::OneHotConcat {
            classes: classes.max(1),
        },
    })
}

fn tensor(u: &mut Unstructured, spec: &LayerSpec, role: TensorRole) -> Result<Option<Vec<f32>>> {
    if spec.tensor_shape(role).is_none() {
        return Ok(None);
    }
    let n = spec.tensor_len(role).unwrap_or(usize::MAX);
    if n > MAX_TENSOR {
        return Err(libfuzzer_sys::arbitrary::Error::IncorrectFormat);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        // Mostly small values; the fuzzer's bytes choose them when it has any left.
        v.push(f32::from(u.int_in_range(-64i8..=64)?) / 32.0);
    }
    Ok(Some(v))
}

/// A version-2 layer's tensors: arbitrary integers, scales of any exponent near the ones a
/// quantiser writes (some give shifts out of range, which the builder refuses).
fn int_tensors(u: &mut Unstructured, spec: &LayerSpec) -> Result<Vec<(TensorRole, IntTensor)>> {
    let mut out = Vec::new();
    for role in TensorRole::ALL {
        let Some((shape, dtype)) = spec.integer_tensor(role) else {
            continue;
        };
        let n: usize = shape.as_slice().unwrap_or(&[]).iter().product();
        if n > MAX_TENSOR {
            return Err(libfuzzer_sys::arbitrary::Error::IncorrectFormat);
        }
        let t = match dtype {
            DType::I8 => IntTensor::I8((0..n).map(|_| u.arbitrary()).collect::<Result<_>>()?),
            DType::I16 => IntTensor::I16((0..n).map(|_| u.arbitrary()).collect::<Result<_>>()?),
            DType::I32 => IntTensor::I32(
                (0..n)
                    .map(|_| u.int_in_range(-1_000_000i32..=1_000_000))
                    .collect::<Result<_>>()?,
            ),
            _ => IntTensor::F32(
                (0..n)
                    .map(|_| {
                        Ok(2f32.powi(-u.int_in_range(0i32..=30)?)
                            * (1.0 + f32::from(u.arbitrary::<u8>()?) / 256.0))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        out.push((role, t));
    }
    Ok(out)
}

/// The output fraction bits of a version-2 layer on an input with `f`: the fuzzer's choice where
/// the layer requantises, else what its kind gives.
fn next_frac(u: &mut Unstructured, spec: &LayerSpec, f: u32) -> Result<u32> {
    Ok(match spec {
        LayerSpec::Dense { .. } | LayerSpec::Conv2d { .. } | LayerSpec::ConvTranspose2d { .. } => {
            u.int_in_range(0u32..=24)?
        }
        LayerSpec::Tanh | LayerSpec::Sigmoid => 15,
        _ => f,
    })
}

fn build(u: &mut Unstructured) -> Result<Option<Vec<u8>>> {
    let latent = u.int_in_range(1usize..=32)?;
    let classes = if u.arbitrary()? {
        u.int_in_range(1usize..=5)?
    } else {
        0
    };
    let output = Shape {
        c: u.int_in_range(1usize..=4)?,
        h: u.int_in_range(1usize..=16)?,
        w: u.int_in_range(1usize..=16)?,
    };
    let count = u.int_in_range(1usize..=8)?;
    if u.arbitrary()? {
        let mut fracs = vec![u.int_in_range(0u32..=24)?];
        let mut layers = Vec::new();
        for _ in 0..count {
            let spec = layer(u, classes)?;
            fracs.push(next_frac(u, &spec, fracs[fracs.len() - 1])?);
            layers.push((spec, int_tensors(u, &spec)?));
        }
        let mut b = ModelBuilder::new_integer(latent, classes, output, fracs);
        for (spec, tensors) in layers {
            b.int_layer(spec, tensors);
        }
        return Ok(b.build().ok());
    }
    let mut b = ModelBuilder::new(latent, classes, output);
    b.dtype(if u.arbitrary()? {
        DType::F16
    } else {
        DType::F32
    });
    for _ in 0..count {
        let spec = layer(u, classes)?;
        let w = tensor(u, &spec, TensorRole::Weight)?;
        let bias = tensor(u, &spec, TensorRole::Bias)?;
        b.layer(spec, w, bias);
    }
    Ok(b.build().ok())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(Some(bytes)) = build(&mut u) else {
        return;
    };
    let g = match Generator::load(&bytes) {
        Ok(g) => g,
        Err(e) => panic!("ModelBuilder wrote a file the loader refuses: {e}"),
    };
    let mut z = vec![0.0f32; g.latent_dim()];
    LatentRng::new(1).fill_normal(&mut z);
    let mut scratch = vec![0.0f32; g.scratch_len()];
    let mut out = vec![0.0f32; g.output_len()];
    let classes: Vec<Option<usize>> = if g.num_classes() == 0 {
        vec![None]
    } else {
        (0..g.num_classes()).map(Some).collect()
    };
    for class in classes {
        if let Err(e) = g.generate(&z, class, &mut scratch, &mut out) {
            panic!("a built generator failed with the buffers it asked for: {e}");
        }
    }
});
