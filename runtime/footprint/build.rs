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

    let layers = [
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
    let mut b = ModelBuilder::new(32, 10, Shape { c: 1, h: 28, w: 28 });
    b.dtype(DType::F16);
    let mut seed = 1u32;
    for spec in layers {
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
    std::fs::write(out.join("model.safetensors"), file).expect("the model is written");
}
