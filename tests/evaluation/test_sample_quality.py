"""The sample-quality metrics: known answers on Gaussian features, the class histogram and its
warning, the shipped digit classifier (its file matches its recorded accuracy), feature networks
from a run folder or a local TorchScript file, and the `evaluate` report of a sampling model."""

import json

import pytest
import torch

import genmodels
from genmodels.data import View
from genmodels.evaluation.features import SHIPPED_DIGIT_CLASSIFIER, FeatureNetwork, load_feature_network
from genmodels.evaluation.sample_quality import compare_features, image_quality, real_images


def _gaussian(n, d, shift, seed):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_frechet_distance_of_gaussians_is_the_squared_mean_shift():
    # Equal covariances: FD = ||μ_r − μ_g||² exactly; estimated from 4,000 samples in 4-D.
    real, fake = _gaussian(4000, 4, 0.0, 0), _gaussian(4000, 4, 1.0, 1)
    scores = compare_features(real, fake, kid_subsets=10)
    assert scores["fd"] == pytest.approx(4.0, rel=0.06)
    same = compare_features(real, _gaussian(4000, 4, 0.0, 2), kid_subsets=10)
    assert same["fd"] < 0.02
    assert abs(same["kid"]) < 0.02 * scores["kid"]  # unbiased: ~0 up to sampling noise
    # Precision/recall/density/coverage: near 1 for the same distribution, low for a shifted one.
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.9
    far = compare_features(real, _gaussian(4000, 4, 3.0, 3), kid_subsets=10)
    assert far["precision"] < 0.3 and far["recall"] < 0.3 and far["coverage"] < 0.3


def test_too_few_images_for_the_nearest_neighbours_is_a_clear_error():
    with pytest.raises(ValueError, match=r"more than 5 real images and samples .* got 4 and 100"):
        compare_features(_gaussian(4, 4, 0.0, 0), _gaussian(100, 4, 0.0, 1))


def test_kid_subsets_come_from_the_seed():
    # The same features and seed give the same KID to the last digit, whatever the global generator
    # holds; another seed draws other subsets (subsets of 150 from 300).
    real, fake = _gaussian(300, 4, 0.0, 0), _gaussian(300, 4, 0.5, 1)
    torch.manual_seed(1)
    first = compare_features(real, fake, kid_subsets=5, seed=3)
    torch.manual_seed(2)
    again = compare_features(real, fake, kid_subsets=5, seed=3)
    assert (first["kid"], first["kid_std"]) == (again["kid"], again["kid_std"])
    other = compare_features(real, fake, kid_subsets=5, seed=4)
    assert other["kid"] != first["kid"] and other["kid_std"] != first["kid_std"]
    assert (first["kid_subsets"], first["kid_subset_size"], first["kid_seed"]) == (5, 150, 3)
    # The caller's generator is left where it was.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    compare_features(real, fake, kid_subsets=5, seed=3)
    assert torch.equal(torch.rand(3), expected)


def _toy_network():
    """Features: the mean brightness of the left and right halves; class: 1 if the left is brighter."""

    def extract(x):
        return torch.stack([x[..., :2].mean((1, 2, 3)), x[..., 2:].mean((1, 2, 3))], 1)

    return FeatureNetwork(
        name="toy",
        score_name="FD-toy",
        extract=extract,
        image_shape=(1, 4, 4),
        predict=lambda x: (extract(x)[:, 0] > extract(x)[:, 1]).long(),
        num_classes=2,
    )


def test_class_histogram_and_the_warning_when_modes_go_missing():
    g = torch.Generator().manual_seed(0)
    left, right = torch.zeros(200, 1, 4, 4), torch.zeros(200, 1, 4, 4)
    left[..., :2] = torch.rand(200, 1, 4, 2, generator=g)
    right[..., 2:] = torch.rand(200, 1, 4, 2, generator=g)
    real = torch.cat([left, right])
    collapsed = image_quality(real, right, _toy_network(), kid_subsets=5)  # right half bright: class 0
    assert collapsed["class_histogram"] == [1.0, 0.0] and collapsed["real_class_histogram"] == [0.5, 0.5]
    assert collapsed["classes_covered"] == 1 and "missing" in collapsed["warnings"][0]
    assert collapsed["n_real"] == 400 and collapsed["n_fake"] == 200 and collapsed["feature_network"] == "toy"
    full = image_quality(real, real.flip(0), _toy_network(), kid_subsets=5)
    assert full["classes_covered"] == 2 and "warnings" not in full
    assert full["fd"] < collapsed["fd"]
    with pytest.raises(ValueError, match="takes images"):
        image_quality(torch.zeros(4, 1, 3, 3), torch.zeros(4, 1, 3, 3), _toy_network())


