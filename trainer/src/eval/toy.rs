//! The 2-D mode-collapse protocol of the GAN literature (VEEGAN, PacGAN), so that our figures can
//! be read next to the published tables.
//!
//! A sample is *high quality* when it lies within three standard deviations of its nearest mode; a
//! mode is *captured* when at least one high-quality sample is nearest to it; the *reverse KL* is
//! `KL(generated || uniform)` over the modes, computed from the nearest-mode histogram of the
//! high-quality samples. Reverse (not forward) KL stays finite when modes are dropped, which is
//! exactly the case the protocol is meant to grade.

use crate::data::toy::ToyKind;
use crate::error::Error;

/// The protocol's figures for one set of generated samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyScore {
    /// Number of samples scored.
    pub samples: usize,
    /// Number of modes of the distribution.
    pub modes: usize,
    /// Modes with at least one high-quality sample nearest to them.
    pub modes_captured: usize,
    /// Fraction of samples within three standard deviations of their nearest mode, in [0, 1].
    pub high_quality: f64,
    /// `KL(p || uniform)` where `p` is the nearest-mode histogram of the high-quality samples, in
    /// nats. With no high-quality sample at all it is `ln(modes)`, the worst value any histogram
    /// can reach, so a generator that misses every mode never scores better than one that hits one.
    pub reverse_kl: f64,
    /// High-quality samples per mode, in the order of [`ToyKind::modes`].
    pub histogram: Vec<usize>,
}

/// Scores generated 2-D samples against `dist`. A sample with a non-finite coordinate is never
/// high quality (it still counts in the denominator).
pub fn score(dist: ToyKind, samples: &[[f32; 2]]) -> Result<ToyScore, Error> {
    if samples.is_empty() {
        return Err(Error::TooFewSamples {
            what: "2-D samples",
            needed: 1,
            got: 0,
        });
    }
    let modes: Vec<[f64; 2]> = dist
        .modes()
        .iter()
        .map(|m| [f64::from(m[0]), f64::from(m[1])])
        .collect();
    let radius_sq = (3.0 * f64::from(dist.std())).powi(2);
    let mut histogram = vec![0usize; modes.len()];
    for s in samples {
        let (x, y) = (f64::from(s[0]), f64::from(s[1]));
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        let (nearest, dist_sq) = modes
            .iter()
            .map(|m| (m[0] - x).powi(2) + (m[1] - y).powi(2))
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |best, (i, d)| if d < best.1 { (i, d) } else { best },
            );
        if dist_sq <= radius_sq {
            histogram[nearest] += 1;
        }
    }
    let good: usize = histogram.iter().sum();
    let reverse_kl = if good == 0 {
        (modes.len() as f64).ln()
    } else {
        let uniform = vec![1.0 / modes.len() as f64; modes.len()];
        super::stats::kl_divergence(&super::stats::normalize(&histogram), &uniform)?
    };
    Ok(ToyScore {
        samples: samples.len(),
        modes: modes.len(),
        modes_captured: histogram.iter().filter(|&&c| c > 0).count(),
        high_quality: good as f64 / samples.len() as f64,
        reverse_kl,
        histogram,
    })
}

