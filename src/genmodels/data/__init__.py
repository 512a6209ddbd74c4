"""The data layer: embedded sets, file formats, per-batch views and deterministic batching.

`load_dataset(name, split)` understands:
- `mnist`, `digits`: embedded (section 4 of DESIGN.md), nothing downloads;
- `idx:DIR`: MNIST-format IDX files (gzipped or not);
- `folder:DIR`: an image folder, class subfolders optional;
- `captions:FILE.jsonl`: image and caption pairs, one JSON object per line (`captions`);
- derived views `NAME[options]` (`derived`), e.g. `mnist[captions]`: a templated caption per digit
  naming its measured thickness, slant and size, worded differently in the test split.
"""

from __future__ import annotations

from collections.abc import Callable

from genmodels.data.batches import Batch, BatchStream, ordered_batches
from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.transforms import View, evaluation_view, to_uint8, to_unit

__all__ = [
    "Batch",
    "BatchStream",
    "DataError",
    "ImageSet",
    "View",
    "dataset_names",
    "evaluation_view",
    "load_dataset",
    "ordered_batches",
    "to_uint8",
    "to_unit",
]


def _embedded() -> dict[str, Callable[[str], ImageSet]]:
    from genmodels.data.embedded import load_digits, load_mnist

    return {"mnist": load_mnist, "digits": load_digits}


def _formats() -> dict[str, Callable[[str, str], ImageSet]]:
    from genmodels.data.captions import load_captions
    from genmodels.data.formats import load_idx, load_image_folder

    return {"idx": load_idx, "folder": load_image_folder, "captions": load_captions}


def dataset_names() -> list[str]:
    return [
        *_embedded(),
        "noise",
        "photos",
        *(f"{prefix}:{'FILE.jsonl' if prefix == 'captions' else 'DIR'}" for prefix in _formats()),
        "NAME[options]",
    ]


def load_dataset(name: str, split: str = "train") -> ImageSet:
    """Load a data set by name (`mnist`, `digits`, `noise`, `photos`), by `format:PATH` (`idx:DIR`,
    `folder:DIR`, `captions:FILE.jsonl`), or a derived view of either: `mnist[classes=0-8]`,
    `mnist[invert]`, `mnist[captions]` (see `derived`)."""
    from genmodels.data.derived import apply_options, load_noise, load_photos, parse_spec

    base, options = parse_spec(name)
    generated = {"noise": load_noise, "photos": load_photos}
    if base in generated:
        return generated[base](options, split)
    data = _load_base(base, split)
    return apply_options(data, options, name, split) if options else data


def _load_base(name: str, split: str) -> ImageSet:
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
