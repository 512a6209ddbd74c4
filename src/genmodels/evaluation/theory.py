"""Numerical checks of the theory behind the models, on cases small enough to compute exactly.

GAN (Goodfellow et al. 2014). For a fixed generator with density p_G the value

    V(D, G) = E_{x~p_data}[log D(x)] + E_{x~p_G}[log(1 − D(x))]

is maximised pointwise by D*(x) = p_data(x) / (p_data(x) + p_G(x)), where

    V(D*, G) = 2·JSD(p_data || p_G) − log 4,   JSD(p || q) = ½ KL(p || m) + ½ KL(q || m),  m = ½ (p + q),

so V(D*, G) = −log 4 and D* = ½ exactly when p_G = p_data. Any other D loses a Bernoulli KL:

    V(D*, G) − V(D, G) = ∫ (p_data + p_G)(x) · KL(Bern(D*(x)) || Bern(D(x))) dx ≥ 0.

These are checked on known 1-D Gaussian mixtures: V by trapezoid quadrature on a fine grid, JSD by
scipy's adaptive quadrature of the two KLs against the mixture m (a different rule and a different
integrand, so their agreement checks the identity, not one formula twice), and D* against a small
MLP discriminator trained with the binary cross-entropy on fresh samples of the two densities.

VAE (Kingma & Welling 2014). For any q(z | x), log p(x) = ELBO(q) + KL(q(z | x) || p(z | x)) with
ELBO(q) = E_q[log p(x | z)] − KL(q(z | x) || p(z)). Checked on the linear-Gaussian latent model

    p(z) = N(0, I_k),   p(x | z) = N(Wz + b, σ² I_d),

whose marginal p(x) = N(b, WWᵀ + σ² I) and posterior p(z | x) = N(m, S), with precision
S⁻¹ = I + WᵀW / σ² and m = S Wᵀ (x − b) / σ², are known in closed form. For a diagonal
q = N(μ, diag s²) the ELBO is closed form as well, because the expected squared error is

    E_q ||x − Wz − b||² = ||x − Wμ − b||² + Σ_j s_j² ||W_{:, j}||²,

and KL(q || p(z | x)) is the KL of two full-covariance Gaussians. A Monte-Carlo ELBO with the
reparameterisation z = μ + s ⊙ ε confirms the closed form by sampling.

Binary models (the lecture's starting point). Over n binary variables the full joint table has
2^n − 1 free parameters, independent variables n, and a Markov chain of order k Σ_i 2^min(i, k)
(2n − 1 for k = 1); a chain of order n − 1 is the chain rule with full context, hence the full joint.

Tolerances, and why:
- V(D*, G) against 2·JSD − log 4: 1e-6 in the tests. The grid spans every component's mean ± 12
  standard deviations (the mass left outside is below e^−72) with 20,001 points; the trapezoid rule
  on a smooth integrand that decays to zero at both ends is accurate far below that (measured: the
  two agree to ~2e-16 on the test pairs).
- Trained D against D*: mean |D − D*| under m below 0.01 and max below 0.1 on the region where m
  is at least 1% of its peak. Outside it few samples fall and D* is not learnt; inside, the error is
  the optimiser's and the finite batches' (measured with the defaults, 500 Adam steps of 512 + 512
  samples: 0.003-0.004 mean, 0.03-0.04 max over seeds 0-2; about 1 s of CPU on one thread).
- ELBO identity: gap below 1e-9 in float64: every term is a Cholesky log-determinant or a
  quadratic form of size ≤ 50 with a well-conditioned matrix, so rounding stays ~1e-14 (measured).
- Monte-Carlo ELBO within 4 standard errors of the closed form (a false alarm about once in
  16,000 under the normal approximation; the seeds are fixed, so the tests are deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.special
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ArrayLike = np.ndarray | Tensor
Sampler = Callable[[int, torch.Generator], Tensor]

LOG_4 = math.log(4.0)
GRID_POINTS = 20_001
TAIL_SDS = 12.0  # grid half-width in component standard deviations: mass outside < e^−72


# --- 1-D densities ------------------------------------------------------------------------------------


class GaussianMixture1D:
    """A 1-D mixture Σ_c w_c N(μ_c, σ_c²): `log_prob` on numpy or torch input, `sample` from a generator.

    On tensors the density is torch.distributions' MixtureSameFamily in float64; numpy in, numpy out.
    """

    def __init__(self, weights: Sequence[float], means: Sequence[float], stds: Sequence[float]) -> None:
        if not len(weights) == len(means) == len(stds) > 0:
            raise ValueError("weights, means and stds need the same, non-zero length")
        if min(stds) <= 0 or min(weights) <= 0:
            raise ValueError("weights and stds must be positive")
        total = float(sum(weights))
        self.weights = torch.tensor([w / total for w in weights], dtype=torch.float64)
        self.means = torch.tensor(means, dtype=torch.float64)
        self.stds = torch.tensor(stds, dtype=torch.float64)
        self.distribution = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(probs=self.weights),
            torch.distributions.Normal(self.means, self.stds),
        )

    def log_prob(self, x: ArrayLike) -> ArrayLike:
        if isinstance(x, Tensor):
            return self.distribution.log_prob(x.to(torch.float64)).to(x.dtype)
        # The same density in numpy: scipy's quadrature calls this point by point, where torch's
        # per-call overhead would dominate (the tests check that the two agree).
        x = np.asarray(x, dtype=np.float64)[..., None]
        means, stds = self.means.numpy(), self.stds.numpy()
        log_components = -0.5 * ((x - means) / stds) ** 2 - np.log(stds) - 0.5 * math.log(2 * math.pi)
        return scipy.special.logsumexp(log_components + np.log(self.weights.numpy()), axis=-1)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n draws as a float64 tensor; torch.distributions cannot take a generator, hence by hand."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, generator=generator, dtype=torch.float64)
        return self.means[component] + self.stds[component] * noise

    def span(self, tail_sds: float = TAIL_SDS) -> tuple[float, float]:
        """An interval outside which the density has negligible mass: every mean ± tail_sds · std."""
        lo, hi = self.means - tail_sds * self.stds, self.means + tail_sds * self.stds
        return float(lo.min()), float(hi.max())

    def __repr__(self) -> str:
        parts = zip(self.weights.tolist(), self.means.tolist(), self.stds.tolist(), strict=True)
        return " + ".join(f"{w:.3g}·N({m:.3g}, {s:.3g}²)" for w, m, s in parts)


def normal(mean: float = 0.0, std: float = 1.0) -> GaussianMixture1D:
    """N(mean, std²) as a one-component mixture."""
    return GaussianMixture1D([1.0], [mean], [std])


def quadrature_grid(*densities: GaussianMixture1D, points: int = GRID_POINTS) -> np.ndarray:
    """An even grid covering the mass of every density (the trapezoid rule's nodes)."""
    spans = [density.span() for density in densities]
    return np.linspace(min(lo for lo, _ in spans), max(hi for _, hi in spans), points)


# --- GAN: the optimal discriminator and the value ---------------------------------------------------


class Discriminator1D:
    """D(x) = σ(a(x)) given by its logit a; the logit lets log D and log(1 − D) be computed stably
    where D is within rounding of 0 or 1 (the tails, where one density dwarfs the other)."""

    def __init__(self, logit: Callable[[np.ndarray], np.ndarray]) -> None:
        self.logit = logit

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(np.asarray(x, dtype=np.float64))))


