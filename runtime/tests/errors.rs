//! One test per error: each malformed file, bad call or bad build gives its
//! own error value, naming what a user needs, and a readable message.

mod common;

use common::{conv_embed, dcgan_plain, edit, mlp_onehot, raw_file, split};
use runtime::format::{DType, LayerSpec};
use runtime::write::ModelBuilder;
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

fn mlp() -> Vec<u8> {
    mlp_onehot().build(DType::F16)
}

fn dcgan() -> Vec<u8> {
    dcgan_plain().build(DType::F16)
}

/// `layer.{i}` descriptor of the mlp, edited.
fn mlp_layer(i: usize, from: &str, to: &str) -> Error {
    let spec = mlp_onehot().layers[i].0.to_string();
    let key = format!("\"layer.{i}\":\"{spec}\"");
    load_err(&edit(&mlp(), &key, &key.replace(from, to)))
}

#[test]
fn file_too_short() {
    assert_eq!(load_err(&[0; 7]), Error::FileTooShort { len: 7 });
}

#[test]
fn header_too_large() {
    let mut f = mlp();
    f[..8].copy_from_slice(&(2u64 << 20).to_le_bytes());
    assert!(matches!(load_err(&f), Error::HeaderTooLarge { declared, .. } if declared == 2 << 20));
}

#[test]
fn header_out_of_bounds() {
    let f = mlp();
    let n = u64::from_le_bytes(f[..8].try_into().unwrap()) as usize;
    let truncated = &f[..8 + n - 1];
    assert!(
        matches!(load_err(truncated), Error::HeaderOutOfBounds { available, .. } if available == n - 1)
    );
}

#[test]
fn header_not_utf8() {
    let (h, d) = split(&mlp());
    let mut f = raw_file(&h, &d);
    f[8 + 3] = 0xC3; // a lead byte followed by ASCII
    assert_eq!(load_err(&f), Error::HeaderNotUtf8 { offset: 3 });
}

#[test]
fn json_syntax_errors_give_offsets() {
    let f = edit(&mlp(), "{\"__metadata__\"", "[\"__metadata__\"");
    assert_eq!(
        load_err(&f),
        Error::Json {
            offset: 0,
            expected: "'{'"
        }
    );
    let f = edit(&mlp(), "\"latent_dim\":\"30\"", "\"latent_dim\":30");
    assert!(matches!(
        load_err(&f),
        Error::Json {
            expected: "a string",
            ..
        }
    ));
    let f = edit(
        &mlp(),
        "\"latent_dim\":\"30\"",
        "\"latent_dim\":\"3\\u0030\"",
    );
    assert!(matches!(
        load_err(&f),
        Error::Json {
            expected: "a string without escape sequences",
            ..
        }
    ));
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[40,[33]]");
    assert!(matches!(
        load_err(&f),
        Error::Json {
            expected: "a non-negative integer",
            ..
        }
    ));
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[40,33.0]");
    assert!(matches!(
        load_err(&f),
        Error::Json {
            expected: "an integer",
            ..
        }
    ));
}

#[test]
fn duplicate_keys() {
    let f = edit(
        &mlp(),
        "\"latent_dim\":\"30\"",
        "\"latent_dim\":\"30\",\"latent_dim\":\"30\"",
    );
    assert!(matches!(load_err(&f), Error::DuplicateKey { key } if key.as_str() == "latent_dim"));
    let f = edit(
        &mlp(),
        "\"dtype\":\"F16\"",
        "\"dtype\":\"F16\",\"dtype\":\"F16\"",
    );
    assert!(matches!(load_err(&f), Error::DuplicateKey { key } if key.as_str() == "dtype"));
}

#[test]
fn too_many_metadata_entries() {
    let extra: String = (0..200)
        .map(|i| format!("\"provenance.k{i}\":\"v\","))
        .collect();
    let f = edit(&mlp(), "\"format\":", &format!("{extra}\"format\":"));
    assert!(matches!(
        load_err(&f),
        Error::TooManyMetadataEntries { max: 136 }
    ));
}

#[test]
fn unsupported_dtype() {
    let f = edit(&mlp(), "\"dtype\":\"F16\"", "\"dtype\":\"BF16\"");
    assert!(
        matches!(load_err(&f), Error::UnsupportedDType { tensor, dtype }
        if tensor.as_str() == "layer.1.weight" && dtype.as_str() == "BF16")
    );
}

