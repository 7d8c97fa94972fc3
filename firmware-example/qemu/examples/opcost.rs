//! Instructions per floating-point operation on the emulated core, to split the generator's
//! instructions per multiply-accumulate into its parts (conversion, multiply, add, loop):
//!   cargo run --release --example opcost                                  # AN385, thumbv6m
//!   cargo run --release --example opcost --target thumbv7em-none-eabihf   # AN386, M4F
//! Counts come from SysTick under `-icount shift=0` (see src/stopwatch.rs); each figure is the
//! instructions of one loop iteration, loop overhead included (see the `loop only` line).
#![no_std]
#![no_main]

// Only the stopwatch itself is used here, not its free-running reading.
#[allow(dead_code)]
#[path = "../src/stopwatch.rs"]
mod stopwatch;

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use gan_app::{Stopwatch, Timing};
use half::f16;
use panic_semihosting as _;
use runtime::rng::LatentRng;

const N: usize = 2048;

#[entry]
fn main() -> ! {
    static mut X: [f32; N] = [0.0; N];
    static mut W: [f32; N] = [0.0; N];
    static mut W16: [u16; N] = [0; N];
    static mut Q16: [i16; N] = [0; N];
    // Weights of a trained layer's size (about 0.05) and activations of about 1, like the
    // generator's.
    let mut rng = LatentRng::new(1);
    rng.fill_normal(X);
    rng.fill_normal(W);
    for (w, h) in W.iter_mut().zip(W16.iter_mut()) {
        *h = f16::from_f32(*w * 0.05).to_bits();
        *w = f16::from_bits(*h).to_f32();
    }
    for (q, v) in Q16.iter_mut().zip(X.iter()) {
        *q = (*v * 256.0) as i16;
    }
    let (x, w, w16, q16) = (&*X, &*W, &*W16, &*Q16);
    let Some(p) = cortex_m::Peripherals::take() else {
        exit(debug::EXIT_FAILURE)
    };
    let mut sw = stopwatch::SysTickStopwatch::new(p.SYST);
    let mut measure = |name: &str, f: &mut dyn FnMut() -> u32| {
        sw.start();
        black_box(f());
        if let Timing::Instructions(n) = sw.stop() {
            let tenths = n * 10 / N as u64;
            hprintln!(
                "{:<28} {:>4}.{} instructions",
                name,
                tenths / 10,
                tenths % 10
            );
        }
    };
    measure("loop only (xor of bits)", &mut || {
        let mut a = 0u32;
        for i in 0..N {
            a ^= black_box(w[i].to_bits() ^ x[i].to_bits());
        }
        a
    });
    measure("f32 multiply", &mut || {
        let mut a = 0u32;
        for i in 0..N {
            a ^= black_box(w[i] * x[i]).to_bits();
        }
        a
    });
    measure("f32 add", &mut || {
        let mut a = 0.0f32;
        for &v in x {
            a = black_box(a + v);
        }
        a.to_bits()
    });
    measure("f16 to f32 (half crate)", &mut || {
        let mut a = 0u32;
        for &h in w16 {
            a ^= black_box(f16::from_bits(h).to_f32()).to_bits();
        }
        a
    });
    measure("MAC, f32 weights", &mut || {
        let mut a = 0.0f32;
        for i in 0..N {
            a = black_box(a + w[i] * x[i]);
        }
        a.to_bits()
    });
    measure("MAC, f16 weights via half", &mut || {
        let mut a = 0.0f32;
        for i in 0..N {
            a = black_box(a + f16::from_bits(w16[i]).to_f32() * x[i]);
        }
        a.to_bits()
    });
    measure("f16 to f32 (runtime, exact)", &mut || {
        let mut a = 0u32;
        for &h in w16 {
            a ^= black_box(runtime::kernels::f16::f16_to_f32(h)).to_bits();
        }
        a
    });
    // Not this format's arithmetic (no bit-identity with f32): the cost of the
    // fastest alternative a microcontroller without FPU has, integer weights
    // and activations with a 32-bit accumulator.
    measure("MAC, i8 x i16 fixed point", &mut || {
        let mut a = 0i32;
        for (&h, &q) in w16.iter().zip(q16) {
            a = black_box(a.wrapping_add(i32::from(h as i8) * i32::from(q)));
        }
        a as u32
    });
    exit(debug::EXIT_SUCCESS)
}

fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}
