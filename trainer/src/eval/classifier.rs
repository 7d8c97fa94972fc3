//! The digit classifier that serves as the yardstick for generated digits: a small CNN trained by
//! the trainer itself on the bundled digits, so no weights are downloaded and anyone can rebuild it.
//!
//! Its penultimate layer (128 features after ReLU) is the feature space of the Frechet distance.
//! Every image reaches it the same way, as 28x28 grey bytes where 0 is the background (as the
//! runtime's `to_grey_u8` writes them), scaled to [0, 1]: generated, bundled and foreign images
//! are measured with one ruler.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Conv2d, Linear, Module, Optimizer, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Side of the square input images.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (digits 0..9).
pub const CLASSES: usize = 10;
/// Width of the penultimate layer, the feature space of the Frechet distance.
pub const FEATURES: usize = 128;
/// `format` metadata value that identifies a classifier file.
pub const FORMAT: &str = "microgan-digits-classifier";
/// `format_version` this code writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Images per forward pass when classifying: bounds memory, not results.
const EVAL_BATCH: usize = 500;

/// conv(1->16, 5x5) -> ReLU -> maxpool 2 -> conv(16->32, 5x5) -> ReLU -> maxpool 2 ->
/// dense(512->128) -> ReLU (features) -> dense(128->10) (logits).
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
    device: Device,
}

/// What the classifier says about a set of images, row-major per image.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Softmax probabilities, `[n, CLASSES]`.
    pub probs: Vec<f32>,
    /// Most probable class of each image.
    pub predicted: Vec<usize>,
    /// Penultimate-layer features, `[n, FEATURES]`.
    pub features: Vec<f32>,
}

impl Classifier {
    /// Builds the network from `vb` (names `conv1`, `conv2`, `fc1`, `fc2`).
    pub fn new(vb: VarBuilder) -> candle_core::Result<Classifier> {
        let cfg = candle_nn::Conv2dConfig::default();
        Ok(Classifier {
            conv1: candle_nn::conv2d(1, 16, 5, cfg, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(16, 32, 5, cfg, vb.pp("conv2"))?,
            fc1: candle_nn::linear(32 * 4 * 4, FEATURES, vb.pp("fc1"))?,
            fc2: candle_nn::linear(FEATURES, CLASSES, vb.pp("fc2"))?,
            device: vb.device().clone(),
        })
    }

    /// Features and logits for `x`, a `[n, 1, 28, 28]` batch in [0, 1].
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let h = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let h = self.conv2.forward(&h)?.relu()?.max_pool2d(2)?;
        let features = self.fc1.forward(&h.flatten_from(1)?)?.relu()?;
        let logits = self.fc2.forward(&features)?;
        Ok((features, logits))
    }

    /// Loads a classifier file written by [`save`], checking that it is one.
    pub fn load(path: &Path, device: &Device) -> Result<Classifier> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |reason: String| Error::Classifier {
            path: path.into(),
            reason,
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match meta.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            Some(other) => return Err(bad(format!("format is {other:?}, not {FORMAT:?}"))),
            None => return Err(bad(format!("no format metadata: not a {FORMAT} file"))),
        }
        let version = meta
            .get("format_version")
            .map(String::as_str)
            .unwrap_or("(none)");
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version} (this trainer reads {FORMAT_VERSION})"
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| bad(first_line(&e.to_string())))?;
        for (name, t) in &tensors {
            if t.dtype() != DType::F32 {
                return Err(bad(format!(
                    "tensor {name} is {:?}, expected F32",
                    t.dtype()
                )));
            }
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = Classifier::new(vb).map_err(|e| bad(first_line(&e.to_string())))?;
        Ok(model)
    }

    /// Classifies `images` (`n * 784` grey bytes, 0 = background).
    pub fn classify(&self, images: &[u8]) -> Result<Verdicts> {
        if images.is_empty() || !images.len().is_multiple_of(PIXELS) {
            return Err(Error::DimensionMismatch {
                what: "28x28 image bytes",
                left: images.len(),
                right: PIXELS,
            });
        }
        let n = images.len() / PIXELS;
        let mut out = Verdicts {
            probs: Vec::with_capacity(n * CLASSES),
            predicted: Vec::with_capacity(n),
            features: Vec::with_capacity(n * FEATURES),
        };
        for chunk in images.chunks(EVAL_BATCH * PIXELS) {
            let x = to_input(chunk, &self.device)?;
            let (features, logits) = self.forward(&x)?;
            let probs = candle_nn::ops::softmax(&logits, D::Minus1)?;
            out.predicted.extend(
                logits
                    .argmax(D::Minus1)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|c| c as usize),
            );
            out.probs.extend(probs.flatten_all()?.to_vec1::<f32>()?);
            out.features
                .extend(features.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// candle errors can carry multi-line backtraces; a user gets one line.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Grey bytes to a `[n, 1, 28, 28]` f32 tensor in [0, 1].
fn to_input(images: &[u8], device: &Device) -> Result<Tensor> {
    let n = images.len() / PIXELS;
    let data: Vec<f32> = images.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(Tensor::from_vec(data, (n, 1, SIDE, SIDE), device)?)
}

/// How the classifier is trained.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate at the start (it decays to a tenth by the last epoch).
    pub lr: f64,
    /// Seeds the initial weights, the shuffling and the augmentation.
    pub seed: u64,
    /// Largest shift, in pixels on each axis, of the random translations used as augmentation.
    pub max_shift: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 6,
            batch_size: 64,
            lr: 1e-3,
            seed: 0,
            max_shift: 2,
        }
    }
}

