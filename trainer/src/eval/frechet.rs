//! The Frechet distance between two sets of feature vectors, each summarised as a Gaussian (mean
//! and covariance): `|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`. It is FID's formula; with our
//! own digit classifier's features instead of Inception's the numbers compare only with each other.
//!
//! `S1 S2` is not symmetric, so its square root is taken the stable way: `tr (S1 S2)^(1/2)` equals
//! `tr (R S2 R)^(1/2)` with `R = S1^(1/2)`, and both roots are of symmetric positive semi-definite
//! matrices, computed from a symmetric eigendecomposition with rounding-negative eigenvalues
//! clamped to zero.

use nalgebra::{DMatrix, DVector};

use crate::error::Error;

/// Mean and covariance of a set of feature vectors, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    /// Number of vectors summarised.
    pub count: usize,
    /// Mean vector.
    pub mean: DVector<f64>,
    /// Unbiased (n - 1) covariance matrix.
    pub cov: DMatrix<f64>,
}

impl FeatureStats {
    /// Summarises `rows`, a row-major `[n, dim]` array. Needs at least two finite rows.
    pub fn from_rows(rows: &[f32], dim: usize) -> Result<FeatureStats, Error> {
        if dim == 0 || !rows.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                what: "feature rows",
                left: rows.len(),
                right: dim,
            });
        }
        let n = rows.len() / dim;
        if n < 2 {
            return Err(Error::TooFewSamples {
                what: "feature vectors",
                needed: 2,
                got: n,
            });
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteValues("feature vectors"));
        }
        let data = DMatrix::from_row_iterator(n, dim, rows.iter().map(|&v| f64::from(v)));
        let mean = data.row_mean().transpose();
        let mut centred = data;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let cov = centred.transpose() * &centred / (n - 1) as f64;
        Ok(FeatureStats {
            count: n,
            mean,
            cov,
        })
    }

    /// Dimension of the feature vectors.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// Square root of a symmetric positive semi-definite matrix (its lower triangle is what counts).
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let eig = sym.symmetric_eigen();
    let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// Trace of the square root of a symmetric positive semi-definite matrix.
fn trace_sqrt_psd(m: &DMatrix<f64>) -> f64 {
    let sym = (m + m.transpose()) * 0.5;
    sym.symmetric_eigenvalues()
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum()
}

