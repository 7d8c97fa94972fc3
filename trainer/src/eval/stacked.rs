//! Stacked MNIST scored as VEEGAN and PacGAN score it: each of an image's three channels is read by
//! the digit classifier, the three digits make one of 1,000 modes, and a generator is judged by
//! the modes it captures (at least one image) and the KL divergence of its mode histogram to the
//! uniform distribution; the Frechet distance of each channel to held-out real digits adds how
//! digit-like each channel is.

use std::path::Path;

use serde::Serialize;

use super::classifier::{Classifier, FEATURES, PIXELS, SIDE};
use super::digits::{self, Digits};
use super::frechet::{frechet_distance, FeatureStats};
use super::report::{aggregate, fmt_agg, shorten, Aggregate};
use super::stats;
use crate::data::stacked::{draw_indices, mode_of, MODES, STACK};
use crate::error::{Error, Result};

/// Images the published protocol scores each generator with.
pub const PROTOCOL_COUNT: usize = 26_000;

/// Stacked images as grey bytes: `n * 3 * 784`, channels first, 0 = background.
#[derive(Debug, Clone)]
pub struct StackedSet {
    pub pixels: Vec<u8>,
}

impl StackedSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (STACK * PIXELS)
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Channel `k` of every image, one 28x28 grey image after another.
    fn channel(&self, k: usize) -> Vec<u8> {
        self.pixels
            .chunks_exact(STACK * PIXELS)
            .flat_map(|img| &img[k * PIXELS..(k + 1) * PIXELS])
            .copied()
            .collect()
    }
}

/// `count` real stacked images from `digits`, drawn with `seed` as `train --stack 3` draws them.
pub fn real(digits: &Digits, count: usize, seed: u64) -> Result<StackedSet> {
    let mut pixels = Vec::with_capacity(count * STACK * PIXELS);
    for row in draw_indices(digits.len(), count, seed)? {
        for i in row {
            pixels.extend_from_slice(&digits.pixels[i * PIXELS..(i + 1) * PIXELS]);
        }
    }
    Ok(StackedSet { pixels })
}

/// Draws `count` images from a 3x28x28 generator file with the runtime, latents from
/// `LatentRng::new(seed)`.
pub fn generate(model_bytes: &[u8], path: &Path, count: usize, seed: u64) -> Result<StackedSet> {
    let (pixels, _) = digits::draw(model_bytes, path, count, seed, STACK)?;
    Ok(StackedSet { pixels })
}

