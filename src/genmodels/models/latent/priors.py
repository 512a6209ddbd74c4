"""Priors p(z) as objects that can be sampled (and, where they have one, scored).

The VAE needs log p(z) for its importance weights; the adversarial autoencoder needs only samples,
which is why it can use any prior here. Every prior has `dim`, `components` (how many parts a label
can pick: None where there are none) and

    sample(n, *, generator=None, device="cpu", labels=None) -> Tensor[n, dim]

`labels` (a LongTensor [n]) asks for the label-conditioned prior of the AAE's supervised and
semi-supervised variants: row i is drawn from part labels[i] (a mixture component, a segment of the
swiss roll); a negative label means "unlabelled", drawn from the whole prior. Priors without parts
refuse labels. `make_prior(name, dim)` builds one by the name a Config gives.

- `StandardNormal`: N(0, I).
- `GaussianMixture2D`: K = 10 two-dimensional Gaussians with equal weights, their means on a circle
  of radius r at angles θ_k = 2πk / K, each stretched along its radius (std σ_r) and thin across it
  (std σ_t): the "petals" of the AAE paper's Fig. 4. Component k has covariance
  R(θ_k) diag(σ_r², σ_t²) R(θ_k)ᵀ. The paper does not print the numbers; r = 1.4, σ_r = 0.5 and
  σ_t = 0.1 are those of the common reference implementations (musyoku's Chainer AAE, which later
  used σ_t = 0.05; hwalsuklee's TensorFlow AAE). `component_of(z)` is the component of largest
  responsibility (equal weights: of largest density).
- `SwissRoll`: the 2-D spiral z(u) = 3√u (cos 4π√u, sin 4π√u), u ~ U(0, 1) (two turns, as in the
  same reference code); label k draws u from the k-th of K equal slices [k/K, (k+1)/K). It is a
  curve, so it has no density; `component_of(z)` is the slice of the nearest point of the curve.
- `Uniform`: U([−a, a]^d).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

Device = torch.device | str


def _check_labels(labels: Tensor, n: int, components: int, prior: str) -> Tensor:
    if labels.shape != (n,):
        raise ValueError(f"{prior}: labels must have shape ({n},), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point:
        raise ValueError(f"{prior}: labels must be integers, got {labels.dtype}")
    if n and int(labels.max()) >= components:
        raise ValueError(f"{prior}: a label is {int(labels.max())}, but there are {components} parts (0..)")
    return labels.long()


def _parts(
    labels: Tensor | None,
    n: int,
    components: int,
    prior: str,
    generator: torch.Generator | None,
    device: Device,
) -> Tensor:
    """The part each row is drawn from: its label, or a uniform draw where it has none (< 0)."""
    free = torch.randint(components, (n,), generator=generator, device=device)
    if labels is None:
        return free
    labels = _check_labels(labels, n, components, prior).to(free.device)
    return torch.where(labels >= 0, labels, free)


class StandardNormal:
    """p(z) = N(0, I) in `dim` dimensions."""

    components: int | None = None

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: Device = "cpu",
        labels: Tensor | None = None,
    ) -> Tensor:
        if labels is not None:
            raise ValueError("N(0, I) has no components for a label to pick; use the 'mixture' prior")
        return torch.randn(n, self.dim, generator=generator, device=device)

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


class GaussianMixture2D:
    """An equal-weight mixture of `components` 2-D Gaussians on a circle (the AAE paper's Fig. 4)."""

    def __init__(
        self,
        dim: int = 2,
        components: int = 10,
        *,
        radius: float = 1.4,
        radial_std: float = 0.5,
        tangential_std: float = 0.1,
    ) -> None:
        if dim != 2:
            raise ValueError(
                f"the Gaussian mixture prior is 2-D (10 components on a circle), got latent_dim={dim}; "
                "use latent_dim=2, or the 'normal' or 'uniform' prior"
            )
        if components < 1:
            raise ValueError(f"the mixture needs at least one component, got {components}")
        self.dim, self.components = 2, components
        self.radius, self.radial_std, self.tangential_std = radius, radial_std, tangential_std

    def angles(self) -> Tensor:
        return 2 * math.pi * torch.arange(self.components, dtype=torch.float32) / self.components

    def means(self) -> Tensor:
        """[K, 2]: the component means r (cos θ_k, sin θ_k)."""
        angles = self.angles()
        return self.radius * torch.stack([angles.cos(), angles.sin()], -1)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: Device = "cpu",
        labels: Tensor | None = None,
    ) -> Tensor:
        k = _parts(labels, n, self.components, "mixture prior", generator, device)
        eps = torch.randn(n, 2, generator=generator, device=k.device)
        radial = self.radius + self.radial_std * eps[:, 0]  # along the component's radius
        across = self.tangential_std * eps[:, 1]
        angle = 2 * math.pi * k.float() / self.components
        cos, sin = angle.cos(), angle.sin()
        return torch.stack([radial * cos - across * sin, radial * sin + across * cos], -1)

    def component_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; μ_k, Σ_k) for every component: [..., K]."""
        angles = self.angles().to(z.device, z.dtype)
        cos, sin = angles.cos(), angles.sin()
        x, y = z[..., :1], z[..., 1:2]  # [..., 1], broadcast against the K components
        radial = x * cos + y * sin - self.radius  # z rotated by −θ_k, minus the mean
        across = -x * sin + y * cos
        quadratic = (radial / self.radial_std) ** 2 + (across / self.tangential_std) ** 2
        return -0.5 * quadratic - math.log(2 * math.pi * self.radial_std * self.tangential_std)

    def log_prob(self, z: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_prob(z), -1) - math.log(self.components)

    def component_of(self, z: Tensor) -> Tensor:
        """The component of largest responsibility p(k | z) for each code: LongTensor [...]."""
        return self.component_log_prob(z).argmax(-1)


class SwissRoll:
    """The 2-D swiss roll z(u) = scale·√u (cos 2πt√u, sin 2πt√u), u ~ U(0, 1), in `components` slices."""

    def __init__(self, dim: int = 2, components: int = 10, *, scale: float = 3.0, turns: float = 2.0) -> None:
        if dim != 2:
            raise ValueError(
                f"the swiss roll prior is 2-D, got latent_dim={dim}; "
                "use latent_dim=2, or the 'normal' or 'uniform' prior"
            )
        if components < 1:
            raise ValueError(f"the swiss roll needs at least one segment, got {components}")
        self.dim, self.components, self.scale, self.turns = 2, components, scale, turns

    def point(self, u: Tensor) -> Tensor:
        """The point of the roll at position u ∈ [0, 1]: [..., 2]."""
        s = u.sqrt()
        angle = 2 * math.pi * self.turns * s
        return self.scale * s.unsqueeze(-1) * torch.stack([angle.cos(), angle.sin()], -1)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: Device = "cpu",
        labels: Tensor | None = None,
    ) -> Tensor:
        k = _parts(labels, n, self.components, "swiss roll prior", generator, device)
        u = (k.float() + torch.rand(n, generator=generator, device=k.device)) / self.components
        return self.point(u)

    def component_of(self, z: Tensor, *, resolution: int = 4096) -> Tensor:
        """The segment of the point of the roll nearest to each code (a search over a fine grid of u)."""
        u = (torch.arange(resolution, device=z.device, dtype=z.dtype) + 0.5) / resolution
        curve = self.point(u)  # [R, 2]
        nearest = torch.cdist(z.reshape(-1, 2), curve).argmin(-1)
        return (u[nearest] * self.components).long().clamp(max=self.components - 1).view(z.shape[:-1])


class Uniform:
    """p(z) = U([−bound, bound]^dim)."""

    components: int | None = None

    def __init__(self, dim: int, *, bound: float = 1.0) -> None:
        if bound <= 0:
            raise ValueError(f"the uniform prior needs bound > 0, got {bound}")
        self.dim, self.bound = dim, bound

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: Device = "cpu",
        labels: Tensor | None = None,
    ) -> Tensor:
        if labels is not None:
            raise ValueError("the uniform prior has no components for a label to pick; use 'mixture'")
        return (2 * torch.rand(n, self.dim, generator=generator, device=device) - 1) * self.bound

    def log_prob(self, z: Tensor) -> Tensor:
        inside = (z.abs() <= self.bound).all(-1)
        log_volume = self.dim * math.log(2 * self.bound)
        return torch.where(inside, -log_volume, -math.inf).to(z.dtype)


Prior = StandardNormal | GaussianMixture2D | SwissRoll | Uniform

PRIORS = {"normal": StandardNormal, "mixture": GaussianMixture2D, "swiss_roll": SwissRoll, "uniform": Uniform}


def make_prior(name: str, dim: int, **options: float) -> Prior:
    """A prior by the name a Config gives: "normal", "mixture", "swiss_roll" or "uniform".

    `options` go to its constructor (e.g. components=10 for the mixture, bound=2.0 for the uniform).
    """
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    return PRIORS[name](dim, **options)
