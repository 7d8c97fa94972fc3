//! The frame loop: latent -> generator -> grey -> scaled -> dithered -> drawn.

use embedded_graphics::geometry::{Point, Size};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use runtime::rng::LatentRng;
use runtime::Generator;

use crate::caption::{self, Stopwatch, Timing};
use crate::display::{self, FONT};
use crate::layout::{self, Layout};
use crate::{Buffers, Dither, Error, DEFAULT_SEED};

/// Choices a board makes once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Seed of the latent sequence: frame `n` uses the `n`-th latent drawn from it.
    pub seed: u64,
    pub dither: Dither,
    /// Size of the display the frames are laid out for.
    pub display: Size,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: DEFAULT_SEED,
            dither: Dither::DEFAULT,
            display: display::SIZE,
        }
    }
}

/// A generator with its latent sequence, class cycle and buffers.
pub struct App<'m, 'b> {
    generator: Generator<'m>,
    rng: LatentRng,
    dither: Dither,
    layout: Layout,
    /// Channels, height, width of one generated image.
    shape: (usize, usize, usize),
    buffers: Buffers<'b>,
    frame: u32,
}

/// One finished frame, borrowing the app's buffers until the next one is made.
pub struct Frame<'a> {
    /// 0 for the first frame.
    pub index: u32,
    /// The class the image was generated for (`None` for an unconditional model).
    pub class: Option<usize>,
    /// How long the generator took.
    pub timing: Timing,
    /// The generator's output, `channels * height * width` f32.
    pub output: &'a [f32],
    /// The output as grey bytes (the low end of the model's range is 0), same layout.
    pub grey: &'a [u8],
    /// The dithered display image, one byte per pixel, 1 = lit, `layout.image.size` pixels.
    pub image: &'a [u8],
    /// Channels, height, width of the output.
    pub shape: (usize, usize, usize),
    pub layout: Layout,
}

impl<'m, 'b> App<'m, 'b> {
    /// Checks the buffers against the generator and the display.
    pub fn new(
        generator: Generator<'m>,
        config: Config,
        buffers: Buffers<'b>,
    ) -> Result<Self, Error> {
        let shape = generator.output_shape();
        let shape = (shape.c, shape.h, shape.w);
        let layout = Layout::new(config.display, shape.2, shape.1)?;
        let buffers = buffers.fit(&generator, layout.image_pixels())?;
        Ok(App {
            generator,
            rng: LatentRng::new(config.seed),
            dither: config.dither,
            layout,
            shape,
            buffers,
            frame: 0,
        })
    }

    pub fn generator(&self) -> &Generator<'m> {
        &self.generator
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Makes the next frame: the next latent, the next class, one generator call (timed by
    /// `stopwatch`), then grey, scaling and dithering.
    pub fn next_frame(&mut self, stopwatch: &mut impl Stopwatch) -> Result<Frame<'_>, Error> {
        let index = self.frame;
        self.frame = self.frame.wrapping_add(1);
        let class = match self.generator.num_classes() {
            0 => None,
            n => Some(index as usize % n),
        };
        let b = &mut self.buffers;
        self.rng.fill_normal(b.latent);
        stopwatch.start();
        let result = self
            .generator
            .generate(b.latent, class, b.scratch, b.output);
        let timing = stopwatch.stop();
        result?;
        runtime::output::to_grey_u8(b.output, self.generator.output_activation(), b.grey);
        let (c, h, w) = self.shape;
        let size = self.layout.image.size;
        let (iw, ih) = (size.width as usize, size.height as usize);
        layout::scale_grey(b.grey, c, w, h, b.image, iw, ih);
        self.dither.apply(b.image, iw, ih);
        Ok(Frame {
            index,
            class,
            timing,
            output: b.output,
            grey: b.grey,
            image: b.image,
            shape: self.shape,
            layout: self.layout,
        })
    }
}

impl Frame<'_> {
    /// Draws the image and the caption over the whole display.
    pub fn draw<D>(&self, display: &mut D) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = BinaryColor>,
    {
        display.clear(BinaryColor::Off)?;
        let pixels = self.image.iter().map(|&p| {
            if p != 0 {
                BinaryColor::On
            } else {
                BinaryColor::Off
            }
        });
        display.fill_contiguous(&self.layout.image, pixels)?;
        let mut column = display.clipped(&self.layout.caption);
        let origin = self.layout.caption.top_left;
        for (i, l) in caption::lines(self.class, self.index, self.timing)
            .iter()
            .enumerate()
        {
            let at = origin + Point::new(0, 2 + i as i32 * (display::LINE_HEIGHT + 2));
            Text::with_baseline(l, at, FONT, Baseline::Top).draw(&mut column)?;
        }
        Ok(())
    }
}
