//! Instructions per stage of one latent-walk frame with the embedded model, to see what besides
//! the generator limits the frame rate:
//!   cargo run --release --example framecost                                  # AN385, thumbv6m
//!   cargo run --release --example framecost --target thumbv7em-none-eabihf   # AN386, M4F
//! Counts come from SysTick under `-icount shift=0` (see src/stopwatch.rs), to 40 instructions.
#![no_std]
#![no_main]

#[path = "../src/stopwatch.rs"]
mod stopwatch;

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use gan_app::display::DisplayBuffer;
use gan_app::walk::{self, Segment};
use gan_app::{layout, App, Config, Dither, StaticBuffers};
use panic_semihosting as _;
use runtime::rng::LatentRng;
use runtime::Generator;

#[allow(dead_code)]
mod model_sizes {
    include!(concat!(env!("OUT_DIR"), "/model_sizes.rs"));
}
use model_sizes::{LATENT_LEN, OUTPUT_LEN, SCRATCH_LEN};

static MODEL: &[u8] = gan_app::include_model!();

/// The image side on the SSD1306 for a 28x28 model (enlarged twice).
const SIDE: usize = 56;

#[entry]
fn main() -> ! {
    static mut BUFFERS: StaticBuffers<LATENT_LEN, SCRATCH_LEN, OUTPUT_LEN> = StaticBuffers::new();
    static mut SCREEN: DisplayBuffer = DisplayBuffer::new();
    static mut IMAGE: [u8; SIDE * SIDE] = [0; SIDE * SIDE];
    let status = match run(BUFFERS, SCREEN, IMAGE) {
        Some(()) => debug::EXIT_SUCCESS,
        None => debug::EXIT_FAILURE,
    };
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

fn run(
    buffers: &mut StaticBuffers<LATENT_LEN, SCRATCH_LEN, OUTPUT_LEN>,
    screen: &mut DisplayBuffer,
    image: &mut [u8; SIDE * SIDE],
) -> Option<()> {
    let p = cortex_m::Peripherals::take()?;
    let mut sw = stopwatch::SysTickStopwatch::new(p.SYST);
    let measure = |name: &str, f: &mut dyn FnMut()| {
        let began = stopwatch::SysTickStopwatch::instructions();
        f();
        let n = stopwatch::SysTickStopwatch::instructions() - began;
        hprintln!("{:<40} {:>9} instructions", name, n);
    };
    let g = Generator::load(MODEL).ok()?;
    let b = buffers.buffers();
    let mut rng = LatentRng::new(gan_app::DEFAULT_SEED);
    measure("two fresh latents (normal draws)", &mut || {
        rng.fill_normal(b.walk_from);
        rng.fill_normal(b.walk_to);
    });
    let mut segment = Segment::Lerp;
    measure("segment: angle (dot products, acosf, sinf)", &mut || {
        segment = black_box(Segment::between(b.walk_from, b.walk_to));
    });
    measure("slerp step: sinf twice, 100 weighted sums", &mut || {
        segment.point(b.walk_from, b.walk_to, walk::fraction(3, 8), b.latent);
    });
    measure("generator", &mut || {
        black_box(g.generate(b.latent, None, b.scratch, b.output).is_ok());
    });
    measure("output to grey bytes (to_grey_u8)", &mut || {
        runtime::output::to_grey_u8(b.output, g.output_activation(), b.grey);
    });
    measure("scale 28x28 to 56x56 (scale_grey)", &mut || {
        // Sizes opaque to the optimiser, as they are in the frame loop.
        let (c, w, side) = (black_box(1), black_box(28), black_box(SIDE));
        layout::scale_grey(b.grey, c, w, w, image, side, side);
    });
    measure("ordered dither", &mut || {
        Dither::Ordered.apply(image, black_box(SIDE), SIDE)
    });
    // The drawing, through the app with the same model: one walk step after its keyframe.
    let config = Config {
        walk: 8,
        ..Config::default()
    };
    let mut app = App::new(g, config, b).ok()?;
    let keyframe = app.next_frame(&mut sw).ok()?;
    measure("draw whole display (keyframe)", &mut || {
        let Ok(()) = keyframe.draw(screen);
    });
    let step = app.next_frame(&mut sw).ok()?;
    measure("draw image only (walk step)", &mut || {
        let Ok(()) = step.draw_image(screen);
    });
    Some(())
}
