#!/usr/bin/env python3
"""Train the PyTorch-GAN collection's generator briefly in PyTorch, import it, compare images.

The networks and the training step are those of the reference `gan.py` (or, with `--arch dcgan`,
`dcgan.py`): Adam lr 2e-4, betas (0.5, 0.999), binary cross-entropy, batch 64, on the bundled
digits (data/mnist, scaled to [-1, 1]; resized to 32 x 32 for dcgan.py as its loader does). After
`--steps` steps the generator's state dict is saved with `torch.save`, PyTorch's evaluation-mode
images for `--count` fixed latents are written beside it (`z`, `images`), and
`trainer import --against` converts the state dict and holds the runtime's images for the same
latents to PyTorch's, once per dtype. Prints the figures: max abs difference and PSNR (peak 2,
the tanh range).

Usage: python3 scripts/pytorch_import.py [--arch gan|dcgan] [--steps 1000] [--out-dir runs/pytorch-import]
(needs `pip install torch`; a CPU wheel is enough). TRAINER=path/to/trainer uses that binary
instead of `cargo run --release -p trainer --`.
"""

import argparse
import gzip
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import time
from array import array

import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LATENT = 100


class GanGenerator(nn.Module):
    """gan.py's generator, unchanged."""

    def __init__(self, img_shape):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(LATENT, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(torch.tensor(img_shape).prod())),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class GanDiscriminator(nn.Module):
    """gan.py's discriminator, unchanged."""

    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(torch.tensor(img_shape).prod()), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


class DcganGenerator(nn.Module):
    """dcgan.py's generator, unchanged."""

    def __init__(self, img_size, channels):
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(LATENT, 128 * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class DcganDiscriminator(nn.Module):
    """dcgan.py's discriminator, unchanged."""

    def __init__(self, img_size, channels):
        super().__init__()

        def block(in_filters, out_filters, bn=True):
            layers = [
                nn.Conv2d(in_filters, out_filters, 3, 2, 1),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Dropout2d(0.25),
            ]
            if bn:
                layers.append(nn.BatchNorm2d(out_filters, 0.8))
            return layers

        self.model = nn.Sequential(
            *block(channels, 16, bn=False),
            *block(16, 32),
            *block(32, 64),
            *block(64, 128),
        )
        ds_size = img_size // 2**4
        self.adv_layer = nn.Sequential(nn.Linear(128 * ds_size**2, 1), nn.Sigmoid())

    def forward(self, img):
        out = self.model(img)
        return self.adv_layer(out.view(out.shape[0], -1))


def dcgan_init(m):
    """dcgan.py's weights_init_normal."""
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find("BatchNorm2d") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0.0)


def digits(size):
    """The bundled digits as a [N, 1, size, size] tensor in [-1, 1]."""
    with gzip.open(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte.gz")) as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        x = torch.frombuffer(bytearray(f.read(n * h * w)), dtype=torch.uint8)
    x = x.view(n, 1, h, w).float() / 127.5 - 1.0
    if size != h:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def train(arch, steps, seed):
    """gan.py's (or dcgan.py's) training loop for `steps` batches of 64."""
    torch.manual_seed(seed)
    size = 28 if arch == "gan" else 32
    data = digits(size)
    if arch == "gan":
        g, d = GanGenerator((1, size, size)), GanDiscriminator((1, size, size))
    else:
        g, d = DcganGenerator(size, 1), DcganDiscriminator(size, 1)
        g.apply(dcgan_init)
        d.apply(dcgan_init)
    loss = nn.BCELoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start = time.time()
    for step in range(steps):
        real = data[torch.randint(0, len(data), (64,))]
        valid, fake = torch.ones(64, 1), torch.zeros(64, 1)
        opt_g.zero_grad()
        gen = g(torch.randn(64, LATENT))
        g_loss = loss(d(gen), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (loss(d(real), valid) + loss(d(gen.detach()), fake)) / 2
        d_loss.backward()
        opt_d.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps}  D {d_loss.item():.3f}  G {g_loss.item():.3f}  "
                  f"({time.time() - start:.0f} s)", file=sys.stderr)
    return g.eval()


def save_safetensors(tensors, path):
    """A minimal safetensors writer (f32 tensors), so that no other package is needed."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = array("f", t.detach().float().flatten().tolist()).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def trainer_command():
    if os.environ.get("TRAINER"):
        return [os.environ["TRAINER"]]
    return ["cargo", "run", "--quiet", "--release", "-p", "trainer", "--"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["gan", "dcgan"], default="gan")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--count", type=int, default=64, help="latents compared")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", default=os.path.join(ROOT, "runs/pytorch-import"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out_dir, exist_ok=True)

    g = train(a.arch, a.steps, a.seed)
    state = os.path.join(a.out_dir, f"{a.arch}_py.pth")
    torch.save(g.state_dict(), state)
    z = torch.randn(a.count, LATENT, generator=torch.Generator().manual_seed(a.seed + 1))
    with torch.no_grad():
        images = g(z)
    reference = os.path.join(a.out_dir, f"{a.arch}_py_reference.safetensors")
    save_safetensors({"z": z, "images": images}, reference)

    pattern = re.compile(r"runtime vs PyTorch max abs error (\S+), PSNR (\S+) dB on (\d+) images")
    rows = []
    for dtype in ["f32", "f16"]:
        out = os.path.join(a.out_dir, f"{a.arch}_py-{dtype}.safetensors")
        cmd = trainer_command() + ["import", state, "--dtype", dtype, "--out", out, "--force",
                                   "--against", reference]
        print("$", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        print(run.stdout, end="")
        if run.returncode != 0:
            sys.exit(f"trainer import failed: {run.stderr.strip()}")
        m = pattern.search(run.stdout)
        rows.append((dtype, float(m.group(1)), float(m.group(2)), int(m.group(3)),
                     os.path.getsize(out)))
    print(f"\n{a.arch}.py generator, {a.steps} steps of PyTorch training, torch {torch.__version__}")
    print("| file | bytes | max abs difference | PSNR (dB) | images |")
    print("|---|---|---|---|---|")
    for dtype, max_abs, psnr, n, size in rows:
        print(f"| {dtype} | {size:,} | {max_abs:.2e} | {psnr:.1f} | {n} |")


if __name__ == "__main__":
    main()
