//! Loads an embedded generator and generates one image, to measure the flash
//! the runtime takes. Build with and without the `runtime-calls` feature and
//! compare `llvm-size` (see the runtime's crate docs for the figures). Run on
//! QEMU, it also checks that the image is bit-identical to the one the host
//! generated at build time (exit status 0; 5 if the bits differ).

#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use panic_halt as _;

/// Its size, read with `llvm-nm --print-size`, is the RAM a loaded
/// `Generator` takes on this target.
#[used]
static GENERATOR_SIZE: [u8; core::mem::size_of::<runtime::Generator<'static>>()] =
    [0; core::mem::size_of::<runtime::Generator<'static>>()];

include!(concat!(env!("OUT_DIR"), "/expected.rs"));

static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.safetensors"));

/// Enough for the embedded model (its scratch_len is checked at run time).
static mut SCRATCH: [f32; 8192] = [0.0; 8192];
static mut IMAGE: [f32; 3136] = [0.0; 3136];

#[entry]
fn main() -> ! {
    // Hide the bytes' contents from the optimiser.
    let model = core::hint::black_box(MODEL);
    // SAFETY: the only references to the buffers, taken once before the loop.
    let (scratch, image) = unsafe { (&mut *addr_of_mut!(SCRATCH), &mut *addr_of_mut!(IMAGE)) };
    let status = run(model, scratch, image);
    core::hint::black_box(status);
    loop {
        cortex_m_rt_exit(status);
    }
}

#[cfg(feature = "runtime-calls")]
fn run(model: &[u8], scratch: &mut [f32], image: &mut [f32]) -> u32 {
    let Ok(g) = runtime::Generator::load(model) else {
        return 1;
    };
    if cfg!(feature = "load-only") {
        core::hint::black_box(g.scratch_len() + g.output_len());
        return 0;
    }
    let mut z = [0.0f32; 1568];
    let Some(z) = z.get_mut(..g.latent_dim()) else {
        return 4;
    };
    runtime::rng::LatentRng::new(7).fill_normal(z);
    let class = g.num_classes().checked_sub(1);
    bench_start();
    let generated = g.generate(z, class, scratch, image);
    bench_stop();
    if generated.is_err() {
        return 2;
    }
    let image = image.get(..g.output_len()).unwrap_or(&[]);
    // Bit-identical to the host's image of the same file and latent.
    let hash = image.iter().fold(0x811c_9dc5u32, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x0100_0193)
    });
    if hash != EXPECTED {
        return 5;
    }
    if cfg!(feature = "convt-bench") {
        // Not an image: nothing to dither.
        return 0;
    }
    let mut grey = [0u8; 784];
    let grey = grey.get_mut(..image.len()).unwrap_or(&mut []);
    runtime::output::to_grey_u8(image, g.output_activation(), grey);
    runtime::output::dither_floyd_steinberg(grey, g.output_shape().w);
    // 0 when the image is as expected: not constant, every pixel dithered.
    let on = grey.iter().filter(|&&p| p == 255).count();
    let off = grey.iter().filter(|&&p| p == 0).count();
    if on == 0 || off == 0 || on + off != grey.len() {
        return 3;
    }
    0
}

/// Markers around one generation for `shared/tools/qemu-insncount`.
#[inline(never)]
#[no_mangle]
extern "C" fn bench_start() {
    core::hint::black_box(());
}

#[inline(never)]
#[no_mangle]
extern "C" fn bench_stop() {
    core::hint::black_box(1);
}

#[cfg(not(feature = "runtime-calls"))]
fn run(model: &[u8], scratch: &mut [f32], image: &mut [f32]) -> u32 {
    // Touch everything the other build touches, without the runtime.
    let first = model.iter().fold(0u8, |a, &b| a ^ b);
    scratch[0] = f32::from(first);
    image[0] = scratch[0];
    u32::from(first)
}

/// Ends the program on QEMU with `status` as its exit code (semihosting
/// SYS_EXIT_EXTENDED); on a board the breakpoint halts under a debugger.
fn cortex_m_rt_exit(status: u32) {
    let block = [0x20026u32, status];
    // SAFETY: the semihosting call reads the two words of `block`.
    unsafe {
        core::arch::asm!("bkpt 0xab", in("r0") 0x20u32, in("r1") block.as_ptr());
    }
}