def test_the_shipped_digit_classifier_is_what_its_provenance_says():
    provenance = json.loads((SHIPPED_DIGIT_CLASSIFIER / "provenance.json").read_text())
    size = sum(f.stat().st_size for f in SHIPPED_DIGIT_CLASSIFIER.iterdir())
    assert size < 1_000_000
    network = load_feature_network(None)
    data = provenance["trained_on"].split()[0]  # mnist-full (its 10,000 test digits) or mnist
    test = genmodels.load_dataset(data, "test")
    assert len(test) == provenance.get("test_digits", len(test))
    images = real_images(test, View("unit"))
    accuracy = (network.classify(images) == test.labels).double().mean().item()
    assert accuracy == pytest.approx(provenance["test_accuracy"], abs=1e-9)
    assert accuracy >= 0.99  # issue 15: at least 99% on mnist-full's test digits
    assert network.features(images[:5]).shape == (5, 128)
    # Padded digits (e.g. Progressive GAN's 32x32) are cropped back to the network's 28x28.
    padded = torch.nn.functional.pad(images[:50], (2, 2, 2, 2))
    assert torch.equal(network.classify(padded), network.classify(images[:50]))
    with pytest.raises(ValueError, match="train a `classifier`"):
        network.features(torch.zeros(2, 1, 8, 8))


def test_real_digits_against_themselves_and_against_noise():
    network = load_feature_network(None)
    images = real_images(genmodels.load_dataset("mnist", "test"), View("unit"))
    halves = image_quality(images[:500], images[500:], network, kid_subsets=10)
    noise = image_quality(images[:500], torch.rand(500, 1, 28, 28), network, kid_subsets=10)
    assert halves["fd"] < 0.05 * noise["fd"]
    assert halves["precision"] > 0.8 and halves["recall"] > 0.8 and halves["coverage"] > 0.8
    # Noise lands in one tight clump of feature space: no recall, no coverage, one "class". (Its
    # precision can be high: the clump may sit inside a real point's k-NN ball, a known blind spot.)
    assert noise["recall"] < 0.05 and noise["coverage"] < 0.1
    assert halves["classes_covered"] == 10 and noise["classes_covered"] < 3 and noise["warnings"]


def test_inception_is_a_local_torchscript_file_only(tmp_path):
    class Pool(torch.nn.Module):
        def forward(self, x):
            assert x.shape[1:] == (3, 299, 299)
            return x.mean((2, 3))

    torch.jit.script(Pool()).save(str(tmp_path / "inception.pt"))
    network = load_feature_network(f"inception:{tmp_path / 'inception.pt'}")
    assert network.score_name == "FID" and network.predict is None
    assert torch.allclose(network.features(torch.ones(2, 1, 28, 28)), torch.full((2, 3), 255.0))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_feature_network(f"inception:{tmp_path / 'missing.pt'}")


def test_evaluate_reports_sample_quality_for_a_gan_and_nll_too_for_a_density(tmp_path):
    from typer.testing import CliRunner

    from genmodels.cli import app

    quiet = {"progress": False, "tensorboard": False, "num_samples": 0, "log_every": 10}
    genmodels.train("gan", "mnist", preset="cpu", steps=20, batch_size=32, out=tmp_path / "gan", **quiet)
    genmodels.train(
        "vae", "mnist", preset=None, config={"hidden": (32,), "latent_dim": 4}, steps=20, batch_size=32,
        out=tmp_path / "vae", **quiet,
    )  # fmt: skip
    reports = {}
    for name in ("gan", "vae"):
        result = CliRunner().invoke(
            app, ["evaluate", str(tmp_path / name), "--samples", "200", "--k", "5", "--json"]
        )
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(result.stdout)
    gan, vae = reports["gan"]["sample_quality"], reports["vae"]["sample_quality"]
    assert "nll_nats" not in reports["gan"] and reports["vae"]["nll_nats"] > 0
    for quality in (gan, vae):
        assert quality["score_name"] == "FD-digits" and quality["n_fake"] == 200 and quality["n_real"] == 1000
        assert quality["fd"] > 0 and len(quality["class_histogram"]) == 10
    assert "grey levels in [-1, 1]" in gan["real"] and "thresholded" in vae["real"]


def test_an_attribute_classifier_gives_features_but_no_class_histogram(tmp_path):
    import genmodels
    from genmodels.evaluation.features import load_feature_network
    from genmodels.evaluation.sample_quality import image_quality
    from genmodels.io import save_model

    model = genmodels.create(
        "classifier", image_shape=(3, 8, 8), target="attributes", attribute_names=("thick", "red")
    )
    save_model(model, tmp_path / "judge")
    network = load_feature_network(tmp_path / "judge")
    assert network.predict is None and network.num_classes is None
    result = image_quality(torch.rand(40, 3, 8, 8), torch.rand(40, 3, 8, 8), network)
    assert "fd" in result and "class_histogram" not in result
