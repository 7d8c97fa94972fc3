//! The layers of a loaded generator, one file per kind: how a kind chains
//! shapes (checking that it accepts its input, and counting its
//! multiply-accumulates), which weights it prepares, and how it runs (the
//! calls into [`kernels`](crate::kernels)). This file holds the [`Layer`]
//! type and the matches that forward to each kind's file; the spec of each
//! kind (its descriptor and tensors) is in [`format`](crate::format).

mod activation;
mod condition;
mod conv;
mod conv_transpose;
mod dense;
mod requantised;
mod reshape;
mod upsample;

use crate::error::{Error, Name};
use crate::format::{DType, LayerSpec, Shape, TensorRole, MAX_ACTIVATION};
use crate::kernels::{IntParams, Weights};

pub(crate) use condition::check_conditioning;
pub(crate) use requantised::check as check_requantised;

/// The shape of an activation between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    Flat(usize),
    Image(Shape),
}

impl Act {
    // Out of line: called once per layer, and a thumbv6m build is 0.1 KB
    // smaller so.
    #[inline(never)]
    pub(crate) fn len(self) -> usize {
        match self {
            Act::Flat(n) => n,
            Act::Image(s) => s.len(),
        }
    }

    pub(crate) fn name(self) -> Name {
        match self {
            Act::Flat(n) => Name::list(&[n]),
            Act::Image(s) => s.to_name(),
        }
    }

    /// The image shape, all zero for a flat vector (which the loader never
    /// lets reach a layer that needs an image).
    fn image(self) -> Shape {
        match self {
            Act::Image(s) => s,
            Act::Flat(_) => Shape { c: 0, h: 0, w: 0 },
        }
    }
}

/// Where a tensor's elements are in the data section.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorRef {
    pub(crate) begin: usize,
    pub(crate) end: usize,
    pub(crate) dtype: DType,
}

/// One validated layer: its spec, the shapes it maps between and its
/// tensors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer {
    pub(crate) spec: LayerSpec,
    pub(crate) input: Act,
    pub(crate) output: Act,
    pub(crate) weight: Option<TensorRef>,
    pub(crate) bias: Option<TensorRef>,
    /// Version 2: the weight scales of `dense` and the convolutions, or
    /// the table of `tanh` and `sigmoid` (no kind has both, so one slot
    /// keeps a loaded generator's RAM down).
    pub(crate) scale_or_table: Option<TensorRef>,
    /// Version 2: the fraction bits of the input and the output.
    pub(crate) f_in: u8,
    pub(crate) f_out: u8,
    /// Version 2: `leaky_relu`'s slope in units of `2^-15`.
    pub(crate) int_slope: i32,
}

/// The input a layer is chained onto, which its shape errors name.
struct Input {
    layer: usize,
    act: Act,
}

// `Input::mismatch` and `Layer::chain` stay out of line: inlined into each
// kind's checks and the loader they cost a thumbv6m build about 1 KB of
// flash, for no speed that matters (they run once per layer at load).
impl Input {
    #[inline(never)]
    fn mismatch(&self, expected: Name) -> Error {
        Error::LayerInput {
            layer: self.layer,
            expected,
            found: self.act.name(),
        }
    }

    /// The input image, which must have `c` channels.
    fn image(&self, c: usize) -> Result<Shape, Error> {
        match self.act {
            Act::Image(s) if s.c == c => Ok(s),
            _ => Err(self.mismatch(Name::new("an image with ").and_uint(c).and(" channels"))),
        }
    }

    /// `len`, if it is a length the format allows for an activation.
    fn bounded(&self, len: Option<usize>) -> Result<usize, Error> {
        len.filter(|&n| n <= MAX_ACTIVATION)
            .ok_or(Error::ActivationTooLarge {
                layer: self.layer,
                max: MAX_ACTIVATION,
            })
    }
}

impl Layer {
    /// A layer with nothing in it, to fill the unused slots of a fixed array.
    pub(crate) const EMPTY: Layer = Layer {
        spec: LayerSpec::Relu,
        input: Act::Flat(0),
        output: Act::Flat(0),
        weight: None,
        bias: None,
        scale_or_table: None,
        f_in: 0,
        f_out: 0,
        int_slope: 0,
    };

