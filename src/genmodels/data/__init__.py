"""The data layer: embedded sets, file formats, per-batch views and deterministic batching.

`load_dataset(name, split)` understands:
- `mnist`, `digits`: embedded (section 4 of DESIGN.md), nothing downloads;
- `idx:DIR`: MNIST-format IDX files (gzipped or not);
- `folder:DIR`: an image folder, class subfolders optional.
"""

from __future__ import annotations

from collections.abc import Callable

from genmodels.data.batches import Batch, BatchStream, ordered_batches
from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.transforms import View, to_uint8

__all__ = [
    "Batch",
    "BatchStream",
    "DataError",
    "ImageSet",
    "View",
    "dataset_names",
    "load_dataset",
    "ordered_batches",
    "to_uint8",
]


def _embedded() -> dict[str, Callable[[str], ImageSet]]:
    from genmodels.data.embedded import load_digits, load_mnist

    return {"mnist": load_mnist, "digits": load_digits}


def _formats() -> dict[str, Callable[[str, str], ImageSet]]:
    from genmodels.data.formats import load_idx, load_image_folder

    return {"idx": load_idx, "folder": load_image_folder}


def dataset_names() -> list[str]:
    return [*_embedded(), *(f"{prefix}:DIR" for prefix in _formats())]


def load_dataset(name: str, split: str = "train") -> ImageSet:
    """Load a data set by name (`mnist`, `digits`) or by `format:PATH` (`idx:DIR`, `folder:DIR`)."""
    prefix, _, path = name.partition(":")
    if path:
        formats = _formats()
        if prefix not in formats:
            raise DataError(
                f"unknown data format {prefix!r} in {name!r}; known: {', '.join(dataset_names())}"
            )
        return formats[prefix](path, split)
    embedded = _embedded()
    if name not in embedded:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}")
    return embedded[name](split)
