//! Instructions per image under QEMU.
//!
//! QEMU does not model cycles and the DWT cycle counter reads 0, but with `-icount shift=0` one
//! instruction is one nanosecond of virtual time, and SysTick counts the board clock (25 MHz on
//! the AN385 and AN386, 20 MHz on the AN505): one tick is 40 or 50 instructions. The `bench_start`/`bench_stop` markers let the TCG counting plugin
//! (run by ci.sh) count the same interval exactly.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use gan_app::{Stopwatch, Timing};

/// SysTick reload: the full 24 bits.
const RELOAD: u32 = 0x00ff_ffff;
/// Instructions per SysTick tick under `-icount shift=0`: 40 on the AN385 and AN386 (1 ns each,
/// 25 MHz ticks), 50 on the AN505 (20 MHz), written by build.rs with the machine's name.
#[allow(dead_code)]
mod clock {
    include!(concat!(env!("OUT_DIR"), "/machine.rs"));
}
use clock::INSTRUCTIONS_PER_TICK;

/// SysTick wrap-arounds so far (written only by the exception handler).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    // Single writer: load + store is enough (thumbv6m has no atomic read-modify-write).
    WRAPS.store(
        WRAPS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Marks the start of the measured interval for the counting plugin.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_start() {
    // One nop here and two in `bench_stop`: different bodies, so the two markers are never
    // folded into one function at one address.
    cortex_m::asm::nop();
}

/// Marks the end of the measured interval for the counting plugin.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_stop() {
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}

/// Counts SysTick ticks (with wrap-arounds) across one generator call.
pub struct SysTickStopwatch {
    _syst: SYST,
    started: u64,
}

impl SysTickStopwatch {
    /// Starts SysTick from the core clock, interrupting on every wrap.
    pub fn new(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // The counter reads 0 until its first reload; counting from there would look like a
        // whole wrap-around.
        while SYST::get_current() == 0 {}
        SysTickStopwatch {
            _syst: syst,
            started: 0,
        }
    }

    /// Instructions since the stopwatch was made (to 40 instructions), for timing more than
    /// the generator call.
    pub fn instructions() -> u64 {
        Self::ticks() * INSTRUCTIONS_PER_TICK
    }

    fn ticks() -> u64 {
        loop {
            let before = WRAPS.load(Ordering::Relaxed);
            let current = SYST::get_current();
            if WRAPS.load(Ordering::Relaxed) == before {
                return u64::from(before) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
            }
        }
    }
}

impl Stopwatch for SysTickStopwatch {
    fn start(&mut self) {
        bench_start();
        self.started = Self::ticks();
    }

    fn stop(&mut self) -> Timing {
        let ticks = Self::ticks().wrapping_sub(self.started);
        bench_stop();
        Timing::Instructions(ticks * INSTRUCTIONS_PER_TICK)
    }
}
