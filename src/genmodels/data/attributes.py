"""Measured attributes of digit images (stroke thickness, slant, size) and their three-way buckets.

Captions for text-to-image models name these attributes (`captions`), and the same measures score
whether generated samples show what their captions asked for (`attribute_agreement`), so both sides
use one definition. Every measure works on the binary ink mask, pixel > 0.5 in [0, 1] (uint8 > 127,
the binarisation protocol of the project), because GAN samples are grey and only the ink's shape
should count, not its grey level.

- thickness: the stroke width in pixels, taken as the short side of the rectangle with the ink's
  area and perimeter. Unlike area / perimeter it does not call short strokes (a "1") thin, and the
  perimeter is the Crofton estimate over four directions, so a slanted stroke is not judged thinner
  than an upright one for its staircase edges (4-neighbour edge counts inflate a 45° boundary by √2).
- slant: the shear of the ink, cov(x, y) / var(y) with y pointing up: positive leans right (the top
  to the right of the bottom), the moment used to deskew MNIST.
- size: the ink's spread, the root-mean-square distance of ink pixels from their centroid. MNIST
  digits are scaled to a 20-pixel box, so the bounding-box height is 20 for most and says nothing;
  the spread still varies (a "1" is small, a "0" large: size is strongly tied to the class).

Buckets are the terciles of the embedded mnist *training* split (computed once and cached), so
each word covers about a third of the training digits. An image with no ink has no measures (NaN)
and bucket −1.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

ATTRIBUTES = ("thickness", "slant", "size")
BUCKET_WORDS = {
    "thickness": ("thin", "medium", "thick"),
    "slant": ("left", "upright", "right"),
    "size": ("small", "medium", "large"),
}
UNMEASURED = -1  # the bucket of an image without ink, and of an attribute a caption does not name


def ink_mask(images: Tensor) -> Tensor:
    """Binary ink, float [N, H, W]: uint8 > 127, or float (in [0, 1]) > 0.5; colour channels averaged."""
    if images.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        grey = images.float().mean(1) / 255
    elif images.is_floating_point():
        if images.numel() and float(images.min()) < -0.01:
            raise ValueError(
                f"float images must be in [0, 1] (min here {float(images.min()):.3f}); "
                "map [-1, 1] samples with (x + 1) / 2 first"
            )
        grey = images.float().mean(1)
    else:
        raise ValueError(f"images must be uint8 or float, got {images.dtype}")
    return (grey > 0.5).float()


def _transitions(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Ink/background changes along rows, columns and both diagonals, per image (mask zero padded)."""
    p = torch.nn.functional.pad(mask, (1, 1, 1, 1))
    along_rows = (p[:, :, 1:] - p[:, :, :-1]).abs().sum((1, 2))
    along_cols = (p[:, 1:, :] - p[:, :-1, :]).abs().sum((1, 2))
    diagonal = (p[:, 1:, 1:] - p[:, :-1, :-1]).abs().sum((1, 2))
    anti_diagonal = (p[:, 1:, :-1] - p[:, :-1, 1:]).abs().sum((1, 2))
    return along_rows, along_cols, diagonal, anti_diagonal


def thickness(mask: Tensor) -> Tensor:
    """Stroke width in pixels: the short side of the rectangle with the ink's area and perimeter."""
    area = mask.sum((1, 2))
    rows, cols, diagonal, anti_diagonal = _transitions(mask)
    # Crofton's formula over four directions (diagonal lines are 1/√2 apart, hence their weight),
    # scaled so that an upright w x L rectangle measures exactly 2 (w + L).
    perimeter = (rows + cols + (diagonal + anti_diagonal) / math.sqrt(2)) / (1 + math.sqrt(2))
    # Sides a, b with a + b = perimeter / 2 and a b = area: the roots of t² − (P/2) t + A.
    half = perimeter / 2
    width = (half - (half**2 - 4 * area).clamp(min=0).sqrt()) / 2
    return torch.where(area > 0, width, torch.nan)


