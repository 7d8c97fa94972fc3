//! The header's metadata as a whole: the fixed keys read and checked
//! against each other, and every other key checked to be one the format
//! defines. The layer descriptors are read by the layer list.

use super::container::Container;
use super::{
    parse_uint, OutputActivation, Shape, ACTIVATION_FRAC_KEY, FORMAT_NAME, FORMAT_VERSION,
    FORMAT_VERSION_INTEGER, MAX_ACTIVATION, MAX_FRAC, MAX_LAYERS, METADATA_KEYS,
};
use crate::error::{Error, Name};

/// The values of the fixed metadata keys of a file.
#[derive(Clone, Copy, Debug)]
pub struct Metadata {
    pub latent_dim: usize,
    pub num_classes: usize,
    pub layer_count: usize,
    pub output: Shape,
    pub activation: OutputActivation,
    /// `format_version`: 1 (floats) or 2 (integers).
    pub version: u32,
    /// Version 2: `activation_frac`, the fraction bits of each layer
    /// boundary (`layer_count + 1` values; all 0 in a version-1 file).
    pub fracs: [u8; MAX_LAYERS + 1],
}

impl Metadata {
    /// Reads and checks the metadata of `file`, reporting the first problem
    /// in the order the format lists the keys.
    pub fn read(file: &Container<'_>) -> Result<Metadata, Error> {
        if !file.has_metadata() {
            return Err(Error::MissingMetadata {
                key: "__metadata__",
            });
        }
        let version = check_format(file)?;
        let latent_dim = uint_value(
            file,
            "latent_dim",
            1,
            MAX_ACTIVATION,
            "an integer from 1 to 16777216",
        )?;
        let num_classes = uint_value(
            file,
            "num_classes",
            0,
            MAX_ACTIVATION,
            "an integer from 0 to 16777216",
        )?;
        let layer_count = uint_value(
            file,
            "layer_count",
            1,
            MAX_LAYERS,
            "an integer from 1 to 64",
        )?;
        let (output, activation) = read_output(file)?;
        let mut fracs = [0u8; MAX_LAYERS + 1];
        if version == FORMAT_VERSION_INTEGER {
            read_fracs(file, layer_count, &mut fracs)?;
        }
        check_keys(file, layer_count, version)?;
        Ok(Metadata {
            latent_dim,
            num_classes,
            layer_count,
            output,
            activation,
            version,
            fracs,
        })
    }
}

fn value<'a>(file: &Container<'a>, key: &'static str) -> Result<&'a str, Error> {
    file.metadata(key).ok_or(Error::MissingMetadata { key })
}

// Inlined at each of its three calls: that takes a thumbv6m build 0.25 KB
// less flash than one shared copy.
#[inline(always)]
fn uint_value(
    file: &Container<'_>,
    key: &'static str,
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<usize, Error> {
    let v = value(file, key)?;
    parse_uint(v)
        .filter(|n| (min..=max).contains(n))
        .ok_or(Error::InvalidMetadataValue {
            key,
            value: Name::new(v),
            expected,
        })
}

/// `format` and `format_version` name this format and a version this
/// runtime reads; returns the version.
fn check_format(file: &Container<'_>) -> Result<u32, Error> {
    let format = value(file, "format")?;
    if format != FORMAT_NAME {
        return Err(Error::WrongFormat {
            found: Name::new(format),
            expected: FORMAT_NAME,
        });
    }
    let text = value(file, "format_version")?;
    match parse_uint(text) {
        Some(1) => Ok(FORMAT_VERSION),
        Some(2) => Ok(FORMAT_VERSION_INTEGER),
        _ => Err(Error::UnsupportedVersion {
            found: Name::new(text),
            supported: FORMAT_VERSION_INTEGER,
        }),
    }
}

/// `activation_frac`: `layer_count + 1` integers from 0 to 24, separated by
/// commas, into `fracs`. The rules tying them to the layers are checked as
/// the layers chain.
fn read_fracs(
    file: &Container<'_>,
    layer_count: usize,
    fracs: &mut [u8; MAX_LAYERS + 1],
) -> Result<(), Error> {
    let text = value(file, ACTIVATION_FRAC_KEY)?;
    let expected = layer_count + 1;
    let found = text.split(',').count();
    if found != expected {
        return Err(Error::ActivationFracCount { expected, found });
    }
    for (index, (part, slot)) in text.split(',').zip(fracs.iter_mut()).enumerate() {
        *slot = parse_uint(part).filter(|&f| f <= MAX_FRAC as usize).ok_or(
            Error::ActivationFracValue {
                index,
                value: Name::new(part),
            },
        )? as u8;
    }
    Ok(())
}

/// `output_shape`, `output_activation` and the `output_range` that goes
/// with the activation.
fn read_output(file: &Container<'_>) -> Result<(Shape, OutputActivation), Error> {
    let shape_text = value(file, "output_shape")?;
    let output = Shape::parse(shape_text).ok_or(Error::InvalidMetadataValue {
        key: "output_shape",
        value: Name::new(shape_text),
        expected: "C,H,W with integers >= 1",
    })?;
    let act_text = value(file, "output_activation")?;
    let activation =
        OutputActivation::from_metadata(act_text).ok_or(Error::InvalidMetadataValue {
            key: "output_activation",
            value: Name::new(act_text),
            expected: "tanh, sigmoid or none",
        })?;
    let range = value(file, "output_range")?;
    if range != activation.range_str() {
        return Err(Error::OutputRangeMismatch {
            found: Name::new(range),
            expected: activation.range_str(),
        });
    }
    Ok((output, activation))
}

/// Every key must be one the format defines (`activation_frac` only in a
/// version-2 file).
fn check_keys(file: &Container<'_>, layer_count: usize, version: u32) -> Result<(), Error> {
    for (key, _) in file.metadata_entries() {
        let known = METADATA_KEYS.contains(&key)
            || (key == ACTIVATION_FRAC_KEY && version == FORMAT_VERSION_INTEGER)
            || key
                .strip_prefix("provenance.")
                .is_some_and(|rest| !rest.is_empty())
            || key
                .strip_prefix("layer.")
                .and_then(parse_uint)
                .is_some_and(|i| i < layer_count);
        if !known {
            return Err(Error::UnknownMetadataKey {
                key: Name::new(key),
            });
        }
    }
    Ok(())
}
