//! PNG pictures of samples: image grids, and scatter plots for the 2-D toy data.

use std::path::Path;

use crate::error::{Error, Result};

/// Maps a value of a [-1, 1] image to a byte, -1 -> 0 and 1 -> 255, as the runtime's display
/// helpers do.
pub fn tanh_to_u8(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Largest `--scale`: a 28-pixel digit 448 pixels wide.
pub const MAX_SCALE: usize = 16;

/// The magnification used when none is asked for: about 112 pixels per image side (4x for the
/// 28-pixel digits), so a grid is legible on a screen without zooming; 1 for images that large.
pub fn default_scale(h: usize, w: usize) -> usize {
    (112 / h.max(w).max(1)).clamp(1, MAX_SCALE)
}

/// Parses `--scale` (train, export, sample): a whole magnification from 1 to [`MAX_SCALE`].
pub fn parse_scale(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_SCALE).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_SCALE}")),
    }
}

/// How images are tiled: `count` images of `c` x `h` x `w` bytes (channels first) in `cols`
/// columns, each pixel drawn as a `scale` x `scale` block, images one pixel apart.
#[derive(Debug, Clone, Copy)]
pub struct Tiles {
    pub count: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub cols: usize,
    pub scale: usize,
}

impl Tiles {
    /// Width and height of the picture, in pixels.
    pub fn size(&self) -> (usize, usize) {
        let cols = self.cols.clamp(1, self.count.max(1));
        let rows = self.count.div_ceil(cols);
        let s = self.scale.max(1);
        (cols * (self.w * s + 1) + 1, rows * (self.h * s + 1) + 1)
    }
}

/// Tiles the images as `t` says with a one-pixel border and writes a PNG (grey for 1 channel, RGB
/// for 3).
pub fn save_grid(path: &Path, images: &[u8], t: &Tiles) -> Result<()> {
    let png = grid_png(path, images, t)?;
    crate::output_file::write_atomic(path, &png)
}

/// The PNG bytes [`save_grid`] writes; `path` only names the picture in errors.
pub fn grid_png(path: &Path, images: &[u8], t: &Tiles) -> Result<Vec<u8>> {
    let (c, h, w, s) = (t.c, t.h, t.w, t.scale.max(1));
    let cols = t.cols.clamp(1, t.count.max(1));
    let (gw, gh) = t.size();
    let per = c * h * w;
    let mut rgb = vec![40u8; gw * gh * 3];
    for (i, img) in images.chunks_exact(per).take(t.count).enumerate() {
        let (ox, oy) = (1 + (i % cols) * (w * s + 1), 1 + (i / cols) * (h * s + 1));
        for y in 0..h * s {
            for x in 0..w * s {
                let px = ((oy + y) * gw + ox + x) * 3;
                for k in 0..3 {
                    let ch = if c == 3 { k } else { 0 };
                    rgb[px + k] = img[(ch * h + y / s) * w + x / s];
                }
            }
        }
    }
    let buf = image::RgbImage::from_raw(gw as u32, gh as u32, rgb)
        .ok_or_else(|| Error::InvalidArgument("internal: grid buffer size".into()))?;
    let img = image::DynamicImage::ImageRgb8(buf);
    if c == 1 {
        encode_png(path, &image::DynamicImage::ImageLuma8(img.to_luma8()))
    } else {
        encode_png(path, &img)
    }
}

/// Encodes in memory; the caller writes through a temporary file with every error checked (the
/// image crate's own `save` flushes its buffer on drop, where an error such as a full disk would be
/// lost, and it truncates the old file before writing the new one).
fn encode_png(path: &Path, img: &image::DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::Image {
        path: path.into(),
        reason: format!("cannot encode PNG: {e}"),
    })?;
    Ok(bytes)
}

/// Draws 2-D points (pairs) over `extent` x `extent` around the origin, with the modes marked.
pub fn save_scatter(path: &Path, points: &[f32], modes: &[[f32; 2]], extent: f32) -> Result<()> {
    let png = scatter_png(path, points, modes, extent)?;
    crate::output_file::write_atomic(path, &png)
}

/// The PNG bytes [`save_scatter`] writes; `path` only names the picture in errors.
pub fn scatter_png(
    path: &Path,
    points: &[f32],
    modes: &[[f32; 2]],
    extent: f32,
) -> Result<Vec<u8>> {
    const SIZE: u32 = 384;
    let mut img = image::RgbImage::from_pixel(SIZE, SIZE, image::Rgb([255, 255, 255]));
    let to_px = |v: f32| ((v / extent + 0.5) * SIZE as f32).round() as i64;
    for m in modes {
        let (cx, cy) = (to_px(m[0]), to_px(-m[1]));
        for d in -4i64..=4 {
            for (x, y) in [(cx + d, cy), (cx, cy + d)] {
                if (0..SIZE as i64).contains(&x) && (0..SIZE as i64).contains(&y) {
                    img.put_pixel(x as u32, y as u32, image::Rgb([230, 60, 60]));
                }
            }
        }
    }
    for p in points.chunks_exact(2) {
        let (x, y) = (to_px(p[0]), to_px(-p[1]));
        if (0..SIZE as i64).contains(&x) && (0..SIZE as i64).contains(&y) {
            img.put_pixel(x as u32, y as u32, image::Rgb([20, 20, 120]));
        }
    }
    encode_png(path, &image::DynamicImage::ImageRgb8(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> image::GrayImage {
        image::load_from_memory(png).unwrap().to_luma8()
    }

    #[test]
    fn a_scaled_grid_draws_each_pixel_as_a_block_with_one_pixel_between_images() {
        // Two 2x2 grey images side by side, magnified 3x.
        let images = [10u8, 20, 30, 40, 50, 60, 70, 80];
        let t = Tiles {
            count: 2,
            c: 1,
            h: 2,
            w: 2,
            cols: 2,
            scale: 3,
        };
        assert_eq!(t.size(), (2 * (2 * 3 + 1) + 1, 2 * 3 + 2));
        let img = decode(&grid_png(Path::new("x.png"), &images, &t).unwrap());
        assert_eq!(img.dimensions(), (15, 8));
        // The first image's top-left pixel fills rows and columns 1..4.
        for (x, y) in [(1, 1), (3, 3), (1, 3)] {
            assert_eq!(img.get_pixel(x, y).0, [10], "({x}, {y})");
        }
        assert_eq!(img.get_pixel(4, 1).0, [20]);
        assert_eq!(img.get_pixel(1, 4).0, [30]);
        // The separator column, then the second image.
        assert_eq!(img.get_pixel(7, 2).0, [40]);
        assert_eq!(img.get_pixel(8, 1).0, [50]);
        assert_eq!(img.get_pixel(13, 6).0, [80]);
    }

    #[test]
    fn the_default_scale_is_about_112_pixels_per_side() {
        assert_eq!(default_scale(28, 28), 4);
        assert_eq!(default_scale(64, 64), 1);
        assert_eq!(default_scale(1, 1), MAX_SCALE);
        assert_eq!(parse_scale("4"), Ok(4));
        assert!(parse_scale("0").is_err() && parse_scale("17").is_err());
        assert!(parse_scale("x").is_err());
    }
}
