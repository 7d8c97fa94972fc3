//! The one error type of the crate.
//!
//! Errors never borrow from the file: a loader error must outlive the bytes it
//! was found in (a firmware may print it after dropping the buffer, a host may
//! box it). Text taken from the file is copied into a [`Name`], a small
//! fixed-size string that truncates, so an error never allocates either.

use core::fmt;

/// Text copied from a model file (a tensor name, a key, a value) for an error
/// message. Holds up to [`Name::CAPACITY`] bytes; longer text is cut at a
/// character boundary and shown with a trailing `...`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    buf: [u8; Name::CAPACITY],
    len: u8,
    truncated: bool,
}

impl Name {
    /// Bytes kept before truncation: enough for every name the format defines.
    pub const CAPACITY: usize = 32;

    /// Copies `s`, truncating at a character boundary if it is too long.
    pub fn new(s: &str) -> Self {
        let mut name = Name {
            buf: [0; Name::CAPACITY],
            len: 0,
            truncated: false,
        };
        name.push_str(s);
        name
    }

    /// `self` followed by `s` (truncating like [`Name::new`]). With
    /// [`Name::and_uint`] it builds the loader's messages without `core::fmt`,
    /// whose machinery would cost a firmware about 2 KB of flash.
    #[must_use]
    pub fn and(mut self, s: &str) -> Self {
        self.push_str(s);
        self
    }

