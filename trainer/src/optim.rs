//! Adam (PyTorch's algorithm, no weight decay) with its moments kept as named tensors, so a
//! checkpoint can save them and `--resume` continues with the same optimiser state. candle's
//! `AdamW` keeps its state private and defaults to weight decay 0.01.
//!
//! On the CPU the update runs as two fused in-place passes per tensor (`crate::ops::adam`);
//! on other devices as the plain candle formula, [`Adam::step_unfused`], which is also what the
//! fused version is tested against.

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::ops::adam::{AdamMoments, AdamParam};
use crate::ops::{contiguous, Slices};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Adam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// How the learning rate changes over the run; constant for configurations written before
    /// schedules existed.
    #[serde(default)]
    pub decay: LrDecay,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            decay: LrDecay::None,
        }
    }
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LrDecay {
    /// The same learning rate at every step (the usual GAN practice).
    #[default]
    None,
    /// From `lr` at the first step down linearly to `lr / steps` at the last: the late small
    /// steps let a generator tighten its samples around the modes it has found.
    Linear,
}

impl LrDecay {
    /// The factor applied to `lr` at update `t` (1-based) of a run of `horizon` updates.
    pub fn factor(self, t: u64, horizon: u64) -> f64 {
        match self {
            LrDecay::None => 1.0,
            LrDecay::Linear => {
                let h = horizon.max(1) as f64;
                (1.0 - t.saturating_sub(1) as f64 / h).max(1.0 / h)
            }
        }
    }
}

/// Adam over one network's trainable variables.
pub struct Adam {
    cfg: AdamConfig,
    params: Vec<(String, Var)>,
    /// Per parameter, its first and second moments side by side, `[2, n]`: one tensor, so one
    /// in-place pass can update both.
    mv: Vec<Var>,
    /// Number of updates done, for bias correction.
    pub t: u64,
    /// Updates in the whole run, which a decaying learning rate counts down to.
    pub horizon: u64,
}

impl Adam {
    pub fn new(params: Vec<(String, Var)>, cfg: AdamConfig) -> Result<Self> {
        let mut mv = Vec::with_capacity(params.len());
        for (_, p) in &params {
            mv.push(Var::zeros((2, p.elem_count()), p.dtype(), p.device())?);
        }
        Ok(Adam {
            cfg,
            params,
            mv,
            t: 0,
            horizon: 0,
        })
    }

    /// Sets the run length a decaying learning rate counts down to.
    pub fn with_horizon(mut self, steps: u64) -> Self {
        self.horizon = steps;
        self
    }

    /// The step size `lr / bc1` and `sqrt(bc2)` of update number `t`.
    fn corrections(&self) -> (f64, f64) {
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let lr = c.lr * c.decay.factor(self.t, self.horizon);
        (lr / bc1, bc2.sqrt())
    }

