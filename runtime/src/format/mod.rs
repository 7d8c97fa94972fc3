//! The model file format, version 1: the single definition in code of
//! `docs/model-format.md`. Names, limits, dtypes and layer descriptors live
//! here; [`container`] reads the safetensors layer and [`json`] is the small
//! allocation-free JSON reader underneath it.

pub mod container;
pub mod json;

use core::fmt;
use core::str::FromStr;

use crate::error::{Error, Name};

/// The value of the `format` metadata key.
pub const FORMAT_NAME: &str = "microgan-generator";
/// The only `format_version` this runtime reads.
pub const FORMAT_VERSION: u32 = 1;
/// Largest header this runtime reads. Safetensors allows 100,000,000 bytes;
/// a valid generator header is a few tens of kilobytes, and a smaller bound
/// keeps a hostile header from costing seconds of parsing on a microcontroller.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Most layers in a generator.
pub const MAX_LAYERS: usize = 64;
/// Most tensors in a file: a weight and a bias per layer.
pub const MAX_TENSORS: usize = 2 * MAX_LAYERS;
/// Most `provenance.*` metadata entries.
pub const MAX_PROVENANCE: usize = 64;
/// Most metadata entries in all: the fixed keys, the layers, the provenance.
pub const MAX_METADATA_ENTRIES: usize = 8 + MAX_LAYERS + MAX_PROVENANCE;
/// Most elements in any activation (input, intermediate or output).
pub const MAX_ACTIVATION: usize = 1 << 24;
/// Largest `upsample_nearest` scale.
pub const MAX_SCALE: usize = 64;

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 binary16, the default: half the flash of f32.
    F16,
    /// IEEE 754 binary32.
    F32,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 => 4,
        }
    }

    /// The name used in the safetensors header.
    pub const fn as_str(self) -> &'static str {
        match self {
            DType::F16 => "F16",
            DType::F32 => "F32",
        }
    }

    /// Reads a header dtype; `None` for every dtype the format does not allow.
    pub fn from_header(s: &str) -> Option<DType> {
        match s {
            "F16" => Some(DType::F16),
            "F32" => Some(DType::F32),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last layer's activation, which fixes the range a display maps from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputActivation {
    /// Values in [-1, 1].
    Tanh,
    /// Values in [0, 1].
    Sigmoid,
    /// Unbounded values.
    None,
}

impl OutputActivation {
    /// The metadata value of `output_activation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputActivation::Tanh => "tanh",
            OutputActivation::Sigmoid => "sigmoid",
            OutputActivation::None => "none",
        }
    }

    /// The metadata value of `output_range` that goes with it.
    pub const fn range_str(self) -> &'static str {
        match self {
            OutputActivation::Tanh => "-1,1",
            OutputActivation::Sigmoid => "0,1",
            OutputActivation::None => "none",
        }
    }

    /// Reads an `output_activation` value.
    pub fn from_metadata(s: &str) -> Option<Self> {
        match s {
            "tanh" => Some(OutputActivation::Tanh),
            "sigmoid" => Some(OutputActivation::Sigmoid),
            "none" => Some(OutputActivation::None),
            _ => None,
        }
    }

    /// The activation a layer list ends with.
    pub fn of_last_layer(spec: &LayerSpec) -> Self {
        match spec {
            LayerSpec::Tanh => OutputActivation::Tanh,
            LayerSpec::Sigmoid => OutputActivation::Sigmoid,
            _ => OutputActivation::None,
        }
    }
}

impl fmt::Display for OutputActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One layer, as its metadata descriptor states it. `Display` writes the
/// descriptor (`conv2d in=1 out=8 kernel=3 stride=1 padding=1`) and
/// [`LayerSpec::parse`] reads it back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    Dense {
        in_features: usize,
        out_features: usize,
    },
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    ConvTranspose2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        output_padding: usize,
    },
    UpsampleNearest {
        scale: usize,
    },
    Reshape {
        c: usize,
        h: usize,
        w: usize,
    },
    Relu,
    LeakyRelu {
        slope: f32,
    },
    Tanh,
    Sigmoid,
    EmbedConcat {
        classes: usize,
        dim: usize,
    },
    OneHotConcat {
        classes: usize,
    },
}

/// Which stored tensors a layer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    Weight,
    Bias,
}

impl TensorRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            TensorRole::Weight => "weight",
            TensorRole::Bias => "bias",
        }
    }
}

