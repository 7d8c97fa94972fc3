//! The f32 reference: the unfolded network run with candle's own operations, as PyTorch runs the
//! module in evaluation mode (batch norm on its running statistics, with its own eps). The file
//! is held to it, so a wrong fold or a wrong layer mapping cannot pass unnoticed.

use candle_core::{Tensor, D};
use runtime::format::LayerSpec;

use super::network::{Layer, Network, Norm};
use crate::error::Result;

/// The network's output for latents `z` (`[B, latent]`) and, when conditional, `labels` (`[B]`
/// u32): `[B, C * H * W]`.
pub fn forward(net: &Network, z: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
    let mut x = z.clone();
    for layer in &net.layers {
        x = match layer {
            Layer::Weighted { spec, weight, bias } => weighted(&x, spec, weight, bias, labels)?,
            Layer::BatchNorm(norm) => batch_norm(&x, norm)?,
            Layer::Plain(spec) => plain(&x, spec)?,
        };
    }
    Ok(x.flatten_from(1)?)
}

fn weighted(
    x: &Tensor,
    spec: &LayerSpec,
    weight: &Tensor,
    bias: &Option<Tensor>,
    labels: Option<&Tensor>,
) -> Result<Tensor> {
    let y = match *spec {
        LayerSpec::EmbedConcat { .. } => {
            let labels = labels.ok_or_else(|| {
                crate::Error::InvalidArgument("a conditional generator needs labels".into())
            })?;
            return Ok(Tensor::cat(&[x, &weight.index_select(labels, 0)?], 1)?);
        }
        LayerSpec::Dense { .. } => x.flatten_from(1)?.matmul(&weight.t()?)?,
        LayerSpec::Conv2d {
            stride, padding, ..
        } => x.conv2d(weight, padding, stride, 1, 1)?,
        LayerSpec::ConvTranspose2d {
            stride,
            padding,
            output_padding,
            ..
        } => x.conv_transpose2d(weight, padding, output_padding, stride, 1)?,
        _ => unreachable!("only dense, convolution and embedding layers carry weights"),
    };
    match bias {
        Some(b) => Ok(y.broadcast_add(&per_channel(b, y.rank())?)?),
        None => Ok(y),
    }
}

/// `v` (`[C]`) shaped to broadcast over axis 1 of a rank-`rank` activation.
fn per_channel(v: &Tensor, rank: usize) -> Result<Tensor> {
    let mut shape = vec![1usize; rank];
    shape[1] = v.dim(0)?;
    Ok(v.reshape(shape)?)
}

/// `(x - mean) / sqrt(var + eps) * gamma + beta`, per channel.
fn batch_norm(x: &Tensor, n: &Norm) -> Result<Tensor> {
    let r = x.rank();
    let std = (per_channel(&n.var, r)? + n.eps)?.sqrt()?;
    let xhat = x
        .broadcast_sub(&per_channel(&n.mean, r)?)?
        .broadcast_div(&std)?;
    Ok(xhat
        .broadcast_mul(&per_channel(&n.gamma, r)?)?
        .broadcast_add(&per_channel(&n.beta, r)?)?)
}

fn plain(x: &Tensor, spec: &LayerSpec) -> Result<Tensor> {
    Ok(match *spec {
        LayerSpec::Reshape { c, h, w } => x.reshape(((), c, h, w))?,
        LayerSpec::UpsampleNearest { scale } => {
            let (h, w) = (x.dim(D::Minus2)?, x.dim(D::Minus1)?);
            x.upsample_nearest2d(h * scale, w * scale)?
        }
        LayerSpec::Relu => x.relu()?,
        LayerSpec::LeakyRelu { slope } => {
            let neg = (x * f64::from(slope))?;
            x.ge(0f32)?.where_cond(x, &neg)?
        }
        LayerSpec::Tanh => x.tanh()?,
        LayerSpec::Sigmoid => candle_nn::ops::sigmoid(x)?,
        _ => unreachable!("layers without tensors only"),
    })
}
