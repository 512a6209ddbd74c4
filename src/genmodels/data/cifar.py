"""CIFAR-10 in its python version (`cifar10:DIR`): the batches of `cifar-10-python.tar.gz`, unpacked.

DIR is the `cifar-10-batches-py` folder (or the folder that holds it). Split "train" is
`data_batch_1` to `data_batch_5` in order (50,000 images), "test" is `test_batch` (10,000). Each
batch is a pickled dict: `data`, a uint8 array [N, 3072] of N images stored as the 1024 red, then
the 1024 green, then the 1024 blue pixels, each plane row by row; `labels`, N ints in 0..9; and
`batch_label`, `filenames`. `batches.meta` names the classes (`label_names`), when present.

The batches are pickles, so they are read by `load_restricted` (`safe_pickle`), which rebuilds numpy
arrays, bytes, strings, lists and dicts and refuses every other global by name before calling it.
The files were written by Python 2 (keys are str after latin1 decoding); files a user wrote with
Python 3 have bytes keys: both are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genmodels.data.dataset import DataError, ImageSet

FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
SIDE, PLANE = 32, 32 * 32


def _root(directory: str | Path) -> Path:
    root = Path(directory)
    if (root / FOLDER).is_dir():
        root = root / FOLDER
    if not root.is_dir():
        raise DataError(f"cifar10:{directory}: not a folder (expected the unpacked {FOLDER})")
    return root


def _unpickle(path: Path) -> dict[str, Any]:
    from genmodels.data.safe_pickle import BYTES, load_restricted, numpy_arrays

    if not path.is_file():
        raise DataError(f"{path}: missing (a CIFAR-10 python folder holds {', '.join(_all_files())})")
    loaded = load_restricted(
        path.read_bytes(), {**numpy_arrays(), **BYTES}, str(path), kinds="arrays, bytes, strings, lists"
    )
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (a pickled dict), but a {type(loaded).__name__}")
    return {
        key.decode("latin1") if isinstance(key, bytes) else str(key): value for key, value in loaded.items()
    }


def _all_files() -> list[str]:
    return [*SPLIT_FILES["train"], *SPLIT_FILES["test"], "batches.meta"]


def _batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataError(
            f"{path}: a CIFAR-10 batch needs 'data' and 'labels'; it has no {' or '.join(missing)}"
        )
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * PLANE:
        raise DataError(f"{path}: 'data' must be uint8 [N, 3072], got {data.dtype} {list(data.shape)}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: 'labels' must be {len(data)} integers, got {labels.dtype} {list(labels.shape)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return data, labels


def load_cifar10(directory: str | Path, split: str) -> ImageSet:
    """The CIFAR-10 python batches of one split as [N, 3, 32, 32] uint8 images and int64 labels."""
    if split not in SPLIT_FILES:
        raise DataError(f"cifar10:{directory}: unknown split {split!r}; choose one of train, test")
    root = _root(directory)
    parts = [_batch(root / name) for name in SPLIT_FILES[split]]
    data = np.concatenate([data for data, _ in parts])
    labels = np.concatenate([labels for _, labels in parts]).astype(np.int64)
    class_names = None
    if (root / "batches.meta").is_file():
        names = _unpickle(root / "batches.meta").get("label_names")
        if names is not None:
            class_names = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
            if len(class_names) != 10:
                raise DataError(
                    f"{root / 'batches.meta'}: label_names must name 10 classes, got {len(class_names)}"
                )
    images = torch.from_numpy(data.reshape(-1, 3, SIDE, SIDE).copy())  # planes R, G, B; rows in order
    return ImageSet(images, torch.from_numpy(labels), f"cifar10:{directory}/{split}", class_names=class_names)
