//! Frame files in the simplest formats there are, written through any byte sink (semihosting,
//! a file, a Vec), so every board writes exactly the same bytes for the same frame.
//!
//! Pixels are written the way the OLED shows them: a lit pixel is white (PBM bit 0), a dark one
//! black (PBM bit 1).

use core::fmt::Write;

/// Writes a binary PBM (`P4`) of `width` x `height` pixels, one byte per pixel (non-zero = lit).
pub fn write_pbm<E>(
    width: usize,
    height: usize,
    pixels: &[u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    sink(header("P4", width, height, None).as_bytes())?;
    let mut row = [0u8; 64];
    for y in 0..height {
        let bytes = width.div_ceil(8).min(row.len());
        row[..bytes].fill(0);
        for x in 0..width.min(bytes * 8) {
            let lit = pixels.get(y * width + x).is_some_and(|&p| p != 0);
            if !lit {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        sink(&row[..bytes])?;
    }
    Ok(())
}

/// Writes a binary PBM (`P4`) of a packed 1-bit frame (most significant bit leftmost, rows padded
/// to whole bytes, 1 = lit), such as [`crate::display::DisplayBuffer::data`].
pub fn write_packed_pbm<E>(
    width: usize,
    height: usize,
    packed: &[u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    sink(header("P4", width, height, None).as_bytes())?;
    let mut chunk = [0u8; 64];
    for part in packed.chunks(chunk.len()) {
        for (o, &b) in chunk.iter_mut().zip(part) {
            *o = !b;
        }
        sink(&chunk[..part.len()])?;
    }
    Ok(())
}

/// Writes a binary PGM (`P5`, maximum 255) of `width` x `height` grey bytes.
pub fn write_pgm<E>(
    width: usize,
    height: usize,
    grey: &[u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    sink(header("P5", width, height, Some(255)).as_bytes())?;
    sink(grey.get(..width * height).unwrap_or(grey))
}

/// Writes `values` as raw little-endian f32: the generator's exact output, for bit-for-bit
/// comparison between targets.
pub fn write_f32_le<E>(
    values: &[f32],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut chunk = [0u8; 64];
    for part in values.chunks(chunk.len() / 4) {
        for (o, v) in chunk.chunks_exact_mut(4).zip(part) {
            o.copy_from_slice(&v.to_le_bytes());
        }
        sink(&chunk[..part.len() * 4])?;
    }
    Ok(())
}

fn header(magic: &str, width: usize, height: usize, max: Option<u32>) -> heapless::String<40> {
    let mut h = heapless::String::new();
    // 40 bytes hold the magic, two 10-digit numbers and the maximum.
    let _ = write!(h, "{magic}\n{width} {height}\n");
    if let Some(max) = max {
        let _ = writeln!(h, "{max}");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn collect(
        f: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<(), ()>) -> Result<(), ()>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn pbm_marks_dark_pixels_and_pads_rows() {
        let pixels = [
            1u8, 0, 1, 1, 1, 1, 1, 1, 1, 0, /* row 2 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let out = collect(|s| write_pbm(10, 2, &pixels, s));
        assert_eq!(out, b"P4\n10 2\n\x40\x40\xff\x80".to_vec());
    }

    #[test]
    fn packed_frames_match_unpacked_ones() {
        let mut fb = crate::display::DisplayBuffer::new();
        use embedded_graphics::prelude::*;
        fb.set_pixel(
            Point::new(3, 1),
            embedded_graphics::pixelcolor::BinaryColor::On,
        );
        let mut pixels = [0u8; 128 * 64];
        pixels[128 + 3] = 1;
        let a = collect(|s| write_packed_pbm(128, 64, fb.data(), s));
        let b = collect(|s| write_pbm(128, 64, &pixels, s));
        assert_eq!(a, b);
    }

    #[test]
    fn pgm_and_f32_are_exact() {
        let out = collect(|s| write_pgm(2, 1, &[7, 9], s));
        assert_eq!(out, b"P5\n2 1\n255\n\x07\x09".to_vec());
        let values: Vec<f32> = (0..40).map(|i| i as f32 * -0.5).collect();
        let out = collect(|s| write_f32_le(&values, s));
        let back: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, values);
    }
}
