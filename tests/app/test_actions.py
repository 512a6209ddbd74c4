"""The app's actions without a browser: what each shows is what the library computes, and every bad
request is answered with a message."""

import json
import math
import re
import shutil
import struct
import zlib

import pytest
import torch

import genmodels
from genmodels.app import RunCatalog, build_app, interpolate, sample, score, translate
from genmodels.data import DataError, View, to_uint8
from genmodels.data.user_images import read_image, read_images
from genmodels.viz import image_grid
from tests.app.conftest import BROKEN, RUNS


@pytest.fixture(scope="module")
def catalog(runs):
    return RunCatalog(runs)


def grid(images, kind, nrow=None):
    """What the app shows for a batch: the library's grid, 3x, as H x W for grey."""
    return image_grid(to_uint8(images, kind), nrow=nrow, scale=3).permute(1, 2, 0).numpy()[..., 0]


def test_lists_model_folders_but_not_checkpoints_and_refuses_other_names(catalog, runs):
    assert catalog.names() == RUNS
    for bad in ["../nade", "untrained", "nade/../vae", "/etc", ""]:
        image, message = sample(catalog, bad, 4, 0)
        assert image is None and message.startswith("**Error:**")


def test_opens_on_the_first_run_that_loads_and_lists_the_others_with_their_reason(runs):
    catalog = RunCatalog(runs)  # fresh: nothing tried yet
    assert catalog.names()[:3] == [*BROKEN, "nade"]
    assert catalog.first_loadable() == "nade"
    labels = {name: label for label, name in catalog.choices()}
    assert labels["nade"] == "nade" and labels["vae"] == "vae"
    assert labels["broken"].startswith("broken: cannot be loaded: broken/model.safetensors: not a readable")
    assert labels["halfway"].startswith("halfway: cannot be loaded: no weights yet")
    assert all(str(runs) not in label for label in labels.values())  # no server paths
    for name, reason in [
        ("broken", "cannot be loaded: broken/model.safetensors"),
        ("halfway", "no weights yet"),
    ]:
        picture, message = sample(catalog, name, 4, 0)
        assert picture is None and reason in message and str(runs) not in message
    # Nothing loads: nothing to open on.
    assert RunCatalog(runs / "broken").first_loadable() is None


def test_a_run_that_loads_again_loses_its_reason(runs, tmp_path):
    shutil.copytree(runs / "broken", tmp_path / "broken")
    catalog = RunCatalog(tmp_path)
    assert catalog.first_loadable() is None and "cannot be loaded" in catalog.choices()[0][0]
    shutil.copyfile(runs / "nade" / "model.safetensors", tmp_path / "broken" / "model.safetensors")
    shutil.copyfile(runs / "nade" / "config.json", tmp_path / "broken" / "config.json")
    assert catalog.first_loadable() == "broken" and catalog.choices() == [("broken", "broken")]


def test_controls_follow_capabilities_and_condition(catalog):
    nade, vae = catalog.controls("nade"), catalog.controls("vae")
    assert nade.labels == 10 and nade.density and not nade.interpolates
    assert vae.labels == 0 and vae.density and vae.interpolates and vae.samples
    assert catalog.controls("untrained/infogan").codes == (10, 2)
    assert catalog.controls("untrained/puzzlegan").patches == (3, 4)
    assert catalog.controls("untrained/text2image").text
    cyclegan, stargan = catalog.controls("untrained/cyclegan"), catalog.controls("untrained/stargan")
    assert (cyclegan.translates, cyclegan.targets, cyclegan.samples) == ("domain", ("thin", "thick"), False)
    assert (stargan.translates, stargan.targets) == ("attributes", ("thick", "invert"))
    assert "Trained 30 steps on digits/train" in catalog.describe("nade")


def test_tabs_follow_capabilities(catalog):
    """Translate only for translators, Score only for densities, Sample and Interpolate only where
    the model samples and has a latent space or a caption to move along."""
    expected = {  # Sample, Interpolate, Translate, Score
        "nade": (True, False, False, True),
        "vae": (True, True, False, True),
        "untrained/cyclegan": (False, False, True, False),
        "untrained/stargan": (False, False, True, False),
        "untrained/infogan": (True, True, False, False),
        "untrained/text2image": (True, True, False, False),
        "untrained/puzzlegan": (True, False, False, False),
    }
    for name, shown in expected.items():
        tabs = catalog.controls(name).tabs()
        assert list(tabs) == ["Sample", "Interpolate", "Translate", "Score"]
        assert tuple(tabs.values()) == shown, name


