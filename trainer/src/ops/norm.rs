//! Bias addition and training-mode batch normalisation over the channel axis (1) of `[B, C]` or
//! `[B, C, H, W]` activations, each one op forward and one backward. As candle ops every
//! broadcast (of a bias, a mean, a scale) costs, backward, a reduction over the batch axis, and
//! candle's reductions over a non-last axis were a quarter of the MLP step.
//! CPU only: the callers in `models::layers` use the plain candle formulas on other devices.

use candle_core::{Shape, Tensor};

use super::act::Act;
use super::contiguous;
use super::custom::{Grads2, Grads3, In, Out, SliceOp1, SliceOp2, SliceOp3, Slices};
use crate::error::Result;

/// `(outer, channels, inner)` of a `[B, C, ...]` shape.
fn split(shape: &Shape, op: &str) -> candle_core::Result<(usize, usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        candle_core::bail!("{op}: needs at least 2 dimensions, got {shape:?}")
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Per-channel sums of `[B, C, ...]`: the backward pass of a broadcast bias.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelSum;

impl SliceOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "channel-sum"
    }

    fn forward(&self, x: In) -> Out {
        let (_, c, inner) = split(x.shape, self.name())?;
        let mut out = vec![0f32; c];
        for block in x.v.chunks_exact(c * inner) {
            if inner == 1 {
                out.iter_mut().zip(block).for_each(|(o, &v)| *o += v);
            } else {
                for (o, plane) in out.iter_mut().zip(block.chunks_exact(inner)) {
                    *o += super::lane_sum(plane, |v| v);
                }
            }
        }
        Ok((out, Shape::from(c)))
    }
}

/// `x + bias` with `bias` `[C]` along axis 1.
#[derive(Debug, Clone, Copy)]
pub struct AddBias;

impl SliceOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add-bias"
    }

    fn forward(&self, x: In, b: In) -> Out {
        let (_, c, inner) = split(x.shape, self.name())?;
        let b = b.v;
        if b.len() != c {
            candle_core::bail!("add-bias: {} biases for {c} channels", b.len())
        }
        let mut y = x.v.to_vec();
        for block in y.chunks_exact_mut(c * inner) {
            if inner == 1 {
                block.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
            } else {
                for (plane, &b) in block.chunks_exact_mut(inner).zip(b) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        }
        Ok((y, x.shape.clone()))
    }

    fn backward(&self, _x: &Tensor, _b: &Tensor, _res: &Tensor, grad: &Tensor) -> Grads2 {
        let g = grad.contiguous()?;
        let db = g.apply_op1_no_bwd(&Slices(ChannelSum))?;
        Ok((Some(g), Some(db)))
    }
}

