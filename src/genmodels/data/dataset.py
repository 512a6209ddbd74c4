"""The one in-memory image set that every loader returns and every model trains on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor


class DataError(ValueError):
    """A data set could not be read: the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 [N, C, H, W] (grey levels 0..255), with optional integer class labels [N]
    and optional per-row `fields` (captions as bytes, measured attributes, key-patch boxes, domain
    labels): tensors whose first dimension is N, carried into every batch under their names.

    Keeping the raw uint8 pixels (not floats) means one copy in memory and one source of truth:
    every view a model needs (binarised, [0, 1], [-1, 1], padded) is computed per batch by
    `genmodels.data.transforms`.
    """

    images: Tensor
    labels: Tensor | None = None
    name: str = "unnamed"
    class_names: tuple[str, ...] | None = None
    fields: dict[str, Tensor] = field(default_factory=dict)
    # Names for a field's values or columns: the domains of an integer `domain` field ("thin",
    # "thick"), the columns of a binary `attributes` field ("Male", "Smiling").
    field_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
        for key, values in self.fields.items():
            if key in ("x", "y", "index"):
                raise DataError(f"{self.name}: field name {key!r} is reserved for the batch itself")
            if len(values) != len(self.images):
                raise DataError(f"{self.name}: {len(self.images)} images but {len(values)} rows of {key!r}")

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
        fields = {key: values[index] for key, values in self.fields.items()}
        return ImageSet(
            self.images[index], labels, name or self.name, self.class_names, fields, self.field_names
        )

    def replace(self, **changes: object) -> ImageSet:
        """A copy with some attributes changed (fields and labels carried unless given)."""
        return dataclasses.replace(self, **changes)
