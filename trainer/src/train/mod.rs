//! The training loop: per step one generator update (D scores G(z) against "real"), then one
//! discriminator update on the real batch and the same fakes, detached, with loss
//! (real + fake) / 2. Everything random is drawn from the run's seed and the step number, so a
//! resumed run sees the batches and latents it would have seen without the interruption.

mod run;

pub use run::{run, train_loop, RunSummary};

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::checkpoint;
use crate::config::{DeviceChoice, TrainConfig};
use crate::data::{self, DataSource, Dataset};
use crate::error::{Error, Result};
use crate::export::{ExportOptions, ExportReport};
use crate::grid;
use crate::losses;
use crate::models::ema::{self, Ema};
use crate::models::{Gan, ModelSpec};
use crate::optim::Adam;

/// Latents in the fixed sample grid of an unconditional model (8 x 8).
const GRID_COUNT: usize = 64;
/// Rows of the fixed grid of a conditional model (one column per class).
const GRID_ROWS: usize = 8;
/// Points drawn for a toy model's scatter plot.
const SCATTER_POINTS: usize = 2_500;

/// Picks the compute device.
pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if !cfg!(feature = "cuda") => Err(Error::InvalidArgument(
            "--device cuda: this trainer was built without CUDA; rebuild with `--features cuda`"
                .into(),
        )),
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
            Error::InvalidArgument(format!(
                "--device cuda: no usable GPU ({})",
                first_line(&e.to_string())
            ))
        }),
        DeviceChoice::Auto => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Human name of a device, for logs and benchmark tables.
pub fn device_name(d: &Device) -> &'static str {
    if d.is_cuda() {
        "cuda:0"
    } else {
        "cpu"
    }
}

/// One batch: latents and labels for the fakes, and the real samples.
pub struct Batch {
    pub z: Tensor,
    pub fake_labels: Option<Tensor>,
    pub real: Tensor,
    pub real_labels: Option<Tensor>,
}

/// Losses and discriminator outputs of one step.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D(x) on real samples.
    pub d_real: f32,
    /// Mean D(G(z)) on the fakes, in the discriminator update.
    pub d_fake: f32,
}

/// A GAN, its optimisers and its data, ready to step.
pub struct Trainer {
    pub cfg: TrainConfig,
    pub gan: Gan,
    pub opt_g: Adam,
    pub opt_d: Adam,
    pub device: Device,
    pub step: u64,
    /// The generator's weight average (`--ema`), exported in place of the raw weights.
    pub ema: Option<Ema>,
    /// Magnification of the sample grids (`--scale`; `None`: [`grid::default_scale`]).
    pub grid_scale: Option<usize>,
    samples: Tensor,
    labels: Option<Tensor>,
    len: usize,
    order: Vec<u32>,
    order_epoch: Option<u64>,
}

/// The model shape a configuration and its data call for.
pub fn model_spec(cfg: &TrainConfig, data: &Dataset) -> ModelSpec {
    let num_classes = if cfg.conditional { data.num_classes } else { 0 };
    ModelSpec {
        arch: cfg.arch,
        latent_dim: cfg.latent_dim,
        num_classes,
        embed_dim: num_classes,
        channels: data.channels,
        height: data.height,
        width: data.width,
        pack: cfg.pack,
        toy_net: cfg.toy_net,
        g_width: cfg.width,
        d_width: cfg.d_width.unwrap_or(cfg.width),
    }
}

impl Trainer {
    /// Loads the data and builds fresh networks.
    pub fn new(mut cfg: TrainConfig, device: &Device) -> Result<Self> {
        if let DataSource::Images {
            dir,
            size,
            channels,
        } = &cfg.data
        {
            let count = data::images::count(dir)?;
            crate::budget::check_image_folder(count, *size, *channels, cfg.max_memory_gib)?;
        }
        let mut data = data::load(&cfg.data)?;
        if let (true, DataSource::Idx { dir } | DataSource::Stacked { dir, .. }) =
            (cfg.conditional, &cfg.data)
        {
            data.check_labels_dense(dir)?;
        }
        if let Some(n) = cfg.limit {
            data.truncate(n);
        }
        cfg.resolve_epochs(data.len())?;
        if cfg.conditional && data.num_classes < 2 {
            return Err(Error::InvalidArgument(format!(
                "--conditional needs at least 2 classes; the data has {}",
                data.num_classes
            )));
        }
        let spec = model_spec(&cfg, &data);
        spec.validate()?;
        let memory = crate::budget::train_memory(&spec, cfg.batch_size, data.samples.len());
        crate::budget::check_train(&memory, cfg.max_memory_gib)?;
        let gan = Gan::new(&spec, device, cfg.seed)?;
        let opt_g = Adam::new(gan.g_params.trainable(), cfg.adam)?.with_horizon(cfg.steps);
        let opt_d = Adam::new(gan.d_params.trainable(), cfg.adam)?.with_horizon(cfg.steps);
        let ema = match cfg.ema {
            0.0 => None,
            decay => Some(Ema::new(decay, &gan.g_params)?),
        };
        let len = data.len();
        let samples = Tensor::from_vec(
            data.samples,
            (len, data.channels, data.height, data.width),
            device,
        )?;
        let labels = match &data.labels {
            Some(l) if cfg.conditional => Some(Tensor::from_slice(l, len, device)?),
            _ => None,
        };
        Ok(Trainer {
            cfg,
            gan,
            opt_g,
            opt_d,
            device: device.clone(),
            step: 0,
            ema,
            grid_scale: None,
            samples,
            labels,
            len,
            order: Vec::new(),
            order_epoch: None,
        })
    }

