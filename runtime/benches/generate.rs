//! One generated image for two generator shapes, with random weights:
//!
//! - the classic MLP GAN generator: 100 -> 128 -> 256 -> 512 -> 1024 -> 784,
//!   LeakyReLU between layers, tanh;
//! - a small DCGAN for 28x28: dense 100 -> 7x7x64, transposed convolutions
//!   64 -> 32 and 32 -> 1 (kernel 4, stride 2, padding 1), tanh.
//!
//! and the shipped `models/dcgan-digits.safetensors`.
//!
//! Each runs through the runtime (`Generator::generate`, which dispatches
//! to the vector kernels where the CPU has them; and a `Prepared` generator,
//! whose weights were reordered once), on x86-64 the AVX2 kernels (what a
//! CPU without AVX-512 runs), the portable fast kernels
//! (what a `no_std` baseline build runs), the plain reference kernels, and
//! for the first two a naive scalar forward pass (f16 decoded per element
//! with `half`, one sequential sum per output), all in the same process,
//! after checking that all the runtime's kernel sets give the same bits.
//! Criterion measures each; a summary table of medians, GFLOP/s (2 FLOPs
//! per MAC) and speed-ups follows. Run: `cargo bench -p runtime`, and with
//! `RUSTFLAGS="-C target-cpu=native"` for the compile-time selection;
//! `MICROGAN_KERNELS=avx2 cargo bench -p runtime` times the AVX2 kernels as
//! the dispatched ones on a CPU that also has AVX-512 (the table's first
//! line names the set that ran).

#[path = "support/limits.rs"]
mod limits;

use limits::Width;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use half::f16;
use runtime::format::{DType, LayerSpec};
use runtime::kernels::{dispatched, kernel_sets, ConvGeom, KernelSet, Weights, PLAIN, PORTABLE};
use runtime::rng::LatentRng;
use runtime::Generator;
use safetensors::SafeTensors;

struct Model {
    name: &'static str,
    file: Vec<u8>,
    /// The same layers and f16 weights, for the naive pass.
    layers: Vec<(LayerSpec, Vec<f16>, Vec<f16>)>,
}

/// A reference generator (module `runtime::reference`) with its weights
/// rounded to f16 for the naive pass.
fn model(r: runtime::reference::Reference) -> Model {
    let round = |v: &Option<Vec<f32>>| -> Vec<f16> {
        v.iter().flatten().map(|&x| f16::from_f32(x)).collect()
    };
    Model {
        name: r.name,
        layers: r
            .layers
            .iter()
            .map(|(s, w, b)| (*s, round(w), round(b)))
            .collect(),
        file: r.file,
    }
}