#[test]
fn unknown_and_missing_tensor_fields() {
    let f = edit(
        &mlp(),
        "\"dtype\":\"F16\"",
        "\"dtype\":\"F16\",\"bias\":\"x\"",
    );
    assert!(
        matches!(load_err(&f), Error::UnknownTensorField { field, .. } if field.as_str() == "bias")
    );
    let f = edit(&mlp(), "\"dtype\":\"F16\",", "");
    assert!(
        matches!(load_err(&f), Error::MissingTensorField { field: "dtype", tensor } if tensor.as_str() == "layer.1.weight")
    );
}

#[test]
fn tensor_size_overflow() {
    let f = edit(
        &mlp(),
        "\"shape\":[40,33]",
        "\"shape\":[4294967296,4294967296,2]",
    );
    assert!(
        matches!(load_err(&f), Error::TensorSizeOverflow { tensor } if tensor.as_str() == "layer.1.weight")
    );
}

#[test]
fn empty_tensor() {
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[40,0]");
    assert!(matches!(load_err(&f), Error::EmptyTensor { .. }));
}

#[test]
fn offsets_end_before_begin() {
    let f = edit(
        &mlp(),
        "\"data_offsets\":[0,2640]",
        "\"data_offsets\":[2640,0]",
    );
    assert!(matches!(
        load_err(&f),
        Error::InvalidOffsets {
            begin: 2640,
            end: 0,
            ..
        }
    ));
}

#[test]
fn tensor_byte_length() {
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[40,32]");
    assert!(matches!(
        load_err(&f),
        Error::TensorByteLength {
            expected: 2560,
            found: 2640,
            ..
        }
    ));
}

#[test]
fn tensors_must_tile_the_data_section() {
    // Overlap: the bias claims the weight's first bytes.
    let f = edit(
        &mlp(),
        "\"data_offsets\":[2640,2720]",
        "\"data_offsets\":[0,80]",
    );
    assert!(matches!(load_err(&f), Error::TensorOffset { .. }));
    // Trailing bytes after the last tensor.
    let mut f = mlp();
    f.extend_from_slice(&[0, 0]);
    assert!(
        matches!(load_err(&f), Error::DataSectionLength { found, expected } if found == expected + 2)
    );
}

#[test]
fn missing_metadata() {
    let (h, d) = split(&mlp());
    let start = h.find("{\"format\"").unwrap();
    let end = h.find("},\"layer.").unwrap();
    let f = raw_file(&format!("{{{}", &h[end + 2..]), &d);
    assert_eq!(
        load_err(&f),
        Error::MissingMetadata {
            key: "__metadata__"
        }
    );
    let _ = start;
    let f = edit(&mlp(), "\"num_classes\":\"3\",", "");
    assert_eq!(load_err(&f), Error::MissingMetadata { key: "num_classes" });
}

#[test]
fn missing_layer_descriptor() {
    let f = edit(&mlp(), "\"layer.2\":\"leaky_relu slope=0.2\",", "");
    assert_eq!(load_err(&f), Error::MissingLayer { layer: 2 });
}

#[test]
fn unknown_metadata_key() {
    for key in ["author", "layer.7", "layer.01", "provenance."] {
        let f = edit(
            &mlp(),
            "\"format\":",
            &format!("\"{key}\":\"x\",\"format\":"),
        );
        assert!(
            matches!(load_err(&f), Error::UnknownMetadataKey { key: k } if k.as_str() == key),
            "{key}"
        );
    }
}

#[test]
fn wrong_format_and_version() {
    let f = edit(&mlp(), "\"microgan-generator\"", "\"other\"");
    assert!(matches!(load_err(&f), Error::WrongFormat { found, .. } if found.as_str() == "other"));
    let f = edit(
        &mlp(),
        "\"format_version\":\"1\"",
        "\"format_version\":\"3\"",
    );
    assert!(
        matches!(load_err(&f), Error::UnsupportedVersion { found, supported: 2 } if found.as_str() == "3")
    );
}

