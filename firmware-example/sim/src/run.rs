//! The frame loop with heap buffers, a wall clock and files as the display.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics_simulator::{BinaryColorTheme, OutputSettingsBuilder, SimulatorDisplay};
use gan_app::display::{self, DisplayBuffer};
use gan_app::files::FrameFile;
use gan_app::layout::MAX_IMAGE_PIXELS;
use gan_app::{App, Buffers, Config, Stopwatch, Timing};
use runtime::Generator;

use crate::error::Error;
use crate::Args;

/// Wall-clock time of one generator call.
struct Clock(Option<Instant>);

impl Stopwatch for Clock {
    fn start(&mut self) {
        self.0 = Some(Instant::now());
    }
    fn stop(&mut self) -> Timing {
        match self.0.take() {
            Some(t) => Timing::Micros(t.elapsed().as_micros() as u64),
            None => Timing::Unknown,
        }
    }
}

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
    println!(
        "model {}: latent {}, {} classes, output {}x{}x{}, {} parameters, {} MACs per image",
        args.model.display(),
        generator.latent_dim(),
        generator.num_classes(),
        generator.output_shape().c,
        generator.output_shape().h,
        generator.output_shape().w,
        generator.param_count(),
        generator.macs(),
    );
    let mut latent = vec![0.0; generator.latent_dim()];
    let mut scratch = vec![0.0; generator.scratch_len()];
    let mut output = vec![0.0; generator.output_len()];
    let mut grey = vec![0; generator.output_len()];
    let mut image = vec![0; MAX_IMAGE_PIXELS];
    let buffers = Buffers {
        latent: &mut latent,
        scratch: &mut scratch,
        output: &mut output,
        grey: &mut grey,
        image: &mut image,
    };
    let config = Config {
        seed: args.seed,
        dither: args.dither.into(),
        display: display::SIZE,
    };
    let mut app = App::new(generator, config, buffers)?;
    fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    let settings = OutputSettingsBuilder::new()
        .theme(BinaryColorTheme::OledWhite)
        .scale(args.png_scale)
        .build();
    let mut clock = Clock(None);
    for _ in 0..args.frames {
        let frame = app.next_frame(&mut clock)?;
        let mut screen = DisplayBuffer::new();
        let mut oled = SimulatorDisplay::<BinaryColor>::new(display::SIZE);
        let (Ok(()), Ok(())) = (frame.draw(&mut screen), frame.draw(&mut oled));
        for file in FrameFile::ALL {
            let path = args.out.join(file.name(&args.prefix, frame.index).as_str());
            let mut w = BufWriter::new(File::create(&path).map_err(io(&path))?);
            file.write(&frame, &screen, |bytes| w.write_all(bytes))
                .and_then(|()| w.flush())
                .map_err(io(&path))?;
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
        println!(
            "frame {:3}  class {class}  {us} us per image  {}",
            frame.index,
            png.display()
        );
    }
    Ok(())
}
