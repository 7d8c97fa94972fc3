//! One image of the benchmark's small DCGAN, then one of the shipped
//! `dcgan-digits`, each between calls to `bench_start` and `bench_stop`,
//! so that an instruction counter under QEMU (`runtime/cross-count.sh`)
//! can count exactly what `Generator::generate` executes on another
//! architecture. Prints a checksum of the last image's bits.

use std::sync::atomic::{AtomicU32, Ordering};

use runtime::format::{DType, LayerSpec, TensorRole};
use runtime::rng::LatentRng;
use runtime::write::ModelBuilder;
use runtime::{Generator, Shape};

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

/// The benchmark's small DCGAN (dense 100 -> 7x7x64, transposed
/// convolutions 64 -> 32 -> 1), with the benchmark's weights.
fn small_dcgan() -> Vec<u8> {
    let convt = |i, o| LayerSpec::ConvTranspose2d {
        in_channels: i,
        out_channels: o,
        kernel: 4,
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let specs = [
        LayerSpec::Dense {
            in_features: 100,
            out_features: 64 * 49,
        },
        LayerSpec::Reshape { c: 64, h: 7, w: 7 },
        LayerSpec::Relu,
        convt(64, 32),
        LayerSpec::Relu,
        convt(32, 1),
        LayerSpec::Tanh,
    ];
    let mut rng = LatentRng::new(1234);
    let mut b = ModelBuilder::new(100, 0, Shape { c: 1, h: 28, w: 28 });
    b.dtype(DType::F16);
    for s in &specs {
        let mut gen = |role| {
            s.tensor_len(role).filter(|&n| n > 0).map(|n| {
                let mut v = vec![0.0; n];
                rng.fill_normal(&mut v);
                v.iter_mut().for_each(|x| *x *= 0.05);
                v
            })
        };
        let (w, bias) = (gen(TensorRole::Weight), gen(TensorRole::Bias));
        b.layer(*s, w, bias);
    }
    b.build().expect("the small DCGAN builds")
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
    for file in [small_dcgan(), shipped] {
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
