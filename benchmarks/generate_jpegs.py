#!/usr/bin/env python3
"""Writes synthetic photographs as JPEG files of 1 to 2 megapixels, for timing ingestion.

Each image is a smooth colour field (a few random low-frequency components, upsampled) with fine
grain on top, saved at quality 90: file sizes (about 0.3 to 0.8 MB) and decoding cost resemble a
camera's. Sizes and aspect ratios vary (4:3, 3:2, 16:9, 1:1, either orientation). Image i is the
same for the same --seed on every machine.

    generate_jpegs.py OUT_DIR --count 3000 [--workers 16] [--seed 1]

Needs numpy and Pillow. Prints one JSON line: count, total bytes, megapixels, seconds.
"""
import argparse
import json
import os
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image

ASPECTS = [(4, 3), (3, 2), (16, 9), (1, 1)]


def image_size(rng):
    megapixels = rng.uniform(1.0, 2.0)
    a, b = ASPECTS[rng.integers(len(ASPECTS))]
    if rng.integers(2):
        a, b = b, a
    height = int(round((megapixels * 1e6 * b / a) ** 0.5))
    width = int(round(height * a / b))
    return width, height


def write_one(args):
    out_dir, index, seed = args
    rng = np.random.default_rng([seed, index])
    width, height = image_size(rng)
    coarse = rng.integers(0, 256, size=(rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.int16)
    grain = rng.normal(0.0, 6.0, size=(height, width, 1)).astype(np.int16)
    pixels = np.clip(field + grain, 0, 255).astype(np.uint8)
    path = os.path.join(out_dir, f"gen-{index:06d}.jpg")
    Image.fromarray(pixels).save(path, quality=90)
    return os.path.getsize(path), width * height


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    os.makedirs(args.out_dir, exist_ok=True)
    start = time.perf_counter()
    jobs = [(args.out_dir, i, args.seed) for i in range(args.count)]
    with Pool(max(1, args.workers)) as pool:
        written = pool.map(write_one, jobs, chunksize=8)
    print(json.dumps({
        "count": args.count,
        "bytes": sum(size for size, _ in written),
        "megapixels": round(sum(pixels for _, pixels in written) / 1e6, 1),
        "seconds": round(time.perf_counter() - start, 2),
    }))


if __name__ == "__main__":
    main()
