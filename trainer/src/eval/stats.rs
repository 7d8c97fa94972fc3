//! Figures computed from a classifier's verdicts on generated images: which classes a generator
//! draws, how far that is from the real data, and how sure the classifier is.

use crate::error::Error;

/// Counts of each class among `predictions`; every prediction must be `< classes`.
pub fn class_histogram(predictions: &[usize], classes: usize) -> Result<Vec<usize>, Error> {
    let mut counts = vec![0usize; classes];
    for &p in predictions {
        let slot = counts
            .get_mut(p)
            .ok_or(Error::ClassOutOfRange { class: p, classes })?;
        *slot += 1;
    }
    Ok(counts)
}

/// Share of the samples below which a class does not count as covered: a tenth of the share a
/// class has in a uniform 10-class distribution. One stray misclassified image must not make a
/// dropped class look covered.
pub const COVERED_MIN_SHARE: f64 = 0.01;

/// Number of classes that hold at least `min_share` of the samples (and at least one sample).
pub fn classes_covered(histogram: &[usize], min_share: f64) -> usize {
    let total: usize = histogram.iter().sum();
    histogram
        .iter()
        .filter(|&&c| c > 0 && c as f64 >= min_share * total as f64)
        .count()
}

/// Counts as a probability vector (all zeros if the counts are).
pub fn normalize(counts: &[usize]) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

/// `KL(p || q) = sum p_i ln(p_i / q_i)` in nats, with `0 ln 0 = 0`. Infinite divergence (mass in
/// `p` where `q` has none) is an error, not a number: no reader can use an infinity.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> Result<f64, Error> {
    Error::check_equal("distributions", p.len(), q.len())?;
    let mut kl = 0.0;
    for (i, (&pi, &qi)) in p.iter().zip(q).enumerate() {
        if pi <= 0.0 {
            continue;
        }
        if qi <= 0.0 {
            return Err(Error::InfiniteDivergence { index: i });
        }
        kl += pi * (pi / qi).ln();
    }
    // Rounding can leave a tiny negative value for identical distributions.
    Ok(kl.max(0.0))
}

/// Index and value of the largest element (the first one on ties); `None` for an empty slice.
pub fn argmax(values: &[f32]) -> Option<(usize, f32)> {
    values
        .iter()
        .copied()
        .enumerate()
        .fold(None, |best, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
}

/// Mean over samples of the largest class probability; `probs` holds one row of `classes`
/// probabilities per sample.
pub fn mean_confidence(probs: &[f32], classes: usize) -> Result<f64, Error> {
    if classes == 0 || probs.is_empty() {
        return Err(Error::TooFewSamples {
            what: "class probabilities",
            needed: 1,
            got: 0,
        });
    }
    if !probs.len().is_multiple_of(classes) {
        return Err(Error::DimensionMismatch {
            what: "probability rows",
            left: probs.len(),
            right: classes,
        });
    }
    let rows = probs.len() / classes;
    let sum: f64 = probs
        .chunks_exact(classes)
        .filter_map(argmax)
        .map(|(_, v)| f64::from(v))
        .sum();
    Ok(sum / rows as f64)
}

/// Fraction of samples whose predicted class is the class asked for.
pub fn conditional_accuracy(predicted: &[usize], asked: &[usize]) -> Result<f64, Error> {
    Error::check_equal("labels", predicted.len(), asked.len())?;
    if predicted.is_empty() {
        return Err(Error::TooFewSamples {
            what: "labels",
            needed: 1,
            got: 0,
        });
    }
    let hits = predicted.iter().zip(asked).filter(|(p, a)| p == a).count();
    Ok(hits as f64 / predicted.len() as f64)
}

/// Mean and standard error of the mean (sample standard deviation over `sqrt(n)`), the way the
/// toy protocol reports a figure over seeds. The error is `None` for a single value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSe {
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard error of the mean.
    pub se: Option<f64>,
}

/// [`MeanSe`] of `values`; `None` for no values.
pub fn mean_se(values: &[f64]) -> Option<MeanSe> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let se = (n > 1).then(|| {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    });
    Some(MeanSe { mean, se })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_and_rejects_out_of_range() {
        assert_eq!(class_histogram(&[0, 2, 2, 1, 2], 3).unwrap(), vec![1, 1, 3]);
        assert!(matches!(
            class_histogram(&[0, 3], 3),
            Err(Error::ClassOutOfRange {
                class: 3,
                classes: 3
            })
        ));
    }

    #[test]
    fn coverage_ignores_stray_samples() {
        let mut h = vec![0usize; 10];
        h[3] = 990;
        h[5] = 9;
        h[7] = 1;
        assert_eq!(classes_covered(&h, COVERED_MIN_SHARE), 1);
        h[3] = 989;
        h[5] = 10;
        assert_eq!(classes_covered(&h, COVERED_MIN_SHARE), 2);
        assert_eq!(classes_covered(&h, 0.0), 3);
        assert_eq!(classes_covered(&[0, 0], 0.0), 0);
    }

    #[test]
    fn kl_matches_hand_computed_values() {
        let p = [0.5, 0.5, 0.0];
        let q = [0.25, 0.25, 0.5];
        assert!((kl_divergence(&p, &q).unwrap() - 2f64.ln()).abs() < 1e-12);
        assert_eq!(kl_divergence(&q, &q).unwrap(), 0.0);
        // A point mass against uniform over k classes is ln k.
        let mut point = [0.0; 10];
        point[4] = 1.0;
        assert!((kl_divergence(&point, &[0.1; 10]).unwrap() - 10f64.ln()).abs() < 1e-12);
        // Asymmetric case: KL([0.9, 0.1] || [0.5, 0.5]).
        let expected = 0.9 * (1.8f64).ln() + 0.1 * (0.2f64).ln();
        assert!((kl_divergence(&[0.9, 0.1], &[0.5, 0.5]).unwrap() - expected).abs() < 1e-12);
        assert!(matches!(
            kl_divergence(&q, &p),
            Err(Error::InfiniteDivergence { index: 2 })
        ));
        assert!(matches!(
            kl_divergence(&p, &[1.0]),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn normalize_sums_to_one() {
        let p = normalize(&[1, 3, 0]);
        assert_eq!(p, vec![0.25, 0.75, 0.0]);
        assert_eq!(normalize(&[0, 0]), vec![0.0, 0.0]);
    }

    #[test]
    fn confidence_and_accuracy() {
        let probs = [0.9, 0.1, 0.3, 0.7];
        assert!((mean_confidence(&probs, 2).unwrap() - 0.8).abs() < 1e-6);
        assert!(mean_confidence(&probs, 3).is_err());
        assert!(mean_confidence(&[], 2).is_err());
        assert_eq!(
            conditional_accuracy(&[1, 2, 3, 4], &[1, 2, 0, 0]).unwrap(),
            0.5
        );
        assert!(conditional_accuracy(&[1], &[1, 2]).is_err());
        assert!(conditional_accuracy(&[], &[]).is_err());
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Some((1, 3.0)));
        assert_eq!(argmax(&[]), None);
    }

    #[test]
    fn mean_and_standard_error() {
        let m = mean_se(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.mean, 2.5);
        // Sample variance 5/3, over n = 4.
        assert!((m.se.unwrap() - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_se(&[7.0]).unwrap().se, None);
        assert_eq!(mean_se(&[]), None);
    }
}
