"""Anomaly (out-of-distribution) detection with a density model, and its known pitfall.

Three scores, higher meaning more anomalous:
- `nll`: −log p(x). Nalisnick et al. (2019) showed it can prefer the wrong set: models trained on
  one data set may give *higher* likelihood to another (simpler) one.
- `likelihood_ratio` (Ren et al. 2019): −log p(x) + log p_background(x), where the background model
  is the same kind of model trained on inputs with a share of pixels replaced by noise, so that it
  captures population-level statistics (background, smoothness) and the ratio keeps what is
  specific to the in-distribution content.
- `complexity` (Serrà et al. 2020): −log p(x) − L(x), where L(x) is the length of x under a
  general-purpose lossless compressor (PNG), in nats: simple images have both a high likelihood
  and a short code, and the difference cancels that.
Each is summarised by AUROC and AUPRC with the out-of-distribution images as the positive class.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genmodels.data import ImageSet, View, ordered_batches, to_uint8
from genmodels.evaluation.likelihood import per_image_log_prob
from genmodels.models.base import GenerativeModel


def compressed_length_nats(images: Tensor) -> Tensor:
    """PNG length of each image (as uint8 [N, C, H, W]), in nats: bytes · 8 · ln 2."""
    from PIL import Image

    lengths = []
    for image in images:
        array = image.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(
            buffer, format="PNG", optimize=True
        )
        lengths.append(len(buffer.getvalue()) * 8 * math.log(2))
    return torch.tensor(lengths)


def model_inputs_uint8(data: ImageSet, view: View) -> Tensor:
    """The images as the model sees them (binarised, padded), back in uint8 for the compressor."""
    return torch.cat([to_uint8(batch["x"], view.kind) for batch in ordered_batches(data, view, 500)])


def anomaly_scores(
    model: GenerativeModel, data: ImageSet, view: View, background: GenerativeModel | None = None
) -> dict[str, Tensor]:
    nll = -per_image_log_prob(model, data, view)
    scores = {"nll": nll, "complexity": nll - compressed_length_nats(model_inputs_uint8(data, view))}
    if background is not None:
        scores["likelihood_ratio"] = nll + per_image_log_prob(background, data, view)
    return scores


def detection_report(
    model: GenerativeModel,
    in_data: ImageSet,
    out_sets: list[ImageSet],
    view: View,
    background: GenerativeModel | None = None,
) -> dict[str, Any]:
    """AUROC and AUPRC of each score for each out-of-distribution set against `in_data`."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    inside = anomaly_scores(model, in_data, view, background)
    report: dict[str, Any] = {
        "model": model.name,
        "in_data": in_data.name,
        "view": view.describe(),
        "background_model": background is not None,
        "results": [],
    }
    for out_data in out_sets:
        outside = anomaly_scores(model, out_data, view, background)
        truth = np.r_[np.zeros(len(in_data)), np.ones(len(out_data))]
        row: dict[str, Any] = {"out_data": out_data.name, "n_in": len(in_data), "n_out": len(out_data)}
        for name in inside:
            score = torch.cat([inside[name], outside[name]]).numpy()
            row[name] = {
                "auroc": float(roc_auc_score(truth, score)),
                "auprc": float(average_precision_score(truth, score)),
            }
        row["mean_nll_in"], row["mean_nll_out"] = float(inside["nll"].mean()), float(outside["nll"].mean())
        if row["nll"]["auroc"] < 0.5:
            row["warning"] = (
                f"the raw likelihood prefers {out_data.name} (AUROC {row['nll']['auroc']:.3f} < 0.5): the "
                "model gives higher likelihood to the out-of-distribution images (Nalisnick et al. 2019); "
                "use the corrected scores"
            )
        report["results"].append(row)
    return report


def anomaly_thresholds(
    model: GenerativeModel, held_out: ImageSet, view: View, false_alarm_rate: float = 0.01
) -> dict[str, Any]:
    """The score above which an input is called anomalous, for `nll` and `complexity`: the
    (1 − false_alarm_rate) quantile of the score on held-out in-distribution images, so that about
    that share of normal inputs is flagged. Quantiles, not a fitted distribution: nothing assumed."""
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    scores = anomaly_scores(model, held_out, view)
    thresholds = {name: float(torch.quantile(s.double(), 1 - false_alarm_rate)) for name, s in scores.items()}
    return {
        "false_alarm_rate": false_alarm_rate,
        "data": held_out.name,
        "n": len(held_out),
        "view": view.describe(),
        "thresholds": thresholds,
    }
