"""The Parzen-window log-likelihood: the kernel density's formula, its normalisation, the bandwidth
chosen on validation images, the kernels of a latent model (its decoder means), and `evaluate --parzen`."""

import json
import math

import pytest
import torch

import genmodels
from genmodels.evaluation.parzen import parzen_log_likelihood, parzen_samples, parzen_window


def _normal(n, d, scale, seed):
    return scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_log_density_is_the_mean_of_gaussian_kernels():
    samples, points = _normal(7, 3, 1.0, 0), _normal(5, 3, 1.0, 1)
    sigmas = [0.3, 1.2]
    got = parzen_log_likelihood(samples, points, sigmas, batch_size=2)  # batches of 2 points
    for row, sigma in enumerate(sigmas):
        kernel = torch.distributions.Normal(samples.double(), sigma)  # [7, 3]
        for j, x in enumerate(points.double()):
            expected = torch.logsumexp(kernel.log_prob(x).sum(1), 0) - math.log(len(samples))
            assert float(got[row, j]) == pytest.approx(float(expected), abs=1e-4)


def test_the_estimate_integrates_to_one():
    # In 1-D the density of 5 kernels, summed over a fine grid, is 1 (a Riemann sum).
    samples = torch.tensor([[0.1], [0.4], [0.45], [0.9], [-0.3]])
    grid = torch.linspace(-3, 4, 14_001).unsqueeze(1)
    density = parzen_log_likelihood(samples, grid, [0.05, 0.2]).exp()
    total = density.sum(1) * (grid[1, 0] - grid[0, 0])
    assert total.tolist() == pytest.approx([1.0, 1.0], abs=1e-4)


def test_bandwidth_is_the_best_on_validation_and_the_test_score_has_its_standard_error():
    # Samples and data from the same N(0, 0.5² I) in 2-D: the chosen σ is the grid's best on val,
    # and the test mean comes with std/√M; samples from the wrong distribution score lower.
    samples, val, test = _normal(2000, 2, 0.5, 0), _normal(500, 2, 0.5, 1), _normal(400, 2, 0.5, 2)
    sigmas = [0.02, 0.05, 0.1, 0.2, 0.4, 1.0, 3.0]
    result = parzen_window(samples, val, test, sigmas=sigmas)
    on_val = parzen_log_likelihood(samples, val, sigmas).mean(1)
    assert result["parzen_sigma"] == sigmas[int(on_val.argmax())]
    assert result["parzen_sigma"] not in (sigmas[0], sigmas[-1]) and "warnings" not in result
    on_test = parzen_log_likelihood(samples, test, [result["parzen_sigma"]])[0]
    assert result["parzen_log_likelihood"] == pytest.approx(float(on_test.mean()))
    assert result["parzen_standard_error"] == pytest.approx(float(on_test.std()) / math.sqrt(400))
    # The true density's mean log-likelihood is −log(2π·0.25) − 1 ≈ −1.45 nats: the estimate is near.
    assert result["parzen_log_likelihood"] == pytest.approx(-math.log(2 * math.pi * 0.25) - 1, abs=0.15)
    wrong = parzen_window(_normal(2000, 2, 0.5, 3) + 1.5, val, test, sigmas=sigmas)
    assert wrong["parzen_log_likelihood"] < result["parzen_log_likelihood"] - 0.5
    edge = parzen_window(samples, val, test, sigmas=[1.0, 2.0])
    assert "edge of the grid" in edge["warnings"][0]


def test_bad_shapes_and_bandwidths_are_refused():
    with pytest.raises(ValueError, match="must be"):
        parzen_log_likelihood(torch.zeros(3, 4), torch.zeros(2, 5), [0.1])
    with pytest.raises(ValueError, match="positive"):
        parzen_log_likelihood(torch.zeros(3, 4), torch.zeros(2, 4), [0.0])


def test_a_bernoulli_vae_centres_its_kernels_on_decoder_means_a_gan_on_its_samples(tmp_path):
    vae = genmodels.create("vae", image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    images, what = parzen_samples(vae, 30, seed=0)
    assert what.startswith("decoder means") and images.shape == (30, 1, 8, 8)
    # Grey levels, not binary draws: the means of p(x | z) for z ~ p(z), reproducible from the seed.
    assert ((images > 0.01) & (images < 0.99)).float().mean() > 0.5
    z = vae.draw_latent(30, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(images, vae.decode(z))
    gan = genmodels.create("gan", image_shape=(1, 8, 8), generator_hidden=(16,), discriminator_hidden=(16,))
    samples, what = parzen_samples(gan, 10, seed=0)
    assert what == "samples" and samples.min() >= 0 and samples.max() <= 1


def test_evaluate_parzen_reports_the_protocol_beside_the_number(tmp_path):
    from typer.testing import CliRunner

    from genmodels.cli import app

    quiet = {"progress": False, "tensorboard": False, "num_samples": 0, "log_every": 10}
    genmodels.train("gan", "digits", preset="cpu", steps=10, batch_size=32, out=tmp_path / "gan", **quiet)
    command = ["evaluate", str(tmp_path / "gan"), "--data", "digits", "--samples", "0", "--json"]
    result = CliRunner().invoke(app, [*command, "--parzen", "300"])
    assert result.exit_code == 0, result.output
    parzen = json.loads(result.stdout)["parzen"]
    assert parzen["n_samples"] == 300 and parzen["n_val"] == 500 and parzen["n_test"] > 0
    assert parzen["val"] == "digits/val, grey levels in [0, 1]" and parzen["kernels_on"] == "samples"
    assert math.isfinite(parzen["parzen_log_likelihood"]) and parzen["parzen_standard_error"] > 0
    refused = CliRunner().invoke(app, [*command, "--parzen", "300", "--parzen-val", "nope"])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1


def test_a_model_of_padded_digits_is_scored_in_the_digits_own_space(monkeypatch):
    """Samples of a model trained on padded images (28 -> 32) are cropped back to the data's size,
    so the number has the data's dimension; kept padded, every border pixel would add ~0.7 nats."""
    import torch.nn.functional as F

    import genmodels.evaluation.parzen as parzen
    from genmodels.data import View
    from genmodels.evaluation.sample_quality import real_images

    val, test = genmodels.load_dataset("digits", "val"), genmodels.load_dataset("digits", "test")
    digits = real_images(test, View("unit"))[:40]
    padded = F.pad(digits, (2, 2, 2, 2))  # a model that draws the test digits themselves, padded

    class PaddedModel:
        name = "padded"

        def capabilities(self):
            return {"sample"}

    monkeypatch.setattr(parzen, "parzen_samples", lambda model, n, seed: (padded, "samples"))
    scored = parzen.model_parzen_window(PaddedModel(), val, test, n_samples=40)
    expected = parzen_window(digits, real_images(val, View("unit")), real_images(test, View("unit")))
    assert scored["parzen_log_likelihood"] == pytest.approx(expected["parzen_log_likelihood"])
    assert scored["parzen_sigma"] == expected["parzen_sigma"]
