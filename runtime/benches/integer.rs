//! Integer (version-2) generators against float (version-1) ones on this
//! CPU: one image of the two reference generators (module
//! `runtime::reference`: the MLP 100-128-256-512-1024-784 and the small
//! DCGAN), the float file (f16 weights) and the same weights quantised
//! (`runtime::reference::integer`), and of the shipped digits generator's
//! two files, each through `Generator::generate`; and
//! the heaviest layer of each alone (dense 512 -> 1024; transposed
//! convolution 64 -> 32, 7x7 -> 14x14) through every kernel set this CPU
//! runs, float (f16 weights) and integer.
//!
//! Every variant runs in each round, one after another, and the table
//! gives each variant's median over the rounds and its ratio to the float
//! runtime's, so that a neighbour slowing the machine down hits all
//! variants alike. Run: `cargo bench -p runtime --bench integer`.

use std::hint::black_box;
use std::time::Instant;

use runtime::format::DType;
use runtime::kernels::{kernel_sets, ConvGeom, IntParams, KernelSet, Weights};
use runtime::reference::{integer, mlp, small_dcgan};
use runtime::rng::LatentRng;
use runtime::Generator;

const ROUNDS: usize = 31;
/// Time per variant per round, about.
const TARGET_SECS: f64 = 0.02;

/// A named thing to time.
struct Variant<'a> {
    name: String,
    run: Box<dyn FnMut() + 'a>,
}