/// The name of the tensor `layer.{layer}.{role}`.
pub fn tensor_name(layer: usize, role: TensorRole) -> Name {
    Name::new("layer.")
        .and_uint(layer)
        .and(".")
        .and(role.as_str())
}

/// A tensor shape of rank at most 4, as the format needs (larger ranks are
/// remembered by their rank only, for error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    dims: [usize; 4],
    rank: usize,
}

impl Dims {
    pub fn new(dims: &[usize]) -> Self {
        let mut d = [0; 4];
        for (slot, v) in d.iter_mut().zip(dims) {
            *slot = *v;
        }
        Dims {
            dims: d,
            rank: dims.len(),
        }
    }

    /// Appends a dimension (beyond the fourth only the rank grows).
    pub fn push(&mut self, v: usize) {
        if let Some(slot) = self.dims.get_mut(self.rank) {
            *slot = v;
        }
        self.rank = self.rank.saturating_add(1);
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The text of [`Dims`]'s `Display`, made without `core::fmt` (see
    /// [`Name::and`]).
    pub fn to_name(&self) -> Name {
        match self.as_slice() {
            Some(d) => Name::list(d),
            None => {
                let head = Name::list(&self.dims);
                // "[a, b, c, d" then ", ... (N dims)]".
                let kept = head.as_str().strip_suffix(']').unwrap_or(head.as_str());
                Name::new(kept)
                    .and(", ... (")
                    .and_uint(self.rank)
                    .and(" dims)]")
            }
        }
    }

    /// The dimensions, `None` when the rank exceeds 4.
    pub fn as_slice(&self) -> Option<&[usize]> {
        self.dims.get(..self.rank)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims.iter().take(self.rank).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > 4 {
            write!(f, ", ... ({} dims)", self.rank)?;
        }
        f.write_str("]")
    }
}

impl LayerSpec {
    /// The descriptor's kind word.
    pub const fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::ConvTranspose2d { .. } => "conv_transpose2d",
            LayerSpec::UpsampleNearest { .. } => "upsample_nearest",
            LayerSpec::Reshape { .. } => "reshape",
            LayerSpec::Relu => "relu",
            LayerSpec::LeakyRelu { .. } => "leaky_relu",
            LayerSpec::Tanh => "tanh",
            LayerSpec::Sigmoid => "sigmoid",
            LayerSpec::EmbedConcat { .. } => "embed_concat",
            LayerSpec::OneHotConcat { .. } => "onehot_concat",
        }
    }

    /// The shape of the layer's tensor in `role`, `None` if it has none.
    pub fn tensor_shape(&self, role: TensorRole) -> Option<Dims> {
        use LayerSpec::*;
        match (*self, role) {
            (
                Dense {
                    in_features,
                    out_features,
                },
                TensorRole::Weight,
            ) => Some(Dims::new(&[out_features, in_features])),
            (
                Conv2d {
                    in_channels,
                    out_channels,
                    kernel,
                    ..
                },
                TensorRole::Weight,
            ) => Some(Dims::new(&[out_channels, in_channels, kernel, kernel])),
            (
                ConvTranspose2d {
                    in_channels,
                    out_channels,
                    kernel,
                    ..
                },
                TensorRole::Weight,
            ) => Some(Dims::new(&[in_channels, out_channels, kernel, kernel])),
            (Dense { out_features, .. }, TensorRole::Bias) => Some(Dims::new(&[out_features])),
            (Conv2d { out_channels, .. }, TensorRole::Bias)
            | (ConvTranspose2d { out_channels, .. }, TensorRole::Bias) => {
                Some(Dims::new(&[out_channels]))
            }
            (EmbedConcat { classes, dim }, TensorRole::Weight) => Some(Dims::new(&[classes, dim])),
            _ => None,
        }
    }

    /// Element count of the layer's tensor in `role` (0 if it has none);
    /// `None` on overflow.
    pub fn tensor_len(&self, role: TensorRole) -> Option<usize> {
        match self.tensor_shape(role) {
            None => Some(0),
            Some(d) => d
                .as_slice()?
                .iter()
                .try_fold(1usize, |acc, &v| acc.checked_mul(v)),
        }
    }

    /// Reads a descriptor such as `dense in=100 out=128`. Errors carry
    /// `layer: None`; the loader fills in the layer index.
    pub fn parse(s: &str) -> Result<LayerSpec, Error> {
        parse_descriptor(s, None)
    }
}

