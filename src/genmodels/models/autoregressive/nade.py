"""Neural autoregressive distribution estimator (Larochelle & Murray 2011).

Each conditional is a one-hidden-layer network on the pixels before it, in raster order:

    h_i = σ(c + W[:, <i] x_<i),        p(x_i = 1 | x_<i) = σ(b_i + V_i · h_i),

with the input weights W [H, D] shared by every conditional: W[:, j] is what pixel j adds to the
hidden pre-activation of every later pixel. The pre-activations are then a running sum,

    a_1 = c,        a_{i+1} = a_i + W[:, i] x_i,        h_i = σ(a_i),

so the exact likelihood of an image costs O(HD) instead of the O(HD²) of D separate networks
(`logits_naive` computes it that way, as the reference). The vectorised form below runs the sum
over blocks of pixels: inside a block a strictly lower-triangular matrix product gives every
a_i at once, and the block's total carries over to the next one, so no B x D x H tensor is ever
built in one piece (100 x 784 x 500 floats would be 157 MB).

Grey levels (levels = L > 2): each pixel gets L logits, b_i ∈ R^L and V_i ∈ R^{L x H}, a softmax
over the levels; the input is the pixel value in [0, 1]. Colour pixels are visited in the base
class's sequence order (raster, R before G before B). Class-conditional: a learned bias per class
on the hidden pre-activation, a_1 = c + C[y], so every conditional sees the label.

Sampling reuses the running sum: draw x_i from σ(b_i + V_i · σ(a_i)), add W[:, i] x_i to a, go
on; O(HD) per image, with exactly the draws of the reference sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.layers import ClassBias
from genmodels.registry import register

# How many hidden activations (batch x pixels x H) one block of the vectorised sum holds: small
# enough to stay in cache and to keep the peak memory of evaluation low.
BLOCK_ELEMENTS = 2**20
MAX_BLOCK_PIXELS = 64  # the in-block triangular product costs B·T²·H: keep T modest


@dataclass
class NADEConfig(AutoregressiveConfig):
    hidden: int = 500  # H, the hidden units each conditional shares (paper: 500)
    lr: float = 1e-3


@register("nade")
class NADE(AutoregressiveModel):
    """NADE: p(x_i = 1 | x_<i) = σ(b_i + V_i · σ(c + W[:, <i] x_<i)), exact likelihood in O(HD)."""

    Config = NADEConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # A few minutes of Adam are step-limited (at lr 1e-3: 165 nats after 150 steps, still falling
        # fast), hence the larger step size.
        "cpu": {"hidden": 500, "lr": 3e-3},
        "paper": {"hidden": 500},  # Larochelle & Murray (2011): 88.86 nats on binarised MNIST
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # About 0.3 s a step on one core: 1,500 steps (37.5 epochs of the 4,000 digits) in ~8 minutes.
        # Fresh binarisations each batch: trained on static ones, NADE over-fits the 4,000 digits
        # (600 steps: 78.7 nats train, 88.9 test); dynamic, 1,500 steps: 80.6 test.
        "cpu": {"steps": 1500, "batch_size": 100, "view": "dynamic", "sample_every": 0},
    }

    def __init__(self, config: NADEConfig) -> None:
        super().__init__(config)
        if config.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {config.hidden}")
        pixels = math.prod(config.image_shape)
        hidden = config.hidden
        self.outputs_per_pixel = 1 if config.levels == 2 else config.levels
        # The initial scales of nn.Linear: fan-in D for W, H for V.
        self.W = nn.Parameter(torch.empty(hidden, pixels).uniform_(-1, 1) / math.sqrt(pixels))
        self.c = nn.Parameter(torch.zeros(hidden))
        self.V = nn.Parameter(
            torch.empty(pixels, self.outputs_per_pixel, hidden).uniform_(-1, 1) / math.sqrt(hidden)
        )
        self.b = nn.Parameter(torch.zeros(pixels, self.outputs_per_pixel))
        self.class_bias = ClassBias(config.num_classes, hidden)

    # -- the conditionals ------------------------------------------------------------------------
    def first_preactivation(self, y: Tensor | None, n: int) -> Tensor:
        """a_1 = c (+ the class bias): the hidden pre-activation of the first pixel, [n, H]."""
        return self.class_bias(self.c.expand(n, -1), y)

    def output_logits(self, h: Tensor, pixels: slice) -> Tensor:
        """b_i + V_i · h_i for the pixels of a block: h [T, B, H] -> [T, B, outputs per pixel]."""
        return torch.baddbmm(self.b[pixels, None, :], h, self.V[pixels].transpose(1, 2))

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Every conditional at once, O(HD) per image: the running sum, block by block of pixels."""
        sequence = self.to_sequence(x)
        batch, pixels = sequence.shape
        block = max(1, min(MAX_BLOCK_PIXELS, BLOCK_ELEMENTS // (batch * self.config.hidden)))
        below = torch.ones(block, block, device=x.device).tril(-1)  # [i, j] = 1 where j < i
        a = self.first_preactivation(y, batch)  # a at the first pixel of the block
        blocks = []
        for start in range(0, pixels, block):
            span = slice(start, min(start + block, pixels))
            x_block, w_block = sequence[:, span], self.W[:, span]
            t = x_block.shape[1]
            # Row i of `earlier` keeps x_j for the j < i of this block: a_i = a + Σ_j x_j W[:, j].
            earlier = x_block.unsqueeze(0) * below[:t, :t].unsqueeze(1)  # [T, B, T]
            h = torch.baddbmm(a.unsqueeze(0), earlier, w_block.T.expand(t, -1, -1)).sigmoid_()  # [T, B, H]
            blocks.append(self.output_logits(h, span))
            a = a + x_block @ w_block.T  # carry the block's sum to the next one
        return self._as_image_logits(torch.cat(blocks))

    def logits_naive(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The reference: each h_i recomputed from scratch, σ(c + W[:, <i] x_<i), O(HD²) per image."""
        sequence = self.to_sequence(x)
        batch, pixels = sequence.shape
        c = self.first_preactivation(y, batch)
        per_pixel = []
        for i in range(pixels):
            h = torch.sigmoid(c + sequence[:, :i] @ self.W[:, :i].T)
            per_pixel.append(self.b[i] + h @ self.V[i].T)
        return self._as_image_logits(torch.stack(per_pixel))

    def _as_image_logits(self, per_pixel: Tensor) -> Tensor:
        """[D, B, outputs per pixel] in sequence order -> the likelihood's image layout."""
        if self.config.levels == 2:
            return self.from_sequence(per_pixel[..., 0].T)
        return self.from_sequence(per_pixel.permute(1, 2, 0))

    # -- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p(x | y) (or a `Completion`'s missing part) in O(HD) per image: the running sum a_i is
        kept while drawing pixel by pixel. The same draws, in the same order, as `sample_naive`."""
        was_training = self.training
        self.eval()
        try:
            x, known, y = self._start(n, condition, generator)
            channels, _, width = self.config.image_shape
            a = self.first_preactivation(y, n)
            for i in range(self.W.shape[1]):  # sequence index i = (row · W + column) · C + channel
                channel, column, row = i % channels, (i // channels) % width, i // (channels * width)
                missing = ~known[:, channel, row, column]
                if missing.any():  # the reference skips positions that are known in every image
                    logits = self.b[i] + torch.sigmoid(a) @ self.V[i].T  # [n, outputs per pixel]
                    if self.config.levels == 2:
                        logits = logits[:, 0]  # the shape sample_naive hands the Bernoulli: [n]
                    draw = self.likelihood.sample(logits, generator)
                    x[:, channel, row, column] = torch.where(missing, draw, x[:, channel, row, column])
                a = a + x[:, channel, row, column, None] * self.W[:, i]
            return x
        finally:
            self.train(was_training)
