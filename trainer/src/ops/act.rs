//! Activations. [`Act`] is an activation fused into the op before it (dense, batch norm,
//! convolutions): applied in that op's output pass and undone in its backward pass from the
//! output alone. As candle ops a ReLU was one pass forward and five backward (a comparison, a
//! conversion, a product, the gradient's zeros and sum). [`leaky_relu`] is LeakyReLU as an op of
//! its own (one pass each way), for the models that do not fuse it.
//! CPU only: [`Act::unfused`] and [`leaky_relu`] use candle's ops on other devices.

use candle_core::Tensor;

use super::custom::{In, Out, SliceOp1, SliceOp2, Slices};
use crate::error::Result;

/// `x > 0 ? x : slope x` (PyTorch's definition).
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu {
    pub slope: f32,
}

/// The backward pass of [`LeakyRelu`]: `(x, dy) -> x > 0 ? dy : slope dy`.
#[derive(Debug, Clone, Copy)]
struct LeakyReluGrad {
    slope: f32,
}

impl SliceOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky-relu"
    }

    fn forward(&self, x: In) -> Out {
        let a = self.slope;
        let y: Vec<f32> =
            x.v.iter()
                .map(|&v| if v > 0.0 { v } else { a * v })
                .collect();
        Ok((y, x.shape.clone()))
    }

    fn backward(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let op = Slices(LeakyReluGrad { slope: self.slope });
        Ok(Some(arg.apply_op2_no_bwd(&grad, &op)?))
    }
}

impl SliceOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "leaky-relu-grad"
    }

    fn forward(&self, x: In, dy: In) -> Out {
        let a = self.slope;
        pointwise_grad(self.name(), "inputs", x, dy, |x, d| {
            if x > 0.0 {
                d
            } else {
                a * d
            }
        })
    }
}

/// `dx = f(x_i, dy_i)` element by element (`x`: the input or the output of the op whose
/// gradient this is, as `what` says), checking that there is one gradient a value.
fn pointwise_grad(op: &str, what: &str, x: In, dy: In, f: impl Fn(f32, f32) -> f32) -> Out {
    if x.v.len() != dy.v.len() {
        candle_core::bail!("{op}: {} {what}, {} gradients", x.v.len(), dy.v.len())
    }
    let dx: Vec<f32> = x.v.iter().zip(dy.v).map(|(&x, &d)| f(x, d)).collect();
    Ok((dx, x.shape.clone()))
}

/// An activation fused into the op before it (dense, batch norm, convolutions): applied to
/// each output value in the same pass, and undone in that op's backward pass from the output
/// alone (one pass, [`ActGrad`]), so the activation is no tensor of its own, forward or back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    /// `x > 0 ? x : slope x`, `0 <= slope`; ReLU is slope 0.
    Leaky(f32),
    Tanh,
}

impl Act {
    pub const RELU: Act = Act::Leaky(0.0);

    /// Applies the activation to a slice in place. `tanh` is the runtime's (`libm::tanhf` in a
    /// vectorised form, several times faster than the C library's one value at a time), so
    /// the generator's output layer computes the same function here as on the board.
    pub fn apply_all(self, y: &mut [f32]) {
        match self {
            Act::Identity => {}
            Act::Leaky(a) => y
                .iter_mut()
                .for_each(|v| *v = if *v > 0.0 { *v } else { a * *v }),
            Act::Tanh => runtime::kernels::tanh(y),
        }
    }

    /// The derivative times `d`, from the activation's output `y`: the sign of `y` is that of
    /// the input for LeakyReLU, and tanh' = 1 - y^2.
    #[inline]
    fn grad(self, y: f32, d: f32) -> f32 {
        match self {
            Act::Identity => d,
            Act::Leaky(a) => {
                if y > 0.0 {
                    d
                } else {
                    a * d
                }
            }
            Act::Tanh => d * (1.0 - y * y),
        }
    }

    /// The same activation as candle operations, for other devices and for the tests.
    pub fn unfused(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Act::Identity => x.clone(),
            Act::Leaky(0.0) => x.relu()?,
            Act::Leaky(a) => x.maximum(&(x * a as f64)?)?,
            Act::Tanh => x.tanh()?,
        })
    }

    /// The gradient before the activation from its output `y` and the gradient after it `dy`
    /// (the `bwd` of an op that fused it); `dy` itself for [`Act::Identity`].
    pub fn backward(self, y: &Tensor, dy: &Tensor) -> candle_core::Result<Tensor> {
        let dy = dy.contiguous()?;
        if self == Act::Identity {
            return Ok(dy);
        }
        y.contiguous()?
            .apply_op2_no_bwd(&dy, &Slices(ActGrad(self)))
    }
}

/// `(y, dy) -> dx` for an activation with output `y` ([`Act::backward`]).
#[derive(Debug, Clone, Copy)]
pub struct ActGrad(pub Act);

impl SliceOp2 for ActGrad {
    fn name(&self) -> &'static str {
        "act-grad"
    }

    fn forward(&self, y: In, dy: In) -> Out {
        let a = self.0;
        pointwise_grad(self.name(), "outputs", y, dy, |y, d| a.grad(y, d))
    }
}

/// LeakyReLU with negative slope `slope`: the fused op on the CPU, `max(x, slope x)` elsewhere
/// (the same function for `0 <= slope <= 1`).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return Ok(x.maximum(&(x * slope)?)?);
    }
    let op = Slices(LeakyRelu {
        slope: slope as f32,
    });
    Ok(super::contiguous(x)?.apply_op1(op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::grads;
    use candle_core::{Device, Var};

    /// Values and gradients match the unfused `max(x, a x)` on random inputs.
    #[test]
    fn matches_unfused() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (33, 17), &dev).unwrap()).unwrap();
        let r = Tensor::randn(0f32, 1.0, (33, 17), &dev).unwrap();
        let ours = leaky_relu(&x, 0.2).unwrap();
        let plain = x.maximum(&(x.as_tensor() * 0.2).unwrap()).unwrap();
        let d = (&ours - &plain).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
        let go = grads(&ours, &r);
        let gp = grads(&plain, &r);
        let (a, b) = (go.get(&x).unwrap(), gp.get(&x).unwrap());
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6);
        // A strided input is accepted too.
        let t = leaky_relu(&x.t().unwrap(), 0.2).unwrap();
        assert_eq!(t.dims(), &[17, 33]);
    }
}
