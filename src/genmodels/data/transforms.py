"""Views of uint8 images that models train on, computed per batch (vectorised, deterministic).

Every view maps uint8 [B, C, H, W] in 0..255 to float [B, C, H, W]:
- `unit`: x / 255 in [0, 1] (256 levels, the input of likelihood models on grey levels);
- `static`: 1 where the pixel is > 127, else 0 (thresholded: the easier test of the early tables,
  about 12 nats lower than the literature's for the same VAE);
- `stochastic`: Bernoulli with the grey level / 255 as probability, drawn **once**: row r of the
  set always gets the draws of a generator seeded with (`seed`, r), whatever the batch or order.
  The literature's "stochastically binarised MNIST", and the view of every number set beside a
  paper (test digits of `mnist-full`, seed 0). As a training view it is a fixed binarisation;
- `dynamic`: Bernoulli with the grey level / 255 as probability, drawn afresh for each batch
  from a generator the caller seeds (so a resumed run draws the same pixels);
- `symmetric`: x / 127.5 - 1 in [-1, 1] (the input of GANs).
Padding (e.g. 28 -> 32) is applied to the uint8 images first, with zeros (black background).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.data.dataset import DataError

VIEWS = ("unit", "static", "stochastic", "dynamic", "symmetric")


@dataclass(frozen=True)
class View:
    """How raw images become model inputs; saved in a run's train.json so evaluation repeats it."""

    kind: str = "unit"
    pad: int = 0
    # Replace each pixel, with this probability, by a uniform random grey level before the view is
    # taken: the perturbed inputs of the background model in Ren et al. (2019)'s likelihood ratio.
    perturb: float = 0.0
    # The `stochastic` view's seed: which one fixed binarisation it is (recorded with every result).
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in VIEWS:
            raise DataError(f"unknown data view {self.kind!r}; choose one of {', '.join(VIEWS)}")
        if self.pad < 0:
            raise DataError(f"padding must be >= 0, got {self.pad}")
        if not 0.0 <= self.perturb < 1.0:
            raise DataError(f"perturb must be in [0, 1), got {self.perturb}")

    @property
    def stochastic(self) -> bool:
        """Whether the view draws random numbers (it then takes a seeded generator)."""
        return self.kind == "dynamic" or self.perturb > 0

    @property
    def binarised(self) -> bool:
        return self.kind in ("static", "stochastic", "dynamic")

    def describe(self) -> str:
        names = {
            "unit": "grey levels in [0, 1]",
            "static": "thresholded (pixel > 127; the easier test, not the literature's)",
            "stochastic": f"binarised once by Bernoulli of the grey level (seed {self.seed})",
            "dynamic": "dynamically binarised (Bernoulli of grey level)",
            "symmetric": "grey levels in [-1, 1]",
        }
        perturbed = f", {self.perturb:.0%} of pixels replaced by noise" if self.perturb else ""
        return names[self.kind] + (f", padded by {self.pad}" if self.pad else "") + perturbed

    def image_shape(self, raw_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        c, h, w = raw_shape
        return (c, h + 2 * self.pad, w + 2 * self.pad)

    @classmethod
    def parse(cls, text: str) -> View:
        """A view named on the command line: `static`, `dynamic`, `stochastic` (seed 0) or
        `stochastic:SEED`."""
        kind, _, seed = text.partition(":")
        if seed and kind != "stochastic":
            raise DataError(f"view {text!r}: only the stochastic view takes a seed (stochastic:SEED)")
        try:
            number = int(seed or 0)
        except ValueError as error:
            raise DataError(f"view {text!r}: the seed must be an integer (stochastic:SEED)") from error
        return cls(kind, seed=number)

    @property
    def spec(self) -> str:
        """The view as `parse` reads it (`static`, `stochastic:3`)."""
        return f"{self.kind}:{self.seed}" if self.kind == "stochastic" else self.kind

    def __call__(
        self, images: Tensor, generator: torch.Generator | None = None, rows: Tensor | None = None
    ) -> Tensor:
        """The view of uint8 `images`; `rows` are their positions in the data set (the stochastic
        view's draws are keyed by them; default 0..B-1)."""
        if self.perturb:
            replace = torch.rand(images.shape, generator=generator) < self.perturb
            noise = torch.randint(0, 256, images.shape, generator=generator, dtype=torch.uint8)
            images = torch.where(replace, noise, images)
        if self.pad:
            images = F.pad(images, (self.pad,) * 4)
        if self.kind == "static":
            return (images > 127).float()
        unit = images.float() / 255.0
        if self.kind == "unit":
            return unit
        if self.kind == "dynamic":
            return torch.bernoulli(unit, generator=generator)
        if self.kind == "stochastic":
            return (self._fixed_uniforms(unit.shape, rows) < unit).float()
        return unit * 2.0 - 1.0

    def _fixed_uniforms(self, shape: torch.Size, rows: Tensor | None) -> Tensor:
        """Uniform draws that belong to each row for good: a generator seeded by (seed, row)."""
        rows = torch.arange(shape[0]) if rows is None else rows
        per_image = shape[1:]
        return (
            torch.stack(
                [
                    torch.rand(
                        per_image, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + int(r))
                    )
                    for r in rows
                ]
            )
            if len(rows)
            else torch.empty(shape)
        )


def evaluation_view(view: View) -> View:
    """The fixed view that scores are reported on by default: a dynamically binarised run is scored
    thresholded (the early tables' protocol), a fixed binarisation as itself; never perturbed.
    Numbers set beside a paper pass `stochastic` explicitly."""
    return View("static" if view.kind == "dynamic" else view.kind, view.pad, seed=view.seed)


def unpad(images: Tensor, pad: int) -> Tensor:
    """The inverse of a view's padding: the centre of [B, C, H, W] images without `pad` pixels at
    each edge (a 32x32 sample of a model trained on padded digits back to the digits' 28x28)."""
    if pad < 0 or 2 * pad >= min(images.shape[-2:]):
        raise ValueError(f"cannot remove a padding of {pad} from images of {tuple(images.shape[-2:])}")
    return images[..., pad : images.shape[-2] - pad, pad : images.shape[-1] - pad] if pad else images


def to_unit(x: Tensor, kind: str) -> Tensor:
    """Back from a model's range (the view `kind`) to [0, 1]."""
    if kind == "symmetric":
        x = (x + 1.0) / 2.0
    return x.clamp(0.0, 1.0)


def to_uint8(x: Tensor, kind: str) -> Tensor:
    """Back from a model's range to displayable uint8 (for image grids)."""
    return (to_unit(x, kind) * 255.0).round().to(torch.uint8)
