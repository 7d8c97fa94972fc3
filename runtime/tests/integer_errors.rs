//! One test per error of version-2 (integer) files: each malformed file
//! or bad build gives its own error value, naming the tensor, key, layer
//! or channel, with a readable message.

mod common;

use common::{edit, mlp_onehot, raw_file, split};
use runtime::format::{DType, LayerSpec, TensorRole, TABLE_LEN};
use runtime::write::{IntTensor, ModelBuilder};
use runtime::{Error, Generator, Shape};

fn load_err(file: &[u8]) -> Error {
    match Generator::load(file) {
        Ok(_) => panic!("file was accepted"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

fn build_err(b: &ModelBuilder) -> Error {
    let e = b.build().expect_err("file was built");
    assert!(!e.to_string().is_empty());
    e
}

fn dense(n_in: usize, n_out: usize) -> LayerSpec {
    LayerSpec::Dense {
        in_features: n_in,
        out_features: n_out,
    }
}

fn wbs(w: Vec<i8>, b: Vec<i32>, s: Vec<f32>) -> Vec<(TensorRole, IntTensor)> {
    vec![
        (TensorRole::Weight, IntTensor::I8(w)),
        (TensorRole::Bias, IntTensor::I32(b)),
        (TensorRole::Scale, IntTensor::F32(s)),
    ]
}

fn table() -> Vec<(TensorRole, IntTensor)> {
    vec![(TensorRole::Table, IntTensor::I16(vec![100; TABLE_LEN]))]
}

/// Latent 2 -> dense 2 -> tanh, fractions 8, 10, 15, with the dense
/// layer's weights, biases and scales given.
fn builder(w: Vec<i8>, b: Vec<i32>, s: Vec<f32>) -> ModelBuilder {
    let mut m = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 10, 15]);
    m.int_layer(dense(2, 2), wbs(w, b, s))
        .int_layer(LayerSpec::Tanh, table());
    m
}

fn valid() -> Vec<u8> {
    builder(vec![1, -2, 3, 4], vec![0, 5], vec![0.01, 0.02])
        .build()
        .unwrap()
}

#[test]
fn the_base_file_is_valid() {
    let f = valid();
    let g = Generator::load(&f).unwrap();
    assert_eq!(g.format_version(), 2);
}

#[test]
fn version_1_files_reject_integer_dtypes() {
    let f = mlp_onehot().build(DType::F16);
    // I16 has F16's size, so the container accepts the entry.
    let f = edit(&f, "\"dtype\":\"F16\"", "\"dtype\":\"I16\"");
    assert!(
        matches!(load_err(&f), Error::UnsupportedDType { tensor, dtype }
        if tensor.as_str() == "layer.1.weight" && dtype.as_str() == "I16")
    );
    let mut b = mlp_onehot().builder(DType::I8);
    b.dtype(DType::I8);
    assert!(
        matches!(build_err(&b), Error::UnsupportedDType { tensor, dtype }
        if tensor.as_str() == "layer.1.weight" && dtype.as_str() == "I8")
    );
}

#[test]
fn version_1_files_reject_activation_frac() {
    let f = mlp_onehot().build(DType::F16);
    let f = edit(&f, "\"format\":", "\"activation_frac\":\"1,2\",\"format\":");
    assert!(
        matches!(load_err(&f), Error::UnknownMetadataKey { key } if key.as_str() == "activation_frac")
    );
}

#[test]
fn activation_frac_is_required_counted_and_bounded() {
    let f = edit(&valid(), "\"activation_frac\":\"8,10,15\",", "");
    assert_eq!(
        load_err(&f),
        Error::MissingMetadata {
            key: "activation_frac"
        }
    );
    let f = edit(&valid(), "\"8,10,15\"", "\"8,10\"");
    assert_eq!(
        load_err(&f),
        Error::ActivationFracCount {
            expected: 3,
            found: 2
        }
    );
    for (bad, index, value) in [
        ("8,25,15", 1, "25"),
        ("8,10,x", 2, "x"),
        ("08,10,15", 0, "08"),
        ("8,,15", 1, ""),
        ("8, 10,15", 1, " 10"),
    ] {
        let f = edit(&valid(), "\"8,10,15\"", &format!("\"{bad}\""));
        assert!(
            matches!(load_err(&f), Error::ActivationFracValue { index: i, value: v }
                if i == index && v.as_str() == value),
            "{bad}"
        );
    }
}

#[test]
fn fraction_rules_of_each_kind() {
    // tanh's output must have 15 fraction bits.
    let f = edit(&valid(), "\"8,10,15\"", "\"8,10,14\"");
    assert_eq!(
        load_err(&f),
        Error::ActivationFrac {
            layer: 1,
            expected: 15,
            found: 14
        }
    );
    // relu keeps its input's.
    let mut b = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 9]);
    b.int_layer(LayerSpec::Relu, vec![]);
    assert_eq!(
        build_err(&b),
        Error::ActivationFrac {
            layer: 0,
            expected: 8,
            found: 9
        }
    );
}

