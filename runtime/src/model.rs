//! A loaded generator: the validated layer list borrowing the file's bytes,
//! and the forward pass over caller-provided buffers. Loading goes container
//! ([`format::container`](crate::format::container)) -> metadata and layer
//! descriptors ([`format`](crate::format)) -> layers (module `layers`, one
//! file per kind) -> tensors bound to their layers.

use crate::error::{Error, Name};
use crate::format::container::Container;
use crate::format::metadata::Metadata;
use crate::format::{
    layer_key, parse_descriptor, parse_tensor_name, tensor_name, DType, LayerSpec,
    OutputActivation, TensorRole, FORMAT_VERSION_INTEGER, MAX_LAYERS,
};
use crate::kernels::{quantize_latent, Weights};
use crate::layers::{check_conditioning, check_requantised, Act, Layer, TensorRef};

pub use crate::format::Shape;

/// What [`Generator::trace`] calls with each activation: `(boundary, values)`.
pub type Observer<'o> = &'o mut dyn FnMut(usize, &[f32]);

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
    /// `format_version`: 1 (floats) or 2 (integers).
    version: u32,
    /// Version 2: the latent's fraction bits (`activation_frac`'s first).
    latent_frac: u8,
}

impl<'a> Generator<'a> {
    /// Validates a whole model file (see `docs/model-format.md`) without
    /// allocating and returns a generator borrowing `bytes`.
    pub fn load(bytes: &'a [u8]) -> Result<Generator<'a>, Error> {
        let file = Container::parse(bytes)?;
        let meta = Metadata::read(&file)?;
        let mut generator = Generator {
            file,
            layers: [Layer::EMPTY; MAX_LAYERS],
            layer_count: meta.layer_count,
            latent_dim: meta.latent_dim,
            num_classes: meta.num_classes,
            output: meta.output,
            activation: meta.activation,
            max_act: meta.latent_dim,
            param_count: 0,
            macs: 0,
            version: meta.version,
            latent_frac: meta.fracs[0],
        };
        generator.chain_layers(&meta.fracs)?;
        generator.bind_tensors()?;
        if generator.is_integer() {
            let data = file.data();
            for (i, layer) in generator.layer_list().enumerate() {
                check_requantised(layer, i, data)?;
            }
        }
        Ok(generator)
    }

    /// Reads the layer descriptors and chains their shapes, counting the
    /// work, up to the output the metadata declares; in a version-2 file,
    /// checks each layer's fraction bits (`fracs`, `activation_frac`).
    fn chain_layers(&mut self, fracs: &[u8; MAX_LAYERS + 1]) -> Result<(), Error> {
        let file = self.file;
        let integer = self.is_integer();
        // The smallest element a layer's weights can be stored in: f16, or
        // in a version-2 file i8.
        let capacity = file.data().len() / if integer { 1 } else { 2 };
        let mut act = Act::Flat(self.latent_dim);
        let mut conditioning = None;
        for (i, slot) in self.layers.iter_mut().enumerate().take(self.layer_count) {
            let mut key = [0u8; 16];
            let text = file
                .metadata(layer_key(i, &mut key))
                .ok_or(Error::MissingLayer { layer: i })?;
            let spec = parse_descriptor(text, Some(i))?;
            // A layer whose weights could not fit in the file is rejected
            // before its shapes are worked out, which bounds that work too.
            let needed = spec.tensor_len(TensorRole::Weight);
            if needed.is_none_or(|n| n > capacity) {
                return Err(Error::WeightsExceedFile { layer: i, capacity });
            }
            let (mut layer, macs) = Layer::chain(i, spec, act)?;
            if integer {
                let f = |j: usize| fracs.get(j).copied().unwrap_or(0);
                layer.set_fracs(i, f(i), f(i + 1))?;
            }
            check_conditioning(i, &spec, self.num_classes, &mut conditioning)?;
            *slot = layer;
            self.macs = self.macs.saturating_add(macs);
            self.max_act = self.max_act.max(layer.output.len());
            act = layer.output;
        }
        if self.num_classes > 0 && conditioning.is_none() {
            return Err(Error::MissingConditioning {
                num_classes: self.num_classes,
            });
        }
        self.check_output(act)
    }

    /// The last layer's activation and output `last` are the ones the
    /// metadata declares.
    fn check_output(&self, last: Act) -> Result<(), Error> {
        let spec = self
            .layers
            .get(self.layer_count - 1)
            .map(|l| l.spec)
            .unwrap_or(LayerSpec::Relu);
        let implied = OutputActivation::of_last_layer(&spec);
        if implied != self.activation {
            return Err(Error::OutputActivationMismatch {
                declared: self.activation.as_str(),
                expected: implied.as_str(),
            });
        }
        let shape_ok = match last {
            Act::Flat(n) => n == self.output.len(),
            Act::Image(s) => s == self.output,
        };
        if !shape_ok {
            return Err(Error::OutputShapeMismatch {
                declared: self.output.to_name(),
                found: last.name(),
            });
        }
        Ok(())
    }

    /// Binds each tensor to the layer its name gives, with that layer's
    /// shape and finite values, then checks that no layer lacks one.
    // Out of line: a thumbv6m build is 0.15 KB smaller so.
    #[inline(never)]
    fn bind_tensors(&mut self) -> Result<(), Error> {
        let file = self.file;
        let count = self.layer_count;
        let integer = self.is_integer();
        for t in file.tensors() {
            let unexpected = || Error::UnexpectedTensor {
                tensor: Name::new(t.name),
            };
            if !integer && t.dtype.is_integer() {
                return Err(Error::UnsupportedDType {
                    tensor: Name::new(t.name),
                    dtype: Name::new(t.dtype.as_str()),
                });
            }
            // The layer and role the name gives, and the shape (and in a
            // version-2 file the dtype) that layer expects; one error for
            // all three steps.
            let bound = parse_tensor_name(t.name).and_then(|(index, role)| {
                let layer = self.layers.get_mut(index).filter(|_| index < count)?;
                let (expected, dtype) = if integer {
                    layer.spec.integer_tensor(role)?
                } else {
                    (layer.spec.tensor_shape(role)?, t.dtype)
                };
                Some((layer, role, expected, dtype))
            });
            let (layer, role, expected, dtype) = bound.ok_or_else(unexpected)?;
            if expected != t.shape {
                return Err(Error::TensorShape {
                    tensor: Name::new(t.name),
                    expected: expected.to_name(),
                    found: t.shape.to_name(),
                });
            }
            if dtype != t.dtype {
                return Err(Error::TensorDType {
                    tensor: Name::new(t.name),
                    expected: dtype.as_str(),
                    found: t.dtype.as_str(),
                });
            }
            let weights = Weights::new(file.tensor_bytes(&t), t.dtype);
            // Version-2 scales are checked channel by channel later, with
            // their own error.
            let scales = role == TensorRole::Scale;
            if let Some(index) = weights.first_non_finite().filter(|_| !scales) {
                return Err(Error::NonFiniteWeight {
                    tensor: Name::new(t.name),
                    index,
                });
            }
            let r = TensorRef {
                begin: t.begin,
                end: t.end,
                dtype: t.dtype,
            };
            // Duplicate names were rejected by the container.
            layer.set_tensor(role, r);
            self.param_count = self.param_count.saturating_add(t.len());
        }
        for (i, layer) in self.layer_list().enumerate() {
            for role in TensorRole::ALL {
                let needed = if integer {
                    layer.spec.integer_tensor(role).is_some()
                } else {
                    layer.spec.tensor_shape(role).is_some()
                };
                if needed && layer.tensor(role).is_none() {
                    return Err(Error::MissingTensor {
                        tensor: tensor_name(i, role),
                    });
                }
            }
        }
        Ok(())
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
    /// activation, used in turn as input and output of each layer (in a
    /// version-2 file, int16 activations, two to an f32 slot).
    pub fn scratch_len(&self) -> usize {
        if self.is_integer() {
            self.max_act
        } else {
            2 * self.max_act
        }
    }

    /// The file's `format_version`: 1 (float weights, f32 arithmetic) or 2
    /// (int8 weights, integer arithmetic).
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// Whether the generator is a version-2 (integer) one.
    pub fn is_integer(&self) -> bool {
        self.version == FORMAT_VERSION_INTEGER
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
        self.layer_list().map(|l| l.spec)
    }

    /// Stored weights and biases, in elements.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Multiply-accumulates per image (taps that land in padding excluded).
    pub fn macs(&self) -> u64 {
        self.macs
    }

    /// Whether every stored tensor is F16 (never for a version-2 file, whose
    /// weights are I8).
    pub fn all_f16(&self) -> bool {
        self.file.tensors().all(|t| t.dtype == DType::F16)
    }

    /// The loaded layers, in order.
    fn layer_list(&self) -> impl Iterator<Item = &Layer> + '_ {
        self.layers.iter().take(self.layer_count)
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
        self.generate_with(z, class, scratch, out, &[], None)
    }

    /// Layer `i`'s stored weight and bias as f32 (empty where it has
    /// none): what the quantiser reads of a float generator.
    #[cfg(feature = "std")]
    pub(crate) fn layer_values(&self, i: usize) -> (std::vec::Vec<f32>, std::vec::Vec<f32>) {
        let read = |r| {
            let w = crate::layers::weights(r, self.file.data());
            (0..w.len()).map(|k| w.at(k)).collect()
        };
        match self.layer_list().nth(i) {
            Some(l) => (read(l.weight), read(l.bias)),
            None => Default::default(),
        }
    }

    /// Runs a float (version-1) generator on `z` and hands `observe` each
    /// activation as it is made: `(0, latent)`, then `(i + 1, output of
    /// layer i)`. The quantiser calibrates with it. An integer generator
    /// is only run (`observe` is not called).
    #[cfg(feature = "std")]
    pub fn trace(
        &self,
        z: &[f32],
        class: Option<usize>,
        observe: Observer<'_>,
    ) -> Result<(), Error> {
        let mut scratch = std::vec![0f32; self.scratch_len()];
        let mut out = std::vec![0f32; self.output_len()];
        self.generate_with(z, class, &mut scratch, &mut out, &[], Some(observe))
    }

    /// Every layer's prepared length (module `prepared`), in order.
    pub(crate) fn prepared_lens(&self) -> impl Iterator<Item = usize> + '_ {
        let data = self.file.data();
        let integer = self.is_integer();
        // The integer kernels read the weights as stored.
        self.layer_list()
            .map(move |l| if integer { 0 } else { l.prepared_len(data) })
    }

