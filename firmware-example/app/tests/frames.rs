//! The frame loop end to end on the host, with development models and embedded-graphics'
//! MockDisplay and framebuffer.

mod support;

use embedded_graphics::image::GetPixel;
use embedded_graphics::mock_display::MockDisplay;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use gan_app::caption::NoClock;
use gan_app::display::{self, DisplayBuffer, FONT};
use gan_app::{App, Classes, Config, Dither, Error, HeapBuffers, Stopwatch, Timing};
use runtime::format::DType;
use runtime::rng::LatentRng;
use runtime::Generator;

/// A stopwatch that always reports the same time, so captions are predictable.
struct Fixed(Timing);

impl Stopwatch for Fixed {
    fn start(&mut self) {}
    fn stop(&mut self) -> Timing {
        self.0
    }
}

/// Runs `f` on an app for `file` with heap buffers, standing in for a board's statics.
fn with_app<R>(file: &[u8], config: Config, f: impl FnOnce(&mut App<'_, '_>) -> R) -> R {
    let g = Generator::load(file).unwrap();
    let mut heap = HeapBuffers::for_model(&g);
    let mut app = App::new(g, config, heap.buffers()).unwrap();
    f(&mut app)
}

fn small_conditional() -> Vec<u8> {
    support::dcgan(7, 10, 8, DType::F16)
}

#[test]
fn frames_are_what_the_runtime_computes_for_the_seeded_latent_sequence() {
    let file = small_conditional();
    let g = Generator::load(&file).unwrap();
    let mut owned = HeapBuffers::for_model(&g);
    let mut app = App::new(
        Generator::load(&file).unwrap(),
        Config::default(),
        owned.buffers(),
    )
    .unwrap();

    let mut rng = LatentRng::new(gan_app::DEFAULT_SEED);
    let mut z = vec![0.0; g.latent_dim()];
    let mut scratch = vec![0.0; g.scratch_len()];
    let mut expected = vec![0.0; g.output_len()];
    for n in 0..3 {
        rng.fill_normal(&mut z);
        g.generate(&z, Some(n), &mut scratch, &mut expected)
            .unwrap();
        let frame = app.next_frame(&mut NoClock).unwrap();
        assert_eq!(frame.index, n as u32);
        assert_eq!(frame.class, Some(n));
        let same_bits = frame
            .output
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same_bits, "frame {n} differs from the runtime's own output");
        assert_eq!(frame.shape, (1, 28, 28));
    }
}

#[test]
fn the_latent_advances_and_classes_cycle() {
    let (first, second, classes) = with_app(&small_conditional(), Config::default(), |app| {
        let first = app.next_frame(&mut NoClock).unwrap().output.to_vec();
        let second = app.next_frame(&mut NoClock).unwrap().output.to_vec();
        let classes: Vec<_> = (0..10)
            .map(|_| app.next_frame(&mut NoClock).unwrap().class)
            .collect();
        (first, second, classes)
    });
    assert_ne!(first, second);
    let expected: Vec<_> = [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
        .into_iter()
        .map(Some)
        .collect();
    assert_eq!(classes, expected);
}

#[test]
fn unconditional_models_get_no_class() {
    let file = support::dcgan(3, 0, 8, DType::F32);
    let class = with_app(&file, Config::default(), |app| {
        app.next_frame(&mut NoClock).unwrap().class
    });
    assert_eq!(class, None);
}

#[test]
fn same_seed_same_frames_other_seed_other_frames() {
    let file = small_conditional();
    let run = |seed: u64| {
        let config = Config {
            seed,
            ..Config::default()
        };
        with_app(&file, config, |app| {
            let f = app.next_frame(&mut NoClock).unwrap();
            (f.output.to_vec(), f.image.to_vec())
        })
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).0, run(2).0);
}

