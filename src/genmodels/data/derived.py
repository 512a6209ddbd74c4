"""Derived data sets: deterministic views of a base set, named `BASE[option, key=value, ...]`.

- `mnist[classes=0-8]`, `mnist[classes=9]`, `digits[classes=1,7]`: keep only those classes
  (a class held out of training is an out-of-distribution set for anomaly detection);
- `mnist[invert]`: 255 − x (white background, black strokes);
- `noise[shape=1x28x28, n=1000]`: uniform random grey levels;
- `photos[size=28, n=1000, colour]`: patches cut from the photographs that scikit-image and
  scikit-learn ship (grey unless `colour`); train and test use disjoint photographs;
- `mnist[captions]`: a templated sentence per image from its label and measured attributes
  (`captions`), with phrasings held out of training in the test split;
- `mnist[patches=3, patch_size=10]`: the boxes of key local patches for Puzzle-GAN (`key_patches`);
- `mnist[domains=thin/thick]`: unpaired styled domains for CycleGAN, field `domain` (`styles`);
- `mnist[styles=thick/invert/red]`, `mnist[styles=thick/invert|red/green/blue]`: random styles
  per row as binary `attributes` for StarGAN, with label sets separated by "|" (`styles`);
- `celeba:DIR[attributes=Black_Hair/Blond_Hair/Male]`: keep only those columns of an
  `attributes` field (any set that has one, styled mnist included);
- `mnist-full[labelled=100]`: a semi-supervised training set (`add_labelled_copies`): the labels of
  N rows balanced over the classes are the only ones to be read, their copies marked by a
  `labelled` field fill half the set.

Options combine (`mnist[classes=0-4, invert]`). Everything is a pure function of the name and the
split: no randomness outside seeded generators, nothing downloaded.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import torch

from genmodels.data.dataset import DataError, ImageSet

_SPEC = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<options>[^\[\]]*)\]$")
_SPLIT_SEEDS = {"train": 0, "test": 1, "fit": 2, "val": 3, "all": 4}


def parse_spec(name: str) -> tuple[str, dict[str, str]]:
    """`mnist[classes=1,7, invert]` -> ("mnist", {"classes": "1,7", "invert": ""})."""
    match = _SPEC.match(name.strip())
    if match is None:
        return name, {}
    options = {}
    # Options are separated by commas that start a new key, so `classes=1,7` keeps its list.
    for part in filter(None, (p.strip() for p in re.split(r",\s*(?=[A-Za-z])", match["options"]))):
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    return match["base"].strip(), options


def parse_classes(text: str) -> list[int]:
    """`0-8` -> [0..8]; `1,7` -> [1, 7]."""
    classes: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            classes.extend(range(int(low), int(high or low) + 1))
    except ValueError as error:
        raise DataError(f"classes={text!r}: expected numbers and ranges like 0-8 or 1,7") from error
    return classes


def apply_options(data: ImageSet, options: dict[str, str], spec: str, split: str = "train") -> ImageSet:
    known = {"classes", "invert", "captions", "patches", "patch_size", "domains", "styles", "attributes"}
    known.add("labelled")
    unknown = set(options) - known
    if unknown:
        raise DataError(
            f"{spec}: unknown option(s) {', '.join(sorted(unknown))}; known: classes=..., invert, "
            "captions, patches=K, patch_size=P, domains=A/B, styles=A/B|C/D, attributes=A/B, labelled=N"
        )
    if "classes" in options:
        if data.labels is None:
            raise DataError(f"{spec}: classes= needs a labelled data set; {data.name} has no labels")
        wanted = parse_classes(options["classes"])
        present = set(data.labels.unique().tolist())
        # Every class named must be one the data have: `classes=0-12` on ten digits is a typo, not
        # a request for the ten that exist.
        absent = sorted(set(wanted) - present)
        if not wanted or absent:
            missing = ", ".join(map(str, absent)) if absent else repr(options["classes"])
            raise DataError(
                f"{spec}: no class{'es' if len(absent) > 1 else ''} {missing} in {data.name}; "
                f"it has {_ranges(sorted(present))}"
            )
        keep = torch.isin(data.labels, torch.tensor(wanted))
        data = data.subset(keep.nonzero().squeeze(1))
    # Styling comes before `invert` and the measured captions, which then see the styled images.
    if "domains" in options and "styles" in options:
        raise DataError(f"{spec}: choose domains= (CycleGAN) or styles= (StarGAN), not both")
    if "domains" in options:
        from genmodels.data.styles import add_domains

        data = add_domains(data, options["domains"], split, spec)
    if "styles" in options:
        from genmodels.data.styles import add_styles

        data = add_styles(data, options["styles"], split, spec)
    if "attributes" in options:
        data = select_attributes(data, options["attributes"], spec)
    if "invert" in options:
        data = data.replace(images=255 - data.images)
    if "captions" in options:
        from genmodels.data.captions import add_captions

        data = add_captions(data, split)
    if "patches" in options or "patch_size" in options:
        from genmodels.data.key_patches import add_key_patches

        data = add_key_patches(
            data,
            split,
            _positive(options.get("patches") or "3", "patches", spec),
            _positive(options.get("patch_size") or "10", "patch_size", spec),
        )
    if "labelled" in options:
        data = add_labelled_copies(data, _positive(options["labelled"], "labelled", spec), spec)
    split_name = data.name.rsplit("/", 1)[-1] if "/" in data.name else None
    return data.replace(name=f"{spec}/{split_name}" if split_name else spec)


def add_labelled_copies(data: ImageSet, n: int, spec: str) -> ImageSet:
    """A semi-supervised training set with `n` labelled examples, as the one trainer can stream it.

    The n rows are balanced over the classes: the first row of each class, then the second of
    each, and so on (100 labels of ten digits: the first ten of every digit). Every original row
    stays, with `labelled` = 0: a model reads its image, never its label. Copies of the n rows are
    appended with `labelled` = 1, repeated until they are as many as the originals, so each random
    batch holds about as many labelled rows as unlabelled ones (the papers' second, labelled
    minibatch per step, drawn from the same stream)."""
    if data.labels is None:
        raise DataError(f"{spec}: labelled= needs a labelled data set; {data.name} has no labels")
    if n > len(data):
        raise DataError(f"{spec}: labelled={n} is more than the {len(data)} rows of {data.name}")
    labels = data.labels.long()
    # Each row's rank within its class: sorting by (rank, class) interleaves the classes.
    order = torch.argsort(labels, stable=True)
    rank = torch.empty_like(labels)
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    rank[order] = torch.arange(len(labels)) - starts[labels[order]]
    chosen = torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)[:n]
    copies = chosen.repeat(-(-len(data) // n))[: len(data)]  # n <= len(data), refused above otherwise
    rows = torch.cat([torch.arange(len(data)), copies])
    flag = torch.cat([torch.zeros(len(data), dtype=torch.uint8), torch.ones(len(copies), dtype=torch.uint8)])
    subset = data.subset(rows)
    return subset.replace(fields={**subset.fields, "labelled": flag})


def select_attributes(data: ImageSet, text: str, spec: str) -> ImageSet:
    """`attributes=Male/Smiling`: keep only those columns of the `attributes` field, in that order."""
    if "attributes" not in data.fields:
        raise DataError(
            f"{spec}: attributes= needs a data set with an `attributes` field; {data.name} has none"
        )
    available = data.field_names.get("attributes") or tuple(
        str(i) for i in range(data.fields["attributes"].shape[1])
    )
    wanted = [name.strip() for name in text.split("/")]
    missing = [name for name in wanted if name not in available]
    if not text.strip() or missing:
        raise DataError(
            f"{spec}: unknown attribute(s) {', '.join(missing) or repr(text)}; "
            f"available: {', '.join(available)}"
        )
    columns = [available.index(name) for name in wanted]
    return data.replace(
        fields={**data.fields, "attributes": data.fields["attributes"][:, columns]},
        field_names={**data.field_names, "attributes": tuple(wanted)},
    )


def _positive(text: str, option: str, spec: str) -> int:
    """A count or size given as an option: a whole number above 0."""
    try:
        value = int(text)
    except ValueError as error:
        raise DataError(f"{spec}: {option}={text!r} is not an integer") from error
    if value < 1:
        raise DataError(f"{spec}: {option}={text!r} must be 1 or more")
    return value


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 3, 7] -> "0-3, 7"."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _known_options(options: dict[str, str], known: set[str], spec: str) -> None:
    unknown = set(options) - known
    if unknown:
        raise DataError(
            f"{spec}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )


def _split_seed(split: str) -> int:
    if split not in _SPLIT_SEEDS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(_SPLIT_SEEDS)}")
    return _SPLIT_SEEDS[split]


def load_noise(options: dict[str, str], split: str) -> ImageSet:
    _known_options(options, {"shape", "n"}, "noise")
    shape_text = options.get("shape", "1x28x28")
    n = _positive(options.get("n", "1000"), "n", "noise")
    try:
        shape = tuple(int(v) for v in shape_text.split("x"))
    except ValueError as error:
        raise DataError(f"noise[shape={shape_text}]: shape must look like 1x28x28") from error
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(f"noise: shape must be CxHxW of sizes 1 or more, got {shape_text}")
    generator = torch.Generator().manual_seed(1_000 + _split_seed(split))
    images = torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)
    return ImageSet(images, None, f"noise/{split}")


_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "brick", "grass", "gravel")


@cache
def _photographs() -> list[np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [getattr(skimage.data, name)() for name in _PHOTOS]
    photos += list(load_sample_images().images)  # china, flower
    return [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in photos]


def load_photos(options: dict[str, str], split: str) -> ImageSet:
    from PIL import Image

    _known_options(options, {"size", "n", "colour", "color"}, "photos")
    size = _positive(options.get("size", "28"), "size", "photos")
    n = _positive(options.get("n", "1000"), "n", "photos")
    colour = "colour" in options or "color" in options
    photos = _photographs()
    # Disjoint photographs: the test split cuts patches from every fourth one.
    chosen = [p for i, p in enumerate(photos) if (i % 4 == 3) == (split == "test")]
    rng = np.random.RandomState(2_000 + _split_seed(split))
    patches = []
    for i in range(n):
        photo = chosen[i % len(chosen)]
        # Shrink so that a patch spans about a quarter of the photo: structure, not flat texture.
        scale = 4 * size / min(photo.shape[:2])
        small = np.asarray(
            Image.fromarray(photo).resize((round(photo.shape[1] * scale), round(photo.shape[0] * scale)))
        )
        top, left = rng.randint(0, small.shape[0] - size + 1), rng.randint(0, small.shape[1] - size + 1)
        patch = small[top : top + size, left : left + size]
        if not colour:
            patch = np.asarray(Image.fromarray(patch).convert("L"))[..., None]
        patches.append(patch.transpose(2, 0, 1))
    return ImageSet(torch.from_numpy(np.stack(patches)), None, f"photos/{split}")
