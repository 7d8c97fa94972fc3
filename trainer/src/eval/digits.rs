//! Generated digits measured with the digit classifier: which digits a generator draws (mode
//! collapse and mode dropping), how sure the classifier is, and how far the images are from real
//! held-out digits in the classifier's feature space.
//!
//! Every source ends as 28x28 grey bytes (0 = background) before it meets the classifier, so a
//! generator file, a run and a folder of PNGs are all measured with the same ruler.

use std::path::Path;

use serde::Serialize;

use super::classifier::{Classifier, CLASSES, FEATURES, PIXELS, SIDE};
use super::frechet::{frechet_distance, FeatureStats};
use super::stats;
use crate::error::{Error, Result};

/// Images to evaluate, with the class each was asked to be when a conditional generator drew it.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// `n * 784` grey bytes, 0 = background.
    pub pixels: Vec<u8>,
    /// The requested class of each image, for conditional generators.
    pub asked: Option<Vec<usize>>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / PIXELS
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// Real digits as the yardstick: the class distribution of the training data and the feature
/// statistics of held-out images the classifier never saw.
pub struct RealReference {
    /// Share of each class in the real data.
    pub class_distribution: Vec<f64>,
    /// Classifier features of the held-out real images.
    pub heldout: FeatureStats,
}

/// The bundled (or any IDX) digits as bytes and labels.
pub struct Digits {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no digit.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Splits off `holdout` digits for testing: the last occurrences of each class, as many of each
    /// as its share of the data (largest-remainder rounding), so both parts keep the real class
    /// distribution. Not simply the last digits: the bundled file interleaves classes until the
    /// rarest (863 fives) runs out, so its tail holds no five at all.
    pub fn split(&self, holdout: usize) -> Result<(Digits, Digits)> {
        if holdout < 2 || holdout >= self.len() {
            return Err(Error::InvalidArgument(format!(
                "--holdout {holdout} must be at least 2 and less than the {} digits",
                self.len()
            )));
        }
        let mut counts = [0usize; CLASSES];
        for &l in &self.labels {
            counts[usize::from(l).min(CLASSES - 1)] += 1;
        }
        let n = self.len();
        let mut quota: Vec<usize> = counts.iter().map(|&c| c * holdout / n).collect();
        let mut by_remainder: Vec<usize> = (0..CLASSES).collect();
        by_remainder.sort_by_key(|&c| std::cmp::Reverse((counts[c] * holdout) % n));
        let missing = holdout - quota.iter().sum::<usize>();
        for &c in by_remainder.iter().take(missing) {
            quota[c] += 1;
        }
        let mut held = vec![false; n];
        for (i, &l) in self.labels.iter().enumerate().rev() {
            let q = &mut quota[usize::from(l).min(CLASSES - 1)];
            if *q > 0 {
                *q -= 1;
                held[i] = true;
            }
        }
        let part = |keep: bool| {
            let mut d = Digits {
                pixels: Vec::new(),
                labels: Vec::new(),
            };
            for (i, &h) in held.iter().enumerate() {
                if h == keep {
                    d.pixels
                        .extend_from_slice(&self.pixels[i * PIXELS..(i + 1) * PIXELS]);
                    d.labels.push(self.labels[i]);
                }
            }
            d
        };
        Ok((part(false), part(true)))
    }
}

/// Loads labelled 28x28 digits from an IDX directory through the trainer's data reader.
pub fn load_digits(dir: &Path) -> Result<Digits> {
    let data = crate::data::load_idx_dir(dir)?;
    if (data.channels, data.height, data.width) != (1, SIDE, SIDE) {
        return Err(Error::InvalidArgument(format!(
            "{}: the digit classifier needs 28x28 grey images, these are {}x{}",
            dir.display(),
            data.height,
            data.width
        )));
    }
    let labels = data.labels.unwrap_or_default();
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(Error::ClassOutOfRange {
            class: bad as usize,
            classes: CLASSES,
        });
    }
    Ok(Digits {
        pixels: signed_to_bytes(&data.samples),
        labels: labels.iter().map(|&l| l as u8).collect(),
    })
}

/// The data reader's [-1, 1] values back to the bytes they came from.
pub(super) fn signed_to_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect()
}

