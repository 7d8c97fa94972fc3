//! A loaded generator: the validated layer list borrowing the file's bytes,
//! and the forward pass over caller-provided buffers.

use core::fmt;

use crate::error::{Error, Name};
use crate::format::container::Container;
use crate::format::{
    parse_descriptor, parse_uint, tensor_name, DType, LayerSpec, OutputActivation, TensorRole,
    FORMAT_NAME, FORMAT_VERSION, MAX_ACTIVATION, MAX_LAYERS,
};
use crate::kernels::{self, ConvGeom, Weights};

/// An image shape, channels first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    /// `c * h * w` (saturating; the loader bounds it).
    pub fn len(&self) -> usize {
        self.c.saturating_mul(self.h).saturating_mul(self.w)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shape {
    /// `[c, h, w]`, as `Display` shows it, without `core::fmt`.
    pub fn to_name(&self) -> Name {
        Name::list(&[self.c, self.h, self.w])
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.c, self.h, self.w)
    }
}

/// The shape of an activation between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Flat(usize),
    Image(Shape),
}

impl Act {
    fn len(self) -> usize {
        match self {
            Act::Flat(n) => n,
            Act::Image(s) => s.len(),
        }
    }

    fn name(self) -> Name {
        match self {
            Act::Flat(n) => Name::list(&[n]),
            Act::Image(s) => s.to_name(),
        }
    }
}

/// Where a tensor's elements are in the data section.
#[derive(Clone, Copy, Debug)]
struct TensorRef {
    begin: usize,
    end: usize,
    dtype: DType,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer {
    spec: LayerSpec,
    input: Act,
    output: Act,
    weight: Option<TensorRef>,
    bias: Option<TensorRef>,
}

const EMPTY_LAYER: Layer = Layer {
    spec: LayerSpec::Relu,
    input: Act::Flat(0),
    output: Act::Flat(0),
    weight: None,
    bias: None,
};

/// The metadata keys with a fixed name.
const KEYS: [&str; 8] = [
    "format",
    "format_version",
    "latent_dim",
    "num_classes",
    "output_shape",
    "output_activation",
    "output_range",
    "layer_count",
];

/// A validated generator borrowing its file's bytes. Loading checks
/// everything once, so that generating can neither fail on the file nor
/// allocate.
#[derive(Clone, Debug)]
pub struct Generator<'a> {
    file: Container<'a>,
    layers: [Layer; MAX_LAYERS],
    layer_count: usize,
    latent_dim: usize,
    num_classes: usize,
    output: Shape,
    activation: OutputActivation,
    /// Largest activation, in elements: each half of the scratch buffer.
    max_act: usize,
    param_count: usize,
    macs: u64,
}

fn metadata_value<'a>(file: &Container<'a>, key: &'static str) -> Result<&'a str, Error> {
    file.metadata(key).ok_or(Error::MissingMetadata { key })
}

