"""The lecture's demonstrations, called as the app calls them, on tiny runs trained here: each says
what the lecture says it should, and bad requests are answered with a message."""

import math
import re

import numpy as np
import pytest
import torch

import genmodels
from genmodels import lecture
from genmodels.app import RunCatalog
from genmodels.evaluation import theory
from genmodels.io import save_model
from tests.app.conftest import QUIET
from tests.models import test_infogan, test_puzzlegan, test_stargan

SMALL = {"steps": 40, "batch_size": 50, **QUIET}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> RunCatalog:
    root = tmp_path_factory.mktemp("lecture-runs")
    torch.manual_seed(0)
    for name, config in {
        "independent": {},
        "markov": {},
        "made": {"hidden": (32,)},
        "nade": {"hidden": 16, "num_classes": 10},
        "vae": {"hidden": (32,), "latent_dim": 2, "iw_samples": 10},
    }.items():
        genmodels.train(name, "digits", preset=None, config=config, out=root / name, **SMALL)
    tiny = {"steps": 2, "batch_size": 8, **QUIET}
    genmodels.train(
        "puzzlegan",
        test_puzzlegan.DIGITS,
        preset=None,
        config=test_puzzlegan.TINY,
        out=root / "puzzlegan",
        **tiny,
    )
    genmodels.train(
        "stargan",
        "digits[styles=thick/invert]",
        preset=None,
        config={**test_stargan.TINY, "image_shape": (1, 8, 8)},
        out=root / "stargan",
        **tiny,
    )
    save_model(genmodels.create("infogan", **test_infogan.DIGITS), root / "infogan")
    return RunCatalog(root)


def test_the_choosers_list_the_runs_that_can_show_each_idea(catalog):
    chosen = {key: lecture.runs_of(catalog, test) for key, test in lecture.CHOOSERS.items()}
    assert chosen["binary"] == ["independent", "made", "markov", "vae"]
    assert chosen["autoregressive"] == ["independent", "made", "markov", "nade"]
    assert chosen["class-conditional"] == ["nade"]
    assert chosen["elbo"] == chosen["encoder"] == ["vae"]
    assert chosen["codes"] == ["infogan"] and chosen["patches"] == ["puzzlegan"]
    assert chosen["translator"] == ["stargan"]


def test_chain_rule_counts_and_the_models_nll_of_one_digit(catalog):
    picture, text = lecture.chain_rule(catalog, ["independent", "markov", "made"], 8, 8, 3)
    assert picture is not None and picture.max() > 0
    assert "2^64 − 1" in text and "2n − 1 = 127" in text and "n = 64" in text
    data = genmodels.load_dataset("digits", "test")
    model = catalog.model("markov")
    x = genmodels.evaluation_view_of(catalog.folder("markov"), model)(data.images[3:4])
    nll = float(-model.log_prob(x).detach())
    assert f"| markov | 127 | {nll:.1f} |" in text  # the row is the model's own exact NLL
    # Counts alone need no models; a model of other images is refused.
    assert lecture.chain_rule(catalog, [], 2, 3, 0) == (None, lecture.chain_rule(catalog, [], 2, 3, 0)[1])
    assert "2^6 − 1 ≈ 10^2" in lecture.chain_rule(catalog, [], 2, 3, 0)[1]
    assert lecture.chain_rule(catalog, ["infogan"], 8, 8, 0)[1].startswith("**Error:** ")


def test_generation_frames_fill_in_the_models_order_and_end_on_its_sample(catalog):
    model = catalog.model("made")
    picture, text = lecture.generation(catalog, "made", 5, 4)
    sample = model.sample(1, generator=torch.Generator().manual_seed(5))
    frames = _cells(picture, 4)
    final = (sample[0, 0].numpy() * 255).astype(np.uint8)
    assert np.array_equal(frames[-1], final)  # the last frame is the sample itself
    order = list(model.generation_order())
    for count, frame in zip([16, 32, 48, 64], frames, strict=True):
        drawn = np.zeros((8, 8), bool)
        for _, row, column in order[:count]:
            drawn[row, column] = True
        assert np.array_equal(frame[drawn], final[drawn]) and (frame[~drawn] == 128).all()
    assert "each 16 of its 64 positions" in text


def test_completion_keeps_the_top_half(catalog):
    picture, text = lecture.completion(catalog, "markov", 2, 3, 0)
    cells = _cells(picture, 5)
    digit = cells[0]
    for completed in cells[2:]:
        assert np.array_equal(completed[:4], digit[:4])
    assert (cells[1][4:] == 128).all()  # the half it was given: the bottom hidden
    assert "3 completions" in text
    label = int(genmodels.load_dataset("digits", "test").labels[2])
    assert f"p(x_bottom | x_top, y = {label})" in lecture.completion(catalog, "nade", 2, 3, 0)[1]
    assert lecture.completion(catalog, "markov", 10**6, 3, 0)[1].startswith("**Error:** choose a test image")
    # A MADE of a random order cannot complete a top half: it says why.
    assert "natural_order" in lecture.completion(catalog, "made", 2, 3, 0)[1]