def optimal_discriminator_logit(
    p_data: GaussianMixture1D, p_g: GaussianMixture1D, x: np.ndarray
) -> np.ndarray:
    """logit D*(x) = log p_data(x) − log p_G(x)."""
    return p_data.log_prob(x) - p_g.log_prob(x)


def optimal_discriminator(p_data: GaussianMixture1D, p_g: GaussianMixture1D, x: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_G(x)), computed from log densities (no underflow)."""
    log_d, log_g = p_data.log_prob(x), p_g.log_prob(x)
    return np.exp(log_d - np.logaddexp(log_d, log_g))


def optimal(p_data: GaussianMixture1D, p_g: GaussianMixture1D) -> Discriminator1D:
    """D* as a discriminator object (by its logit), for `gan_value`."""
    return Discriminator1D(lambda x: optimal_discriminator_logit(p_data, p_g, x))


def _log_d_and_log_one_minus_d(
    d: Callable[[np.ndarray], np.ndarray], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    logit = getattr(d, "logit", None)
    if logit is not None:
        a = logit(x)
        return -np.logaddexp(0.0, -a), -np.logaddexp(0.0, a)  # log σ(a), log(1 − σ(a))
    value = np.asarray(d(x), dtype=np.float64)
    with np.errstate(divide="ignore"):  # D = 0 or 1 where a density has mass is a true −∞
        return np.log(value), np.log1p(-value)


def gan_value(
    d: Callable[[np.ndarray], np.ndarray],
    p_data: GaussianMixture1D,
    p_g: GaussianMixture1D,
    *,
    grid: np.ndarray | None = None,
) -> float:
    """V(D, G) = ∫ p_data log D + p_G log(1 − D) dx by the trapezoid rule.

    `d` maps x to D(x) ∈ (0, 1); if it has a `logit` method (a `Discriminator1D`), the logs are
    taken from the logit so that saturated tails stay finite.
    """
    x = quadrature_grid(p_data, p_g) if grid is None else grid
    log_d, log_one_minus_d = _log_d_and_log_one_minus_d(d, x)
    # p · log D is 0 where p underflows to 0, whatever log D is there.
    integrand = _weighted(np.exp(p_data.log_prob(x)), log_d) + _weighted(
        np.exp(p_g.log_prob(x)), log_one_minus_d
    )
    return float(np.trapezoid(integrand, x))


def _weighted(p: np.ndarray, log_value: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # 0 · (−∞) is nan, replaced by its limit 0
        return np.where(p > 0, p * log_value, 0.0)


def jensen_shannon(p: GaussianMixture1D, q: GaussianMixture1D) -> float:
    """JSD(p || q) = ½ KL(p || m) + ½ KL(q || m), m = ½(p + q), in nats, by adaptive quadrature.

    Deliberately another rule (scipy's QUADPACK) and integrand than `gan_value`, so that comparing
    the two tests the identity V(D*, G) = 2·JSD − log 4 rather than one computation twice.
    """
    lo, hi = quadrature_grid(p, q, points=2)
    breakpoints = sorted({*p.means.tolist(), *q.means.tolist()})

    def kl_to_mixture(first: bool) -> float:  # KL(p || m) if first else KL(q || m)
        def integrand(x: float) -> float:
            log_p, log_q = float(p.log_prob(np.array(x))), float(q.log_prob(np.array(x)))
            log_a = log_p if first else log_q
            log_m = np.logaddexp(log_p, log_q) - math.log(2.0)
            return math.exp(log_a) * (log_a - log_m)

        value, _ = scipy.integrate.quad(
            integrand, lo, hi, points=breakpoints, epsabs=1e-13, epsrel=1e-11, limit=500
        )
        return value

    return 0.5 * kl_to_mixture(True) + 0.5 * kl_to_mixture(False)


# --- GAN: a trained discriminator -------------------------------------------------------------------


def train_discriminator(
    sample_data: Sampler,
    sample_g: Sampler,
    steps: int = 500,
    seed: int = 0,
    *,
    batch_size: int = 512,
    lr: float = 3e-3,
    hidden: int = 64,
) -> Discriminator1D:
    """Fit D to maximise V(D, G) by the binary cross-entropy (data = 1, generated = 0).

    An MLP 1 -> hidden -> hidden -> 1 outputs the logit (BCE-with-logits, D = σ(logit)); every step
    draws a fresh batch of each, so the only optimum is the population one, D*. Adam's learning
    rate is cosine-decayed to 0 so the last steps average out the batch noise instead of following it.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    generator = torch.Generator().manual_seed(seed)
    # Standardise the input with a pilot sample of both, so one learning rate fits any scale.
    pilot = torch.cat([sample_data(4096, generator), sample_g(4096, generator)]).float()
    shift, scale = float(pilot.mean()), float(pilot.std())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initial weights are reproducible too
        net = nn.Sequential(
            nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    labels = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)])
    for _ in range(steps):
        x = torch.cat([sample_data(batch_size, generator), sample_g(batch_size, generator)]).float()
        logits = net(((x - shift) / scale).unsqueeze(-1)).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()

    def logit(x: np.ndarray) -> np.ndarray:
        inputs = torch.as_tensor(np.asarray(x, dtype=np.float32))
        with torch.no_grad():
            return net(((inputs - shift) / scale).unsqueeze(-1)).squeeze(-1).double().numpy()

    return Discriminator1D(logit)


