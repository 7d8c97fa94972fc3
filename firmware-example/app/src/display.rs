//! The 128x64 monochrome display every board draws to, and a framebuffer for boards without one.

use embedded_graphics::framebuffer::{buffer_size, Framebuffer};
use embedded_graphics::geometry::{Point, Size};
use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyle};
use embedded_graphics::pixelcolor::raw::{BigEndian, RawU1};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};

use crate::caption::Line;

/// The SSD1306's size.
pub const WIDTH: usize = 128;
/// The SSD1306's size.
pub const HEIGHT: usize = 64;
/// The SSD1306's size, as embedded-graphics wants it.
pub const SIZE: Size = Size::new(WIDTH as u32, HEIGHT as u32);
/// Bytes of a packed 1-bit frame.
pub const BUFFER_BYTES: usize = buffer_size::<BinaryColor>(WIDTH, HEIGHT);

/// An in-memory SSD1306: 1 bit per pixel, rows of 16 bytes, most significant bit leftmost, which
/// is also the pixel order of a binary PBM file.
pub type DisplayBuffer = Framebuffer<BinaryColor, RawU1, BigEndian, WIDTH, HEIGHT, BUFFER_BYTES>;

/// The caption font: 6x10 fits 10 characters beside a 64-pixel image square and six lines.
pub const FONT: MonoTextStyle<'static, BinaryColor> =
    MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
/// Line height of [`FONT`].
pub const LINE_HEIGHT: i32 = 10;
/// Characters per line of [`FONT`] across the whole 128-pixel display.
pub const CHARS_PER_LINE: usize = WIDTH / 6;

/// Shows `message` (an error) across the whole display, wrapped at the display's width, so that
/// a board without a debug probe still says why it stopped.
pub fn draw_message<D>(display: &mut D, message: impl core::fmt::Display) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    display.clear(BinaryColor::Off)?;
    let text: heapless::String<128> = crate::caption::text(message);
    let per_line = (display.bounding_box().size.width as usize / 6).max(1);
    let mut y = 0;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut l = Line::new();
        for c in chars.by_ref().take(per_line) {
            let _ = l.push(c);
        }
        Text::with_baseline(&l, Point::new(0, y), FONT, Baseline::Top).draw(display)?;
        y += LINE_HEIGHT;
    }
    Ok(())
}