def test_elbo_is_reconstruction_minus_kl_and_the_bound_tightens(catalog):
    _, text = lecture.elbo(catalog, "vae", 0, 0)
    recon, kl, elbo = (float(v) for v in re.search(r"ELBO = (\S+) − (\S+) = \*\*(\S+)\*\*", text).groups())
    assert elbo == pytest.approx(recon - kl, abs=0.011) and kl > 0
    bounds = [float(v) for v in re.findall(r"^\| [\d,]+ \| (\S+) \|$", text, re.MULTILINE)]
    assert len(bounds) == len(lecture.IMPORTANCE_SAMPLES)
    assert bounds[-1] > bounds[0] and bounds[0] == pytest.approx(elbo, abs=0.5)  # L_1 is the ELBO
    assert lecture.elbo(catalog, "made", 0, 0)[1].startswith("**Error:** ")


def test_the_optimal_discriminator_value_is_2_jsd_minus_log_4():
    picture, text = lecture.discriminator("-1, 3", 0.7, 0.5, 1.2, 200, 0)
    assert picture.ndim == 3 and picture.std() > 0
    p_data = theory.GaussianMixture1D([1, 1], [-1, 3], [0.7, 0.7])
    jsd = theory.jensen_shannon(p_data, theory.normal(0.5, 1.2))
    shown = float(re.search(r"2·JSD − log 4 = \*\*(\S+)\*\*", text).group(1))
    value = float(re.search(r"V\(D\*, G\) = \*\*(\S+)\*\*", text).group(1))
    assert shown == pytest.approx(2 * jsd - math.log(4), abs=1e-4) and value == pytest.approx(shown, abs=2e-4)
    trained = float(re.search(r"V\(trained D, G\) = (\S+)", text).group(1))
    assert trained <= value + 1e-4
    _, same = lecture.discriminator("0", 1.0, 0.0, 1.0, 0, 0)
    assert "**-1.3863**" in same  # p_G = p_data: the minimum, −log 4
    assert lecture.discriminator("a, b", 1, 0, 1)[1].startswith("**Error:** ")


def test_codes_against_the_prior(catalog):
    picture, text = lecture.codes(catalog, ["vae"], 200, 0)
    assert picture.ndim == 3 and "2-d codes" in text
    assert lecture.codes(catalog, ["made"], 200, 0)[1].startswith("**Error:** ")


def test_info_codes_patches_and_translations(catalog):
    picture, text = lecture.info_codes(catalog, "infogan", 3, 1.5, -1, 0, 4)
    assert picture.shape[0] > picture.shape[1] / 2 and "category 3" in text  # three rows of four
    assert lecture.info_codes(catalog, "infogan", 99, 0, 0)[1].startswith("**Error:** ")
    picture, text = lecture.patches_to_image(catalog, "puzzlegan", 1, 2, 0)
    assert picture is not None and "3 key patches" in text
    picture, text = lecture.translations(catalog, "stargan", 0)
    assert picture is not None and "thick=1, invert=1" in text


def test_a_drawing_is_framed_like_mnist():
    pad = np.zeros((280, 280, 4), np.uint8)  # transparent, with a black bar drawn off-centre
    pad[20:200, 30:60] = (0, 0, 0, 255)
    digit = lecture.digit_from_drawing({"composite": pad})
    rows = np.nonzero(digit > 30)[0]
    assert digit.shape == (28, 28) and rows.max() - rows.min() + 1 in (20, 21)
    mass = digit.astype(float)
    assert abs(np.arange(28) @ mass.sum(1) / mass.sum() - 14) < 1.0
    assert abs(np.arange(28) @ mass.sum(0) / mass.sum() - 14) < 1.0
    white_on_black = np.zeros((100, 100), np.uint8)
    white_on_black[30:70, 45:55] = 255
    assert lecture.digit_from_drawing(white_on_black).max() == 255
    with pytest.raises(ValueError, match="draw a digit first"):
        lecture.digit_from_drawing({"composite": np.zeros((50, 50, 4), np.uint8)})


def test_a_drawn_digit_is_scored_classified_and_completed(catalog):
    test = genmodels.load_dataset("digits", "test")
    pad = np.repeat(255 - test.images[0, 0].numpy()[..., None], 3, -1)  # dark ink on white, as drawn
    picture, text = lecture.drawn(catalog, {"composite": pad}, "markov", "nade", 0)
    nll = float(re.search(r"−log p\(x\) = (\S+) nats", text).group(1))
    assert nll > 0 and "anomaly:" in text and "Bayes' rule" in text and "completions" in text
    posterior = [float(v) for v in re.findall(r"p\(\d \| x\) = (\S+?)[,)]", text)]
    assert posterior == sorted(posterior, reverse=True) and 0 < sum(posterior) <= 1.0001
    assert picture is not None
    assert lecture.drawn(catalog, None, "made", None)[1] == "**Error:** draw a digit first"
    assert lecture.drawn(catalog, {"composite": pad}, "markov", "made")[1].startswith("**Error:** ")
    assert "natural_order" in lecture.drawn(catalog, {"composite": pad}, "made", None)[1]  # still scored


def _cells(picture: np.ndarray, count: int, size: int = 8, padding: int = 2) -> list[np.ndarray]:
    """The `count` images of one row of an image grid (scaled by lecture.SCALE), back at 1:1."""
    grid = picture[:: lecture.SCALE, :: lecture.SCALE]
    return [
        grid[padding : padding + size, padding + i * (size + padding) : padding + i * (size + padding) + size]
        for i in range(count)
    ]
