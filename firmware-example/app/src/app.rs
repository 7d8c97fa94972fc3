//! The frame loop: latent (fresh, or a step of a latent walk) -> generator -> grey -> scaled ->
//! dithered -> drawn.

use embedded_graphics::geometry::{Point, Size};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use runtime::rng::LatentRng;
use runtime::Generator;

use crate::caption::{self, Stopwatch, Timing};
use crate::display::{self, FONT};
use crate::layout::{self, Layout};
use crate::walk::{self, Segment};
use crate::{Buffers, Dither, Error, DEFAULT_SEED};

/// Which class a conditional model is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classes {
    /// 0, 1, ..., `num_classes - 1`, 0, ...: one class per fresh latent (per frame, or per
    /// keyframe of a walk). Nothing for an unconditional model.
    #[default]
    Cycle,
    /// Always this class (an error for an unconditional model or a class it does not have).
    Only(usize),
}

impl From<Option<usize>> for Classes {
    /// A build setting's class: `None` cycles.
    fn from(class: Option<usize>) -> Self {
        class.map_or(Classes::Cycle, Classes::Only)
    }
}

/// Choices a board makes once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Seed of the latent sequence: frame `n` uses the `n`-th latent drawn from it.
    pub seed: u64,
    pub dither: Dither,
    /// Size of the display the frames are laid out for.
    pub display: Size,
    /// Frames per segment of a latent walk: 0 for none (every frame a fresh latent), `N` for
    /// `N` frames from each latent towards the next (module [`walk`]).
    pub walk: u32,
    /// Which class each frame of a conditional model is generated for.
    pub classes: Classes,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: DEFAULT_SEED,
            dither: Dither::DEFAULT,
            display: display::SIZE,
            walk: 0,
            classes: Classes::Cycle,
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
    walk: u32,
    classes: Classes,
    /// The walk's current segment, from `buffers.walk_from` to `buffers.walk_to` (`None` until
    /// the first one is drawn).
    segment: Option<Segment>,
}

/// One finished frame, borrowing the app's buffers until the next one is made.
pub struct Frame<'a> {
    /// 0 for the first frame.
    pub index: u32,
    /// The class the image was generated for (`None` for an unconditional model).
    pub class: Option<usize>,
    /// On a latent walk, the step within the segment: `0` is the keyframe (exactly a fresh
    /// latent), `1 .. N` lie between it and the next. `None` without a walk.
    pub walk_step: Option<u32>,
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
    /// Checks the buffers against the generator and the display, and the class, if one is
    /// fixed, against the generator.
    pub fn new(
        generator: Generator<'m>,
        config: Config,
        buffers: Buffers<'b>,
    ) -> Result<Self, Error> {
        let shape = generator.output_shape();
        let shape = (shape.c, shape.h, shape.w);
        let layout = Layout::new(config.display, shape.2, shape.1)?;
        let buffers = buffers.fit(&generator, layout.image_pixels())?;
        if let Classes::Only(class) = config.classes {
            let num_classes = generator.num_classes();
            if class >= num_classes {
                return Err(Error::NoSuchClass { class, num_classes });
            }
        }
        Ok(App {
            generator,
            rng: LatentRng::new(config.seed),
            dither: config.dither,
            layout,
            shape,
            buffers,
            frame: 0,
            walk: config.walk,
            classes: config.classes,
            segment: None,
        })
    }

    pub fn generator(&self) -> &Generator<'m> {
        &self.generator
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Makes the next frame: the next latent (or walk step), its class, one generator call
    /// (timed by `stopwatch`), then grey, scaling and dithering.
    pub fn next_frame(&mut self, stopwatch: &mut impl Stopwatch) -> Result<Frame<'_>, Error> {
        let index = self.frame;
        self.frame = self.frame.wrapping_add(1);
        let (keyframe, walk_step) = match self.walk {
            0 => (index, None),
            n => (index / n, Some(index % n)),
        };
        let class = match (self.classes, self.generator.num_classes()) {
            (_, 0) => None,
            (Classes::Only(k), _) => Some(k),
            (Classes::Cycle, n) => Some(keyframe as usize % n),
        };
        self.next_latent(walk_step);
        let b = &mut self.buffers;
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
            walk_step,
            timing,
            output: b.output,
            grey: b.grey,
            image: b.image,
            shape: self.shape,
            layout: self.layout,
        })
    }

    /// Fills the latent buffer: the next latent of the stream, or step `k` of the walk's
    /// current segment. At step 0 the segment moves on: its end becomes its start (the first
    /// time, a latent is drawn for the start) and the next latent of the stream its end.
    fn next_latent(&mut self, walk_step: Option<u32>) {
        let b = &mut self.buffers;
        let Some(k) = walk_step else {
            self.rng.fill_normal(b.latent);
            return;
        };
        let segment = match self.segment {
            Some(segment) if k != 0 => segment,
            previous => {
                match previous {
                    Some(_) => core::mem::swap(&mut b.walk_from, &mut b.walk_to),
                    None => self.rng.fill_normal(b.walk_from),
                }
                self.rng.fill_normal(b.walk_to);
                let segment = Segment::between(b.walk_from, b.walk_to);
                self.segment = Some(segment);
                segment
            }
        };
        let t = walk::fraction(k, self.walk);
        segment.point(b.walk_from, b.walk_to, t, b.latent);
    }
}

impl Frame<'_> {
    /// Draws what changed since the previous frame: between a walk's keyframes only the image
    /// (the caption keeps the keyframe's class, number and time), else the whole display. A
    /// display that sends only what was drawn (the SSD1306 driver's buffered mode) then sends
    /// 56 columns of 8 pages, 448 bytes, instead of 1,024.
    pub fn draw_update<D>(&self, display: &mut D) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = BinaryColor>,
    {
        match self.walk_step {
            Some(k) if k != 0 => self.draw_image(display),
            _ => self.draw(display),
        }
    }

    /// Draws the image alone, over its rectangle.
    pub fn draw_image<D>(&self, display: &mut D) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = BinaryColor>,
    {
        let pixels = self.image.iter().map(|&p| {
            if p != 0 {
                BinaryColor::On
            } else {
                BinaryColor::Off
            }
        });
        display.fill_contiguous(&self.layout.image, pixels)
    }

    /// Draws the image and the caption over the whole display.
    pub fn draw<D>(&self, display: &mut D) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = BinaryColor>,
    {
        display.clear(BinaryColor::Off)?;
        self.draw_image(display)?;
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
