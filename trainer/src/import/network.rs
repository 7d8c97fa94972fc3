//! A layer list resolved against a state dict: every tensor fetched and its shape checked against
//! the activation that reaches it, the latent size and image shape read from the weights, and each
//! batch norm tied to the layer that will absorb it.

use candle_core::Tensor;
use runtime::format::LayerSpec;
use runtime::Shape;

use super::layer_list::{ConvArgs, Step};
use super::state_dict::StateDict;
use crate::error::{Error, Result};

/// What flows between two layers: a flat vector or a `[C, H, W]` image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Flat(usize),
    Image { c: usize, h: usize, w: usize },
}

impl Activation {
    fn len(self) -> usize {
        match self {
            Activation::Flat(n) => n,
            Activation::Image { c, h, w } => c * h * w,
        }
    }

    /// The axis batch norm normalises: the features of a flat vector, an image's channels.
    fn channels(self) -> usize {
        match self {
            Activation::Flat(n) => n,
            Activation::Image { c, .. } => c,
        }
    }
}

/// A batch norm in evaluation mode, to be folded into layer `into` of the network (whose output
/// unit `o` belongs to channel `o / per_channel`).
#[derive(Debug, Clone)]
pub struct Norm {
    pub key: String,
    pub gamma: Tensor,
    pub beta: Tensor,
    pub mean: Tensor,
    pub var: Tensor,
    pub eps: f64,
    pub into: usize,
    pub per_channel: usize,
}

/// One layer of the unfolded network; tensors are f32 in PyTorch's layouts, which are the
/// format's.
#[derive(Debug, Clone)]
pub enum Layer {
    /// Dense, convolution or class embedding (no bias).
    Weighted {
        spec: LayerSpec,
        weight: Tensor,
        bias: Option<Tensor>,
    },
    BatchNorm(Norm),
    /// A layer without tensors.
    Plain(LayerSpec),
}

/// The generator a state dict holds, before batch norm is folded.
#[derive(Debug, Clone)]
pub struct Network {
    pub latent_dim: usize,
    pub num_classes: usize,
    pub output: Shape,
    pub layers: Vec<Layer>,
}

/// Where the walk through the steps stands.
struct Walk<'a> {
    sd: &'a mut StateDict,
    layers: Vec<Layer>,
    /// `None` before the first dense layer.
    act: Option<Activation>,
    latent_dim: usize,
    classes: usize,
    /// Width of the class embedding appended to z, until the first dense layer reads it.
    embed_dim: usize,
    /// The layer a batch norm here would fold into, and units per channel.
    target: Option<(usize, usize)>,
    /// The previous step, for errors.
    previous: String,
}

/// Resolves `steps` against `sd`; `image_shape` is the user's word on a flat output's shape.
pub fn resolve(sd: &mut StateDict, steps: &[Step], image_shape: Option<Shape>) -> Result<Network> {
    let mut walk = Walk {
        sd,
        layers: Vec::new(),
        act: None,
        latent_dim: 0,
        classes: 0,
        embed_dim: 0,
        target: None,
        previous: "the latent input".into(),
    };
    for step in steps {
        walk.step(step)?;
        walk.previous = step.describe();
    }
    walk.sd.finish()?;
    let last = walk.act.ok_or_else(|| Error::LayerChain {
        step: walk.previous.clone(),
        reason: "the list has no dense layer, so nothing reads the latent vector".into(),
    })?;
    Ok(Network {
        latent_dim: walk.latent_dim,
        num_classes: walk.classes,
        output: output_shape(last, image_shape)?,
        layers: walk.layers,
    })
}

