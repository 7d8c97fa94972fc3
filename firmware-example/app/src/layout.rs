//! Where the image and the caption go, and nearest-neighbour scaling of the generated image.
//!
//! The image gets a square on the left as tall as the display (64x64 on the SSD1306) and the
//! caption the rest. A model image is enlarged by the largest whole factor that fits the square,
//! so every source pixel becomes an equal block (28x28 -> 56x56), and shrunk by nearest neighbour
//! only when it is larger than the square.

use embedded_graphics::geometry::{Point, Size};
use embedded_graphics::primitives::Rectangle;

use crate::Error;

/// The largest image square, in pixels per side: the SSD1306's height.
pub const MAX_IMAGE_SIDE: u32 = 64;
/// Display-resolution pixels an image can have: the size of the dithering buffer every board
/// provides.
pub const MAX_IMAGE_PIXELS: usize = (MAX_IMAGE_SIDE * MAX_IMAGE_SIDE) as usize;
/// Gap between the image square and the caption.
const GAP: u32 = 2;

/// The placement of one frame's parts on a display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The scaled image, centred in its square.
    pub image: Rectangle,
    /// The caption's column, right of the image square.
    pub caption: Rectangle,
}

impl Layout {
    /// Places an image of `width` x `height` source pixels on a display of `display` size.
    pub fn new(display: Size, width: usize, height: usize) -> Result<Layout, Error> {
        if display.width < 32 || display.height < 16 {
            return Err(Error::DisplayTooSmall {
                width: display.width,
                height: display.height,
            });
        }
        let side = display.height.min(display.width / 2).min(MAX_IMAGE_SIDE);
        let (w, h) = fit(width, height, side as usize);
        let (w, h) = (w as u32, h as u32);
        let image = Rectangle::new(
            Point::new(((side - w) / 2) as i32, ((display.height - h) / 2) as i32),
            Size::new(w, h),
        );
        let caption = Rectangle::new(
            Point::new((side + GAP) as i32, 0),
            Size::new(display.width - side - GAP, display.height),
        );
        Ok(Layout { image, caption })
    }

    /// Display pixels in the image rectangle.
    pub fn image_pixels(&self) -> usize {
        (self.image.size.width * self.image.size.height) as usize
    }
}

/// The size a `width` x `height` image takes in a `side` x `side` square: the largest whole
/// enlargement that fits, or a shrink keeping the aspect ratio. Never zero.
pub fn fit(width: usize, height: usize, side: usize) -> (usize, usize) {
    let (width, height, side) = (width.max(1), height.max(1), side.max(1));
    let k = (side / width).min(side / height);
    if k >= 1 {
        (width * k, height * k)
    } else if width >= height {
        (side, (height * side / width).max(1))
    } else {
        ((width * side / height).max(1), side)
    }
}

/// Scales a generated image of `channels` planes of `width` x `height` grey bytes to
/// `dst_width` x `dst_height` by nearest neighbour, averaging the channels (so an RGB model shows
/// its luminance, roughly).
///
/// `src` holds at least `channels * width * height` bytes, `dst` at least
/// `dst_width * dst_height`; the layout above guarantees both for the buffers it sized.
pub fn scale_grey(
    src: &[u8],
    channels: usize,
    width: usize,
    height: usize,
    dst: &mut [u8],
    dst_width: usize,
    dst_height: usize,
) {
    let plane = width * height;
    let channels = channels.max(1);
    if channels == 1 && enlarge_whole(src, width, height, dst, dst_width, dst_height) {
        return;
    }
    for (y, row) in dst
        .chunks_exact_mut(dst_width.max(1))
        .take(dst_height)
        .enumerate()
    {
        let sy = y * height / dst_height;
        for (x, out) in row.iter_mut().enumerate() {
            let sx = x * width / dst_width;
            let index = sy * width + sx;
            let sum: usize = (0..channels)
                .map(|c| src.get(c * plane + index).copied().unwrap_or(0) as usize)
                .sum();
            *out = (sum / channels) as u8;
        }
    }
}

/// [`scale_grey`] for one channel enlarged by whole factors (the layout's usual case, 28x28 to
/// 56x56): each source pixel copied into its block, with one division per row instead of two
/// per pixel, which on a core without a divider (the Cortex-M0+) is most of the scaling's cost.
/// The same pixels as the general loop; `false` (nothing written) when the sizes do not fit.
fn enlarge_whole(
    src: &[u8],
    width: usize,
    height: usize,
    dst: &mut [u8],
    dst_width: usize,
    dst_height: usize,
) -> bool {
    let whole = |big: usize, small: usize| small > 0 && big >= small && big.is_multiple_of(small);
    if !whole(dst_width, width) || !whole(dst_height, height) || src.len() < width * height {
        return false;
    }
    let (kx, ky) = (dst_width / width, dst_height / height);
    for (y, row) in dst.chunks_exact_mut(dst_width).take(dst_height).enumerate() {
        let sy = y / ky;
        let source = &src[sy * width..(sy + 1) * width];
        for (block, &v) in row.chunks_exact_mut(kx).zip(source) {
            block.fill(v);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_enlarges_by_whole_factors() {
        assert_eq!(fit(28, 28, 64), (56, 56));
        assert_eq!(fit(32, 32, 64), (64, 64));
        assert_eq!(fit(64, 64, 64), (64, 64));
        assert_eq!(fit(28, 14, 64), (56, 28));
    }

    #[test]
    fn fit_shrinks_large_images_keeping_aspect() {
        assert_eq!(fit(128, 128, 64), (64, 64));
        assert_eq!(fit(256, 64, 64), (64, 16));
        assert_eq!(fit(10, 1000, 64), (1, 64));
    }

    #[test]
    fn ssd1306_layout_centres_a_digit_left_of_the_caption() {
        let layout = Layout::new(Size::new(128, 64), 28, 28).unwrap();
        assert_eq!(
            layout.image,
            Rectangle::new(Point::new(4, 4), Size::new(56, 56))
        );
        assert_eq!(
            layout.caption,
            Rectangle::new(Point::new(66, 0), Size::new(62, 64))
        );
        assert_eq!(layout.image_pixels(), 56 * 56);
    }

    #[test]
    fn tiny_displays_are_refused() {
        assert!(matches!(
            Layout::new(Size::new(16, 16), 28, 28),
            Err(Error::DisplayTooSmall { .. })
        ));
    }

    #[test]
    fn doubling_turns_each_pixel_into_a_block() {
        let src = [0u8, 10, 20, 30];
        let mut dst = [0u8; 16];
        scale_grey(&src, 1, 2, 2, &mut dst, 4, 4);
        assert_eq!(
            dst,
            [0, 0, 10, 10, 0, 0, 10, 10, 20, 20, 30, 30, 20, 20, 30, 30]
        );
    }

    #[test]
    fn whole_factors_give_the_nearest_neighbour_pixels() {
        let (w, h) = (7, 5);
        let src: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
        for (dw, dh) in [(7, 5), (14, 10), (21, 5), (56, 40), (14, 15)] {
            let mut dst = vec![0u8; dw * dh];
            scale_grey(&src, 1, w, h, &mut dst, dw, dh);
            for y in 0..dh {
                for x in 0..dw {
                    let expected = src[(y * h / dh) * w + x * w / dw];
                    assert_eq!(dst[y * dw + x], expected, "{dw}x{dh} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn channels_are_averaged() {
        // Two 1x2 planes.
        let src = [0u8, 200, 100, 100];
        let mut dst = [0u8; 2];
        scale_grey(&src, 2, 2, 1, &mut dst, 2, 1);
        assert_eq!(dst, [50, 150]);
    }
}
