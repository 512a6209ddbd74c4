"""An image classifier, trained on the one trainer like every model: the evaluation network.

Its penultimate layer is the feature space of the sample-quality metrics (FD-digits, KID,
precision/recall, density/coverage; `genmodels.evaluation.features`), and its predictions give the
class histogram of samples and the conditional-correctness checks (does a sample show the digit it
was asked for, does a translation keep it). The project ships one trained on the embedded `mnist`
train split (`scripts/train_digit_classifier.py`); users train their own for their data with
`genmodels train classifier --data ...`.

Network: two blocks of two 3x3 convolutions (ReLU) and a 2x2 max pool, a third pool, then a hidden
layer of `features` units (the feature space) and a linear layer to the class logits. Loss: the
cross-entropy −log p(y | x), averaged over the batch. Training shifts each image by up to `shift`
pixels (zero padding), drawn from the trainer's seeded generator, so resume stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.models.base import GenerativeModel, Logs, ModelConfig, Objective, OptimizerSpec
from genmodels.registry import register


@dataclass
class ClassifierConfig(ModelConfig):
    num_classes: int = 10
    channels: tuple[int, int] = (16, 32)
    features: int = 128
    dropout: float = 0.3
    shift: int = 2  # training augmentation: random translation by up to this many pixels
    lr: float = 1e-3


def random_shift(x: Tensor, shift: int) -> Tensor:
    """Translate each image by a random (dy, dx) in [−shift, shift]², filling with zeros."""
    if shift == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * shift + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


@register("classifier")
class Classifier(GenerativeModel):
    Config = ClassifierConfig
    family = "classifier"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"cpu": {"channels": (16, 32), "features": 128}}
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 2000, "batch_size": 64, "sample_every": 0, "num_samples": 0},
    }

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        a, b = config.channels
        self.trunk = nn.Sequential(
            nn.Conv2d(colours, a, 3, padding=1), nn.ReLU(),
            nn.Conv2d(a, a, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(a, b, 3, padding=1), nn.ReLU(),
            nn.Conv2d(b, b, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(b * (height // 8) * (width // 8), config.features), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.features, config.num_classes)

    # -- the network -----------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer: the feature space of the sample-quality metrics."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits."""
        return self.head(self.dropout(self.features(x)))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        return self(x).argmax(-1)

    # -- the objective ---------------------------------------------------------------------------
    def cross_entropy(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        if "y" not in batch:
            raise ValueError("a classifier trains on labelled data; this data set has no labels")
        logits = self(random_shift(batch["x"], self.config.shift) if self.training else batch["x"])
        loss = F.cross_entropy(logits, batch["y"])
        return loss, {"accuracy": (logits.argmax(-1) == batch["y"]).float().mean().detach()}

    def objectives(self) -> list[Objective]:
        return [
            Objective(
                "cross_entropy",
                self.parameters,
                self.cross_entropy,
                optimizer=OptimizerSpec(lr=self.config.lr),
            )
        ]

    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        raise TypeError("a classifier does not sample; it is the evaluation network of the generative models")
