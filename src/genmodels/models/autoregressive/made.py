"""Masked autoencoder for distribution estimation (Germain, Gregor, Murray & Larochelle 2015).

An autoencoder x -> h^1 -> ... -> h^L -> x̂ whose weights are masked so that output d reads only
the inputs before d in an ordering: its outputs are then the conditionals of the chain rule,

    p(x) = Π_d p(x_d | x_<d),        p(x_d = 1 | x_<d) = σ(x̂_d)   (a softmax over levels for L > 2).

Every unit gets a degree. The inputs: an ordering m^0, a permutation of 1..D (the identity, raster
order, with `natural_order`). Hidden unit k of layer l: m^l(k) drawn uniformly from
{min_k' m^{l−1}(k'), ..., D − 1}, never below the smallest degree of the layer before (so that no
unit is cut off from every input) and never D (a unit of degree D could feed no output). A unit
may read the units of the layer before whose degree is not larger, and an output only the last
hidden units of strictly smaller degree than its input:

    M^l[k, k'] = 1[m^l(k) >= m^{l−1}(k')],        M^V[d, k] = 1[m^0(d) > m^L(k)],

so output d depends on input d' only if m^0(d') < m^0(d): the autoregressive property, in the
order m^0. The path may not exist (every unit between them dropped by the draw), so a conditional
need not read every earlier pixel (`has_full_context = False`).

With `direct_connection` (the original MADE code's direct input connection), a masked linear map
from the inputs to the outputs is added, with the mask 1[m^0(d) > m^0(d')] of the ordering itself:

    x̂_d = b_d + V_d · h^L + Σ_{d' : m^0(d') < m^0(d)} A_{d d'} x_{d'},

an FVSBN term over the whole past beside the hidden path (it gives the first pixels of an order,
which few hidden units serve, a direct view of their context).

Order- and connectivity-agnostic training: K mask sets, set k drawn from the seed
`mask_seed + k`; the training step s uses set s mod K (`on_step`, a pure function of the step, so
a resumed run is exact). The K sets define K autoregressive models p_k that share their weights;
the model is their ensemble, a uniform mixture, whose likelihood combines probabilities:

    log p(x) = logsumexp_k log p_k(x) − log K      (never the average of the K logits: not a likelihood).

Sampling from the mixture draws the mask set of each image, then the image from that p_k. For a
partial image, the set is drawn from its posterior given the known entries,
p(k | x_known) ∝ p_k(x_known), which the model can compute when the known entries come first in
the order of every set (they always do with `natural_order` and a top part of the image).

Grey levels: each output unit becomes `levels` units with the degree of its input. Class-
conditional: a learned bias per class on the first hidden layer, and one on the outputs, since the
first pixel of each order reads no hidden unit.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel, Completion
from genmodels.models.base import Logs, full_mnist_recipe
from genmodels.models.layers import ClassBias, MaskedLinear
from genmodels.registry import register


@dataclass
class MADEConfig(AutoregressiveConfig):
    hidden: tuple[int, ...] = (500,)  # widths of the masked hidden layers (paper: one or two of 500)
    num_masks: int = 1  # K: mask sets trained in turn and ensembled (paper: 32 for its best result)
    natural_order: bool = False  # True: every set uses raster order; only the connectivity varies
    mask_seed: int = 0  # mask set k is drawn from the seed mask_seed + k
    # A masked linear path from the inputs straight to the outputs (the original MADE code's
    # direct input connection): every conditional also gets an FVSBN-like term over its whole past.
    direct_connection: bool = False
    lr: float = 1e-3


def draw_degrees(
    pixels: int, hidden: tuple[int, ...], natural_order: bool, seed: int
) -> tuple[Tensor, list[Tensor]]:
    """One mask set: the input ordering m^0 (a permutation of 1..D) and each hidden layer's degrees."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.arange(1, pixels + 1) if natural_order else torch.randperm(pixels, generator=generator) + 1
    degrees, below = [], order
    for width in hidden:
        # Uniform on {min of the layer below, ..., D − 1} (randint's upper bound is exclusive).
        below = torch.randint(int(below.min()), pixels, (width,), generator=generator)
        degrees.append(below)
    return order, degrees


