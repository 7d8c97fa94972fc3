//! 2-D Gaussian mixtures from the mode-collapse literature (VEEGAN, PacGAN): `ring8` has 8 modes
//! evenly spaced on a circle of radius 1 with standard deviation 0.01; `grid25` has 25 modes at
//! {-4,-2,0,2,4}^2 with standard deviation 0.05.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::Dataset;

/// Samples drawn once per run; large enough that a model cannot memorise individual points.
pub const TOY_SAMPLES: usize = 100_000;

/// Seed of the toy data itself, fixed so every run sees the same points.
const TOY_DATA_SEED: u64 = 0x0074_6f79_6461_7461;

/// Which mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ToyKind {
    /// 8 Gaussians on the unit circle, std 0.01.
    Ring8,
    /// 25 Gaussians on a 5x5 grid with spacing 2, std 0.05.
    Grid25,
}

impl ToyKind {
    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            ToyKind::Ring8 => "ring8",
            ToyKind::Grid25 => "grid25",
        }
    }

    /// The mixture's centres.
    pub fn modes(self) -> Vec<[f32; 2]> {
        match self {
            ToyKind::Ring8 => (0..8)
                .map(|k| {
                    let a = k as f64 * std::f64::consts::TAU / 8.0;
                    [a.cos() as f32, a.sin() as f32]
                })
                .collect(),
            ToyKind::Grid25 => (0..25)
                .map(|k| [(k / 5) as f32 * 2.0 - 4.0, (k % 5) as f32 * 2.0 - 4.0])
                .collect(),
        }
    }

    /// Standard deviation around each mode.
    pub fn std(self) -> f32 {
        match self {
            ToyKind::Ring8 => 0.01,
            ToyKind::Grid25 => 0.05,
        }
    }
}

/// Draws `TOY_SAMPLES` points, modes chosen uniformly; the label is the mode index.
pub fn dataset(kind: ToyKind) -> Dataset {
    let modes = kind.modes();
    let std = kind.std();
    let mut rng = ChaCha8Rng::seed_from_u64(TOY_DATA_SEED);
    let mut samples = Vec::with_capacity(TOY_SAMPLES * 2);
    let mut labels = Vec::with_capacity(TOY_SAMPLES);
    for i in 0..TOY_SAMPLES {
        let m = i % modes.len();
        let dx: f32 = StandardNormal.sample(&mut rng);
        let dy: f32 = StandardNormal.sample(&mut rng);
        samples.push(modes[m][0] + std * dx);
        samples.push(modes[m][1] + std * dy);
        labels.push(m as u32);
    }
    Dataset {
        name: kind.name().into(),
        samples,
        labels: Some(labels),
        num_classes: modes.len(),
        channels: 2,
        height: 1,
        width: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_lie_near_their_modes() {
        for kind in [ToyKind::Ring8, ToyKind::Grid25] {
            let d = dataset(kind);
            let modes = kind.modes();
            let labels = d.labels.as_ref().unwrap();
            for (p, &l) in d.samples.chunks(2).zip(labels).take(1000) {
                let m = modes[l as usize];
                let dist = ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt();
                assert!(
                    dist < 6.0 * kind.std(),
                    "{kind:?} point {p:?} far from {m:?}"
                );
            }
            assert_eq!(d.len(), TOY_SAMPLES);
        }
    }
}
