//! Generated images against a straightforward f64 forward pass.

mod common;

use common::{assert_close, conv_embed, convt, dcgan_plain, mlp_onehot, Spec};
use runtime::format::{DType, OutputActivation};
use runtime::rng::LatentRng;
use runtime::Generator;

/// [`check_in`] with the weights stored as f16 and as f32.
fn check(spec: &Spec, name: &str) {
    for dtype in [DType::F16, DType::F32] {
        check_in(spec, dtype, name);
    }
}

/// Loads `spec` stored as `dtype` and checks its images, for every class,
/// against the f64 reference pass.
fn check_in(spec: &Spec, dtype: DType, name: &str) {
    let file = spec.build(dtype);
    let g = Generator::load(&file).unwrap();
    assert_eq!(g.latent_dim(), spec.latent_dim);
    assert_eq!(g.num_classes(), spec.num_classes);
    assert_eq!(g.output_shape(), spec.output);
    let mut scratch = vec![f32::NAN; g.scratch_len()];
    let mut out = vec![f32::NAN; g.output_len()];
    let mut rng = LatentRng::new(11);
    let classes: Vec<Option<usize>> = if spec.num_classes == 0 {
        vec![None]
    } else {
        (0..spec.num_classes).map(Some).collect()
    };
    for class in classes {
        for _ in 0..3 {
            let mut z = vec![0.0; g.latent_dim()];
            rng.fill_normal(&mut z);
            g.generate(&z, class, &mut scratch, &mut out).unwrap();
            let want = spec.reference(dtype, &z, class);
            assert_close(&out, &want, &format!("{name} {dtype} class {class:?}"));
        }
    }
}

#[test]
fn mlp_with_onehot_matches_reference() {
    check(&mlp_onehot(), "mlp");
}

#[test]
fn conv_with_embedding_matches_reference() {
    check(&conv_embed(), "conv");
}

#[test]
fn dcgan_matches_reference() {
    check(&dcgan_plain(), "dcgan");
}

#[test]
fn accessors_describe_the_model() {
    let spec = conv_embed();
    let file = spec.build(DType::F16);
    let g = Generator::load(&file).unwrap();
    assert_eq!(g.output_activation(), OutputActivation::Sigmoid);
    assert_eq!(g.layers().count(), spec.layers.len());
    assert!(g.layers().zip(&spec.layers).all(|(a, b)| a == b.0));
    let params: usize = spec
        .layers
        .iter()
        .map(|l| l.1.as_ref().map_or(0, Vec::len) + l.2.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(g.param_count(), params);
    assert_eq!(g.metadata("format"), Some("microgan-generator"));
    assert_eq!(g.metadata("layer.0"), Some("embed_concat classes=4 dim=3"));
    assert!(g.all_f16());
    assert!(g.scratch_len() >= 2 * g.output_len());

    let dc_file = dcgan_plain().build(DType::F32);
    let dc = Generator::load(&dc_file).unwrap();
    assert_eq!(dc.output_activation(), OutputActivation::None);
    assert!(!dc.all_f16());
}

/// The DCGAN shape of the benchmark has 1,791,360 MACs (taps in padding
/// excluded): the dense layer, then 26x26 and 54x54 valid taps per channel
/// pair for the two transposed convolutions.
#[test]
fn mac_count_of_the_small_dcgan() {
    use runtime::format::LayerSpec as L;
    let spec = Spec::new(
        100,
        0,
        runtime::Shape { c: 1, h: 28, w: 28 },
        &[
            L::Dense {
                in_features: 100,
                out_features: 3136,
            },
            L::Reshape { c: 64, h: 7, w: 7 },
            L::Relu,
            convt(64, 32),
            L::Relu,
            convt(32, 1),
            L::Tanh,
        ],
        4,
    );
    let file = spec.build(DType::F16);
    let g = Generator::load(&file).unwrap();
    assert_eq!(g.macs(), 1_791_360);
    assert_eq!(
        g.param_count(),
        100 * 3136 + 3136 + 64 * 32 * 16 + 32 + 32 * 16 + 1
    );
}

#[test]
fn provenance_is_stored() {
    let mut b = mlp_onehot().builder(DType::F16);
    b.provenance("dataset", "mnist")
        .provenance("steps", "1000")
        .provenance("dataset", "fashion");
    let file = b.build().unwrap();
    let g = Generator::load(&file).unwrap();
    assert_eq!(g.metadata("provenance.dataset"), Some("fashion"));
    assert_eq!(g.metadata("provenance.steps"), Some("1000"));
    assert_eq!(g.metadata("provenance.missing"), None);
    // The data section starts on an 8-byte boundary.
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + n) % 8, 0);
}
