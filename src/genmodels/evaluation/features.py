"""Feature networks: the space in which samples are compared with data.

The default is the digit classifier that the project trains (`scripts/train_digit_classifier.py`)
and ships with the package: its penultimate layer (128 features) defines "FD-digits" and the other
sample-quality metrics, and its predictions give the class histogram of samples. Any run folder of
the `classifier` model can replace it (`--features RUN`), for data that are not digits.

Inception FID is available only from a local file the user passes (`--features inception:FILE`):
a TorchScript Inception-v3 that maps float images in [0, 255] of shape [N, 3, 299, 299] to pool
features (the `inception-2015-12-05.pt` of the common FID tools has this interface). Nothing is
downloaded.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

SHIPPED_DIGIT_CLASSIFIER = Path(__file__).parent / "weights" / "digit_classifier"


@dataclass
class FeatureNetwork:
    """Images in [0, 1], [N, C, H, W] -> features [N, D] (and class predictions where it classifies)."""

    name: str
    score_name: str  # what a Fréchet distance in this space is called: "FD-digits", "FID", ...
    extract: Callable[[Tensor], Tensor]
    image_shape: tuple[int, int, int] | None  # the input it expects; None: any (it resizes itself)
    predict: Callable[[Tensor], Tensor] | None = None
    num_classes: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def accepts(self, image_shape: tuple[int, int, int]) -> bool:
        """Whether images of this shape can be measured (equal, or larger and cropped)."""
        if self.image_shape is None:
            return True
        c, h, w = self.image_shape
        return image_shape[0] == c and image_shape[1] >= h and image_shape[2] >= w

    def _fit(self, images: Tensor) -> Tensor:
        """Crop a padded image to the network's size (e.g. 32 -> 28); refuse what cannot fit."""
        if self.image_shape is None:
            return images
        _, h, w = self.image_shape
        if not self.accepts(tuple(images.shape[1:])):
            raise ValueError(
                f"the feature network {self.name!r} takes images {self.image_shape}; "
                f"got {tuple(images.shape[1:])} (train a `classifier` on this data and pass --features RUN)"
            )
        top, left = (images.shape[2] - h) // 2, (images.shape[3] - w) // 2
        return images[:, :, top : top + h, left : left + w]

    @torch.no_grad()
    def features(self, images: Tensor, batch_size: int = 500) -> Tensor:
        images = self._fit(images)
        return torch.cat(
            [self.extract(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )

    @torch.no_grad()
    def classify(self, images: Tensor, batch_size: int = 500) -> Tensor:
        if self.predict is None:
            raise ValueError(f"the feature network {self.name!r} does not classify")
        images = self._fit(images)
        return torch.cat(
            [self.predict(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


def classifier_features(folder: str | Path, name: str, score_name: str) -> FeatureNetwork:
    from genmodels.io import ModelFolderError, load_model

    model = load_model(folder)
    if model.family != "classifier":
        raise ModelFolderError(f"{folder}: a feature network must be a `classifier` run, not {model.name!r}")
    provenance_file = Path(folder) / "provenance.json"
    provenance = json.loads(provenance_file.read_text()) if provenance_file.is_file() else {}
    return FeatureNetwork(
        name=name,
        score_name=score_name,
        extract=model.features,
        image_shape=tuple(model.config.image_shape),
        # A multi-label (attributes) classifier gives features but no single class per image: no
        # class histogram then.
        predict=None if getattr(model.config, "multi_label", False) else model.predict,
        num_classes=None if getattr(model.config, "multi_label", False) else model.config.num_classes,
        provenance=provenance,
    )


def inception_features(file: str | Path) -> FeatureNetwork:
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: no such Inception file (a TorchScript module; nothing is downloaded)"
        )
    network = torch.jit.load(str(file), map_location="cpu").eval()

    def extract(images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        images = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        return network(images * 255.0).flatten(1)

    return FeatureNetwork(name=f"inception:{file.name}", score_name="FID", extract=extract, image_shape=None)


@functools.cache
def _shipped_digit_classifier() -> FeatureNetwork:
    return classifier_features(SHIPPED_DIGIT_CLASSIFIER, "digit_classifier (shipped)", "FD-digits")


def load_feature_network(spec: str | Path | None = None) -> FeatureNetwork:
    """None or "digits": the shipped digit classifier; "inception:FILE": a local TorchScript
    Inception (FID); otherwise a `classifier` run folder."""
    if spec is None or str(spec) == "digits":
        return _shipped_digit_classifier()
    spec = str(spec)
    if spec.startswith("inception:"):
        return inception_features(spec.removeprefix("inception:"))
    return classifier_features(spec, f"classifier:{spec}", f"FD-{Path(spec).name}")