/// Draws `count` points with the runtime from a 2-D generator file (output of 2 values, no
/// classes), latents from `LatentRng::new(seed)`.
pub fn generate(
    model_bytes: &[u8],
    path: &std::path::Path,
    count: usize,
    seed: u64,
) -> Result<Vec<[f32; 2]>, Error> {
    let bad = |reason: String| Error::Model {
        path: path.into(),
        reason,
    };
    let g = runtime::Generator::load(model_bytes).map_err(|e| bad(e.to_string()))?;
    if g.output_len() != 2 {
        return Err(bad(format!(
            "draws {} values per sample, a 2-D generator draws 2",
            g.output_len()
        )));
    }
    if g.num_classes() != 0 {
        return Err(bad(
            "is conditional; the 2-D protocol scores unconditional generators".into(),
        ));
    }
    let needed = crate::budget::runtime_bytes(&g).saturating_add(8 * count as u64);
    crate::budget::check("eval", needed, crate::budget::SAMPLE, "lower --toy-samples")?;
    let mut rng = runtime::rng::LatentRng::new(seed);
    let mut z = vec![0.0f32; g.latent_dim()];
    let mut scratch = vec![0.0f32; g.scratch_len()];
    let mut out = [0.0f32; 2];
    let mut points = Vec::with_capacity(count);
    for image in 0..count {
        rng.fill_normal(&mut z);
        g.generate(&z, None, &mut scratch, &mut out)
            .map_err(|e| bad(e.to_string()))?;
        if !out.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteOutput { image });
        }
        points.push(out);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic point at a given offset from a mode, for exact-boundary tests.
    fn at(mode: [f32; 2], dx: f64, dy: f64) -> [f32; 2] {
        [
            (f64::from(mode[0]) + dx) as f32,
            (f64::from(mode[1]) + dy) as f32,
        ]
    }

    #[test]
    fn the_training_data_itself_scores_as_theory_says() {
        // For an isotropic 2-D Gaussian, P(r <= 3 sigma) = 1 - exp(-9 / 2) = 0.98889.
        for kind in [ToyKind::Ring8, ToyKind::Grid25] {
            let data = crate::data::toy::dataset(kind);
            let points: Vec<[f32; 2]> =
                data.samples.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
            let s = score(kind, &points).unwrap();
            assert_eq!(s.modes_captured, s.modes, "{kind:?}");
            assert!(
                (s.high_quality - (1.0 - (-4.5f64).exp())).abs() < 0.002,
                "{kind:?} {}",
                s.high_quality
            );
            assert!(s.reverse_kl < 1e-3, "{kind:?} {}", s.reverse_kl);
        }
    }

    #[test]
    fn one_sample_on_every_mode_is_perfect() {
        for d in [ToyKind::Ring8, ToyKind::Grid25] {
            let samples: Vec<[f32; 2]> = d.modes().iter().map(|&m| at(m, 0.0, 0.0)).collect();
            let s = score(d, &samples).unwrap();
            assert_eq!(s.modes_captured, s.modes);
            assert_eq!(s.high_quality, 1.0);
            assert!(s.reverse_kl.abs() < 1e-12, "{}", s.reverse_kl);
        }
    }

    #[test]
    fn collapse_onto_one_mode_has_kl_ln_k() {
        let d = ToyKind::Grid25;
        let m = d.modes()[7];
        let samples = vec![at(m, 0.01, -0.02); 100];
        let s = score(d, &samples).unwrap();
        assert_eq!(s.modes_captured, 1);
        assert_eq!(s.histogram[7], 100);
        assert!((s.reverse_kl - 25f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn three_standard_deviations_is_the_boundary() {
        let d = ToyKind::Ring8;
        let m = d.modes()[0];
        let inside = at(m, 0.0299, 0.0);
        let outside = at(m, 0.0, 0.0301);
        let s = score(d, &[inside, outside]).unwrap();
        assert_eq!(s.high_quality, 0.5);
        assert_eq!(s.modes_captured, 1);
    }

    #[test]
    fn samples_between_modes_capture_nothing() {
        let d = ToyKind::Grid25;
        let samples = vec![[1.0f32, 1.0]; 10];
        let s = score(d, &samples).unwrap();
        assert_eq!(s.modes_captured, 0);
        assert_eq!(s.high_quality, 0.0);
        assert!((s.reverse_kl - 25f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn half_the_modes_evenly_is_ln_2() {
        let d = ToyKind::Ring8;
        let samples: Vec<[f32; 2]> = d
            .modes()
            .iter()
            .step_by(2)
            .flat_map(|&m| vec![at(m, 0.001, 0.0); 3])
            .collect();
        let s = score(d, &samples).unwrap();
        assert_eq!(s.modes_captured, 4);
        assert!((s.reverse_kl - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn non_finite_samples_are_low_quality_and_empty_input_is_an_error() {
        let d = ToyKind::Ring8;
        let s = score(d, &[[f32::NAN, 0.0], [1.0, 0.0]]).unwrap();
        assert_eq!(s.high_quality, 0.5);
        assert_eq!(s.modes_captured, 1);
        assert!(matches!(score(d, &[]), Err(Error::TooFewSamples { .. })));
    }
}