def bernoulli_kl(p: np.ndarray, logit_p: np.ndarray, logit_q: np.ndarray) -> np.ndarray:
    """KL(Bern(p) || Bern(q)) from the logits (p given too, to weight the two outcomes)."""
    log_p, log_1mp = -np.logaddexp(0.0, -logit_p), -np.logaddexp(0.0, logit_p)
    log_q, log_1mq = -np.logaddexp(0.0, -logit_q), -np.logaddexp(0.0, logit_q)
    return p * (log_p - log_q) + (1.0 - p) * (log_1mp - log_1mq)


def check_optimal_discriminator(
    p_data: GaussianMixture1D | None = None,
    p_g: GaussianMixture1D | None = None,
    *,
    steps: int = 500,
    batch_size: int = 512,
    seed: int = 0,
    mass_threshold: float = 1e-2,
) -> dict[str, Any]:
    """Train D on samples of p_data (default N(0, 1)) and p_G (default N(1.5, 0.7²)); compare with D*.

    Returns the errors |D − D*| on the region where m = ½(p_data + p_G) is at least
    `mass_threshold` of its peak (max, and mean weighted by m), V(D*, G), 2·JSD − log 4 and their
    difference, V at the trained D, and the loss V(D*) − V(D) beside its Bernoulli-KL form.
    """
    p_data = normal(0.0, 1.0) if p_data is None else p_data
    p_g = normal(1.5, 0.7) if p_g is None else p_g
    x = quadrature_grid(p_data, p_g)
    trained = train_discriminator(p_data.sample, p_g.sample, steps=steps, seed=seed, batch_size=batch_size)
    d_star = optimal_discriminator(p_data, p_g, x)
    error = np.abs(trained(x) - d_star)
    p, q = np.exp(p_data.log_prob(x)), np.exp(p_g.log_prob(x))
    m = 0.5 * (p + q)
    region = m >= mass_threshold * m.max()
    value_star = gan_value(optimal(p_data, p_g), p_data, p_g, grid=x)
    value_trained = gan_value(trained, p_data, p_g, grid=x)
    jsd = jensen_shannon(p_data, p_g)
    kl = bernoulli_kl(d_star, optimal_discriminator_logit(p_data, p_g, x), trained.logit(x))
    kl_form = np.trapezoid((p + q) * kl, x)
    return {
        "p_data": repr(p_data),
        "p_g": repr(p_g),
        "region": (float(x[region].min()), float(x[region].max())),
        "max_abs_error": float(error[region].max()),
        "mean_abs_error": float((error * m)[region].sum() / m[region].sum()),
        "value_optimal": value_star,
        "two_jsd_minus_log4": 2.0 * jsd - LOG_4,
        "identity_gap": value_star - (2.0 * jsd - LOG_4),
        "jsd": jsd,
        "value_trained": value_trained,
        "value_loss": value_star - value_trained,
        "value_loss_bernoulli_kl": float(kl_form),
        "discriminator": trained,
    }


