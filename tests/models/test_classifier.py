"""The evaluation network is a model like the others: trained by the one trainer, saved as a
model folder, and usable as the feature network of the sample-quality metrics."""

import json

import pytest
import torch

import genmodels
from genmodels.evaluation.features import load_feature_network
from genmodels.models.classifier import random_shift


def test_random_shift_moves_whole_images_within_the_bound():
    torch.manual_seed(0)
    x = torch.zeros(500, 1, 7, 7)
    x[:, :, 3, 3] = 1.0
    shifted = random_shift(x, 2)
    assert torch.equal(shifted.sum((1, 2, 3)), torch.ones(500))  # nothing lost inside the bound
    rows, cols = shifted[:, 0].nonzero()[:, 1], shifted[:, 0].nonzero()[:, 2]
    assert set(rows.tolist()) == set(range(1, 6)) and set(cols.tolist()) == set(range(1, 6))
    assert torch.equal(random_shift(x, 0), x)


def test_a_classifier_trains_and_serves_as_feature_network(tmp_path):
    run = tmp_path / "classifier"
    config = {"channels": (16, 16), "features": 32, "shift": 0, "dropout": 0.0, "lr": 3e-3}
    genmodels.train(
        "classifier", "digits", preset=None, config=config,
        steps=200, batch_size=64, out=run, log_every=25, progress=False, tensorboard=False,
    )  # fmt: skip
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [row["cross_entropy/loss"] for row in rows if "cross_entropy/loss" in row]
    assert losses[-1] < 0.3 * losses[0]
    network = load_feature_network(run)
    test = genmodels.load_dataset("digits", "test")
    images = test.images.float() / 255.0
    assert (network.classify(images) == test.labels).double().mean() > 0.8
    assert network.features(images).shape == (len(test), 32)
    assert not (run / "samples").exists() or not any((run / "samples").iterdir())
    with pytest.raises(TypeError, match="does not sample"):
        genmodels.load(run).sample(1)


def test_a_generative_run_is_refused_as_feature_network(tmp_path):
    from genmodels.io import ModelFolderError, save_model

    save_model(genmodels.create("gan", preset="cpu", image_shape=(1, 8, 8)), tmp_path / "gan")
    with pytest.raises(ModelFolderError, match="must be a `classifier` run"):
        load_feature_network(tmp_path / "gan")


# ----------------------------------------------------------------------------------------------
# Targets: digit labels (above), translation domains, binary attributes

SMALL = {"channels": (16, 16), "features": 32, "shift": 0, "dropout": 0.0, "lr": 3e-3}


def test_the_shipped_digit_classifier_loads_as_a_label_classifier():
    from genmodels.evaluation.features import SHIPPED_DIGIT_CLASSIFIER

    model = genmodels.load(SHIPPED_DIGIT_CLASSIFIER)
    assert model.config.target == "y" and model.config.num_classes == 10
    assert model.head.out_features == 10


def test_settings_from_data_name_every_target_and_the_target_picks():
    from genmodels.models.classifier import Classifier

    data = genmodels.load_dataset("digits[styles=thick/invert|red/green]", "test")
    settings = Classifier.settings_from_data(data)
    assert settings["class_names"] == tuple(str(d) for d in range(10))
    assert settings["attribute_names"] == ("thick", "invert", "red", "green")
    assert "domain_names" not in settings
    assert Classifier.make_config(None, **settings).num_classes == 10
    assert Classifier.make_config(None, target="attributes", **settings).num_classes == 4
    domains = Classifier.settings_from_data(genmodels.load_dataset("digits[domains=thin/thick]", "test"))
    assert Classifier.make_config(None, target="domain", **domains).label_names == ("thin", "thick")


def test_a_target_without_names_or_with_a_conflicting_size_is_refused():
    from genmodels.config import ConfigError

    with pytest.raises(ConfigError, match=r"target='domain' needs the names.*domain_names"):
        genmodels.create("classifier", target="domain")
    with pytest.raises(ConfigError, match="num_classes=3 but target='attributes' has 2 names"):
        genmodels.create("classifier", target="attributes", attribute_names=("a", "b"), num_classes=3)
    assert genmodels.create("classifier").config.num_classes == 10  # as before: the digits


def test_a_domain_classifier_learns_the_domains_quickly(tmp_path):
    run = tmp_path / "domains"
    genmodels.train(
        "classifier", "digits[domains=grey/red]", preset=None, config={**SMALL, "target": "domain"},
        steps=60, batch_size=64, out=run, log_every=20, progress=False, tensorboard=False,
    )  # fmt: skip
    model = genmodels.load(run).eval()
    assert model.config.num_classes == 2 and model.config.label_names == ("grey", "red")
    test = genmodels.load_dataset("digits[domains=grey/red]", "test")
    predicted = model.predict(test.images.float() / 255)
    assert (predicted == test.fields["domain"]).double().mean() > 0.95


def test_an_attribute_classifier_learns_with_unknown_entries(tmp_path):
    run = tmp_path / "attributes"
    name = "digits[styles=invert|red/green]"
    genmodels.train(
        "classifier", name, preset=None, config={**SMALL, "target": "attributes"},
        steps=100, batch_size=64, out=run, log_every=25, progress=False, tensorboard=False,
    )  # fmt: skip
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(
        torch.isfinite(torch.tensor(row["cross_entropy/loss"])) for row in rows if "cross_entropy/loss" in row
    )
    model = genmodels.load(run).eval()
    test = genmodels.load_dataset(name, "test")
    predicted = model.predict(test.images.float() / 255)
    assert predicted.shape == (len(test), 3) and set(predicted.unique().tolist()) <= {0.0, 1.0}
    targets = test.fields["attributes"]
    known = ~targets.isnan()
    assert ((predicted == targets) & known).sum() / known.sum() > 0.95


def test_the_attribute_loss_ignores_unknown_entries():
    model = genmodels.create(
        "classifier", image_shape=(1, 8, 8), target="attributes", attribute_names=("a", "b")
    )
    model.eval()
    x = torch.rand(6, 1, 8, 8)
    targets = torch.tensor([[1.0, float("nan")]] * 3 + [[float("nan"), 0.0]] * 3)
    loss, logs = model.cross_entropy({"x": x, "attributes": targets})
    logits = model(x)
    known = ~targets.isnan()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[known], targets[known], reduction="sum"
    ) / len(x)
    assert torch.isfinite(loss) and torch.allclose(loss, expected)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    right = ((logits > 0).float() == targets)[known].float().mean()
    assert torch.allclose(logs["accuracy"], right)
    with pytest.raises(ValueError, match="target='attributes' trains on data with the `attributes` field"):
        model.cross_entropy({"x": x, "y": torch.zeros(6, dtype=torch.long)})