#[test]
fn invalid_metadata_values() {
    for (from, to, key) in [
        (
            "\"latent_dim\":\"30\"",
            "\"latent_dim\":\"0\"",
            "latent_dim",
        ),
        (
            "\"latent_dim\":\"30\"",
            "\"latent_dim\":\"030\"",
            "latent_dim",
        ),
        (
            "\"num_classes\":\"3\"",
            "\"num_classes\":\"three\"",
            "num_classes",
        ),
        (
            "\"layer_count\":\"7\"",
            "\"layer_count\":\"65\"",
            "layer_count",
        ),
        (
            "\"output_shape\":\"3,4,4\"",
            "\"output_shape\":\"3,4\"",
            "output_shape",
        ),
        (
            "\"output_shape\":\"3,4,4\"",
            "\"output_shape\":\"3,0,4\"",
            "output_shape",
        ),
        (
            "\"output_activation\":\"tanh\"",
            "\"output_activation\":\"relu\"",
            "output_activation",
        ),
    ] {
        assert!(
            matches!(load_err(&edit(&mlp(), from, to)), Error::InvalidMetadataValue { key: k, .. } if k == key),
            "{to}"
        );
    }
}

#[test]
fn layer_descriptor_errors_name_the_layer() {
    assert!(
        matches!(mlp_layer(2, "leaky_relu", "leaky"), Error::UnknownLayerKind { layer: Some(2), kind } if kind.as_str() == "leaky")
    );
    assert!(matches!(
        mlp_layer(1, " out=40", ""),
        Error::MissingParameter {
            layer: Some(1),
            param: "out"
        }
    ));
    assert!(matches!(
        mlp_layer(1, "in=33", "in=33 in=33"),
        Error::DuplicateParameter { layer: Some(1), .. }
    ));
    assert!(matches!(
        mlp_layer(1, "in=33", "in=33 groups=1"),
        Error::UnknownParameter { layer: Some(1), .. }
    ));
    assert!(matches!(
        mlp_layer(2, "slope=0.2", "slope=inf"),
        Error::InvalidParameter {
            layer: Some(2),
            param: "slope",
            ..
        }
    ));
}

#[test]
fn layers_must_chain() {
    // Dense input count differs from the previous output.
    let e = mlp_layer(3, "in=40", "in=41");
    assert!(
        matches!(e, Error::LayerInput { layer: 3, found, .. } if found.as_str() == "[40]"),
        "{e}"
    );
    // A convolution on a flat vector.
    let f = edit(
        &dcgan(),
        "\"layer.1\":\"reshape c=4 h=3 w=3\"",
        "\"layer.1\":\"relu\"",
    );
    assert!(matches!(load_err(&f), Error::LayerInput { layer: 2, .. }));
    // A reshape to the wrong element count.
    let f = edit(&dcgan(), "reshape c=4 h=3 w=3", "reshape c=4 h=3 w=2");
    assert!(matches!(load_err(&f), Error::LayerInput { layer: 1, .. }));
    // A concat after an image.
    let f = edit(
        &mlp(),
        "\"layer.6\":\"tanh\"",
        "\"layer.6\":\"onehot_concat classes=3\"",
    );
    assert!(matches!(
        load_err(&f),
        Error::LayerInput { layer: 6, .. } | Error::UnexpectedConditioning { .. }
    ));
    // A convolution whose kernel exceeds the padded input.
    let e = load_err(&edit(
        &conv_embed().build(DType::F16),
        "kernel=4 stride=2 padding=0",
        "kernel=13 stride=2 padding=0",
    ));
    assert!(matches!(e, Error::LayerInput { layer: 9, .. }), "{e}");
}

#[test]
fn activation_too_large() {
    let e = mlp_layer(0, "classes=3", "classes=16777217");
    assert_eq!(
        e,
        Error::ActivationTooLarge {
            layer: 0,
            max: 1 << 24
        }
    );
}

/// A descriptor whose weights could not fit in the file is rejected before
/// any work that grows with its parameters.
#[test]
fn weights_exceed_file() {
    let e = mlp_layer(3, "out=48", "out=16777217");
    assert!(
        matches!(e, Error::WeightsExceedFile { layer: 3, .. }),
        "{e}"
    );
    let f = edit(
        &conv_embed().build(DType::F16),
        "kernel=4 stride=2 padding=0",
        "kernel=4000000000 stride=1 padding=3999999999",
    );
    assert!(matches!(
        load_err(&f),
        Error::WeightsExceedFile { layer: 9, .. }
    ));
}

