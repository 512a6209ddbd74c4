"""A Markov chain over the pixels in raster order: each pixel depends on the k before it.

    p(x) = Π_i p(x_i | x_{i−k}, ..., x_{i−1})

For binary pixels the conditional of pixel i is a table of 2^min(i, k) probabilities, one per
context, so the model has Σ_i 2^min(i, k) parameters: 2n − 1 for the first-order chain (one for
x_1, two for each later pixel). The context of pixel i is read as a binary number,
ctx_i = Σ_{j=1..min(i,k)} x_{i−j} 2^{j−1}, and selects its logit θ_{i, ctx_i}. Binary pixels only:
the 256-level table of even a first-order chain would hold n · 256² numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.base import full_mnist_recipe
from genmodels.models.layers import ClassBias
from genmodels.registry import register


@dataclass
class MarkovConfig(AutoregressiveConfig):
    order: int = 1  # k: how many previous pixels each pixel sees
    lr: float = 3e-2


@register("markov")
class MarkovChain(AutoregressiveModel):
    """Markov chain of order k in raster order: 2n − 1 parameters for k = 1 on binary pixels."""

    Config = MarkovConfig
    equation: ClassVar[str] = (
        r"p(\mathbf{x}) = p(x_1) \prod_{i=2}^{n} p(x_i \mid x_{i-1}) \quad (2n - 1 \text{ "
        r"parameters})"
    )
    has_full_context = False  # only the k previous pixels
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"order": 1},
        "paper": {"order": 1},
        "full": {"order": 1},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 2000, "batch_size": 100},
        "full": full_mnist_recipe(10_000, snapshot_every=1000),
    }

    def __init__(self, config: MarkovConfig) -> None:
        super().__init__(config)
        if config.levels != 2:
            raise ValueError(
                "markov models binary pixels (levels = 2); its 256-level table would hold n·256² numbers"
            )
        if config.order < 1:
            raise ValueError(f"order must be >= 1, got {config.order}")
        n = math.prod(config.image_shape)
        sizes = [2 ** min(i, config.order) for i in range(n)]  # contexts of pixel i
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.register_buffer("context_width", torch.tensor(sizes), persistent=False)
        self.theta = nn.Parameter(torch.zeros(sum(sizes)))
        self.class_bias = ClassBias(config.num_classes, n)

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        sequence = self.to_sequence(x).round()
        context = torch.zeros_like(sequence)
        for j in range(1, self.config.order + 1):  # x_{i−j} contributes bit j − 1
            context = context + F.pad(sequence, (j, 0))[:, :-j] * 2 ** (j - 1)
        # Pixels i < k have fewer than k predecessors: the padded zeros keep ctx below 2^i.
        index = self.offsets + context.long()
        return self.from_sequence(self.class_bias(self.theta[index], y))
