"""Styled views of grey digits for image-to-image translation (CycleGAN, StarGAN).

Styles are deterministic functions of uint8 grey images [N, 1, H, W]:
- stroke: `thin` (grey erosion) and `thick` (grey dilation, 3x3);
- `rotate`: a fixed +30° rotation (counter-clockwise), bilinear, zero fill;
- `invert`: 255 − x (black strokes on white);
- colour: `red`, `green`, `blue`, `yellow`, `cyan`, `magenta` (RGB = grey × the tint) and `grey`
  (unchanged). When any style of a set is a colour, every image of that set is RGB (grey
  replicated), so one set has one shape.

Two views of a base set use them (`derived.apply_options`):
- `mnist[domains=thin/thick]` (`add_domains`): unpaired domains for CycleGAN. Row i belongs to
  domain i mod D and is styled as that domain only, so no digit image appears in two domains.
  Field `domain` int64 [N], with the domain names in `field_names["domain"]`.
- `mnist[styles=thick/invert/rotate]` (`add_styles`): multi-attribute labels for StarGAN. Each row
  gets each listed binary style with probability 1/2, drawn from a hash of (split, row, style), so
  a row's styles do not depend on how many rows there are. `thin` and `thick`, if both listed, are
  exclusive (neither, thin, thick: 1/3 each); two or more colours form one group of which each row
  gets exactly one (a single colour is a binary style against grey). Styles are applied in a fixed
  order: stroke, rotate, invert, colour. Field `attributes` float32 [N, K] in {0, 1}, with the K
  names in `field_names["attributes"]`.
- `mnist[styles=thick/invert|red/green/blue]`: label sets ("|"), StarGAN's mask vector. Row i
  belongs to set i mod S and is styled from its own set only; its `attributes` entries of the other
  sets are NaN (unknown). Field `label_set` int64 [N], named by the sets' specs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.data.dataset import DataError, ImageSet

# Tints as (R, G, B) factors of the grey level; grey is the identity in RGB.
TINTS: dict[str, tuple[float, float, float]] = {
    "grey": (1.0, 1.0, 1.0),
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}
STROKES = ("thin", "thick")
STYLES = (*STROKES, "rotate", "invert", *TINTS)
ROTATION_DEGREES = 30.0
# An erosion that leaves less than this share of a digit's ink pixels erased too much of it.
THIN_MIN_INK = 0.25
_SPLIT_SEEDS = {"train": 0, "test": 1, "fit": 2, "val": 3, "all": 4}


# ----------------------------------------------------------------------------------------------
# The styles themselves


def _min_filter(images: Tensor, kernel: tuple[int, int]) -> Tensor:
    # Zero padding on the bottom/right keeps the size; a min over a window is a grey erosion.
    padded = F.pad(images.float(), (0, kernel[1] - 1, 0, kernel[0] - 1))
    return -F.max_pool2d(-padded, kernel, stride=1)


def _ink(images: Tensor) -> Tensor:
    return (images > 127).flatten(1).sum(1)


def thin(images: Tensor) -> Tensor:
    """Grey erosion by a 2x2 minimum; where that keeps less than `THIN_MIN_INK` of a digit's ink
    (already thin strokes), a 1x2 minimum (horizontal only) instead, so the digit stays visible."""
    _check_grey(images, "thin")
    strong, mild = _min_filter(images, (2, 2)), _min_filter(images, (1, 2))
    too_thin = _ink(strong) < THIN_MIN_INK * _ink(images)
    return torch.where(too_thin[:, None, None, None], mild, strong).to(torch.uint8)


def thick(images: Tensor) -> Tensor:
    """Grey dilation by a 3x3 maximum."""
    _check_grey(images, "thick")
    return F.max_pool2d(images.float(), 3, stride=1, padding=1).to(torch.uint8)


def rotate(images: Tensor, degrees: float = ROTATION_DEGREES) -> Tensor:
    """Rotation about the centre by `degrees` counter-clockwise (bilinear, zero fill)."""
    if len(images) == 0:
        return images
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid maps output to input coordinates (x right, y down): sampling from the inverse
    # rotation turns the picture counter-clockwise on screen.
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    rotated = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return rotated.round().clamp(0, 255).to(torch.uint8)


def invert(images: Tensor) -> Tensor:
    """255 − x: black strokes on white."""
    return 255 - images


def tint(images: Tensor, colour: str) -> Tensor:
    """RGB = grey × the colour's (R, G, B) factors: [N, 1, H, W] -> [N, 3, H, W]."""
    _check_grey(images, colour)
    factors = torch.tensor(TINTS[colour]).view(1, 3, 1, 1)
    return (images.float() * factors).round().to(torch.uint8)


def _check_grey(images: Tensor, style: str) -> None:
    if images.dim() != 4 or images.shape[1] != 1 or images.dtype != torch.uint8:
        raise DataError(
            f"style {style!r} takes grey uint8 images [N, 1, H, W], got {images.dtype} {tuple(images.shape)}"
        )


_GREY_STYLES: dict[str, Callable[[Tensor], Tensor]] = {
    "thin": thin,
    "thick": thick,
    "rotate": rotate,
    "invert": invert,
}


