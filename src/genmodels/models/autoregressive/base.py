"""What every explicit autoregressive model shares: the chain rule.

    log p(x | y) = Σ_i log p(x_i | x_<i, y)

over the pixels in the model's order (raster order: row by row, left to right, and R before G
before B within a pixel, unless the model says otherwise). A model only has to say how it computes
the parameters of every conditional at once from the whole image, `logits(x, y)`, with the
guarantee that the parameters of pixel i read nothing of x at or after i. From that, this base
gives the exact log-likelihood, the one training objective (negative log-likelihood, summed over
pixels and averaged over the batch), sampling pixel by pixel, and completion of partial images.
Models with a faster way to sample (cached activations) override `sample` and keep
`sample_naive` as the reference they are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from genmodels.models.base import GenerativeModel, Logs, ModelConfig, Objective, OptimizerSpec
from genmodels.models.distributions import pixel_likelihood


@dataclass
class AutoregressiveConfig(ModelConfig):
    levels: int = 2  # 2: Bernoulli pixels (binarised images); 256: 8-bit grey or colour levels
    num_classes: int = 0  # > 0: class-conditional p(x | y), through a learned bias per class
    lr: float = 1e-3


@dataclass
class Completion:
    """A partial image to complete: `image` [B, C, H, W] whose entries where `known` is True are kept;
    the others are drawn from p(x_missing | x_known) in the model's order. `labels` for conditional models."""

    image: Tensor
    known: Tensor
    labels: Tensor | None = None

    @classmethod
    def top_half(cls, image: Tensor, labels: Tensor | None = None) -> Completion:
        """Keep the top half of each image; the model draws the bottom half."""
        known = torch.zeros_like(image, dtype=torch.bool)
        known[..., : image.shape[-2] // 2, :] = True
        return cls(image, known, labels)


class AutoregressiveModel(GenerativeModel):
    family = "autoregressive"
    log_prob_is_exact = True
    # A label for class-conditional models; `sample` also takes a partial image (a Completion).
    condition_kind: ClassVar[str] = "label"
    # Whether each pixel's conditional reads *every* earlier pixel (False for a Markov chain of
    # order k, or the Row LSTM's triangular context); the causality tests check what is claimed.
    has_full_context: ClassVar[bool] = True

    def __init__(self, config: AutoregressiveConfig) -> None:
        super().__init__(config)
        self.likelihood = pixel_likelihood(config.levels)

    # -- what a model defines ----------------------------------------------------------------------
    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Parameters of every conditional p(x_i | x_<i, y), shaped for `self.likelihood`."""
        raise NotImplementedError

    def generation_order(self) -> Iterator[tuple[int, int, int]]:
        """(channel, row, column) in the order the chain rule factorises: raster, R -> G -> B."""
        c, h, w = self.config.image_shape
        for row in range(h):
            for column in range(w):
                for channel in range(c):
                    yield channel, row, column

    # -- density -------------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor:
        """Exact log p(x | y) in nats per image; for a class-conditional model given no labels, the
        marginal log p(x) = logsumexp_y log p(x | y) − log K under a uniform class prior."""
        if self.config.num_classes and condition is None:
            per_class = [
                self.log_prob(x, torch.full((len(x),), k, device=x.device))
                for k in range(self.config.num_classes)
            ]
            return torch.logsumexp(torch.stack(per_class), 0) - math.log(self.config.num_classes)
        return self.likelihood.log_prob(self.logits(x, self._labels(condition, len(x))), x)

    def negative_log_likelihood(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        y = batch.get("y") if self.config.num_classes else None
        nll = -self.log_prob(batch["x"], y)
        dims = math.prod(self.config.image_shape)
        mean = nll.mean()
        return mean, {"nll": mean.detach(), "bits_per_dim": mean.detach() / (dims * math.log(2))}

    def objectives(self) -> list[Objective]:
        return [
            Objective(
                "nll",
                self.parameters,
                self.negative_log_likelihood,
                optimizer=OptimizerSpec(lr=self.config.lr),
            )
        ]

    def num_parameters(self) -> int:
        """Free parameters: a masked weight counts only its unmasked entries."""
        total = 0
        for module in self.modules():
            mask = getattr(module, "mask", None)
            for name, parameter in module.named_parameters(recurse=False):
                if not parameter.requires_grad:
                    continue
                if name == "weight" and isinstance(mask, Tensor):
                    total += int(mask.expand_as(parameter).count_nonzero())
                else:
                    total += parameter.numel()
        return total

    # -- images as sequences (for the models that work on the flattened pixel vector) --------------
    def to_sequence(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, n] in raster order with the colours innermost: index (h·W + w)·C + c."""
        return x.permute(0, 2, 3, 1).reshape(len(x), -1)

    def from_sequence(self, logits: Tensor) -> Tensor:
        """Sequence logits [B, n] (Bernoulli) or [B, L, n] (categorical) -> the likelihood's image shape."""
        c, h, w = self.config.image_shape
        if logits.dim() == 2:
            return logits.view(len(logits), h, w, c).permute(0, 3, 1, 2)
        return logits.view(len(logits), logits.shape[1], h, w, c).permute(0, 1, 4, 2, 3)

    # -- sampling and completion -----------------------------------------------------------------------
    def sample_labels(self) -> int:
        return self.config.num_classes

    def _labels(self, condition: Any, n: int) -> Tensor | None:
        labels = condition.labels if isinstance(condition, Completion) else condition
        if self.config.num_classes == 0:
            if labels is not None:
                raise ValueError(f"{self.name} is not class-conditional (num_classes = 0): give no labels")
            return None
        if labels is None:
            raise ValueError(f"{self.name} is class-conditional: give labels (condition=y)")
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        if labels.dim() == 0:
            labels = labels.expand(n)
        if len(labels) != n or labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise ValueError(f"labels must be {n} integers in [0, {self.config.num_classes})")
        return labels

    def _start(
        self, n: int, condition: Any, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The canvas to fill, the mask of entries already known, and the labels (drawn uniformly
        for a class-conditional model asked for unconditional samples, matching the marginal log_prob)."""
        shape = (n, *self.config.image_shape)
        if self.config.num_classes and condition is None:
            condition = torch.randint(self.config.num_classes, (n,), generator=generator, device=self.device)
        if isinstance(condition, Completion):
            if tuple(condition.image.shape) != shape:
                raise ValueError(
                    f"completion image must have shape {shape}, got {tuple(condition.image.shape)}"
                )
            known = condition.known.to(self.device, torch.bool)
            return condition.image.to(self.device) * known, known, self._labels(condition, n)
        return (
            torch.zeros(shape, device=self.device),
            torch.zeros(shape, dtype=torch.bool, device=self.device),
            (self._labels(condition, n)),
        )

    @torch.no_grad()
    def sample_naive(
        self, n: int, *, condition: Any = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The reference sampler: one full forward pass per pixel and channel, in the model's order.
        Exactly one draw from the generator per position, so faster samplers can match it."""
        x, known, y = self._start(n, condition, generator)
        for channel, row, column in self.generation_order():
            missing = ~known[:, channel, row, column]
            if not missing.any():
                continue
            logits = self.logits(x, y)[..., channel, row, column]
            draw = self.likelihood.sample(logits, generator=generator)
            x[:, channel, row, column] = torch.where(missing, draw, x[:, channel, row, column])
        return x

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p(x | y), or the missing part of a `Completion` ~ p(x_missing | x_known, y)."""
        was_training = self.training
        self.eval()
        try:
            return self.sample_naive(n, condition=condition, generator=generator)
        finally:
            self.train(was_training)