#[test]
fn onehot_needs_at_most_14_fraction_bits() {
    let mut b = ModelBuilder::new_integer(2, 2, Shape { c: 4, h: 1, w: 1 }, vec![15, 15]);
    b.int_layer(LayerSpec::OneHotConcat { classes: 2 }, vec![]);
    assert_eq!(build_err(&b), Error::OneHotFrac { layer: 0, frac: 15 });
    let mut b = ModelBuilder::new_integer(2, 2, Shape { c: 4, h: 1, w: 1 }, vec![14, 14]);
    b.int_layer(LayerSpec::OneHotConcat { classes: 2 }, vec![]);
    let g = b.build().unwrap();
    let g = Generator::load(&g).unwrap();
    let mut out = [0.0; 4];
    let mut scratch = vec![0.0; g.scratch_len()];
    g.generate(&[0.0, 0.0], Some(1), &mut scratch, &mut out)
        .unwrap();
    assert_eq!(out, [0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn leaky_slope_must_lie_in_minus_one_to_one() {
    for (slope, ok) in [
        (1.5, false),
        (-1.01, false),
        (1.0, true),
        (-1.0, true),
        (0.2, true),
    ] {
        let mut b = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 8]);
        b.int_layer(LayerSpec::LeakyRelu { slope }, vec![]);
        match b.build() {
            Ok(_) => assert!(ok, "{slope}"),
            Err(e) => {
                assert!(!ok, "{slope}");
                assert_eq!(e, Error::SlopeOutOfRange { layer: 0, slope });
            }
        }
    }
}

#[test]
fn each_role_has_its_dtype() {
    // F32 and I32 have the same size: the container accepts the entry.
    let f = edit(
        &valid(),
        "\"layer.0.scale\":{\"dtype\":\"F32\"",
        "\"layer.0.scale\":{\"dtype\":\"I32\"",
    );
    assert!(
        matches!(load_err(&f), Error::TensorDType { tensor, expected: "F32", found: "I32" }
        if tensor.as_str() == "layer.0.scale")
    );
    let f = edit(
        &valid(),
        "\"layer.0.bias\":{\"dtype\":\"I32\"",
        "\"layer.0.bias\":{\"dtype\":\"F32\"",
    );
    assert!(
        matches!(load_err(&f), Error::TensorDType { tensor, expected: "I32", found: "F32" }
        if tensor.as_str() == "layer.0.bias")
    );
    let f = edit(
        &valid(),
        "\"layer.1.table\":{\"dtype\":\"I16\"",
        "\"layer.1.table\":{\"dtype\":\"F16\"",
    );
    assert!(
        matches!(load_err(&f), Error::TensorDType { tensor, expected: "I16", found: "F16" }
        if tensor.as_str() == "layer.1.table")
    );
    // A tensor where a version-2 layer has none.
    let mut b = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 8]);
    b.int_layer(
        LayerSpec::Relu,
        vec![(TensorRole::Bias, IntTensor::I32(vec![1]))],
    );
    assert_eq!(
        build_err(&b),
        Error::ParameterLength {
            layer: 0,
            tensor: "bias",
            expected: 0,
            found: 1
        }
    );
}

#[test]
fn the_table_has_257_entries() {
    let (h, d) = split(&valid());
    let at = h.find("\"layer.1.table\"").unwrap();
    let entry = &h[at..];
    let end = entry.find('}').unwrap();
    let old = &entry[..=end];
    let begin = d.len() - 2 * TABLE_LEN;
    let new = format!(
        "\"layer.1.table\":{{\"dtype\":\"I16\",\"shape\":[256],\"data_offsets\":[{begin},{}]}}",
        d.len() - 2
    );
    let f = raw_file(&h.replace(old, &new), &d[..d.len() - 2]);
    assert!(
        matches!(load_err(&f), Error::TensorShape { tensor, expected, found }
        if tensor.as_str() == "layer.1.table" && expected.as_str() == "[257]" && found.as_str() == "[256]")
    );
}

#[test]
fn scales_must_be_normal_positive_and_finite() {
    let tiny = f32::MIN_POSITIVE / 4.0;
    for bad in [0.0f32, -0.0, -0.5, tiny, f32::INFINITY, f32::NAN] {
        let b = builder(vec![1, -2, 3, 4], vec![0, 5], vec![0.01, bad]);
        assert!(
            matches!(build_err(&b), Error::InvalidScale { tensor, channel: 1, bits }
                if tensor.as_str() == "layer.0.scale" && bits == bad.to_bits()),
            "{bad}"
        );
    }
}

