"""Images per second of the three data paths, beside the model steps they feed (issue 16).

    OMP_NUM_THREADS=1 python benchmarks/data_paths.py [--images 4000] [--side 64]

A synthetic folder of colour images (gradients, PNG) is written to a temporary directory, then:
- folder: decoding every file (what building the cache, or an in-memory load, costs once);
- memory / cache: random training batches of 64 (`BatchStream`, the trainer's own batching, in
  the [-1, 1] view) read from the in-memory tensor and from the memory-mapped cache file;
- the model steps: the images per second of one training step of the fastest cpu recipes (the GAN's
  MLP, the VAE's, DCGAN's) at batch 64 on the same machine, which the batches must outpace.
Writes benchmarks/results/data_paths.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "data_paths.json"


def write_folder(root: Path, n: int, side: int) -> None:
    y, x = np.mgrid[0:side, 0:side]
    for k in range(2):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = ((x * (1 + i % 3) + y + i) % 256).astype(np.uint8)
        Image.fromarray(np.stack([base, base[::-1], base.T], -1)).save(
            root / f"class{i % 2}" / f"{i:05d}.png"
        )


def batches_per_second(data, batch_size: int = 64, steps: int = 300) -> float:
    from genmodels.data import BatchStream, View

    stream = BatchStream(data, View("symmetric"), batch_size, seed=0)
    stream.batch(0)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        stream.batch(step)
    return steps * batch_size / (time.perf_counter() - started)


def model_steps_per_second(name: str, batch_size: int = 64, steps: int = 30) -> float:
    import genmodels

    with tempfile.TemporaryDirectory() as folder:
        options = {"preset": "cpu", "batch_size": batch_size, "progress": False, "tensorboard": False,
                   "num_samples": 0, "sample_every": 0, "checkpoint_every": 0, "log_every": 1000}  # fmt: skip
        genmodels.train(name, "mnist", steps=3, out=Path(folder) / "warm", **options)
        started = time.perf_counter()
        genmodels.train(name, "mnist", steps=steps, out=Path(folder) / "timed", **options)
        return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--side", type=int, default=64)
    args = parser.parse_args()
    import genmodels

    result: dict = {"images": args.images, "side": args.side, "batch_size": 64}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["GENMODELS_CACHE"] = str(root / "cache")
        write_folder(root / "images", args.images, args.side)
        started = time.perf_counter()
        memory = genmodels.load_dataset(f"folder:{root / 'images'}[storage=memory]", "train")
        result["folder_decode_images_per_second"] = round(args.images / (time.perf_counter() - started))
        started = time.perf_counter()
        cached = genmodels.load_dataset(f"folder:{root / 'images'}[storage=cache]", "train")
        result["cache_build_images_per_second"] = round(args.images / (time.perf_counter() - started))
        result["memory_batches_images_per_second"] = round(batches_per_second(memory))
        result["cache_batches_images_per_second"] = round(batches_per_second(cached))
    result["model_steps_images_per_second"] = {
        name: round(model_steps_per_second(name)) for name in ("gan", "vae", "dcgan")
    }
    result.update(
        command="OMP_NUM_THREADS=1 python benchmarks/data_paths.py",
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)",
        date=time.strftime("%Y-%m-%d"),
    )
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