# --- VAE: the ELBO identity on a linear-Gaussian model -----------------------------------------------


@dataclass
class LinearGaussian:
    """p(z) = N(0, I_k), p(x | z) = N(Wz + b, σ² I_d); W is d x k. Everything float64 numpy."""

    W: np.ndarray
    b: np.ndarray
    sigma: float

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal(self.latent_dim)
        return z, self.W @ z + self.b + self.sigma * rng.standard_normal(self.data_dim)

    def log_marginal(self, x: np.ndarray) -> float:
        """log p(x) = log N(x; b, WWᵀ + σ² I), by a Cholesky factor."""
        covariance = self.W @ self.W.T + self.sigma**2 * np.eye(self.data_dim)
        return _gaussian_log_density(x - self.b, covariance)

    def posterior_precision(self) -> np.ndarray:
        """S⁻¹ = I + WᵀW / σ² (the same for every x)."""
        return np.eye(self.latent_dim) + self.W.T @ self.W / self.sigma**2

    def posterior_mean(self, x: np.ndarray) -> np.ndarray:
        """m = S Wᵀ (x − b) / σ², solved against the precision's Cholesky factor (S is not formed)."""
        factor = scipy.linalg.cho_factor(self.posterior_precision())
        return scipy.linalg.cho_solve(factor, self.W.T @ (x - self.b) / self.sigma**2)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p(z | x) = N(m, S): S = (I + WᵀW / σ²)⁻¹, m = S Wᵀ (x − b) / σ²."""
        return self.posterior_mean(x), np.linalg.inv(self.posterior_precision())

    def log_likelihood(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """log p(x | z) for z of shape [..., k]."""
        residual = x - z @ self.W.T - self.b
        return -0.5 * (
            (residual**2).sum(-1) / self.sigma**2 + self.data_dim * math.log(2 * math.pi * self.sigma**2)
        )

    def expected_log_likelihood(self, x: np.ndarray, mu: np.ndarray, s: np.ndarray) -> float:
        """E_q[log p(x | z)] for q = N(μ, diag s²): the squared error of the mean plus Σ_j s_j² ||W_j||²."""
        residual = x - self.W @ mu - self.b
        spread = float((s**2 * (self.W**2).sum(0)).sum())
        squared = float(residual @ residual) + spread
        return -0.5 * (squared / self.sigma**2 + self.data_dim * math.log(2 * math.pi * self.sigma**2))

    def elbo(self, x: np.ndarray, mu: np.ndarray, s: np.ndarray) -> float:
        """ELBO = E_q[log p(x | z)] − KL(N(μ, diag s²) || N(0, I)), both in closed form."""
        kl_prior = 0.5 * float((mu**2 + s**2 - np.log(s**2) - 1.0).sum())
        return self.expected_log_likelihood(x, mu, s) - kl_prior

    def kl_to_posterior(self, x: np.ndarray, mu: np.ndarray, s: np.ndarray) -> float:
        """KL(N(μ, diag s²) || N(m, S)) = ½ [tr(S⁻¹ Σ_q) + (m − μ)ᵀ S⁻¹ (m − μ) − k + log|S| − log|Σ_q|].

        Uses the precision S⁻¹ directly (log|S| = −log|S⁻¹|), so S is never formed.
        """
        precision = self.posterior_precision()
        diff = self.posterior_mean(x) - mu
        log_det_precision = 2.0 * float(np.log(np.diag(scipy.linalg.cholesky(precision))).sum())
        return 0.5 * (
            float(np.diag(precision) @ s**2)
            + float(diff @ precision @ diff)
            - self.latent_dim
            - log_det_precision
            - float(np.log(s**2).sum())
        )

    def monte_carlo_elbo(
        self, x: np.ndarray, mu: np.ndarray, s: np.ndarray, num_samples: int, rng: np.random.Generator
    ) -> tuple[float, float]:
        """Mean and standard error of log p(x | z) + log p(z) − log q(z | x), z = μ + s ⊙ ε."""
        eps = rng.standard_normal((num_samples, self.latent_dim))
        z = mu + s * eps
        log_prior = -0.5 * ((z**2).sum(-1) + self.latent_dim * math.log(2 * math.pi))
        log_q = -0.5 * ((eps**2).sum(-1) + self.latent_dim * math.log(2 * math.pi)) - np.log(s).sum()
        terms = self.log_likelihood(x, z) + log_prior - log_q
        return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(num_samples))


def _gaussian_log_density(residual: np.ndarray, covariance: np.ndarray) -> float:
    factor = scipy.linalg.cholesky(covariance, lower=True)
    white = scipy.linalg.solve_triangular(factor, residual, lower=True)
    log_det = 2.0 * float(np.log(np.diag(factor)).sum())
    return -0.5 * (float(white @ white) + log_det + len(residual) * math.log(2 * math.pi))


def random_linear_gaussian(
    latent_dim: int, data_dim: int, rng: np.random.Generator, *, orthogonal: bool = False
) -> LinearGaussian:
    """A random model; with `orthogonal` W's columns are orthogonal, so WᵀW and the posterior are diagonal."""
    if orthogonal:
        if latent_dim > data_dim:
            raise ValueError("orthogonal columns need latent_dim <= data_dim")
        basis, _ = np.linalg.qr(rng.standard_normal((data_dim, latent_dim)))
        W = basis * rng.uniform(0.5, 2.0, latent_dim)  # distinct column norms: a non-trivial diagonal
    else:
        W = rng.standard_normal((data_dim, latent_dim)) / math.sqrt(latent_dim)
    return LinearGaussian(W=W, b=rng.standard_normal(data_dim), sigma=float(rng.uniform(0.3, 1.0)))


