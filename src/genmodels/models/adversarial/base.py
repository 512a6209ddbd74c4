"""What the GANs of the library share: a prior p(z), a generator G and a discriminator D trained as
two objectives of the one trainer (D first, then G, on every batch), and the diagnostics logged on
the way: the mean D(x) on real images and D(G(z)) on fakes (both in (0, 1)). Gradient norms and the
class histogram of a fixed batch of samples are logged by the trainer for every model.

Images are in [-1, 1] (view "symmetric"); G ends in tanh.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from genmodels.models.adversarial.losses import discriminator_loss, generator_loss
from genmodels.models.base import GenerativeModel, Logs, Objective, OptimizerSpec
from genmodels.models.latent.priors import StandardNormal


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. (2016): convolution and linear weights N(0, 0.02); batch-norm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class AdversarialModel(GenerativeModel):
    """Base of the unconditional GANs: subclasses build `generator` and `discriminator` and may
    add objectives; `latent_dim`, `lr_d`, `lr_g`, `beta1` and `generator_loss` come from their Config."""

    family = "adversarial"
    input_range = "symmetric"
    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.prior = StandardNormal(config.latent_dim)

    # -- the two objectives --------------------------------------------------------------------
    def optimizer(self, lr: float) -> OptimizerSpec:
        return OptimizerSpec(lr=lr, betas=(self.config.beta1, 0.999))

    def objectives(self) -> list[Objective]:
        return [
            Objective(
                "discriminator",
                self.discriminator.parameters,
                self.discriminator_step,
                optimizer=self.optimizer(self.config.lr_d),
            ),
            Objective(
                "generator",
                self.generator.parameters,
                self.generator_step,
                optimizer=self.optimizer(self.config.lr_g),
            ),
        ]

    def fake(self, n: int) -> Tensor:
        return self.generator(self.prior.sample(n, device=self.device))

    def discriminator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        real = batch["x"]
        with torch.no_grad():
            fake = self.fake(len(real))
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        loss = discriminator_loss(real_logits, fake_logits)
        return loss, {
            "D(x)": torch.sigmoid(real_logits).mean().detach(),
            "D(G(z))": torch.sigmoid(fake_logits).mean().detach(),
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        fake_logits = self.discriminator(self.fake(len(batch["x"])))
        return generator_loss(fake_logits, self.config.generator_loss), {}

    # -- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """G(z), in [-1, 1]."""
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        return self.generator(self.prior.sample(n, generator=generator, device=self.device))
