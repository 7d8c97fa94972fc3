//! An exponential moving average of the generator's weights (`train --ema DECAY`).
//!
//! GAN training never settles: the generator chases a discriminator that keeps moving, so its
//! weights wobble from step to step and a snapshot at any one step carries that wobble into its
//! images. The average over the last ~1 / (1 - decay) steps cancels much of it (Yazici et al.,
//! "The unusual effectiveness of averaging in GAN training", 2019). Only the exported (and
//! sampled, evaluated) generator changes; the networks still train on their raw weights, so the
//! training step is the seed's.
//!
//! Only trainable tensors are averaged. Batch-norm running statistics belong to the weights that
//! produced them, and an average of the raw network's statistics does not match the averaged
//! weights (measured: it cost the average its gain), so whenever the average is used its
//! statistics are measured again ([`recalibrate`]), as PyTorch's `swa_utils.update_bn` does.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::params::ParamStore;
use super::Gan;
use crate::error::{Error, Result};

/// Prefix of the average's tensors in a checkpoint, beside the raw `g.` ones.
pub const PREFIX: &str = "ema.";

/// Batches run through the generator to measure its batch-norm statistics, and their size: with
/// PyTorch's momentum 0.1 the starting statistics keep 0.9^40 = 1.5 % of their weight.
const RECALIBRATION_BATCHES: usize = 40;
const RECALIBRATION_BATCH: usize = 128;
/// Seed of the recalibration latents (fixed, so an export is repeatable).
const RECALIBRATION_SEED: u64 = 0x6261_7463_686e_6f72;

/// The averaged copy of every trainable tensor of a generator's [`ParamStore`].
pub struct Ema {
    decay: f64,
    values: BTreeMap<String, Tensor>,
}