impl FromStr for LayerSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        LayerSpec::parse(s)
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LayerSpec::*;
        f.write_str(self.kind())?;
        match *self {
            Dense {
                in_features,
                out_features,
            } => write!(f, " in={in_features} out={out_features}"),
            Conv2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
            } => write!(
                f,
                " in={in_channels} out={out_channels} kernel={kernel} stride={stride} padding={padding}"
            ),
            ConvTranspose2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                output_padding,
            } => write!(
                f,
                " in={in_channels} out={out_channels} kernel={kernel} stride={stride} padding={padding} output_padding={output_padding}"
            ),
            UpsampleNearest { scale } => write!(f, " scale={scale}"),
            Reshape { c, h, w } => write!(f, " c={c} h={h} w={w}"),
            LeakyRelu { slope } => write!(f, " slope={slope}"),
            EmbedConcat { classes, dim } => write!(f, " classes={classes} dim={dim}"),
            OneHotConcat { classes } => write!(f, " classes={classes}"),
            Relu | Tanh | Sigmoid => Ok(()),
        }
    }
}

/// Reads a metadata integer: decimal digits, no sign, no leading zeros.
pub fn parse_uint(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || (bytes.len() > 1 && bytes.first() == Some(&b'0')) {
        return None;
    }
    let mut v: usize = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
    }
    Some(v)
}

/// Exact powers of ten in f32.
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Reads a metadata float: an optional `-`, decimal digits with an optional
/// `.` (no exponent), at most 2^24 once leading and trailing zeros are
/// dropped, with at most 10 digits of scale either way (`0.2`, `0.01`,
/// `0.00001`, `-1.5`, `300`). Every f32 whose `Display` fits these bounds
/// reads back exactly. The value is the significand times or divided by an
/// exact power of ten: one correctly rounded f32 operation on exact operands,
/// so it equals `f32::from_str` on the same text. This replaces
/// `f32::from_str`, whose tables cost over 14 KB of flash on thumbv6m.
pub fn parse_float(s: &str) -> Option<f32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    // u32 arithmetic: 64-bit division would cost a Cortex-M0+ a library call.
    let mut m: u32 = 0;
    let mut scale: i32 = 0;
    for (i, b) in int.bytes().chain(frac.bytes()).enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        if m == 0 && b == b'0' {
            // Leading zero: only the scale moves.
        } else if m < 1 << 28 {
            m = m * 10 + u32::from(b - b'0');
        } else if b != b'0' {
            return None;
        } else {
            // A trailing zero beyond the significand's digits.
            scale += 1;
        }
        if i >= int.len() {
            scale -= 1;
        }
    }
    while m != 0 && m.is_multiple_of(10) {
        m /= 10;
        scale += 1;
    }
    if m > 1 << 24 {
        return None;
    }
    let v = m as f32;
    let v = if m == 0 {
        0.0
    } else if scale >= 0 {
        v * *POW10.get(scale as usize)?
    } else {
        v / *POW10.get(scale.unsigned_abs() as usize)?
    };
    Some(if neg { -v } else { v })
}

/// The parameter names of each kind, in the order `Display` writes them.
fn params_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "dense" => &["in", "out"],
        "conv2d" => &["in", "out", "kernel", "stride", "padding"],
        "conv_transpose2d" => &["in", "out", "kernel", "stride", "padding", "output_padding"],
        "upsample_nearest" => &["scale"],
        "reshape" => &["c", "h", "w"],
        "relu" | "tanh" | "sigmoid" => &[],
        "leaky_relu" => &["slope"],
        "embed_concat" => &["classes", "dim"],
        "onehot_concat" => &["classes"],
        _ => return None,
    })
}

/// The smallest value of each integer parameter, in [`params_of`] order.
fn minimums(kind: &str) -> [usize; 6] {
    match kind {
        "conv2d" => [1, 1, 1, 1, 0, 0],
        "conv_transpose2d" => [1, 1, 1, 1, 0, 0],
        _ => [1; 6],
    }
}

