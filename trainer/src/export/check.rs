//! The proof of an export: the runtime's output against candle's on fixed latents, and the
//! limits it must stay within.

use candle_core::Tensor;
use runtime::format::OutputActivation;
use runtime::rng::LatentRng;
use runtime::Generator;

use super::{model_error, ExportDtype};
use crate::error::{Error, Result};
use crate::models::Gan;

/// Latents compared between candle and the runtime on every export.
pub const CHECK_LATENTS: usize = 32;
/// Seed of those latents.
pub const CHECK_SEED: u64 = 0x6578_706f_7274;

/// How closely the runtime must reproduce candle's f32 generator: the larger of the two errors
/// f16 rounding of ~10^5 weights can cause in a 5-layer network, measured over the shipped
/// models with a wide margin.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub max_abs_error: f32,
    pub min_psnr_db: f64,
}

impl Tolerance {
    /// The documented limits: f16 files within 0.05 (max abs, on a [-1, 1] output) and 40 dB;
    /// f32 files within 1e-3 and 80 dB (only summation order differs); i8 files within 0.25 and
    /// 30 dB (int8 weights: the shipped generators reach 35 dB and more).
    pub fn for_dtype(d: ExportDtype) -> Self {
        match d {
            ExportDtype::F16 => Tolerance {
                max_abs_error: 0.05,
                min_psnr_db: 40.0,
            },
            ExportDtype::F32 => Tolerance {
                max_abs_error: 1e-3,
                min_psnr_db: 80.0,
            },
            ExportDtype::I8 => Tolerance {
                max_abs_error: 0.25,
                min_psnr_db: 30.0,
            },
        }
    }

    /// `Ok` when a file's (max abs error, PSNR) are within these limits, else
    /// [`Error::ExportMismatch`]: a NaN error fails.
    pub fn check(&self, max_abs_error: f32, psnr_db: f64) -> Result<()> {
        if max_abs_error <= self.max_abs_error && psnr_db >= self.min_psnr_db {
            return Ok(());
        }
        Err(Error::ExportMismatch {
            max_abs_error,
            psnr_db,
            limit: format!(
                "max abs error <= {} and PSNR >= {} dB",
                self.max_abs_error, self.min_psnr_db
            ),
        })
    }
}

/// Runs the file with the runtime and candle's generator in evaluation mode on the same fixed
/// latents; returns (max abs error, PSNR in dB).
pub fn compare(gan: &Gan, bytes: &[u8], count: usize) -> Result<(f32, f64)> {
    let gen = Generator::load(bytes).map_err(|e| model_error("(export)", e))?;
    let s = &gan.spec;
    let (z, classes) = check_inputs(s.latent_dim, s.num_classes, count);
    let device = gan.g_params.device();
    let zt = Tensor::from_slice(&z, (count, s.latent_dim), device)?;
    let lt = Tensor::from_slice(&classes, count, device)?;
    let want = gan
        .g
        .forward_t(&zt, s.conditional().then_some(&lt), false)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let got = runtime_outputs(&gen, &z, &classes).map_err(|e| model_error("(export)", e))?;
    Ok(error_stats(&want, &got, gen.output_activation()))
}

/// The inputs every check uses: `count` latents of `latent_dim` values from [`CHECK_SEED`],
/// one after the other, and a class for each (cycling through `num_classes`; all 0 when
/// unconditional).
pub fn check_inputs(latent_dim: usize, num_classes: usize, count: usize) -> (Vec<f32>, Vec<u32>) {
    let mut rng = LatentRng::new(CHECK_SEED);
    let mut z = vec![0f32; count * latent_dim];
    rng.fill_normal(&mut z);
    let classes = (0..count)
        .map(|i| (i % num_classes.max(1)) as u32)
        .collect();
    (z, classes)
}

/// The runtime's images for the latents `z` (one after the other) and their `classes` (ignored
/// by an unconditional generator), one after the other.
pub fn runtime_outputs(
    gen: &Generator<'_>,
    z: &[f32],
    classes: &[u32],
) -> std::result::Result<Vec<f32>, runtime::Error> {
    let (d, n) = (gen.latent_dim(), gen.output_len());
    let mut scratch = vec![0f32; gen.scratch_len()];
    let mut got = vec![0f32; classes.len() * n];
    for (i, &class) in classes.iter().enumerate() {
        let class = (gen.num_classes() > 0).then_some(class as usize);
        gen.generate(
            &z[i * d..(i + 1) * d],
            class,
            &mut scratch,
            &mut got[i * n..(i + 1) * n],
        )?;
    }
    Ok(got)
}

/// Max abs error and PSNR of `got` against `want`; the peak is the output range (2 for tanh, 1
/// for sigmoid, the reference's own spread for an unbounded output).
pub fn error_stats(want: &[f32], got: &[f32], act: OutputActivation) -> (f32, f64) {
    let mut max_abs = 0f32;
    let mut se = 0f64;
    for (a, b) in want.iter().zip(got) {
        let d = (a - b).abs();
        // A NaN anywhere must fail the check, not vanish in `max`.
        max_abs = if d.is_nan() {
            f32::INFINITY
        } else {
            max_abs.max(d)
        };
        se += f64::from(d) * f64::from(d);
    }
    let mse = se / want.len().max(1) as f64;
    let peak = match act {
        OutputActivation::Tanh => 2.0,
        OutputActivation::Sigmoid => 1.0,
        OutputActivation::None => {
            let lo = want.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = want.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            f64::from((hi - lo).max(1e-6))
        }
    };
    let psnr = if mse.is_nan() {
        0.0
    } else if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (peak * peak / mse).log10()
    };
    (max_abs, psnr)
}
