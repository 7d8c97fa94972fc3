//! Layers with PyTorch's initialisation and batch-norm semantics, plus their folded export form.

use candle_core::{Tensor, Var, D};
use rand_chacha::ChaCha8Rng;

use super::params::ParamStore;
use super::ExportedLayer;
use crate::error::Result;
use crate::ops;
pub use crate::ops::act::Act;
use runtime::format::LayerSpec;

/// PyTorch's default bound for weights and biases: 1 / sqrt(fan_in).
fn bound(fan_in: usize) -> f32 {
    1.0 / (fan_in as f32).sqrt()
}

/// The variables `{name}.weight` of shape `weight` and `{name}.bias` of `bias` values, drawn in
/// that order within PyTorch's default bound for `fan_in`.
fn weight_and_bias(
    store: &mut ParamStore,
    name: &str,
    weight: &[usize],
    bias: usize,
    fan_in: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Var, Var)> {
    let b = bound(fan_in);
    let w = store.uniform(&format!("{name}.weight"), weight, b, rng)?;
    Ok((w, store.uniform(&format!("{name}.bias"), &[bias], b, rng)?))
}

/// `y = x W^T + b`, weight `[out, in]`.
///
/// The parameters are the tensors of the store's variables (same storage, so optimiser updates
/// show here), or detached views of them in a [`Linear::frozen`] copy.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        fan_in: usize,
        out: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let (weight, bias) = weight_and_bias(store, name, &[out, fan_in], out, fan_in, rng)?;
        Ok(Linear {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        })
    }

    /// The same layer reading its parameters as constants: gradients still reach its input,
    /// but none is computed for the weight or bias (see `DiscriminatorNet::frozen`).
    pub fn frozen(&self) -> Self {
        Linear {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
        }
    }

    /// One fused op on the CPU (`crate::ops::linear`), candle's matmul and add elsewhere.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Act::Identity)
    }

    /// `act(forward(x))`, the activation fused into the same op on the CPU.
    pub fn forward_act(&self, x: &Tensor, act: Act) -> Result<Tensor> {
        if ops::norm::applies(x) {
            ops::linear::dense(x, &self.weight, &self.bias, act)
        } else {
            act.unfused(&x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
        }
    }

    /// The dense layer for the model file, with an optional batch norm folded in.
    pub fn export(&self, bn: Option<(&BatchNorm, usize)>) -> Result<ExportedLayer> {
        let (out, inp) = self.weight.dims2()?;
        let w = self.weight.flatten_all()?.to_vec1::<f32>()?;
        let b = self.bias.to_vec1::<f32>()?;
        let (w, b) = match bn {
            Some((bn, per_channel)) => bn.fold(w, b, out, 1, per_channel)?,
            None => (w, b),
        };
        Ok(ExportedLayer {
            spec: LayerSpec::Dense {
                in_features: inp,
                out_features: out,
            },
            weight: Some(w),
            bias: Some(b),
        })
    }
}

/// Batch normalisation over the channel axis (1) of `[B, C]` or `[B, C, H, W]` activations, with
/// PyTorch's momentum 0.1 and unbiased running variance.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    pub running_mean: Var,
    pub running_var: Var,
    pub eps: f64,
    pub momentum: f64,
}

impl BatchNorm {
    pub fn new(store: &mut ParamStore, name: &str, channels: usize, eps: f64) -> Result<Self> {
        Ok(BatchNorm {
            gamma: store.constant(&format!("{name}.weight"), &[channels], 1.0, true)?,
            beta: store.constant(&format!("{name}.bias"), &[channels], 0.0, true)?,
            running_mean: store.constant(
                &format!("{name}.running_mean"),
                &[channels],
                0.0,
                false,
            )?,
            running_var: store.constant(&format!("{name}.running_var"), &[channels], 1.0, false)?,
            eps,
            momentum: 0.1,
        })
    }

