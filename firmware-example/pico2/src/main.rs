//! The firmware example on a Raspberry Pi Pico 2 (RP2350, Cortex-M33 at 150 MHz): a 128x64
//! SSD1306 OLED on I2C0 (GP4 = SDA, GP5 = SCL) shows a freshly generated image every few
//! seconds (or, built with `MICROGAN_WALK_STEPS`, a latent walk as fast as it can), with its
//! class, frame number and generation time. The log (and any error) goes to
//! RTT, shown by `probe-rs run`; an error is also drawn on the display. The same code as the
//! Pico's, on the RP2350's HAL.
#![no_std]
#![no_main]

use gan_app::{App, Buffers, Config, StaticBuffers, Stopwatch, Timing};
use panic_halt as _;
use rp235x_hal::fugit::RateExtU32;
use rp235x_hal::timer::CopyableTimer0;
use rp235x_hal::{self as hal, entry, pac, Clock};
use rtt_target::{rprintln, rtt_init_print};
use runtime::Generator;
use ssd1306::prelude::*;
use ssd1306::I2CDisplayInterface;

/// The display and the halt, shared with the Pico's firmware.
#[path = "../../pico/src/screen.rs"]
mod screen;
use screen::{halt, Screen};

/// Buffer sizes of the embedded model, written by build.rs (not all are used here).
#[allow(dead_code)]
mod model_sizes {
    include!(concat!(env!("OUT_DIR"), "/model_sizes.rs"));
}
use model_sizes::{LATENT_LEN, MODEL_NAME, OUTPUT_LEN, SCRATCH_LEN};
/// The latent walk and class, written by build.rs (`MICROGAN_WALK_STEPS`, `MICROGAN_CLASS`).
mod walk {
    include!(concat!(env!("OUT_DIR"), "/walk.rs"));
}

/// The model chosen at build time (`MICROGAN_MODEL`), 8-byte aligned in flash.
static MODEL: &[u8] = gan_app::include_model!();

/// A new image at most this often (a slower model simply takes longer); a latent walk runs as
/// fast as the generator and the display allow.
const FRAME_PERIOD_US: u64 = if walk::WALK_STEPS != 0 { 0 } else { 3_000_000 };

/// Tells the RP2350's boot ROM that this is a Secure Arm executable; in the block memory.x puts
/// in the first 4 KiB of flash.
#[link_section = ".start_block"]
#[used]
pub static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

/// The Pico 2's crystal.
const XOSC_CRYSTAL_FREQ: u32 = 12_000_000;

/// TIMER0, counting microseconds.
type Timer = hal::Timer<CopyableTimer0>;

/// Microseconds from the RP2350's 1 MHz timer.
struct TimerStopwatch<'t> {
    timer: &'t Timer,
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
    // The entry macro turns this into `&'static mut` once: the entry point runs once. Zero
    // initialised, so it sits in .bss and costs no flash.
    static mut BUFFERS: StaticBuffers<LATENT_LEN, SCRATCH_LEN, OUTPUT_LEN> = StaticBuffers::new();

    rtt_init_print!();
    let (timer, mut screen) = setup();
    match load(BUFFERS.buffers()) {
        Ok(app) => frame_loop(app, &timer, &mut screen),
        Err(e) => screen.stop(&e),
    }
}

/// Starts the clocks, the 1 MHz timer and the display on I2C0 (GP4 = SDA, GP5 = SCL).
fn setup() -> (Timer, Screen<impl WriteOnlyDataCommand>) {
    // `take` only fails if called twice; this is the only call.
    let Some(mut pac) = pac::Peripherals::take() else {
        halt()
    };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        XOSC_CRYSTAL_FREQ,
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
    let timer = hal::Timer::new_timer0(pac.TIMER0, &mut pac.RESETS, &clocks);
    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
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
    (timer, Screen::new(I2CDisplayInterface::new(i2c)))
}

/// Loads the embedded model and hands it the buffers.
fn load(buffers: Buffers<'static>) -> Result<App<'static, 'static>, gan_app::Error> {
    let g = Generator::load(MODEL)?;
    rprintln!(
        "model {} ({} bytes): {} parameters, {} MACs per image",
        MODEL_NAME,
        MODEL.len(),
        g.param_count(),
        g.macs()
    );
    let config = Config {
        walk: walk::WALK_STEPS,
        classes: walk::CLASS.into(),
        ..Config::default()
    };
    App::new(g, config, buffers)
}

/// A new frame at most every [`FRAME_PERIOD_US`], until an error stops the board.
fn frame_loop(
    mut app: App<'static, 'static>,
    timer: &Timer,
    screen: &mut Screen<impl WriteOnlyDataCommand>,
) -> ! {
    let mut stopwatch = TimerStopwatch { timer, started: 0 };
    loop {
        let began = timer.get_counter().ticks();
        match app.next_frame(&mut stopwatch) {
            Ok(frame) => screen.show(&frame),
            Err(e) => screen.stop(&e),
        }
        while timer.get_counter().ticks().wrapping_sub(began) < FRAME_PERIOD_US {
            cortex_m::asm::nop();
        }
    }
}
