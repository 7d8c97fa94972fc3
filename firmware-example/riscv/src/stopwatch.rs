//! Instructions per image under QEMU.
//!
//! With `-icount shift=0` QEMU's `minstret` counter reads the instructions the hart has retired
//! (in machine mode, where the firmware runs, it needs no setup). The `bench_start`/`bench_stop`
//! markers let the TCG counting plugin (run by ci.sh) count the same interval from outside.

use gan_app::{Stopwatch, Timing};
use riscv::register::minstret;

/// Marks the start of the measured interval for the counting plugin.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_start() {
    // One nop here and two in `bench_stop`: different bodies, so the two markers are never
    // folded into one function at one address.
    riscv::asm::nop();
}

/// Marks the end of the measured interval for the counting plugin.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_stop() {
    riscv::asm::nop();
    riscv::asm::nop();
}

/// Counts retired instructions across one generator call.
pub struct InstretStopwatch {
    started: u64,
}

impl InstretStopwatch {
    pub fn new() -> Self {
        InstretStopwatch { started: 0 }
    }

    /// Instructions retired since reset: what a whole frame (image, drawing) costs, read
    /// around it.
    pub fn instructions() -> u64 {
        minstret::read64()
    }
}

impl Stopwatch for InstretStopwatch {
    fn start(&mut self) {
        bench_start();
        self.started = minstret::read64();
    }

    fn stop(&mut self) -> Timing {
        let retired = minstret::read64().wrapping_sub(self.started);
        bench_stop();
        Timing::Instructions(retired)
    }
}
