//! Puts memory.x on the linker path and writes the embedded model: a small
//! generator that uses every layer kind, so that every kernel is linked.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use runtime::format::{DType, LayerSpec as L, TensorRole};
use runtime::write::ModelBuilder;
use runtime::Shape;

/// The default model: every layer kind, so that every kernel is linked.
const ALL_KINDS: [L; 10] = [
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

/// `dense-bench`: one dense layer, 256 -> 64, no activation.
const DENSE: [L; 1] = [L::Dense {
    in_features: 256,
    out_features: 64,
}];

/// `convt-bench`: the shipped DCGAN's first transposed convolution,
/// 32 x 7 x 7 -> 16 x 14 x 14.
const CONVT: [L; 2] = [
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

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    link_memory_x(&out);
    println!("cargo:rerun-if-changed=build.rs");
    let file = model();
    fs::write(out.join("model.safetensors"), &file).expect("the model is written");
    fs::write(out.join("expected.rs"), expected(&file)).expect("the expected hash is written");
}

/// Copies memory.x where cortex-m-rt's `link.x` looks for it.
fn link_memory_x(out: &Path) {
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x is copied");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}

/// Whether the firmware is built with the cargo feature `name` (in the
/// environment's spelling, e.g. `DENSE_BENCH`).
fn feature(name: &str) -> bool {
    env::var_os(format!("CARGO_FEATURE_{name}")).is_some()
}

/// The layers the features ask for, and a builder for their input and output.
fn layers() -> (&'static [L], ModelBuilder) {
    if feature("CONVT_BENCH") {
        let output = Shape {
            c: 16,
            h: 14,
            w: 14,
        };
        (&CONVT, ModelBuilder::new(32 * 7 * 7, 0, output))
    } else if feature("DENSE_BENCH") {
        let output = Shape { c: 1, h: 8, w: 8 };
        (&DENSE, ModelBuilder::new(256, 0, output))
    } else {
        let output = Shape { c: 1, h: 28, w: 28 };
        (&ALL_KINDS, ModelBuilder::new(32, 10, output))
    }
}

/// The model file: [`layers`] with reproducible weights in -0.1..0.1, stored
/// as F16 (F32 with the `f32-weights` feature), or with the `integer`
/// feature quantised to a version-2 file (`runtime::quantize`, as the exporter does).
fn model() -> Vec<u8> {
    let (layers, mut b) = layers();
    b.dtype(if feature("F32_WEIGHTS") {
        DType::F32
    } else {
        DType::F16
    });
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
    if feature("INTEGER") {
        let probe = b.build().expect("the footprint model builds");
        let g = runtime::Generator::load(&probe).expect("the footprint model loads");
        let (quantised, _) = runtime::quantize::quantize(&g, Default::default())
            .expect("the footprint model quantises");
        return quantised
            .build()
            .expect("the quantised footprint model builds");
    }
    b.build().expect("the footprint model builds")
}

/// `expected.rs`: the hash of the image the host generates from `file` and the
/// firmware's latent; the firmware must produce the same bits.
fn expected(file: &[u8]) -> String {
    let g = runtime::Generator::load(file).expect("the footprint model loads");
    let mut z = vec![0.0; g.latent_dim()];
    runtime::rng::LatentRng::new(7).fill_normal(&mut z);
    let mut scratch = vec![0.0; g.scratch_len()];
    let mut image = vec![0.0; g.output_len()];
    g.generate(&z, g.num_classes().checked_sub(1), &mut scratch, &mut image)
        .expect("the host generates");
    let hash = image.iter().fold(0x811c_9dc5u32, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x0100_0193)
    });
    format!(
        "/// FNV-1a over the f32 bits the host generated.\nconst EXPECTED: u32 = {hash:#010x};\n"
    )
}
