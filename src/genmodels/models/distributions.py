"""Pixel likelihoods p(x | logits): each gives the log-likelihood (the loss) and the sampler, so no
model writes a log-likelihood by hand.

Images are float [B, C, H, W] in [0, 1]. Log-likelihoods are summed over all pixels and channels,
in nats per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class PixelLikelihood:
    """`logits_per_pixel` numbers per pixel parameterise one pixel's distribution."""

    logits_per_pixel: int = 1

    def logits_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        raise NotImplementedError

    def log_prob(self, logits: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def mean(self, logits: Tensor) -> Tensor:
        raise NotImplementedError


class Bernoulli(PixelLikelihood):
    """Binary pixels: log p(x) = Σ x log σ(l) + (1 − x) log(1 − σ(l)), logits [B, C, H, W]."""

    logits_per_pixel = 1

    def logits_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        return tuple(image_shape)

    def log_prob(self, logits: Tensor, x: Tensor) -> Tensor:
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        return -nll.flatten(1).sum(1)

    def sample(self, logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(torch.sigmoid(logits), generator=generator)

    def mean(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)


class Categorical(PixelLikelihood):
    """`levels`-way softmax per pixel and channel (256 for 8-bit), logits [B, levels, C, H, W].

    A pixel value x in [0, 1] is the level round(x · (levels − 1)).
    """

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels
        self.logits_per_pixel = levels

    def logits_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        return (self.levels, *image_shape)

    def to_levels(self, x: Tensor) -> Tensor:
        return (x * (self.levels - 1)).round().long().clamp(0, self.levels - 1)

    def log_prob(self, logits: Tensor, x: Tensor) -> Tensor:
        nll = F.cross_entropy(logits, self.to_levels(x), reduction="none")
        return -nll.flatten(1).sum(1)

    def sample(self, logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
        # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits).
        uniform = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        gumbel = -torch.log((-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20))
        return (logits + gumbel).argmax(1).float() / (self.levels - 1)

    def mean(self, logits: Tensor) -> Tensor:
        grid = torch.linspace(0, 1, self.levels, device=logits.device, dtype=logits.dtype)
        return torch.einsum("bl...,l->b...", logits.softmax(1), grid)


def pixel_likelihood(levels: int) -> PixelLikelihood:
    """Bernoulli for binary pixels (levels = 2), a categorical over the levels otherwise."""
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    return Bernoulli() if levels == 2 else Categorical(levels)
