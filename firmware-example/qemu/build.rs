//! Picks the machine for the target (its memory map, budget and SysTick clock), embeds the model
//! chosen by `MICROGAN_MODEL` (refusing one that does not fit the machine), and sets the number
//! of frames from `MICROGAN_FRAMES` and the latent walk and class from `MICROGAN_WALK_STEPS` and
//! `MICROGAN_CLASS`.

use gan_build_support::budget::{self, Board};
use gan_build_support::{embed_model, link_memory_file, number_setting, out_dir, target};
use gan_build_support::{or_exit, walk_settings, Constants, Error};

/// One of QEMU's MPS2 machines, chosen by the target the firmware is built for. Its memory map
/// is not named `memory.x`: the linker would find that in the crate's folder first.
struct Machine {
    /// How frame files and the log name it.
    name: &'static str,
    memory_x: &'static str,
    budget: Board,
    /// The board clock SysTick counts (`SYSCLK_FRQ` in QEMU's hw/arm/mps2.c and mps2-tz.c).
    clock_hz: u32,
}

/// The machine a target runs on: Armv6-M code on the AN385's Cortex-M3, Armv7E-M on the
/// AN386's Cortex-M4F, Armv8-M Mainline on the AN505's Cortex-M33.
fn machine(target: &str) -> Machine {
    let mps2 = |name| Machine {
        name,
        memory_x: "memory-mps2.x",
        budget: budget::MPS2,
        clock_hz: 25_000_000,
    };
    if target.starts_with("thumbv8m.main") {
        Machine {
            name: "an505",
            memory_x: "memory-an505.x",
            budget: budget::MPS2_AN505,
            clock_hz: 20_000_000,
        }
    } else if target.starts_with("thumbv7em") {
        mps2("an386")
    } else {
        mps2("an385")
    }
}

fn main() {
    or_exit(build());
}

fn build() -> Result<(), Error> {
    let machine = machine(&target()?);
    link_memory_file(machine.memory_x)?;
    walk_settings(&embed_model(&machine.budget)?)?;
    let frames = number_setting("MICROGAN_FRAMES", 2, 1..=1000)?;
    let mut constants = Constants::new();
    constants.add(
        "Frames to make before exiting QEMU.",
        "FRAMES",
        "u32",
        frames,
    );
    constants.write(&out_dir()?, "frames.rs")?;
    let mut constants = Constants::new();
    constants
        .add(
            "The machine, as frame files name it.",
            "MACHINE",
            "&str",
            machine.name,
        )
        .add(
            "Instructions per SysTick tick under `-icount shift=0`: one instruction is one \
             nanosecond, and SysTick counts the board clock.",
            "INSTRUCTIONS_PER_TICK",
            "u64",
            1_000_000_000 / machine.clock_hz,
        );
    constants.write(&out_dir()?, "machine.rs")?;
    Ok(())
}
