//! LeakyReLU as one pass forward and one pass backward. As candle ops it was `max(x, a x)`: two
//! passes forward and, backward, two comparisons, two selects and two products.
//! CPU only: [`leaky_relu`] uses the two-op candle form on other devices.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::f32_slice;
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

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let a = self.slope;
        let y: Vec<f32> = x.iter().map(|&v| if v > 0.0 { v } else { a * v }).collect();
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(
            &grad,
            &LeakyReluGrad { slope: self.slope },
        )?))
    }
}

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        if x.len() != dy.len() {
            candle_core::bail!(
                "leaky-relu-grad: {} inputs, {} gradients",
                x.len(),
                dy.len()
            )
        }
        let a = self.slope;
        let dx: Vec<f32> = x
            .iter()
            .zip(dy)
            .map(|(&x, &d)| if x > 0.0 { d } else { a * d })
            .collect();
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// LeakyReLU with negative slope `slope`: the fused op on the CPU, `max(x, slope x)` elsewhere
/// (the same function for `0 <= slope <= 1`).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return Ok(x.maximum(&(x * slope)?)?);
    }
    let x = if x.is_contiguous() {
        x.clone()
    } else {
        x.contiguous()?
    };
    Ok(x.apply_op1(LeakyRelu {
        slope: slope as f32,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (a, b) = (go.get(&x).unwrap(), gp.get(&x).unwrap());
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6);
        // A strided input is accepted too.
        let t = leaky_relu(&x.t().unwrap(), 0.2).unwrap();
        assert_eq!(t.dims(), &[17, 33]);
    }
}
