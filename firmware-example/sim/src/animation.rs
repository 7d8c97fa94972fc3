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

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::geometry::Point;
    use embedded_graphics::image::GetPixel;
    use embedded_graphics::pixelcolor::BinaryColor;
    use gan_app::caption::NoClock;
    use gan_app::{App, Config, HeapBuffers};
    use runtime::format::DType;
    use runtime::Generator;

    /// A greyscale PNG's size, frame count (1 unless animated) and first frame.
    fn decode(path: &Path) -> (u32, u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let info = reader.info();
        let (w, h) = (info.width, info.height);
        let frames = info.animation_control.map_or(1, |a| a.num_frames);
        let mut first = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut first).unwrap();
        (w, h, frames, first)
    }

    #[test]
    fn the_animation_and_the_strip_hold_every_frame_where_it_belongs() {
        let dir = std::env::temp_dir().join(format!("gan-sim-walk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = crate::dev_models::dcgan(3, 0, 8, DType::F16);
        let g = Generator::load(&file).unwrap();
        let mut heap = HeapBuffers::for_model(&g);
        let config = Config {
            walk: 2,
            ..Config::default()
        };
        let mut app = App::new(g, config, heap.buffers()).unwrap();
        let (apng, strip_png) = (dir.join("walk.png"), dir.join("strip.png"));
        let mut animation = Animation::create(&apng, 5, 2, 10).unwrap();
        let mut strip = Strip::new(2);
        let (mut first_screen, mut last_tiles) = (None, None);
        for _ in 0..5 {
            let frame = app.next_frame(&mut NoClock).unwrap();
            let mut screen = DisplayBuffer::new();
            frame.draw(&mut screen).unwrap();
            animation.add(&screen).unwrap();
            strip.add(&frame);
            first_screen.get_or_insert(screen);
            last_tiles = Some(frame.image.to_vec());
        }
        animation.finish().unwrap();
        strip.write(&strip_png).unwrap();

        let (w, h, frames, first) = decode(&apng);
        assert_eq!((w, h, frames), (256, 128, 5));
        let screen = first_screen.unwrap();
        let mut lit_pixels = 0;
        for (y, x) in (0..128).flat_map(|y| (0..256).map(move |x| (y, x))) {
            let lit = screen.pixel(Point::new(x / 2, y / 2)) == Some(BinaryColor::On);
            let at = y as usize * 256 + x as usize;
            assert_eq!(first[at], if lit { LIT } else { DARK }, "pixel {x},{y}");
            lit_pixels += usize::from(lit);
        }
        assert!(lit_pixels > 100, "{lit_pixels}");

        // Two steps per row, three rows (the fifth frame starts the third), 56x56 tiles.
        let (w, h, frames, pixels) = decode(&strip_png);
        assert_eq!((w, h, frames), (4 + 2 * 60, 3 * (2 * 56 + 8), 1));
        // Frame 4's dithered tile: third row, first column, below its grey tile.
        let (left, top) = (4, 4 + 2 * (2 * 56 + 8) + 56);
        for (i, &p) in last_tiles.unwrap().iter().enumerate() {
            let at = (top + i / 56) * w as usize + left + i % 56;
            assert_eq!(
                pixels[at],
                if p != 0 { LIT } else { DARK },
                "tile pixel {i}"
            );
        }
        assert_eq!(pixels[0], GAP_GREY);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