impl RealReference {
    /// Builds the reference from all labels (the distribution the generator was trained on) and
    /// the held-out images.
    pub fn new(
        classifier: &Classifier,
        all_labels: &[u8],
        heldout: &Digits,
    ) -> Result<RealReference> {
        let labels: Vec<usize> = all_labels.iter().map(|&l| usize::from(l)).collect();
        let hist = stats::class_histogram(&labels, CLASSES)?;
        let verdicts = classifier.classify(&heldout.pixels)?;
        Ok(RealReference {
            class_distribution: stats::normalize(&hist),
            heldout: FeatureStats::from_rows(&verdicts.features, FEATURES)?,
        })
    }
}

/// The figures for one set of images.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageScore {
    /// Where the images came from.
    pub source: String,
    /// Number of images.
    pub images: usize,
    /// Images the classifier assigns to each digit 0..9.
    pub histogram: Vec<usize>,
    /// Digits holding at least [`stats::COVERED_MIN_SHARE`] of the images.
    pub classes_covered: usize,
    /// `KL(generated class histogram || real class distribution)`, nats.
    pub kl_to_real: f64,
    /// For a conditional generator: share of images classified as the class asked for.
    pub conditional_accuracy: Option<f64>,
    /// Frechet distance to the held-out real digits in classifier features.
    pub frechet_distance: f64,
    /// Mean of the classifier's top probability.
    pub mean_confidence: f64,
}

/// Measures `set` against `reference`.
pub fn score(
    source: &str,
    set: &ImageSet,
    classifier: &Classifier,
    reference: &RealReference,
) -> Result<ImageScore> {
    if set.len() < 2 {
        return Err(Error::TooFewSamples {
            what: "images",
            needed: 2,
            got: set.len(),
        });
    }
    let verdicts = classifier.classify(&set.pixels)?;
    let histogram = stats::class_histogram(&verdicts.predicted, CLASSES)?;
    let conditional_accuracy = match &set.asked {
        Some(asked) => Some(stats::conditional_accuracy(&verdicts.predicted, asked)?),
        None => None,
    };
    let features = FeatureStats::from_rows(&verdicts.features, FEATURES)?;
    Ok(ImageScore {
        source: source.to_string(),
        images: set.len(),
        classes_covered: stats::classes_covered(&histogram, stats::COVERED_MIN_SHARE),
        kl_to_real: stats::kl_divergence(
            &stats::normalize(&histogram),
            &reference.class_distribution,
        )?,
        histogram,
        conditional_accuracy,
        frechet_distance: frechet_distance(&features, &reference.heldout)?,
        mean_confidence: stats::mean_confidence(&verdicts.probs, CLASSES)?,
    })
}

/// Reads images made elsewhere: a file of raw 28x28 grey bytes (`n * 784`, as `trainer sample
/// --format raw` writes) or a folder of PNG/JPEG images (converted to grey, resized to 28x28).
pub fn load_images(path: &Path) -> Result<ImageSet> {
    let pixels = if path.is_dir() {
        let data = crate::data::images::load_dir(path, SIDE, 1)?;
        signed_to_bytes(&data.samples)
    } else {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.is_empty() || !bytes.len().is_multiple_of(PIXELS) {
            return Err(Error::Image {
                path: path.into(),
                reason: format!(
                    "{} bytes is not a whole number of 28x28 grey images ({PIXELS} bytes each)",
                    bytes.len()
                ),
            });
        }
        bytes
    };
    Ok(ImageSet {
        pixels,
        asked: None,
    })
}

/// Generates `count` images with the runtime from a generator file, latents from
/// `LatentRng::new(seed)`, classes cycled 0, 1, .. for a conditional generator.
pub fn generate(model_bytes: &[u8], path: &Path, count: usize, seed: u64) -> Result<ImageSet> {
    let (pixels, asked) = draw(model_bytes, path, count, seed, 1)?;
    Ok(ImageSet { pixels, asked })
}