/// The baseline: the forward pass as one would first write it, decoding
/// each f16 weight where it is used.
fn naive(layers: &[(LayerSpec, Vec<f16>, Vec<f16>)], z: &[f32]) -> Vec<f32> {
    let mut x = z.to_vec();
    let mut shape = (0, 0, 0);
    for (spec, w, b) in layers {
        x = match *spec {
            LayerSpec::Dense {
                in_features,
                out_features,
            } => (0..out_features)
                .map(|o| {
                    let mut s = b[o].to_f32();
                    for i in 0..in_features {
                        s += w[o * in_features + i].to_f32() * x[i];
                    }
                    s
                })
                .collect(),
            LayerSpec::ConvTranspose2d {
                in_channels,
                out_channels,
                kernel: k,
                stride,
                padding,
                output_padding,
            } => {
                let (_, h, wd) = shape;
                let oh = (h - 1) * stride + k + output_padding - 2 * padding;
                let ow = (wd - 1) * stride + k + output_padding - 2 * padding;
                let mut y = vec![0.0; out_channels * oh * ow];
                for o in 0..out_channels {
                    y[o * oh * ow..(o + 1) * oh * ow].fill(b[o].to_f32());
                }
                for c in 0..in_channels {
                    for iy in 0..h {
                        for ix in 0..wd {
                            let v = x[(c * h + iy) * wd + ix];
                            for o in 0..out_channels {
                                for ky in 0..k {
                                    for kx in 0..k {
                                        let oy = (iy * stride + ky) as isize - padding as isize;
                                        let ox = (ix * stride + kx) as isize - padding as isize;
                                        if oy >= 0
                                            && ox >= 0
                                            && (oy as usize) < oh
                                            && (ox as usize) < ow
                                        {
                                            y[(o * oh + oy as usize) * ow + ox as usize] += v * w
                                                [((c * out_channels + o) * k + ky) * k + kx]
                                                .to_f32();
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                shape = (out_channels, oh, ow);
                y
            }
            LayerSpec::Reshape { c, h, w } => {
                shape = (c, h, w);
                x
            }
            LayerSpec::Relu => x.into_iter().map(|v| v.max(0.0)).collect(),
            LayerSpec::LeakyRelu { slope } => x
                .into_iter()
                .map(|v| if v >= 0.0 { v } else { slope * v })
                .collect(),
            LayerSpec::Tanh => x.into_iter().map(f32::tanh).collect(),
            other => unimplemented!("{other}"),
        };
    }
    x
}

/// The runtime's layers through one kernel set, outside `Generator`, so
/// that the plain and the portable kernels can be timed in the same process
/// as the dispatched ones.
fn set_pass(
    set: &KernelSet,
    g: &Generator<'_>,
    st: &SafeTensors<'_>,
    z: &[f32],
    a: &mut Vec<f32>,
    b: &mut Vec<f32>,
) {
    let tensor = |i: usize, role: &str| {
        let t = st
            .tensor(&format!("layer.{i}.{role}"))
            .expect("benchmark tensor");
        let dtype = match t.dtype() {
            safetensors::Dtype::F16 => DType::F16,
            _ => DType::F32,
        };
        Weights::new(t.data(), dtype)
    };
    a.clear();
    a.extend_from_slice(z);
    let mut shape = (0, 0, 0);
    for (i, spec) in g.layers().enumerate() {
        match spec {
            LayerSpec::Dense { out_features, .. } => {
                b.resize(out_features, 0.0);
                (set.dense)(tensor(i, "weight"), tensor(i, "bias"), a, b);
                std::mem::swap(a, b);
            }
            LayerSpec::ConvTranspose2d {
                out_channels,
                kernel,
                stride,
                padding,
                output_padding,
                ..
            } => {
                let (c, h, wd) = shape;
                let out = |d: usize| (d - 1) * stride + kernel + output_padding - 2 * padding;
                let (oh, ow) = (out(h), out(wd));
                let geom = ConvGeom {
                    in_c: c,
                    in_h: h,
                    in_w: wd,
                    out_c: out_channels,
                    out_h: oh,
                    out_w: ow,
                    kernel,
                    stride,
                    padding,
                };
                b.resize(out_channels * oh * ow, 0.0);
                (set.conv_transpose2d)(tensor(i, "weight"), tensor(i, "bias"), &geom, a, b);
                std::mem::swap(a, b);
                shape = (out_channels, oh, ow);
            }
            LayerSpec::Reshape { c, h, w } => shape = (c, h, w),
            LayerSpec::Relu => runtime::kernels::relu(a),
            LayerSpec::LeakyRelu { slope } => runtime::kernels::leaky_relu(a, slope),
            LayerSpec::Tanh => runtime::kernels::tanh(a),
            other => unimplemented!("{other}"),
        }
    }
}

/// Timed batches per pass for the summary table.
const SAMPLES: usize = 201;

/// Median and minimum seconds per call over `samples` timed batches (the
/// minimum is the least disturbed by other processes on a shared machine).
fn median_secs(mut f: impl FnMut(), samples: usize) -> (f64, f64) {
    let start = Instant::now();
    let mut iters = 0u32;
    while start.elapsed() < Duration::from_millis(300) {
        f();
        iters += 1;
    }
    // Batches of about 1 ms: short enough that many of them run undisturbed
    // on a shared machine.
    let per_batch = (iters / 300).max(1);
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(per_batch)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

/// The value of the kernel cap (`MICROGAN_KERNELS`, module
/// `runtime::kernels::x86_64`), checked: `avx2`, `avx512` or unset. The
/// runtime ignores other values; the benchmark refuses them, so that a
/// typo cannot pass for a measurement of the capped set.
fn kernel_cap() -> Result<Option<String>, String> {
    const VAR: &str = "MICROGAN_KERNELS";
    match std::env::var(VAR) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) if v.eq_ignore_ascii_case("avx2") || v.eq_ignore_ascii_case("avx512") => Ok(Some(v)),
        Ok(v) => Err(format!("{VAR}={v}: expected avx2 or avx512")),
        Err(e) => Err(format!("{VAR}: {e}")),
    }
}

fn main() {
    let cap = match kernel_cap() {
        Ok(cap) => cap,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let set_line = format!(
        "kernel set dispatched: {}{}",
        dispatched().name,
        cap.map_or(String::new(), |v| format!(" (MICROGAN_KERNELS={v})"))
    );
    println!("{set_line}");
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let shipped = Model {
        name: "shipped dcgan-digits",
        file: std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/dcgan-digits.safetensors"
        ))
        .expect("models/dcgan-digits.safetensors is readable"),
        layers: Vec::new(),
    };
    let models = [
        model(runtime::reference::mlp()),
        model(runtime::reference::small_dcgan()),
        shipped,
    ];
    // The widest set's floor (when the dispatched set is AVX-512) and the
    // AVX2 floor, at the start and again at the end.
    let avx512 = dispatched().name == "x86-64 AVX-512";
    let measure = || {
        (
            avx512.then(|| limits::measure(Width::Zmm)).flatten(),
            limits::measure(Width::Ymm),
        )
    };
    let limits_early = measure();
    let mut rows = Vec::new();
    for m in &models {
        let g = Generator::load(&m.file).expect("benchmark model loads");
        let st = SafeTensors::deserialize(&m.file).expect("benchmark model parses");
        let mut z = vec![0.0; g.latent_dim()];
        LatentRng::new(7).fill_normal(&mut z);
        let mut scratch = vec![0.0; g.scratch_len()];
        let mut out = vec![0.0; g.output_len()];
        let (mut a, mut b) = (Vec::new(), Vec::new());

        // Every pass gives the same bits (the naive one agrees to within
        // rounding).
        g.generate(&z, None, &mut scratch, &mut out).unwrap();
        for set in kernel_sets() {
            set_pass(&set, &g, &st, &z, &mut a, &mut b);
            assert_eq!(
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{} kernels differ from the runtime",
                set.name
            );
        }
        if !m.layers.is_empty() {
            let n = naive(&m.layers, &z);
            assert!(out.iter().zip(&n).all(|(x, y)| (x - y).abs() < 1e-4));
        }

        // The convolutions' weights transposed once (`Generator::prepare`).
        let mut pre_buf = vec![0.0; g.prepared_len()];
        let pre = g.prepare(&mut pre_buf).expect("buffer of prepared_len()");
        let mut out_pre = vec![0.0; g.output_len()];
        pre.generate(&z, None, &mut scratch, &mut out_pre).unwrap();
        assert_eq!(
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            out_pre.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "prepared weights change the output"
        );

        let mut group = c.benchmark_group(m.name);
        group.bench_function("runtime (dispatched)", |bch| {
            bch.iter(|| g.generate(black_box(&z), None, &mut scratch, &mut out))
        });
        group.bench_function("runtime (prepared)", |bch| {
            bch.iter(|| pre.generate(black_box(&z), None, &mut scratch, &mut out))
        });
        for set in [PLAIN, PORTABLE] {
            group.bench_function(format!("{} kernels", set.name), |bch| {
                bch.iter(|| set_pass(&set, &g, &st, black_box(&z), &mut a, &mut b))
            });
        }
        if !m.layers.is_empty() {
            group.bench_function("naive scalar", |bch| {
                bch.iter(|| naive(&m.layers, black_box(&z)))
            });
        }
        group.finish();

        let run = median_secs(
            || {
                g.generate(black_box(&z), None, &mut scratch, &mut out)
                    .unwrap()
            },
            SAMPLES,
        );
        let prep = median_secs(
            || {
                pre.generate(black_box(&z), None, &mut scratch, &mut out)
                    .unwrap()
            },
            SAMPLES,
        );
        let mut per_set = |set: &KernelSet| {
            median_secs(
                || set_pass(set, &g, &st, black_box(&z), &mut a, &mut b),
                SAMPLES,
            )
        };
        let pl = per_set(&PLAIN);
        let po = per_set(&PORTABLE);
        // What a CPU without AVX-512 runs (most desktop x86-64 CPUs).
        let avx2 = kernel_sets()
            .find(|k| k.name == "x86-64 AVX2+F16C")
            .map(|k| per_set(&k));
        let nv = (!m.layers.is_empty())
            .then(|| median_secs(|| drop(black_box(naive(&m.layers, black_box(&z)))), SAMPLES).0);
        let dense_macs: u64 = g
            .layers()
            .map(|l| match l {
                LayerSpec::Dense {
                    in_features,
                    out_features,
                } => (in_features * out_features) as u64,
                _ => 0,
            })
            .sum();
        rows.push((
            m.name,
            dense_macs,
            g.macs(),
            g.param_count(),
            run,
            prep,
            g.prepared_len(),
            po,
            avx2,
            pl,
            nv,
        ));
    }
    // The output layer's `tanh` on a 28x28 image: the runtime's vectorised
    // form against `libm`'s scalar one (the same bits).
    let mut img = vec![0.0f32; 784];
    LatentRng::new(11).fill_normal(&mut img);
    let mut buf = img.clone();
    let mut group = c.benchmark_group("tanh, 784 values");
    group.bench_function("runtime", |bch| {
        bch.iter(|| {
            buf.copy_from_slice(&img);
            runtime::kernels::tanh(black_box(&mut buf))
        })
    });
    group.bench_function("libm", |bch| {
        bch.iter(|| {
            buf.copy_from_slice(&img);
            black_box(&mut buf)
                .iter_mut()
                .for_each(|v| *v = libm::tanhf(*v));
        })
    });
    group.finish();
    let tanh_rt = median_secs(
        || {
            buf.copy_from_slice(&img);
            runtime::kernels::tanh(black_box(&mut buf))
        },
        SAMPLES,
    );
    let tanh_libm = median_secs(
        || {
            buf.copy_from_slice(&img);
            black_box(&mut buf)
                .iter_mut()
                .for_each(|v| *v = libm::tanhf(*v));
        },
        SAMPLES,
    );

    println!();
    println!("{set_line}");
    println!("Medians (minimum in brackets), microseconds per image:");
    println!("| model | MACs | params | runtime | GFLOP/s | prepared (KiB) | AVX2 kernels | portable | plain | naive scalar | vs portable | vs plain |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let (zmm, ymm) = measure();
    let zmm = zmm.map(|l| l.best(limits_early.0));
    let ymm = ymm.map(|l| l.best(limits_early.1));
    // The dispatched set's rates: AVX-512 where it ran, else AVX2.
    let top = zmm.or(ymm);
    let mut floors = Vec::new();
    for (name, dense_macs, macs, params, run, prep, prep_len, po, avx2, pl, nv) in rows {
        let floor = |l: &Option<limits::Limits>| {
            l.as_ref()
                .map(|l| l.floor_us(dense_macs, macs - dense_macs))
        };
        floors.push((
            name,
            floor(&top),
            prep.0 * 1e6,
            floor(&ymm),
            avx2.map(|v| v.0 * 1e6),
        ));
        println!(
            "| {name} | {macs} | {params} | {:.1} ({:.1}) | {:.2} | {:.1} ({:.1}; {}) | {} | {:.1} ({:.1}) | {:.1} ({:.1}) | {} | {:.1}x | {:.1}x |",
            run.0 * 1e6,
            run.1 * 1e6,
            2.0 * macs as f64 / run.0 / 1e9,
            prep.0 * 1e6,
            prep.1 * 1e6,
            prep_len * 4 / 1024,
            avx2.map_or("-".to_string(), |v| format!("{:.1} ({:.1})", v.0 * 1e6, v.1 * 1e6)),
            po.0 * 1e6,
            po.1 * 1e6,
            pl.0 * 1e6,
            pl.1 * 1e6,
            nv.map_or("-".to_string(), |v| format!("{:.1}", v * 1e6)),
            po.0 / run.0,
            pl.0 / run.0,
        );
    }
    println!(
        "tanh on 784 values: runtime {:.2} ({:.2}) us, libm {:.2} ({:.2}) us, {:.1}x",
        tanh_rt.0 * 1e6,
        tanh_rt.1 * 1e6,
        tanh_libm.0 * 1e6,
        tanh_libm.1 * 1e6,
        tanh_libm.0 / tanh_rt.0
    );
    print_limits(&zmm, &ymm, &floors);
    c.final_summary();
}

/// Per model: name, floor of the dispatched set, prepared median, AVX2
/// floor, AVX2 kernels' median (microseconds).
type Floors<'a> = [(&'a str, Option<f64>, f64, Option<f64>, Option<f64>)];

/// The CPU's rates and every model's floors against the passes they bound.
fn print_limits(zmm: &Option<limits::Limits>, ymm: &Option<limits::Limits>, floors: &Floors<'_>) {
    if ymm.is_none() {
        println!("Limits: measured on x86-64 CPUs with AVX2 and F16C only.");
        return;
    }
    println!("Limits of this CPU (module `limits`), ns per 16 multiply-accumulates as vmulps + vaddps, then with a vcvtph2ps of f16 weights first:");
    for (label, l) in [("AVX-512 (zmm)", zmm), ("AVX2 (ymm)", ymm)] {
        if let Some(l) = l {
            println!(
                "- {label}: {:.3} and {:.3} ns ({:.1} and {:.1} GMAC/s)",
                l.mul_add_ns,
                l.cvt_mul_add_ns,
                16.0 / l.mul_add_ns,
                16.0 / l.cvt_mul_add_ns
            );
        }
    }
    let pct = |f: Option<f64>, m: Option<f64>| match (f, m) {
        (Some(f), Some(m)) => format!("{:.0} %", 100.0 * f / m),
        _ => "-".to_string(),
    };
    let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!("Floors (us): dense MACs with conversion, others without.");
    println!("| model | floor, dispatched set | prepared median | floor / prepared | AVX2 floor | AVX2 kernels median | AVX2 floor / AVX2 kernels |");
    println!("|---|---|---|---|---|---|---|");
    for &(name, floor, prep, floor2, avx2) in floors {
        println!(
            "| {name} | {} | {prep:.1} | {} | {} | {} | {} |",
            us(floor),
            pct(floor, Some(prep)),
            us(floor2),
            us(avx2),
            pct(floor2, avx2),
        );
    }
}
