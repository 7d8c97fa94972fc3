#!/usr/bin/env python3
"""PyTorch reference for `trainer bench`: the same GAN training step in PyTorch, timed the same way.

Both architectures are layer for layer the trainer's (see trainer/src/models/mlp.rs and dcgan.rs):

* mlp: the classic gan.py networks. G 100 -> 128 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2),
  BatchNorm1d(eps 0.8) after every hidden layer but the first, tanh out; D 784 -> 512 -> 256 -> 1
  with LeakyReLU(0.2).
* dcgan: G dense to 32x7x7, BatchNorm, ReLU, ConvTranspose2d(32, 16, 4, 2, 1), BatchNorm, ReLU,
  ConvTranspose2d(16, 1, 4, 2, 1), tanh; D Conv2d(1, 16, 4, 2, 1), LeakyReLU(0.2),
  Conv2d(16, 32, 4, 2, 1), LeakyReLU(0.2), Linear(32*7*7, 1).

One step is what the trainer does: z ~ N(0, 1); generator update (D scores G(z) against "real",
non-saturating loss, binary cross-entropy on logits); then the discriminator update on the real
batch and the detached fakes in one pass, loss (real + fake) / 2. Adam lr 2e-4, betas (0.5, 0.999).
The "real" batch is drawn from a fixed tensor of 10,000 random images in [-1, 1]: throughput does
not depend on the pixel values.

Prints one JSON object per configuration on stdout, e.g.
{"arch": "mlp", "batch": 64, "threads": 2, "compile": false, "images_per_s": 2850.0, ...}

Usage: python3 scripts/pytorch_reference.py --arch mlp --batch 64 --threads 2
(needs `pip install torch`; a CPU wheel is enough).
"""

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn


def mlp_pair(latent):
    def block(i, o, bn):
        layers = [nn.Linear(i, o)]
        if bn:
            layers.append(nn.BatchNorm1d(o, 0.8))
        layers.append(nn.LeakyReLU(0.2))
        return layers

    g = nn.Sequential(
        *block(latent, 128, False),
        *block(128, 256, True),
        *block(256, 512, True),
        *block(512, 1024, True),
        nn.Linear(1024, 784),
        nn.Tanh(),
        nn.Unflatten(1, (1, 28, 28)),
    )
    d = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512),
        nn.LeakyReLU(0.2),
        nn.Linear(512, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 1),
    )
    return g, d


def dcgan_pair(latent):
    g = nn.Sequential(
        nn.Linear(latent, 32 * 7 * 7),
        nn.Unflatten(1, (32, 7, 7)),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, 2, 1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 4, 2, 1),
        nn.Tanh(),
    )
    d = nn.Sequential(
        nn.Conv2d(1, 16, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 32, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 1),
    )
    return g, d


def measure(arch, batch, steps, repeats, warmup, use_compile, device):
    torch.manual_seed(0)
    latent = 100
    g, d = (mlp_pair if arch == "mlp" else dcgan_pair)(latent)
    g, d = g.to(device), d.to(device)
    if use_compile:
        g, d = torch.compile(g), torch.compile(d)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    data = torch.rand(10_000, 1, 28, 28, device=device) * 2 - 1
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)
    gen = torch.Generator(device="cpu").manual_seed(1)

    def step(i):
        idx = torch.randint(0, data.shape[0], (batch,), generator=gen).to(device)
        real = data[idx]
        z = torch.randn(batch, latent, device=device)
        opt_g.zero_grad(set_to_none=True)
        fake = g(z)
        g_loss = bce(d(fake).squeeze(1), ones)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        logits = d(torch.cat([real, fake.detach()], 0)).squeeze(1)
        d_loss = (bce(logits[:batch], ones) + bce(logits[batch:], zeros)) / 2
        d_loss.backward()
        opt_d.step()
        # The trainer reads its losses back every step; so does this.
        return d_loss.item(), g_loss.item()

    for i in range(warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps * batch / (time.perf_counter() - start))
    return rates


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["mlp", "dcgan"], action="append")
    p.add_argument("--batch", type=int, action="append")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="also measure torch.compile")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    modes = [False, True] if a.compile else [False]
    for arch in a.arch or ["mlp", "dcgan"]:
        for batch in a.batch or [64]:
            for use_compile in modes:
                rates = measure(arch, batch, a.steps, a.repeats, a.warmup, use_compile, device)
                print(
                    json.dumps(
                        {
                            "arch": arch,
                            "batch": batch,
                            "threads": torch.get_num_threads(),
                            "compile": use_compile,
                            "torch": torch.__version__,
                            "images_per_s": statistics.median(rates),
                            "min": min(rates),
                            "max": max(rates),
                        }
                    ),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
