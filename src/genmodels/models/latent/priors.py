"""Priors p(z) as objects that can be sampled (and, where they have one, scored).

The VAE needs log p(z) for its importance weights; the adversarial autoencoder needs only samples,
which is why it can use any prior here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class StandardNormal:
    """p(z) = N(0, I) in `dim` dimensions."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Tensor:
        return torch.randn(n, self.dim, generator=generator, device=device)

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
