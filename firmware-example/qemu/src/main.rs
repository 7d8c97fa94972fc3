//! The firmware example on QEMU's MPS2 boards: the same frame loop as the Pico, drawing into a
//! framebuffer, writing each frame to the host through semihosting and printing the
//! instructions each image took. Exits QEMU with status 0 after `MICROGAN_FRAMES` frames, 1 on
//! any error.
#![no_std]
#![no_main]

mod error;
mod frame_loop;
mod semihosting;
mod stopwatch;

use cortex_m_rt::entry;
/// The semihosting calls `semihosting.rs` makes.
use cortex_m_semihosting as semihosting_sys;
use cortex_m_semihosting::{debug, heprintln};
use gan_app::display::{self, DisplayBuffer};
use gan_app::{Buffers, StaticBuffers};
use panic_semihosting as _;

use crate::error::Error;
use crate::frame_loop::write_screen;
use crate::stopwatch::SysTickStopwatch;

/// Buffer sizes of the embedded model, written by build.rs (not all are used here).
#[allow(dead_code)]
mod model_sizes {
    include!(concat!(env!("OUT_DIR"), "/model_sizes.rs"));
}
mod frames {
    include!(concat!(env!("OUT_DIR"), "/frames.rs"));
}
/// The latent walk and class, written by build.rs.
mod walk {
    include!(concat!(env!("OUT_DIR"), "/walk.rs"));
}
use model_sizes::{LATENT_LEN, MODEL_NAME, OUTPUT_LEN, SCRATCH_LEN};

/// The model chosen at build time (`MICROGAN_MODEL`), 8-byte aligned in flash.
static MODEL: &[u8] = gan_app::include_model!();

/// The machine, written by build.rs (its SysTick clock is the stopwatch's).
#[allow(dead_code)]
mod machine {
    include!(concat!(env!("OUT_DIR"), "/machine.rs"));
}
use machine::MACHINE;

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` once: the entry point runs once. Zero
    // initialised, so they sit in .bss and cost no flash.
    static mut BUFFERS: StaticBuffers<LATENT_LEN, SCRATCH_LEN, OUTPUT_LEN> = StaticBuffers::new();
    static mut SCREEN: DisplayBuffer = DisplayBuffer::new();

    let status = match run(BUFFERS.buffers(), SCREEN) {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(e) => {
            heprintln!("error: {}", e);
            // Show the error where a display would: on the frame, written like the others.
            let Ok(()) = display::draw_message(SCREEN, &e);
            let _ = write_screen(SCREEN);
            debug::EXIT_FAILURE
        }
    };
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

impl frame_loop::Counter for SysTickStopwatch {
    const SOURCE: &'static str = "SysTick";

    fn instructions() -> u64 {
        SysTickStopwatch::instructions()
    }
}

/// Starts SysTick and runs the frames.
fn run(buffers: Buffers<'static>, screen: &mut DisplayBuffer) -> Result<(), Error> {
    let peripherals = cortex_m::Peripherals::take().ok_or(Error::HostFile)?;
    frame_loop::run(SysTickStopwatch::new(peripherals.SYST), buffers, screen)
}
