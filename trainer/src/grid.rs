//! PNG pictures of samples: image grids, and scatter plots for the 2-D toy data.

use std::path::Path;

use crate::error::{Error, Result};

/// Maps a value of a [-1, 1] image to a byte, -1 -> 0 and 1 -> 255, as the runtime's display
/// helpers do.
pub fn tanh_to_u8(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Tiles `count` images (bytes, channels first, `c` x `h` x `w` each) into `cols` columns with a
/// one-pixel border and writes a PNG (grey for 1 channel, RGB for 3).
pub fn save_grid(
    path: &Path,
    images: &[u8],
    count: usize,
    c: usize,
    h: usize,
    w: usize,
    cols: usize,
) -> Result<()> {
    let png = grid_png(path, images, count, c, h, w, cols)?;
    crate::output_file::write_atomic(path, &png)
}

/// The PNG bytes [`save_grid`] writes; `path` only names the picture in errors.
pub fn grid_png(
    path: &Path,
    images: &[u8],
    count: usize,
    c: usize,
    h: usize,
    w: usize,
    cols: usize,
) -> Result<Vec<u8>> {
    let cols = cols.clamp(1, count.max(1));
    let rows = count.div_ceil(cols);
    let (gw, gh) = (cols * (w + 1) + 1, rows * (h + 1) + 1);
    let per = c * h * w;
    let mut rgb = vec![40u8; gw * gh * 3];
    for i in 0..count {
        let img = &images[i * per..(i + 1) * per];
        let (ox, oy) = (1 + (i % cols) * (w + 1), 1 + (i / cols) * (h + 1));
        for y in 0..h {
            for x in 0..w {
                let px = ((oy + y) * gw + ox + x) * 3;
                for k in 0..3 {
                    let ch = if c == 3 { k } else { 0 };
                    rgb[px + k] = img[(ch * h + y) * w + x];
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