/// Reads stacked images made elsewhere: a folder of RGB PNG/JPEG images (resized to 28x28) or a
/// raw file of 28x28x3 bytes per image, channels last, as `trainer sample --format raw` writes.
pub fn load_images(path: &Path) -> Result<StackedSet> {
    if path.is_dir() {
        let data = crate::data::images::load_dir(path, SIDE, STACK)?;
        return Ok(StackedSet {
            pixels: digits::signed_to_bytes(&data.samples),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let image_len = STACK * PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(image_len) {
        return Err(Error::Image {
            path: path.into(),
            reason: format!(
                "{} bytes is not a whole number of 28x28x3 images ({image_len} bytes each)",
                bytes.len()
            ),
        });
    }
    let mut pixels = vec![0u8; bytes.len()];
    for (hwc, chw) in bytes
        .chunks_exact(image_len)
        .zip(pixels.chunks_exact_mut(image_len))
    {
        for (p, rgb) in hwc.chunks_exact(STACK).enumerate() {
            for (k, &v) in rgb.iter().enumerate() {
                chw[k * PIXELS + p] = v;
            }
        }
    }
    Ok(StackedSet { pixels })
}

/// Modes with at least one image: the published count.
pub fn modes_captured(histogram: &[usize]) -> usize {
    histogram.iter().filter(|&&c| c > 0).count()
}

/// `KL(mode histogram || uniform)`, nats: 0 for a generator that draws every mode equally often,
/// `ln 1000 = 6.91` for one that draws a single mode.
pub fn kl_to_uniform(histogram: &[usize]) -> Result<f64> {
    let uniform = vec![1.0 / histogram.len().max(1) as f64; histogram.len()];
    stats::kl_divergence(&stats::normalize(histogram), &uniform)
}

/// The figures for one set of stacked images.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StackedScore {
    /// Where the images came from.
    pub source: String,
    /// Number of images.
    pub images: usize,
    /// Modes (of 1,000) with at least one image.
    pub modes_captured: usize,
    /// `KL(mode histogram || uniform)`, nats.
    pub kl_to_uniform: f64,
    /// Frechet distance of each channel to the held-out real digits in classifier features.
    pub frechet_per_channel: Vec<f64>,
    /// Mean of the classifier's top probability over every channel of every image.
    pub mean_confidence: f64,
    /// Images of each mode `100 a + 10 b + c`.
    pub mode_histogram: Vec<usize>,
}

/// Measures `set`: each channel classified, the modes counted, each channel's features compared
/// with `heldout`.
pub fn score(
    source: &str,
    set: &StackedSet,
    classifier: &Classifier,
    heldout: &FeatureStats,
) -> Result<StackedScore> {
    if set.len() < 2 {
        return Err(Error::TooFewSamples {
            what: "images",
            needed: 2,
            got: set.len(),
        });
    }
    let mut digits = vec![[0usize; STACK]; set.len()];
    let mut frechet_per_channel = Vec::with_capacity(STACK);
    let mut confidence = 0.0;
    for k in 0..STACK {
        let verdicts = classifier.classify(&set.channel(k))?;
        for (d, &p) in digits.iter_mut().zip(&verdicts.predicted) {
            d[k] = p;
        }
        let features = FeatureStats::from_rows(&verdicts.features, FEATURES)?;
        frechet_per_channel.push(frechet_distance(&features, heldout)?);
        confidence += stats::mean_confidence(&verdicts.probs, super::classifier::CLASSES)?;
    }
    let modes: Vec<usize> = digits.into_iter().map(mode_of).collect();
    let mode_histogram = stats::class_histogram(&modes, MODES)?;
    Ok(StackedScore {
        source: source.to_string(),
        images: set.len(),
        modes_captured: modes_captured(&mode_histogram),
        kl_to_uniform: kl_to_uniform(&mode_histogram)?,
        frechet_per_channel,
        mean_confidence: confidence / STACK as f64,
        mode_histogram,
    })
}

/// Everything `trainer eval` measured on stacked generators.
#[derive(Debug, Clone, Serialize)]
pub struct StackedReport {
    /// Always `"stacked"`.
    pub kind: &'static str,
    /// The classifier file used as the yardstick.
    pub classifier: String,
    /// Held-out real digits each channel's Frechet distance compares with.
    pub heldout_images: usize,
    /// Real stacked digits of the training split scored like a generator.
    pub real_baseline: StackedScore,
    /// One row per source.
    pub results: Vec<StackedScore>,
    /// Mean and standard error over `results` (when they are seeds of one configuration).
    pub summary: StackedSummary,
}

/// [`StackedReport::summary`].
#[derive(Debug, Clone, Serialize)]
pub struct StackedSummary {
    pub sources: usize,
    pub modes_captured: Option<Aggregate>,
    pub kl_to_uniform: Option<Aggregate>,
    pub frechet_per_channel: Vec<Option<Aggregate>>,
    pub mean_confidence: Option<Aggregate>,
}

impl StackedSummary {
    /// Summarises the rows of a report.
    pub fn of(results: &[StackedScore]) -> StackedSummary {
        StackedSummary {
            sources: results.len(),
            modes_captured: aggregate(results, |r| Some(r.modes_captured as f64)),
            kl_to_uniform: aggregate(results, |r| Some(r.kl_to_uniform)),
            frechet_per_channel: (0..STACK)
                .map(|k| aggregate(results, |r| r.frechet_per_channel.get(k).copied()))
                .collect(),
            mean_confidence: aggregate(results, |r| Some(r.mean_confidence)),
        }
    }
}

/// Renders a stacked report as a plain-text table.
pub fn table(r: &StackedReport) -> String {
    let mut out = format!(
        "{:<40} {:>7} {:>10} {:>8} {:>26} {:>6}\n",
        "source", "images", "modes", "KL(unif)", "Frechet R / G / B", "conf"
    );
    for s in std::iter::once(&r.real_baseline).chain(&r.results) {
        let fd: Vec<String> = s
            .frechet_per_channel
            .iter()
            .map(|f| format!("{f:.2}"))
            .collect();
        out.push_str(&format!(
            "{:<40} {:>7} {:>5}/{MODES} {:>8.4} {:>26} {:>6.3}\n",
            shorten(&s.source, 40),
            s.images,
            s.modes_captured,
            s.kl_to_uniform,
            fd.join(" / "),
            s.mean_confidence
        ));
    }
    if r.results.len() > 1 {
        let m = &r.summary;
        let fd: Vec<String> = m
            .frechet_per_channel
            .iter()
            .map(|&a| fmt_agg(a, 2))
            .collect();
        out.push_str(&format!(
            "mean ± standard error over {} sources: modes {}, KL {}, Frechet {}, conf {}\n",
            m.sources,
            fmt_agg(m.modes_captured, 1),
            fmt_agg(m.kl_to_uniform, 4),
            fd.join(" / "),
            fmt_agg(m.mean_confidence, 3),
        ));
    }
    out.push_str(&format!(
        "Stacked MNIST: each channel read by the classifier {}; modes = of {MODES} with at least one \
         image; KL of the mode histogram to uniform (nats); Frechet distance of each channel to {} \
         held-out real digits in its 128 penultimate features\n",
        r.classifier, r.heldout_images
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_kl_of_synthetic_histograms() {
        // Every mode equally often: all captured, KL 0.
        let uniform = vec![26usize; MODES];
        assert_eq!(modes_captured(&uniform), MODES);
        assert!(kl_to_uniform(&uniform).unwrap().abs() < 1e-12);
        // One mode only: KL = ln 1000.
        let mut single = vec![0usize; MODES];
        single[417] = 26_000;
        assert_eq!(modes_captured(&single), 1);
        assert!((kl_to_uniform(&single).unwrap() - (MODES as f64).ln()).abs() < 1e-12);
        // Half the modes, equally often: KL = ln 2.
        let half: Vec<usize> = (0..MODES)
            .map(|m| if m % 2 == 0 { 52 } else { 0 })
            .collect();
        assert_eq!(modes_captured(&half), MODES / 2);
        assert!((kl_to_uniform(&half).unwrap() - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn real_stacks_draw_digits_and_channels_split_back() {
        // Digit i of 20 is filled with the value i.
        let digits = Digits {
            pixels: (0..20u8).flat_map(|i| [i; PIXELS]).collect(),
            labels: (0..20).map(|i| i % 10).collect(),
        };
        let set = real(&digits, 50, 3).unwrap();
        assert_eq!(set.len(), 50);
        let again = real(&digits, 50, 3).unwrap();
        assert_eq!(set.pixels, again.pixels);
        let rows = draw_indices(20, 50, 3).unwrap();
        for k in 0..STACK {
            let ch = set.channel(k);
            for (img, row) in ch.chunks_exact(PIXELS).zip(&rows) {
                assert!(img.iter().all(|&v| usize::from(v) == row[k]));
            }
        }
    }

    #[test]
    fn raw_files_are_channels_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.raw");
        // Pixel values 10 + channel, channels last.
        let hwc: Vec<u8> = (0..2 * PIXELS).flat_map(|_| [10u8, 11, 12]).collect();
        std::fs::write(&path, &hwc).unwrap();
        let set = load_images(&path).unwrap();
        assert_eq!(set.len(), 2);
        for k in 0..STACK {
            assert!(set.channel(k).iter().all(|&v| v == 10 + k as u8));
        }
        std::fs::write(&path, &hwc[..PIXELS]).unwrap();
        assert!(matches!(load_images(&path), Err(Error::Image { .. })));
    }
}