/// A trained classifier with the variables that [`save`] writes.
pub struct Trained {
    pub model: Classifier,
    pub vars: VarMap,
}

/// Trains a classifier on `images` (`n * 784` bytes) with `labels` (`n`, each < 10). `progress`
/// is called after every epoch with (epoch, mean training loss).
pub fn train(
    images: &[u8],
    labels: &[u8],
    cfg: &TrainConfig,
    device: &Device,
    mut progress: impl FnMut(usize, f32),
) -> Result<Trained> {
    let n = labels.len();
    if n == 0 || images.len() != n * PIXELS {
        return Err(Error::DimensionMismatch {
            what: "images and labels",
            left: images.len(),
            right: n * PIXELS,
        });
    }
    if let Some(&bad) = labels.iter().find(|&&l| usize::from(l) >= CLASSES) {
        return Err(Error::ClassOutOfRange {
            class: usize::from(bad),
            classes: CLASSES,
        });
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::InvalidArgument(
            "classifier epochs and batch size must be at least 1".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let vars = VarMap::new();
    let model = Classifier::new(VarBuilder::from_varmap(&vars, DType::F32, device))?;
    seeded_init(&vars, &mut rng, device)?;
    let params = candle_nn::ParamsAdamW {
        lr: cfg.lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = candle_nn::AdamW::new(vars.all_vars(), params)?;
    let mut order: Vec<usize> = (0..n).collect();
    let mut batch = Vec::with_capacity(cfg.batch_size * PIXELS);
    let mut batch_labels = Vec::with_capacity(cfg.batch_size);
    for epoch in 0..cfg.epochs {
        // Exponential decay from lr to lr / 10 over the run: fast early progress, then the last
        // epochs settle instead of bouncing around the minimum.
        let progress_frac = epoch as f64 / (cfg.epochs.max(2) - 1) as f64;
        opt.set_learning_rate(cfg.lr * 0.1f64.powf(progress_frac));
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f32;
        let mut steps = 0usize;
        for idx in order.chunks(cfg.batch_size) {
            batch.clear();
            batch_labels.clear();
            for &i in idx {
                let dx = rng.random_range(0..=2 * cfg.max_shift) as isize - cfg.max_shift as isize;
                let dy = rng.random_range(0..=2 * cfg.max_shift) as isize - cfg.max_shift as isize;
                shift_into(&images[i * PIXELS..(i + 1) * PIXELS], dx, dy, &mut batch);
                batch_labels.push(u32::from(labels[i]));
            }
            let x = to_input(&batch, device)?;
            let y = Tensor::from_slice(&batch_labels, batch_labels.len(), device)?;
            let (_, logits) = model.forward(&x)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()?;
            steps += 1;
        }
        progress(epoch + 1, loss_sum / steps.max(1) as f32);
    }
    Ok(Trained { model, vars })
}

/// He-uniform weights and zero biases from `rng`, so that a seed gives the same classifier (candle's
/// own initialisers draw from an unseeded generator).
fn seeded_init(vars: &VarMap, rng: &mut ChaCha8Rng, device: &Device) -> Result<()> {
    let mut shapes: Vec<(String, Vec<usize>)> = {
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::InvalidArgument("classifier variables are poisoned".into()))?;
        data.iter()
            .map(|(k, v)| (k.clone(), v.dims().to_vec()))
            .collect()
    };
    shapes.sort();
    let mut values = Vec::with_capacity(shapes.len());
    for (name, dims) in shapes {
        let count: usize = dims.iter().product();
        let data: Vec<f32> = if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let bound = (6.0 / fan_in as f32).sqrt();
            (0..count)
                .map(|_| rng.random_range(-bound..bound))
                .collect()
        } else {
            vec![0.0; count]
        };
        values.push((name, Tensor::from_vec(data, dims, device)?));
    }
    let mut vars = vars.clone();
    vars.set(values.iter().map(|(k, v)| (k, v)))?;
    Ok(())
}

/// Appends `img` translated by (dx, dy) pixels, filling with background.
fn shift_into(img: &[u8], dx: isize, dy: isize, out: &mut Vec<u8>) {
    let side = SIDE as isize;
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = (x - dx, y - dy);
            let v = if (0..side).contains(&sx) && (0..side).contains(&sy) {
                img[(sy * side + sx) as usize]
            } else {
                0
            };
            out.push(v);
        }
    }
}

