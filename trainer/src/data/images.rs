//! A folder of PNG/JPEG images as an unlabelled dataset, resized to a square size.
//!
//! All source images must share one size: silently stretching some of them would teach the
//! generator distorted shapes, so a mixed folder is an error naming the odd file.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::Dataset;
use crate::error::{Error, Result};

/// Image files in `dir`, sorted by name so runs are reproducible.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::DataMissing {
            path: dir.into(),
            hint: "expected a folder of PNG or JPEG images".into(),
        });
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if path.is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The number of images [`load_dir`] would load from `dir`, found without decoding them: the
/// training budget checks what they will take before they are read.
pub fn count(dir: &Path) -> Result<usize> {
    image_files(dir).map(|f| f.len())
}

/// Loads every image in `dir`, resized to `size` x `size` with `channels` 1 (grey) or 3 (RGB).
pub fn load_dir(dir: &Path, size: usize, channels: usize) -> Result<Dataset> {
    if !(1..=1024).contains(&size) {
        return Err(Error::InvalidArgument(format!(
            "--image-size {size} must be between 1 and 1024"
        )));
    }
    if channels != 1 && channels != 3 {
        return Err(Error::InvalidArgument(format!(
            "--channels {channels} must be 1 or 3"
        )));
    }
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(Error::EmptyImageDir { path: dir.into() });
    }
    let side = size as u32;
    let mut samples = Vec::with_capacity(files.len() * size * size * channels);
    let mut first_dims: Option<(u32, u32, &Path)> = None;
    for path in &files {
        let img = image::open(path).map_err(|e| Error::Image {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let (w, h) = (img.width(), img.height());
        match first_dims {
            None => first_dims = Some((w, h, path)),
            Some((fw, fh, first)) if (fw, fh) != (w, h) => {
                return Err(Error::Image {
                    path: path.clone(),
                    reason: format!(
                    "is {w}x{h} but {} is {fw}x{fh}; all images in a folder must share one size",
                    first.display()
                ),
                })
            }
            Some(_) => {}
        }
        let img = img.resize_exact(side, side, FilterType::Triangle);
        // Channels first, as the generator produces them.
        if channels == 1 {
            samples.extend(
                img.to_luma8()
                    .as_raw()
                    .iter()
                    .map(|&b| b as f32 / 127.5 - 1.0),
            );
        } else {
            let rgb = img.to_rgb8();
            for c in 0..3 {
                samples.extend(
                    rgb.as_raw()
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .map(|&b| b as f32 / 127.5 - 1.0),
                );
            }
        }
    }
    Ok(Dataset {
        name: dir
            .file_name()
            .map_or_else(|| "images".into(), |s| s.to_string_lossy().into_owned()),
        samples,
        labels: None,
        num_classes: 0,
        channels,
        height: size,
        width: size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_resizes_and_rejects_mixed_sizes() {
        let dir = tempfile::tempdir().unwrap();
        image::GrayImage::from_pixel(8, 8, image::Luma([255]))
            .save(dir.path().join("a.png"))
            .unwrap();
        image::GrayImage::from_pixel(8, 8, image::Luma([0]))
            .save(dir.path().join("b.png"))
            .unwrap();
        let d = load_dir(dir.path(), 4, 1).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.sample_len(), 16);
        assert!((d.samples[0] - 1.0).abs() < 1e-6 && (d.samples[16] + 1.0).abs() < 1e-6);
        let rgb = load_dir(dir.path(), 4, 3).unwrap();
        assert_eq!(rgb.sample_len(), 48);

        image::GrayImage::new(9, 8)
            .save(dir.path().join("c.png"))
            .unwrap();
        let err = load_dir(dir.path(), 4, 1).unwrap_err().to_string();
        assert!(
            err.contains("c.png") && err.contains("share one size"),
            "{err}"
        );
    }

    #[test]
    fn empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let err = load_dir(dir.path(), 28, 1).unwrap_err();
        assert!(matches!(err, Error::EmptyImageDir { .. }));
    }
}