#[test]
fn output_shape_mismatch() {
    let f = edit(
        &mlp(),
        "\"output_shape\":\"3,4,4\"",
        "\"output_shape\":\"4,3,4\"",
    );
    assert!(
        matches!(load_err(&f), Error::OutputShapeMismatch { declared, found }
        if declared.as_str() == "[4, 3, 4]" && found.as_str() == "[3, 4, 4]")
    );
}

#[test]
fn output_activation_and_range_mismatch() {
    let f = edit(
        &mlp(),
        "\"output_activation\":\"tanh\",\"output_range\":\"-1,1\"",
        "\"output_activation\":\"sigmoid\",\"output_range\":\"0,1\"",
    );
    assert_eq!(
        load_err(&f),
        Error::OutputActivationMismatch {
            declared: "sigmoid",
            expected: "tanh"
        }
    );
    let f = edit(
        &mlp(),
        "\"output_range\":\"-1,1\"",
        "\"output_range\":\"0,1\"",
    );
    assert!(matches!(
        load_err(&f),
        Error::OutputRangeMismatch {
            expected: "-1,1",
            ..
        }
    ));
}

#[test]
fn conditioning_rules() {
    let f = edit(&mlp(), "\"num_classes\":\"3\"", "\"num_classes\":\"0\"");
    assert_eq!(load_err(&f), Error::UnexpectedConditioning { layer: 0 });
    let f = edit(&mlp(), "\"num_classes\":\"3\"", "\"num_classes\":\"4\"");
    assert_eq!(
        load_err(&f),
        Error::ConditioningClasses {
            layer: 0,
            expected: 4,
            found: 3
        }
    );
    let f = edit(&dcgan(), "\"num_classes\":\"0\"", "\"num_classes\":\"2\"");
    assert_eq!(load_err(&f), Error::MissingConditioning { num_classes: 2 });
}

#[test]
fn unexpected_tensor() {
    let f = edit(&mlp(), "\"layer.1.bias\"", "\"layer.1.gain\"");
    assert!(
        matches!(load_err(&f), Error::UnexpectedTensor { tensor } if tensor.as_str() == "layer.1.gain")
    );
    // A tensor for a layer that takes none.
    let f = edit(&mlp(), "\"layer.1.bias\"", "\"layer.2.bias\"");
    assert!(
        matches!(load_err(&f), Error::UnexpectedTensor { tensor } if tensor.as_str() == "layer.2.bias")
    );
}

#[test]
fn missing_tensor() {
    // Drop the last tensor (layer.4.bias, one f16) and its bytes.
    let (h, mut d) = split(&dcgan());
    let start = h.find(",\"layer.4.bias\"").unwrap();
    let end = start + h[start..].find('}').unwrap() + 1;
    let h = format!("{}{}", &h[..start], &h[end..]);
    d.truncate(d.len() - 2);
    assert!(
        matches!(load_err(&raw_file(&h, &d)), Error::MissingTensor { tensor } if tensor.as_str() == "layer.4.bias")
    );
}

#[test]
fn tensor_shape() {
    // Same element count, transposed.
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[33,40]");
    assert!(
        matches!(load_err(&f), Error::TensorShape { tensor, expected, found }
        if tensor.as_str() == "layer.1.weight" && expected.as_str() == "[40, 33]" && found.as_str() == "[33, 40]")
    );
}

#[test]
fn non_finite_weights_are_named() {
    for dtype in [DType::F16, DType::F32] {
        let spec = mlp_onehot();
        let mut file = spec.build(dtype);
        let (h, _) = split(&file);
        let data_start = 8 + h.len();
        // layer.1.bias begins right after layer.1.weight (40 x 33 values).
        let at = data_start + 40 * 33 * dtype.size() + 5 * dtype.size();
        match dtype {
            DType::F16 => file[at..at + 2].copy_from_slice(&half::f16::INFINITY.to_le_bytes()),
            _ => file[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes()),
        }
        assert!(
            matches!(load_err(&file), Error::NonFiniteWeight { tensor, index: 5 } if tensor.as_str() == "layer.1.bias")
        );
    }
    // A builder weight too large for f16 is caught the same way.
    let mut spec = mlp_onehot();
    spec.layers[3].1.as_mut().unwrap()[7] = 1e6;
    assert!(
        matches!(spec.builder(DType::F16).build(), Err(Error::NonFiniteWeight { tensor, index: 7 }) if tensor.as_str() == "layer.3.weight")
    );
}