/// Frechet distance between the Gaussians summarising `a` and `b` (same dimension).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, Error> {
    Error::check_equal("feature dimensions", a.dim(), b.dim())?;
    let diff = &a.mean - &b.mean;
    let root_a = sqrt_psd(&a.cov);
    let cross = trace_sqrt_psd(&(&root_a * &b.cov * &root_a));
    let d = diff.norm_squared() + a.cov.trace() + b.cov.trace() - 2.0 * cross;
    // The exact value is >= 0; eigenvalue rounding can leave a tiny negative one.
    Ok(d.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(mean: &[f64], cov: DMatrix<f64>) -> FeatureStats {
        FeatureStats {
            count: 100,
            mean: DVector::from_column_slice(mean),
            cov,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn identical_gaussians_are_at_distance_zero() {
        let cov = DMatrix::from_row_slice(3, 3, &[2.0, 0.5, 0.1, 0.5, 1.0, 0.3, 0.1, 0.3, 0.7]);
        let a = stats(&[1.0, -2.0, 3.0], cov);
        assert!(frechet_distance(&a, &a).unwrap() < 1e-9);
    }

    #[test]
    fn one_dimension_is_mean_and_std_gap() {
        // (m1 - m2)^2 + (s1 - s2)^2 for variances s1^2 = 4, s2^2 = 9.
        let a = stats(&[1.0], DMatrix::from_element(1, 1, 4.0));
        let b = stats(&[4.0], DMatrix::from_element(1, 1, 9.0));
        assert!(close(frechet_distance(&a, &b).unwrap(), 9.0 + 1.0));
    }

    #[test]
    fn diagonal_covariances_have_the_closed_form() {
        let va = [1.0, 4.0, 0.25, 9.0];
        let vb = [4.0, 1.0, 1.0, 0.0];
        let a = stats(
            &[0.0, 1.0, 2.0, 3.0],
            DMatrix::from_diagonal(&DVector::from_column_slice(&va)),
        );
        let b = stats(
            &[1.0, 1.0, 0.0, 3.0],
            DMatrix::from_diagonal(&DVector::from_column_slice(&vb)),
        );
        let expected: f64 = 1.0
            + 4.0
            + va.iter()
                .zip(&vb)
                .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        assert!(close(frechet_distance(&a, &b).unwrap(), expected));
    }

    #[test]
    fn non_commuting_two_by_two_matches_the_closed_form() {
        // For 2x2 matrices, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) when M has non-negative
        // eigenvalues; S1 S2 has the eigenvalues of S1^(1/2) S2 S1^(1/2).
        let s1 = DMatrix::<f64>::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0]);
        let s2 = DMatrix::from_row_slice(2, 2, &[1.0, -0.4, -0.4, 0.5]);
        let prod = &s1 * &s2;
        let tr_sqrt = (prod.trace() + 2.0 * prod.determinant().sqrt()).sqrt();
        let expected = 0.25 + 1.0 + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
        let a = stats(&[0.5, 0.0], s1);
        let b = stats(&[0.0, 1.0], s2);
        assert!(close(frechet_distance(&a, &b).unwrap(), expected));
        // Symmetric in its arguments.
        assert!(close(frechet_distance(&b, &a).unwrap(), expected));
    }

    #[test]
    fn scaled_covariance_gives_trace_times_gap_squared() {
        // S2 = c^2 S1 gives tr(S1) (1 - c)^2.
        let s1 = DMatrix::from_row_slice(3, 3, &[3.0, 1.0, 0.5, 1.0, 2.0, 0.2, 0.5, 0.2, 1.0]);
        let a = stats(&[0.0; 3], s1.clone());
        let b = stats(&[0.0; 3], &s1 * 9.0);
        assert!(close(frechet_distance(&a, &b).unwrap(), s1.trace() * 4.0));
    }

    #[test]
    fn rotation_does_not_change_the_distance() {
        let s1 = DMatrix::from_row_slice(2, 2, &[2.0, 0.3, 0.3, 1.0]);
        let s2 = DMatrix::from_row_slice(2, 2, &[0.5, -0.2, -0.2, 1.5]);
        let (c, s) = (0.6f64.cos(), 0.6f64.sin());
        let r = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]);
        let m1 = DVector::from_column_slice(&[1.0, 2.0]);
        let m2 = DVector::from_column_slice(&[-1.0, 0.5]);
        let plain = frechet_distance(
            &FeatureStats {
                count: 2,
                mean: m1.clone(),
                cov: s1.clone(),
            },
            &FeatureStats {
                count: 2,
                mean: m2.clone(),
                cov: s2.clone(),
            },
        )
        .unwrap();
        let rotated = frechet_distance(
            &FeatureStats {
                count: 2,
                mean: &r * m1,
                cov: &r * s1 * r.transpose(),
            },
            &FeatureStats {
                count: 2,
                mean: &r * m2,
                cov: &r * s2 * r.transpose(),
            },
        )
        .unwrap();
        assert!(close(plain, rotated));
    }

    #[test]
    fn statistics_of_rows() {
        let rows = [1.0f32, 2.0, 3.0, 6.0, 5.0, 4.0];
        let s = FeatureStats::from_rows(&rows, 2).unwrap();
        assert_eq!(s.count, 3);
        assert!(close(s.mean[0], 3.0) && close(s.mean[1], 4.0));
        // x: 1,3,5 -> var 4; y: 2,6,4 -> var 4; cov = ((-2)(-2) + 0 + 2*0) / 2 = 2.
        assert!(close(s.cov[(0, 0)], 4.0) && close(s.cov[(1, 1)], 4.0));
        assert!(close(s.cov[(0, 1)], 2.0) && close(s.cov[(1, 0)], 2.0));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            FeatureStats::from_rows(&[1.0, 2.0, 3.0], 2),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            FeatureStats::from_rows(&[1.0, 2.0], 2),
            Err(Error::TooFewSamples { .. })
        ));
        assert!(matches!(
            FeatureStats::from_rows(&[1.0, f32::NAN, 1.0, 2.0], 2),
            Err(Error::NonFiniteValues(_))
        ));
        assert!(matches!(
            FeatureStats::from_rows(&[], 0),
            Err(Error::DimensionMismatch { .. })
        ));
        let a = stats(&[0.0], DMatrix::from_element(1, 1, 1.0));
        let b = stats(&[0.0, 0.0], DMatrix::identity(2, 2));
        assert!(matches!(
            frechet_distance(&a, &b),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}