def check_elbo_identity(
    latent_dim: int = 3, data_dim: int = 5, seed: int = 0, *, num_samples: int = 20_000
) -> dict[str, float]:
    """log p(x) = ELBO + KL(q || p(z | x)) for a random linear-Gaussian model, x drawn from it, and an
    arbitrary diagonal q (the posterior mean and spreads, perturbed); plus a Monte-Carlo ELBO."""
    rng = np.random.default_rng(seed)
    model = random_linear_gaussian(latent_dim, data_dim, rng)
    _, x = model.sample(rng)
    m, covariance = model.posterior(x)
    mu = m + 0.5 * rng.standard_normal(latent_dim)
    s = np.sqrt(np.diag(covariance)) * np.exp(rng.uniform(-0.5, 0.5, latent_dim))
    log_px = model.log_marginal(x)
    elbo = model.elbo(x, mu, s)
    kl = model.kl_to_posterior(x, mu, s)
    mc_elbo, mc_stderr = model.monte_carlo_elbo(x, mu, s, num_samples, rng)
    return {
        "log_px": log_px,
        "elbo": elbo,
        "kl": kl,
        "gap": log_px - (elbo + kl),
        "mc_elbo": mc_elbo,
        "mc_stderr": mc_stderr,
        "mc_z": (mc_elbo - elbo) / mc_stderr,
    }


