"""The `full` recipes of the reproduction table: what they promise (validation on `val`, never on
test; a time budget; snapshots for the curve), and that a run made with one is scored by the
literature's view on request."""

import json
import subprocess
import sys

import pytest

import genmodels
from genmodels.registry import model_classes

LIKELIHOOD_MODELS = ["independent", "markov", "fvsbn", "nade", "made", "vae", "pixelcnn", "pixelrnn"]


@pytest.mark.parametrize("name", LIKELIHOOD_MODELS)
def test_every_likelihood_model_has_a_full_recipe_that_stops_on_val(name):
    cls = model_classes()[name]
    assert "full" in cls.presets
    recipe = cls.recipes["full"]
    assert recipe["val_split"] == "val" and recipe["val_every"] > 0  # early stopping looks at val only
    assert recipe["view"] == "dynamic" and recipe["snapshot_every"] > 0
    # The table's budgets: an hour for the four targets and the baselines, two for the slow models.
    assert 0 < recipe["max_minutes"] <= (120 if name in ("pixelcnn", "pixelrnn") else 60)


SAMPLERS = ["gan", "dcgan", "infogan"]


@pytest.mark.parametrize("name", SAMPLERS)
def test_the_samplers_full_recipes_are_an_hour_with_snapshots_and_a_constant_rate(name):
    cls = model_classes()[name]
    cls.create("full")  # the preset builds
    recipe = cls.recipes["full"]
    assert recipe["max_minutes"] == 60 and recipe["snapshot_every"] > 0 and recipe["checkpoint_every"] > 0
    assert "lr_decay" not in recipe and "val_split" not in recipe  # as their papers: no schedule, no val loss


def test_a_full_recipe_run_validates_on_val_and_is_scored_stochastically(tmp_path):
    run = tmp_path / "run"
    genmodels.train(
        "independent",
        "digits",
        preset="full",
        steps=4,
        val_every=2,
        snapshot_every=2,
        out=run,
        progress=False,
    )
    described = json.loads((run / "train.json").read_text())
    assert described["data"]["val_split"] == "val" and described["val_data"] == "digits/val"
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [
        "step_0000002.safetensors",
        "step_0000004.safetensors",
    ]
    evaluate = [sys.executable, "-m", "genmodels.cli", "evaluate", str(run), "--data", "digits"]
    result = subprocess.run(
        [*evaluate, "--samples", "0", "--view", "stochastic:7", "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["view"] == "binarised once by Bernoulli of the grey level (seed 7)"
    # Without --view, a dynamically trained run is scored thresholded, and says so.
    default = subprocess.run([*evaluate, "--samples", "0", "--json"], capture_output=True, text=True)
    assert "thresholded" in json.loads(default.stdout)["view"]


@pytest.mark.parametrize("name", sorted(model_classes()))
def test_every_recipe_names_a_preset(name):
    """`genmodels train NAME --preset P` takes the network and the recipe of the same name: a
    recipe without its preset fails at once (as the digit classifier's `full` did)."""
    cls = model_classes()[name]
    assert set(cls.recipes) <= set(cls.presets), f"{name}: recipes without a preset"
