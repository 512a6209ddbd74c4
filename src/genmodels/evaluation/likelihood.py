"""Log-likelihood of a data set under a model, in nats per image and bits per dimension.

bits/dim = NLL / (D · ln 2) with D = C · H · W. For a model whose `log_prob` is a bound
(`log_prob_is_exact = False`, e.g. the VAE's importance-weighted L_k), the report says so and
gives the bound with k samples beside the ELBO (k = 1) and its two terms.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genmodels.data import ImageSet, View, ordered_batches
from genmodels.models.base import DensityModel, GenerativeModel


def _require_density(model: GenerativeModel) -> None:
    if not isinstance(model, DensityModel):
        raise TypeError(f"{model.name} has no density (log_prob); evaluate it by its samples instead")


def per_image_log_prob(
    model: GenerativeModel,
    data: ImageSet,
    view: View,
    *,
    batch_size: int = 100,
    seed: int = 0,
    **log_prob_options: Any,
) -> Tensor:
    """log p(x) (or the model's bound) for every image, in nats, in the data set's order."""
    _require_density(model)
    model.eval()
    scores = []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # bounds estimated by sampling are reproducible
        for batch in ordered_batches(data, view, batch_size, seed):
            scores.append(model.log_prob(batch["x"].to(model.device), **log_prob_options).cpu())
    return torch.cat(scores)


def evaluate_likelihood(
    model: GenerativeModel,
    data: ImageSet,
    view: View,
    *,
    k: int | None = None,
    batch_size: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean NLL in nats and bits/dim over `data`; for bounds also the ELBO and its terms."""
    _require_density(model)
    dims = math.prod(view.image_shape(data.image_shape))
    options = {} if model.log_prob_is_exact else {"k": k or model.config.iw_samples}
    log_p = per_image_log_prob(model, data, view, batch_size=batch_size, seed=seed, **options)
    nll = float(-log_p.mean())
    report: dict[str, Any] = {
        "model": model.name,
        "data": data.name,
        "n": len(data),
        "view": view.describe(),
        "exact": bool(model.log_prob_is_exact),
        "nll_nats": nll,
        "bits_per_dim": nll / (dims * math.log(2)),
    }
    if not model.log_prob_is_exact:
        report["estimator"] = f"importance-weighted bound, k = {options['k']} (an upper bound on the NLL)"
        report["k"] = options["k"]
    if hasattr(model, "elbo_terms"):
        terms = _mean_terms(model, data, view, batch_size, seed)
        report.update({"elbo": terms["elbo"], "recon": terms["recon"], "kl": terms["kl"]})
    return report


def _mean_terms(model: Any, data: ImageSet, view: View, batch_size: int, seed: int) -> dict[str, float]:
    sums: dict[str, float] = {}
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in ordered_batches(data, view, batch_size, seed):
            for name, value in model.elbo_terms(batch["x"].to(model.device)).items():
                sums[name] = sums.get(name, 0.0) + float(value.sum())
    return {name: total / len(data) for name, total in sums.items()}