    /// Training mode normalises with the batch statistics and updates the running ones; evaluation
    /// mode uses the running statistics, as the exported file and the board do.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_act_t(x, train, Act::Identity)
    }

    /// `act(forward_t(x))`, the activation fused into the batch norm's op in training on the CPU.
    pub fn forward_act_t(&self, x: &Tensor, train: bool, act: Act) -> Result<Tensor> {
        if train && ops::norm::applies(x) {
            // One op forward and one backward on the CPU (`crate::ops::norm`).
            let (y, stats) =
                ops::norm::batch_norm_train(x, &self.gamma, &self.beta, self.eps, act)?;
            self.track(
                &stats.get(0)?,
                &stats.get(1)?,
                x.elem_count() / self.gamma.dim(0)?,
            )?;
            return Ok(y);
        }
        let c = self.gamma.dim(0)?;
        let rank = x.rank();
        let mut bshape = vec![1usize; rank];
        bshape[1] = c;
        let (mean, var) = if train {
            let n = x.elem_count() / c;
            let (mean, var) = if rank == 2 {
                let mean = x.mean_keepdim(0)?;
                let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
                (mean, var)
            } else {
                // Move channels last so one reduction covers batch and space.
                let flat = x.transpose(1, D::Minus1)?.flatten_to(D::Minus2)?;
                let flat = flat.reshape(((), c))?;
                let mean = flat.mean_keepdim(0)?;
                let var = flat.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
                (
                    mean.reshape(bshape.as_slice())?,
                    var.reshape(bshape.as_slice())?,
                )
            };
            self.track(&mean.flatten_all()?, &var.flatten_all()?, n)?;
            (mean, var)
        } else {
            (
                self.running_mean.reshape(bshape.as_slice())?,
                self.running_var.reshape(bshape.as_slice())?,
            )
        };
        let xhat = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + self.eps)?.sqrt()?)?;
        act.unfused(
            &xhat
                .broadcast_mul(&self.gamma.reshape(bshape.as_slice())?)?
                .broadcast_add(&self.beta.reshape(bshape.as_slice())?)?,
        )
    }

    /// Moves the running statistics `momentum` of the way to a batch's mean and (biased,
    /// over `n` values per channel) variance, as PyTorch does with the unbiased variance.
    fn track(&self, mean: &Tensor, var: &Tensor, n: usize) -> Result<()> {
        let m = self.momentum;
        let unbiased = n as f64 / (n.max(2) - 1) as f64;
        let new_mean = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean.detach() * m)?)?;
        let new_var =
            ((self.running_var.as_tensor() * (1.0 - m))? + (var.detach() * (m * unbiased))?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)?;
        Ok(())
    }

    /// Folds this normalisation (running statistics) into a preceding layer's f32 weights:
    /// `w' = w * s`, `b' = (b - mean) * s + beta`, `s = gamma / sqrt(var + eps)`. `outer` is
    /// the number of leading blocks of the weight (1 for dense/conv, in-channels for a transposed
    /// convolution), and each bias entry belongs to channel `index / per_channel`.
    pub fn fold(
        &self,
        mut w: Vec<f32>,
        mut b: Vec<f32>,
        out_units: usize,
        outer: usize,
        per_channel: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let gamma = self.gamma.to_vec1::<f32>()?;
        let beta = self.beta.to_vec1::<f32>()?;
        let mean = self.running_mean.to_vec1::<f32>()?;
        let var = self.running_var.to_vec1::<f32>()?;
        let scale: Vec<f32> = (0..out_units)
            .map(|o| {
                let c = o / per_channel;
                gamma[c] / (var[c] + self.eps as f32).sqrt()
            })
            .collect();
        let inner = w.len() / (outer * out_units);
        for block in w.chunks_mut(out_units * inner) {
            for (o, row) in block.chunks_mut(inner).enumerate() {
                row.iter_mut().for_each(|v| *v *= scale[o]);
            }
        }
        for (o, v) in b.iter_mut().enumerate() {
            let c = o / per_channel;
            *v = (*v - mean[c]) * scale[o] + beta[c];
        }
        Ok((w, b))
    }
}

