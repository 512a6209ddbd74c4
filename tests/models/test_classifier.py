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
