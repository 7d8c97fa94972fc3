//! The firmware example on a Raspberry Pi Pico: a 128x64 SSD1306 OLED on I2C0 (GP4 = SDA,
//! GP5 = SCL) shows a freshly generated image every few seconds, with its class, frame number
//! and generation time. The log (and any error) goes to RTT, shown by `probe-rs run`; an error
//! is also drawn on the display.
#![no_std]
#![no_main]

use gan_app::display;
use gan_app::layout::MAX_IMAGE_PIXELS;
use gan_app::{App, Buffers, Config, Stopwatch, Timing};
use panic_halt as _;
use rp_pico::entry;
use rp_pico::hal::fugit::RateExtU32;
use rp_pico::hal::{self, pac, Clock};
use rtt_target::{rprintln, rtt_init_print};
use runtime::Generator;
use ssd1306::mode::DisplayConfig;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

/// Buffer sizes of the embedded model, written by build.rs (not all are used here).
#[allow(dead_code)]
mod model_sizes {
    include!(concat!(env!("OUT_DIR"), "/model_sizes.rs"));
}
use model_sizes::{LATENT_LEN, MODEL_NAME, OUTPUT_LEN, SCRATCH_LEN};

/// The model chosen at build time (`MICROGAN_MODEL`), 8-byte aligned in flash.
static MODEL: &[u8] = gan_app::include_model!();

/// A new image at most this often (a slower model simply takes longer).
const FRAME_PERIOD_US: u64 = 3_000_000;

/// Microseconds from the RP2040's 1 MHz timer.
struct TimerStopwatch<'t> {
    timer: &'t hal::Timer,
    started: u64,
}

impl Stopwatch for TimerStopwatch<'_> {
    fn start(&mut self) {
        self.started = self.timer.get_counter().ticks();
    }
    fn stop(&mut self) -> Timing {
        Timing::Micros(self.timer.get_counter().ticks().wrapping_sub(self.started))
    }
}

#[entry]
fn main() -> ! {
    // The entry macro turns these into `&'static mut` once: the entry point runs once. Zero
    // initialised, so they sit in .bss and cost no flash.
    static mut LATENT: [f32; LATENT_LEN] = [0.0; LATENT_LEN];
    static mut SCRATCH: [f32; SCRATCH_LEN] = [0.0; SCRATCH_LEN];
    static mut OUTPUT: [f32; OUTPUT_LEN] = [0.0; OUTPUT_LEN];
    static mut GREY: [u8; OUTPUT_LEN] = [0; OUTPUT_LEN];
    static mut IMAGE: [u8; MAX_IMAGE_PIXELS] = [0; MAX_IMAGE_PIXELS];

    rtt_init_print!();
    // `take` only fails if called twice; this is the only call.
    let Some(mut pac) = pac::Peripherals::take() else {
        halt()
    };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        rp_pico::XOSC_CRYSTAL_FREQ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        rprintln!("error: the clocks did not start");
        halt()
    };
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    let sio = hal::Sio::new(pac.SIO);
    let pins = rp_pico::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let i2c = hal::I2C::i2c0(
        pac.I2C0,
        pins.gpio4.reconfigure(),
        pins.gpio5.reconfigure(),
        400.kHz(),
        &mut pac.RESETS,
        clocks.system_clock.freq(),
    );
    let mut oled = Ssd1306::new(
        I2CDisplayInterface::new(i2c),
        DisplaySize128x64,
        DisplayRotation::Rotate0,
    )
    .into_buffered_graphics_mode();
    // Without a display the images are still made and timed; the log says so.
    let has_display = match oled.init() {
        Ok(()) => true,
        Err(e) => {
            rprintln!("no SSD1306 answers on I2C0 (GP4/GP5): {:?}", e);
            false
        }
    };

    let buffers = Buffers {
        latent: LATENT,
        scratch: SCRATCH,
        output: OUTPUT,
        grey: GREY,
        image: IMAGE,
    };
    let app = Generator::load(MODEL)
        .map_err(gan_app::Error::from)
        .and_then(|g| {
            rprintln!(
                "model {} ({} bytes): {} parameters, {} MACs per image",
                MODEL_NAME,
                MODEL.len(),
                g.param_count(),
                g.macs()
            );
            App::new(g, Config::default(), buffers)
        });
    let mut app = match app {
        Ok(app) => app,
        Err(e) => {
            rprintln!("error: {}", e);
            if has_display {
                let _ = display::draw_message(&mut oled, &e);
                let _ = oled.flush();
            }
            halt()
        }
    };

    let mut stopwatch = TimerStopwatch {
        timer: &timer,
        started: 0,
    };
    loop {
        let began = timer.get_counter().ticks();
        match app.next_frame(&mut stopwatch) {
            Ok(frame) => {
                rprintln!(
                    "frame {} class {:?}: {}",
                    frame.index,
                    frame.class,
                    frame.timing
                );
                if has_display {
                    // Drawing into the buffer cannot fail; flushing can (a loose wire).
                    let _ = frame.draw(&mut oled);
                    if let Err(e) = oled.flush() {
                        rprintln!("display flush failed: {:?}", e);
                    }
                }
            }
            Err(e) => {
                rprintln!("error: {}", e);
                if has_display {
                    let _ = display::draw_message(&mut oled, &e);
                    let _ = oled.flush();
                }
                halt()
            }
        }
        while timer.get_counter().ticks().wrapping_sub(began) < FRAME_PERIOD_US {
            cortex_m::asm::nop();
        }
    }
}

/// Stops here for good (the display keeps showing the last frame or the error).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
