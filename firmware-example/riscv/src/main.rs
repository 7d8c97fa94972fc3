//! The firmware example on QEMU's RISC-V `virt` machine (RV32IMC, no FPU): the same frame loop
//! as the MPS2 boards (`firmware-example/qemu`), latent walk included, drawing into a
//! framebuffer, writing each frame to the host through semihosting and printing the
//! instructions each image took. Exits QEMU with status 0 after `MICROGAN_FRAMES` frames, 1 on
//! any error or panic.
#![no_std]
#![no_main]

// The MPS2 firmware's error type: nothing in it is Arm-specific.
#[path = "../../qemu/src/error.rs"]
mod error;
#[path = "../../qemu/src/semihosting.rs"]
mod semihosting;
// The MPS2 firmware's frame loop, with this board's instruction counter.
#[path = "../../qemu/src/frame_loop.rs"]
mod frame_loop;
mod stopwatch;

use gan_app::display::{self, DisplayBuffer};
use gan_app::StaticBuffers;
/// The semihosting calls `semihosting.rs` makes.
use riscv_semihosting as semihosting_sys;
use riscv_semihosting::{debug, heprintln};

use crate::frame_loop::write_screen;
use crate::stopwatch::InstretStopwatch;

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

/// The machine, as frame files name it.
const MACHINE: &str = "riscv32";

/// The frame loop's buffers. Zero initialised, so they sit in .bss and cost no flash.
static mut BUFFERS: StaticBuffers<LATENT_LEN, SCRATCH_LEN, OUTPUT_LEN> = StaticBuffers::new();
/// The display frame.
static mut SCREEN: DisplayBuffer = DisplayBuffer::new();

#[riscv_rt::entry]
fn main() -> ! {
    // SAFETY: the entry point runs once, on the one hart, and nothing else (no interrupt is
    // enabled) touches the statics: these are their only references.
    let (buffers, screen) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(BUFFERS),
            &mut *core::ptr::addr_of_mut!(SCREEN),
        )
    };
    let status = match frame_loop::run(InstretStopwatch::new(), buffers.buffers(), screen) {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(e) => {
            heprintln!("error: {}", e);
            // Show the error where a display would: on the frame, written like the others.
            let Ok(()) = display::draw_message(screen, &e);
            let _ = write_screen(screen);
            debug::EXIT_FAILURE
        }
    };
    debug::exit(status);
    loop {
        riscv::asm::wfi();
    }
}

impl frame_loop::Counter for InstretStopwatch {
    const SOURCE: &'static str = "minstret";

    fn instructions() -> u64 {
        InstretStopwatch::instructions()
    }
}

/// Reports the panic on the host's console and exits QEMU with a failure.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    heprintln!("{}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        riscv::asm::wfi();
    }
}
