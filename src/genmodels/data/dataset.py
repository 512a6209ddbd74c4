"""The one in-memory image set that every loader returns and every model trains on."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


class DataError(ValueError):
    """A data set could not be read: the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 [N, C, H, W] (grey levels 0..255), with optional integer class labels [N].

    Keeping the raw uint8 pixels (not floats) means one copy in memory and one source of truth:
    every view a model needs (binarised, [0, 1], [-1, 1], padded) is computed per batch by
    `genmodels.data.transforms`.
    """

    images: Tensor
    labels: Tensor | None = None
    name: str = "unnamed"
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"{self.name}: images must be a uint8 tensor [N, C, H, W], "
                f"got {self.images.dtype} with shape {tuple(self.images.shape)}"
            )
        if self.labels is not None and len(self.labels) != len(self.images):
            raise DataError(
                f"{self.name}: {len(self.images)} images but {len(self.labels)} labels; they must match"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int | None:
        if self.labels is None:
            return None
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    def subset(self, index: Tensor | slice, name: str | None = None) -> ImageSet:
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.images[index], labels, name or self.name, self.class_names)
