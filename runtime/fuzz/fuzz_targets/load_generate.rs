//! Load, then generate once with buffers of exactly `scratch_len()` / `output_len()`: an accepted
//! file must run to completion, with no panic and no out-of-bounds access, on the smallest buffers
//! the generator asks for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime::rng::LatentRng;
use runtime::Generator;

/// Images larger than this are skipped so one input cannot take seconds; the loader bounds the
/// work by the file size, so this only caps what a few fuzzer-sized files can ask for.
const MAX_MACS: u64 = 20_000_000;

fuzz_target!(|bytes: &[u8]| {
    let Ok(g) = Generator::load(bytes) else {
        return;
    };
    if g.macs() > MAX_MACS {
        return;
    }
    let mut z = vec![0.0f32; g.latent_dim()];
    LatentRng::new(0).fill_normal(&mut z);
    let mut scratch = vec![0.0f32; g.scratch_len()];
    let mut out = vec![0.0f32; g.output_len()];
    let class = (g.num_classes() > 0).then_some(0);
    if let Err(e) = g.generate(&z, class, &mut scratch, &mut out) {
        panic!("a loaded generator failed to run with the buffers it asked for: {e}");
    }
});