    /// Layer `i` of kind `spec` on `input`, with its output shape and its
    /// MACs; checks that the layer accepts the input and that the output
    /// fits the format's limits. The tensors are bound later.
    #[inline(never)]
    pub(crate) fn chain(i: usize, spec: LayerSpec, input: Act) -> Result<(Layer, u64), Error> {
        use LayerSpec::*;
        let at = Input {
            layer: i,
            act: input,
        };
        // One `?` after the match rather than one per kind: each would copy
        // the error on its own.
        let chained = match spec {
            Dense {
                in_features,
                out_features,
            } => dense::chain(&at, in_features, out_features),
            Conv2d { .. } => conv::chain(&at, &spec),
            ConvTranspose2d { .. } => conv_transpose::chain(&at, &spec),
            UpsampleNearest { scale } => upsample::chain(&at, scale),
            Reshape { c, h, w } => reshape::chain(&at, Shape { c, h, w }),
            Relu | LeakyRelu { .. } | Tanh | Sigmoid => Ok((input, 0)),
            EmbedConcat { dim: extra, .. } | OneHotConcat { classes: extra } => {
                condition::chain(&at, extra)
            }
        };
        let (output, macs) = chained?;
        let layer = Layer {
            spec,
            input,
            output,
            ..Layer::EMPTY
        };
        Ok((layer, macs))
    }

