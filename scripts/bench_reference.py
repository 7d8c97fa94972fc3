#!/usr/bin/env python3
"""Reference timings for the runtime's benchmark (`cargo bench -p runtime`):
the same generators in PyTorch (f32, `torch.inference_mode`) and, when it is
installed, ONNX Runtime (f32), one image at a time on one thread.

Architectures (random weights; timing does not depend on their values):
  - MLP 100-128-256-512-1024-784, LeakyReLU(0.2) between layers, tanh
    (batch norm folded into the dense layers, as the runtime's files hold it);
  - small DCGAN: dense 100 -> 64x7x7, ReLU, ConvTranspose 64->32 (k4 s2 p1),
    ReLU, ConvTranspose 32->1 (k4 s2 p1), tanh;
  - the shipped models/dcgan-digits architecture: dense 100 -> 32x7x7, ReLU,
    ConvTranspose 32->16, ReLU, ConvTranspose 16->1, tanh.

Each is timed in batches after a warm-up; the script prints the median and
the minimum microseconds per image over the batches.

Requirements: `pip install torch` (CPU is enough); optionally
`pip install onnxruntime onnx` for the ONNX Runtime column.
Usage: python scripts/bench_reference.py [--samples 41] [--threads 1]
"""

import argparse
import io
import statistics
import time

import torch
from torch import nn


def mlp():
    dims = [100, 128, 256, 512, 1024, 784]
    layers = []
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        layers.append(nn.Linear(a, b))
        layers.append(nn.LeakyReLU(0.2) if i + 2 < len(dims) else nn.Tanh())
    return nn.Sequential(*layers)


def dcgan(c1, c2):
    return nn.Sequential(
        nn.Linear(100, c1 * 7 * 7),
        nn.Unflatten(1, (c1, 7, 7)),
        nn.ReLU(),
        nn.ConvTranspose2d(c1, c2, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(c2, 1, 4, 2, 1),
        nn.Tanh(),
    )


def median_and_min(f, samples):
    """Microseconds per call: batches sized to about 20 ms after a warm-up
    of about 0.3 s."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.3:
        f()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    batch = max(1, int(0.02 / per_call))
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(batch):
            f()
        times.append((time.perf_counter() - t) / batch * 1e6)
    return statistics.median(times), min(times)


def onnx_session(model, z, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    buf = io.BytesIO()
    try:
        torch.onnx.export(model, (z,), buf, input_names=["z"], output_names=["image"], dynamo=False)
    except Exception as e:  # the exporter needs the `onnx` package
        print(f"ONNX export failed ({type(e).__name__}: {e}); skipping ONNX Runtime")
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {"z": z.numpy()}
    return lambda: sess.run(None, feed), ort.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=41)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = [
        ("MLP 100-128-256-512-1024-784", mlp()),
        ("DCGAN dense 7x7x64, convT 64-32-1", dcgan(64, 32)),
        ("shipped dcgan-digits (7x7x32, convT 32-16-1)", dcgan(32, 16)),
    ]
    print(f"PyTorch {torch.__version__}, {args.threads} thread(s), batch 1, f32")
    print("| model | PyTorch median (us) | PyTorch min (us) | ONNX Runtime median (us) | ONNX Runtime min (us) |")
    print("|---|---|---|---|---|")
    ort_version = None
    for name, model in models:
        model.eval()
        z = torch.randn(1, 100)
        with torch.inference_mode():
            pt = median_and_min(lambda: model(z), args.samples)
        ort = onnx_session(model, z, args.threads)
        if ort is not None:
            run, ort_version = ort
            on = median_and_min(run, args.samples)
            ort_cols = f"{on[0]:.1f} | {on[1]:.1f}"
        else:
            ort_cols = "- | -"
        print(f"| {name} | {pt[0]:.1f} | {pt[1]:.1f} | {ort_cols} |")
    if ort_version:
        print(f"ONNX Runtime {ort_version}")
    else:
        print("ONNX Runtime not installed (pip install onnxruntime onnx)")


if __name__ == "__main__":
    main()