/// Draws `count` images of `channels` x 28 x 28 with the runtime as grey bytes, channels first,
/// with the class each was asked to be when the generator is conditional.
pub fn draw(
    model_bytes: &[u8],
    path: &Path,
    count: usize,
    seed: u64,
    channels: usize,
) -> Result<(Vec<u8>, Option<Vec<usize>>)> {
    let bad = |reason: String| Error::Model {
        path: path.into(),
        reason,
    };
    let g = runtime::Generator::load(model_bytes).map_err(|e| bad(e.to_string()))?;
    let shape = g.output_shape();
    if (shape.c, shape.h, shape.w) != (channels, SIDE, SIDE) {
        return Err(bad(format!(
            "draws {}x{}x{} images; the digit classifier reads 1x28x28 digits or 3x28x28 \
             stacked digits, and this needs {channels}x28x28",
            shape.c, shape.h, shape.w
        )));
    }
    let classes = g.num_classes();
    if classes > CLASSES && channels == 1 {
        return Err(bad(format!(
            "has {classes} classes; the digit classifier knows {CLASSES}"
        )));
    }
    let image_len = channels * PIXELS;
    // The classifier's features of every image are held too (a few hundred floats each).
    let needed = crate::budget::runtime_bytes(&g).saturating_add(
        count as u64 * channels as u64 * (PIXELS as u64 + 4 * super::classifier::FEATURES as u64),
    );
    crate::budget::check("eval", needed, crate::budget::SAMPLE, "lower --count")?;
    let act = g.output_activation();
    let mut rng = runtime::rng::LatentRng::new(seed);
    let mut z = vec![0.0f32; g.latent_dim()];
    let mut scratch = vec![0.0f32; g.scratch_len()];
    let mut out = vec![0.0f32; g.output_len()];
    let mut pixels = vec![0u8; count * image_len];
    let mut asked = Vec::with_capacity(count);
    // Weights reordered once for the fastest kernels (same images).
    let mut prepared = vec![0f32; g.prepared_len()];
    let g = g.prepare(&mut prepared).map_err(|e| bad(e.to_string()))?;
    for (i, img) in pixels.chunks_exact_mut(image_len).enumerate() {
        rng.fill_normal(&mut z);
        let class = (classes > 0).then_some(i % classes.max(1));
        g.generate(&z, class, &mut scratch, &mut out)
            .map_err(|e| bad(e.to_string()))?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteOutput { image: i });
        }
        runtime::output::to_grey_u8(&out, act, img);
        if let Some(c) = class {
            asked.push(c);
        }
    }
    Ok((pixels, (classes > 0).then_some(asked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_round_trip_through_the_data_scale() {
        let bytes: Vec<u8> = (0..=255).collect();
        let signed: Vec<f32> = bytes.iter().map(|&b| b as f32 / 127.5 - 1.0).collect();
        assert_eq!(signed_to_bytes(&signed), bytes);
    }

    #[test]
    fn split_holds_out_each_class_in_proportion() {
        // 6 zeros then 3 ones then 1 two, a tail with a single class.
        let labels = vec![0u8, 0, 0, 0, 0, 0, 1, 1, 1, 2];
        let d = Digits {
            pixels: (0..labels.len() * PIXELS)
                .map(|i| (i / PIXELS) as u8)
                .collect(),
            labels,
        };
        let (train, held) = d.split(5).unwrap();
        // Quotas 3, 1.5, 0.5 -> 3, 2, 0 (ties broken towards the lower class).
        assert_eq!(held.labels, vec![0, 0, 0, 1, 1]);
        assert_eq!(train.labels, vec![0, 0, 0, 1, 2]);
        // The held-out zeros are the last three, in order.
        assert_eq!(held.pixels[0], 3);
        assert_eq!(held.len() + train.len(), d.len());
        assert!(d.split(10).is_err());
        assert!(d.split(1).is_err());
    }

    #[test]
    fn raw_files_must_hold_whole_images() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.raw");
        std::fs::write(&good, vec![7u8; 2 * PIXELS]).unwrap();
        let set = load_images(&good).unwrap();
        assert_eq!(set.len(), 2);
        let bad = dir.path().join("bad.raw");
        std::fs::write(&bad, vec![7u8; PIXELS + 1]).unwrap();
        assert!(matches!(load_images(&bad), Err(Error::Image { .. })));
        assert!(matches!(
            load_images(&dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
    }
}