/// Seconds per call of each variant: the median over interleaved rounds.
fn measure(variants: &mut [Variant<'_>]) -> Vec<f64> {
    let iters: Vec<usize> = variants
        .iter_mut()
        .map(|v| {
            let t = Instant::now();
            (v.run)();
            ((TARGET_SECS / t.elapsed().as_secs_f64().max(1e-9)) as usize).clamp(1, 100_000)
        })
        .collect();
    let mut samples = vec![Vec::new(); variants.len()];
    for _ in 0..ROUNDS {
        for ((v, &n), s) in variants.iter_mut().zip(&iters).zip(&mut samples) {
            let t = Instant::now();
            for _ in 0..n {
                (v.run)();
            }
            s.push(t.elapsed().as_secs_f64() / n as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn print(title: &str, variants: &[Variant<'_>], medians: &[f64]) {
    println!("\n{title}\n\n| variant | median (us) | vs first |\n|---|---|---|");
    for (v, m) in variants.iter().zip(medians) {
        println!("| {} | {:.1} | {:.2}x |", v.name, m * 1e6, medians[0] / m);
    }
}

/// The shipped digits generator's f16 and int8 files.
fn shipped() -> (&'static str, Vec<u8>, Vec<u8>) {
    let read = |name: &str| {
        let path = format!("{}/../models/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    (
        "shipped dcgan-digits (f16 and -i8 files)",
        read("dcgan-digits.safetensors"),
        read("dcgan-digits-i8.safetensors"),
    )
}

/// Generate with a float file and its quantised twin.
fn generators() {
    let pairs = [mlp(), small_dcgan()]
        .into_iter()
        .map(|r| {
            let int_file = integer(&r);
            (r.name, r.file, int_file)
        })
        .chain([shipped()]);
    for (name, float_file, int_file) in pairs {
        let (f, i) = (
            Generator::load(&float_file).unwrap(),
            Generator::load(&int_file).unwrap(),
        );
        let mut z = vec![0.0; f.latent_dim()];
        LatentRng::new(7).fill_normal(&mut z);
        let mut variants = Vec::new();
        for (name, g) in [("float (f16 weights)", f), ("integer (int8 weights)", i)] {
            let (z, mut scratch, mut out) = (
                z.clone(),
                vec![0.0; g.scratch_len()],
                vec![0.0; g.output_len()],
            );
            variants.push(Variant {
                name: format!("{name}, generate"),
                run: Box::new(move || {
                    g.generate(black_box(&z), None, &mut scratch, &mut out)
                        .unwrap();
                    black_box(&out);
                }),
            });
        }
        let medians = measure(&mut variants);
        print(name, &variants, &medians);
    }
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0; n];
    LatentRng::new(seed).fill_normal(&mut v);
    v.iter().map(|x| (x * 0.3).clamp(-1.0, 0.999)).collect()
}

/// The tensors of one layer, float and integer.
struct Tensors {
    wf: Vec<u8>,
    bf: Vec<u8>,
    wi: Vec<u8>,
    bi: Vec<u8>,
    si: Vec<u8>,
    xf: Vec<f32>,
    xi: Vec<i16>,
}

impl Tensors {
    fn new(n_w: usize, n_out: usize, n_in: usize) -> Tensors {
        let f16 = |v: Vec<f32>| {
            v.iter()
                .flat_map(|x| half::f16::from_f32(*x * 0.05).to_le_bytes())
                .collect()
        };
        let xf = values(n_in, 3);
        Tensors {
            wf: f16(values(n_w, 1)),
            bf: f16(values(n_out, 2)),
            wi: values(n_w, 1)
                .iter()
                .map(|x| (x * 127.0) as i8 as u8)
                .collect(),
            bi: values(n_out, 2)
                .iter()
                .flat_map(|x| ((x * 1000.0) as i32).to_le_bytes())
                .collect(),
            si: (0..n_out)
                .flat_map(|_| (0.05f32 / 127.0).to_le_bytes())
                .collect(),
            xi: xf.iter().map(|x| (x * 4096.0) as i16).collect(),
            xf,
        }
    }

    fn float(&self) -> (Weights<'_>, Weights<'_>) {
        (
            Weights::new(&self.wf, DType::F16),
            Weights::new(&self.bf, DType::F16),
        )
    }

    fn int(&self) -> IntParams<'_> {
        IntParams {
            weight: Weights::new(&self.wi, DType::I8),
            bias: Weights::new(&self.bi, DType::I32),
            scale: Weights::new(&self.si, DType::F32),
            f_in: 12,
            f_out: 12,
        }
    }
}

/// The heaviest layers alone, through every set's float and integer kernels.
fn kernels() {
    let sets: Vec<KernelSet> = kernel_sets().collect();
    let (n_in, n_out) = (512, 1024);
    let t = Tensors::new(n_in * n_out, n_out, n_in);
    let mut variants = Vec::new();
    for k in &sets {
        let (t, k) = (&t, *k);
        let mut yf = vec![0.0f32; n_out];
        let (w, b) = t.float();
        variants.push(Variant {
            name: format!("float dense, {}", k.name),
            run: Box::new(move || (k.dense)(w, b, black_box(&t.xf), &mut yf)),
        });
    }
    for k in &sets {
        let (t, k) = (&t, *k);
        let mut yi = vec![0i16; n_out];
        variants.push(Variant {
            name: format!("integer dense, {}", k.name),
            run: Box::new(move || (k.int_dense)(&t.int(), black_box(&t.xi), &mut yi)),
        });
    }
    let medians = measure(&mut variants);
    print("dense 512 -> 1024 (0.52 M MACs)", &variants, &medians);

    let g = ConvGeom {
        in_c: 64,
        in_h: 7,
        in_w: 7,
        out_c: 32,
        out_h: 14,
        out_w: 14,
        kernel: 4,
        stride: 2,
        padding: 1,
    };
    let t = Tensors::new(64 * 32 * 16, 32, 64 * 49);
    let n = 32 * 14 * 14;
    let mut variants = Vec::new();
    for k in &sets {
        let (t, k, g) = (&t, *k, g);
        let mut yf = vec![0.0f32; n];
        let (w, b) = t.float();
        variants.push(Variant {
            name: format!("float convT, {}", k.name),
            run: Box::new(move || (k.conv_transpose2d)(w, b, &g, black_box(&t.xf), &mut yf)),
        });
    }
    for k in &sets {
        let (t, k, g) = (&t, *k, g);
        let mut yi = vec![0i16; n];
        variants.push(Variant {
            name: format!("integer convT, {}", k.name),
            run: Box::new(move || {
                (k.int_conv_transpose2d)(&t.int(), &g, black_box(&t.xi), &mut yi)
            }),
        });
    }
    let medians = measure(&mut variants);
    print(
        "conv_transpose2d 64 -> 32, 7x7 -> 14x14 (1.6 M MACs)",
        &variants,
        &medians,
    );
}

fn main() {
    // `cargo test --benches` passes `--bench` only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    generators();
    kernels();
}
