//! A dense layer `y = x W^T + b` as one op. As candle ops it was a transpose, a matrix product
//! and a broadcast addition, and candle's backward materialises (zeros, then a sum) a gradient
//! for every node: the weight's gradient was built three times, once transposed. Here the
//! backward produces `dW = dy^T x` directly in the weight's layout, and skips `dx` when `x` is
//! not tracked (data, detached fakes) and `dW`, `db` when the parameters are not (a frozen D).
//! CPU only: `models::layers::Linear` uses the candle ops on other devices.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::act::Act;
use super::custom::Slices;
use super::norm::ChannelSum;
use crate::error::Result;

/// `x [m, k]`, `weight [n, k]`, `bias [n]` -> `act(x weight^T + bias)`, `[m, n]`.
#[derive(Debug, Clone, Copy)]
pub struct Dense(pub Act);

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 || l3.shape().elem_count() != n {
            candle_core::bail!(
                "dense: input {:?}, weight {:?}, bias {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            )
        }
        let y = s1.matmul(s2, (1, m, n, k), l1, &l2.transpose(0, 1)?)?;
        let CpuStorage::F32(mut y) = y else {
            candle_core::bail!("dense: expects f32 tensors")
        };
        let b = super::custom::f32_slice(s3, l3, self.name())?;
        let act = self.0;
        for row in y.chunks_exact_mut(n) {
            row.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
            act.apply_all(row);
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = self.0.backward(res, grad)?;
        // candle's own matmul backward always computes the input's gradient; the first layer of
        // D sees untracked data (real images, detached fakes, im2col of those) and needs none.
        let dx = if x.track_op() {
            Some(grad.matmul(w)?)
        } else {
            None
        };
        // Likewise a frozen layer's parameters (D's, in the generator's update) need none.
        let dw = if w.track_op() {
            Some(grad.t()?.matmul(x)?)
        } else {
            None
        };
        let db = if b.track_op() {
            Some(grad.apply_op1_no_bwd(&Slices(ChannelSum))?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// `act(x W^T + b)` with the fused op (callers check `norm::applies`).
pub fn dense(x: &Tensor, weight: &Tensor, bias: &Tensor, act: Act) -> Result<Tensor> {
    Ok(x.apply_op3(weight, bias, Dense(act))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::grads;
    use candle_core::{Device, Var};

    /// Values and all three gradients match `act(x.matmul(w.t()) + b)` on random inputs, for
    /// every activation, also for a strided (transposed) input.
    #[test]
    fn matches_unfused() {
        let dev = Device::Cpu;
        let rnd =
            |s: &[usize]| Var::from_tensor(&Tensor::randn(0f32, 1.0, s, &dev).unwrap()).unwrap();
        let (x, w, b) = (rnd(&[7, 5]), rnd(&[3, 5]), rnd(&[3]));
        let xt = rnd(&[5, 7]);
        let acts = [Act::Identity, Act::Leaky(0.2), Act::RELU, Act::Tanh];
        for (input, act) in [x.as_tensor().clone(), xt.t().unwrap()]
            .into_iter()
            .flat_map(|i| acts.map(|a| (i.clone(), a)))
        {
            let ours = dense(&input, &w, &b, act).unwrap();
            let theirs = act
                .unfused(
                    &input
                        .matmul(&w.t().unwrap())
                        .unwrap()
                        .broadcast_add(&b)
                        .unwrap(),
                )
                .unwrap();
            let d = (&ours - &theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
            let r = Tensor::randn(0f32, 1.0, (7, 3), &dev).unwrap();
            let go = grads(&ours, &r);
            let gt = grads(&theirs, &r);
            for v in [&x, &xt, &w, &b] {
                match (go.get(v), gt.get(v)) {
                    (Some(a), Some(c)) => {
                        let d = (a - c).unwrap().abs().unwrap().max_all().unwrap();
                        assert!(d.to_scalar::<f32>().unwrap() < 1e-4, "{:?}", v.dims());
                    }
                    (None, None) => {}
                    _ => panic!("gradient present in one version only for {:?}", v.dims()),
                }
            }
            // Constant parameters (a frozen layer): the same input gradient, bit for bit, and
            // none for the parameters.
            let frozen = dense(
                &input,
                &w.as_tensor().detach(),
                &b.as_tensor().detach(),
                act,
            );
            let gf = grads(&frozen.unwrap(), &r);
            assert!(gf.get(&w).is_none() && gf.get(&b).is_none());
            for v in [&x, &xt] {
                let bits = |g: Option<&Tensor>| {
                    g.map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                };
                assert_eq!(bits(gf.get(v)), bits(go.get(v)));
            }
        }
    }
}
