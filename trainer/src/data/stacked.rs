//! Stacked MNIST: three digits drawn independently, one per colour channel, so the data has
//! 10 x 10 x 10 = 1,000 modes (the number `100 a + 10 b + c` read from the channels).
//!
//! The benchmark of VEEGAN and PacGAN for mode collapse at scale: a generator that covers the ten
//! digits of plain MNIST easily may still draw only a fraction of the 1,000 combinations. Here the
//! digits come from any IDX directory (the bundled 10,000 by default) and the stacking is drawn
//! from a seed, so a run is reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Dataset;
use crate::error::{Error, Result};

/// Digits per stacked image: one per colour channel.
pub const STACK: usize = 3;
/// Stacked images made for training, fewer with `--limit`: 60 per mode on average, six times the
/// bundled digits, so no combination is rare by chance (each of the 1,000 appears about 60 +- 8
/// times).
pub const SAMPLES: usize = 60_000;
/// Distinct modes: every `STACK`-digit number.
pub const MODES: usize = 1_000;

/// Mixed into the seed so the stacking does not share its random stream with the training
/// shuffle or the latents of the same seed.
const STREAM: u64 = 0x5354_4143_4b45_4421;

/// The index of each channel's source digit for `count` stacked images: `count` rows of
/// [`STACK`] indices into `len` digits, each drawn uniformly and independently.
pub fn draw_indices(len: usize, count: usize, seed: u64) -> Result<Vec<[usize; STACK]>> {
    if len == 0 {
        return Err(Error::InvalidArgument(
            "stacked digits need at least one source digit".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
    Ok((0..count)
        .map(|_| std::array::from_fn(|_| rng.random_range(0..len)))
        .collect())
}

/// The mode of a stacked image: its channels' digits read as one number, first channel first.
pub fn mode_of(digits: [usize; STACK]) -> usize {
    digits.iter().fold(0, |acc, &d| acc * 10 + d)
}

/// Stacks `digits` (1-channel samples with labels 0..9) into `count` images of [`STACK`]
/// channels, channels first as the generator draws them; the label is [`mode_of`] the digits.
pub fn stack(digits: &Dataset, count: usize, seed: u64) -> Result<Dataset> {
    let labels = digits.labels.as_ref().ok_or_else(|| {
        Error::InvalidArgument("--stack needs labelled digits (an IDX directory)".into())
    })?;
    if digits.channels != 1 {
        return Err(Error::InvalidArgument(format!(
            "--stack stacks grey digits; these have {} channels",
            digits.channels
        )));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(Error::ClassOutOfRange {
            class: bad as usize,
            classes: 10,
        });
    }
    let plane = digits.height * digits.width;
    let mut samples = Vec::with_capacity(count * STACK * plane);
    let mut stacked_labels = Vec::with_capacity(count);
    for row in draw_indices(digits.len(), count, seed)? {
        for &i in &row {
            samples.extend_from_slice(&digits.samples[i * plane..(i + 1) * plane]);
        }
        stacked_labels.push(mode_of(row.map(|i| labels[i] as usize)) as u32);
    }
    Ok(Dataset {
        name: format!("stacked-{}", digits.name),
        samples,
        labels: Some(stacked_labels),
        num_classes: MODES,
        channels: STACK,
        height: digits.height,
        width: digits.width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten 2x2 "digits": digit k is filled with the value k, labelled k.
    fn ten_digits() -> Dataset {
        Dataset {
            name: "toy".into(),
            samples: (0..10).flat_map(|k| [k as f32; 4]).collect(),
            labels: Some((0..10).collect()),
            num_classes: 10,
            channels: 1,
            height: 2,
            width: 2,
        }
    }

    #[test]
    fn label_reads_the_channels_as_a_number() {
        assert_eq!(mode_of([0, 0, 0]), 0);
        assert_eq!(mode_of([3, 0, 7]), 307);
        assert_eq!(mode_of([9, 9, 9]), 999);
        let s = stack(&ten_digits(), 500, 4).unwrap();
        assert_eq!((s.channels, s.height, s.width, s.len()), (3, 2, 2, 500));
        assert_eq!(s.num_classes, MODES);
        let labels = s.labels.as_ref().unwrap();
        for (img, &label) in s.samples.chunks_exact(12).zip(labels) {
            // Each channel holds one digit, whose value is its label.
            let digits = [img[0], img[4], img[8]].map(|v| v as u32);
            assert_eq!(label, 100 * digits[0] + 10 * digits[1] + digits[2]);
            assert!(img[..4].iter().all(|&v| v == img[0]));
        }
    }

    #[test]
    fn stacking_is_deterministic_for_a_seed() {
        let a = stack(&ten_digits(), 300, 9).unwrap();
        let b = stack(&ten_digits(), 300, 9).unwrap();
        let c = stack(&ten_digits(), 300, 10).unwrap();
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.labels, b.labels);
        assert_ne!(a.labels, c.labels);
    }

    #[test]
    fn channels_are_drawn_independently() {
        // 100,000 draws from 10 digits: each channel's digits near uniform, and the three
        // channels of an image as often alike as chance says (1 in 100 for all three).
        let rows = draw_indices(10, 100_000, 1).unwrap();
        for ch in 0..STACK {
            let mut hist = [0usize; 10];
            rows.iter().for_each(|r| hist[r[ch]] += 1);
            assert!(
                hist.iter().all(|&h| (9_400..10_600).contains(&h)),
                "{hist:?}"
            );
        }
        let same = rows.iter().filter(|r| r[0] == r[1] && r[1] == r[2]).count();
        assert!((800..1_200).contains(&same), "{same}");
    }

    #[test]
    fn refuses_unusable_digits() {
        let mut d = ten_digits();
        d.labels = None;
        assert!(matches!(stack(&d, 5, 0), Err(Error::InvalidArgument(_))));
        let mut d = ten_digits();
        d.labels.as_mut().unwrap()[3] = 12;
        assert!(matches!(
            stack(&d, 5, 0),
            Err(Error::ClassOutOfRange { .. })
        ));
        assert!(draw_indices(0, 5, 0).is_err());
    }
}
