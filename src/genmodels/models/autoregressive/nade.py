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

Binary NADE's `log_prob` on the CPU (what training calls) is `_BinaryNADELogLikelihood`: the same
likelihood, log p(x) = Σ_i log σ(l_i) − (1 − x_i) l_i with l_i = b_i + V_i · h_i, on the running sum,
with a hand-written backward. Autograd through `logits` stores every h and differentiates the triangular
products; the hand-written backward stores only a at every CHECKPOINT_PIXELS-th pixel, recomputes h
one stretch of pixels at a time, last stretch first, and makes a training step about twice as fast
(benchmarks/nade_step.py). With g_b the weight of image b in the loss Σ_b g_b log p(x_b), and every
sum over the batch:

    e_i = g (x_i − σ(l_i))                                                     (= ∂/∂l_i)
    ∂b_i = Σ_b e_i,      ∂V_i = Σ_b e_i h_i,      δ_i = e_i V_i ⊙ h_i ⊙ (1 − h_i)    (= ∂/∂a_i)
    ∂W[:, j] = Σ_b x_j Σ_{i>j} δ_i,      ∂a_1 = Σ_i δ_i       (on to c and C[y] by autograd)

The suffix sum Σ_{i>j} δ_i is a triangular product inside a tile of a few pixels, plus the sum of δ
over the later tiles, carried along as the walk goes backwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.base import full_mnist_recipe
from genmodels.models.layers import ClassBias
from genmodels.registry import register

# How many hidden activations (batch x pixels x H) one block of the vectorised sum holds: small
# enough to stay in cache and to keep the peak memory of evaluation low.
BLOCK_ELEMENTS = 2**20
MAX_BLOCK_PIXELS = 64  # the in-block triangular product costs B·T²·H: keep T modest

# The fused binary likelihood (`_BinaryNADELogLikelihood`). Its forward stores a at every
# CHECKPOINT_PIXELS-th pixel (1/32 of the B x D x H activations: 4.9 MB at batch 100, H = 500), and its
# backward recomputes h from there, a stretch of pixels at a time; both work on tiles of about
# FUSED_TILE_ELEMENTS activations (batch x pixels x H), so that the several passes over a tile's h
# find it in cache (2 MB of L2 a core here). Measured on one training step (batch 100, H = 500, 28x28,
# one thread, 89 ms): tiles of 2 to 10 pixels take the same time, of 16 pixels (3.2 MB) 15 ms more;
# a stored every 8 to 64 pixels, the same within 4 ms; every 4 pixels (39 MB to write), 10 ms more.
FUSED_TILE_ELEMENTS = 2**18  # 5 pixels at batch 100, H = 500: 1 MB
CHECKPOINT_PIXELS = 32


def _stretches(start: int, stop: int, length: int) -> list[slice]:
    """[start, stop) cut into slices of `length` pixels (the last one shorter)."""
    return [slice(i, min(i + length, stop)) for i in range(start, stop, length)]


