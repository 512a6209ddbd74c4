"""The VAE's mathematics, checked numerically: the closed-form KL, the importance-weighted bound's
ordering, and the identity log p(x) = ELBO + KL(q || posterior) on a model with a known p(x)."""

import math

import pytest
import torch

import genmodels
from genmodels.data import View
from genmodels.models.latent.vae import diagonal_gaussian_log_prob, gaussian_kl_to_standard
from tests.conftest import TINY_VAE


def test_closed_form_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5) * 0.5
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 3, 5)
    log_q = diagonal_gaussian_log_prob(z, mu, logvar)
    log_p = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    monte_carlo = (log_q - log_p).mean(0)
    torch.testing.assert_close(gaussian_kl_to_standard(mu, logvar), monte_carlo, rtol=0.02, atol=0.02)


@pytest.fixture(scope="module")
def trained_digits_vae(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae")
    genmodels.train(
        "vae",
        "digits",
        preset=None,
        config=TINY_VAE,
        steps=150,
        batch_size=64,
        out=run,
        progress=False,
        tensorboard=False,
        num_samples=0,
        checkpoint_every=0,
    )
    return genmodels.load(run), genmodels.load_dataset("digits", "test")


def test_importance_weighted_bound_rises_with_k_above_the_elbo(trained_digits_vae):
    model, data = trained_digits_vae
    x = View("static")(data.images[:200])
    torch.manual_seed(0)
    bounds = [model.log_prob(x, k=k).mean().item() for k in (1, 10, 100, 1000)]
    torch.manual_seed(1)
    elbo = model.elbo_terms(x)["elbo"].mean().item()
    assert abs(bounds[0] - elbo) < 1.0  # L_1 is the ELBO (two independent one-sample estimates)
    assert bounds == sorted(bounds), bounds
    assert bounds[-1] - bounds[0] > 0.1  # a real gap, not noise (it is about 0.3 nats here)


def test_bound_matches_its_formula_and_does_not_depend_on_chunking(trained_digits_vae):
    model, data = trained_digits_vae
    x = View("static")(data.images[:7])
    torch.manual_seed(3)
    bound = model.log_prob(x, k=64, chunk=64)
    # The same 64 draws, written out: L_k = logsumexp_i [log p(x|z_i) + log p(z_i) − log q(z_i|x)] − log k.
    torch.manual_seed(3)
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(64, *mu.shape)
        log_px_z = torch.stack([model.likelihood.log_prob(model.logits(zi), x) for zi in z])
        log_w = log_px_z + model.prior.log_prob(z) - diagonal_gaussian_log_prob(z, mu, logvar)
    torch.testing.assert_close(bound, torch.logsumexp(log_w, 0) - math.log(64), rtol=1e-5, atol=1e-4)
    # Chunks of one sample (a running logsumexp over 2,000 chunks) estimate the same bound.
    torch.manual_seed(4)
    unchunked = model.log_prob(x, k=2000, chunk=2000)
    chunked = model.log_prob(x, k=2000, chunk=1)
    torch.testing.assert_close(unchunked, chunked, rtol=0, atol=0.1)


def test_vae_elbo_gap_is_the_posterior_kl_on_a_tiny_model():
    """On 3 binary pixels with a 1-d latent, log p(x) is computable by quadrature over z:
    log p(x) − ELBO(x) = KL(q || p(z|x)) ≥ 0, and L_k approaches log p(x) as k grows."""
    torch.manual_seed(0)
    model = genmodels.create("vae", image_shape=(1, 1, 3), hidden=(8,), latent_dim=1)
    z = torch.linspace(-8, 8, 4001).unsqueeze(1)
    dz = (z[1] - z[0]).item()
    images = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)]).view(
        8, 1, 1, 3
    )
    with torch.no_grad():
        logits = model.logits(z)
        log_px_z = torch.stack([model.likelihood.log_prob(logits, x.expand(len(z), 1, 1, 3)) for x in images])
        log_px = torch.logsumexp(log_px_z + model.prior.log_prob(z), dim=1) + math.log(dz)
    assert abs(torch.logsumexp(log_px, 0).item()) < 1e-3  # p(x) sums to 1 over the 8 images
    torch.manual_seed(1)
    elbo = model.elbo_terms(images.repeat(2000, 1, 1, 1))["elbo"].view(2000, 8).mean(0)
    large_k = model.log_prob(images, k=20000)
    assert (log_px - elbo > -0.02).all()  # the gap is a KL: never negative
    torch.testing.assert_close(large_k, log_px, atol=0.02, rtol=0)


def test_sample_decode_shapes_and_ranges():
    model = genmodels.create("vae", image_shape=(1, 8, 8), **TINY_VAE)
    draws = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (5, 1, 8, 8) and set(draws.unique().tolist()) <= {0.0, 1.0}
    means = model.decode(torch.zeros(2, 4))
    assert means.shape == (2, 1, 8, 8) and means.min() >= 0 and means.max() <= 1


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_256_level_decoder_and_conv_architecture(architecture):
    model = genmodels.create(
        "vae", image_shape=(1, 8, 8), levels=256, architecture=architecture, channels=(8, 8), **TINY_VAE
    )
    x = torch.randint(0, 256, (4, 1, 8, 8)).float() / 255
    terms = model.elbo_terms(x)
    assert terms["elbo"].shape == (4,) and torch.isfinite(terms["elbo"]).all()
    draws = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (3, 1, 8, 8)
    levels = (draws * 255).round()
    torch.testing.assert_close(draws * 255, levels)  # samples are on the 256-level grid