pub(crate) fn parse_descriptor(s: &str, layer: Option<usize>) -> Result<LayerSpec, Error> {
    // Written table-driven, with one construction site per error, because
    // every site costs a Cortex-M0+ flash.
    let mut parts = s.split(' ');
    let kind = parts.next().unwrap_or("");
    let names = params_of(kind).ok_or(Error::UnknownLayerKind {
        layer,
        kind: Name::new(kind),
    })?;
    let min = minimums(kind);
    let mut values = [0usize; 6];
    let mut slope = None;
    let mut seen = 0u32;
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let Some(idx) = names.iter().position(|n| *n == key) else {
            return Err(Error::UnknownParameter {
                layer,
                param: Name::new(key),
            });
        };
        if seen & (1 << idx) != 0 {
            return Err(Error::DuplicateParameter {
                layer,
                param: Name::new(key),
            });
        }
        seen |= 1 << idx;
        let param = names.get(idx).copied().unwrap_or("");
        let parsed = if kind == "leaky_relu" {
            slope = parse_float(value);
            slope.map(|_| 0)
        } else {
            parse_uint(value).filter(|&v| v >= min.get(idx).copied().unwrap_or(1))
        };
        let (Some(v), Some(slot)) = (parsed, values.get_mut(idx)) else {
            let expected = match (kind, min.get(idx)) {
                ("leaky_relu", _) => "a decimal number with at most 8 significant digits",
                (_, Some(0)) => "an integer >= 0",
                _ => "an integer >= 1",
            };
            return Err(Error::InvalidParameter {
                layer,
                param,
                value: Name::new(value),
                expected,
            });
        };
        *slot = v;
    }
    if let Some(param) = names.iter().enumerate().find(|(i, _)| seen & (1 << i) == 0) {
        return Err(Error::MissingParameter {
            layer,
            param: param.1,
        });
    }
    let [a, b, c, d, e, f] = values;
    // Constraints between parameters: (param, value, holds, expected).
    let check = match kind {
        "conv2d" | "conv_transpose2d" if e >= c => Some(("padding", e, "a value below kernel")),
        "conv_transpose2d" if f >= d => Some(("output_padding", f, "a value below stride")),
        "upsample_nearest" if a > MAX_SCALE => Some(("scale", a, "a value from 1 to 64")),
        _ => None,
    };
    if let Some((param, v, expected)) = check {
        return Err(Error::InvalidParameter {
            layer,
            param,
            value: Name::new("").and_uint(v),
            expected,
        });
    }
    Ok(match kind {
        "dense" => LayerSpec::Dense {
            in_features: a,
            out_features: b,
        },
        "conv2d" => LayerSpec::Conv2d {
            in_channels: a,
            out_channels: b,
            kernel: c,
            stride: d,
            padding: e,
        },
        "conv_transpose2d" => LayerSpec::ConvTranspose2d {
            in_channels: a,
            out_channels: b,
            kernel: c,
            stride: d,
            padding: e,
            output_padding: f,
        },
        "upsample_nearest" => LayerSpec::UpsampleNearest { scale: a },
        "reshape" => LayerSpec::Reshape { c: a, h: b, w: c },
        "relu" => LayerSpec::Relu,
        "tanh" => LayerSpec::Tanh,
        "sigmoid" => LayerSpec::Sigmoid,
        "leaky_relu" => LayerSpec::LeakyRelu {
            slope: slope.unwrap_or(0.0),
        },
        "embed_concat" => LayerSpec::EmbedConcat { classes: a, dim: b },
        _ => LayerSpec::OneHotConcat { classes: a },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn descriptors_round_trip() {
        let specs = [
            LayerSpec::Dense {
                in_features: 100,
                out_features: 128,
            },
            LayerSpec::Conv2d {
                in_channels: 3,
                out_channels: 8,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::ConvTranspose2d {
                in_channels: 64,
                out_channels: 32,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0,
            },
            LayerSpec::UpsampleNearest { scale: 2 },
            LayerSpec::Reshape { c: 64, h: 7, w: 7 },
            LayerSpec::Relu,
            LayerSpec::LeakyRelu { slope: 0.2 },
            LayerSpec::LeakyRelu { slope: 1e-5 },
            LayerSpec::Tanh,
            LayerSpec::Sigmoid,
            LayerSpec::EmbedConcat {
                classes: 10,
                dim: 10,
            },
            LayerSpec::OneHotConcat { classes: 10 },
        ];
        for spec in specs {
            let text = spec.to_string();
            assert_eq!(LayerSpec::parse(&text), Ok(spec), "{text}");
        }
        assert_eq!(
            LayerSpec::ConvTranspose2d {
                in_channels: 64,
                out_channels: 32,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0
            }
            .to_string(),
            "conv_transpose2d in=64 out=32 kernel=4 stride=2 padding=1 output_padding=0"
        );
        assert_eq!(
            LayerSpec::LeakyRelu { slope: 0.2 }.to_string(),
            "leaky_relu slope=0.2"
        );
    }

    #[test]
    fn parameters_in_any_order() {
        assert_eq!(
            LayerSpec::parse("dense out=3 in=2"),
            Ok(LayerSpec::Dense {
                in_features: 2,
                out_features: 3
            })
        );
    }

    #[test]
    fn descriptor_errors() {
        assert!(matches!(
            LayerSpec::parse("densely in=1 out=1"),
            Err(Error::UnknownLayerKind { layer: None, .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1"),
            Err(Error::MissingParameter { param: "out", .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1 in=1 out=2"),
            Err(Error::DuplicateParameter { .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1 out=2 bias=1"),
            Err(Error::UnknownParameter { .. })
        ));
        assert!(matches!(
            LayerSpec::parse("relu x"),
            Err(Error::UnknownParameter { .. })
        ));
        for bad in [
            "dense in=01 out=2",
            "dense in=0 out=2",
            "dense in=-1 out=2",
            "dense in= out=2",
            "dense in=1e3 out=2",
        ] {
            assert!(
                matches!(
                    LayerSpec::parse(bad),
                    Err(Error::InvalidParameter { param: "in", .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            LayerSpec::parse("dense  in=1 out=2"),
            Err(Error::UnknownParameter { .. })
        ));
        assert!(matches!(
            LayerSpec::parse("leaky_relu slope=NaN"),
            Err(Error::InvalidParameter { param: "slope", .. })
        ));
        assert!(matches!(
            LayerSpec::parse("leaky_relu slope=1e-5"),
            Err(Error::InvalidParameter { param: "slope", .. })
        ));
        assert!(matches!(
            LayerSpec::parse("conv2d in=1 out=1 kernel=3 stride=1 padding=3"),
            Err(Error::InvalidParameter {
                param: "padding",
                ..
            })
        ));
        assert!(matches!(
            LayerSpec::parse(
                "conv_transpose2d in=1 out=1 kernel=3 stride=2 padding=0 output_padding=2"
            ),
            Err(Error::InvalidParameter {
                param: "output_padding",
                ..
            })
        ));
        assert!(matches!(
            LayerSpec::parse("upsample_nearest scale=65"),
            Err(Error::InvalidParameter { param: "scale", .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=99999999999999999999999 out=1"),
            Err(Error::InvalidParameter { .. })
        ));
    }

    #[test]
    fn floats_read_like_from_str() {
        for text in [
            "0.2",
            "0.01",
            "0.00001",
            "-1.5",
            "300",
            "1",
            "0",
            "-0",
            "0.0",
            "1.",
            ".5",
            "16777216",
            "0.1234567",
            "12345.678",
            "1000000000",
            "-0.0000000001",
        ] {
            let want: f32 = text.parse().unwrap();
            let got = parse_float(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
        for text in [
            "",
            ".",
            "-",
            "1e5",
            "inf",
            "NaN",
            "+1",
            "1.2.3",
            "0.00000000001",
            "16777217",
            "123456789",
            "1 ",
            "0.30000001",
            "1000000000000",
        ] {
            assert_eq!(parse_float(text), None, "{text}");
        }
        // Every f32 that Display writes within the bounds reads back exactly.
        let mut x = 0x3f80_0001u32;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = f32::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let text = v.to_string();
            if let Some(got) = parse_float(&text) {
                assert_eq!(got.to_bits(), v.to_bits(), "{text}");
            }
        }
        for slope in [0.2f32, 0.01, 0.1, 0.3, 1e-5, 0.05, 0.25] {
            assert_eq!(parse_float(&slope.to_string()), Some(slope));
        }
    }

    #[test]
    fn dims_display() {
        assert_eq!(Dims::new(&[2, 3]).to_string(), "[2, 3]");
        let mut d = Dims::new(&[1, 2, 3, 4]);
        d.push(5);
        assert_eq!(d.rank(), 5);
        assert!(d.as_slice().is_none());
        assert_eq!(d.to_string(), "[1, 2, 3, 4, ... (5 dims)]");
    }

    #[test]
    fn dims_name_matches_display() {
        extern crate alloc;
        use alloc::format;
        let mut d = Dims::new(&[]);
        for v in [1568, 100, 4, 4, 9, 11] {
            assert_eq!(d.to_name().as_str(), format!("{d}"));
            d.push(v);
        }
        assert_eq!(d.to_name().as_str(), "[1568, 100, 4, 4, ... (6 dims)]");
    }
}
