//! candle as a user would run a generator with it: the runtime benchmark's
//! MLP and small DCGAN (`runtime::reference`, the same layers and weights)
//! and the shipped `dcgan-digits`, as plain `candle` f32 tensor
//! operations on the CPU at batch 1, timed in the same process as the
//! runtime's `Generator::generate` and prepared generator on the same file.
//! Each candle output is first checked against the runtime's (same network,
//! to within f32 rounding).
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release -p trainer --example
//! candle_reference` (one thread, as the other references in
//! docs/performance.md).

use std::hint::black_box;
use std::time::Instant;

use candle_core::{DType as CDType, Device, Tensor};
use runtime::format::LayerSpec;
use runtime::reference;
use runtime::rng::LatentRng;
use runtime::Generator;

/// One layer as candle operations, weights already f32 on the device.
enum Op {
    Dense(Tensor, Tensor),
    ConvT {
        w: Tensor,
        b: Tensor,
        stride: usize,
        padding: usize,
        output_padding: usize,
    },
    Reshape(usize, usize, usize),
    Relu,
    LeakyRelu(f64),
    Tanh,
}

fn ops(file: &[u8], g: &Generator<'_>) -> Vec<Op> {
    let st = safetensors::SafeTensors::deserialize(file).expect("model parses");
    let tensor = |i: usize, role: &str| {
        let t = st
            .tensor(&format!("layer.{i}.{role}"))
            .expect("layer tensor");
        let v: Vec<f32> = match t.dtype() {
            safetensors::Dtype::F16 => t
                .data()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        };
        Tensor::from_vec(v, t.shape(), &Device::Cpu).expect("tensor")
    };
    g.layers()
        .enumerate()
        .map(|(i, spec)| match spec {
            LayerSpec::Dense { .. } => {
                Op::Dense(tensor(i, "weight").t().unwrap(), tensor(i, "bias"))
            }
            LayerSpec::ConvTranspose2d {
                out_channels,
                stride,
                padding,
                output_padding,
                ..
            } => Op::ConvT {
                w: tensor(i, "weight"),
                b: tensor(i, "bias").reshape((1, out_channels, 1, 1)).unwrap(),
                stride,
                padding,
                output_padding,
            },
            LayerSpec::Reshape { c, h, w } => Op::Reshape(c, h, w),
            LayerSpec::Relu => Op::Relu,
            LayerSpec::LeakyRelu { slope } => Op::LeakyRelu(f64::from(slope)),
            LayerSpec::Tanh => Op::Tanh,
            other => panic!("layer {other} is not in the reference models"),
        })
        .collect()
}

fn forward(ops: &[Op], z: &Tensor) -> candle_core::Result<Tensor> {
    let mut x = z.clone();
    for op in ops {
        x = match op {
            Op::Dense(wt, b) => x.matmul(wt)?.broadcast_add(b)?,
            Op::ConvT {
                w,
                b,
                stride,
                padding,
                output_padding,
            } => x
                .conv_transpose2d(w, *padding, *output_padding, *stride, 1)?
                .broadcast_add(b)?,
            Op::Reshape(c, h, w) => x.reshape((1, *c, *h, *w))?,
            Op::Relu => x.relu()?,
            Op::LeakyRelu(s) => {
                let neg = (x.clone() * *s)?;
                x.maximum(&neg)?
            }
            Op::Tanh => x.tanh()?,
        };
    }
    x.flatten_all()
}

/// Median and minimum microseconds per call over 41 batches of 50.
fn time(mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..100 {
        f();
    }
    let mut v: Vec<f64> = (0..41)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..50 {
                f();
            }
            t.elapsed().as_secs_f64() / 50.0 * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[20], v[0])
}

fn main() -> candle_core::Result<()> {
    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/dcgan-digits.safetensors"
    ))
    .expect("models/dcgan-digits.safetensors is readable");
    println!("candle 0.11 f32 on the CPU, batch 1, against the runtime on the same files; microseconds, median (minimum)");
    println!(
        "| model | candle | runtime | runtime, prepared | candle / runtime | candle / prepared |"
    );
    println!("|---|---|---|---|---|---|");
    let (mlp, dcgan) = (reference::mlp(), reference::small_dcgan());
    for (name, file) in [
        (mlp.name, mlp.file),
        (dcgan.name, dcgan.file),
        ("shipped dcgan-digits", shipped),
    ] {
        let g = Generator::load(&file).expect("model loads");
        let mut z = vec![0.0f32; g.latent_dim()];
        LatentRng::new(7).fill_normal(&mut z);
        let mut scratch = vec![0.0; g.scratch_len()];
        let mut out = vec![0.0; g.output_len()];
        g.generate(&z, None, &mut scratch, &mut out)
            .expect("generates");
        let ops = ops(&file, &g);
        let zt = Tensor::from_vec(z.clone(), (1, z.len()), &Device::Cpu)?;
        let got: Vec<f32> = forward(&ops, &zt)?.to_dtype(CDType::F32)?.to_vec1()?;
        let worst = got
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "{name}: candle and the runtime differ by {worst}"
        );
        let mut buf = vec![0.0; g.prepared_len()];
        let p = g.prepare(&mut buf).expect("buffer of prepared_len()");
        let c = time(|| drop(black_box(forward(&ops, black_box(&zt)).unwrap())));
        let r = time(|| {
            g.generate(black_box(&z), None, &mut scratch, &mut out)
                .unwrap()
        });
        let q = time(|| {
            p.generate(black_box(&z), None, &mut scratch, &mut out)
                .unwrap()
        });
        println!(
            "| {name} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1}x | {:.1}x |",
            c.0,
            c.1,
            r.0,
            r.1,
            q.0,
            q.1,
            c.0 / r.0,
            c.0 / q.0
        );
    }
    Ok(())
}
