//! Training data held in memory as f32 samples scaled to the generator's output range.
//!
//! Four sources: IDX files (the bundled digits, MNIST, Fashion-MNIST), those digits stacked three to
//! an image (Stacked MNIST), a folder of images, and the 2-D toy mixtures used to study mode
//! collapse. All end as one flat `Vec<f32>` so a batch is a single gather on the device.

pub mod idx;
pub mod images;
pub mod stacked;
pub mod toy;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the training samples come from; stored in `config.json` so a run can be rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DataSource {
    /// `train-images-idx3-ubyte[.gz]` and `train-labels-idx1-ubyte[.gz]` in a directory.
    Idx { dir: PathBuf },
    /// Stacked MNIST: [`stacked::SAMPLES`] 3-channel images, each channel a digit of `dir` drawn
    /// independently with `seed`; labelled with the 3-digit number.
    Stacked { dir: PathBuf, seed: u64 },
    /// Every PNG/JPEG file in a directory, resized to `size` x `size`.
    Images {
        dir: PathBuf,
        size: usize,
        channels: usize,
    },
    /// A 2-D Gaussian mixture.
    Toy { kind: toy::ToyKind },
}

impl DataSource {
    /// A short name for file names and provenance.
    pub fn name(&self) -> String {
        match self {
            DataSource::Idx { dir } | DataSource::Images { dir, .. } => dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data".into()),
            DataSource::Stacked { dir, .. } => {
                format!("stacked-{}", DataSource::Idx { dir: dir.clone() }.name())
            }
            DataSource::Toy { kind } => kind.name().into(),
        }
    }
}

/// Samples in memory, each `c*h*w` f32 values, with optional class labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    /// `len * c * h * w` values; images are scaled to [-1, 1].
    pub samples: Vec<f32>,
    /// One label per sample when the source has them.
    pub labels: Option<Vec<u32>>,
    /// 1 + the largest label, or 0 when unlabelled.
    pub num_classes: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len() / self.sample_len().max(1)
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True for the 2-D point clouds, which use the toy architecture and no output squashing.
    pub fn is_points(&self) -> bool {
        self.height == 1 && self.width == 1
    }

    /// An error unless every class below [`Dataset::num_classes`] has a sample: a conditional
    /// model gets one class per label value up to the largest, so a stray label (200 in a file of
    /// digits) would silently add classes that have never been seen.
    pub fn check_labels_dense(&self, path: &Path) -> Result<()> {
        let Some(labels) = &self.labels else {
            return Ok(());
        };
        let mut seen = vec![false; self.num_classes];
        for &l in labels {
            seen[l as usize] = true;
        }
        let missing: Vec<usize> = (0..seen.len()).filter(|&k| !seen[k]).collect();
        if let Some(first) = missing.first() {
            return Err(Error::InvalidArgument(format!(
                "--conditional: the labels in {} run up to {}, but {} of the classes below have no sample \
                 (the first is {first}); a conditional model needs labels 0..K-1 that all occur",
                path.display(),
                self.num_classes - 1,
                missing.len()
            )));
        }
        Ok(())
    }

    /// Keeps only the first `n` samples (the bundled digits are interleaved, so any prefix holds
    /// every class).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.samples.truncate(n * self.sample_len());
            if let Some(l) = &mut self.labels {
                l.truncate(n);
            }
        }
    }
}

/// Loads a data source fully into memory.
pub fn load(source: &DataSource) -> Result<Dataset> {
    match source {
        DataSource::Idx { dir } => load_idx_dir(dir),
        DataSource::Stacked { dir, seed } => {
            stacked::stack(&load_idx_dir(dir)?, stacked::SAMPLES, *seed)
        }
        DataSource::Images {
            dir,
            size,
            channels,
        } => images::load_dir(dir, *size, *channels),
        DataSource::Toy { kind } => Ok(toy::dataset(*kind)),
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find_idx(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Loads the standard MNIST training pair from a directory.
pub fn load_idx_dir(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::DataMissing {
            path: dir.into(),
            hint: "expected a directory holding train-images-idx3-ubyte[.gz] and \
                   train-labels-idx1-ubyte[.gz]"
                .into(),
        });
    }
    let missing = |name: &str| Error::DataMissing {
        path: dir.into(),
        hint: format!("no {name} or {name}.gz in it"),
    };
    let img_path = find_idx(dir, "train-images-idx3-ubyte")
        .ok_or_else(|| missing("train-images-idx3-ubyte"))?;
    let lbl_path = find_idx(dir, "train-labels-idx1-ubyte")
        .ok_or_else(|| missing("train-labels-idx1-ubyte"))?;
    let images = idx::read_idx(&img_path)?;
    let labels = idx::read_idx(&lbl_path)?;
    let &[n, h, w] = images.dims.as_slice() else {
        return Err(Error::Idx {
            path: img_path,
            reason: format!(
                "images need 3 dimensions (count, rows, columns), found {:?}",
                images.dims
            ),
        });
    };
    let &[nl] = labels.dims.as_slice() else {
        return Err(Error::Idx {
            path: lbl_path,
            reason: format!("labels need 1 dimension, found {:?}", labels.dims),
        });
    };
    if nl != n {
        return Err(Error::Idx {
            path: lbl_path,
            reason: format!("{nl} labels for {n} images in {}", img_path.display()),
        });
    }
    let labels: Vec<u32> = labels.data.iter().map(|&b| b as u32).collect();
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    let samples = images
        .data
        .iter()
        .map(|&b| b as f32 / 127.5 - 1.0)
        .collect();
    Ok(Dataset {
        name: DataSource::Idx { dir: dir.into() }.name(),
        samples,
        labels: Some(labels),
        num_classes,
        channels: 1,
        height: h,
        width: w,
    })
}