/// A square convolution's sizes, as PyTorch's `Conv2d` and `ConvTranspose2d` take them:
/// channels in and out, kernel size, stride, padding.
#[derive(Debug, Clone, Copy)]
pub struct ConvSize {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
}

/// A square 2-D convolution, weight `[out, in, k, k]`; parameters as in [`Linear`].
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        size: ConvSize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let ConvSize { cin, cout, k, .. } = size;
        let shape = [cout, cin, k, k];
        let (weight, bias) = weight_and_bias(store, name, &shape, cout, cin * k * k, rng)?;
        Ok(Conv2d {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
            stride: size.stride,
            padding: size.padding,
        })
    }

    /// The same layer with constant parameters, as [`Linear::frozen`].
    pub fn frozen(&self) -> Self {
        Conv2d {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            ..*self
        }
    }

    /// On the CPU one fused op with the bias (`crate::ops::conv`), whose backward is far
    /// cheaper than candle's; elsewhere candle's `conv2d`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Act::Identity)
    }

    /// `act(forward(x))`, the activation fused into the same op on the CPU.
    pub fn forward_act(&self, x: &Tensor, act: Act) -> Result<Tensor> {
        ops::conv::conv2d(x, &self.weight, &self.bias, self.stride, self.padding, act)
    }
}

/// A square transposed convolution, weight `[in, out, k, k]` (PyTorch's layout).
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    pub weight: Var,
    pub bias: Var,
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
}

impl ConvTranspose2d {
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        size: ConvSize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let ConvSize { cin, cout, k, .. } = size;
        // PyTorch takes fan_in from the weight's second axis, the output channels.
        let shape = [cin, cout, k, k];
        let (weight, bias) = weight_and_bias(store, name, &shape, cout, cout * k * k, rng)?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            stride: size.stride,
            padding: size.padding,
            output_padding: 0,
        })
    }

    /// On the CPU (without output padding) one fused op with the bias (`crate::ops::conv`);
    /// otherwise candle's `conv_transpose2d` and a broadcast addition.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Act::Identity)
    }

    /// `act(forward(x))`, the activation fused into the same op on the CPU.
    pub fn forward_act(&self, x: &Tensor, act: Act) -> Result<Tensor> {
        if self.output_padding == 0 {
            return ops::conv::conv_transpose2d(
                x,
                &self.weight,
                &self.bias,
                self.stride,
                self.padding,
                act,
            );
        }
        let c = self.bias.dim(0)?;
        let y = x.conv_transpose2d(
            &self.weight,
            self.padding,
            self.output_padding,
            self.stride,
            1,
        )?;
        act.unfused(&y.broadcast_add(&self.bias.reshape((1, c, 1, 1))?)?)
    }

    pub fn export(&self, bn: Option<&BatchNorm>) -> Result<ExportedLayer> {
        let (cin, cout, k, _) = self.weight.dims4()?;
        let w = self.weight.flatten_all()?.to_vec1::<f32>()?;
        let b = self.bias.to_vec1::<f32>()?;
        let (w, b) = match bn {
            Some(bn) => bn.fold(w, b, cout, cin, 1)?,
            None => (w, b),
        };
        Ok(ExportedLayer {
            spec: LayerSpec::ConvTranspose2d {
                in_channels: cin,
                out_channels: cout,
                kernel: k,
                stride: self.stride,
                padding: self.padding,
                output_padding: self.output_padding,
            },
            weight: Some(w),
            bias: Some(b),
        })
    }
}

/// A class embedding table `[classes, dim]`; the table as in [`Linear`].
#[derive(Debug, Clone)]
pub struct Embedding {
    pub weight: Tensor,
}

