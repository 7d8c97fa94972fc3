//! The firmware example as a Linux program for a Raspberry Pi 4/5: the same frame loop drives a
//! 128x64 SSD1306 on the Pi's I2C bus (`/dev/i2c-1`: SDA on pin 3, SCL on pin 5), and falls
//! back to writing PNG (and PBM/PGM/f32) frame files when no display answers.

mod error;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics_simulator::{BinaryColorTheme, OutputSettingsBuilder, SimulatorDisplay};
use gan_app::caption::WallClock;
use gan_app::display::{self, DisplayBuffer};
use gan_app::{files, App, Config, Frame, HeapBuffers};
use linux_embedded_hal::I2cdev;
use runtime::Generator;
use ssd1306::mode::{BufferedGraphicsMode, DisplayConfig};
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use crate::error::Error;

/// The model chosen at build time (`MICROGAN_MODEL`).
static MODEL: &[u8] = gan_app::include_model!();

/// The latent walk and class, written by build.rs (`MICROGAN_WALK_STEPS`, `MICROGAN_CLASS`).
mod walk {
    include!(concat!(env!("OUT_DIR"), "/walk.rs"));
}

/// Show generated samples on an SSD1306 OLED, or write them as image files.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Frames to make (default: run until stopped).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    frames: Option<u32>,
    /// I2C bus of the display.
    #[arg(long, default_value = "/dev/i2c-1")]
    i2c: PathBuf,
    /// Do not look for a display: write frame files only.
    #[arg(long)]
    no_display: bool,
    /// Folder for frame files when there is no display (created if missing).
    #[arg(long, default_value = "frames")]
    out: PathBuf,
    /// File name prefix: PREFIX-NNN.png, PREFIX-NNN-output.f32, ...
    #[arg(long, default_value = "rpi")]
    prefix: String,
    /// Seconds between frames on the display (a latent walk, built with MICROGAN_WALK_STEPS,
    /// ignores it and runs as fast as it can).
    #[arg(long, default_value_t = 3)]
    period: u64,
}

type Oled =
    Ssd1306<I2CInterface<I2cdev>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// Where frames go.
enum Sink {
    Oled(Box<Oled>),
    Files(PathBuf),
}

fn open_display(bus: &Path) -> Result<Oled, String> {
    let i2c = I2cdev::new(bus).map_err(|e| format!("{}: {e}", bus.display()))?;
    let mut oled = Ssd1306::new(
        I2CDisplayInterface::new(i2c),
        DisplaySize128x64,
        DisplayRotation::Rotate0,
    )
    .into_buffered_graphics_mode();
    oled.init()
        .map_err(|e| format!("no SSD1306 answers on {}: {e:?}", bus.display()))?;
    Ok(oled)
}

fn show(sink: &mut Sink, frame: &Frame<'_>, prefix: &str) -> Result<(), Error> {
    match sink {
        Sink::Oled(oled) => frame
            .draw_update(oled.as_mut())
            .and_then(|()| oled.flush())
            .map_err(|e| Error::Display(format!("{e:?}"))),
        Sink::Files(dir) => {
            let mut screen = DisplayBuffer::new();
            let mut png = SimulatorDisplay::<BinaryColor>::new(display::SIZE);
            let (Ok(()), Ok(())) = (frame.draw(&mut screen), frame.draw(&mut png));
            files::write_all(dir, prefix, frame, &screen)?;
            let path = dir.join(format!("{prefix}-{:03}.png", frame.index));
            let settings = OutputSettingsBuilder::new()
                .theme(BinaryColorTheme::OledWhite)
                .scale(4)
                .build();
            png.to_rgb_output_image(&settings)
                .save_png(&path)
                .map_err(|e| Error::Png {
                    path: path.clone(),
                    message: e.to_string(),
                })
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let generator = Generator::load(MODEL).map_err(gan_app::Error::from)?;
    println!(
        "model: {} bytes, latent {}, {} classes, {} parameters, {} MACs per image",
        MODEL.len(),
        generator.latent_dim(),
        generator.num_classes(),
        generator.param_count(),
        generator.macs()
    );
    let mut sink = match args.no_display {
        true => Sink::Files(args.out.clone()),
        false => match open_display(&args.i2c) {
            Ok(oled) => Sink::Oled(Box::new(oled)),
            Err(why) => {
                println!("{why}; writing frame files to {}", args.out.display());
                Sink::Files(args.out.clone())
            }
        },
    };
    if let Sink::Files(dir) = &sink {
        std::fs::create_dir_all(dir).map_err(|source| gan_app::Error::FrameFile {
            path: dir.clone(),
            source,
        })?;
    }
    let mut heap = HeapBuffers::for_model(&generator);
    let config = Config {
        walk: walk::WALK_STEPS,
        classes: walk::CLASS.into(),
        ..Config::default()
    };
    let mut app = App::new(generator, config, heap.buffers())?;
    let mut clock = WallClock::default();
    let period = Duration::from_secs(args.period);
    let mut made = 0u32;
    while args.frames.is_none_or(|n| made < n) {
        let began = Instant::now();
        let frame = app.next_frame(&mut clock)?;
        show(&mut sink, &frame, &args.prefix)?;
        let step = frame
            .walk_step
            .map_or(String::new(), |k| format!(" step {k}"));
        println!(
            "frame {} class {}{step}: {} per image",
            frame.index,
            frame.class.map_or("-".to_string(), |k| k.to_string()),
            frame.timing
        );
        made += 1;
        let pause = walk::WALK_STEPS == 0 && matches!(sink, Sink::Oled(_));
        if pause && args.frames.is_none_or(|n| made < n) {
            std::thread::sleep(period.saturating_sub(began.elapsed()));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
