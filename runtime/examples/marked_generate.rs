//! One image of the benchmark's small DCGAN, then one of the shipped
//! `dcgan-digits`, each between calls to `bench_start` and `bench_stop`,
//! so that an instruction counter under QEMU (`runtime/cross-count.sh`)
//! can count exactly what `Generator::generate` executes on another
//! architecture. Prints a checksum of the last image's bits.

use std::sync::atomic::{AtomicU32, Ordering};

use runtime::rng::LatentRng;
use runtime::Generator;

static MARK: AtomicU32 = AtomicU32::new(0);

/// Start of a counted region (distinct bodies, so that the linker never
/// folds the two markers into one address).
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_start() {
    MARK.fetch_add(1, Ordering::Relaxed);
}

#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_stop() {
    MARK.fetch_add(1000, Ordering::Relaxed);
}

fn main() {
    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/dcgan-digits.safetensors"
    ))
    .expect("models/dcgan-digits.safetensors is readable");
    let mut z = vec![0.0; 100];
    LatentRng::new(7).fill_normal(&mut z);
    let mut sum = 0u64;
    for file in [runtime::reference::small_dcgan().file, shipped] {
        let g = Generator::load(&file).expect("the model loads");
        let mut scratch = vec![0.0; g.scratch_len()];
        let mut out = vec![0.0; g.output_len()];
        // Once before counting: the first call's page faults are not the
        // generator's work.
        g.generate(&z, None, &mut scratch, &mut out).unwrap();
        bench_start();
        g.generate(&z, None, &mut scratch, &mut out).unwrap();
        bench_stop();
        sum = out
            .iter()
            .fold(sum, |s, v| s.wrapping_add(u64::from(v.to_bits())));
    }
    println!("checksum {sum}");
}
