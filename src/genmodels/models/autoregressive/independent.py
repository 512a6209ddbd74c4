"""Independent pixels: the simplest explicit model, and the baseline every other one must beat.

    p(x) = Π_i p(x_i),        binary pixels: p(x_i = 1) = σ(θ_i),

so log p(x) = Σ_i x_i log σ(θ_i) + (1 − x_i) log(1 − σ(θ_i)): n parameters for n binary pixels
(n · levels for a categorical per pixel). Nothing is shared between pixels, so samples are
noise around the mean image. Class-conditional: θ_i + V[y]_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.base import full_mnist_recipe
from genmodels.models.layers import ClassBias
from genmodels.registry import register


@dataclass
class IndependentConfig(AutoregressiveConfig):
    lr: float = 1e-2


@register("independent")
class IndependentPixels(AutoregressiveModel):
    """Independent pixels: p(x) = Π_i p(x_i), n parameters for n binary pixels."""

    Config = IndependentConfig
    equation: ClassVar[str] = (
        r"p(\mathbf{x}) = \prod_{i=1}^{n} p(x_i), \quad p(x_i = 1) = \sigma(\theta_i) \quad (n "
        r"\text{ parameters})"
    )
    has_full_context = False  # no pixel reads any other
    presets: ClassVar[dict[str, dict[str, Any]]] = {"cpu": {}, "paper": {}, "full": {}}
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 1000, "batch_size": 100},
        # n numbers converge in a few thousand steps; more would only fit the same marginals.
        "full": full_mnist_recipe(10_000, snapshot_every=1000),
    }

    def __init__(self, config: IndependentConfig) -> None:
        super().__init__(config)
        n = math.prod(config.image_shape)
        outputs = n if config.levels == 2 else n * config.levels
        self.theta = nn.Parameter(torch.zeros(outputs))
        self.class_bias = ClassBias(config.num_classes, outputs)

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        theta = self.class_bias(self.theta.expand(len(x), -1), y)
        if self.config.levels > 2:
            theta = theta.view(len(x), self.config.levels, -1)
        return self.from_sequence(theta)

    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        # No pixel depends on another: one pass draws them all (still completing where asked).
        x, known, y = self._start(n, condition, generator)
        return torch.where(known, x, self.likelihood.sample(self.logits(x, y), generator=generator))