    /// Version 2: sets the layer's fraction bits (`f_in`, `f_out`) and
    /// checks them, and the slope, against the kind's rules.
    pub(crate) fn set_fracs(&mut self, i: usize, f_in: u8, f_out: u8) -> Result<(), Error> {
        (self.f_in, self.f_out) = (f_in, f_out);
        let (f_in, f_out) = (u32::from(f_in), u32::from(f_out));
        let expected = match self.spec {
            LayerSpec::Dense { .. }
            | LayerSpec::Conv2d { .. }
            | LayerSpec::ConvTranspose2d { .. } => f_out,
            LayerSpec::Tanh | LayerSpec::Sigmoid => activation::TABLE_FRAC,
            _ => f_in,
        };
        if f_out != expected {
            return Err(Error::ActivationFrac {
                layer: i,
                expected,
                found: f_out,
            });
        }
        match self.spec {
            LayerSpec::OneHotConcat { .. } => condition::check_one_hot_frac(i, f_in),
            LayerSpec::LeakyRelu { slope } => {
                self.int_slope = activation::int_slope(i, slope)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The layer's tensor in `role`.
    pub(crate) fn tensor(&self, role: TensorRole) -> Option<TensorRef> {
        match role {
            TensorRole::Weight => self.weight,
            TensorRole::Bias => self.bias,
            TensorRole::Scale | TensorRole::Table => self.scale_or_table,
        }
    }

    /// Binds the layer's tensor in `role` (`Scale` and `Table` share a
    /// slot: the loader binds only the roles a layer's kind has).
    pub(crate) fn set_tensor(&mut self, role: TensorRole, r: TensorRef) {
        let slot = match role {
            TensorRole::Weight => &mut self.weight,
            TensorRole::Bias => &mut self.bias,
            TensorRole::Scale | TensorRole::Table => &mut self.scale_or_table,
        };
        *slot = Some(r);
    }

    /// Version 2: what the integer dense and convolution kernels read.
    fn int_params<'a>(&self, data: &'a [u8]) -> IntParams<'a> {
        IntParams {
            weight: weights(self.weight, data),
            bias: weights(self.bias, data),
            scale: weights(self.scale_or_table, data),
            f_in: u32::from(self.f_in),
            f_out: u32::from(self.f_out),
        }
    }

    /// [`run`](Self::run) for a version-2 file: the same buffers' contract,
    /// on int16 activations.
    pub(crate) fn run_int(
        &self,
        data: &[u8],
        label: usize,
        a: &mut [i16],
        b: &mut [i16],
    ) -> Option<bool> {
        let n_in = self.input.len();
        let n_out = self.output.len();
        match self.spec {
            LayerSpec::Dense { .. }
            | LayerSpec::Conv2d { .. }
            | LayerSpec::ConvTranspose2d { .. }
            | LayerSpec::UpsampleNearest { .. } => {
                let (x, y) = (a.get(..n_in)?, b.get_mut(..n_out)?);
                match self.spec {
                    LayerSpec::Dense { .. } => dense::run_int(&self.int_params(data), x, y),
                    LayerSpec::UpsampleNearest { scale } => {
                        upsample::run(self.input.image(), scale, x, y);
                    }
                    spec => {
                        let transpose = matches!(spec, LayerSpec::ConvTranspose2d { .. });
                        conv::run_int(self, &self.int_params(data), x, y, transpose);
                    }
                }
                return Some(true);
            }
            LayerSpec::EmbedConcat { dim, .. } => {
                condition::embed_int(self.weight(data), label, a.get_mut(n_in..n_in + dim)?);
            }
            LayerSpec::OneHotConcat { classes } => {
                let tail = a.get_mut(n_in..n_in + classes)?;
                condition::one_hot_int(label, u32::from(self.f_in), tail);
            }
            LayerSpec::Reshape { .. } => {}
            _ => {
                let table = weights(self.scale_or_table, data);
                activation::run_int(self, table, a.get_mut(..n_in)?);
            }
        }
        Some(false)
    }

    /// The layer's weight tensor in `data` (empty if it has none).
    fn weight<'a>(&self, data: &'a [u8]) -> Weights<'a> {
        weights(self.weight, data)
    }

    fn bias<'a>(&self, data: &'a [u8]) -> Weights<'a> {
        weights(self.bias, data)
    }

    /// f32 slots the layer's weights take in a prepared buffer (module
    /// `prepared`): reordered for the fastest kernel, or 0.
    pub(crate) fn prepared_len(&self, data: &[u8]) -> usize {
        match self.spec {
            LayerSpec::Dense { .. } => dense::prepared_len(self, data),
            LayerSpec::Conv2d { .. } => conv::prepared_len(self, false),
            LayerSpec::ConvTranspose2d { .. } => conv::prepared_len(self, true),
            _ => 0,
        }
    }

    /// Writes the layer's prepared weights into `dst`, which holds
    /// [`prepared_len`](Self::prepared_len) elements, more than 0.
    pub(crate) fn prepare(&self, data: &[u8], dst: &mut [f32]) {
        match self.spec {
            LayerSpec::Dense { .. } => dense::prepare(self, data, dst),
            LayerSpec::Conv2d { .. } => conv::prepare(self, data, dst, false),
            LayerSpec::ConvTranspose2d { .. } => conv::prepare(self, data, dst, true),
            _ => {}
        }
    }

    /// Runs the layer on `a[..input.len()]`, with `label` the class of a
    /// conditional generator. A layer that maps between buffers writes
    /// `b[..output.len()]` and returns `Some(true)` (the caller swaps the
    /// two); one that works in place, or appends to its input, writes `a`
    /// and returns `Some(false)`. `pre` holds the layer's prepared weights,
    /// or is empty. `None`: a buffer is too short.
    pub(crate) fn run(
        &self,
        data: &[u8],
        label: usize,
        a: &mut [f32],
        b: &mut [f32],
        pre: &[f32],
    ) -> Option<bool> {
        let n_in = self.input.len();
        let n_out = self.output.len();
        let x = a.get(..n_in)?;
        let (w, bias) = (self.weight(data), self.bias(data));
        match self.spec {
            LayerSpec::Dense { .. }
            | LayerSpec::Conv2d { .. }
            | LayerSpec::ConvTranspose2d { .. }
            | LayerSpec::UpsampleNearest { .. } => {
                // The kinds that map between the buffers: one bounds check
                // on `b` for all of them.
                let y = b.get_mut(..n_out)?;
                match self.spec {
                    LayerSpec::Dense { .. } => dense::run(w, bias, x, y, pre),
                    LayerSpec::UpsampleNearest { scale } => {
                        upsample::run(self.input.image(), scale, x, y);
                    }
                    spec => {
                        let transpose = matches!(spec, LayerSpec::ConvTranspose2d { .. });
                        conv::run(self, w, bias, x, y, pre, transpose);
                    }
                }
            }
            LayerSpec::EmbedConcat { dim, .. } => {
                condition::embed(w, label, a.get_mut(n_in..n_in + dim)?);
                return Some(false);
            }
            LayerSpec::OneHotConcat { classes } => {
                condition::one_hot(label, a.get_mut(n_in..n_in + classes)?);
                return Some(false);
            }
            // Reshape moves no data.
            LayerSpec::Reshape { .. } => return Some(false),
            spec => {
                activation::run(spec, a.get_mut(..n_in)?);
                return Some(false);
            }
        }
        Some(true)
    }
}

/// The elements of `r` in `data` (none for `None`).
pub(crate) fn weights(r: Option<TensorRef>, data: &[u8]) -> Weights<'_> {
    match r {
        Some(r) => Weights::new(data.get(r.begin..r.end).unwrap_or(&[]), r.dtype),
        None => Weights::new(&[], DType::F32),
    }
}