#[test]
fn generate_argument_errors() {
    let file = mlp();
    let g = Generator::load(&file).unwrap();
    let z = vec![0.0; g.latent_dim()];
    let mut s = vec![0.0; g.scratch_len()];
    let mut o = vec![0.0; g.output_len()];
    assert_eq!(
        g.generate(&z[1..], Some(0), &mut s, &mut o),
        Err(Error::LatentLength {
            expected: 30,
            found: 29
        })
    );
    assert_eq!(
        g.generate(&z, None, &mut s, &mut o),
        Err(Error::ClassRequired { num_classes: 3 })
    );
    assert_eq!(
        g.generate(&z, Some(3), &mut s, &mut o),
        Err(Error::ClassOutOfRange {
            class: 3,
            num_classes: 3
        })
    );
    let n = g.scratch_len();
    assert_eq!(
        g.generate(&z, Some(0), &mut s[..n - 1], &mut o),
        Err(Error::ScratchTooSmall {
            needed: n,
            found: n - 1
        })
    );
    assert_eq!(
        g.generate(&z, Some(0), &mut s, &mut o[..47]),
        Err(Error::OutputTooSmall {
            needed: 48,
            found: 47
        })
    );
    // Larger buffers are fine.
    let mut big = vec![0.0; g.output_len() + 3];
    assert_eq!(
        g.generate(&z, Some(2), &mut vec![0.0; n + 5], &mut big),
        Ok(())
    );

    let file = dcgan();
    let g = Generator::load(&file).unwrap();
    let z = vec![0.0; g.latent_dim()];
    let mut s = vec![0.0; g.scratch_len()];
    let mut o = vec![0.0; g.output_len()];
    assert_eq!(
        g.generate(&z, Some(0), &mut s, &mut o),
        Err(Error::ClassNotAccepted { class: 0 })
    );
}

#[test]
fn builder_errors() {
    let mut b = ModelBuilder::new(4, 0, Shape { c: 1, h: 1, w: 2 });
    b.layer(
        LayerSpec::Dense {
            in_features: 4,
            out_features: 2,
        },
        Some(vec![0.0; 7]),
        Some(vec![0.0; 2]),
    );
    assert_eq!(
        b.build(),
        Err(Error::ParameterLength {
            layer: 0,
            tensor: "weight",
            expected: 8,
            found: 7
        })
    );
    let mut b = ModelBuilder::new(4, 0, Shape { c: 1, h: 1, w: 4 });
    b.layer(LayerSpec::Relu, None, Some(vec![0.0; 4]));
    assert_eq!(
        b.build(),
        Err(Error::ParameterLength {
            layer: 0,
            tensor: "bias",
            expected: 0,
            found: 4
        })
    );
    let mut b = mlp_onehot().builder(DType::F16);
    b.provenance("dataset", "say \"hi\"");
    assert!(matches!(b.build(), Err(Error::InvalidProvenance { .. })));
    let mut b = mlp_onehot().builder(DType::F16);
    b.provenance("", "x");
    assert!(matches!(b.build(), Err(Error::InvalidProvenance { .. })));
    // A layer list the loader rejects is rejected at build.
    let mut b = ModelBuilder::new(4, 0, Shape { c: 1, h: 1, w: 3 });
    b.layer(
        LayerSpec::Dense {
            in_features: 4,
            out_features: 2,
        },
        Some(vec![0.0; 8]),
        Some(vec![0.0; 2]),
    );
    assert!(matches!(b.build(), Err(Error::OutputShapeMismatch { .. })));
}

#[test]
fn messages_name_what_is_wrong() {
    let f = edit(&mlp(), "\"shape\":[40,33]", "\"shape\":[33,40]");
    assert_eq!(
        load_err(&f).to_string(),
        "tensor \"layer.1.weight\" has shape [33, 40], expected [40, 33]"
    );
    let e = mlp_layer(3, "in=40", "in=41");
    assert_eq!(
        e.to_string(),
        "layer.3: input is [40], the layer needs 41 elements"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().contains("layer.3"));
}
