//! The frame loop with heap buffers, a wall clock and files as the display.

use std::fs;
use std::path::Path;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics_simulator::{BinaryColorTheme, OutputSettingsBuilder, SimulatorDisplay};
use gan_app::caption::WallClock;
use gan_app::display::{self, DisplayBuffer};
use gan_app::{files, App, Classes, Config, HeapBuffers, Timing};
use runtime::Generator;

use crate::animation::{Animation, Strip};
use crate::error::Error;
use crate::Args;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn run(args: &Args) -> Result<(), Error> {
    let bytes = fs::read(&args.model).map_err(io(&args.model))?;
    let generator = Generator::load(&bytes).map_err(|source| Error::Model {
        path: args.model.clone(),
        source: Box::new(source),
    })?;
    let shape = generator.output_shape();
    println!(
        "model {}: latent {}, {} classes, output {}x{}x{}, {} parameters, {} MACs per image",
        args.model.display(),
        generator.latent_dim(),
        generator.num_classes(),
        shape.c,
        shape.h,
        shape.w,
        generator.param_count(),
        generator.macs(),
    );
    let mut heap = HeapBuffers::for_model(&generator);
    let config = Config {
        seed: args.seed,
        dither: args.dither.into(),
        display: display::SIZE,
        walk: args.walk.unwrap_or(0),
        classes: args.class.map_or(Classes::Cycle, Classes::Only),
    };
    let mut app = App::new(generator, config, heap.buffers())?;
    fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    let walk_file = |name: &str| args.out.join(format!("{}-{name}.png", args.prefix));
    let mut walk = match args.walk {
        Some(steps) => Some((
            Animation::create(&walk_file("walk"), args.frames, args.png_scale, args.fps)?,
            Strip::new(steps),
        )),
        None => None,
    };
    let settings = OutputSettingsBuilder::new()
        .theme(BinaryColorTheme::OledWhite)
        .scale(args.png_scale)
        .build();
    let mut clock = WallClock::default();
    for _ in 0..args.frames {
        let frame = app.next_frame(&mut clock)?;
        let mut screen = DisplayBuffer::new();
        let mut oled = SimulatorDisplay::<BinaryColor>::new(display::SIZE);
        // Both are in-memory: drawing cannot fail.
        let (Ok(()), Ok(())) = (frame.draw(&mut screen), frame.draw(&mut oled));
        files::write_all(&args.out, &args.prefix, &frame, &screen)?;
        if let Some((animation, strip)) = &mut walk {
            animation.add(&screen)?;
            strip.add(&frame);
        }
        let png = args
            .out
            .join(format!("{}-{:03}.png", args.prefix, frame.index));
        oled.to_rgb_output_image(&settings)
            .save_png(&png)
            .map_err(|e| Error::Io {
                path: png.clone(),
                source: std::io::Error::other(e),
            })?;
        let class = frame.class.map_or("-".to_string(), |k| k.to_string());
        let us = match frame.timing {
            Timing::Micros(us) => us,
            _ => 0,
        };
        let step = frame
            .walk_step
            .map_or(String::new(), |k| format!("  step {k}"));
        println!(
            "frame {:3}  class {class}{step}  {us} us per image  {}",
            frame.index,
            png.display()
        );
    }
    if let Some((animation, strip)) = walk {
        animation.finish()?;
        strip.write(&walk_file("walk-strip"))?;
        println!(
            "walk: {} (animated), {}",
            walk_file("walk").display(),
            walk_file("walk-strip").display()
        );
    }
    Ok(())
}
