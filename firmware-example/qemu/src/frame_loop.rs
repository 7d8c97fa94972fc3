//! The frame loop of the QEMU firmware, on the MPS2 boards and on RISC-V `virt` alike (the RISC-V
//! firmware includes this file): each frame generated, drawn, written to the host through
//! semihosting and logged with the instructions it took, by the board's own counter.

use gan_app::display::{self, DisplayBuffer};
use gan_app::files::FrameFile;
use gan_app::{App, Buffers, Config, Stopwatch, Timing};
use runtime::Generator;

use crate::error::Error;
use crate::semihosting::HostFile;
use crate::semihosting_sys::hprintln;
use crate::{frames, walk, MACHINE, MODEL, MODEL_NAME};

/// The board's instruction counter: the generator's stopwatch, and read around a whole frame.
pub trait Counter: Stopwatch {
    /// Where the count comes from, as the log names it.
    const SOURCE: &'static str;
    /// Instructions executed so far.
    fn instructions() -> u64;
}

/// Loads the embedded model and runs `frames::FRAMES` frames.
pub fn run<C: Counter>(
    mut counter: C,
    buffers: Buffers<'static>,
    screen: &mut DisplayBuffer,
) -> Result<(), Error> {
    let generator = Generator::load(MODEL)?;
    hprintln!(
        "{}: model {} ({} bytes): latent {}, {} classes, {} parameters, {} MACs per image",
        MACHINE,
        MODEL_NAME,
        MODEL.len(),
        generator.latent_dim(),
        generator.num_classes(),
        generator.param_count(),
        generator.macs()
    );
    let macs = generator.macs();
    let config = Config {
        walk: walk::WALK_STEPS,
        classes: walk::CLASS.into(),
        ..Config::default()
    };
    let mut app = App::new(generator, config, buffers)?;
    for _ in 0..frames::FRAMES {
        let began = C::instructions();
        let frame = app.next_frame(&mut counter)?;
        let Ok(()) = frame.draw_update(screen);
        let whole = C::instructions() - began;
        for file in FrameFile::ALL {
            let mut host = HostFile::create(file.name(MACHINE, frame.index).as_str())?;
            file.write(&frame, screen, |bytes| host.write_all(bytes))?;
        }
        let instructions = match frame.timing {
            Timing::Instructions(n) => n,
            _ => 0,
        };
        let per_mac_tenths = instructions * 10 / macs.max(1);
        hprintln!(
            "{} frame {} class {} step {}: {} instructions per image, {}.{} per MAC, {} per frame ({}, -icount shift=0)",
            MACHINE,
            frame.index,
            frame.class.map_or(-1, |k| k as i64),
            frame.walk_step.map_or(-1, |k| k as i64),
            instructions,
            per_mac_tenths / 10,
            per_mac_tenths % 10,
            whole,
            C::SOURCE
        );
    }
    Ok(())
}

/// Writes the error screen as `MACHINE-error.pbm`.
pub fn write_screen(screen: &DisplayBuffer) -> Result<(), Error> {
    let mut host = HostFile::create(
        gan_app::caption::text::<32>(format_args!("{MACHINE}-error.pbm")).as_str(),
    )?;
    gan_app::netpbm::write_packed_pbm(display::WIDTH, display::HEIGHT, screen.data(), |b| {
        host.write_all(b)
    })
}
