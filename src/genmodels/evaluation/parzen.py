"""Parzen-window log-likelihood: the yardstick of the GAN and AAE papers for models without a density.

A Gaussian kernel density estimate is fitted to n samples s_i of the model (Breuleux et al. 2011):

    p̂(x) = 1/n Σ_i N(x; s_i, σ² I)
    log p̂(x) = logsumexp_i(−||x − s_i||² / 2σ²) − log n − (D/2) log(2π σ²)

with images in [0, 1] (grey levels, D = C·H·W). The bandwidth σ is the value of a grid with the
highest mean log p̂ on validation images; the mean log p̂ of the test images is then reported with its
standard error (std / √M). The GAN paper (225 ± 2 nats) and the AAE paper (340 ± 2) used 10,000
samples, σ chosen on the validation set, and the 10,000 grey-level test digits of MNIST.

Its known weakness (Theis, van den Oord and Bethge 2016): in hundreds of dimensions the estimate is
far from the true log-likelihood even with millions of samples, and it ranks models unreliably — a
model that reproduces training digits outscores a good one — so it is for setting a number beside
the papers', not for judging models.

Which images are the samples: a model's draws, except for latent models whose pixel likelihood has
a mean (the VAE and AAE with Bernoulli pixels): there the decoder means E[x | z], z ~ p(z), grey
levels like the test digits (binary draws against grey digits would score badly for a reason that
has nothing to do with the model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from genmodels.data import ImageSet, View, to_unit, unpad
from genmodels.evaluation.sample_quality import draw_samples, real_images

# The grid of the GAN paper's code (10 values, log-spaced from 0.1 to 1), with finer values below:
# a good model's best σ on digits is near 0.2.
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(s) for s in torch.logspace(-1.3, 0.0, 14))


def parzen_log_likelihood(
    samples: Tensor, points: Tensor, sigmas: Sequence[float], *, batch_size: int = 500
) -> Tensor:
    """log p̂(x) for every point [M, D] under the kernel density of samples [N, D], for each σ:
    [len(sigmas), M] in nats. The distances are computed once and shared by every σ."""
    if samples.ndim != 2 or points.ndim != 2 or samples.shape[1] != points.shape[1]:
        raise ValueError(
            f"samples {tuple(samples.shape)} and points {tuple(points.shape)} must be [N, D], [M, D]"
        )
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"the bandwidths must be positive, got {list(sigmas)}")
    n, dims = samples.shape
    sigma = torch.tensor(sigmas, dtype=torch.float64)
    # The constant per σ: − log n − (D/2) log(2π σ²).
    constant = -math.log(n) - 0.5 * dims * torch.log(2 * math.pi * sigma**2)
    samples = samples.float()
    sample_norms = (samples**2).sum(1)
    parts = []
    for start in range(0, len(points), batch_size):
        x = points[start : start + batch_size].float()
        # ||x − s||² = ||x||² + ||s||² − 2 x·s: one matrix product; clamped at 0 against rounding.
        squared = ((x**2).sum(1, keepdim=True) + sample_norms - 2 * x @ samples.T).clamp_min(0).double()
        exponents = -squared.unsqueeze(0) / (2 * sigma**2).view(-1, 1, 1)  # [S, B, N]
        parts.append(torch.logsumexp(exponents, dim=2) + constant.view(-1, 1))
    return torch.cat(parts, dim=1)


def parzen_window(
    samples: Tensor, val: Tensor, test: Tensor, *, sigmas: Sequence[float] = DEFAULT_SIGMAS
) -> dict[str, Any]:
    """Choose σ on `val`, report the mean log p̂ on `test` with its standard error (images [N, ...]
    in [0, 1], flattened here)."""
    samples, val, test = (t.flatten(1) for t in (samples, val, test))
    on_val = parzen_log_likelihood(samples, val, sigmas).mean(1)
    best = int(on_val.argmax())
    chosen = sigmas[best]
    on_test = parzen_log_likelihood(samples, test, [chosen])[0]
    result = {
        "parzen_log_likelihood": float(on_test.mean()),
        "parzen_standard_error": float(on_test.std() / math.sqrt(len(on_test))),
        "parzen_sigma": float(chosen),
        "parzen_val_log_likelihood": float(on_val[best]),
        "n_samples": len(samples),
        "n_val": len(val),
        "n_test": len(test),
        "sigmas": [float(s) for s in sigmas],
    }
    if best in (0, len(sigmas) - 1):
        result["warnings"] = [f"the best bandwidth {chosen:.4g} is at the edge of the grid: widen it"]
    return result


@torch.no_grad()
def parzen_samples(model: Any, n: int, *, seed: int = 0) -> tuple[Tensor, str]:
    """n images in [0, 1] to centre the kernels on, and what they are (see the module's docstring)."""
    likelihood = getattr(model, "likelihood", None)
    if "latent" in model.capabilities() and hasattr(likelihood, "mean") and hasattr(model, "prior"):
        model.eval()
        generator = torch.Generator(model.device).manual_seed(seed)
        images = torch.cat(
            [
                model.decode(model.draw_latent(min(250, n - start), generator=generator)).cpu()
                for start in range(0, n, 250)
            ]
        )
        return to_unit(images, model.default_view().kind), "decoder means E[x | z], z ~ p(z)"
    images = draw_samples(model, n, seed=seed)
    return to_unit(images, model.default_view().kind), "samples"


def model_parzen_window(
    model: Any,
    val: ImageSet,
    test: ImageSet,
    *,
    n_samples: int = 10_000,
    seed: int = 0,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
) -> dict[str, Any]:
    """The papers' protocol for a trained model: n_samples kernels, σ chosen on `val`, reported on
    `test`, both as grey levels."""
    if "sample" not in model.capabilities():
        raise TypeError(f"{model.name} does not sample: the Parzen window needs samples")
    if hasattr(model, "condition_from_batch"):
        raise TypeError(f"{model.name} samples from data ({model.condition_kind}): no Parzen window")
    samples, what = parzen_samples(model, n_samples, seed=seed)
    # In the data's own space: a model trained on padded digits (28 -> 32) has its samples cropped
    # back, since every padding pixel would add about −log(σ√2π) ≈ 0.7 nats at σ = 0.2 and the
    # number would no longer stand beside the papers' 784-dimensional ones.
    samples = unpad(samples, (samples.shape[-1] - val.image_shape[-1]) // 2)
    grey = View("unit")
    result = parzen_window(samples, real_images(val, grey), real_images(test, grey), sigmas=sigmas)
    result.update(
        kernels_on=what,
        val=f"{val.name}, grey levels in [0, 1]",
        test=f"{test.name}, grey levels in [0, 1]",
        seed=seed,
    )
    return result
