//! Adam (PyTorch's algorithm, no weight decay) with its moments kept as named tensors, so a
//! checkpoint can save them and `--resume` continues with the same optimiser state. candle's
//! `AdamW` keeps its state private and defaults to weight decay 0.01.

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Adam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam over one network's trainable variables.
pub struct Adam {
    cfg: AdamConfig,
    params: Vec<(String, Var)>,
    m: Vec<Var>,
    v: Vec<Var>,
    /// Number of updates done, for bias correction.
    pub t: u64,
}

impl Adam {
    pub fn new(params: Vec<(String, Var)>, cfg: AdamConfig) -> Result<Self> {
        let mut m = Vec::with_capacity(params.len());
        let mut v = Vec::with_capacity(params.len());
        for (_, p) in &params {
            m.push(Var::from_tensor(&p.zeros_like()?)?);
            v.push(Var::from_tensor(&p.zeros_like()?)?);
        }
        Ok(Adam {
            cfg,
            params,
            m,
            v,
            t: 0,
        })
    }

    /// One update from the gradients in `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let step_size = c.lr / bc1;
        let sqrt_bc2 = bc2.sqrt();
        for ((_, p), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            let Some(g) = grads.get(p) else { continue };
            let new_m = ((m.as_tensor() * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let new_v = ((v.as_tensor() * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((new_v.sqrt()? / sqrt_bc2)? + c.eps)?;
            let upd = ((&new_m / denom)? * step_size)?;
            p.set(&p.sub(&upd)?)?;
            m.set(&new_m)?;
            v.set(&new_v)?;
        }
        Ok(())
    }

    /// The moments by name (`m.<param>`, `v.<param>`), for checkpoints.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            out.push((format!("m.{name}"), m.as_tensor().clone()));
            out.push((format!("v.{name}"), v.as_tensor().clone()));
        }
        out
    }

    /// Restores the moments saved by [`Adam::state`] under `prefix`.
    pub fn load(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        t: u64,
    ) -> std::result::Result<(), String> {
        for ((name, p), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            for (key, var) in [
                (format!("{prefix}m.{name}"), m),
                (format!("{prefix}v.{name}"), v),
            ] {
                let t = tensors
                    .get(&key)
                    .ok_or_else(|| format!("optimiser tensor {key} is missing"))?;
                if t.dims() != p.dims() {
                    return Err(format!(
                        "optimiser tensor {key} has shape {:?}, expected {:?}",
                        t.dims(),
                        p.dims()
                    ));
                }
                let t = t.to_device(p.device()).map_err(|e| e.to_string())?;
                var.set(&t).map_err(|e| e.to_string())?;
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// One step of Adam from zero moments moves each weight by lr against its gradient's sign.
    #[test]
    fn first_step_moves_by_lr() {
        let p = Var::new(&[1.0f32, -2.0, 0.5], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![("p".into(), p.clone())], AdamConfig::default()).unwrap();
        let loss = (p.as_tensor() * &Tensor::new(&[3.0f32, -1.0, 0.0], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let got = p.to_vec1::<f32>().unwrap();
        assert!((got[0] - (1.0 - 2e-4)).abs() < 1e-6);
        assert!((got[1] - (-2.0 + 2e-4)).abs() < 1e-6);
        assert_eq!(got[2], 0.5);
        assert_eq!(adam.t, 1);
    }
}
