//! The frame loop with heap buffers, a wall clock and files as the display.

use std::fs;
use std::path::Path;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics_simulator::{BinaryColorTheme, OutputSettingsBuilder, SimulatorDisplay};
use gan_app::caption::WallClock;
use gan_app::display::{self, DisplayBuffer};
use gan_app::{files, App, Config, HeapBuffers, Timing};
use runtime::Generator;

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
    };
    let mut app = App::new(generator, config, heap.buffers())?;
    fs::create_dir_all(&args.out).map_err(io(&args.out))?;
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
        println!(
            "frame {:3}  class {class}  {us} us per image  {}",
            frame.index,
            png.display()
        );
    }
    Ok(())
}