    /// `self` followed by `n` in decimal.
    #[must_use]
    pub fn and_uint(self, n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = n;
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || at == 0 {
                break;
            }
        }
        let text = digits.get(at..).unwrap_or(&[]);
        self.and(core::str::from_utf8(text).unwrap_or(""))
    }

    /// `[a, b, c]`: a list of sizes as the messages show shapes.
    #[must_use]
    pub fn list(items: &[usize]) -> Self {
        let mut name = Name::new("[");
        for (i, &v) in items.iter().enumerate() {
            if i > 0 {
                name = name.and(", ");
            }
            name = name.and_uint(v);
        }
        name.and("]")
    }

    fn push_str(&mut self, s: &str) {
        for ch in s.chars() {
            let mut tmp = [0u8; 4];
            let encoded = ch.encode_utf8(&mut tmp).as_bytes();
            let start = usize::from(self.len);
            let end = start + encoded.len();
            match self.buf.get_mut(start..end) {
                Some(dst) if !self.truncated => {
                    dst.copy_from_slice(encoded);
                    self.len = end as u8;
                }
                _ => {
                    self.truncated = true;
                    return;
                }
            }
        }
    }

    /// Formats `args` into a name (truncating like [`Name::new`]).
    pub fn from_fmt(args: fmt::Arguments<'_>) -> Self {
        let mut name = Name::new("");
        let _ = fmt::write(&mut name, args);
        name
    }

    /// The kept text (without the truncation marker).
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// Whether the original text was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Write for Name {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Everything that can go wrong when loading a model file, building one, or
/// generating an image. Each variant carries what a user needs to find and fix
/// the problem: which tensor, layer or key, what was expected, what was found.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Error {
    // ---- the safetensors container ----
    /// The file is shorter than the 8-byte header length.
    FileTooShort { len: usize },
    /// The declared header length exceeds the format's maximum.
    HeaderTooLarge { declared: u64, max: usize },
    /// The declared header length runs past the end of the file.
    HeaderOutOfBounds { declared: u64, available: usize },
    /// The header is not UTF-8; `offset` is within the header.
    HeaderNotUtf8 { offset: usize },
    /// The header is not JSON of the shape the format allows; `offset` is
    /// within the header.
    Json {
        offset: usize,
        expected: &'static str,
    },
    /// A JSON object holds the same key twice.
    DuplicateKey { key: Name },
    /// More tensors than any valid file holds.
    TooManyTensors { max: usize },
    /// More metadata entries than any valid file holds.
    TooManyMetadataEntries { max: usize },
    /// A tensor's dtype is not one the format allows (`F16` or `F32` in a
    /// version-1 file; `F16`, `F32`, `I8`, `I16`, `I32` in the container).
    UnsupportedDType { tensor: Name, dtype: Name },
    /// A tensor entry has a field other than dtype, shape, data_offsets.
    UnknownTensorField { tensor: Name, field: Name },
    /// A tensor entry lacks one of dtype, shape, data_offsets.
    MissingTensorField { tensor: Name, field: &'static str },
    /// A tensor's byte size overflows the address space.
    TensorSizeOverflow { tensor: Name },
    /// A tensor has no elements (the format has no empty tensors).
    EmptyTensor { tensor: Name },
    /// A tensor's `data_offsets` end before they begin.
    InvalidOffsets {
        tensor: Name,
        begin: usize,
        end: usize,
    },
    /// A tensor's byte range does not match its shape and dtype.
    TensorByteLength {
        tensor: Name,
        expected: usize,
        found: usize,
    },
    /// The tensors, sorted by offset, do not tile the data section: this one
    /// should begin where the previous one ended.
    TensorOffset {
        tensor: Name,
        expected_begin: usize,
        found_begin: usize,
    },
    /// The data section's length differs from where the last tensor ends.
    DataSectionLength { expected: usize, found: usize },

    // ---- metadata ----
    /// A required metadata key (or the `__metadata__` object) is absent.
    MissingMetadata { key: &'static str },
    /// `layer.{layer}` is missing although `layer_count` covers it.
    MissingLayer { layer: usize },
    /// A metadata key the format does not define.
    UnknownMetadataKey { key: Name },
    /// The `format` key names another format (`expected`: the format's
    /// name, carried so that this enum needs nothing of the format module).
    WrongFormat { found: Name, expected: &'static str },
    /// The `format_version` is not one this runtime reads.
    UnsupportedVersion { found: Name, supported: u32 },
    /// A metadata value does not parse or is out of range.
    InvalidMetadataValue {
        key: &'static str,
        value: Name,
        expected: &'static str,
    },
    /// Version 2: `activation_frac` does not hold `layer_count + 1` values.
    ActivationFracCount { expected: usize, found: usize },
    /// Version 2: value `index` of `activation_frac` is not an integer
    /// from 0 to 24.
    ActivationFracValue { index: usize, value: Name },

    // ---- layer descriptors ----
    /// An unknown layer kind. `layer` is `None` when parsing a lone descriptor.
    UnknownLayerKind { layer: Option<usize>, kind: Name },
    /// A layer parameter is absent.
    MissingParameter {
        layer: Option<usize>,
        param: &'static str,
    },
    /// A layer parameter appears twice.
    DuplicateParameter { layer: Option<usize>, param: Name },
    /// A parameter the layer kind does not take.
    UnknownParameter { layer: Option<usize>, param: Name },
    /// A parameter value that does not parse or breaks a constraint.
    InvalidParameter {
        layer: Option<usize>,
        param: &'static str,
        value: Name,
        expected: &'static str,
    },

    // ---- the layer list ----
    /// A layer cannot take the previous layer's output.
    LayerInput {
        layer: usize,
        expected: Name,
        found: Name,
    },
    /// A layer's weight tensor would need more elements than the whole data
    /// section holds (`capacity`: its length in f16 elements).
    WeightsExceedFile { layer: usize, capacity: usize },
    /// A layer's output has more elements than the format allows.
    ActivationTooLarge { layer: usize, max: usize },
    /// The last layer's output is not `output_shape`.
    OutputShapeMismatch { declared: Name, found: Name },
    /// `output_activation` disagrees with the last layer.
    OutputActivationMismatch {
        declared: &'static str,
        expected: &'static str,
    },
    /// `output_range` disagrees with `output_activation`.
    OutputRangeMismatch { found: Name, expected: &'static str },
    /// A conditional generator without a conditioning layer.
    MissingConditioning { num_classes: usize },
    /// A conditioning layer in an unconditional generator, or a second one.
    UnexpectedConditioning { layer: usize },
    /// A conditioning layer whose `classes` differs from `num_classes`.
    ConditioningClasses {
        layer: usize,
        expected: usize,
        found: usize,
    },
    /// Version 2: a layer's output fraction bits break its kind's rule
    /// (15 after `tanh` and `sigmoid`, the input's after the kinds that
    /// do not requantise).
    ActivationFrac {
        layer: usize,
        expected: u32,
        found: u32,
    },
    /// Version 2: `onehot_concat` on an input with more than 14 fraction
    /// bits (its `1.0` would not fit in 16 bits).
    OneHotFrac { layer: usize, frac: u32 },
    /// Version 2: a `leaky_relu` slope outside -1 ..= 1.
    SlopeOutOfRange { layer: usize, slope: f32 },

    // ---- tensors against layers ----
    /// A tensor the layer list does not name.
    UnexpectedTensor { tensor: Name },
    /// A tensor the layer list needs is absent.
    MissingTensor { tensor: Name },
    /// A tensor's shape is not the one its layer needs.
    TensorShape {
        tensor: Name,
        expected: Name,
        found: Name,
    },
    /// A weight is NaN or infinite; `index` is its flat element index.
    NonFiniteWeight { tensor: Name, index: usize },
    /// Version 2: a tensor's dtype is not the one its role has.
    TensorDType {
        tensor: Name,
        expected: &'static str,
        found: &'static str,
    },
    /// Version 2: an output channel's weight scale is zero, negative,
    /// subnormal, infinite or NaN (`bits`: its f32 bits).
    InvalidScale {
        tensor: Name,
        channel: usize,
        bits: u32,
    },
    /// Version 2: an output channel's requantisation shift
    /// `150 - E + Fin - Fout` is outside 1 ..= 62.
    ShiftOutOfRange {
        tensor: Name,
        channel: usize,
        shift: i32,
    },
    /// Version 2: an output channel's `|bias| + 32768 * sum |w|` exceeds
    /// `2^31 - 1`, so its 32-bit sum could overflow.
    AccumulatorBound { tensor: Name, channel: usize },

    // ---- generating ----
    /// The latent vector has the wrong length.
    LatentLength { expected: usize, found: usize },
    /// A conditional generator was called without a class.
    ClassRequired { num_classes: usize },
    /// An unconditional generator was called with a class.
    ClassNotAccepted { class: usize },
    /// The class index is not below `num_classes`.
    ClassOutOfRange { class: usize, num_classes: usize },
    /// The scratch buffer is shorter than `scratch_len()`.
    ScratchTooSmall { needed: usize, found: usize },
    /// The output buffer is shorter than `output_len()`.
    OutputTooSmall { needed: usize, found: usize },
    /// The buffer given to `prepare` is shorter than `prepared_len()`.
    PreparedTooSmall { needed: usize, found: usize },

    // ---- building (feature `std`) ----
    /// A layer was given the wrong number of weight or bias values
    /// (`expected` 0: the layer takes none; `found` 0: none was given).
    ParameterLength {
        layer: usize,
        tensor: &'static str,
        expected: usize,
        found: usize,
    },
    /// A provenance key or value the header cannot hold.
    InvalidProvenance { key: Name, reason: &'static str },
    /// A float layer given to a version-2 builder, or an integer layer to a
    /// version-1 one.
    LayerVersion { layer: usize, version: u32 },
    /// A version-2 builder's `activation_frac` does not hold
    /// `layer_count + 1` values.
    FracCount { expected: usize, found: usize },
    /// A float generator's layer cannot become an integer one.
    CannotQuantize { layer: usize, reason: &'static str },
}

fn layer_prefix(f: &mut fmt::Formatter<'_>, layer: &Option<usize>) -> fmt::Result {
    match layer {
        Some(i) => write!(f, "layer.{i}: "),
        None => f.write_str("layer descriptor: "),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One function per group of variants, each `None` for the others.
        container(self, f)
            .or_else(|| metadata(self, f))
            .or_else(|| layer_list(self, f))
            .or_else(|| use_and_build(self, f))
            .unwrap_or(Ok(()))
    }
}

/// The messages of the safetensors container; `None` for other variants.
fn container(e: &Error, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
    use Error::*;
    Some(match e {
        FileTooShort { len } => write!(
            f,
            "file is {len} bytes long, shorter than the 8-byte header length"
        ),
        HeaderTooLarge { declared, max } => write!(
            f,
            "header length {declared} exceeds the maximum of {max} bytes"
        ),
        HeaderOutOfBounds {
            declared,
            available,
        } => write!(
            f,
            "header length {declared} runs past the end of the file ({available} bytes after the length)"
        ),
        HeaderNotUtf8 { offset } => {
            write!(f, "header is not UTF-8 (at header byte {offset})")
        }
        Json { offset, expected } => {
            write!(f, "header JSON: expected {expected} at header byte {offset}")
        }
        DuplicateKey { key } => write!(f, "header JSON: key {key:?} appears twice"),
        TooManyTensors { max } => write!(f, "more than {max} tensors"),
        TooManyMetadataEntries { max } => write!(f, "more than {max} metadata entries"),
        UnsupportedDType { tensor, dtype } => write!(
            f,
            "tensor {tensor:?}: dtype {dtype:?} is not supported (expected F16 or F32, or in a version-2 file I8, I16, I32)"
        ),
        UnknownTensorField { tensor, field } => write!(
            f,
            "tensor {tensor:?}: unknown field {field:?} (expected dtype, shape, data_offsets)"
        ),
        MissingTensorField { tensor, field } => {
            write!(f, "tensor {tensor:?}: missing field \"{field}\"")
        }
        TensorSizeOverflow { tensor } => {
            write!(f, "tensor {tensor:?}: byte size overflows")
        }
        EmptyTensor { tensor } => write!(f, "tensor {tensor:?} has no elements"),
        InvalidOffsets { tensor, begin, end } => write!(
            f,
            "tensor {tensor:?}: data_offsets [{begin}, {end}] end before they begin"
        ),
        TensorByteLength {
            tensor,
            expected,
            found,
        } => write!(
            f,
            "tensor {tensor:?}: shape and dtype need {expected} bytes, data_offsets span {found}"
        ),
        TensorOffset {
            tensor,
            expected_begin,
            found_begin,
        } => write!(
            f,
            "tensor {tensor:?}: data begins at {found_begin}, expected {expected_begin} (tensors must tile the data section without gaps or overlaps)"
        ),
        DataSectionLength { expected, found } => write!(
            f,
            "data section is {found} bytes, the tensors need exactly {expected}"
        ),
        _ => return None,
    })
}

/// The messages of the metadata and the layer descriptors; `None` for other variants.
fn metadata(e: &Error, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
    use Error::*;
    Some(match e {
        MissingMetadata { key } => write!(f, "metadata key \"{key}\" is missing"),
        MissingLayer { layer } => write!(f, "metadata key \"layer.{layer}\" is missing"),
        UnknownMetadataKey { key } => write!(f, "unknown metadata key {key:?}"),
        WrongFormat { found, expected } => {
            write!(f, "metadata format is {found:?}, expected \"{expected}\"")
        }
        UnsupportedVersion { found, supported } => write!(
            f,
            "format_version {found:?} is not supported (this runtime reads versions 1 to {supported})"
        ),
        ActivationFracCount { expected, found } => write!(
            f,
            "metadata \"activation_frac\" holds {found} values, expected {expected} (layer_count + 1)"
        ),
        ActivationFracValue { index, value } => write!(
            f,
            "metadata \"activation_frac\": value {index} is {value:?}, expected an integer from 0 to 24"
        ),
        InvalidMetadataValue {
            key,
            value,
            expected,
        } => write!(f, "metadata \"{key}\" is {value:?}, expected {expected}"),
        UnknownLayerKind { layer, kind } => {
            layer_prefix(f, layer).and_then(|()| write!(f, "unknown layer kind {kind:?}"))
        }
        MissingParameter { layer, param } => {
            layer_prefix(f, layer).and_then(|()| write!(f, "missing parameter \"{param}\""))
        }
        DuplicateParameter { layer, param } => {
            layer_prefix(f, layer).and_then(|()| write!(f, "parameter {param:?} appears twice"))
        }
        UnknownParameter { layer, param } => {
            layer_prefix(f, layer).and_then(|()| write!(f, "unknown parameter {param:?}"))
        }
        InvalidParameter {
            layer,
            param,
            value,
            expected,
        } => layer_prefix(f, layer)
            .and_then(|()| write!(f, "parameter \"{param}\" is {value:?}, expected {expected}")),
        _ => return None,
    })
}

/// The messages of the layer list; `None` for other variants.
fn layer_list(e: &Error, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
    use Error::*;
    Some(match e {
        LayerInput {
            layer,
            expected,
            found,
        } => write!(
            f,
            "layer.{layer}: input is {found}, the layer needs {expected}"
        ),
        WeightsExceedFile { layer, capacity } => write!(
            f,
            "layer.{layer}: its weights need more than the {capacity} values the file holds"
        ),
        ActivationTooLarge { layer, max } => write!(
            f,
            "layer.{layer}: output has more than {max} elements"
        ),
        OutputShapeMismatch { declared, found } => write!(
            f,
            "the last layer outputs {found}, output_shape declares {declared}"
        ),
        OutputActivationMismatch { declared, expected } => write!(
            f,
            "output_activation is \"{declared}\" but the last layer implies \"{expected}\""
        ),
        OutputRangeMismatch { found, expected } => write!(
            f,
            "output_range is {found:?}, expected \"{expected}\" for this output_activation"
        ),
        MissingConditioning { num_classes } => write!(
            f,
            "num_classes is {num_classes} but no layer is embed_concat or onehot_concat"
        ),
        UnexpectedConditioning { layer } => write!(
            f,
            "layer.{layer}: a conditioning layer where none is allowed (num_classes is 0, or one came before)"
        ),
        ConditioningClasses {
            layer,
            expected,
            found,
        } => write!(
            f,
            "layer.{layer}: classes={found}, but num_classes is {expected}"
        ),
        ActivationFrac {
            layer,
            expected,
            found,
        } => write!(
            f,
            "layer.{layer}: its output has {found} fraction bits in activation_frac, the layer gives {expected}"
        ),
        OneHotFrac { layer, frac } => write!(
            f,
            "layer.{layer}: onehot_concat on an input with {frac} fraction bits, at most 14 (2^F must fit in 16 bits)"
        ),
        SlopeOutOfRange { layer, slope } => write!(
            f,
            "layer.{layer}: slope {slope} is outside -1 ..= 1 (required in a version-2 file)"
        ),
        _ => return None,
    })
}

/// The messages of tensors against layers, generating and building; `None` for other variants.
fn use_and_build(e: &Error, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
    use Error::*;
    Some(match e {
        UnexpectedTensor { tensor } => {
            write!(f, "tensor {tensor:?} is not used by any layer")
        }
        MissingTensor { tensor } => write!(f, "tensor {tensor:?} is missing"),
        TensorShape {
            tensor,
            expected,
            found,
        } => write!(
            f,
            "tensor {tensor:?} has shape {found}, expected {expected}"
        ),
        NonFiniteWeight { tensor, index } => write!(
            f,
            "tensor {tensor:?} holds a NaN or infinity at element {index}"
        ),
        TensorDType {
            tensor,
            expected,
            found,
        } => write!(
            f,
            "tensor {tensor:?} has dtype {found}, its role needs {expected}"
        ),
        InvalidScale {
            tensor,
            channel,
            bits,
        } => write!(
            f,
            "tensor {tensor:?}: channel {channel} has scale {} (bits {bits:#010x}), expected a normal positive finite f32",
            f32::from_bits(*bits)
        ),
        ShiftOutOfRange {
            tensor,
            channel,
            shift,
        } => write!(
            f,
            "tensor {tensor:?}: channel {channel} needs a requantisation shift of {shift}, outside 1 ..= 62"
        ),
        AccumulatorBound { tensor, channel } => write!(
            f,
            "tensor {tensor:?}: channel {channel} breaks |bias| + 32768 * sum |w| <= 2^31 - 1"
        ),
        LatentLength { expected, found } => write!(
            f,
            "latent vector has {found} values, the generator needs {expected}"
        ),
        ClassRequired { num_classes } => write!(
            f,
            "the generator is conditional ({num_classes} classes): pass a class"
        ),
        ClassNotAccepted { class } => write!(
            f,
            "the generator is unconditional but class {class} was passed"
        ),
        ClassOutOfRange { class, num_classes } => write!(
            f,
            "class {class} is out of range (the generator has {num_classes} classes)"
        ),
        ScratchTooSmall { needed, found } => write!(
            f,
            "scratch buffer holds {found} f32, scratch_len() is {needed}"
        ),
        OutputTooSmall { needed, found } => write!(
            f,
            "output buffer holds {found} f32, output_len() is {needed}"
        ),
        PreparedTooSmall { needed, found } => write!(
            f,
            "buffer for prepared weights holds {found} f32, prepared_len() is {needed}"
        ),
        ParameterLength {
            layer,
            tensor,
            expected,
            found,
        } => write!(
            f,
            "layer.{layer}: {tensor} has {found} values, the layer needs {expected}"
        ),
        InvalidProvenance { key, reason } => {
            write!(f, "provenance {key:?}: {reason}")
        }
        LayerVersion { layer, version } => write!(
            f,
            "layer.{layer}: a builder of a version-{version} file takes only layers of that version"
        ),
        FracCount { expected, found } => write!(
            f,
            "activation_frac has {found} values, the layers need {expected} (layer count + 1)"
        ),
        CannotQuantize { layer, reason } => {
            write!(f, "layer.{layer}: cannot be quantised: {reason}")
        }
        _ => return None,
    })
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_truncates_on_char_boundary() {
        let long = "é".repeat(20);
        let name = Name::new(&long);
        assert!(name.is_truncated());
        assert_eq!(name.as_str().len(), 32);
        assert!(name.as_str().chars().all(|c| c == 'é'));
        extern crate alloc;
        use alloc::string::ToString;
        assert!(name.to_string().ends_with("..."));
    }

    #[test]
    fn short_name_round_trips() {
        let name = Name::new("layer.3.weight");
        assert_eq!(name.as_str(), "layer.3.weight");
        assert!(!name.is_truncated());
    }

    #[test]
    fn built_names_match_core_fmt() {
        extern crate alloc;
        use alloc::format;
        for n in [0, 7, 10, 99, 100, 1_234_567_890, usize::MAX] {
            assert_eq!(Name::new("n=").and_uint(n).as_str(), format!("n={n}"));
        }
        assert_eq!(Name::list(&[]).as_str(), "[]");
        assert_eq!(Name::list(&[3, 0, 28]).as_str(), "[3, 0, 28]");
        let long = Name::new("").and_uint(usize::MAX).and_uint(usize::MAX);
        assert!(long.is_truncated());
        assert_eq!(
            long.as_str(),
            &format!("{}{}", usize::MAX, usize::MAX)[..32]
        );
    }
}
