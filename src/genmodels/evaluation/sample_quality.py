"""Sample quality in a feature space, the same for every model that samples.

Real and generated images are mapped to features φ (the shipped digit classifier's penultimate
layer by default: `genmodels.evaluation.features`) and compared:

- Fréchet distance ||μ_r − μ_g||² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) between Gaussians fitted to the
  two feature sets (torchmetrics' FID computation with our feature network). In the digit
  classifier's space it is "FD-digits", a different number from the Inception FID of the papers.
- KID (Bińkowski et al. 2018): the unbiased MMD² with the kernel (φ·φ'/d + 1)³, mean and standard
  deviation over random subsets; unlike FD it has no bias that depends on the number of samples.
  The subsets are drawn from the evaluation's seed, so the same samples give the same KID.
- Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020): from
  k-nearest-neighbour balls around real and fake features (the `prdc` package, k = 5).
- The class histogram of the samples by the classifier, and which classes are missing (mode
  coverage): a class counts as covered when it has at least a fifth of the uniform share.

Every result records n_real, n_fake, the feature network, which real images were used, and KID's
subsets (how many, their size, the seed). Samples are compared with the real images in the model's
own evaluation view: binary models with thresholded (statically binarised) digits, grey-level
models and GANs with grey levels.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from genmodels.data import ImageSet, View, evaluation_view, ordered_batches, to_unit
from genmodels.data.batches import rows_batch
from genmodels.evaluation.features import FeatureNetwork, load_feature_network

COVERED_SHARE = 0.2  # a class is covered when it has at least this fraction of the uniform share


class _GivenFeatures(nn.Module):
    """Hands features computed once to torchmetrics, which otherwise runs its own network."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@torch.no_grad()
def draw_samples(
    model: Any,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 250,
    data: ImageSet | None = None,
    view: View | None = None,
) -> Tensor:
    """n samples of `model`, in batches, from a seeded generator (on CPU).

    A model that samples from something in the data (`condition_from_batch`: a caption, key
    patches) takes its conditions from the rows of `data` in order, cycling when n exceeds them."""
    model.eval()
    generator = torch.Generator(model.device).manual_seed(seed)
    conditional = hasattr(model, "condition_from_batch")
    if conditional and (data is None or view is None):
        raise ValueError(f"{model.name} samples from data ({model.condition_kind}): pass data= and view=")
    parts = []
    for start in range(0, n, batch_size):
        size, condition = min(batch_size, n - start), None
        if conditional:
            batch = rows_batch(data, torch.arange(start, start + size), view, model.device)
            condition = model.condition_from_batch(batch)
        parts.append(model.sample(size, condition=condition, generator=generator).cpu())
    return torch.cat(parts)


def compare_features(
    real: Tensor, fake: Tensor, *, nearest_k: int = 5, kid_subsets: int = 50, seed: int = 0
) -> dict[str, float]:
    """FD, KID, precision, recall, density and coverage between two feature sets [N, D]; KID's
    subsets are drawn from `seed`."""
    if min(len(real), len(fake)) <= nearest_k:
        # precision and recall read each point's k-th nearest neighbour within its own set
        raise ValueError(
            f"sample quality needs more than {nearest_k} real images and samples (its k-nearest-"
            f"neighbour precision and recall), got {len(real)} and {len(fake)}"
        )
    from prdc import compute_prdc
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    given = _GivenFeatures(real.shape[1])
    # Subsets of half the smaller set, so that KID's standard deviation over subsets means something.
    subset_size = min(len(real), len(fake), 2000) // 2
    fd = FrechetInceptionDistance(feature=given)
    fd.update(real.double(), real=True)
    fd.update(fake.double(), real=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=given, subsets=kid_subsets, subset_size=subset_size)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        # torchmetrics draws the subsets from the global generator (randperm): seeded, in a fork
        # that leaves the caller's generator where it was.
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes; stdout is for --json
        scores = compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=nearest_k)
    return {
        "fd": float(fd.compute()),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "kid_subsets": kid_subsets,
        "kid_subset_size": subset_size,
        "kid_seed": seed,
        **{name: float(value) for name, value in scores.items()},
    }


def class_histogram(labels: Tensor, num_classes: int) -> list[float]:
    return (torch.bincount(labels, minlength=num_classes).double() / len(labels)).tolist()


def image_quality(
    real: Tensor,
    fake: Tensor,
    network: FeatureNetwork,
    *,
    nearest_k: int = 5,
    kid_subsets: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Every sample-quality measure between real and fake images in [0, 1] (`seed`: KID's subsets)."""
    result: dict[str, Any] = {
        "feature_network": network.name,
        "score_name": network.score_name,
        "n_real": len(real),
        "n_fake": len(fake),
        **compare_features(
            network.features(real),
            network.features(fake),
            nearest_k=nearest_k,
            kid_subsets=kid_subsets,
            seed=seed,
        ),
    }
    if network.predict is not None and network.num_classes:
        histogram = class_histogram(network.classify(fake), network.num_classes)
        threshold = COVERED_SHARE / network.num_classes
        missing = [k for k, share in enumerate(histogram) if share < threshold]
        result.update(
            class_histogram=histogram,
            real_class_histogram=class_histogram(network.classify(real), network.num_classes),
            classes_covered=network.num_classes - len(missing),
        )
        if missing:
            result.setdefault("warnings", []).append(
                f"classes {missing} are missing or rare in the samples (under {threshold:.1%} each): "
                "the model drops modes"
            )
    if network.provenance:
        result["feature_network_test_accuracy"] = network.provenance.get("test_accuracy")
    return result


def real_images(data: ImageSet, view: View, n: int | None = None, seed: int = 0) -> Tensor:
    """The first n images of `data` in `view` (evaluation view: static for dynamic), in [0, 1]."""
    view = evaluation_view(view)
    images = torch.cat([b["x"] for b in ordered_batches(data, view, 500, seed)])
    return to_unit(images[:n] if n else images, view.kind)


def sample_quality(
    model: Any,
    data: ImageSet,
    view: View,
    *,
    n_fake: int = 1000,
    features: FeatureNetwork | str | None = None,
    seed: int = 0,
    nearest_k: int = 5,
    kid_subsets: int = 50,
) -> dict[str, Any]:
    """Draw n_fake samples of `model` and compare them with all of `data` (in the model's view)."""
    network = features if isinstance(features, FeatureNetwork) else load_feature_network(features)
    real = real_images(data, view, seed=seed)
    fake = to_unit(draw_samples(model, n_fake, seed=seed, data=data, view=view), view.kind)
    result = image_quality(real, fake, network, nearest_k=nearest_k, kid_subsets=kid_subsets, seed=seed)
    result["real"] = f"{data.name} ({evaluation_view(view).describe()})"
    return result