    /// One update from the gradients in `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let fused = self
            .params
            .first()
            .is_some_and(|(_, p)| p.device().is_cpu() && p.dtype() == candle_core::DType::F32);
        if !fused {
            return self.step_unfused(grads);
        }
        self.t += 1;
        let c = self.cfg;
        let (step_size, sqrt_bc2) = self.corrections();
        let moments = Slices(AdamMoments {
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
        });
        let update = Slices(AdamParam {
            step_size: step_size as f32,
            sqrt_bc2: sqrt_bc2 as f32,
            eps: c.eps as f32,
        });
        for ((_, p), mv) in self.params.iter().zip(&self.mv) {
            let Some(g) = grads.get(p) else { continue };
            // Gradients of transposed weights can come back strided; the kernels read slices.
            let g = contiguous(g)?;
            mv.inplace_op2(&g, &moments)?;
            p.inplace_op2(mv, &update)?;
        }
        Ok(())
    }

    /// The same update as [`Adam::step`] as plain candle operations: what non-CPU devices run.
    pub fn step_unfused(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let c = self.cfg;
        let (step_size, sqrt_bc2) = self.corrections();
        for ((_, p), mv) in self.params.iter().zip(&self.mv) {
            let Some(g) = grads.get(p) else { continue };
            let g = g.flatten_all()?;
            let (m, v) = (mv.get(0)?, mv.get(1)?);
            let new_m = ((m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let new_v = ((v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((new_v.sqrt()? / sqrt_bc2)? + c.eps)?;
            let upd = ((&new_m / denom)? * step_size)?.reshape(p.shape())?;
            p.set(&p.sub(&upd)?)?;
            mv.set(&Tensor::stack(&[new_m, new_v], 0)?)?;
        }
        Ok(())
    }

    /// The moments by name (`m.<param>`, `v.<param>`, each shaped like its parameter), for
    /// checkpoints. They are copies: later steps do not change them.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for ((name, p), mv) in self.params.iter().zip(&self.mv) {
            out.push((format!("m.{name}"), mv.get(0)?.reshape(p.shape())?.copy()?));
            out.push((format!("v.{name}"), mv.get(1)?.reshape(p.shape())?.copy()?));
        }
        Ok(out)
    }

    /// Restores the moments saved by [`Adam::state`] under `prefix`.
    pub fn load(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        t: u64,
    ) -> std::result::Result<(), String> {
        for ((name, p), mv) in self.params.iter().zip(&self.mv) {
            let mut halves = Vec::with_capacity(2);
            for key in [format!("{prefix}m.{name}"), format!("{prefix}v.{name}")] {
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
                halves.push(t.to_device(p.device()).map_err(|e| e.to_string())?);
            }
            Tensor::stack(&halves, 0)
                .and_then(|t| t.reshape(mv.shape()))
                .and_then(|t| t.to_dtype(mv.dtype()))
                .and_then(|t| mv.set(&t))
                .map_err(|e| e.to_string())?;
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn linear_decay_runs_from_lr_to_lr_over_steps() {
        let d = LrDecay::Linear;
        assert_eq!(d.factor(1, 100), 1.0);
        assert!((d.factor(51, 100) - 0.5).abs() < 1e-12);
        assert!((d.factor(100, 100) - 0.01).abs() < 1e-12);
        // Past the horizon (a resumed run asked for fewer steps) it stays at the last value.
        assert!((d.factor(500, 100) - 0.01).abs() < 1e-12);
        assert_eq!(LrDecay::None.factor(500, 100), 1.0);
        assert_eq!(d.factor(1, 0), 1.0);
    }

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

    /// The fused CPU update and the plain candle formula agree over several steps on random
    /// weights and gradients, including a strided (transposed) gradient.
    #[test]
    fn fused_matches_unfused() {
        let dev = Device::Cpu;
        let shapes: [&[usize]; 3] = [&[7, 5], &[13], &[3, 2, 4, 4]];
        let make = || -> Vec<(String, Var)> {
            shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let t = Tensor::randn(0f32, 1.0, *s, &dev).unwrap();
                    (format!("p{i}"), Var::from_tensor(&t).unwrap())
                })
                .collect()
        };
        let a_params = make();
        let b_params: Vec<(String, Var)> = a_params
            .iter()
            .map(|(n, v)| (n.clone(), Var::from_tensor(&v.copy().unwrap()).unwrap()))
            .collect();
        let cfg = AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        };
        let mut fused = Adam::new(a_params.clone(), cfg).unwrap();
        let mut plain = Adam::new(b_params.clone(), cfg).unwrap();
        for step in 0..5 {
            // loss = sum(p * r) for a random r per parameter; the first uses r^T^T to get a
            // strided gradient.
            let mut la = Tensor::new(0f32, &dev).unwrap();
            let mut lb = Tensor::new(0f32, &dev).unwrap();
            for (i, ((_, pa), (_, pb))) in a_params.iter().zip(&b_params).enumerate() {
                let r = Tensor::randn(0f32, 1.0, pa.shape(), &dev).unwrap();
                let (ta, tb) = if i == 0 && step % 2 == 0 {
                    let rt = r.t().unwrap().contiguous().unwrap();
                    (
                        pa.t().unwrap().mul(&rt).unwrap(),
                        pb.t().unwrap().mul(&rt).unwrap(),
                    )
                } else {
                    (pa.mul(&r).unwrap(), pb.mul(&r).unwrap())
                };
                let sa = ta.sqr().unwrap().sum_all().unwrap();
                let sb = tb.sqr().unwrap().sum_all().unwrap();
                la = (la + sa).unwrap();
                lb = (lb + sb).unwrap();
            }
            fused.step(&la.backward().unwrap()).unwrap();
            plain.step_unfused(&lb.backward().unwrap()).unwrap();
        }
        for ((_, pa), (_, pb)) in a_params.iter().zip(&b_params) {
            let a = pa.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = pb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
        let (sa, sb) = (fused.state().unwrap(), plain.state().unwrap());
        assert_eq!(sa.len(), 6);
        for ((na, ta), (nb, tb)) in sa.iter().zip(&sb) {
            assert_eq!(na, nb);
            let a = ta.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = tb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{na}: {x} vs {y}");
            }
        }
    }

    /// Saved moments load back into a fresh optimiser under the documented names.
    #[test]
    fn state_round_trips() {
        let dev = Device::Cpu;
        let p = Var::new(&[[1.0f32, 2.0], [3.0, 4.0]], &dev).unwrap();
        let mut adam = Adam::new(vec![("w".into(), p.clone())], AdamConfig::default()).unwrap();
        let loss = p.sqr().unwrap().sum_all().unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let saved: HashMap<String, Tensor> = adam
            .state()
            .unwrap()
            .into_iter()
            .map(|(n, t)| (format!("opt.{n}"), t))
            .collect();
        assert_eq!(saved["opt.m.w"].dims(), &[2, 2]);
        let mut fresh = Adam::new(vec![("w".into(), p.clone())], AdamConfig::default()).unwrap();
        fresh.load(&saved, "opt.", adam.t).unwrap();
        let again: Vec<(String, Tensor)> = fresh.state().unwrap();
        for (n, t) in again {
            let want = saved[&format!("opt.{n}")].flatten_all().unwrap();
            assert_eq!(
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                want.to_vec1::<f32>().unwrap()
            );
        }
        let mut missing = saved.clone();
        missing.remove("opt.v.w");
        assert!(fresh
            .load(&missing, "opt.", 1)
            .unwrap_err()
            .contains("opt.v.w"));
    }
}
