//! The checks every configuration passes, whether it comes from the command line or from a run's
//! `config.json` (which a user may have edited): one set of rules, each error naming the option.

use super::{TrainArgs, TrainConfig};
use crate::data::DataSource;
use crate::error::{Error, Result};
use crate::models::{check_width, MAX_PACK};

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

impl TrainConfig {
    /// An error naming the first option whose value the trainer cannot train with.
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty() || n.contains(['/', '\\']) || n == "." || n == ".." {
            return Err(invalid(format!("--name {n:?} must be a plain file name")));
        }
        check_data(&self.data, self.conditional)?;
        self.check_batch()?;
        self.check_adam()?;
        if self.steps == 0 && self.epochs.is_none() || self.epochs == Some(0) {
            return Err(invalid("--steps/--epochs must be at least 1".into()));
        }
        for (option, value) in [
            ("--limit", self.limit.map_or(1, |l| l as u64)),
            ("--log-every", self.log_every),
            ("--max-memory", self.max_memory_gib),
        ] {
            if value == 0 {
                return Err(invalid(format!("{option} must be at least 1")));
            }
        }
        self.check_networks()?;
        if self.latent_dim == 0 || self.latent_dim > 4096 {
            return Err(invalid(format!(
                "--latent-dim {} must be 1..=4096",
                self.latent_dim
            )));
        }
        Ok(())
    }

    /// The widths (dcgan only) and the weight average's decay.
    fn check_networks(&self) -> Result<()> {
        check_width(self.arch, "--width", self.width)?;
        check_width(self.arch, "--d-width", self.d_width.unwrap_or(self.width))?;
        let ema = self.ema;
        if !(0.0..1.0).contains(&ema) {
            return Err(invalid(format!(
                "--ema {ema} must be a decay in [0, 1), for instance 0.999 (0: no average)"
            )));
        }
        Ok(())
    }

    /// The batch size, the pack and the mode-seeking weight, against one another.
    fn check_batch(&self) -> Result<()> {
        let (batch, pack, ms) = (self.batch_size, self.pack, self.mode_seeking);
        if batch < 2 {
            return Err(invalid(format!(
                "--batch-size {batch} is too small (batch norm needs at least 2)"
            )));
        }
        if pack == 0 || pack > MAX_PACK {
            return Err(invalid(format!("--pack {pack} must be 1..={MAX_PACK}")));
        }
        if !batch.is_multiple_of(pack) {
            return Err(invalid(format!(
                "--batch-size {batch} is not a multiple of --pack {pack}: the discriminator needs whole packs of real and of generated samples"
            )));
        }
        if !(ms >= 0.0 && ms.is_finite()) {
            return Err(invalid(format!(
                "--mode-seeking {ms} must be a finite weight >= 0"
            )));
        }
        if ms > 0.0 && !batch.is_multiple_of(2) {
            return Err(invalid(format!(
                "--mode-seeking pairs the two halves of a batch; --batch-size {batch} is odd"
            )));
        }
        Ok(())
    }

    fn check_adam(&self) -> Result<()> {
        let lr = self.adam.lr;
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(invalid(format!("--lr {lr} must be positive")));
        }
        for (n, b) in [("--beta1", self.adam.beta1), ("--beta2", self.adam.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(invalid(format!("{n} {b} must be in [0, 1)")));
            }
        }
        Ok(())
    }
}

/// The data source: paths that `config.json` can hold (UTF-8), image sizes and channels in range,
/// labels where a conditional model needs them.
fn check_data(data: &DataSource, conditional: bool) -> Result<()> {
    let (option, dir) = match data {
        DataSource::Idx { dir } | DataSource::Stacked { dir, .. } => ("--data", dir),
        DataSource::Images { dir, .. } => ("--images", dir),
        DataSource::Toy { .. } => return Ok(()),
    };
    if dir.to_str().is_none() {
        return Err(invalid(format!(
            "{option} {}: the path is not valid UTF-8, which the run's config.json cannot record; rename or link it",
            dir.display()
        )));
    }
    if let DataSource::Images { size, channels, .. } = *data {
        if conditional {
            return Err(invalid(
                "--conditional needs labelled data (--data or --toy); an --images folder has no labels".into(),
            ));
        }
        if !(1..=1024).contains(&size) {
            return Err(invalid(format!(
                "--image-size {size} must be between 1 and 1024"
            )));
        }
        if channels != 1 && channels != 3 {
            return Err(invalid(format!("--channels {channels} must be 1 or 3")));
        }
    }
    Ok(())
}

/// `--image-size` and `--channels` shape the images of a folder; given for other data, they
/// would be ignored without a word.
pub(super) fn only_for_images(a: &TrainArgs) -> Result<()> {
    if a.images.is_none() {
        for (option, given) in [("--channels", a.channels), ("--image-size", a.image_size)] {
            if let Some(v) = given {
                return Err(invalid(format!(
                    "{option} {v} applies to --images; IDX digits and toy points have their own"
                )));
            }
        }
    }
    Ok(())
}
