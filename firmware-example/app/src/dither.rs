//! The choice of 1-bit dithering for the monochrome display (the algorithms are the runtime's,
//! in `runtime::output`).
//!
//! Ordered dithering keeps a fixed pattern per grey level (no crawling between frames, cheap);
//! Floyd-Steinberg spreads the error and keeps more detail in thin strokes. Both are
//! integer-only, so every target draws the same bits.

/// How grey becomes on/off pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dither {
    /// 8x8 Bayer threshold matrix.
    Ordered,
    /// Floyd-Steinberg error diffusion, left to right, top to bottom.
    FloydSteinberg,
}

impl Dither {
    /// The build's choice: Floyd-Steinberg with the `floyd-steinberg` feature, else ordered.
    pub const DEFAULT: Dither = if cfg!(feature = "floyd-steinberg") {
        Dither::FloydSteinberg
    } else {
        Dither::Ordered
    };

    /// Short name for logs and command lines.
    pub fn name(self) -> &'static str {
        match self {
            Dither::Ordered => "ordered",
            Dither::FloydSteinberg => "floyd-steinberg",
        }
    }

    /// Turns `width` x `height` grey bytes into 0 (off) or 255 (on) in place; bytes past the
    /// image are left alone.
    pub fn apply(self, pixels: &mut [u8], width: usize, height: usize) {
        let end = width.saturating_mul(height).min(pixels.len());
        let pixels = &mut pixels[..end];
        match self {
            Dither::Ordered => runtime::output::dither_ordered(pixels, width),
            Dither::FloydSteinberg => runtime::output::dither_floyd_steinberg(pixels, width),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(pixels: &[u8]) -> usize {
        pixels.iter().filter(|&&p| p == 255).count()
    }

    #[test]
    fn both_choices_give_one_bit_with_the_mean_brightness() {
        for dither in [Dither::Ordered, Dither::FloydSteinberg] {
            let mut grey = [96u8; 56 * 56];
            dither.apply(&mut grey, 56, 56);
            assert!(grey.iter().all(|&p| p == 0 || p == 255), "{dither:?}");
            let share = lit(&grey) as f32 / (56.0 * 56.0);
            assert!((share - 96.0 / 255.0).abs() < 0.03, "{dither:?}: {share}");
        }
    }

    #[test]
    fn the_two_choices_differ() {
        let ramp = |i: usize| (i % 56 * 255 / 55) as u8;
        let mut a: [u8; 56 * 8] = core::array::from_fn(ramp);
        let mut b = a;
        Dither::Ordered.apply(&mut a, 56, 8);
        Dither::FloydSteinberg.apply(&mut b, 56, 8);
        assert_ne!(a, b);
    }

    #[test]
    fn bytes_past_the_image_are_untouched() {
        let mut grey = [200u8; 20];
        Dither::FloydSteinberg.apply(&mut grey, 4, 4);
        assert_eq!(grey[16..], [200; 4]);
        Dither::Ordered.apply(&mut grey, 4, 100);
        assert!(grey.iter().all(|&p| p == 0 || p == 255));
    }

    #[test]
    fn the_default_follows_the_feature() {
        let expected = if cfg!(feature = "floyd-steinberg") {
            "floyd-steinberg"
        } else {
            "ordered"
        };
        assert_eq!(Dither::DEFAULT.name(), expected);
    }
}
