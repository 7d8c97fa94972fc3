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
    OutputActivation, TensorRole, MAX_LAYERS,
};
use crate::kernels::Weights;
use crate::layers::{check_conditioning, Act, Layer, TensorRef};

pub use crate::format::Shape;

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
        };
        generator.chain_layers()?;
        generator.bind_tensors()?;
        Ok(generator)
    }

    /// Reads the layer descriptors and chains their shapes, counting the
    /// work, up to the output the metadata declares.
    fn chain_layers(&mut self) -> Result<(), Error> {
        let file = self.file;
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
            let capacity = file.data().len() / 2;
            let needed = spec.tensor_len(TensorRole::Weight);
            if needed.is_none_or(|n| n > capacity) {
                return Err(Error::WeightsExceedFile { layer: i, capacity });
            }
            let (layer, macs) = Layer::chain(i, spec, act)?;
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
        for t in file.tensors() {
            let unexpected = || Error::UnexpectedTensor {
                tensor: Name::new(t.name),
            };
            // The layer and role the name gives, and the shape that layer
            // expects; one error for all three steps.
            let bound = parse_tensor_name(t.name).and_then(|(index, role)| {
                let layer = self.layers.get_mut(index).filter(|_| index < count)?;
                let expected = layer.spec.tensor_shape(role)?;
                Some((layer, role, expected))
            });
            let (layer, role, expected) = bound.ok_or_else(unexpected)?;
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
            self.param_count = self.param_count.saturating_add(t.len());
        }
        for (i, layer) in self.layer_list().enumerate() {
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

    /// Whether every stored tensor is F16.
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
        self.generate_with(z, class, scratch, out, &[])
    }

    /// Every layer's prepared length (module `prepared`), in order.
    pub(crate) fn prepared_lens(&self) -> impl Iterator<Item = usize> + '_ {
        let data = self.file.data();
        self.layer_list().map(move |l| l.prepared_len(data))
    }

    /// Writes every layer's prepared weights into `buf`, one after another
    /// (`buf` holds the sum of [`prepared_lens`](Self::prepared_lens)).
    pub(crate) fn prepare_into(&self, buf: &mut [f32]) {
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
        let (mut a, mut b) = scratch.split_at_mut(self.max_act);
        a.get_mut(..z.len()).ok_or(scratch_err)?.copy_from_slice(z);
        let data = self.file.data();
        let mut pre_at = 0;
        for layer in self.layer_list() {
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
        }
        out.copy_from_slice(a.get(..out_len).ok_or(scratch_err)?);
        Ok(())
    }
}