impl Walk<'_> {
    fn step(&mut self, step: &Step) -> Result<()> {
        let chain = |reason: String| Error::LayerChain {
            step: step.describe(),
            reason,
        };
        let act = match (self.act, step) {
            (None, Step::Embed { key }) if self.layers.is_empty() => return self.embed(key),
            (None, Step::Dense { key, bias }) => return self.dense(key, *bias, None),
            (None, _) => {
                return Err(chain(
                    "the first layer must be dense (after an optional embed)".into(),
                ))
            }
            (Some(a), _) => a,
        };
        match step {
            Step::Embed { .. } => Err(chain("an embedding can only be the first step".into())),
            Step::Dense { key, bias } => self.dense(key, *bias, Some(act.len())),
            Step::Conv2d { key, conv } => self.conv(key, *conv, None, image(act, &chain)?),
            Step::ConvTranspose2d {
                key,
                conv,
                output_padding,
            } => self.conv(key, *conv, Some(*output_padding), image(act, &chain)?),
            Step::BatchNorm { key, eps } => self.batch_norm(key, *eps, act),
            Step::Reshape { c, h, w } => {
                if c.checked_mul(*h).and_then(|v| v.checked_mul(*w)) != Some(act.len()) {
                    return Err(chain(format!(
                        "{} values cannot be viewed as {c} x {h} x {w}",
                        act.len()
                    )));
                }
                self.reshape(*c, *h, *w)
            }
            Step::Upsample { scale } => self.upsample(*scale, image(act, &chain)?),
            Step::Relu => self.plain(LayerSpec::Relu),
            Step::LeakyRelu { slope } => self.plain(LayerSpec::LeakyRelu { slope: *slope }),
            Step::Tanh => self.plain(LayerSpec::Tanh),
            Step::Sigmoid => self.plain(LayerSpec::Sigmoid),
        }
    }

    fn embed(&mut self, key: &str) -> Result<()> {
        let weight = self
            .sd
            .take(&weight_key(key), "the class embedding", &[None, None])?;
        let (classes, dim) = weight.dims2()?;
        self.classes = classes;
        self.embed_dim = dim;
        let spec = LayerSpec::EmbedConcat { classes, dim };
        self.push_weighted(spec, weight, None, false);
        Ok(())
    }

    /// A dense layer; `inputs` is `None` for the first, which tells the latent size.
    fn dense(&mut self, key: &str, bias: bool, inputs: Option<usize>) -> Result<()> {
        let role = format!("the weight of dense {key}");
        let wkey = weight_key(key);
        let weight = self.sd.take(&wkey, &role, &[None, inputs])?;
        let (out, inp) = weight.dims2()?;
        if inputs.is_none() {
            if inp <= self.embed_dim {
                return Err(Error::TensorShape {
                    key: wkey,
                    expected: format!("[_, latent + {}] (z, then the embedding)", self.embed_dim),
                    found: vec![out, inp],
                });
            }
            self.latent_dim = inp - self.embed_dim;
        }
        let bias = self.bias(key, bias, out)?;
        let spec = LayerSpec::Dense {
            in_features: inp,
            out_features: out,
        };
        self.push_weighted(spec, weight, Some(bias), true);
        self.act = Some(Activation::Flat(out));
        Ok(())
    }

    /// A convolution, or with `output_padding` a transposed one, on a `[c, h, w]` input.
    fn conv(
        &mut self,
        key: &str,
        args: ConvArgs,
        output_padding: Option<usize>,
        (c, h, w): (usize, usize, usize),
    ) -> Result<()> {
        let role = format!("the weight of {key}");
        let wkey = weight_key(key);
        let expected = match output_padding {
            None => [None, Some(c), None, None],
            Some(_) => [Some(c), None, None, None],
        };
        let weight = self.sd.take(&wkey, &role, &expected)?;
        let (a, b, k, k2) = weight.dims4()?;
        if k != k2 {
            return Err(Error::TensorShape {
                key: wkey,
                expected: "a square kernel".into(),
                found: vec![a, b, k, k2],
            });
        }
        let ConvArgs {
            stride, padding, ..
        } = args;
        let out = if output_padding.is_some() { b } else { a };
        let bias = self.bias(key, args.bias, out)?;
        let spec = match output_padding {
            None => LayerSpec::Conv2d {
                in_channels: c,
                out_channels: out,
                kernel: k,
                stride,
                padding,
            },
            Some(op) => LayerSpec::ConvTranspose2d {
                in_channels: c,
                out_channels: out,
                kernel: k,
                stride,
                padding,
                output_padding: op,
            },
        };
        let (oh, ow) = (conv_size(&spec, h), conv_size(&spec, w));
        let (Some(oh @ 1..), Some(ow @ 1..)) = (oh, ow) else {
            return Err(Error::LayerChain {
                step: key.into(),
                reason: format!("a {h} x {w} input gives an empty output"),
            });
        };
        self.push_weighted(spec, weight, Some(bias), true);
        self.act = Some(Activation::Image {
            c: out,
            h: oh,
            w: ow,
        });
        Ok(())
    }

    fn batch_norm(&mut self, key: &str, eps: f64, act: Activation) -> Result<()> {
        let Some((into, per_channel)) = self.target else {
            return Err(Error::UnfoldableBatchNorm {
                key: key.into(),
                after: format!("`{}`", self.previous),
            });
        };
        let n = Some(act.channels());
        let mut take = |part: &str| {
            let role = format!("the {part} of batch norm {key}");
            self.sd.take(&format!("{key}.{part}"), &role, &[n])
        };
        let (gamma, beta) = (take("weight")?, take("bias")?);
        let (mean, var) = (take("running_mean")?, take("running_var")?);
        if let Some(channel) = var
            .to_vec1::<f32>()?
            .iter()
            .position(|v| f64::from(*v) + eps <= 0.0)
        {
            return Err(Error::BadVariance {
                key: format!("{key}.running_var"),
                channel,
            });
        }
        self.layers.push(Layer::BatchNorm(Norm {
            key: key.into(),
            gamma,
            beta,
            mean,
            var,
            eps,
            into,
            per_channel,
        }));
        Ok(())
    }

    fn reshape(&mut self, c: usize, h: usize, w: usize) -> Result<()> {
        // A dense layer's units map onto the channels of any view of them; a convolution's
        // channels only onto the same image.
        self.target = match (self.target, self.act) {
            (Some((i, _)), _) if matches!(self.layer_spec(i), Some(LayerSpec::Dense { .. })) => {
                Some((i, h * w))
            }
            (
                t,
                Some(Activation::Image {
                    c: c0,
                    h: h0,
                    w: w0,
                }),
            ) if (c0, h0, w0) == (c, h, w) => t,
            _ => None,
        };
        self.act = Some(Activation::Image { c, h, w });
        self.layers
            .push(Layer::Plain(LayerSpec::Reshape { c, h, w }));
        Ok(())
    }

    /// Nearest-neighbour upsampling keeps each value's channel, so a batch norm after it still
    /// folds into the layer before.
    fn upsample(&mut self, scale: usize, (c, h, w): (usize, usize, usize)) -> Result<()> {
        self.act = Some(Activation::Image {
            c,
            h: h.saturating_mul(scale),
            w: w.saturating_mul(scale),
        });
        self.layers
            .push(Layer::Plain(LayerSpec::UpsampleNearest { scale }));
        Ok(())
    }

    fn plain(&mut self, spec: LayerSpec) -> Result<()> {
        self.target = None;
        self.layers.push(Layer::Plain(spec));
        Ok(())
    }

    /// `KEY.bias` with `n` values, or zeros for a module built with `bias=False`.
    fn bias(&mut self, key: &str, present: bool, n: usize) -> Result<Tensor> {
        if !present {
            return Ok(Tensor::zeros(
                n,
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )?);
        }
        let role = format!("the bias of {key}");
        self.sd.take(&format!("{key}.bias"), &role, &[Some(n)])
    }

    fn push_weighted(&mut self, spec: LayerSpec, weight: Tensor, bias: Option<Tensor>, fold: bool) {
        self.target = fold.then_some((self.layers.len(), 1));
        self.layers.push(Layer::Weighted { spec, weight, bias });
    }

    fn layer_spec(&self, i: usize) -> Option<LayerSpec> {
        match &self.layers[i] {
            Layer::Weighted { spec, .. } => Some(*spec),
            _ => None,
        }
    }
}