#[test]
fn shifts_must_lie_in_1_to_62() {
    // 2^-60: E = 67, sh = 150 - 67 + 8 - 10 = 81.
    let b = builder(vec![1, -2, 3, 4], vec![0, 5], vec![2f32.powi(-60), 0.02]);
    assert!(
        matches!(build_err(&b), Error::ShiftOutOfRange { tensor, channel: 0, shift: 81 }
        if tensor.as_str() == "layer.0.scale")
    );
    // 2^30: E = 157, sh = -9.
    let b = builder(vec![1, -2, 3, 4], vec![0, 5], vec![0.01, 2f32.powi(30)]);
    assert!(matches!(
        build_err(&b),
        Error::ShiftOutOfRange {
            channel: 1,
            shift: -9,
            ..
        }
    ));
    // The extremes are valid: sh = 62 (2^-41, E = 86) and sh = 1 (2^20, E = 147).
    builder(
        vec![1, -2, 3, 4],
        vec![0, 5],
        vec![2f32.powi(-41), 2f32.powi(20)],
    )
    .build()
    .unwrap();
}

#[test]
fn accumulators_cannot_overflow() {
    // |bias| + 32768 * (|w0| + |w1|) <= 2^31 - 1: with weights of 127 and
    // -128 the bias may be 2^31 - 1 - 32768 * 255 at most.
    let limit = i32::MAX - 32768 * 255;
    builder(vec![1, 1, 127, -128], vec![0, -limit], vec![0.01, 0.02])
        .build()
        .unwrap();
    let b = builder(vec![1, 1, 127, -128], vec![0, -limit - 1], vec![0.01, 0.02]);
    assert!(
        matches!(build_err(&b), Error::AccumulatorBound { tensor, channel: 1 }
        if tensor.as_str() == "layer.0.weight")
    );
    // A transposed convolution's channel is `weight[:, o, :, :]`.
    let convt = LayerSpec::ConvTranspose2d {
        in_channels: 600,
        out_channels: 2,
        kernel: 1,
        stride: 1,
        padding: 0,
        output_padding: 0,
    };
    let mut w = vec![1i8; 1200];
    for c in 0..600 {
        w[c * 2 + 1] = -128; // channel 1: 600 * 128 * 32768 > 2^31
    }
    let mut b = ModelBuilder::new_integer(600, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 8, 8]);
    b.int_layer(LayerSpec::Reshape { c: 600, h: 1, w: 1 }, vec![])
        .int_layer(convt, wbs(w, vec![0, 0], vec![0.01, 0.01]));
    assert!(
        matches!(build_err(&b), Error::AccumulatorBound { tensor, channel: 1 }
        if tensor.as_str() == "layer.1.weight")
    );
}

#[test]
fn weights_beyond_the_file_are_rejected_before_chaining() {
    let f = edit(
        &valid(),
        "\"dense in=2 out=2\"",
        "\"dense in=2 out=200000\"",
    );
    assert!(matches!(
        load_err(&f),
        Error::WeightsExceedFile { layer: 0, .. }
    ));
}

#[test]
fn builder_errors() {
    let mut b = builder(vec![1, -2, 3, 4], vec![0, 5], vec![0.01, 0.02]);
    b.layer(LayerSpec::Relu, None, None);
    assert_eq!(
        build_err(&b),
        Error::LayerVersion {
            layer: 2,
            version: 2
        }
    );
    let mut b = ModelBuilder::new(2, 0, Shape { c: 2, h: 1, w: 1 });
    b.int_layer(LayerSpec::Relu, vec![]);
    assert_eq!(
        build_err(&b),
        Error::LayerVersion {
            layer: 0,
            version: 1
        }
    );
    let mut b = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8]);
    b.int_layer(LayerSpec::Relu, vec![]);
    assert_eq!(
        build_err(&b),
        Error::FracCount {
            expected: 2,
            found: 1
        }
    );
    let mut b = ModelBuilder::new_integer(2, 0, Shape { c: 2, h: 1, w: 1 }, vec![8, 10, 15]);
    b.int_layer(dense(2, 2), wbs(vec![1, 2, 3, 4], vec![0, 0], vec![0.5]))
        .int_layer(LayerSpec::Tanh, table());
    assert_eq!(
        build_err(&b),
        Error::ParameterLength {
            layer: 0,
            tensor: "scale",
            expected: 2,
            found: 1
        }
    );
}