/// Fraction of `labels` that `verdicts` predicts correctly.
pub fn accuracy(verdicts: &Verdicts, labels: &[u8]) -> Result<f64> {
    let asked: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    super::stats::conditional_accuracy(&verdicts.predicted, &asked)
}

/// Writes the classifier with metadata that identifies it and records how it was made.
pub fn save(vars: &VarMap, path: &Path, provenance: &[(&str, String)]) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = {
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::InvalidArgument("classifier variables are poisoned".into()))?;
        let mut v: Vec<(String, Tensor)> = data
            .iter()
            .map(|(k, var)| (k.clone(), var.as_tensor().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("format_version".into(), FORMAT_VERSION.into());
    meta.insert(
        "input".into(),
        "1x28x28 grey, 0 = background, bytes / 255".into(),
    );
    meta.insert("classes".into(), CLASSES.to_string());
    meta.insert("features".into(), FEATURES.to_string());
    for (k, v) in provenance {
        meta.insert(format!("provenance.{k}"), v.clone());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let bytes = safetensors::serialize(tensors, Some(meta)).map_err(|e| Error::Classifier {
        path: path.into(),
        reason: format!("cannot write: {e}"),
    })?;
    crate::output_file::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_moves_pixels_and_fills_background() {
        let mut img = vec![0u8; PIXELS];
        img[5 * SIDE + 7] = 200;
        let mut out = Vec::new();
        shift_into(&img, 2, -1, &mut out);
        assert_eq!(out.len(), PIXELS);
        assert_eq!(out[4 * SIDE + 9], 200);
        assert_eq!(out.iter().filter(|&&v| v != 0).count(), 1);
        out.clear();
        shift_into(&img, 0, 0, &mut out);
        assert_eq!(out, img);
    }

    #[test]
    fn forward_shapes_and_bad_inputs() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let model = Classifier::new(VarBuilder::from_varmap(&vars, DType::F32, &dev)).unwrap();
        let v = model.classify(&vec![0u8; 3 * PIXELS]).unwrap();
        assert_eq!(v.predicted.len(), 3);
        assert_eq!(v.probs.len(), 3 * CLASSES);
        assert_eq!(v.features.len(), 3 * FEATURES);
        for row in v.probs.chunks(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!(matches!(
            model.classify(&[0u8; 100]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            model.classify(&[]),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn training_rejects_bad_labels() {
        let dev = Device::Cpu;
        let cfg = TrainConfig {
            epochs: 1,
            ..Default::default()
        };
        let r = train(&vec![0u8; 2 * PIXELS], &[1, 10], &cfg, &dev, |_, _| {});
        assert!(matches!(r, Err(Error::ClassOutOfRange { class: 10, .. })));
        let r = train(&vec![0u8; PIXELS], &[1, 2], &cfg, &dev, |_, _| {});
        assert!(matches!(r, Err(Error::DimensionMismatch { .. })));
    }
}