#[test]
fn the_ssd1306_frame_holds_the_dithered_image_and_the_caption() {
    with_app(&small_conditional(), Config::default(), |app| {
        let frame = app.next_frame(&mut Fixed(Timing::Micros(850_000))).unwrap();
        assert_eq!(frame.image.len(), 56 * 56);
        assert!(frame.image.iter().all(|&p| p == 0 || p == 255));
        // Scaling then dithering: recompute from the grey output.
        let mut expected = vec![0u8; 56 * 56];
        gan_app::layout::scale_grey(frame.grey, 1, 28, 28, &mut expected, 56, 56);
        Dither::DEFAULT.apply(&mut expected, 56, 56);
        assert_eq!(frame.image, &expected[..]);

        let mut fb = DisplayBuffer::new();
        frame.draw(&mut fb).unwrap();
        for y in 0..64 {
            for x in 0..64 {
                let inside = (4..60).contains(&x) && (4..60).contains(&y);
                let lit = inside && expected[((y - 4) * 56 + x - 4) as usize] != 0;
                assert_eq!(
                    fb.pixel(Point::new(x, y)),
                    Some(BinaryColor::from(lit)),
                    "pixel {x},{y}"
                );
            }
        }
        // The caption column shows exactly these three lines.
        let mut caption = DisplayBuffer::new();
        for (i, text) in ["class 0", "#0", "850 ms"].iter().enumerate() {
            Text::with_baseline(text, Point::new(66, 2 + 12 * i as i32), FONT, Baseline::Top)
                .draw(&mut caption)
                .unwrap();
        }
        for y in 0..64 {
            for x in 64..128 {
                let p = Point::new(x, y);
                assert_eq!(fb.pixel(p), caption.pixel(p), "caption pixel {x},{y}");
            }
        }
    });
}

#[test]
fn a_small_display_gets_a_smaller_layout_that_stays_inside() {
    let config = Config {
        display: Size::new(64, 64),
        ..Config::default()
    };
    with_app(&small_conditional(), config, |app| {
        let frame = app
            .next_frame(&mut Fixed(Timing::Instructions(12_345_678)))
            .unwrap();
        assert_eq!(frame.layout.image.size, Size::new(28, 28));
        // MockDisplay panics on any pixel outside its 64x64.
        let mut mock = MockDisplay::<BinaryColor>::new();
        mock.set_allow_overdraw(true);
        frame.draw(&mut mock).unwrap();
        let image_area = frame.layout.image;
        for (i, &p) in frame.image.iter().enumerate() {
            let at = image_area.top_left + Point::new((i % 28) as i32, (i / 28) as i32);
            assert_eq!(mock.get_pixel(at), Some(BinaryColor::from(p != 0)));
        }
        // Something of the caption was drawn right of the image.
        let lit_caption = (34..64)
            .flat_map(|x| (0..64).map(move |y| Point::new(x, y)))
            .filter(|&p| mock.get_pixel(p) == Some(BinaryColor::On))
            .count();
        assert!(lit_caption > 20);
    });
}

#[test]
fn short_buffers_are_named_in_the_error() {
    let file = small_conditional();
    let short_scratch = refused(&file, |heap, g| heap.scratch.truncate(g.scratch_len() - 1));
    let short_image = refused(&file, |heap, _| heap.image.truncate(100));
    assert!(
        matches!(
            short_scratch,
            Error::BufferTooSmall {
                buffer: "scratch",
                ..
            }
        ),
        "{short_scratch}"
    );
    assert!(
        matches!(
            short_image,
            Error::BufferTooSmall {
                buffer: "image",
                needed: 3136,
                ..
            }
        ),
        "{short_image}"
    );
}