@pytest.fixture(scope="module")
def on_run(catalog):
    """The page's answer to choosing a run (and the tab the user is on), by element id."""
    page = build_app(catalog)
    choose = next(f for f in page.fns.values() if getattr(f.fn, "__name__", "") == "on_run")
    ids = ["about", "tabs", "current-tab", *(o.elem_id for o in choose.outputs[3:])]

    def run(name, current="Sample"):
        return dict(zip(ids, choose.fn(name, current), strict=True))

    return run


def test_the_page_shows_the_tabs_and_hint_of_the_chosen_run(on_run):
    shown = on_run("nade", "Score")  # nade scores: the user stays on Score
    assert shown["tabs"].selected == "Score" and shown["current-tab"] == "Score"
    assert [shown[f"{tab}-tab"]["visible"] for tab in ("sample", "interpolate", "translate", "score")] == [
        True,
        "hidden",
        "hidden",
        True,
    ]
    assert shown["translate-hint"]["visible"] is False
    # A broken run shows its reason and hides every tab; the next translator shows its hint again.
    shown = on_run("broken")
    assert "cannot be loaded" in shown["about"]
    assert all(
        shown[f"{tab}-tab"]["visible"] == "hidden" for tab in ("sample", "interpolate", "translate", "score")
    )
    assert shown["translate-hint"]["visible"] is False
    shown = on_run("untrained/cyclegan", "Score")  # cyclegan has no Score tab: go to Translate
    assert shown["tabs"].selected == "Translate" and shown["current-tab"] == "Translate"
    assert shown["translate-tab"]["visible"] is True and shown["score-tab"]["visible"] == "hidden"
    assert shown["translate-hint"] == {
        "__type__": "update",
        "visible": True,
        "value": "a domain (thin, thick)",
    }
    hint = on_run("untrained/stargan", "Translate")["translate-hint"]
    assert hint["visible"] is True and "attributes: thick, invert" in hint["value"]


def test_samples_are_the_models_draws_for_that_seed_and_class(catalog, runs):
    image, message = sample(catalog, "nade", 6, 5, False, "3")
    model = genmodels.load(runs / "nade")
    expected = model.sample(6, condition=3, generator=torch.Generator().manual_seed(5))
    assert (image == grid(expected, "static")).all(), message
    assert "seed 5" in message and "condition 3" in message
    again, _ = sample(catalog, "nade", 6, 5, False, "3")
    other, _ = sample(catalog, "nade", 6, 6, False, "3")
    assert (again == image).all() and not (other == image).all()


def test_caption_codes_and_patches_reach_the_model(catalog, images):
    _, message = sample(catalog, "untrained/text2image", 4, 0, False, None, "a thick seven")
    assert "condition 'a thick seven'" in message
    _, message = sample(catalog, "untrained/text2image", 4, 0, False, None, "  ")
    assert "draws from a caption" in message
    _, message = sample(catalog, "untrained/infogan", 4, 0, False, None, "", "7", "0.5, -1")
    assert "category 7" in message and "[0.5, -1.0]" in message
    for codes, problem in [(("12", ""), "category"), (("any", "1,2,3"), "2 continuous codes")]:
        _, message = sample(catalog, "untrained/infogan", 4, 0, False, None, "", *codes)
        assert message.startswith("**Error:**") and problem in message
    picture, message = sample(
        catalog, "untrained/puzzlegan", 4, 0, False, None, "", None, "", [images["patch"]] * 3
    )
    assert picture is not None, message
    _, message = sample(
        catalog, "untrained/puzzlegan", 4, 0, False, None, "", None, "", [images["patch"]] * 2
    )
    assert "upload 3 images" in message
    _, message = sample(catalog, "untrained/cyclegan", 4, 0)
    assert "does not sample" in message and "Translate" in message
    _, message = sample(catalog, "nade", 65, 0)
    assert "1 to 64" in message
    _, message = sample(catalog, "nade", 4, "seven")
    assert "whole number" in message


