//! `Generator::prepare` / `Prepared::generate`: the weights reordered once
//! into a caller's buffer must give exactly the images that
//! `Generator::generate` gives, for every layer kind and channel count, the
//! shipped models included; a short buffer is an error, never a panic.

mod common;

use common::{conv_embed, convt, dcgan_plain, mlp_onehot, Spec};
use proptest::prelude::*;
use runtime::format::{DType, LayerSpec};
use runtime::rng::LatentRng;
use runtime::{Error, Generator, Shape};

/// Dense to `c0` x 4 x 4, transposed convolutions to `c1` then `c2`
/// channels (16 x 16), a stride-1 convolution to 3: blocks of 16 channels
/// full and partial, several blocks per layer, both convolution kinds.
fn wide(c0: usize, c1: usize, c2: usize, seed: u64) -> Spec {
    Spec::new(
        10,
        0,
        Shape { c: 3, h: 16, w: 16 },
        &[
            LayerSpec::Dense {
                in_features: 10,
                out_features: c0 * 16,
            },
            LayerSpec::Reshape { c: c0, h: 4, w: 4 },
            LayerSpec::Relu,
            convt(c0, c1),
            LayerSpec::Relu,
            convt(c1, c2),
            LayerSpec::LeakyRelu { slope: 0.2 },
            LayerSpec::Conv2d {
                in_channels: c2,
                out_channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::Tanh,
        ],
        seed,
    )
}

/// Dense layers only, through `dims`: rows fewer than a block of 16, one
/// input, inputs a multiple of 16 and not, rows of 1,024 inputs or more,
/// outputs in whole blocks and with a rest.
fn dense_chain(dims: &[usize], seed: u64) -> Spec {
    let mut layers = Vec::new();
    for w in dims.windows(2) {
        layers.push(LayerSpec::Dense {
            in_features: w[0],
            out_features: w[1],
        });
        layers.push(LayerSpec::LeakyRelu { slope: 0.2 });
    }
    let last = dims[dims.len() - 1];
    layers.push(LayerSpec::Reshape {
        c: 1,
        h: 1,
        w: last,
    });
    layers.push(LayerSpec::Tanh);
    Spec::new(
        dims[0],
        0,
        Shape {
            c: 1,
            h: 1,
            w: last,
        },
        &layers,
        seed,
    )
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Prepared and plain generation agree bit for bit on a few latents (and
/// every class); the buffer starts full of NaN, so a value the kernels read
/// without `prepare` writing it would show.
fn check(file: &[u8], what: &str) {
    let g = Generator::load(file).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut buf = vec![f32::NAN; g.prepared_len()];
    let p = g.prepare(&mut buf).unwrap();
    let mut scratch = vec![0.0; g.scratch_len()];
    let (mut a, mut b) = (vec![0.0; g.output_len()], vec![0.0; g.output_len()]);
    let mut z = vec![0.0; g.latent_dim()];
    let classes: Vec<Option<usize>> = match g.num_classes() {
        0 => vec![None],
        n => (0..n).map(Some).collect(),
    };
    for seed in 0..3 {
        LatentRng::new(seed).fill_normal(&mut z);
        for &class in &classes {
            g.generate(&z, class, &mut scratch, &mut a).unwrap();
            p.generate(&z, class, &mut scratch, &mut b).unwrap();
            assert_eq!(bits(&a), bits(&b), "{what}, seed {seed}, class {class:?}");
        }
    }
}

#[test]
fn prepared_generation_gives_the_same_bits() {
    for (i, (c0, c1, c2)) in [(64, 32, 16), (16, 17, 33), (5, 35, 2), (48, 1, 20)]
        .into_iter()
        .enumerate()
    {
        for dtype in [DType::F16, DType::F32] {
            let what = format!("wide {c0}-{c1}-{c2} {dtype:?}");
            check(&wide(c0, c1, c2, i as u64).build(dtype), &what);
        }
    }
    for (i, dims) in [
        &[17, 1, 16, 33, 100, 47][..],
        &[100, 1030, 64, 1024, 31][..],
    ]
    .into_iter()
    .enumerate()
    {
        for dtype in [DType::F16, DType::F32] {
            let what = format!("dense {dims:?} {dtype:?}");
            check(&dense_chain(dims, i as u64).build(dtype), &what);
        }
    }
    for (name, spec) in [
        ("conv_embed", conv_embed()),
        ("dcgan_plain", dcgan_plain()),
        ("mlp_onehot", mlp_onehot()),
    ] {
        check(&spec.build(DType::F16), name);
    }
    for name in ["dcgan-digits", "dcgan-cond-digits"] {
        let path = format!(
            "{}/../models/{name}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        check(&std::fs::read(&path).unwrap(), name);
    }
}

#[test]
fn a_short_buffer_is_an_error_and_a_longer_one_is_fine() {
    let file = wide(64, 32, 16, 9).build(DType::F16);
    let g = Generator::load(&file).unwrap();
    let n = g.prepared_len();
    if n > 0 {
        let mut short = vec![0.0; n - 1];
        match g.prepare(&mut short) {
            Err(e @ Error::PreparedTooSmall { needed, found }) => {
                assert_eq!((needed, found), (n, n - 1));
                assert!(e.to_string().contains("prepared_len()"), "{e}");
            }
            other => panic!("expected PreparedTooSmall, got {other:?}"),
        }
    }
    let mut long = vec![0.0; n + 100];
    check(&file, "wide 64-32-16");
    assert!(g.prepare(&mut long).is_ok());
    // A generator whose layers read their weights in place needs nothing
    // (an MLP with f32 weights; every generator where the CPU lacks
    // AVX-512).
    let mlp = mlp_onehot().build(DType::F32);
    let g = Generator::load(&mlp).unwrap();
    assert_eq!(g.prepared_len(), 0);
    assert!(g.prepare(&mut []).is_ok());
}

/// On a CPU with AVX-512 the small DCGAN's layers are prepared: the dense
/// layer's 196 blocks of 16 rows x 100 inputs as f16 (two per slot) and 2
/// blocks of 16 channels x 64 inputs x 16 taps x 16 lanes for 64 -> 32;
/// 32 -> 1 runs a kernel that reads its weights in place, and so does the
/// dense layer with f32 weights. With AVX2 only (or `MICROGAN_KERNELS=avx2`)
/// the dense layer in 392 blocks of 8 rows and the 64 -> 32 layer in the
/// same layout.
#[cfg(target_arch = "x86_64")]
#[test]
fn prepared_len_counts_every_block() {
    let spec = Spec::new(
        100,
        0,
        Shape { c: 1, h: 28, w: 28 },
        &[
            LayerSpec::Dense {
                in_features: 100,
                out_features: 64 * 49,
            },
            LayerSpec::Reshape { c: 64, h: 7, w: 7 },
            convt(64, 32),
            convt(32, 1),
        ],
        4,
    );
    let sets: Vec<_> = runtime::kernels::kernel_sets().map(|k| k.name).collect();
    let avx512 = sets.contains(&"x86-64 AVX-512");
    let avx2 = sets.contains(&"x86-64 AVX2+F16C");
    let convs = 2 * 64 * 16 * 16;
    for (dtype, want) in [
        (DType::F16, 196 * 100 * 16 / 2 + convs),
        (DType::F32, convs),
    ] {
        let file = spec.build(dtype);
        let g = Generator::load(&file).unwrap();
        let dense8 = if dtype == DType::F16 {
            392 * 100 * 8 / 2
        } else {
            0
        };
        let want = match (avx512, avx2) {
            (true, _) => want,
            (false, true) => dense8 + convs,
            (false, false) => 0,
        };
        assert_eq!(g.prepared_len(), want, "{dtype:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random chains of dense layers (1 to 70 inputs and outputs, so blocks
    /// of 16 rows full, partial and absent, tails of every length), f16 or
    /// f32: prepared and plain generation give the same bits.
    #[test]
    fn random_dense_chains_give_the_same_bits(
        dims in proptest::collection::vec(1usize..70, 2..5),
        f16 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dtype = if f16 { DType::F16 } else { DType::F32 };
        check(&dense_chain(&dims, seed).build(dtype), &format!("dense {dims:?} {dtype:?}"));
    }
}