/// What `App::new` says to buffers for `file`'s model after `shorten`.
fn refused(file: &[u8], shorten: impl FnOnce(&mut HeapBuffers, &Generator<'_>)) -> Error {
    let g = Generator::load(file).unwrap();
    let mut heap = HeapBuffers::for_model(&g);
    shorten(&mut heap, &g);
    App::new(g, Config::default(), heap.buffers())
        .err()
        .unwrap()
}

#[test]
fn errors_are_shown_on_the_display_wrapped() {
    let mut mock = MockDisplay::<BinaryColor>::new();
    mock.set_allow_overdraw(true);
    let err = Error::BufferTooSmall {
        buffer: "scratch",
        needed: 12_544,
        available: 100,
    };
    display::draw_message(&mut mock, &err).unwrap();
    // 64 pixels wide: 10 characters a line, so the message takes several lines.
    let rows_lit = (0..64)
        .filter(|&y| (0..64).any(|x| mock.get_pixel(Point::new(x, y)) == Some(BinaryColor::On)));
    assert!(rows_lit.max().unwrap() > 30);
}

/// `count` frames' outputs and classes from an app with `config`.
fn outputs(file: &[u8], config: Config, count: usize) -> Vec<(Vec<f32>, Option<usize>)> {
    with_app(file, config, |app| {
        (0..count)
            .map(|_| {
                let f = app.next_frame(&mut NoClock).unwrap();
                (f.output.to_vec(), f.class)
            })
            .collect()
    })
}

fn walk(steps: u32) -> Config {
    Config {
        walk: steps,
        ..Config::default()
    }
}

#[test]
fn a_walks_keyframes_are_the_frames_without_a_walk() {
    let file = small_conditional();
    let plain = outputs(&file, Config::default(), 3);
    let walked = outputs(&file, walk(4), 12);
    for (j, expected) in plain.iter().enumerate() {
        assert_eq!(&walked[4 * j], expected, "keyframe {j}");
    }
    // The steps in between are new images, of the keyframe's class.
    assert_ne!(walked[1].0, walked[0].0);
    assert_ne!(walked[1].0, walked[4].0);
    assert_eq!(walked[3].1, Some(0));
    assert_eq!(walked[5].1, Some(1));
}

#[test]
fn walk_steps_are_the_slerp_of_successive_latents() {
    let file = support::dcgan(5, 0, 8, DType::F16);
    let g = Generator::load(&file).unwrap();
    let dim = g.latent_dim();
    let mut rng = LatentRng::new(gan_app::DEFAULT_SEED);
    let keys: Vec<Vec<f32>> = (0..3)
        .map(|_| {
            let mut z = vec![0.0; dim];
            rng.fill_normal(&mut z);
            z
        })
        .collect();
    let mut scratch = vec![0.0; g.scratch_len()];
    let mut expected = vec![0.0; g.output_len()];
    let mut z = vec![0.0; dim];
    with_app(&file, walk(3), |app| {
        for n in 0..6u32 {
            let (j, k) = ((n / 3) as usize, n % 3);
            let segment = gan_app::walk::Segment::between(&keys[j], &keys[j + 1]);
            segment.point(&keys[j], &keys[j + 1], k as f32 / 3.0, &mut z);
            g.generate(&z, None, &mut scratch, &mut expected).unwrap();
            let frame = app.next_frame(&mut NoClock).unwrap();
            assert_eq!(frame.walk_step, Some(k));
            let same = frame.output.iter().zip(&expected);
            assert!(
                same.into_iter().all(|(a, b)| a.to_bits() == b.to_bits()),
                "frame {n}"
            );
        }
    });
}

#[test]
fn one_class_can_be_kept_for_every_frame() {
    let file = small_conditional();
    let config = Config {
        classes: Classes::Only(7),
        ..walk(2)
    };
    let classes: Vec<_> = outputs(&file, config, 5).into_iter().map(|f| f.1).collect();
    assert_eq!(classes, [Some(7); 5]);
    assert_eq!(outputs(&file, Config::default(), 1)[0].1, Some(0));
}

#[test]
fn a_class_the_model_lacks_is_refused() {
    let refuse = |file: &[u8], class| {
        let g = Generator::load(file).unwrap();
        let mut heap = HeapBuffers::for_model(&g);
        let config = Config {
            classes: Classes::Only(class),
            ..Config::default()
        };
        App::new(g, config, heap.buffers())
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        refuse(&small_conditional(), 10),
        "class 10 asked for, but the model has classes 0 to 9"
    );
    let unconditional = support::dcgan(3, 0, 8, DType::F32);
    assert_eq!(
        refuse(&unconditional, 0),
        "class 0 asked for, but the model is unconditional"
    );
}

#[test]
fn between_keyframes_only_the_image_is_redrawn() {
    with_app(&small_conditional(), walk(2), |app| {
        let mut fb = DisplayBuffer::new();
        let keyframe = app.next_frame(&mut Fixed(Timing::Micros(850_000))).unwrap();
        keyframe.draw_update(&mut fb).unwrap();
        let caption = |fb: &DisplayBuffer| {
            (64..128)
                .flat_map(|x| (0..64).map(move |y| Point::new(x, y)))
                .map(|p| fb.pixel(p))
                .collect::<Vec<_>>()
        };
        let before = caption(&fb);
        let step = app.next_frame(&mut Fixed(Timing::Micros(1))).unwrap();
        assert_eq!(step.walk_step, Some(1));
        step.draw_update(&mut fb).unwrap();
        assert_eq!(caption(&fb), before, "the caption stays the keyframe's");
        let mut full = DisplayBuffer::new();
        step.draw(&mut full).unwrap();
        for (i, &p) in step.image.iter().enumerate() {
            let at = Point::new(4 + (i % 56) as i32, 4 + (i / 56) as i32);
            assert_eq!(fb.pixel(at), Some(BinaryColor::from(p != 0)));
            assert_eq!(full.pixel(at), fb.pixel(at));
        }
    });
}