/// Per-channel mean and biased variance of `[outer, C, inner]` data (two passes, for accuracy;
/// f32 partial sums within a plane, f64 across planes).
fn stats(x: &[f32], c: usize, inner: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (x.len() / c) as f64;
    let mut sum = vec![0f64; c];
    if inner == 1 {
        // `[B, C]`: accumulate whole rows, one lane per channel.
        for row in x.chunks_exact(c) {
            sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let mut sq = vec![0f64; c];
        for row in x.chunks_exact(c) {
            for ((s, &v), &m) in sq.iter_mut().zip(row).zip(&mean) {
                *s += ((v - m) * (v - m)) as f64;
            }
        }
        return (mean, sq.iter().map(|s| (s / n) as f32).collect());
    }
    for block in x.chunks_exact(c * inner) {
        for (s, plane) in sum.iter_mut().zip(block.chunks_exact(inner)) {
            *s += super::lane_sum(plane, |v| v) as f64;
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let mut sq = vec![0f64; c];
    for block in x.chunks_exact(c * inner) {
        for ((s, plane), &m) in sq.iter_mut().zip(block.chunks_exact(inner)).zip(&mean) {
            *s += super::lane_sum(plane, |v| (v - m) * (v - m)) as f64;
        }
    }
    let var = sq.iter().map(|s| (s / n) as f32).collect();
    (mean, var)
}

/// The batch statistics `[2, C]` (mean, biased variance), for the running averages.
#[derive(Debug, Clone, Copy)]
pub struct BatchStats;

impl SliceOp1 for BatchStats {
    fn name(&self) -> &'static str {
        "batch-stats"
    }

    fn forward(&self, x: In) -> Out {
        let (_, c, inner) = split(x.shape, self.name())?;
        let (mut mean, var) = stats(x.v, c, inner);
        mean.extend(var);
        Ok((mean, Shape::from((2, c))))
    }
}

/// Training-mode batch norm `(x - mean) / sqrt(var + eps) * gamma + beta` with the batch's
/// statistics, then the activation; inputs `x`, `gamma`, `beta`.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormTrain {
    pub eps: f32,
    pub act: Act,
}

impl SliceOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch-norm"
    }

    fn forward(&self, x_in: In, gamma: In, beta: In) -> Out {
        let (_, c, inner) = split(x_in.shape, self.name())?;
        let (x, gamma, beta) = (x_in.v, gamma.v, beta.v);
        if gamma.len() != c || beta.len() != c {
            candle_core::bail!(
                "batch-norm: parameters for {} channels, data has {c}",
                gamma.len()
            )
        }
        let (mean, var) = stats(x, c, inner);
        let scale: Vec<f32> = (0..c)
            .map(|i| gamma[i] / (var[i] + self.eps).sqrt())
            .collect();
        let act = self.act;
        let mut y = vec![0f32; x.len()];
        for (yb, xb) in y.chunks_exact_mut(c * inner).zip(x.chunks_exact(c * inner)) {
            for ch in 0..c {
                let (m, s, b) = (mean[ch], scale[ch], beta[ch]);
                let (yp, xp) = (&mut yb[ch * inner..][..inner], &xb[ch * inner..][..inner]);
                yp.iter_mut()
                    .zip(xp)
                    .for_each(|(y, &x)| *y = (x - m) * s + b);
                act.apply_all(yp);
            }
        }
        Ok((y, x_in.shape.clone()))
    }

    fn backward(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Grads3 {
        let grad = self.act.backward(res, grad)?;
        let op = Slices(BatchNormGrad { eps: self.eps });
        let packed = x.apply_op3_no_bwd(gamma, &grad, &op)?;
        let (n, c) = (x.elem_count(), gamma.elem_count());
        Ok((
            Some(packed.narrow(0, 0, n)?.reshape(x.shape())?),
            Some(packed.narrow(0, n, c)?),
            Some(packed.narrow(0, n + c, c)?),
        ))
    }
}

/// The backward pass of [`BatchNormTrain`]: `(x, gamma, dy)` -> `[dx | dgamma | dbeta]`
/// flattened, with `dbeta = sum dy`, `dgamma = sum dy xhat`,
/// `dx = gamma rstd / N (N dy - dbeta - xhat dgamma)`.
#[derive(Debug, Clone, Copy)]
struct BatchNormGrad {
    eps: f32,
}

impl SliceOp3 for BatchNormGrad {
    fn name(&self) -> &'static str {
        "batch-norm-grad"
    }

    fn forward(&self, x: In, gamma: In, dy: In) -> Out {
        let (_, c, inner) = split(x.shape, self.name())?;
        let (x, gamma, dy) = (x.v, gamma.v, dy.v);
        if dy.len() != x.len() || gamma.len() != c {
            candle_core::bail!("batch-norm-grad: shapes do not match")
        }
        let n = (x.len() / c) as f32;
        let (mean, var) = stats(x, c, inner);
        let rstd: Vec<f32> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let (mut dgamma, mut dbeta) = (vec![0f64; c], vec![0f64; c]);
        for (xb, db) in x.chunks_exact(c * inner).zip(dy.chunks_exact(c * inner)) {
            if inner == 1 {
                // `[B, C]`: one value per channel and row, summed across the row's channels.
                for ch in 0..c {
                    let (d, xh) = (db[ch] as f64, ((xb[ch] - mean[ch]) * rstd[ch]) as f64);
                    dbeta[ch] += d;
                    dgamma[ch] += d * xh;
                }
                continue;
            }
            for ch in 0..c {
                let (xp, dp) = (&xb[ch * inner..][..inner], &db[ch * inner..][..inner]);
                let (m, r) = (mean[ch], rstd[ch]);
                // sum dy and sum dy (x - mean); the latter times rstd is sum dy xhat.
                let (sb, sg) = super::lane_sum_dot(dp, xp, |x| x - m);
                let sg = sg * r;
                dgamma[ch] += sg as f64;
                dbeta[ch] += sb as f64;
            }
        }
        let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (
            dgamma.iter().map(|&v| v as f32).collect(),
            dbeta.iter().map(|&v| v as f32).collect(),
        );
        let mut out = vec![0f32; x.len() + 2 * c];
        let (dx, rest) = out.split_at_mut(x.len());
        for ((ob, xb), db) in dx
            .chunks_exact_mut(c * inner)
            .zip(x.chunks_exact(c * inner))
            .zip(dy.chunks_exact(c * inner))
        {
            for ch in 0..c {
                let (m, r) = (mean[ch], rstd[ch]);
                let k = gamma[ch] * r / n;
                let (gb, gg) = (dbeta[ch], dgamma[ch]);
                let (op, xp, dp) = (
                    &mut ob[ch * inner..][..inner],
                    &xb[ch * inner..][..inner],
                    &db[ch * inner..][..inner],
                );
                for ((o, &x), &d) in op.iter_mut().zip(xp).zip(dp) {
                    *o = k * (n * d - gb - (x - m) * r * gg);
                }
            }
        }
        rest[..c].copy_from_slice(&dgamma);
        rest[c..].copy_from_slice(&dbeta);
        let len = out.len();
        Ok((out, Shape::from(len)))
    }
}