def connectivity_masks(order: Tensor, hidden_degrees: list[Tensor], outputs_per_pixel: int) -> list[Tensor]:
    """The masks [out, in] of every layer: M[k, k'] = m^l(k) >= m^{l−1}(k'); outputs strictly greater."""
    layers = itertools.pairwise([order, *hidden_degrees])
    masks = [later[:, None] >= earlier[None, :] for earlier, later in layers]
    output_degrees = order.repeat(outputs_per_pixel)  # output unit l·D + d belongs to pixel d
    masks.append(output_degrees[:, None] > hidden_degrees[-1][None, :])
    masks.append(output_degrees[:, None] > order[None, :])  # the direct path: the whole past
    return masks


@register("made")
class MADE(AutoregressiveModel):
    """MADE: a masked autoencoder whose outputs are the conditionals; an ensemble over K orderings."""

    Config = MADEConfig
    equation: ClassVar[str] = (
        r"p(\mathbf{x}) = \prod_i p(x_{o(i)} \mid \mathbf{x}_{o(<i)}), \quad \mathbf{h} = "
        r"g\big(\mathbf{b} + (W \odot M^{W})\,\mathbf{x}\big), \quad \hat{\mathbf{x}} = "
        r"\sigma\big(\mathbf{c} + (V \odot M^{V})\,\mathbf{h}\big)"
    )
    has_full_context = False  # output d reads input d' < d only where a hidden path survives the masks
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The direct input-to-output path closes the gap to NADE on 4,000 digits: 90.69 nats without
        # it, 78.42 with it (same recipe; BENCHMARKS.md).
        "cpu": {"hidden": (500,), "num_masks": 1, "natural_order": True, "direct_connection": True},
        # Germain et al. (2015), binarised MNIST: 86.64 nats with 32 mask sets.
        "paper": {"hidden": (500, 500), "num_masks": 32, "natural_order": False},
        # One mask, the natural order, 784-500-784 with the direct path (the cpu network) on mnist-full.
        "full": {"hidden": (500,), "num_masks": 1, "natural_order": True, "direct_connection": True},
        # The paper's best model on mnist-full: order- and connectivity-agnostic training over 32 mask
        # sets (one hidden layer of 500, with the direct path), scored as the 32-set ensemble.
        "full-ensemble": {
            "hidden": (500,),
            "num_masks": 32,
            "natural_order": False,
            "direct_connection": True,
        },
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # 4,000 digits over-fit a 784-500-784 network within minutes: fresh binarisations each batch.
        # About 15 ms a step on one core: 12,000 steps in 3 minutes (1,600 steps reached 106 nats).
        "cpu": {"steps": 12000, "batch_size": 100, "view": "dynamic", "sample_every": 0},
        # About 19 ms a step on one core: 150,000 steps (300 epochs) in about 50 minutes.
        "full": full_mnist_recipe(150_000),
        # Validation scores the 32-set ensemble (32 passes over val, ~16 s): every 10,000 steps.
        "full-ensemble": full_mnist_recipe(150_000, val_every=10_000, snapshot_every=10_000),
    }

    def __init__(self, config: MADEConfig) -> None:
        super().__init__(config)
        pixels = math.prod(config.image_shape)
        if pixels < 2:
            raise ValueError("MADE needs at least 2 pixels: hidden degrees lie in {1, ..., D − 1}")
        if not config.hidden or min(config.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {config.hidden}")
        if config.num_masks < 1:
            raise ValueError(f"num_masks must be >= 1, got {config.num_masks}")
        self.outputs_per_pixel = 1 if config.levels == 2 else config.levels
        widths = [pixels, *config.hidden]
        self.hidden_layers = torch.nn.ModuleList(MaskedLinear(a, b) for a, b in itertools.pairwise(widths))
        self.output_layer = MaskedLinear(widths[-1], pixels * self.outputs_per_pixel)
        # The direct path reads every earlier pixel: then each conditional has its whole past.
        self.has_full_context = config.direct_connection
        self.direct = (
            MaskedLinear(pixels, pixels * self.outputs_per_pixel, bias=False)
            if config.direct_connection
            else None
        )
        self.hidden_class_bias = ClassBias(config.num_classes, config.hidden[0])
        self.output_class_bias = ClassBias(config.num_classes, pixels * self.outputs_per_pixel)
        # The degrees of every mask set (a few integers per unit), saved with the weights; the masks
        # themselves are rebuilt from them when the set changes.
        sets = [
            draw_degrees(pixels, config.hidden, config.natural_order, config.mask_seed + k)
            for k in range(config.num_masks)
        ]
        self.register_buffer("orders", torch.stack([order for order, _ in sets]))  # [K, D]
        self.register_buffer("hidden_degrees", torch.stack([torch.cat(d) for _, d in sets]))  # [K, ΣH]
        self.register_buffer("mask_index", torch.tensor(0))  # the set in use
        self.use_mask(0)

    # -- the mask sets ------------------------------------------------------------------------------
    def degrees(self, k: int) -> tuple[Tensor, list[Tensor]]:
        """Mask set k: the input ordering m^0 and the hidden layers' degrees m^1, ..., m^L."""
        return self.orders[k], list(self.hidden_degrees[k].split(list(self.config.hidden)))

    def use_mask(self, k: int) -> None:
        """Make mask set k the one in use. The masks are replaced, not overwritten in place, so a
        graph built with the previous set (the ensemble under autograd) stays valid."""
        order, hidden_degrees = self.degrees(k)
        *masks, direct = connectivity_masks(order, hidden_degrees, self.outputs_per_pixel)
        for layer, mask in zip([*self.hidden_layers, self.output_layer], masks, strict=True):
            layer.mask = mask.to(layer.weight.dtype)
        if self.direct is not None:
            self.direct.mask = direct.to(self.direct.weight.dtype)
        self.mask_index.fill_(k)

    @contextlib.contextmanager
    def restoring_mask(self) -> Iterator[None]:
        """Change the mask set freely inside the block; the set in use before is restored after it."""
        before = int(self.mask_index)
        try:
            yield
        finally:
            if int(self.mask_index) != before:
                self.use_mask(before)

    @contextlib.contextmanager
    def using_mask(self, k: int) -> Iterator[None]:
        """Mask set k for the duration of a block."""
        with self.restoring_mask():
            self.use_mask(k)
            yield

    def on_step(self, step: int) -> None:
        """Training step s uses mask set s mod K (a pure function of the step: resume is exact)."""
        k = step % self.config.num_masks
        if k != int(self.mask_index):
            self.use_mask(k)

    def generation_order(self) -> Iterator[tuple[int, int, int]]:
        """(channel, row, column) in the order m^0 of the mask set in use."""
        channels, _, width = self.config.image_shape
        by_rank = torch.argsort(self.orders[int(self.mask_index)])  # sequence indices (h·W + w)·C + c
        for index in by_rank.tolist():
            yield index % channels, index // (channels * width), (index // channels) % width

    # -- the network -------------------------------------------------------------------------------
    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Every conditional of the mask set in use, in one pass of the masked autoencoder."""
        h = inputs = self.to_sequence(x)
        for depth, layer in enumerate(self.hidden_layers):
            h = layer(h)
            if depth == 0:
                h = self.hidden_class_bias(h, y)
            h = F.relu(h)
        out = self.output_class_bias(self.output_layer(h), y)
        if self.direct is not None:
            out = out + self.direct(inputs)
        if self.config.levels > 2:
            out = out.view(len(x), self.config.levels, -1)
        return self.from_sequence(out)

    # -- density: the ensemble ----------------------------------------------------------------------
    def log_prob_per_mask(self, x: Tensor, y: Tensor | None) -> Tensor:
        """log p_k(x | y) for every mask set k: [K, B]."""
        per_mask = []
        with self.restoring_mask():
            for k in range(self.config.num_masks):
                self.use_mask(k)
                per_mask.append(self.likelihood.log_prob(self.logits(x, y), x))
        return torch.stack(per_mask)

    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor:
        """The ensemble's exact log p(x | y) = logsumexp_k log p_k(x | y) − log K, in nats per image."""
        if self.config.num_classes and condition is None:
            return super().log_prob(x)  # the base's marginal over classes, each term this ensemble
        y = self._labels(condition, len(x))
        return torch.logsumexp(self.log_prob_per_mask(x, y), 0) - math.log(self.config.num_masks)

    def negative_log_likelihood(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        """Training: the NLL under the mask set of this step (order-agnostic training, one set per
        step). Evaluation (validation): the ensemble's NLL."""
        if not self.training:
            return super().negative_log_likelihood(batch)
        x = batch["x"]
        y = batch.get("y") if self.config.num_classes else None
        mean = -self.likelihood.log_prob(self.logits(x, y), x).mean()
        dims = math.prod(self.config.image_shape)
        return mean, {"nll": mean.detach(), "bits_per_dim": mean.detach() / (dims * math.log(2))}

    # -- sampling from the ensemble -------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ (1/K) Σ_k p_k(x | y): each image draws its mask set k (one categorical draw per image
        when K > 1; from p(k | x_known) for a `Completion`), then the image from p_k pixel by pixel
        in the order of set k (`sample_naive`)."""
        was_training = self.training
        self.eval()
        try:
            x, known, y = self._start(n, condition, generator)
            self._check_known_entries_come_first(known)
            if self.config.num_masks == 1:
                return self.sample_naive(n, condition=Completion(x, known, y), generator=generator)
            weights = self._mask_posterior(x, known, y)
            chosen = torch.multinomial(weights, 1, generator=generator).squeeze(1)
            with self.restoring_mask():
                for k in chosen.unique().tolist():
                    rows = chosen == k
                    part = Completion(x[rows], known[rows], None if y is None else y[rows])
                    self.use_mask(k)
                    x[rows] = self.sample_naive(int(rows.sum()), condition=part, generator=generator)
            return x
        finally:
            self.train(was_training)

    def _check_known_entries_come_first(self, known: Tensor) -> None:
        """A conditional p_k(x_i | x_<i) cannot read a known entry that comes after i in the order, so
        completion is exact only when every known entry precedes every missing one, in every set."""
        known_sequence = self.to_sequence(known)
        for k in range(self.config.num_masks):
            rank = self.orders[k].expand(len(known), -1)
            first_missing = rank.masked_fill(known_sequence, rank.shape[1] + 1).amin(1)
            last_known = rank.masked_fill(~known_sequence, 0).amax(1)
            if (last_known > first_missing).any():
                raise ValueError(
                    "MADE completes a partial image only when its known entries come first in the order "
                    f"of every mask set (set {k} orders a missing entry before a known one); "
                    "use natural_order=True and give a known top part"
                )

    def _mask_posterior(self, x: Tensor, known: Tensor, y: Tensor | None) -> Tensor:
        """p(k | x_known) ∝ p_k(x_known) per image, [n, K]: the chain rule over the known entries,
        which come first in every order. Uniform where nothing is known."""
        n, num_masks = len(x), self.config.num_masks
        if not known.any():
            return torch.full((n, num_masks), 1.0 / num_masks, device=x.device)
        log_known = []
        with self.restoring_mask():
            for k in range(num_masks):
                self.use_mask(k)
                entries = self._log_prob_per_entry(self.logits(x, y), x)
                log_known.append((entries * known).flatten(1).sum(1))
        return torch.stack(log_known, 1).softmax(1)

    def _log_prob_per_entry(self, logits: Tensor, x: Tensor) -> Tensor:
        """log p(x_i | x_<i) of every entry, [B, C, H, W]: each entry scored as a one-pixel image."""
        if self.config.levels == 2:
            return self.likelihood.log_prob(logits.reshape(-1, 1), x.reshape(-1, 1)).view_as(x)
        per_entry = logits.movedim(1, -1).reshape(-1, self.config.levels, 1)
        return self.likelihood.log_prob(per_entry, x.reshape(-1, 1)).view_as(x)
