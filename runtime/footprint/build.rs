//! Puts memory.x on the linker path and writes the embedded model: a small
//! generator that uses every layer kind, so that every kernel is linked.

use std::path::PathBuf;

use runtime::format::{DType, LayerSpec as L, TensorRole};
use runtime::write::ModelBuilder;
use runtime::Shape;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x is copied");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");

    let dense_bench = std::env::var_os("CARGO_FEATURE_DENSE_BENCH").is_some();
    let dtype = if std::env::var_os("CARGO_FEATURE_F32_WEIGHTS").is_some() {
        DType::F32
    } else {
        DType::F16
    };
    let all_kinds = [
        L::EmbedConcat {
            classes: 10,
            dim: 10,
        },
        L::Dense {
            in_features: 42,
            out_features: 8 * 7 * 7,
        },
        L::LeakyRelu { slope: 0.2 },
        L::Reshape { c: 8, h: 7, w: 7 },
        L::ConvTranspose2d {
            in_channels: 8,
            out_channels: 4,
            kernel: 4,
            stride: 2,
            padding: 1,
            output_padding: 0,
        },
        L::Relu,
        L::UpsampleNearest { scale: 2 },
        L::Conv2d {
            in_channels: 4,
            out_channels: 1,
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        L::Sigmoid,
        L::Tanh,
    ];
    let dense = [L::Dense {
        in_features: 256,
        out_features: 64,
    }];
    // The shipped DCGAN's first transposed convolution: 32 x 7 x 7 -> 16 x 14 x 14.
    let convt = [
        L::Reshape { c: 32, h: 7, w: 7 },
        L::ConvTranspose2d {
            in_channels: 32,
            out_channels: 16,
            kernel: 4,
            stride: 2,
            padding: 1,
            output_padding: 0,
        },
    ];
    let convt_bench = std::env::var_os("CARGO_FEATURE_CONVT_BENCH").is_some();
    let (layers, mut b): (&[L], _) = if convt_bench {
        (
            &convt,
            ModelBuilder::new(
                32 * 7 * 7,
                0,
                Shape {
                    c: 16,
                    h: 14,
                    w: 14,
                },
            ),
        )
    } else if dense_bench {
        (
            &dense,
            ModelBuilder::new(256, 0, Shape { c: 1, h: 8, w: 8 }),
        )
    } else {
        (
            &all_kinds,
            ModelBuilder::new(32, 10, Shape { c: 1, h: 28, w: 28 }),
        )
    };
    b.dtype(dtype);
    let mut seed = 1u32;
    for &spec in layers {
        let mut values = |role| {
            spec.tensor_len(role).filter(|&n| n > 0).map(|n| {
                (0..n)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1
                    })
                    .collect()
            })
        };
        let (w, bias) = (values(TensorRole::Weight), values(TensorRole::Bias));
        b.layer(spec, w, bias);
    }
    let file = b.build().expect("the footprint model builds");
    std::fs::write(out.join("model.safetensors"), &file).expect("the model is written");

    // The image the host generates from the same file and latent: the
    // firmware must produce the same bits.
    let g = runtime::Generator::load(&file).expect("the footprint model loads");
    let mut z = vec![0.0; g.latent_dim()];
    runtime::rng::LatentRng::new(7).fill_normal(&mut z);
    let mut scratch = vec![0.0; g.scratch_len()];
    let mut image = vec![0.0; g.output_len()];
    g.generate(&z, g.num_classes().checked_sub(1), &mut scratch, &mut image)
        .expect("the host generates");
    let hash = image.iter().fold(0x811c_9dc5u32, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x0100_0193)
    });
    std::fs::write(
        out.join("expected.rs"),
        format!("/// FNV-1a over the f32 bits the host generated.\nconst EXPECTED: u32 = {hash:#010x};\n"),
    )
    .expect("the expected hash is written");
}