/// True where the fused ops apply: f32 on the CPU.
pub fn applies(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// `x + bias` along axis 1 (the fused op; callers check [`applies`]).
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    Ok(contiguous(x)?.apply_op2(bias, Slices(AddBias))?)
}

/// Training-mode batch norm and the batch's `[2, C]` (mean, biased variance) for the running
/// averages (the fused op; callers check [`applies`]).
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    act: Act,
) -> Result<(Tensor, Tensor)> {
    let x = contiguous(x)?;
    let stats = x.apply_op1_no_bwd(&Slices(BatchStats))?;
    let op = Slices(BatchNormTrain {
        eps: eps as f32,
        act,
    });
    let y = x.apply_op3(gamma, beta, op)?;
    Ok((y, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{grads, max_diff};
    use candle_core::{Device, Var, D};

    /// The unfused candle formula the batch norm replaces.
    fn plain_bn(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Tensor {
        let c = gamma.dim(0).unwrap();
        let mut shape = vec![1usize; x.rank()];
        shape[1] = c;
        let flat = x
            .transpose(1, D::Minus1)
            .unwrap()
            .flatten_to(D::Minus2)
            .unwrap()
            .reshape(((), c))
            .unwrap();
        let mean = flat.mean_keepdim(0).unwrap();
        let var = flat
            .broadcast_sub(&mean)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_keepdim(0)
            .unwrap();
        let (mean, var) = (
            mean.reshape(shape.as_slice()).unwrap(),
            var.reshape(shape.as_slice()).unwrap(),
        );
        x.broadcast_sub(&mean)
            .unwrap()
            .broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&gamma.reshape(shape.as_slice()).unwrap())
            .unwrap()
            .broadcast_add(&beta.reshape(shape.as_slice()).unwrap())
            .unwrap()
    }

    /// Values and gradients of the bias and the batch norm match the unfused candle ops on random
    /// inputs, for dense (`[B, C]`) and convolutional (`[B, C, H, W]`) activations.
    #[test]
    fn match_unfused() {
        let dev = Device::Cpu;
        for (shape, eps) in [(vec![16usize, 9], 0.8), (vec![5, 3, 4, 6], 1e-5)] {
            let c = shape[1];
            let rnd = |s: &[usize]| {
                Var::from_tensor(&Tensor::randn(0f32, 1.0, s, &dev).unwrap()).unwrap()
            };
            let x = rnd(&shape);
            // An offset and scale so the statistics are not trivially (0, 1).
            let xs = ((x.as_tensor() * 3.0).unwrap() + 1.5).unwrap();
            let (gamma, beta) = (rnd(&[c]), rnd(&[c]));
            let r = Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).unwrap();

            for act in [Act::Identity, Act::RELU, Act::Leaky(0.2)] {
                let (ours, stats) = batch_norm_train(&xs, &gamma, &beta, eps, act).unwrap();
                let theirs = act.unfused(&plain_bn(&xs, &gamma, &beta, eps)).unwrap();
                assert!(max_diff(&ours, &theirs) < 1e-4);
                assert_eq!(stats.dims(), &[2, c]);
                let go = grads(&ours, &r);
                let gt = grads(&theirs, &r);
                for v in [&x, &gamma, &beta] {
                    let d = max_diff(go.get(v).unwrap(), gt.get(v).unwrap());
                    assert!(d < 1e-3, "batch norm grad {:?}: {d}", v.dims());
                }
            }

            let mut bshape = vec![1usize; shape.len()];
            bshape[1] = c;
            let ours = add_bias(&x, &beta).unwrap();
            let theirs = x
                .broadcast_add(&beta.reshape(bshape.as_slice()).unwrap())
                .unwrap();
            assert_eq!(max_diff(&ours, &theirs), 0.0);
            let go = grads(&ours, &r);
            let gt = grads(&theirs, &r);
            for v in [&x, &beta] {
                let d = max_diff(go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(d < 1e-4, "bias grad {:?}: {d}", v.dims());
            }
        }
    }
}
