//! The format's spec, once: the metadata keys, the layer kinds with their
//! tensors, the tensor names, the dtypes and the output activations. The
//! loader, the writer and the trainer all read these definitions, so a layer
//! kind or a key is named in one place (`docs/model-format.md` is its prose).

use core::fmt;
use core::str::FromStr;

use super::descriptor::parse_descriptor;
use super::numbers::parse_uint;
use super::shape::Dims;
use super::MAX_SCALE;
use crate::error::{Error, Name};

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 binary16, the default: half the flash of f32.
    F16,
    /// IEEE 754 binary32.
    F32,
    /// Signed 8-bit integer (version 2: weights).
    I8,
    /// Signed 16-bit integer (version 2: embedding rows, activation tables).
    I16,
    /// Signed 32-bit integer (version 2: biases).
    I32,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::F16 | DType::I16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }

    /// The name used in the safetensors header.
    pub const fn as_str(self) -> &'static str {
        match self {
            DType::F16 => "F16",
            DType::F32 => "F32",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
        }
    }

    /// Reads a header dtype; `None` for every dtype no version of the
    /// format allows (which dtypes a file may hold depends on its version
    /// and on each tensor's role, checked when tensors are bound).
    pub fn from_header(s: &str) -> Option<DType> {
        match s {
            "F16" => Some(DType::F16),
            "F32" => Some(DType::F32),
            "I8" => Some(DType::I8),
            "I16" => Some(DType::I16),
            "I32" => Some(DType::I32),
            _ => None,
        }
    }

    /// Whether this is one of the integer dtypes, which only version-2
    /// files hold.
    pub const fn is_integer(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32)
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
    /// Version 2: the weight scale of each output channel.
    Scale,
    /// Version 2: the lookup table of `tanh` and `sigmoid`.
    Table,
}

impl TensorRole {
    /// Every role, in the order a layer's tensors are written.
    pub const ALL: [TensorRole; 4] = [
        TensorRole::Weight,
        TensorRole::Bias,
        TensorRole::Scale,
        TensorRole::Table,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TensorRole::Weight => "weight",
            TensorRole::Bias => "bias",
            TensorRole::Scale => "scale",
            TensorRole::Table => "table",
        }
    }
}

/// Entries of the table of `tanh` and `sigmoid` in a version-2 file: the
/// function at `j / 32` for `j` in `0..=256`.
pub const TABLE_LEN: usize = 257;

/// The name of the tensor `layer.{layer}.{role}`.
pub fn tensor_name(layer: usize, role: TensorRole) -> Name {
    Name::new("layer.")
        .and_uint(layer)
        .and(".")
        .and(role.as_str())
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

    /// The shape and dtype of the layer's tensor in `role` in a version-2
    /// (integer) file, `None` if it has none there.
    pub fn integer_tensor(&self, role: TensorRole) -> Option<(Dims, DType)> {
        use LayerSpec::*;
        let out = |n: usize| Some(Dims::new(&[n]));
        let shape = match (*self, role) {
            (EmbedConcat { .. }, TensorRole::Weight) => {
                return Some((self.tensor_shape(role)?, DType::I16))
            }
            (Tanh | Sigmoid, TensorRole::Table) => {
                return Some((Dims::new(&[TABLE_LEN]), DType::I16))
            }
            (Dense { out_features, .. }, TensorRole::Scale) => out(out_features),
            (
                Conv2d { out_channels, .. } | ConvTranspose2d { out_channels, .. },
                TensorRole::Scale,
            ) => out(out_channels),
            (_, TensorRole::Weight | TensorRole::Bias) if self.tensor_shape(role).is_some() => {
                self.tensor_shape(role)
            }
            _ => None,
        }?;
        let dtype = match role {
            TensorRole::Weight => DType::I8,
            TensorRole::Bias => DType::I32,
            _ => DType::F32,
        };
        Some((shape, dtype))
    }

    /// The shape of the layer's tensor in `role` in a version-1 file, `None`
    /// if it has none.
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

// ---- the parameters of each kind, as descriptors write them ----

/// The parameter names of each kind, in the order `Display` writes them.
pub(crate) fn params_of(kind: &str) -> Option<&'static [&'static str]> {
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
pub(crate) fn minimums(kind: &str) -> [usize; 6] {
    match kind {
        "conv2d" => [1, 1, 1, 1, 0, 0],
        "conv_transpose2d" => [1, 1, 1, 1, 0, 0],
        _ => [1; 6],
    }
}

/// The constraint between parameters that `values` (in [`params_of`]
/// order) break, if any: `(param, value, expected)`.
pub(crate) fn constraint(
    kind: &str,
    values: &[usize; 6],
) -> Option<(&'static str, usize, &'static str)> {
    let [a, _, c, d, e, f] = *values;
    match kind {
        "conv2d" | "conv_transpose2d" if e >= c => Some(("padding", e, "a value below kernel")),
        "conv_transpose2d" if f >= d => Some(("output_padding", f, "a value below stride")),
        "upsample_nearest" if a > MAX_SCALE => Some(("scale", a, "a value from 1 to 64")),
        _ => None,
    }
}

/// The spec of a checked descriptor of a known `kind`, from its integer
/// parameters in [`params_of`] order and its slope.
pub(crate) fn from_values(kind: &str, values: [usize; 6], slope: Option<f32>) -> LayerSpec {
    let [a, b, c, d, e, f] = values;
    match kind {
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
    }
}

/// The metadata keys with a fixed name; besides them a file holds
/// `layer.{i}` for each layer and any `provenance.*` entries.
pub const METADATA_KEYS: [&str; 8] = [
    "format",
    "format_version",
    "latent_dim",
    "num_classes",
    "output_shape",
    "output_activation",
    "output_range",
    "layer_count",
];

/// `layer.{i}` in `buf`, without the formatting machinery (which a firmware
/// that never prints would otherwise carry for this alone).
pub fn layer_key(i: usize, buf: &mut [u8; 16]) -> &str {
    buf[..6].copy_from_slice(b"layer.");
    let mut digits = [0u8; 10];
    let mut n = i;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    for (dst, src) in buf[6..6 + len].iter_mut().zip(digits[..len].iter().rev()) {
        *dst = *src;
    }
    core::str::from_utf8(&buf[..6 + len]).unwrap_or("")
}

/// `layer.{i}.weight`, `.bias`, `.scale` or `.table`, exactly as the format
/// writes them.
pub fn parse_tensor_name(name: &str) -> Option<(usize, TensorRole)> {
    let rest = name.strip_prefix("layer.")?;
    let (index, role) = rest.split_once('.')?;
    let role = match role {
        "weight" => TensorRole::Weight,
        "bias" => TensorRole::Bias,
        "scale" => TensorRole::Scale,
        "table" => TensorRole::Table,
        _ => return None,
    };
    Some((parse_uint(index)?, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_keys() {
        let mut buf = [0u8; 16];
        assert_eq!(layer_key(0, &mut buf), "layer.0");
        assert_eq!(layer_key(63, &mut buf), "layer.63");
        assert_eq!(layer_key(usize::MAX, &mut buf).len(), 16);
    }

    #[test]
    fn tensor_names() {
        assert_eq!(
            parse_tensor_name("layer.3.weight"),
            Some((3, TensorRole::Weight))
        );
        assert_eq!(parse_tensor_name("layer.03.weight"), None);
        assert_eq!(parse_tensor_name("layer.3.gamma"), None);
        assert_eq!(parse_tensor_name("x"), None);
    }
}