fn uint_value(
    file: &Container<'_>,
    key: &'static str,
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<usize, Error> {
    let v = metadata_value(file, key)?;
    parse_uint(v)
        .filter(|n| (min..=max).contains(n))
        .ok_or(Error::InvalidMetadataValue {
            key,
            value: Name::new(v),
            expected,
        })
}

fn parse_shape(v: &str) -> Option<Shape> {
    let mut it = v.split(',');
    let c = parse_uint(it.next()?)?;
    let h = parse_uint(it.next()?)?;
    let w = parse_uint(it.next()?)?;
    if it.next().is_some() || c == 0 || h == 0 || w == 0 {
        return None;
    }
    let len = c.checked_mul(h)?.checked_mul(w)?;
    (len <= MAX_ACTIVATION).then_some(Shape { c, h, w })
}

/// Number of `(output, kernel tap)` pairs along one axis whose input index
/// `out * stride + tap - padding` falls in `0..in_len` (conv2d), used for the
/// MAC count. Lengths are at most 2^24 (checked before), and a stride beyond
/// 2^25 counts like 2^25, so native `isize` arithmetic cannot overflow on a
/// 32-bit target (and 64-bit division stays out of a Cortex-M0+ build).
fn conv_taps(out_len: usize, in_len: usize, kernel: usize, stride: usize, padding: usize) -> u64 {
    const CAP: usize = 1 << 25;
    let (out_len, in_len) = (out_len.min(CAP) as isize, in_len.min(CAP) as isize);
    let s = stride.min(CAP) as isize;
    let mut n = 0u64;
    // Taps with k - padding >= in_len never land; padding < kernel.
    for k in 0..kernel.min(padding.saturating_add(CAP)) {
        let off = k as isize - padding.min(CAP) as isize;
        // t in 0..out_len with 0 <= t*stride + off < in_len
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let hi = if in_len > off {
            ((in_len - off + s - 1) / s).min(out_len)
        } else {
            0
        };
        if hi > lo {
            n += (hi - lo) as u64;
        }
    }
    n
}

/// Like [`conv_taps`] for a transposed convolution: input positions `t` in
/// `0..in_len` whose output `t * stride + tap - padding` is in `0..out_len`.
fn conv_transpose_taps(
    in_len: usize,
    out_len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> u64 {
    conv_taps(in_len, out_len, kernel, stride, padding)
}

impl<'a> Generator<'a> {
    /// Validates a whole model file (see `docs/model-format.md`) without
    /// allocating and returns a generator borrowing `bytes`.
    pub fn load(bytes: &'a [u8]) -> Result<Generator<'a>, Error> {
        let file = Container::parse(bytes)?;
        if !file.has_metadata() {
            return Err(Error::MissingMetadata {
                key: "__metadata__",
            });
        }
        let format = metadata_value(&file, "format")?;
        if format != FORMAT_NAME {
            return Err(Error::WrongFormat {
                found: Name::new(format),
            });
        }
        let version = metadata_value(&file, "format_version")?;
        if parse_uint(version) != Some(FORMAT_VERSION as usize) {
            return Err(Error::UnsupportedVersion {
                found: Name::new(version),
                supported: FORMAT_VERSION,
            });
        }
        let latent_dim = uint_value(
            &file,
            "latent_dim",
            1,
            MAX_ACTIVATION,
            "an integer from 1 to 16777216",
        )?;
        let num_classes = uint_value(
            &file,
            "num_classes",
            0,
            MAX_ACTIVATION,
            "an integer from 0 to 16777216",
        )?;
        let layer_count = uint_value(
            &file,
            "layer_count",
            1,
            MAX_LAYERS,
            "an integer from 1 to 64",
        )?;
        let shape_text = metadata_value(&file, "output_shape")?;
        let output = parse_shape(shape_text).ok_or(Error::InvalidMetadataValue {
            key: "output_shape",
            value: Name::new(shape_text),
            expected: "C,H,W with integers >= 1",
        })?;
        let act_text = metadata_value(&file, "output_activation")?;
        let activation =
            OutputActivation::from_metadata(act_text).ok_or(Error::InvalidMetadataValue {
                key: "output_activation",
                value: Name::new(act_text),
                expected: "tanh, sigmoid or none",
            })?;
        let range = metadata_value(&file, "output_range")?;
        if range != activation.range_str() {
            return Err(Error::OutputRangeMismatch {
                found: Name::new(range),
                expected: activation.range_str(),
            });
        }
        // Every key must be one the format defines.
        for (key, _) in file.metadata_entries() {
            let known = KEYS.contains(&key)
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

        // The layer list: parse, chain shapes, count work.
        let mut layers = [EMPTY_LAYER; MAX_LAYERS];
        let mut act = Act::Flat(latent_dim);
        let mut max_act = latent_dim;
        let mut conditioning = None;
        let mut macs = 0u64;
        for (i, slot) in layers.iter_mut().enumerate().take(layer_count) {
            let mut key = [0u8; 16];
            let text = file
                .metadata(layer_key(i, &mut key))
                .ok_or(Error::MissingLayer { layer: i })?;
            let spec = parse_descriptor(text, Some(i))?;
            // A layer whose weights could not fit in the file is rejected
            // before its shapes are worked out, which bounds that work too.
            let capacity = file.data().len() / 2;
            let needed = spec.tensor_len(TensorRole::Weight);
            if needed.is_none_or(|n| n > capacity) {
                return Err(Error::WeightsExceedFile { layer: i, capacity });
            }
            let (output, layer_macs) = chain(i, &spec, act)?;
            if let LayerSpec::EmbedConcat { classes, .. } | LayerSpec::OneHotConcat { classes } =
                spec
            {
                if num_classes == 0 || conditioning.is_some() {
                    return Err(Error::UnexpectedConditioning { layer: i });
                }
                if classes != num_classes {
                    return Err(Error::ConditioningClasses {
                        layer: i,
                        expected: num_classes,
                        found: classes,
                    });
                }
                conditioning = Some(i);
            }
            *slot = Layer {
                spec,
                input: act,
                output,
                weight: None,
                bias: None,
            };
            macs = macs.saturating_add(layer_macs);
            max_act = max_act.max(output.len());
            act = output;
        }
        if num_classes > 0 && conditioning.is_none() {
            return Err(Error::MissingConditioning { num_classes });
        }
        let last = layers
            .get(layer_count - 1)
            .map(|l| l.spec)
            .unwrap_or(LayerSpec::Relu);
        let implied = OutputActivation::of_last_layer(&last);
        if implied != activation {
            return Err(Error::OutputActivationMismatch {
                declared: activation.as_str(),
                expected: implied.as_str(),
            });
        }
        let shape_ok = match act {
            Act::Flat(n) => n == output.len(),
            Act::Image(s) => s == output,
        };
        if !shape_ok {
            return Err(Error::OutputShapeMismatch {
                declared: output.to_name(),
                found: act.name(),
            });
        }

        // Tensors: each one named by a layer, with that layer's shape.
        let mut param_count = 0usize;
        for t in file.tensors() {
            let unexpected = || Error::UnexpectedTensor {
                tensor: Name::new(t.name),
            };
            let (index, role) = parse_tensor_name(t.name).ok_or_else(unexpected)?;
            let layer = layers
                .get_mut(index)
                .filter(|_| index < layer_count)
                .ok_or_else(unexpected)?;
            let expected = layer.spec.tensor_shape(role).ok_or_else(unexpected)?;
            if expected != t.shape {
                return Err(Error::TensorShape {
                    tensor: Name::new(t.name),
                    expected: expected.to_name(),
                    found: t.shape.to_name(),
                });
            }
            let weights = Weights::new(file.tensor_bytes(&t), t.dtype);
            if let Some(index) = weights.first_non_finite() {
                return Err(Error::NonFiniteWeight {
                    tensor: Name::new(t.name),
                    index,
                });
            }
            let r = Some(TensorRef {
                begin: t.begin,
                end: t.end,
                dtype: t.dtype,
            });
            // Duplicate names were rejected by the container.
            match role {
                TensorRole::Weight => layer.weight = r,
                TensorRole::Bias => layer.bias = r,
            }
            param_count = param_count.saturating_add(t.len());
        }
        for (i, layer) in layers.iter().enumerate().take(layer_count) {
            for (role, have) in [
                (TensorRole::Weight, layer.weight.is_some()),
                (TensorRole::Bias, layer.bias.is_some()),
            ] {
                if layer.spec.tensor_shape(role).is_some() && !have {
                    return Err(Error::MissingTensor {
                        tensor: tensor_name(i, role),
                    });
                }
            }
        }

        Ok(Generator {
            file,
            layers,
            layer_count,
            latent_dim,
            num_classes,
            output,
            activation,
            max_act,
            param_count,
            macs,
        })
    }

    /// Length of the latent vector `z`.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Number of classes; 0 for an unconditional generator.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn output_shape(&self) -> Shape {
        self.output
    }

    /// `c * h * w`: the f32 elements `generate` writes.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// f32 elements of scratch `generate` needs: two buffers of the largest
    /// activation, used in turn as input and output of each layer.
    pub fn scratch_len(&self) -> usize {
        2 * self.max_act
    }

    pub fn output_activation(&self) -> OutputActivation {
        self.activation
    }

    /// A metadata value, including `provenance.*` entries.
    pub fn metadata(&self, key: &str) -> Option<&'a str> {
        self.file.metadata(key)
    }

    /// All metadata entries in file order.
    pub fn metadata_entries(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.file.metadata_entries()
    }

    pub fn layers(&self) -> impl Iterator<Item = LayerSpec> + '_ {
        self.layers.iter().take(self.layer_count).map(|l| l.spec)
    }

    /// Stored weights and biases, in elements.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Multiply-accumulates per image (taps that land in padding excluded).
    pub fn macs(&self) -> u64 {
        self.macs
    }

    /// Whether every stored tensor is F16.
    pub fn all_f16(&self) -> bool {
        self.file.tensors().all(|t| t.dtype == DType::F16)
    }

    fn weights(&self, r: Option<TensorRef>) -> Weights<'a> {
        match r {
            Some(r) => Weights::new(self.file.data().get(r.begin..r.end).unwrap_or(&[]), r.dtype),
            None => Weights::new(&[], DType::F32),
        }
    }

    /// Generates one image into `out[..output_len()]`. `z.len()` must be
    /// `latent_dim()`; `class` must be `Some(k)` with `k < num_classes()` for a
    /// conditional generator and `None` otherwise; `scratch` needs at least
    /// `scratch_len()` elements. Nothing is allocated.
    pub fn generate(
        &self,
        z: &[f32],
        class: Option<usize>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.generate_with(z, class, scratch, out, &[])
    }

    /// f32 slots `layer`'s weights take in a prepared buffer (module
    /// `prepared`): reordered for the fastest kernel, or 0.
    fn prepared_len_of(&self, layer: &Layer) -> usize {
        match layer.spec {
            LayerSpec::Dense { .. } => kernels::dense_prepared_len(
                &self.weights(layer.weight),
                layer.input.len(),
                layer.output.len(),
            ),
            LayerSpec::Conv2d { .. } => kernels::prepared_len(&geometry(layer), false),
            LayerSpec::ConvTranspose2d { .. } => kernels::prepared_len(&geometry(layer), true),
            _ => 0,
        }
    }

    /// Every layer's [`prepared_len_of`](Self::prepared_len_of), in order.
    pub(crate) fn prepared_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .take(self.layer_count)
            .map(|l| self.prepared_len_of(l))
    }

    /// Writes every layer's prepared weights into `buf`, one after another
    /// (`buf` holds the sum of [`prepared_lens`](Self::prepared_lens)).
    pub(crate) fn prepare_into(&self, buf: &mut [f32]) {
        let mut at = 0;
        for layer in self.layers.iter().take(self.layer_count) {
            let n = self.prepared_len_of(layer);
            let Some(dst) = buf.get_mut(at..at + n) else {
                return;
            };
            at += n;
            let w = self.weights(layer.weight);
            match layer.spec {
                LayerSpec::Dense { .. } if n > 0 => {
                    kernels::prepare_dense(w, layer.input.len(), layer.output.len(), dst);
                }
                LayerSpec::Conv2d { .. } if n > 0 => {
                    kernels::prepare_conv(w, &geometry(layer), false, dst);
                }
                LayerSpec::ConvTranspose2d { .. } if n > 0 => {
                    kernels::prepare_conv(w, &geometry(layer), true, dst);
                }
                _ => {}
            }
        }
    }

    /// [`generate`](Self::generate), the layers reading their weights
    /// from `prepared` (see `prepared`) where it holds them.
    pub(crate) fn generate_with(
        &self,
        z: &[f32],
        class: Option<usize>,
        scratch: &mut [f32],
        out: &mut [f32],
        prepared: &[f32],
    ) -> Result<(), Error> {
        if z.len() != self.latent_dim {
            return Err(Error::LatentLength {
                expected: self.latent_dim,
                found: z.len(),
            });
        }
        let label = match (class, self.num_classes) {
            (None, 0) => 0,
            (None, n) => return Err(Error::ClassRequired { num_classes: n }),
            (Some(class), 0) => return Err(Error::ClassNotAccepted { class }),
            (Some(class), n) if class >= n => {
                return Err(Error::ClassOutOfRange {
                    class,
                    num_classes: n,
                })
            }
            (Some(class), _) => class,
        };
        let scratch_err = Error::ScratchTooSmall {
            needed: self.scratch_len(),
            found: scratch.len(),
        };
        let out_len = self.output_len();
        let out_err = Error::OutputTooSmall {
            needed: out_len,
            found: out.len(),
        };
        let out = out.get_mut(..out_len).ok_or(out_err)?;
        let scratch = scratch.get_mut(..self.scratch_len()).ok_or(scratch_err)?;
        let (mut a, mut b) = scratch.split_at_mut(self.max_act);
        a.get_mut(..z.len()).ok_or(scratch_err)?.copy_from_slice(z);
        let mut pre_at = 0;
        for layer in self.layers.iter().take(self.layer_count) {
            // This layer's part of the prepared weights (empty when there
            // are none). Only x86-64 kernels take prepared weights;
            // elsewhere this compiles away.
            let pre = if prepared.is_empty() || !cfg!(target_arch = "x86_64") {
                &[][..]
            } else {
                let n = self.prepared_len_of(layer);
                let pre = prepared.get(pre_at..pre_at + n).unwrap_or(&[]);
                pre_at += n;
                pre
            };
            let n_in = layer.input.len();
            let n_out = layer.output.len();
            let w = self.weights(layer.weight);
            let bias = self.weights(layer.bias);
            let x = a.get(..n_in).ok_or(scratch_err)?;
            let mut swap = true;
            match layer.spec {
                LayerSpec::Dense { .. } => {
                    let y = b.get_mut(..n_out).ok_or(scratch_err)?;
                    if pre.is_empty() {
                        kernels::dense(w, bias, x, y);
                    } else {
                        kernels::dense_prepared(w, bias, x, y, pre);
                    }
                }
                LayerSpec::Conv2d { .. } | LayerSpec::ConvTranspose2d { .. } => {
                    let g = geometry(layer);
                    let y = b.get_mut(..n_out).ok_or(scratch_err)?;
                    let transpose = matches!(layer.spec, LayerSpec::ConvTranspose2d { .. });
                    if pre.is_empty() {
                        if transpose {
                            kernels::conv_transpose2d(w, bias, &g, x, y);
                        } else {
                            kernels::conv2d(w, bias, &g, x, y);
                        }
                    } else {
                        kernels::conv_prepared(w, bias, &g, x, y, transpose, pre);
                    }
                }
                LayerSpec::UpsampleNearest { scale } => {
                    let s = match layer.input {
                        Act::Image(s) => s,
                        Act::Flat(_) => Shape { c: 0, h: 0, w: 0 },
                    };
                    let y = b.get_mut(..n_out).ok_or(scratch_err)?;
                    kernels::upsample_nearest(x, s.c, s.h, s.w, scale, y);
                }
                LayerSpec::EmbedConcat { dim, .. } => {
                    let row = w.slice(label * dim, dim);
                    let tail = a.get_mut(n_in..n_in + dim).ok_or(scratch_err)?;
                    for (i, v) in tail.iter_mut().enumerate() {
                        *v = row.at(i);
                    }
                    swap = false;
                }
                LayerSpec::OneHotConcat { classes } => {
                    let tail = a.get_mut(n_in..n_in + classes).ok_or(scratch_err)?;
                    for (i, v) in tail.iter_mut().enumerate() {
                        *v = if i == label { 1.0 } else { 0.0 };
                    }
                    swap = false;
                }
                spec => {
                    let x = a.get_mut(..n_in).ok_or(scratch_err)?;
                    match spec {
                        LayerSpec::Relu => kernels::relu(x),
                        LayerSpec::LeakyRelu { slope } => kernels::leaky_relu(x, slope),
                        LayerSpec::Tanh => kernels::tanh(x),
                        LayerSpec::Sigmoid => kernels::sigmoid(x),
                        // Reshape moves no data.
                        _ => {}
                    }
                    swap = false;
                }
            }
            if swap {
                core::mem::swap(&mut a, &mut b);
            }
        }
        out.copy_from_slice(a.get(..out_len).ok_or(scratch_err)?);
        Ok(())
    }
}