def test_interpolation_runs_between_the_two_seeds_latents(catalog, runs):
    image, message = interpolate(catalog, "vae", 3, 4, 5)
    model = genmodels.load(runs / "vae")
    start = model.draw_latent(1, torch.Generator().manual_seed(3))
    end = model.draw_latent(1, torch.Generator().manual_seed(4))
    path = torch.cat([start + t * (end - start) for t in torch.linspace(0, 1, 5)])
    assert (image == grid(model.decode(path), "static", nrow=5)).all(), message
    picture, message = interpolate(catalog, "untrained/infogan", 0, 1, 4)
    assert picture is not None, message
    picture, message = interpolate(catalog, "untrained/text2image", 0, 0, 4, "a thin one", "a thick seven")
    assert picture is not None and "to 'a thick seven'" in message
    assert "no latent space" in interpolate(catalog, "nade", 0, 1, 4)[1]


def test_translation_of_an_upload(catalog, runs, images):
    image, message = translate(catalog, "untrained/cyclegan", images["wide"], "thick")
    model = genmodels.load(runs / "untrained" / "cyclegan")
    x = read_images([images["wide"]], (1, 8, 8), View("symmetric"))  # resized to the model's size
    expected = torch.cat([x, model.translate(x, None, "thick")])
    assert (image == grid(expected, "symmetric", nrow=2)).all(), message
    assert translate(catalog, "untrained/stargan", images["digit"], "thick=1,invert=0")[0] is not None
    for target, problem in [
        ("bogus=1", "unknown attribute"),
        ("thick=yes", "expected name=0"),
        ("", "name a target"),
    ]:
        picture, message = translate(catalog, "untrained/stargan", images["digit"], target)
        assert picture is None and problem in message
    assert "does not translate" in translate(catalog, "vae", images["digit"], "thick")[1]


def numbers(message: str, label: str) -> tuple[float, float]:
    found = re.search(rf"{re.escape(label)}: (-?[\d.]+) vs threshold (-?[\d.]+)", message)
    return float(found[1]), float(found[2])


def test_score_is_the_exact_nll_and_the_verdict_uses_the_runs_threshold(catalog, runs, images):
    from genmodels.evaluation import per_image_log_prob
    from genmodels.evaluation.anomaly import anomaly_thresholds

    thresholds_file = runs / "nade" / "anomaly_thresholds.json"
    thresholds_file.unlink(missing_ok=True)
    image, message = score(catalog, "nade", images["digit"])
    model = genmodels.load(runs / "nade")
    x = View("static")(torch.from_numpy(read_image(images["digit"], (1, 8, 8)))[None])
    nll = -model.log_prob(x).item()
    assert f"−log p(x) = {nll:.2f} nats" in message and f"{nll / (64 * math.log(2)):.4f} bits/dim" in message
    assert "(exact)" in message and image.shape == (8 * 3 + 12, 8 * 3 + 12)
    # The thresholds: the 99th percentiles on the held-out digits, measured once and kept.
    kept = json.loads(thresholds_file.read_text())
    held_out = genmodels.load_dataset("digits", "test")
    assert kept["thresholds"] == anomaly_thresholds(model, held_out, View("static"))["thresholds"]
    assert kept["n"] == len(held_out) and "held-out digits/test" in message
    expected = torch.quantile(-per_image_log_prob(model, held_out, View("static")).double(), 0.99).item()
    assert kept["thresholds"]["nll"] == pytest.approx(expected)
    value, limit = numbers(message, "−log p(x)")
    assert ("**anomalous**" in message.split("\n")[1]) == (value > limit)
    # An image of nothing but ink is far from any digit: anomalous by −log p(x).
    ink = images["digit"].with_name("ink.png")
    from PIL import Image

    Image.new("L", (8, 8), 255).save(ink)
    _, message = score(catalog, "nade", ink)
    value, limit = numbers(message, "−log p(x)")
    assert value > limit and "**anomalous**" in message.split("\n")[1]
    stamp = thresholds_file.stat().st_mtime_ns
    score(catalog, "nade", images["noise"])
    assert thresholds_file.stat().st_mtime_ns == stamp  # reused, not measured again


