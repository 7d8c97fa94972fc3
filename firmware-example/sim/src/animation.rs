//! A latent walk as pictures: an animated PNG of the display, frame after frame, and a strip of
//! the images laid out one walk segment per row.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use gan_app::display::{self, DisplayBuffer};
use gan_app::{layout, Frame};

use crate::error::Error;

/// Grey of the lit and dark OLED pixels, and of the gaps between the strip's tiles.
const LIT: u8 = 255;
const DARK: u8 = 0;
const GAP_GREY: u8 = 96;
/// Pixels between two tiles of the strip.
const GAP: usize = 4;
/// Segments (rows) the strip holds at most; a longer walk is cut off there.
pub const STRIP_MAX_ROWS: usize = 16;

fn png_error(path: &Path) -> impl FnOnce(png::EncodingError) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// An animated PNG (APNG) of the whole display, written frame by frame as they are made.
pub struct Animation {
    path: PathBuf,
    writer: png::Writer<BufWriter<File>>,
    scale: usize,
}

impl Animation {
    /// Starts `path` for `frames` frames of the display enlarged `scale` times, shown `fps`
    /// frames per second, looping forever.
    pub fn create(path: &Path, frames: u32, scale: u32, fps: u16) -> Result<Self, Error> {
        let file = File::create(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let size = |n: usize| n as u32 * scale;
        let mut encoder = png::Encoder::new(
            BufWriter::new(file),
            size(display::WIDTH),
            size(display::HEIGHT),
        );
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_animated(frames, 0).map_err(png_error(path))?;
        encoder.set_frame_delay(1, fps).map_err(png_error(path))?;
        let writer = encoder.write_header().map_err(png_error(path))?;
        Ok(Animation {
            path: path.to_path_buf(),
            writer,
            scale: scale as usize,
        })
    }

    /// Adds the display as `screen` shows it.
    pub fn add(&mut self, screen: &DisplayBuffer) -> Result<(), Error> {
        let s = self.scale;
        let row_bytes = display::WIDTH / 8;
        let mut pixels = Vec::with_capacity(display::WIDTH * display::HEIGHT * s * s);
        for y in 0..display::HEIGHT {
            let row: Vec<u8> = (0..display::WIDTH * s)
                .map(|x| {
                    let x = x / s;
                    let byte = screen.data()[y * row_bytes + x / 8];
                    if byte & (0x80 >> (x % 8)) != 0 {
                        LIT
                    } else {
                        DARK
                    }
                })
                .collect();
            for _ in 0..s {
                pixels.extend_from_slice(&row);
            }
        }
        self.writer
            .write_image_data(&pixels)
            .map_err(png_error(&self.path))
    }

    pub fn finish(self) -> Result<(), Error> {
        self.writer.finish().map_err(png_error(&self.path))
    }
}

/// The walk's images in a grid: row `j` is segment `j` (keyframe `j`, then its steps), each
/// tile the generator's grey output above the dithered image the display shows, both at
/// display resolution.
pub struct Strip {
    steps: usize,
    /// Side of a tile's two squares (the dithered image's size).
    width: usize,
    height: usize,
    /// Per frame: the grey tile, then the dithered tile.
    tiles: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Strip {
    pub fn new(steps: u32) -> Strip {
        Strip {
            steps: steps as usize,
            width: 0,
            height: 0,
            tiles: Vec::new(),
        }
    }

    /// Keeps `frame`'s tiles (until the strip has [`STRIP_MAX_ROWS`] rows).
    pub fn add(&mut self, frame: &Frame<'_>) {
        if self.tiles.len() >= self.steps * STRIP_MAX_ROWS {
            return;
        }
        let size = frame.layout.image.size;
        let (w, h) = (size.width as usize, size.height as usize);
        let (c, gh, gw) = frame.shape;
        let mut grey = vec![0; w * h];
        layout::scale_grey(frame.grey, c, gw, gh, &mut grey, w, h);
        let dithered = frame
            .image
            .iter()
            .map(|&p| if p != 0 { LIT } else { DARK })
            .collect();
        (self.width, self.height) = (w, h);
        self.tiles.push((grey, dithered));
    }

    /// Writes the grid as a greyscale PNG.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let (w, h) = (self.width, self.height);
        let columns = self.steps.min(self.tiles.len());
        let rows = self.tiles.len().div_ceil(self.steps.max(1));
        let (width, height) = (
            GAP + columns * (w + GAP),
            GAP + rows * (2 * h + 2 * GAP) - GAP,
        );
        let mut pixels = vec![GAP_GREY; width * height];
        for (i, (grey, dithered)) in self.tiles.iter().enumerate() {
            let left = GAP + (i % self.steps) * (w + GAP);
            let top = GAP + (i / self.steps) * (2 * h + 2 * GAP);
            for (k, tile) in [grey, dithered].into_iter().enumerate() {
                let top = top + k * h;
                for (y, line) in tile.chunks_exact(w).enumerate() {
                    let at = (top + y) * width + left;
                    pixels[at..at + w].copy_from_slice(line);
                }
            }
        }
        let file = File::create(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error(path))?;
        writer.write_image_data(&pixels).map_err(png_error(path))?;
        writer.finish().map_err(png_error(path))
    }
}