def _moments(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Ink area, var(x), var(y), cov(x, y) with x to the right and y up, per image."""
    _, height, width = mask.shape
    area = mask.sum((1, 2))
    weight = mask / area.clamp(min=1)[:, None, None]
    y = -torch.arange(height, dtype=mask.dtype, device=mask.device)[None, :, None]  # y counts up
    x = torch.arange(width, dtype=mask.dtype, device=mask.device)[None, None, :]
    dy = y - (weight * y).sum((1, 2))[:, None, None]
    dx = x - (weight * x).sum((1, 2))[:, None, None]
    return area, (weight * dx**2).sum((1, 2)), (weight * dy**2).sum((1, 2)), (weight * dx * dy).sum((1, 2))


def slant(mask: Tensor) -> Tensor:
    """Shear cov(x, y) / var(y) of the ink: positive leans right, negative left, 0 upright."""
    area, _, var_y, cov_xy = _moments(mask)
    # A single row of ink has no vertical extent to lean along: call it upright.
    return torch.where(area > 0, cov_xy / var_y.clamp(min=1e-6), torch.nan)


def size(mask: Tensor) -> Tensor:
    """Spread of the ink: root-mean-square distance of ink pixels from their centroid, in pixels."""
    area, var_x, var_y, _ = _moments(mask)
    return torch.where(area > 0, (var_x + var_y).sqrt(), torch.nan)


def measure_attributes(images: Tensor) -> Tensor:
    """(thickness, slant, size) per image, float [N, 3]; NaN for an image without ink."""
    mask = ink_mask(images)
    return torch.stack([thickness(mask), slant(mask), size(mask)], 1)


@cache
def _training_measures() -> tuple[Tensor, Tensor]:
    """The measures of the embedded mnist training split and its labels, computed once."""
    from genmodels.data.embedded import load_mnist

    train = load_mnist("train")
    assert train.labels is not None
    return measure_attributes(train.images), train.labels


@cache
def _training_statistics() -> tuple[Tensor, Tensor]:
    values, _ = _training_measures()
    levels = torch.tensor([1 / 3, 2 / 3, 1 / 2], dtype=values.dtype)
    quantiles = torch.quantile(values, levels, dim=0).T  # [3 attributes, 3 levels]
    return quantiles[:, :2].contiguous(), quantiles[:, 2].contiguous()


def thresholds() -> Tensor:
    """Tercile boundaries per attribute, float [3, 2], from the mnist training split."""
    return _training_statistics()[0].clone()


def medians() -> Tensor:
    """Median per attribute, float [3], from the mnist training split."""
    return _training_statistics()[1].clone()


def bucket(values: Tensor) -> Tensor:
    """Buckets of measured values [N, 3]: 0 (below the first tercile), 1, 2; −1 where NaN. Long [N, 3]."""
    if values.dim() != 2 or values.shape[1] != len(ATTRIBUTES):
        raise ValueError(f"expected values [N, {len(ATTRIBUTES)}], got shape {tuple(values.shape)}")
    bounds = _training_statistics()[0].to(values.device)
    columns = [torch.bucketize(values[:, i].contiguous(), bounds[i], right=True) for i in range(len(bounds))]
    buckets = torch.stack(columns, 1)
    return torch.where(values.isnan(), UNMEASURED, buckets)


@cache
def _class_shares() -> tuple[Tensor, Tensor]:
    """Per class of the training split: the share of images in each bucket [10, 3, 3] and the share
    below the median [10, 3]; what a generator that draws the right digit but ignores the attribute
    words would score."""
    values, labels = _training_measures()
    buckets, below = bucket(values), values < _training_statistics()[1]
    classes = int(labels.max()) + 1
    in_bucket = torch.stack(
        [(buckets[labels == c, :, None] == torch.arange(3)).float().mean(0) for c in range(classes)]
    )
    below_median = torch.stack([below[labels == c].float().mean(0) for c in range(classes)])
    return in_bucket, below_median


def attribute_agreement(samples: Tensor, named: Tensor, labels: Tensor | None = None) -> dict[str, dict]:
    """How often samples show the attributes their captions name.

    `samples`: images in [0, 1] (or uint8) [N, C, H, W]; `named`: int64 [N, 3], the bucket each
    caption names or −1. Per attribute (and pooled under "all"): `named` (how many samples name it),
    `exact` (share whose measured bucket is the named one; chance about 1/3), `side` (share on the
    named side of the training median, over samples naming bucket 0 or 2; chance 0.5) and
    `unmeasured` (samples without ink, counted as failures). With the digit `labels`, also
    `baseline_exact` and `baseline_side`: the scores of a generator that draws the right digit but
    ignores the attribute words, since size and, less so, thickness and slant depend on the digit.
    """
    if named.shape != (len(samples), len(ATTRIBUTES)):
        raise ValueError(f"named must be [{len(samples)}, {len(ATTRIBUTES)}], got {tuple(named.shape)}")
    values, named = measure_attributes(samples).cpu(), named.cpu()
    measured, median = bucket(values), _training_statistics()[1]
    if labels is not None:
        in_bucket, below_median = _class_shares()
        labels = labels.long().cpu()
    report: dict[str, dict] = {}
    pooled = {"named": 0, "exact": 0.0, "side_named": 0, "side": 0.0, "unmeasured": 0}
    for i, attribute in enumerate(ATTRIBUTES):
        asked = named[:, i] >= 0
        extreme = (named[:, i] == 0) | (named[:, i] == 2)
        exact = (measured[:, i] == named[:, i]) & asked
        # NaN compares false both ways, so a sample without ink is on neither side.
        side = ((named[:, i] == 0) & (values[:, i] < median[i])) | (
            (named[:, i] == 2) & (values[:, i] > median[i])
        )
        entry = {
            "named": int(asked.sum()),
            "exact": _share(exact.sum(), asked.sum()),
            "side": _share(side.sum(), extreme.sum()),
            "unmeasured": int((asked & (measured[:, i] == UNMEASURED)).sum()),
        }
        if labels is not None:
            chosen = named[asked, i]
            entry["baseline_exact"] = _share(in_bucket[labels[asked], i, chosen].sum(), asked.sum())
            low = below_median[labels[extreme], i]
            entry["baseline_side"] = _share(
                torch.where(named[extreme, i] == 0, low, 1 - low).sum(), extreme.sum()
            )
        report[attribute] = entry
        pooled["named"] += entry["named"]
        pooled["exact"] += float(exact.sum())
        pooled["side_named"] += int(extreme.sum())
        pooled["side"] += float(side.sum())
        pooled["unmeasured"] += entry["unmeasured"]
    report["all"] = {
        "named": pooled["named"],
        "exact": _share(pooled["exact"], pooled["named"]),
        "side": _share(pooled["side"], pooled["side_named"]),
        "unmeasured": pooled["unmeasured"],
    }
    return report


def _share(hits: Tensor | float, total: Tensor | int) -> float:
    total = int(total)
    return float(hits) / total if total else math.nan
