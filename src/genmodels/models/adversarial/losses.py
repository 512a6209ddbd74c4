"""Adversarial losses, written once for every GAN in the library.

Discriminators output logits ℓ; D = σ(ℓ), so log D = −softplus(−ℓ) and log(1 − D) = −softplus(ℓ),
which keeps every loss finite however confident D becomes.

- The GAN game (Goodfellow et al. 2014): D maximises E_data[log D(x)] + E_z[log(1 − D(G(z)))];
  G minimises E_z[log(1 − D(G(z)))] (minimax) or, in practice, −E_z[log D(G(z))] (non-saturating:
  the same fixed point, but strong gradients while D still wins easily).
- Least squares (Mao et al. 2017), used by CycleGAN: D regresses real to 1 and fake to 0, G fake to 1.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

GeneratorLoss = Literal["non_saturating", "minimax"]


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """−E_data[log D(x)] − E_z[log(1 − D(G(z)))]: the negated value V(D, G) that D maximises."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor, kind: GeneratorLoss = "non_saturating") -> Tensor:
    """Non-saturating −E[log D(G(z))], or the minimax E[log(1 − D(G(z)))] of the original game."""
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    raise ValueError(f"unknown generator loss {kind!r}; choose non_saturating or minimax")


def least_squares_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """½ E[(D(x) − 1)²] + ½ E[D(G(z))²]."""
    return 0.5 * (real_scores - 1).pow(2).mean() + 0.5 * fake_scores.pow(2).mean()


def least_squares_generator_loss(fake_scores: Tensor) -> Tensor:
    """½ E[(D(G(z)) − 1)²]."""
    return 0.5 * (fake_scores - 1).pow(2).mean()
