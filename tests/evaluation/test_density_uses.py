"""Density uses on hand-made models and data: anomaly scores and AUROC, Bayes classification, scores CSV."""

import csv
import json
import math

import pytest
import torch
from typer.testing import CliRunner

import genmodels
from genmodels.cli import app
from genmodels.data import ImageSet, View
from genmodels.evaluation.anomaly import anomaly_scores, compressed_length_nats, detection_report
from genmodels.evaluation.classify import bayes_classify


def _independent(probabilities, num_classes=0):
    """An independent-pixel model with the given p(x_i = 1) (per class when conditional)."""
    probabilities = torch.as_tensor(probabilities, dtype=torch.float32)
    model = genmodels.create(
        "independent", image_shape=(1, 1, probabilities.shape[-1]), num_classes=num_classes
    )
    with torch.no_grad():
        logits = torch.logit(probabilities)
        if num_classes:
            model.theta.zero_()
            model.class_bias.embedding.weight.copy_(logits)
        else:
            model.theta.copy_(logits)
    return model.eval()


def test_compressed_length_orders_simple_below_complex():
    flat = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    noise = torch.randint(
        0, 256, (1, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    flat_length, noise_length = compressed_length_nats(torch.cat([flat, noise]))
    assert flat_length < noise_length / 5


def test_detection_report_on_a_known_model():
    """In-distribution: pixels mostly 0; out: pixels mostly 1. The NLL separates them perfectly."""
    model = _independent([0.1] * 6)
    ones = torch.ones(50, 1, 1, 6, dtype=torch.uint8) * 255
    zeros = torch.zeros(50, 1, 1, 6, dtype=torch.uint8)
    report = detection_report(
        model, ImageSet(zeros, None, "in"), [ImageSet(ones, None, "out")], View("static")
    )
    row = report["results"][0]
    assert row["nll"]["auroc"] == 1.0 and "warning" not in row
    assert row["mean_nll_in"] == pytest.approx(-6 * math.log(0.9), rel=1e-5)
    # Swap the roles: the out-of-distribution set is now the likelier one, and the report says so.
    report = detection_report(
        model, ImageSet(ones, None, "in"), [ImageSet(zeros, None, "out")], View("static")
    )
    assert report["results"][0]["nll"]["auroc"] == 0.0 and "prefers out" in report["results"][0]["warning"]


def _rows(pixels, n, name):
    """n copies of one binary image of len(pixels) pixels."""
    image = torch.tensor(pixels, dtype=torch.uint8).view(1, 1, 1, -1) * 255
    return ImageSet(image.repeat(n, 1, 1, 1), None, name)


def test_likelihood_ratio_keeps_what_the_background_model_does_not_explain():
    """Pixels 0-3 are background, 4-5 content. In-distribution images have a busy background and both
    content pixels on; the anomalies a blank background and one content pixel. The model prefers the
    anomalies (a blank background is likely); the background model knows the background as well but
    not the content (½ each), so −log p(x) + log p_background(x) keeps the content terms only, and
    ranks the anomalies first, where a sign error in either term would rank them last."""
    model = _independent([0.3] * 4 + [0.9, 0.9])
    background = _independent([0.3] * 4 + [0.5, 0.5])
    inside, outside = _rows([1, 1, 1, 0, 1, 1], 20, "in"), _rows([0, 0, 0, 0, 1, 0], 20, "out")
    expected = {
        "in": -2 * math.log(0.9) + 2 * math.log(0.5),
        "out": -math.log(0.9) - math.log(0.1) + 2 * math.log(0.5),
    }
    for data in (inside, outside):
        ratio = anomaly_scores(model, data, View("static"), background)["likelihood_ratio"]
        assert ratio.tolist() == pytest.approx([expected[data.name]] * 20, rel=1e-5)
    row = detection_report(model, inside, [outside], View("static"), background)["results"][0]
    assert row["nll"]["auroc"] == 0.0 and "prefers out" in row["warning"]
    assert row["likelihood_ratio"]["auroc"] == 1.0


def test_bayes_classifier_recovers_classes_of_a_known_model():
    model = _independent([[0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9]], num_classes=2)
    images = (
        torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 1]], dtype=torch.uint8).view(3, 1, 1, 4) * 255
    )
    report = bayes_classify(model, ImageSet(images, torch.tensor([0, 1, 0]), "toy"), View("static"))
    assert report["accuracy"] == 1.0 and report["confusion"] == [[2, 0], [0, 1]]
    # A strong prior for class 1 flips the ambiguous-looking third image only if it outweighs the likelihood.
    skewed = bayes_classify(
        model,
        ImageSet(images, torch.tensor([0, 1, 0]), "toy"),
        View("static"),
        torch.tensor([1e-6, 1 - 1e-6]),
    )
    assert skewed["accuracy"] < 1.0


def test_score_detect_classify_commands(tmp_path):
    run = tmp_path / "run"
    common = [
        "--data",
        "digits[classes=0-8]",
        "--preset",
        "none",
        "--steps",
        "30",
        "--batch-size",
        "50",
        "--no-progress",
    ]
    assert (
        CliRunner()
        .invoke(app, ["train", "fvsbn", *common, "--set", "num_classes=10", "--out", str(run)])
        .exit_code
        == 0
    )
    result = CliRunner().invoke(
        app, ["score", str(run), "--data", "digits", "--out", str(tmp_path / "s.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == 297
    assert float(rows[0]["bits_per_dim"]) == pytest.approx(
        float(rows[0]["nll_nats"]) / (64 * math.log(2)), abs=1e-5
    )
    result = CliRunner().invoke(
        app,
        ["detect", str(run), "--in-data", "digits[classes=0-8]", "--out-data", "digits[classes=9]", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["results"][0]) >= {"nll", "complexity", "out_data"}
    result = CliRunner().invoke(app, ["classify", str(run), "--data", "digits", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (
        report["prior"][9] == 0.0 and report["per_class_accuracy"][9] == 0.0
    )  # class 9 was never trained on
