"""Classification by Bayes' rule from a class-conditional density model:

    ŷ(x) = argmax_y log p(x | y) + log p(y),

with p(y) the label frequencies of the training split. Exact for autoregressive models, so the
classifier is a true generative classifier, not a discriminative head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genmodels.data import ImageSet, View, ordered_batches
from genmodels.models.base import GenerativeModel


def class_log_likelihoods(
    model: GenerativeModel, data: ImageSet, view: View, batch_size: int = 200
) -> Tensor:
    """log p(x | y) for every image and class: [N, K]."""
    classes = getattr(model.config, "num_classes", 0)
    if not classes:
        raise ValueError(f"{model.name} is not class-conditional: train it with --set num_classes=10")
    model.eval()
    rows = []
    with torch.no_grad():
        for batch in ordered_batches(data, view, batch_size):
            x = batch["x"].to(model.device)
            rows.append(
                torch.stack(
                    [model.log_prob(x, torch.full((len(x),), k, device=x.device)) for k in range(classes)], 1
                ).cpu()
            )
    return torch.cat(rows)


def bayes_classify(
    model: GenerativeModel,
    data: ImageSet,
    view: View,
    class_prior: Tensor | None = None,
    log_likelihoods: Tensor | None = None,
) -> dict[str, Any]:
    """Accuracy, per class and the confusion matrix of ŷ(x) on `data` (the uniform prior unless
    `class_prior` is given). `log_likelihoods`: `class_log_likelihoods` of the same data, when the
    caller has them already."""
    if data.labels is None:
        raise ValueError(f"{data.name} has no labels to measure accuracy against")
    if log_likelihoods is None:
        log_likelihoods = class_log_likelihoods(model, data, view)
    classes = log_likelihoods.shape[1]
    prior = class_prior if class_prior is not None else torch.full((classes,), 1.0 / classes)
    predicted = (log_likelihoods + prior.log()).argmax(1)
    correct = predicted == data.labels
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    confusion.index_put_((data.labels, predicted), torch.ones_like(predicted), accumulate=True)
    return {
        "model": model.name,
        "data": data.name,
        "n": len(data),
        "view": view.describe(),
        "accuracy": float(correct.float().mean()),
        "per_class_accuracy": [float(correct[data.labels == k].float().mean()) for k in range(classes)],
        "confusion": confusion.tolist(),
        "prior": prior.tolist(),
    }
