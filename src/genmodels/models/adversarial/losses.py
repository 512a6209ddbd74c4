"""Adversarial losses, written once for every GAN in the library.

Discriminators output logits ℓ; D = σ(ℓ), so log D = −softplus(−ℓ) and log(1 − D) = −softplus(ℓ),
which keeps every loss finite however confident D becomes.

- The GAN game (Goodfellow et al. 2014): D maximises E_data[log D(x)] + E_z[log(1 − D(G(z)))];
  G minimises E_z[log(1 − D(G(z)))] (minimax) or, in practice, −E_z[log D(G(z))] (non-saturating:
  the same fixed point, but strong gradients while D still wins easily).
- Least squares (Mao et al. 2017), used by CycleGAN: D regresses real to 1 and fake to 0, G fake to 1.
- Wasserstein (Arjovsky et al. 2017) with a gradient penalty (WGAN-GP, Gulrajani et al. 2017), used by
  Progressive GAN and StarGAN: the critic D outputs unbounded scores and minimises
  E_z[D(G(z))] − E_data[D(x)] + λ E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = u x + (1 − u) G(z), u ~ U(0, 1),
  so that E_data[D] − E_z[D] estimates the Wasserstein-1 distance under a soft 1-Lipschitz
  constraint; G minimises −E_z[D(G(z))]. Progressive GAN adds the drift term ε E_data[D(x)²]
  (ε = 0.001), which keeps the scores near zero, since the loss alone fixes them only up to a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
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


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E_z[D(G(z))] − E_data[D(x)]: the negated Wasserstein estimate that the critic maximises."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """−E_z[D(G(z))]."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E_x̂[(‖∇_x̂ D(x̂)‖₂ − target)²] at x̂ = u x + (1 − u) x̃, one u ~ U(0, 1) per example.

    `critic` maps a batch [B, ...] to scores [B] or [B, ...] (a patch critic); the gradient of their
    sum gives each example's input gradient, since examples do not interact. (A critic with a
    minibatch-stddev layer mixes examples slightly; WGAN-GP as used by Progressive GAN accepts that.)
    The graph is kept (create_graph=True) so the penalty trains the critic's weights."""
    u = torch.rand(
        (real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, device=real.device, dtype=real.dtype
    )
    # In the real images' precision: under mixed precision G's images arrive in bf16 or fp16.
    mixed = torch.lerp(fake.detach().to(real.dtype), real.detach(), u).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norms = torch.linalg.vector_norm(gradient.flatten(1), dim=1)
    return (norms - target).pow(2).mean()


def drift_penalty(real_scores: Tensor) -> Tensor:
    """E_data[D(x)²]: Progressive GAN's drift term (weighted by ε = 0.001 there)."""
    return real_scores.pow(2).mean()
