"""Fully-visible sigmoid belief network (Frey 1998; Neal 1992): a logistic regression per pixel on
all the pixels before it.

    p(x_i = 1 | x_<i) = σ(a_i + Σ_{j<i} W_ij x_j)

One linear layer with a strictly lower-triangular mask, so n + n(n − 1)/2 = n(n + 1)/2
parameters for n binary pixels. For 256 levels each pixel gets `levels` logits from the same
masked layer (n · levels · (n + 1)/2 parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.base import full_mnist_recipe
from genmodels.models.layers import ClassBias, MaskedLinear
from genmodels.registry import register


@dataclass
class FVSBNConfig(AutoregressiveConfig):
    lr: float = 1e-3


@register("fvsbn")
class FVSBN(AutoregressiveModel):
    """Fully-visible sigmoid belief net: p(x_i = 1 | x_<i) = σ(a_i + Σ_{j<i} W_ij x_j)."""

    Config = FVSBNConfig
    equation: ClassVar[str] = (
        r"p(\mathbf{x}) = \prod_i p(x_i \mid \mathbf{x}_{<i}), \quad p(x_i = 1 \mid "
        r"\mathbf{x}_{<i}) = \sigma\big(\alpha_i + \textstyle\sum_{j<i} W_{ij} x_j\big)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"cpu": {}, "paper": {}, "full": {}}
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 3000, "batch_size": 100},
        # About 10 ms a step on one core: 150,000 steps (300 epochs) in about 30 minutes.
        "full": full_mnist_recipe(150_000),
    }

    def __init__(self, config: FVSBNConfig) -> None:
        super().__init__(config)
        n = math.prod(config.image_shape)
        per_pixel = 1 if config.levels == 2 else config.levels
        self.linear = MaskedLinear(n, n * per_pixel)
        # Output unit (i, l) is row i·L + l when per_pixel = L: it sees inputs j < i only.
        pixel_of_output = torch.arange(n * per_pixel) // per_pixel
        self.linear.set_mask(pixel_of_output.view(-1, 1) > torch.arange(n).view(1, -1))
        torch.nn.init.zeros_(self.linear.weight)  # start at independent pixels with p = 1/2
        torch.nn.init.zeros_(self.linear.bias)
        self.class_bias = ClassBias(config.num_classes, n * per_pixel)

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        a = self.class_bias(self.linear(self.to_sequence(x)), y)
        if self.config.levels > 2:
            a = a.view(len(x), -1, self.config.levels).transpose(1, 2)
        return self.from_sequence(a)
