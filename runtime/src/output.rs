//! What a display needs from a generated image: 8-bit grey, and 1-bit with
//! dithering for monochrome panels such as the SSD1306.

use crate::format::OutputActivation;

/// Maps an image to 8-bit grey, the low end of the activation's range to 0
/// and the high end to 255 (tanh: [-1, 1]; sigmoid: [0, 1]; none: the image's
/// own minimum and maximum, a constant image giving 0). Values outside the
/// range clamp, NaN gives 0. Converts `min(image.len(), out.len())` pixels.
pub fn to_grey_u8(image: &[f32], act: OutputActivation, out: &mut [u8]) {
    let (lo, hi) = match act {
        OutputActivation::Tanh => (-1.0, 1.0),
        OutputActivation::Sigmoid => (0.0, 1.0),
        OutputActivation::None => {
            let finite = image.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f32::INFINITY, f32::min);
            let hi = finite.fold(f32::NEG_INFINITY, f32::max);
            if lo < hi {
                (lo, hi)
            } else {
                (0.0, f32::INFINITY)
            }
        }
    };
    let scale = 255.0 / (hi - lo);
    for (o, &v) in out.iter_mut().zip(image) {
        // `as` saturates and maps NaN to 0.
        *o = ((v - lo) * scale + 0.5) as u8;
    }
}

/// The 8x8 Bayer matrix: thresholds 0..64 in dispersed order.
const BAYER8: [[u8; 8]; 8] = [
    [0, 32, 8, 40, 2, 34, 10, 42],
    [48, 16, 56, 24, 50, 18, 58, 26],
    [12, 44, 4, 36, 14, 46, 6, 38],
    [60, 28, 52, 20, 62, 30, 54, 22],
    [3, 35, 11, 43, 1, 33, 9, 41],
    [51, 19, 59, 27, 49, 17, 57, 25],
    [15, 47, 7, 39, 13, 45, 5, 37],
    [63, 31, 55, 23, 61, 29, 53, 21],
];

/// Ordered (8x8 Bayer) dithering in place: each pixel of a row-major grey
/// image `width` pixels wide becomes 0 or 255. Stateless per pixel, so a
/// frame can be dithered in any order and animations do not shimmer.
pub fn dither_ordered(pixels: &mut [u8], width: usize) {
    if width == 0 {
        return;
    }
    // Row by row: no division per pixel (a Cortex-M0+ has no divider, and two software
    // divisions per pixel cost five times the thresholding).
    for (y, row) in pixels.chunks_mut(width).enumerate() {
        let thresholds = &BAYER8[y % 8];
        for (x, p) in row.iter_mut().enumerate() {
            let t = thresholds[x % 8];
            // On when p / 256 > (t + 0.5) / 64.
            *p = if u32::from(*p) * 128 > u32::from(t) * 512 + 256 {
                255
            } else {
                0
            };
        }
    }
}

/// Floyd-Steinberg error diffusion in place: each pixel becomes 0 or 255 and
/// its error goes 7/16 right, 3/16 down-left, 5/16 down, 1/16 down-right.
/// The diffused values are kept in the u8 pixels themselves, so they clamp
/// to 0..=255 (no extra buffer is needed, at the cost of slightly shorter
/// error propagation in saturated areas).
pub fn dither_floyd_steinberg(pixels: &mut [u8], width: usize) {
    if width == 0 {
        return;
    }
    let len = pixels.len();
    let add = |pixels: &mut [u8], i: usize, e: i32| {
        if let Some(p) = pixels.get_mut(i) {
            *p = (i32::from(*p) + e).clamp(0, 255) as u8;
        }
    };
    for i in 0..len {
        let x = i % width;
        let old = i32::from(pixels[i]);
        let new = if old >= 128 { 255 } else { 0 };
        pixels[i] = new as u8;
        let err = old - new;
        if x + 1 < width {
            add(pixels, i + 1, err * 7 / 16);
        }
        if x > 0 {
            add(pixels, i + width - 1, err * 3 / 16);
        }
        add(pixels, i + width, err * 5 / 16);
        if x + 1 < width {
            add(pixels, i + width + 1, err / 16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_ranges() {
        let mut out = [0u8; 5];
        to_grey_u8(
            &[-1.0, 0.0, 1.0, 2.0, f32::NAN],
            OutputActivation::Tanh,
            &mut out,
        );
        assert_eq!(out, [0, 128, 255, 255, 0]);
        to_grey_u8(
            &[0.0, 0.5, 1.0, -1.0, 0.25],
            OutputActivation::Sigmoid,
            &mut out,
        );
        assert_eq!(out, [0, 128, 255, 0, 64]);
        to_grey_u8(&[3.0, 5.0, 4.0, 3.0, 5.0], OutputActivation::None, &mut out);
        assert_eq!(out, [0, 255, 128, 0, 255]);
        to_grey_u8(&[3.0; 5], OutputActivation::None, &mut out);
        assert_eq!(out, [0; 5]);
        let mut short = [7u8; 2];
        to_grey_u8(&[1.0; 5], OutputActivation::Tanh, &mut short);
        assert_eq!(short, [255; 2]);
    }

    /// Pixel `i` is compared with the threshold at row `i / width`, column
    /// `i % width` of the tiled matrix, a partial last row included.
    #[test]
    fn ordered_thresholds_follow_rows_and_columns() {
        let width = 13;
        let grey: std::vec::Vec<u8> = (0..width * 5 + 6).map(|i| (i * 29 % 256) as u8).collect();
        let mut px = grey.clone();
        dither_ordered(&mut px, width);
        for (i, (&g, &p)) in grey.iter().zip(&px).enumerate() {
            let t = u32::from(BAYER8[(i / width) % 8][(i % width) % 8]);
            let on = u32::from(g) * 128 > t * 512 + 256;
            assert_eq!(p, if on { 255 } else { 0 }, "pixel {i}");
        }
    }

    /// Both ditherings keep the mean brightness of a flat grey field.
    #[test]
    fn dithering_keeps_mean() {
        for level in [0u8, 32, 64, 128, 200, 255] {
            for f in [dither_ordered, dither_floyd_steinberg] {
                let mut px = [level; 64 * 64];
                f(&mut px, 64);
                assert!(px.iter().all(|&p| p == 0 || p == 255));
                let on = px.iter().filter(|&&p| p == 255).count() as f32 / px.len() as f32;
                assert!(
                    (on - f32::from(level) / 255.0).abs() < 0.03,
                    "{level}: {on}"
                );
            }
        }
        let mut px = [100u8; 10];
        dither_ordered(&mut px, 0);
        dither_floyd_steinberg(&mut px, 0);
        dither_floyd_steinberg(&mut px, 3);
    }
}