impl Ema {
    /// Starts the average at the store's current values.
    pub fn new(decay: f64, params: &ParamStore) -> Result<Self> {
        let values = params
            .trainable()
            .into_iter()
            .map(|(n, v)| Ok((n, v.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        Ok(Ema { decay, values })
    }

    /// The decay used after `step` updates: `min(decay, (1 + step) / (10 + step))`, so the first
    /// steps (whose weights are still the initialisation's) fade out quickly instead of lingering
    /// for thousands of steps.
    pub fn decay_at(&self, step: u64) -> f64 {
        let warm = (1.0 + step as f64) / (10.0 + step as f64);
        self.decay.min(warm)
    }

    /// Folds the store's current values in after update number `step`.
    pub fn update(&mut self, params: &ParamStore, step: u64) -> Result<()> {
        let d = self.decay_at(step);
        for (name, avg) in self.values.iter_mut() {
            let now = params.all()[name].as_tensor();
            *avg = ((&*avg * d)? + (now * (1.0 - d))?)?;
        }
        Ok(())
    }

    /// Exchanges the average with the store's values: call once to put the average in place,
    /// again to put the raw weights back.
    pub fn swap(&mut self, params: &ParamStore) -> Result<()> {
        for (name, avg) in self.values.iter_mut() {
            let var = &params.all()[name];
            let raw = var.as_tensor().copy()?;
            var.set(avg)?;
            *avg = raw;
        }
        Ok(())
    }

    /// The tensors a checkpoint stores, named `ema.<parameter>`, on the CPU.
    pub fn tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.values
            .iter()
            .map(|(n, t)| Ok((format!("{PREFIX}{n}"), t.to_device(&Device::Cpu)?)))
            .collect()
    }

    /// Replaces the average with a checkpoint's `ema.` tensors, which must cover every trainable
    /// tensor of the store with the same shapes.
    pub fn load(&mut self, tensors: &HashMap<String, Tensor>, device: &Device) -> Result<()> {
        for (name, avg) in self.values.iter_mut() {
            let key = format!("{PREFIX}{name}");
            let t = tensors
                .get(&key)
                .ok_or_else(|| Error::InvalidArgument(format!("tensor {key} is missing")))?;
            if t.dims() != avg.dims() {
                return Err(Error::InvalidArgument(format!(
                    "tensor {key} has shape {:?}, this model needs {:?}",
                    t.dims(),
                    avg.dims()
                )));
            }
            *avg = t.to_device(device)?;
        }
        Ok(())
    }
}

/// Measures the batch-norm running statistics of `gan`'s generator as it stands: training-mode
/// passes over fixed latents (classes cycled for a conditional one) move them to the current
/// weights' statistics. Nothing else changes; a generator without batch norm is left alone.
pub fn recalibrate(gan: &Gan) -> Result<()> {
    if gan.g_params.all().len() == gan.g_params.trainable().len() {
        return Ok(());
    }
    let spec = &gan.spec;
    let device = gan.g_params.device();
    let mut rng = ChaCha8Rng::seed_from_u64(RECALIBRATION_SEED);
    let n = RECALIBRATION_BATCH;
    for _ in 0..RECALIBRATION_BATCHES {
        let z: Vec<f32> = (0..n * spec.latent_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let z = Tensor::from_vec(z, (n, spec.latent_dim), device)?;
        let labels = if spec.conditional() {
            let k = spec.num_classes as u32;
            let l: Vec<u32> = (0..n).map(|_| rng.random_range(0..k)).collect();
            Some(Tensor::from_vec(l, n, device)?)
        } else {
            None
        };
        gan.g.forward_t(&z, labels.as_ref(), true)?;
    }
    Ok(())
}

/// Puts a checkpoint's weight average into `gan`'s generator and measures its batch-norm
/// statistics: the generator that is exported and evaluated.
pub fn use_from_checkpoint(gan: &Gan, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut ema = Ema::new(0.0, &gan.g_params)?;
    ema.load(tensors, gan.g_params.device())?;
    ema.swap(&gan.g_params)?;
    recalibrate(gan)
}

/// True when a checkpoint's tensors hold a weight average.
pub fn in_checkpoint(tensors: &HashMap<String, Tensor>) -> bool {
    tensors.keys().any(|k| k.starts_with(PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(v: f32) -> ParamStore {
        let mut p = ParamStore::new(&Device::Cpu);
        p.constant("w", &[2], v, true).unwrap();
        p.constant("bn.running_mean", &[1], v, false).unwrap();
        p
    }

    fn value(p: &ParamStore, name: &str) -> f32 {
        p.values(name).unwrap()[0]
    }

    #[test]
    fn the_average_follows_the_weights_at_the_warmed_up_decay() {
        let p = store(0.0);
        let mut ema = Ema::new(0.9, &p).unwrap();
        p.all()["w"]
            .set(&Tensor::new(&[1f32, 1.0], &Device::Cpu).unwrap())
            .unwrap();
        ema.update(&p, 0).unwrap();
        // Step 0: decay min(0.9, 1/10) = 0.1, so the average moves 90 % of the way.
        let avg = &ema.values["w"].to_vec1::<f32>().unwrap();
        assert!((avg[0] - 0.9).abs() < 1e-6, "{avg:?}");
        ema.update(&p, 1000).unwrap();
        let avg = &ema.values["w"].to_vec1::<f32>().unwrap();
        // Step 1000: decay 0.9, so 0.9 * 0.9 + 0.1 * 1.
        assert!((avg[0] - 0.91).abs() < 1e-6, "{avg:?}");
        // Running statistics are not averaged.
        assert!(!ema.values.contains_key("bn.running_mean"));
    }

    #[test]
    fn swapping_twice_restores_the_raw_weights() {
        let p = store(3.0);
        let mut ema = Ema::new(0.5, &store(7.0)).unwrap();
        ema.swap(&p).unwrap();
        assert_eq!(value(&p, "w"), 7.0);
        assert_eq!(value(&p, "bn.running_mean"), 3.0);
        ema.swap(&p).unwrap();
        assert_eq!(value(&p, "w"), 3.0);
    }

    #[test]
    fn a_checkpoint_round_trip_keeps_the_average_and_refuses_other_shapes() {
        let p = store(2.0);
        let ema = Ema::new(0.5, &p).unwrap();
        let saved: HashMap<String, Tensor> = ema.tensors().unwrap().into_iter().collect();
        assert!(in_checkpoint(&saved));
        let mut other = Ema::new(0.5, &store(0.0)).unwrap();
        other.load(&saved, &Device::Cpu).unwrap();
        assert_eq!(other.values["w"].to_vec1::<f32>().unwrap(), [2.0, 2.0]);
        let mut bad = saved.clone();
        bad.insert(
            "ema.w".into(),
            Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
        assert!(other.load(&bad, &Device::Cpu).is_err());
        bad.remove("ema.w");
        assert!(other.load(&bad, &Device::Cpu).is_err());
    }
}
