"""How well a model's discrete code (InfoGAN's categorical code, an unsupervised AAE's cluster)
recovers the classes it was never told: confusion matrices and the two assignments of the papers.

- One-to-one (`hungarian_accuracy`): K codes, K classes; the assignment code -> class with the most
  matches (the Hungarian algorithm), and the accuracy is the share of images whose class is their
  code's. InfoGAN's "about 5% error" on MNIST reads its categorical code this way.
- Many-to-one (`majority_accuracy`): more clusters than classes (the AAE paper's 16 and 30); each
  cluster takes the class most of its images have, and the error is the share of the others.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def confusion_matrix(codes: Tensor, labels: Tensor, num_codes: int, num_classes: int) -> Tensor:
    """[num_codes, num_classes] counts of (code, class) pairs."""
    codes, labels = codes.long().flatten().cpu(), labels.long().flatten().cpu()
    if len(codes) != len(labels):
        raise ValueError(f"{len(codes)} codes for {len(labels)} labels")
    if len(codes) and (codes.min() < 0 or codes.max() >= num_codes):
        raise ValueError(f"codes must lie in 0..{num_codes - 1}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    pairs = codes * num_classes + labels
    return torch.bincount(pairs, minlength=num_codes * num_classes).view(num_codes, num_classes)


def hungarian_accuracy(confusion: Tensor) -> dict[str, Any]:
    """One-to-one matching of codes to classes with the most matches, and its accuracy."""
    from scipy.optimize import linear_sum_assignment

    codes, classes = linear_sum_assignment(confusion.numpy(), maximize=True)
    total = int(confusion.sum())
    return {
        "accuracy": int(confusion[codes, classes].sum()) / total,
        "matching": {int(k): int(c) for k, c in zip(codes, classes, strict=True)},
        "confusion": confusion.tolist(),
        "n": total,
    }


def majority_accuracy(confusion: Tensor) -> dict[str, Any]:
    """Each code labelled with its most frequent class (codes with no image stay unlabelled)."""
    total = int(confusion.sum())
    used = confusion.sum(1) > 0
    return {
        "accuracy": int(confusion.max(1).values.sum()) / total,
        "matching": {int(k): int(c) for k, c in enumerate(confusion.argmax(1)) if used[k]},
        "confusion": confusion.tolist(),
        "n": total,
    }
