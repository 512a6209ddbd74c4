"""An image classifier, trained on the one trainer like every model: the evaluation network.

Its penultimate layer is the feature space of the sample-quality metrics (FD-digits, KID,
precision/recall, density/coverage; `genmodels.evaluation.features`), and its predictions give the
class histogram of samples and the conditional-correctness checks (does a sample show the digit it
was asked for, does a translation keep it). The project ships one trained on the embedded `mnist`
train split (`scripts/train_digit_classifier.py`); users train their own for their data with
`genmodels train classifier --data ...`.

What it predicts is the config's `target`:
- "y": the class labels (digits), softmax over `num_classes`; the shipped digit classifier;
- "domain": the `domain` field of translation data (`mnist[domains=thin/thick]`, `unpaired:DIR`),
  softmax over the domains: does a translated image show the target domain?
- "attributes": the `attributes` field (`mnist[styles=thick/invert/red]`, `celeba:DIR`), one
  logit per attribute with the binary cross-entropy; NaN entries (unknown, StarGAN's other label
  sets) are left out of the loss and of the accuracy.

How the head is sized: `settings_from_data` is a classmethod called before the config exists, so
it cannot know the target. It therefore reports what the data say about every target at once,
`class_names`, `domain_names` and `attribute_names` (each only when the data have it), and the
config picks by its `target`: `num_classes`, the head's number of outputs, left unset (None) is
the length of the target's names (10 for "y" without class names, as before). A `num_classes`
that disagrees with the target's names is an error, not silently overridden. So
`genmodels train classifier --data "mnist[domains=thin/thick]" --set target=domain` needs nothing
else, and the saved config names every output.

Network: two blocks of two 3x3 convolutions (ReLU) and a 2x2 max pool, a third pool, then a hidden
layer of `features` units (the feature space) and a linear layer to the class logits. Loss: the
cross-entropy −log p(y | x), averaged over the batch (for attributes: the binary cross-entropies
summed over the known attributes, averaged over the batch). Training shifts each image by up to `shift`
pixels (zero padding), drawn from the trainer's seeded generator, so resume stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.models.base import GenerativeModel, Logs, ModelConfig, Objective, OptimizerSpec
from genmodels.registry import register

if TYPE_CHECKING:
    from genmodels.data import ImageSet

Target = Literal["y", "domain", "attributes"]
# The batch entry each target reads.
TARGET_KEYS: dict[str, str] = {"y": "y", "domain": "domain", "attributes": "attributes"}
DEFAULT_CLASSES = 10  # "y" with no class names: the digits, as the shipped classifier
# Per target without labels of its own: the config field that names its outputs, and data that have it.
_TARGET_DATA = {
    "domain": ("domain_names", "mnist[domains=thin/thick] or unpaired:DIR"),
    "attributes": ("attribute_names", "mnist[styles=thick/invert/red] or celeba:DIR"),
}


@dataclass
class ClassifierConfig(ModelConfig):
    target: Target = "y"
    # The head's outputs: classes ("y", "domain") or attributes (one logit each). None: the
    # length of the target's names below.
    num_classes: int | None = None
    # What the training data name, for every target (see `Classifier.settings_from_data`).
    class_names: tuple[str, ...] = ()
    domain_names: tuple[str, ...] = ()
    attribute_names: tuple[str, ...] = ()
    channels: tuple[int, int] = (16, 32)
    features: int = 128
    dropout: float = 0.3
    shift: int = 2  # training augmentation: random translation by up to this many pixels
    lr: float = 1e-3

    def __post_init__(self) -> None:
        names = self.label_names
        if self.num_classes is None:
            if not names and self.target != "y":
                field, example = _TARGET_DATA[self.target]
                raise ConfigError(
                    f"target={self.target!r} needs the names of its outputs: train on data with a "
                    f"`{self.target}` field (e.g. {example}) or set {field}"
                )
            self.num_classes = len(names) or DEFAULT_CLASSES
        if names and self.num_classes != len(names):
            raise ConfigError(
                f"num_classes={self.num_classes} but target={self.target!r} has {len(names)} names "
                f"({', '.join(names)}); leave num_classes unset to take it from them"
            )
        if self.num_classes < 1 or (self.target == "domain" and self.num_classes < 2):
            raise ConfigError(f"num_classes={self.num_classes} is too few outputs for target={self.target!r}")

    @property
    def label_names(self) -> tuple[str, ...]:
        """The names of the head's outputs for the chosen target (empty where the data named none)."""
        return {"y": self.class_names, "domain": self.domain_names, "attributes": self.attribute_names}[
            self.target
        ]

    @property
    def multi_label(self) -> bool:
        return self.target == "attributes"


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
    """An image classifier (digits, domains or attributes): the judge and feature space of evaluation."""

    Config = ClassifierConfig
    equation: ClassVar[str] = r"\min \ \mathbb{E}[-\log p(y \mid \mathbf{x})]"
    family = "classifier"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"channels": (16, 32), "features": 128},
        "full": {"channels": (16, 32), "features": 128},  # the same network, trained on mnist-full
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 2000, "batch_size": 64, "sample_every": 0, "num_samples": 0},
        # The shipped digit classifier (scripts/train_digit_classifier.py): mnist-full's 50,000
        # training digits, about 10 epochs, the weights kept the best on its `val` digits.
        "full": {
            "steps": 8000,
            "batch_size": 64,
            "val_split": "val",
            "val_every": 500,
            "checkpoint_every": 1000,
            "lr_decay": "cosine",
            "sample_every": 0,
            "num_samples": 0,
        },
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

    @classmethod
    def settings_from_data(cls, data: ImageSet) -> dict[str, Any]:
        """The names the data give for every target the config may choose (see the module doc)."""
        settings: dict[str, Any] = {}
        if data.labels is not None:
            settings["class_names"] = data.class_names or tuple(
                str(i) for i in range(int(data.labels.max()) + 1)
            )
        for target, key in (("domain", "domain_names"), ("attributes", "attribute_names")):
            if target in data.fields:
                values = data.fields[target]
                count = int(values.max()) + 1 if target == "domain" else values.shape[1]
                settings[key] = data.field_names.get(target) or tuple(str(i) for i in range(count))
        return settings

    # -- the network -----------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer: the feature space of the sample-quality metrics."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits: one per class, or one per attribute (target "attributes")."""
        return self.head(self.dropout(self.features(x)))

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """Class probabilities (softmax), or each attribute's probability (sigmoid)."""
        logits = self(x)
        return torch.sigmoid(logits) if self.config.multi_label else logits.softmax(-1)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Class indices int64 [B]; for attributes float {0, 1} [B, K] (probability > 0.5), the
        dtype of the `attributes` field so the two compare directly."""
        logits = self(x)
        return (logits > 0).float() if self.config.multi_label else logits.argmax(-1)

    # -- the objective ---------------------------------------------------------------------------
    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        """The batch entry the config's target names, with a clear error when the data lack it."""
        key = TARGET_KEYS[self.config.target]
        if key not in batch:
            what = "labels" if key == "y" else f"the `{key}` field"
            raise ValueError(
                f"a classifier with target={self.config.target!r} trains on data with {what}; "
                f"this batch has {', '.join(sorted(batch))}"
            )
        return batch[key]

    def scores(self, logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """(right, known): how many predictions match, out of how many known targets."""
        if self.config.multi_label:
            known = ~torch.isnan(targets)
            right = ((logits > 0).float() == targets) & known
            return right.sum(), known.sum()
        return (logits.argmax(-1) == targets).sum(), torch.tensor(len(targets))

    def cross_entropy(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        targets = self.targets(batch)
        logits = self(random_shift(batch["x"], self.config.shift) if self.training else batch["x"])
        if self.config.multi_label:
            known = ~torch.isnan(targets)
            # Unknown entries (NaN) are left out: summed over the known attributes, averaged
            # over the batch. nan_to_num only keeps the masked-out terms finite.
            terms = F.binary_cross_entropy_with_logits(logits, targets.nan_to_num(0.0), reduction="none")
            loss = (terms * known).sum() / len(targets)
        else:
            loss = F.cross_entropy(logits, targets)
        right, known_count = self.scores(logits.detach(), targets)
        return loss, {"accuracy": right.float() / known_count.clamp(min=1)}

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