def test_scores_of_a_bound_say_so(catalog, images):
    _, message = score(catalog, "vae", images["digit"])
    assert "upper bound" in message and "bits/dim" in message
    assert "no density" in score(catalog, "untrained/cyclegan", images["digit"])[1]


def png_header_only(path, width, height):
    """A PNG whose header claims width x height pixels, with no pixel data: a decompression bomb's shape."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_upload_errors_name_the_file_not_the_servers_path(catalog, images, tmp_path):
    """Gradio keeps an upload as <temporary folder>/<hash>/<its name>: only the name is shown."""
    upload = tmp_path / "gradio" / "0f3c9a" / "notes.png"
    upload.parent.mkdir(parents=True)
    shutil.copyfile(images["text"], upload)
    wide = upload.with_name("wide.png")
    shutil.copyfile(images["wide"], wide)
    messages = [
        score(catalog, "nade", upload)[1],
        translate(catalog, "untrained/cyclegan", upload, "thick")[1],
        sample(
            catalog, "untrained/puzzlegan", 4, 0, False, None, "", None, "", [images["patch"], upload, upload]
        )[1],
    ]
    for message in messages:
        assert message.startswith("**Error:** notes.png: not a readable image"), message
        assert str(tmp_path) not in message and "gradio" not in message
    message = score(catalog, "nade", wide)[1]
    assert message.startswith("**Error:** wide.png: the image is 20 x 30") and str(tmp_path) not in message


def test_bad_uploads_are_answered_with_a_message(catalog, images, tmp_path):
    cases = {
        images["text"]: "not a readable image",
        images["truncated"]: "not a readable image",
        images["wide"]: "the image is 20 x 30 pixels; this model takes 8 x 8",
        png_header_only(tmp_path / "big.png", 5000, 5000): "5000 x 5000 pixels is too large",
        png_header_only(tmp_path / "bomb.png", 60000, 60000): "too large an image",
        tmp_path / "missing.png": "cannot be read",
    }
    for path, problem in cases.items():
        picture, message = score(catalog, "nade", path)
        assert picture is None and problem in message, (path, message)
    assert "upload one image" in score(catalog, "nade", None)[1]
    with pytest.raises(DataError, match="too large for an image here"):
        read_image(images["digit"], (1, 8, 8), max_bytes=10)
    # After all that, the app still answers.
    assert score(catalog, "nade", images["digit"])[0] is not None


def test_the_zoo_opens_first_its_models_sample_as_loaded_and_its_folders_stay_unwritten(runs, tmp_path):
    from genmodels import zoo
    from genmodels.data.embedded import _cache_dir

    alone = RunCatalog(None, zoo=True)  # `genmodels serve` with no runs folder
    assert alone.names() == [f"zoo:{name}" for name in zoo.names()]
    assert alone.first_loadable() == f"zoo:{zoo.names()[0]}"
    both = RunCatalog(runs, zoo=True)
    assert both.names()[: len(zoo.names())] == alone.names() and "nade" in both.names()
    image, message = sample(both, "zoo:nade", 4, 2)
    expected = genmodels.load("zoo:nade").sample(4, generator=torch.Generator().manual_seed(2))
    assert (image == grid(expected, "static")).all(), message
    described = both.describe("zoo:nade")
    assert "mnist-full/train" in described and "785,284 parameters" in described
    assert "test NLL: **84.28** nats (paper: 88.86)" in described
    assert "Explicit density: exact log p(x)" in described and "$$\\mathbf{h}_i = \\sigma(" in described
    assert both.describe("untrained/text2image").count("Implicit model: samples, no density") == 1
    for bad in ["zoo:nothing", "zoo:../nade"]:
        picture, message = sample(both, bad, 4, 0)
        assert picture is None and message.startswith("**Error:**")
    # A zoo model's anomaly thresholds are kept in the user's cache, never in the package.
    before = sorted(p.name for p in (zoo.ZOO_ROOT / "markov").iterdir())
    kept = both.thresholds("zoo:markov")
    assert kept["thresholds"]["nll"] > 0 and (_cache_dir() / "zoo-thresholds" / "markov.json").is_file()
    assert sorted(p.name for p in (zoo.ZOO_ROOT / "markov").iterdir()) == before