def _tile_pixels(batch: int, hidden: int) -> int:
    return max(1, min(CHECKPOINT_PIXELS, FUSED_TILE_ELEMENTS // (batch * hidden)))


def _by_pixel(x: Tensor, W: Tensor) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """x as [D, B], and pixel k's column of x ([B, 1]) and of W ([H]) as contiguous rows: reading
    W[:, k] in place strides over the whole matrix, five times slower per pixel."""
    x_by_pixel = x.T.contiguous()
    return x_by_pixel, x_by_pixel.unsqueeze(2).unbind(0), W.T.contiguous().unbind(0)


def _hidden_units(h: Tensor, a: Tensor, x_columns: tuple[Tensor, ...], w_rows: tuple[Tensor, ...]) -> None:
    """h[k] = σ(a_k) for the pixels of a stretch, with `a` [B, H] the pre-activation at its first pixel
    on entry, advanced in place past its last one. The forward and the backward both walk the pixels
    with this one function, so the backward's recomputed h is bit for bit the forward's."""
    for h_k, x_k, w_k in zip(h.unbind(0), x_columns, w_rows, strict=True):
        torch.sigmoid(a, out=h_k)
        a.addcmul_(x_k, w_k)  # a += x_k W[:, k]: one pass over [B, H], no [B, T, H] pre-activations


class _BinaryNADELogLikelihood(torch.autograd.Function):
    """log p(x) [B] of binary NADE from x [B, D] (in sequence order), a_1 [B, H], W [H, D], V [D, H]
    and b [D], with the hand-written backward of the module docstring. `keep_checkpoints` False:
    no gradient will be asked for, store nothing. The image itself gets no gradient
    (`NADE.log_prob` takes the autograd path when it needs one)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, a1: Tensor, W: Tensor, V: Tensor, b: Tensor, keep_checkpoints: bool
    ) -> Tensor:
        batch, pixels = x.shape
        hidden = W.shape[0]
        x_by_pixel, x_columns, w_rows = _by_pixel(x, W)
        stretches = _stretches(0, pixels, CHECKPOINT_PIXELS)
        checkpoints = x.new_empty(len(stretches), batch, hidden) if keep_checkpoints else None
        logits = x.new_empty(pixels, batch)  # l_i, pixel by pixel
        h = x.new_empty(_tile_pixels(batch, hidden), batch, hidden)
        a = a1.expand(batch, hidden).clone(memory_format=torch.contiguous_format)
        for n, stretch in enumerate(stretches):
            if checkpoints is not None:
                checkpoints[n].copy_(a)
            for tile in _stretches(stretch.start, stretch.stop, len(h)):
                h_tile = h[: tile.stop - tile.start]
                _hidden_units(h_tile, a, x_columns[tile], w_rows[tile])
                # V_i · h_i for every image: a [1, H] x [H, B] product per pixel.
                torch.bmm(V[tile].unsqueeze(1), h_tile.transpose(1, 2), out=logits[tile].unsqueeze(1))
        logits.add_(b.unsqueeze(1))
        # x log σ(l) + (1 − x) log σ(−l) = log σ(l) − (1 − x) l, with the stable log σ.
        log_p = (F.logsigmoid(logits) - (1 - x_by_pixel) * logits).sum(0)
        if keep_checkpoints:
            ctx.save_for_backward(x, W, V, logits, checkpoints)
        return log_p

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, weights: Tensor) -> tuple[Tensor | None, ...]:
        x, W, V, logits, checkpoints = ctx.saved_tensors
        batch, pixels = x.shape
        hidden = W.shape[0]
        x_by_pixel, x_columns, w_rows = _by_pixel(x, W)
        tile_pixels = _tile_pixels(batch, hidden)
        e = (x_by_pixel - torch.sigmoid(logits)).mul_(weights)  # e_i = g (x_i − σ(l_i)), [D, B]
        grad_V = torch.empty_like(V)
        grad_W_by_pixel = x.new_empty(pixels, hidden)  # row j: ∂W[:, j]
        later = x.new_zeros(batch, hidden)  # Σ δ_i over the pixels after the current tile
        after = x.new_ones(tile_pixels, tile_pixels).triu(1)  # [j, i] = 1 where i > j
        ones = x.new_ones(1, tile_pixels)
        h = x.new_empty(min(CHECKPOINT_PIXELS, pixels), batch, hidden)
        a = x.new_empty(batch, hidden)
        for n, stretch in reversed(list(enumerate(_stretches(0, pixels, CHECKPOINT_PIXELS)))):
            a.copy_(checkpoints[n])
            _hidden_units(h[: stretch.stop - stretch.start], a, x_columns[stretch], w_rows[stretch])
            for tile in reversed(_stretches(stretch.start, stretch.stop, tile_pixels)):
                t = tile.stop - tile.start
                h_tile = h[tile.start - stretch.start : tile.stop - stretch.start]
                e_tile, x_tile = e[tile], x_by_pixel[tile]
                torch.bmm(e_tile.unsqueeze(1), h_tile, out=grad_V[tile].unsqueeze(1))  # Σ_b e_i h_i
                # δ_i = e_i V_i ⊙ h_i ⊙ (1 − h_i), written over h_i (not needed again): three passes.
                delta = h_tile.addcmul_(h_tile, h_tile, value=-1).mul_(V[tile].unsqueeze(1))
                delta.mul_(e_tile.unsqueeze(2))
                # ∂W[:, j] = Σ_b x_j (Σ_{i>j in the tile} δ_i + later): one product with the [j, (i, b)]
                # matrix of x_j where i > j (else 0) for the tile, and one with x_j for the rest.
                x_after = (after[:t, :t].unsqueeze(2) * x_tile.unsqueeze(1)).view(t, t * batch)
                torch.addmm(x_tile @ later, x_after, delta.view(t * batch, hidden), out=grad_W_by_pixel[tile])
                later.view(1, -1).addmm_(ones[:, :t], delta.view(t, -1))  # later += Σ_i δ_i
        # `later` now sums δ_i over every pixel: ∂a_1.
        return None, later, grad_W_by_pixel.T, grad_V, e.sum(1), None


@dataclass
class NADEConfig(AutoregressiveConfig):
    hidden: int = 500  # H, the hidden units each conditional shares (paper: 500)
    lr: float = 1e-3


@register("nade")
class NADE(AutoregressiveModel):
    """NADE: p(x_i = 1 | x_<i) = σ(b_i + V_i · σ(c + W[:, <i] x_<i)), exact likelihood in O(HD)."""

    Config = NADEConfig
    equation: ClassVar[str] = (
        r"\mathbf{h}_i = \sigma(\mathbf{c} + W_{:,<i}\,\mathbf{x}_{<i}), \quad p(x_i = 1 \mid "
        r"\mathbf{x}_{<i}) = \sigma(b_i + V_{i,:}\,\mathbf{h}_i)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # A few minutes of Adam are step-limited (at lr 1e-3: 165 nats after 150 steps, still falling
        # fast), hence the larger step size.
        "cpu": {"hidden": 500, "lr": 3e-3},
        "paper": {"hidden": 500},  # Larochelle & Murray (2011): 88.86 nats on binarised MNIST
        # The paper's H = 500 on mnist-full, with the cpu preset's larger Adam step: the hour allows
        # about 35,000 steps, and the cosine decay takes the rate down by the end.
        "full": {"hidden": 500, "lr": 3e-3},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # About 0.1 s a step on one core (0.22 s before the fused likelihood): 1,500 steps (37.5 epochs
        # of the 4,000 digits) in ~2.5 minutes.
        # Fresh binarisations each batch: trained on static ones, NADE over-fits the 4,000 digits
        # (600 steps: 78.7 nats train, 88.9 test); dynamic, 1,500 steps: 80.6 test.
        "cpu": {"steps": 1500, "batch_size": 100, "view": "dynamic", "sample_every": 0},
        # About 0.1 s a step on one core of the busy 2-core machine: 33,000 steps (66 epochs) in an hour.
        "full": full_mnist_recipe(33_000, snapshot_every=3000),
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

    # -- density -----------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor:
        """Exact log p(x | y) in nats per image. Binary images on the CPU take the fused likelihood:
        the value of the base class's path through `logits`, with a hand-written backward about twice
        as fast (and a forward about four times as fast). The rest takes the base class's path."""
        if (
            self.config.levels != 2  # grey levels: a softmax per pixel
            or (self.config.num_classes and condition is None)  # the marginal: its terms come back here
            or x.requires_grad  # a gradient for the image itself
            # The fused likelihood walks the pixels one by one, two small operations each: the fastest
            # form on a CPU, but on an accelerator its ~4 kernel launches per pixel would likely cost
            # more than the blocked path's few per block of pixels (not measured: no GPU at hand).
            or x.device.type != "cpu"
        ):
            return super().log_prob(x, condition)
        sequence = self.to_sequence(x).to(self.W.dtype)
        a1 = self.first_preactivation(self._labels(condition, len(x)), len(x))
        # V and b of the one Bernoulli logit per pixel: [D, H] and [D].
        V, b = self.V[:, 0], self.b[:, 0]
        keep = torch.is_grad_enabled() and any(t.requires_grad for t in (a1, self.W, V, b))
        return _BinaryNADELogLikelihood.apply(sequence, a1, self.W, V, b, keep)

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