fn weight_key(key: &str) -> String {
    format!("{key}.weight")
}

/// The activation as an image, or the step's error.
fn image(act: Activation, chain: &impl Fn(String) -> Error) -> Result<(usize, usize, usize)> {
    match act {
        Activation::Image { c, h, w } => Ok((c, h, w)),
        Activation::Flat(n) => Err(chain(format!(
            "needs a [C, H, W] image, the previous layer gives {n} flat values (add a reshape)"
        ))),
    }
}

/// A convolution's output size along an axis of `n`, `None` when the kernel does not fit.
fn conv_size(spec: &LayerSpec, n: usize) -> Option<usize> {
    match *spec {
        LayerSpec::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => (n.saturating_add(padding.saturating_mul(2)))
            .checked_sub(kernel)
            .map(|v| v / stride.max(1) + 1),
        LayerSpec::ConvTranspose2d {
            kernel,
            stride,
            padding,
            output_padding,
            ..
        } => ((n - 1).saturating_mul(stride) + kernel + output_padding)
            .checked_sub(padding.saturating_mul(2)),
        _ => None,
    }
}

/// The image shape of the last activation: an image's own, or for a flat output `image_shape`,
/// else 1 x s x s or 3 x s x s when the count allows exactly one of them.
fn output_shape(last: Activation, image_shape: Option<Shape>) -> Result<Shape> {
    let n = last.len();
    let shape = match (last, image_shape) {
        (Activation::Image { c, h, w }, given) => {
            let s = Shape { c, h, w };
            if given.is_some_and(|g| g != s) {
                return Err(Error::ImageShape {
                    outputs: n,
                    reason: format!("the network makes {c} x {h} x {w} images, not --image-shape"),
                });
            }
            s
        }
        (Activation::Flat(_), Some(g)) if g.c * g.h * g.w == n => g,
        (Activation::Flat(_), Some(g)) => {
            return Err(Error::ImageShape {
                outputs: n,
                reason: format!(
                    "--image-shape {},{},{} has {} values",
                    g.c,
                    g.h,
                    g.w,
                    g.c * g.h * g.w
                ),
            })
        }
        (Activation::Flat(_), None) => square_image(n).ok_or_else(|| Error::ImageShape {
            outputs: n,
            reason: "not 1 x s x s nor 3 x s x s; pass --image-shape C,H,W".into(),
        })?,
    };
    Ok(shape)
}

/// `n` values as one grey or RGB square image.
fn square_image(n: usize) -> Option<Shape> {
    [1, 3].into_iter().find_map(|c| {
        let side = ((n / c) as f64).sqrt().round() as usize;
        (n.is_multiple_of(c) && side * side == n / c && side > 1).then_some(Shape {
            c,
            h: side,
            w: side,
        })
    })
}