impl Embedding {
    /// The `label_emb` class embedding every architecture uses when the model is conditional;
    /// `None` for an unconditional one (no parameters, no draws from `rng`).
    pub fn label(
        spec: &super::ModelSpec,
        store: &mut ParamStore,
        rng: &mut ChaCha8Rng,
    ) -> Result<Option<Self>> {
        if !spec.conditional() {
            return Ok(None);
        }
        Embedding::new(store, "label_emb", spec.num_classes, spec.embed_dim, rng).map(Some)
    }

    pub fn new(
        store: &mut ParamStore,
        name: &str,
        classes: usize,
        dim: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        Ok(Embedding {
            weight: store
                .normal(&format!("{name}.weight"), &[classes, dim], rng)?
                .as_tensor()
                .clone(),
        })
    }

    /// The same table as a constant, as [`Linear::frozen`].
    pub fn frozen(&self) -> Self {
        Embedding {
            weight: self.weight.detach(),
        }
    }

    /// Rows for `labels` (u32, `[B]`).
    pub fn forward(&self, labels: &Tensor) -> Result<Tensor> {
        Ok(self.weight.index_select(labels, 0)?)
    }

    pub fn export(&self) -> Result<ExportedLayer> {
        let (classes, dim) = self.weight.dims2()?;
        Ok(ExportedLayer {
            spec: LayerSpec::EmbedConcat { classes, dim },
            weight: Some(self.weight.flatten_all()?.to_vec1::<f32>()?),
            bias: None,
        })
    }
}

/// LeakyReLU: one fused pass on the CPU (`crate::ops::act`), `max(x, slope x)` elsewhere
/// (candle's own version takes three ops and a temporary of zeros).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    ops::act::leaky_relu(x, slope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// In training mode every channel comes out with mean 0 and variance 1 (gamma 1, beta 0),
    /// and the running statistics move 10% of the way to the batch's (unbiased) ones.
    #[test]
    fn batch_norm_normalises_each_channel_and_tracks_statistics() {
        let dev = Device::Cpu;
        let mut store = ParamStore::new(&dev);
        let bn = BatchNorm::new(&mut store, "bn", 3, 1e-5).unwrap();
        // Channel c has mean 2c and standard deviation c + 1.
        let base = Tensor::randn(0f32, 1.0, (8, 3, 4, 5), &dev).unwrap();
        let scale = Tensor::new(&[1f32, 2.0, 3.0], &dev)
            .unwrap()
            .reshape((1, 3, 1, 1))
            .unwrap();
        let shift = Tensor::new(&[0f32, 2.0, 4.0], &dev)
            .unwrap()
            .reshape((1, 3, 1, 1))
            .unwrap();
        let x = base
            .broadcast_mul(&scale)
            .unwrap()
            .broadcast_add(&shift)
            .unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        let per_channel = y
            .transpose(0, 1)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let xs = x
            .transpose(0, 1)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let rm = bn.running_mean.to_vec1::<f32>().unwrap();
        let rv = bn.running_var.to_vec1::<f32>().unwrap();
        for c in 0..3 {
            let n = per_channel[c].len() as f32;
            let mean = per_channel[c].iter().sum::<f32>() / n;
            let var = per_channel[c]
                .iter()
                .map(|v| (v - mean).powi(2))
                .sum::<f32>()
                / n;
            assert!(
                mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
                "channel {c}: {mean} {var}"
            );
            let xm = xs[c].iter().sum::<f32>() / n;
            let xv = xs[c].iter().map(|v| (v - xm).powi(2)).sum::<f32>() / (n - 1.0);
            assert!((rm[c] - 0.1 * xm).abs() < 1e-4, "running mean {c}");
            assert!((rv[c] - (0.9 + 0.1 * xv)).abs() < 1e-3, "running var {c}");
        }
        // Evaluation mode uses the running statistics.
        let e = bn
            .forward_t(&x, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let x0 = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want = (x0[0] - rm[0]) / (rv[0] + 1e-5).sqrt();
        assert!((e[0] - want).abs() < 1e-4);
    }
}