    /// Writes every layer's prepared weights into `buf`, one after another
    /// (`buf` holds the sum of [`prepared_lens`](Self::prepared_lens)).
    pub(crate) fn prepare_into(&self, buf: &mut [f32]) {
        if self.is_integer() {
            return;
        }
        let data = self.file.data();
        let mut at = 0;
        for layer in self.layer_list() {
            let n = layer.prepared_len(data);
            let Some(dst) = buf.get_mut(at..at + n) else {
                return;
            };
            at += n;
            if n > 0 {
                layer.prepare(data, dst);
            }
        }
    }

    /// The class index `generate` appends for `class` (0 for an
    /// unconditional generator), checked against `num_classes`.
    fn label(&self, class: Option<usize>) -> Result<usize, Error> {
        match (class, self.num_classes) {
            (None, 0) => Ok(0),
            (None, n) => Err(Error::ClassRequired { num_classes: n }),
            (Some(class), 0) => Err(Error::ClassNotAccepted { class }),
            (Some(class), n) if class >= n => Err(Error::ClassOutOfRange {
                class,
                num_classes: n,
            }),
            (Some(class), _) => Ok(class),
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
        mut observe: Option<Observer<'_>>,
    ) -> Result<(), Error> {
        if z.len() != self.latent_dim {
            return Err(Error::LatentLength {
                expected: self.latent_dim,
                found: z.len(),
            });
        }
        let label = self.label(class)?;
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
        if self.is_integer() {
            return self.generate_int(z, label, scratch, out).ok_or(scratch_err);
        }
        let (mut a, mut b) = scratch.split_at_mut(self.max_act);
        a.get_mut(..z.len()).ok_or(scratch_err)?.copy_from_slice(z);
        if let Some(f) = observe.as_mut() {
            f(0, z);
        }
        let data = self.file.data();
        let mut pre_at = 0;
        for (i, layer) in self.layer_list().enumerate() {
            // This layer's part of the prepared weights (empty when there
            // are none). Only x86-64 kernels take prepared weights;
            // elsewhere this compiles away.
            let pre = if prepared.is_empty() || !cfg!(target_arch = "x86_64") {
                &[][..]
            } else {
                let n = layer.prepared_len(data);
                let pre = prepared.get(pre_at..pre_at + n).unwrap_or(&[]);
                pre_at += n;
                pre
            };
            if layer.run(data, label, a, b, pre).ok_or(scratch_err)? {
                core::mem::swap(&mut a, &mut b);
            }
            if let Some(f) = observe.as_mut() {
                f(i + 1, a.get(..layer.output.len()).unwrap_or(&[]));
            }
        }
        out.copy_from_slice(a.get(..out_len).ok_or(scratch_err)?);
        Ok(())
    }

    /// The version-2 forward pass: the latent quantised once, then every
    /// layer on int16 activations held in `scratch` (two to an f32 slot),
    /// then the output's exact conversion `q * 2^-F` to f32. `None`: a
    /// buffer is too short.
    fn generate_int(
        &self,
        z: &[f32],
        label: usize,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Option<()> {
        let slots: &mut [i16] = bytemuck::try_cast_slice_mut(scratch).ok()?;
        let (mut a, mut b) = slots.split_at_mut(self.max_act);
        let f0 = u32::from(self.latent_frac);
        for (q, &v) in a.get_mut(..z.len())?.iter_mut().zip(z) {
            *q = quantize_latent(v, f0);
        }
        let data = self.file.data();
        for layer in self.layer_list() {
            if layer.run_int(data, label, a, b)? {
                core::mem::swap(&mut a, &mut b);
            }
        }
        let f_last = self.layer_list().last().map_or(f0, |l| u32::from(l.f_out));
        // 2^-F, exact for F <= 24; each product is exact too.
        let unit = f32::from_bits((127 - f_last.min(24)) << 23);
        let n = out.len();
        for (o, &q) in out.iter_mut().zip(a.get(..n)?) {
            *o = f32::from(q) * unit;
        }
        Some(())
    }
}
