"""The theory checks: D* and V(D*, G) = 2·JSD − log 4, a trained D against D*, the ELBO identity on a
linear-Gaussian model, and the parameter counts of the binary models; each with a negative control."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

import genmodels
from genmodels.evaluation import theory

P_DATA = theory.normal(0.0, 1.0)
P_G = theory.normal(1.5, 0.7)
MIXTURE = theory.GaussianMixture1D([0.3, 0.7], [-2.0, 1.0], [0.5, 1.0])
PAIRS = [(P_DATA, P_G), (P_DATA, MIXTURE), (MIXTURE, theory.normal(0.5, 2.0))]


@pytest.fixture(scope="module")
def trained():
    """One trained discriminator for the Gaussian pair (about 1-2 s on one thread)."""
    return theory.check_optimal_discriminator(P_DATA, P_G, seed=0)


# --- densities --------------------------------------------------------------------------------------


def test_density_log_prob_on_numpy_and_torch_and_samples():
    x = np.linspace(-3, 3, 7)
    expected = np.log(0.3 * scipy.stats.norm.pdf(x, -2, 0.5) + 0.7 * scipy.stats.norm.pdf(x, 1, 1))
    np.testing.assert_allclose(MIXTURE.log_prob(x), expected, rtol=1e-12)
    np.testing.assert_allclose(MIXTURE.log_prob(torch.from_numpy(x)).numpy(), expected, rtol=1e-12)
    samples = MIXTURE.sample(200_000, torch.Generator().manual_seed(0)).numpy()
    assert abs(samples.mean() - (0.3 * -2 + 0.7 * 1)) < 0.01
    assert torch.equal(
        MIXTURE.sample(5, torch.Generator().manual_seed(1)),
        MIXTURE.sample(5, torch.Generator().manual_seed(1)),
    )


# --- GAN: D* and the value --------------------------------------------------------------------------


@pytest.mark.parametrize(("p_data", "p_g"), PAIRS)
def test_value_at_optimal_discriminator_is_two_jsd_minus_log4(p_data, p_g):
    value = theory.gan_value(theory.optimal(p_data, p_g), p_data, p_g)
    jsd = theory.jensen_shannon(p_data, p_g)
    assert 0 < jsd < math.log(2)
    assert value == pytest.approx(2 * jsd - math.log(4), abs=1e-6)


def test_same_density_gives_minus_log4_and_one_half():
    x = theory.quadrature_grid(MIXTURE)
    np.testing.assert_allclose(theory.optimal_discriminator(MIXTURE, MIXTURE, x), 0.5, atol=1e-15)
    assert theory.gan_value(theory.optimal(MIXTURE, MIXTURE), MIXTURE, MIXTURE) == pytest.approx(
        -math.log(4), abs=1e-9
    )
    assert theory.jensen_shannon(MIXTURE, MIXTURE) == pytest.approx(0.0, abs=1e-9)


def test_disjoint_densities_give_jsd_log2_and_value_zero():
    far = theory.normal(40.0, 1.0)  # no overlap: D* is 1 on the data and 0 on the samples
    assert theory.jensen_shannon(P_DATA, far) == pytest.approx(math.log(2), abs=1e-6)
    assert theory.gan_value(theory.optimal(P_DATA, far), P_DATA, far) == pytest.approx(0.0, abs=1e-6)


def test_optimal_discriminator_is_the_density_ratio():
    x = np.array([-1.0, 0.0, 0.75, 2.0])
    p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1.5, 0.7)
    np.testing.assert_allclose(theory.optimal_discriminator(P_DATA, P_G, x), p / (p + q), rtol=1e-12)
    np.testing.assert_allclose(theory.optimal(P_DATA, P_G)(x), p / (p + q), rtol=1e-12)


@pytest.mark.parametrize(("p_data", "p_g"), PAIRS)
def test_negative_controls_any_other_discriminator_scores_below_optimal(p_data, p_g):
    best = theory.gan_value(theory.optimal(p_data, p_g), p_data, p_g)
    jsd = theory.jensen_shannon(p_data, p_g)
    # D = ½ scores −log 4 whatever G is, 2·JSD below the optimum.
    half = theory.gan_value(lambda x: np.full_like(x, 0.5), p_data, p_g)
    assert half == pytest.approx(-math.log(4), abs=1e-9)
    assert best - half == pytest.approx(2 * jsd, abs=1e-6)
    assert best - half > 0.1
    # The labels swapped, D = p_G / (p_data + p_G), and D* with its logit shifted: all strictly worse.
    swapped = theory.Discriminator1D(lambda x: -theory.optimal_discriminator_logit(p_data, p_g, x))
    shifted = theory.Discriminator1D(lambda x: theory.optimal_discriminator_logit(p_data, p_g, x) + 0.3)
    assert theory.gan_value(swapped, p_data, p_g) < best - 0.1
    assert theory.gan_value(shifted, p_data, p_g) < best - 1e-3


def test_value_loss_is_the_bernoulli_kl():
    """V(D*) − V(D) = ∫ (p_data + p_G) KL(Bern(D*) || Bern(D)) for a D that is not D*."""
    x = theory.quadrature_grid(P_DATA, MIXTURE)
    star_logit = theory.optimal_discriminator_logit(P_DATA, MIXTURE, x)
    other = theory.Discriminator1D(lambda x: np.tanh(x) + 0.2 * x)
    kl = theory.bernoulli_kl(theory.optimal_discriminator(P_DATA, MIXTURE, x), star_logit, other.logit(x))
    mass = np.exp(P_DATA.log_prob(x)) + np.exp(MIXTURE.log_prob(x))
    loss = theory.gan_value(theory.optimal(P_DATA, MIXTURE), P_DATA, MIXTURE) - theory.gan_value(
        other, P_DATA, MIXTURE
    )
    assert loss > 0.05
    assert loss == pytest.approx(np.trapezoid(mass * kl, x), rel=1e-9)


# --- GAN: a trained discriminator -------------------------------------------------------------------


def test_trained_discriminator_approaches_optimal(trained):
    # Measured: mean 0.003, max 0.03 on the region where ½(p_data + p_G) is >= 1% of its peak.
    assert trained["mean_abs_error"] < 0.01
    assert trained["max_abs_error"] < 0.1
    assert abs(trained["identity_gap"]) < 1e-6


def test_optimal_discriminator_maximises_the_value(trained):
    # Measured loss V(D*) − V(D) ≈ 1.5e-4; it is a KL, so never negative.
    assert trained["value_trained"] <= trained["value_optimal"] + 1e-12
    assert trained["value_loss"] < 2e-3
    assert trained["value_loss"] == pytest.approx(trained["value_loss_bernoulli_kl"], rel=1e-9, abs=1e-15)


def test_untrained_discriminator_fails_the_tolerance():
    """Negative control for the tolerance above: the same network with no training is far from D*."""
    untrained = theory.train_discriminator(P_DATA.sample, P_G.sample, steps=0, seed=0)
    x = theory.quadrature_grid(P_DATA, P_G)
    m = np.exp(P_DATA.log_prob(x)) + np.exp(P_G.log_prob(x))
    error = np.abs(untrained(x) - theory.optimal_discriminator(P_DATA, P_G, x))
    assert (error * m).sum() / m.sum() > 0.05


# --- VAE: the ELBO identity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latent_dim", "data_dim", "seed"), [(1, 1, 0), (3, 5, 1), (10, 50, 2), (20, 30, 3), (8, 4, 4)]
)
def test_elbo_plus_kl_is_log_marginal(latent_dim, data_dim, seed):
    result = theory.check_elbo_identity(latent_dim, data_dim, seed)
    assert abs(result["gap"]) < 1e-9
    assert result["kl"] > 0
    assert result["elbo"] < result["log_px"]
    assert abs(result["mc_z"]) < 4  # Monte Carlo within 4 standard errors of the closed form


def test_closed_forms_match_independent_computations():
    rng = np.random.default_rng(5)
    model = theory.random_linear_gaussian(4, 6, rng)
    _, x = model.sample(rng)
    covariance = model.W @ model.W.T + model.sigma**2 * np.eye(6)
    log_px = model.log_marginal(x)
    assert log_px == pytest.approx(scipy.stats.multivariate_normal(model.b, covariance).logpdf(x), abs=1e-10)
    # Bayes' rule for any z: log p(x) = log p(x | z) + log p(z) − log p(z | x).
    m, S = model.posterior(x)
    for z in rng.standard_normal((3, 4)):
        log_joint = model.log_likelihood(x, z) + scipy.stats.multivariate_normal(np.zeros(4)).logpdf(z)
        assert log_px == pytest.approx(log_joint - scipy.stats.multivariate_normal(m, S).logpdf(z), abs=1e-9)


def test_elbo_is_a_lower_bound_tight_at_the_exact_posterior():
    rng = np.random.default_rng(6)
    model = theory.random_linear_gaussian(3, 7, rng, orthogonal=True)
    _, x = model.sample(rng)
    m, S = model.posterior(x)
    np.testing.assert_allclose(S - np.diag(np.diag(S)), 0.0, atol=1e-12)  # W's columns orthogonal
    exact_s = np.sqrt(np.diag(S))
    log_px = model.log_marginal(x)
    assert model.kl_to_posterior(x, m, exact_s) == pytest.approx(0.0, abs=1e-12)
    assert model.elbo(x, m, exact_s) == pytest.approx(log_px, abs=1e-10)
    for _ in range(5):  # any other q is strictly below
        mu, s = m + 0.3 * rng.standard_normal(3), exact_s * np.exp(0.3 * rng.standard_normal(3))
        assert model.elbo(x, mu, s) < log_px - 1e-6


def test_correlated_posterior_keeps_a_gap_for_any_diagonal_q():
    rng = np.random.default_rng(7)
    model = theory.random_linear_gaussian(3, 5, rng)
    _, x = model.sample(rng)
    m, _ = model.posterior(x)
    # The best diagonal Gaussian (mean field) has 1 / s² = diag of the posterior precision.
    mean_field_s = 1.0 / np.sqrt(np.diag(model.posterior_precision()))
    kl = model.kl_to_posterior(x, m, mean_field_s)
    assert kl > 1e-4
    assert model.log_marginal(x) - model.elbo(x, m, mean_field_s) == pytest.approx(kl, abs=1e-10)


def test_monte_carlo_detects_a_wrong_closed_form():
    """Negative control: an ELBO that forgets the spread term Σ s_j² ||W_j||² is many standard errors off."""
    rng = np.random.default_rng(8)
    model = theory.random_linear_gaussian(3, 5, rng)
    _, x = model.sample(rng)
    m, S = model.posterior(x)
    s = np.sqrt(np.diag(S))
    spread = float((s**2 * (model.W**2).sum(0)).sum())
    wrong = model.elbo(x, m, s) + 0.5 * spread / model.sigma**2
    mc, stderr = model.monte_carlo_elbo(x, m, s, 20_000, rng)
    assert abs(mc - model.elbo(x, m, s)) < 4 * stderr
    assert abs(mc - wrong) > 10 * stderr


# --- binary models: parameter counts ----------------------------------------------------------------


def test_parameter_counts():
    assert [theory.full_joint_parameters(n) for n in (1, 2, 3, 10)] == [1, 3, 7, 1023]
    assert [theory.independent_parameters(n) for n in (1, 2, 3, 10)] == [1, 2, 3, 10]
    assert [theory.markov_parameters(n) for n in (1, 2, 3, 10)] == [1, 3, 5, 19]
    for n in range(1, 9):
        # A table over every outcome, less one for normalisation.
        assert theory.full_joint_parameters(n) == len(list(itertools.product((0, 1), repeat=n))) - 1
        # The chain rule with full context (order n − 1) is the full joint; order 0 is independence.
        assert theory.markov_parameters(n, order=n - 1) == theory.full_joint_parameters(n)
        assert theory.markov_parameters(n, order=0) == theory.independent_parameters(n)
    with pytest.raises(ValueError):
        theory.full_joint_parameters(0)


def test_parameter_counts_match_the_models():
    shape = (1, 3, 4)
    n = 12
    assert genmodels.create(
        "independent", image_shape=shape
    ).num_parameters() == theory.independent_parameters(n)
    for k in (1, 2, 3):
        model = genmodels.create("markov", image_shape=shape, order=k)
        assert model.num_parameters() == theory.markov_parameters(n, order=k)