def apply_styles(images: Tensor, on: dict[str, Tensor], colour: bool) -> Tensor:
    """Style each row of grey `images` with the styles whose boolean row mask in `on` is set, in the
    fixed order stroke, rotate, invert, colour. `colour`: return RGB for every row (the set has a
    colour style somewhere), grey replicated where no tint is on."""
    _check_grey(images, "apply_styles")
    if "thin" in on and "thick" in on and (on["thin"] & on["thick"]).any():
        raise DataError("a row cannot be both thin and thick")
    images = images.clone()
    for name in ("thin", "thick", "rotate", "invert"):
        rows = on.get(name)
        if rows is not None and rows.any():
            images[rows] = _GREY_STYLES[name](images[rows])
    if not colour:
        return images
    rgb = images.expand(-1, 3, -1, -1).clone()
    for name in TINTS:
        rows = on.get(name)
        if rows is not None and rows.any():
            rgb[rows] = tint(images[rows], name)
    return rgb


# ----------------------------------------------------------------------------------------------
# Parsing style lists


def _names(text: str, option: str, spec: str) -> list[str]:
    names = [name.strip() for name in text.split("/")]
    if not text.strip() or any(not name for name in names):
        raise DataError(
            f"{spec}: {option}={text!r} needs style names separated by '/'; known: {', '.join(STYLES)}"
        )
    unknown = [name for name in names if name not in STYLES]
    if unknown:
        raise DataError(
            f"{spec}: unknown style(s) {', '.join(unknown)} in {option}=; known: {', '.join(STYLES)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{spec}: style(s) {', '.join(repeated)} listed twice in {option}=")
    return names


def _row_uniforms(split: str, rows: int, columns: int, salt: int) -> np.ndarray:
    """Uniform [0, 1) numbers [rows, columns], each a SplitMix64 hash of (split, row, column, salt):
    deterministic per row, whatever the number of rows, and vectorised (no generator per row)."""
    if split not in _SPLIT_SEEDS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(_SPLIT_SEEDS)}")
    row = np.arange(rows, dtype=np.uint64)[:, None]
    column = np.arange(columns, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        z = (
            (np.uint64(_SPLIT_SEEDS[split] * 1_000_003 + salt) << np.uint64(40))
            ^ (row << np.uint64(16))
            ^ column
        )
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


# ----------------------------------------------------------------------------------------------
# The two views


def add_domains(data: ImageSet, text: str, split: str, spec: str) -> ImageSet:
    """`domains=thin/thick`: row i styled as domain i mod D; field `domain` int64 [N]."""
    names = _names(text, "domains", spec)
    if len(names) < 2:
        raise DataError(f"{spec}: domains={text!r} needs 2 or more domains separated by '/'")
    _check_grey(data.images, f"domains={text}")
    domain = torch.arange(len(data)) % len(names)
    on = {name: domain == d for d, name in enumerate(names)}
    images = apply_styles(data.images, on, colour=any(name in TINTS for name in names))
    return data.replace(
        images=images,
        fields={**data.fields, "domain": domain},
        field_names={**data.field_names, "domain": tuple(names)},
    )


def add_styles(data: ImageSet, text: str, split: str, spec: str) -> ImageSet:
    """`styles=thick/invert|red/green/blue`: random styles per row; fields `attributes` [N, K]
    (NaN where a row's label set does not cover the style) and, with two or more label sets,
    `label_set` [N]."""
    _check_grey(data.images, f"styles={text}")
    label_sets = [_names(part, "styles", spec) for part in text.split("|")]
    columns = [name for names in label_sets for name in names]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise DataError(f"{spec}: style(s) {', '.join(repeated)} in more than one label set of styles=")
    for names in label_sets:
        if [name for name in names if name in TINTS] == ["grey"]:
            raise DataError(
                f"{spec}: grey as the only colour of a label set is no attribute (grey is the unstyled "
                "image); list it with other colours (grey/red) or leave it out"
            )
    n, which_set = len(data), torch.arange(len(data)) % len(label_sets)
    attributes = torch.full((n, len(columns)), math.nan)
    u = torch.from_numpy(_row_uniforms(split, n, len(columns) + 2, salt=7))
    start = 0
    for s, names in enumerate(label_sets):
        own = which_set == s
        drawn = _draw(names, u[:, start : start + len(names) + 2])
        attributes[own, start : start + len(names)] = drawn[own]
        start += len(names)
    # Unknown (NaN) entries are off: a row is styled only by its own set.
    on = {name: (attributes[:, c] == 1) for c, name in enumerate(columns)}
    images = apply_styles(data.images, on, colour=any(name in TINTS for name in columns))
    fields = {**data.fields, "attributes": attributes}
    field_names = {**data.field_names, "attributes": tuple(columns)}
    if len(label_sets) > 1:
        fields["label_set"] = which_set
        field_names["label_set"] = tuple("/".join(names) for names in label_sets)
    return data.replace(images=images, fields=fields, field_names=field_names)


def _draw(names: list[str], u: Tensor) -> Tensor:
    """{0, 1} float [N, len(names)] for one label set, from uniforms `u` [N, len(names) + 2]
    (the two extra columns draw the stroke and colour groups)."""
    out = (u[:, : len(names)] < 0.5).float()
    strokes = [i for i, name in enumerate(names) if name in STROKES]
    if len(strokes) == 2:  # neither, thin, thick: a third each
        pick = (u[:, len(names)] * 3).long()  # 0, 1 or 2
        for k, i in enumerate(strokes):
            out[:, i] = (pick == k + 1).float()
    colours = [i for i, name in enumerate(names) if name in TINTS]
    if len(colours) >= 2:  # exactly one colour of the group
        pick = (u[:, len(names) + 1] * len(colours)).long()
        for k, i in enumerate(colours):
            out[:, i] = (pick == k).float()
    return out