/// `layer.{i}` in `buf`, without the formatting machinery (which a firmware
/// that never prints would otherwise carry for this alone).
fn layer_key(i: usize, buf: &mut [u8; 16]) -> &str {
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

fn geometry(layer: &Layer) -> ConvGeom {
    let (i, o) = match (layer.input, layer.output) {
        (Act::Image(i), Act::Image(o)) => (i, o),
        _ => (Shape { c: 0, h: 0, w: 0 }, Shape { c: 0, h: 0, w: 0 }),
    };
    let (kernel, stride, padding) = match layer.spec {
        LayerSpec::Conv2d {
            kernel,
            stride,
            padding,
            ..
        }
        | LayerSpec::ConvTranspose2d {
            kernel,
            stride,
            padding,
            ..
        } => (kernel, stride, padding),
        _ => (0, 1, 0),
    };
    ConvGeom {
        in_c: i.c,
        in_h: i.h,
        in_w: i.w,
        out_c: o.c,
        out_h: o.h,
        out_w: o.w,
        kernel,
        stride,
        padding,
    }
}

/// `layer.{i}.weight` / `layer.{i}.bias`, exactly as the format writes them.
fn parse_tensor_name(name: &str) -> Option<(usize, TensorRole)> {
    let rest = name.strip_prefix("layer.")?;
    let (index, role) = rest.split_once('.')?;
    let role = match role {
        "weight" => TensorRole::Weight,
        "bias" => TensorRole::Bias,
        _ => return None,
    };
    Some((parse_uint(index)?, role))
}

/// The output of layer `i` given its input, and its MACs; checks that the
/// layer accepts the input and that the output fits the format's limits.
fn chain(i: usize, spec: &LayerSpec, input: Act) -> Result<(Act, u64), Error> {
    let mismatch = |expected: Name| Error::LayerInput {
        layer: i,
        expected,
        found: input.name(),
    };
    let image = |c: usize| -> Result<Shape, Error> {
        match input {
            Act::Image(s) if s.c == c => Ok(s),
            _ => Err(mismatch(
                Name::new("an image with ").and_uint(c).and(" channels"),
            )),
        }
    };
    let too_large = Error::ActivationTooLarge {
        layer: i,
        max: MAX_ACTIVATION,
    };
    let bounded = |len: Option<usize>| len.filter(|&n| n <= MAX_ACTIVATION).ok_or(too_large);
    let n = input.len();
    let out = match *spec {
        LayerSpec::Dense {
            in_features,
            out_features,
        } => {
            if n != in_features {
                return Err(mismatch(
                    Name::new("").and_uint(in_features).and(" elements"),
                ));
            }
            bounded(Some(out_features))?;
            let macs = (in_features as u64).saturating_mul(out_features as u64);
            return Ok((Act::Flat(out_features), macs));
        }
        LayerSpec::Conv2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            let s = image(in_channels)?;
            let dim = |d: usize| {
                d.checked_add(padding.checked_mul(2)?)
                    .and_then(|v| v.checked_sub(kernel))
                    .map(|v| v / stride + 1)
            };
            let (h, w) = match (dim(s.h), dim(s.w)) {
                (Some(h), Some(w)) => (h, w),
                _ => {
                    return Err(mismatch(
                        Name::new("an image of at least ")
                            .and_uint(kernel)
                            .and("x")
                            .and_uint(kernel)
                            .and(" with padding"),
                    ))
                }
            };
            let o = Shape {
                c: out_channels,
                h,
                w,
            };
            bounded(out_channels.checked_mul(h).and_then(|v| v.checked_mul(w)))?;
            let taps = conv_taps(h, s.h, kernel, stride, padding)
                .saturating_mul(conv_taps(w, s.w, kernel, stride, padding));
            let macs = taps
                .saturating_mul(in_channels as u64)
                .saturating_mul(out_channels as u64);
            return Ok((Act::Image(o), macs));
        }
        LayerSpec::ConvTranspose2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            output_padding,
        } => {
            let s = image(in_channels)?;
            let dim = |d: usize| {
                d.checked_sub(1)?
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(kernel))
                    .and_then(|v| v.checked_add(output_padding))
                    .and_then(|v| v.checked_sub(padding.checked_mul(2)?))
                    .filter(|&v| v >= 1)
            };
            let (h, w) = match (dim(s.h), dim(s.w)) {
                (Some(h), Some(w)) => (h, w),
                _ => {
                    return Err(mismatch(Name::new(
                        "a larger image (the output would be empty)",
                    )))
                }
            };
            bounded(out_channels.checked_mul(h).and_then(|v| v.checked_mul(w)))?;
            let o = Shape {
                c: out_channels,
                h,
                w,
            };
            let taps = conv_transpose_taps(s.h, h, kernel, stride, padding)
                .saturating_mul(conv_transpose_taps(s.w, w, kernel, stride, padding));
            let macs = taps
                .saturating_mul(in_channels as u64)
                .saturating_mul(out_channels as u64);
            return Ok((Act::Image(o), macs));
        }
        LayerSpec::UpsampleNearest { scale } => match input {
            Act::Image(s) => {
                let (h, w) = (s.h.saturating_mul(scale), s.w.saturating_mul(scale));
                bounded(s.c.checked_mul(h).and_then(|v| v.checked_mul(w)))?;
                Act::Image(Shape { c: s.c, h, w })
            }
            Act::Flat(_) => return Err(mismatch(Name::new("an image"))),
        },
        LayerSpec::Reshape { c, h, w } => {
            let len = c.checked_mul(h).and_then(|v| v.checked_mul(w));
            if len != Some(n) {
                return Err(mismatch(
                    Name::new("")
                        .and_uint(len.unwrap_or(usize::MAX))
                        .and(" elements (")
                        .and_uint(c)
                        .and("x")
                        .and_uint(h)
                        .and("x")
                        .and_uint(w)
                        .and(")"),
                ));
            }
            Act::Image(Shape { c, h, w })
        }
        LayerSpec::Relu | LayerSpec::LeakyRelu { .. } | LayerSpec::Tanh | LayerSpec::Sigmoid => {
            input
        }
        LayerSpec::EmbedConcat { dim: extra, .. } | LayerSpec::OneHotConcat { classes: extra } => {
            match input {
                Act::Flat(n) => Act::Flat(bounded(n.checked_add(extra))?),
                Act::Image(_) => return Err(mismatch(Name::new("a flat vector"))),
            }
        }
    };
    Ok((out, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_counts_match_brute_force() {
        for (out, inp, k, s, p) in [
            (14, 7, 4, 2, 1),
            (5, 5, 3, 1, 1),
            (3, 8, 3, 3, 0),
            (1, 1, 1, 1, 0),
        ] {
            let mut n = 0;
            for t in 0..out {
                for kk in 0..k {
                    let i = (t * s + kk) as i64 - p as i64;
                    if i >= 0 && i < inp as i64 {
                        n += 1;
                    }
                }
            }
            assert_eq!(conv_taps(out, inp, k, s, p), n, "{out} {inp} {k} {s} {p}");
        }
    }

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

    #[test]
    fn shape_name_matches_display() {
        let s = Shape {
            c: 1,
            h: 28,
            w: 280,
        };
        assert_eq!(s.to_name().as_str(), s.to_string());
    }
}