# --- binary models: parameter counts -----------------------------------------------------------------


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"need at least one variable, got n = {n}")


def full_joint_parameters(n: int) -> int:
    """A table over the 2^n outcomes, less one for normalisation: 2^n − 1."""
    _check_n(n)
    return 2**n - 1


def independent_parameters(n: int) -> int:
    """One p(x_i = 1) per variable: n."""
    _check_n(n)
    return n


def markov_parameters(n: int, order: int = 1) -> int:
    """Σ_i 2^min(i, k) (one probability per context of each variable): 2n − 1 for order k = 1."""
    _check_n(n)
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    return sum(2 ** min(i, order) for i in range(n))


def chain_rule_comparison(x: Tensor, models: dict[str, Any]) -> dict[str, Any]:
    """The lecture's first comparison, for one binary image x [1, C, H, W] with n = C·H·W pixels:
    the parameters a full table over 2^n outcomes would need, beside the models that factorise
    p(x) (independent pixels: n, a Markov chain: 2n − 1, the chain rule with learnt conditionals:
    FVSBN, NADE, ...), each with its parameter count and the NLL it gives x, in nats and bits/dim.
    `models` maps a label to a trained binary density model."""
    n = int(x[0].numel())
    rows = []
    for label, model in models.items():
        model.eval()
        with torch.no_grad():
            nll = float(-model.log_prob(x.to(model.device)).squeeze())
        rows.append(
            {
                "model": label,
                "parameters": model.num_parameters(),
                "nll_nats": nll,
                "bits_per_dim": nll / (n * math.log(2)),
                "exact": bool(model.log_prob_is_exact),
            }
        )
    return {
        "pixels": n,
        "full_joint_parameters": f"2^{n} − 1 ≈ 10^{n * math.log10(2):.0f}",
        "independent_parameters": independent_parameters(n),
        "markov_parameters": markov_parameters(n),
        "models": rows,
    }