    /// Number of training samples.
    pub fn data_len(&self) -> usize {
        self.len
    }

    /// The epoch a step belongs to.
    pub fn epoch_of(&self, step: u64) -> u64 {
        step / self.cfg.steps_per_epoch(self.len)
    }

    /// The batch of `step`: a slice of that epoch's shuffle, and latents drawn from the step's own
    /// random stream.
    pub fn batch(&mut self, step: u64) -> Result<Batch> {
        let spe = self.cfg.steps_per_epoch(self.len);
        let epoch = step / spe;
        if self.order_epoch != Some(epoch) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ 0x0053_4855_4646_4c45);
            rng.set_stream(epoch);
            self.order = (0..self.len as u32).collect();
            self.order.shuffle(&mut rng);
            self.order_epoch = Some(epoch);
        }
        let b = self.cfg.batch_size;
        let start = (step % spe) as usize * b;
        let idx = Tensor::from_slice(&self.order[start..start + b], b, &self.device)?;
        let real = self.samples.index_select(&idx, 0)?;
        let real_labels = match &self.labels {
            Some(l) => Some(l.index_select(&idx, 0)?),
            None => None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(step.wrapping_add(1 << 40));
        let z: Vec<f32> = (0..b * self.cfg.latent_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let z = Tensor::from_vec(z, (b, self.cfg.latent_dim), &self.device)?;
        let fake_labels = if self.gan.spec.conditional() {
            let k = self.gan.spec.num_classes as u32;
            let mut l: Vec<u32> = (0..b).map(|_| rng.random_range(0..k)).collect();
            if self.cfg.mode_seeking > 0.0 {
                // The mode-seeking term pairs sample i with i + b/2: same class, different z.
                let (first, second) = l.split_at_mut(b / 2);
                second[..first.len()].copy_from_slice(first);
            }
            Some(Tensor::from_vec(l, b, &self.device)?)
        } else {
            None
        };
        Ok(Batch {
            z,
            fake_labels,
            real,
            real_labels,
        })
    }

    /// The generator update; returns the fakes (to be reused, detached, by D) and G's loss.
    pub fn generator_update(&mut self, batch: &Batch) -> Result<(Tensor, Tensor)> {
        let fake = self
            .gan
            .g
            .forward_t(&batch.z, batch.fake_labels.as_ref(), true)?;
        // D's parameters as constants: only G's gradients are computed and used.
        let d = self.gan.d.frozen();
        let logits = d.forward(&fake, batch.fake_labels.as_ref())?;
        let g_loss = losses::generator_loss(self.cfg.loss, &logits)?;
        let grads = if self.cfg.mode_seeking > 0.0 {
            let ms = losses::mode_seeking(&fake, &batch.z)?;
            (&g_loss + (ms * self.cfg.mode_seeking)?)?.backward()?
        } else {
            g_loss.backward()?
        };
        self.opt_g.step(&grads)?;
        Ok((fake, g_loss))
    }

    /// The discriminator update on the real batch and the detached fakes; returns
    /// (loss, mean D(x), mean D(G(z))).
    pub fn discriminator_update(
        &mut self,
        batch: &Batch,
        fake: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        // One logit per pack; the batch is a multiple of the pack, so no pack mixes real and fake.
        let b = self.cfg.batch_size / self.cfg.pack;
        // D has no batch norm, so one pass over real and fake together is the same computation.
        let both = Tensor::cat(&[&batch.real, &fake.detach()], 0)?;
        let labels = match (&batch.real_labels, &batch.fake_labels) {
            (Some(r), Some(f)) => Some(Tensor::cat(&[r, f], 0)?),
            _ => None,
        };
        let logits = self.gan.d.forward(&both, labels.as_ref())?;
        let (real_logits, fake_logits) = (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?);
        let d_loss = losses::discriminator_loss(&real_logits, &fake_logits)?;
        let grads = d_loss.backward()?;
        self.opt_d.step(&grads)?;
        let d_real = candle_nn::ops::sigmoid(&real_logits.detach())?.mean_all()?;
        let d_fake = candle_nn::ops::sigmoid(&fake_logits.detach())?.mean_all()?;
        Ok((d_loss, d_real, d_fake))
    }

    /// One full training step at `self.step`.
    pub fn train_step(&mut self) -> Result<StepStats> {
        let batch = self.batch(self.step)?;
        let (fake, g_loss) = self.generator_update(&batch)?;
        if let Some(ema) = &mut self.ema {
            ema.update(&self.gan.g_params, self.step)?;
        }
        let (d_loss, d_real, d_fake) = self.discriminator_update(&batch, &fake)?;
        self.step += 1;
        let scalars = Tensor::stack(&[&d_loss, &g_loss, &d_real, &d_fake], 0)?.to_vec1::<f32>()?;
        Ok(StepStats {
            d_loss: scalars[0],
            g_loss: scalars[1],
            d_real: scalars[2],
            d_fake: scalars[3],
        })
    }

    /// Latents and classes of the fixed sample grid: the same for every picture of a run.
    pub fn grid_inputs(&self) -> Result<(Tensor, Option<Tensor>, usize)> {
        let spec = &self.gan.spec;
        let (count, cols) = if spec.conditional() {
            (spec.num_classes * GRID_ROWS, spec.num_classes)
        } else if self.is_toy() {
            (SCATTER_POINTS, 1)
        } else {
            (GRID_COUNT, 8)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(u64::MAX);
        let z: Vec<f32> = (0..count * spec.latent_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let z = Tensor::from_vec(z, (count, spec.latent_dim), &self.device)?;
        let labels = if spec.conditional() {
            let l: Vec<u32> = (0..count).map(|i| (i % spec.num_classes) as u32).collect();
            Some(Tensor::from_vec(l, count, &self.device)?)
        } else {
            None
        };
        Ok((z, labels, cols))
    }

    fn is_toy(&self) -> bool {
        matches!(self.cfg.data, DataSource::Toy { .. })
    }

    /// Writes a checkpoint of both networks and optimisers at the current step into `run`.
    pub fn save_checkpoint(&self, run: &Path) -> Result<PathBuf> {
        let opts = (&self.opt_g, &self.opt_d);
        checkpoint::save(run, &self.gan, opts, self.ema.as_ref(), self.step)
    }

    /// Exports the generator at the current step (the end of `trainer train`): its weight average
    /// when the run keeps one.
    pub fn export(&mut self, opts: &ExportOptions) -> Result<ExportReport> {
        self.with_exported_weights(|t| {
            crate::export::export_run(&t.gan, Some(&t.cfg), t.step, opts)
        })
    }

    /// Runs `f` with the generator holding the weights that are exported: the average when the
    /// run keeps one, with its batch-norm statistics measured (the raw weights and statistics are
    /// put back afterwards, whatever `f` returns).
    fn with_exported_weights<T>(&mut self, f: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        let Some(mut ema) = self.ema.take() else {
            return f(self);
        };
        let raw = self.gan.g_params.all().clone();
        let raw: Vec<(Var, Tensor)> = raw
            .into_values()
            .map(|v| Ok((v.clone(), v.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        let swapped = ema.swap(&self.gan.g_params);
        let out = swapped
            .and_then(|()| ema::recalibrate(&self.gan))
            .and_then(|()| f(self));
        // The raw values back; the average back into `ema`.
        let back = ema
            .swap(&self.gan.g_params)
            .and_then(|()| raw.iter().try_for_each(|(var, value)| Ok(var.set(value)?)));
        self.ema = Some(ema);
        let out = out?;
        back?;
        Ok(out)
    }

    /// Writes the fixed grid (evaluation-mode batch norm, as the board will draw, and the weight
    /// average when the run keeps one) to `path`.
    pub fn save_samples(&mut self, path: &Path) -> Result<()> {
        self.with_exported_weights(|t| t.write_grid(path))
    }

    fn write_grid(&self, path: &Path) -> Result<()> {
        let (z, labels, cols) = self.grid_inputs()?;
        let out = self.gan.g.forward_t(&z, labels.as_ref(), false)?;
        let count = out.dim(0)?;
        let values = out.flatten_all()?.to_vec1::<f32>()?;
        if let DataSource::Toy { kind } = self.cfg.data {
            let extent = if kind == crate::data::toy::ToyKind::Ring8 {
                3.0
            } else {
                12.0
            };
            return grid::save_scatter(path, &values, &kind.modes(), extent);
        }
        let s = &self.gan.spec;
        let bytes: Vec<u8> = values.iter().map(|&v| grid::tanh_to_u8(v)).collect();
        let tiles = grid::Tiles {
            count,
            c: s.channels,
            h: s.height,
            w: s.width,
            cols,
            scale: self
                .grid_scale
                .unwrap_or_else(|| grid::default_scale(s.height, s.width)),
        };
        grid::save_grid(path, &bytes, &tiles)
    }
}
