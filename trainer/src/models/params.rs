//! Named parameters of one network, initialised from the run's seeded RNG.
//!
//! candle's own initialisers draw from an unseeded RNG on the CPU, so a run could not be repeated;
//! here every value comes from the caller's `ChaCha8Rng`. Batch-norm running statistics live here
//! too, marked as not trainable, so checkpoints and export see one map.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};

/// The parameters (and buffers) of one network, by name.
#[derive(Debug)]
pub struct ParamStore {
    device: Device,
    vars: BTreeMap<String, Var>,
    trainable: BTreeSet<String>,
}

impl ParamStore {
    /// An empty store on `device`.
    pub fn new(device: &Device) -> Self {
        ParamStore {
            device: device.clone(),
            vars: BTreeMap::new(),
            trainable: BTreeSet::new(),
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn insert(
        &mut self,
        name: &str,
        data: Vec<f32>,
        shape: &[usize],
        trainable: bool,
    ) -> Result<Var> {
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &self.device)?)?;
        self.vars.insert(name.to_string(), var.clone());
        if trainable {
            self.trainable.insert(name.to_string());
        }
        Ok(var)
    }

    /// A trainable tensor drawn uniformly from [-bound, bound], as PyTorch initialises layers.
    pub fn uniform(
        &mut self,
        name: &str,
        shape: &[usize],
        bound: f32,
        rng: &mut ChaCha8Rng,
    ) -> Result<Var> {
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.random_range(-bound..=bound)).collect();
        self.insert(name, data, shape, true)
    }

    /// A trainable tensor drawn from N(0, 1), as PyTorch initialises embeddings.
    pub fn normal(&mut self, name: &str, shape: &[usize], rng: &mut ChaCha8Rng) -> Result<Var> {
        let n = shape.iter().product();
        let data = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        self.insert(name, data, shape, true)
    }

    /// A tensor filled with `value`; `trainable` false for running statistics.
    pub fn constant(
        &mut self,
        name: &str,
        shape: &[usize],
        value: f32,
        trainable: bool,
    ) -> Result<Var> {
        let n = shape.iter().product();
        self.insert(name, vec![value; n], shape, trainable)
    }

    /// Redraws an existing tensor from N(mean, std^2).
    pub fn redraw_normal(
        &self,
        name: &str,
        mean: f32,
        std: f32,
        rng: &mut ChaCha8Rng,
    ) -> Result<()> {
        let var = self.vars.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!("internal: no parameter named {name}"))
        })?;
        let data: Vec<f32> = (0..var.elem_count())
            .map(|_| {
                let n: f32 = StandardNormal.sample(rng);
                mean + std * n
            })
            .collect();
        var.set(&Tensor::from_vec(data, var.dims(), &self.device)?)?;
        Ok(())
    }

    /// The trainable variables, sorted by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.vars
            .iter()
            .filter(|(k, _)| self.trainable.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every tensor (parameters and buffers), sorted by name.
    pub fn all(&self) -> &BTreeMap<String, Var> {
        &self.vars
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The value of one tensor as a flat f32 vector.
    pub fn values(&self, name: &str) -> Result<Vec<f32>> {
        let var = self.vars.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!("internal: no parameter named {name}"))
        })?;
        Ok(var
            .as_tensor()
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1()?)
    }

    /// Replaces every tensor with the one of the same name in `tensors` (after `prefix`), checking
    /// that names and shapes match exactly so a checkpoint of another architecture is refused.
    pub fn load(
        &self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
    ) -> std::result::Result<(), String> {
        let theirs: BTreeSet<&str> = tensors
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .collect();
        let ours: BTreeSet<&str> = self.vars.keys().map(String::as_str).collect();
        if theirs != ours {
            let missing: Vec<_> = ours.difference(&theirs).take(3).collect();
            let extra: Vec<_> = theirs.difference(&ours).take(3).collect();
            return Err(format!(
                "its {prefix}* tensors do not match this architecture (missing {missing:?}, unexpected {extra:?})"
            ));
        }
        for (name, var) in &self.vars {
            let t = &tensors[&format!("{prefix}{name}")];
            if t.dims() != var.dims() {
                return Err(format!(
                    "tensor {prefix}{name} has shape {:?}, this model needs {:?}",
                    t.dims(),
                    var.dims()
                ));
            }
            let t = t
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(&self.device))
                .map_err(|e| e.to_string())?;
            var.set(&t).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
