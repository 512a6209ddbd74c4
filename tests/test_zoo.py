"""The pretrained zoo: every entry loads as zoo:NAME and re-computes the number its provenance
records (so a change that breaks a zoo model fails here), the provenance says what the issue asks,
the whole zoo stays within 40 MB, and the CLI takes zoo:NAME wherever it takes a run."""

import json

import pytest
import torch
from typer.testing import CliRunner

import genmodels
from genmodels import zoo
from genmodels.cli import app

NAMES = zoo.names()


def test_the_zoo_holds_every_generative_model_of_the_library_within_40_mb():
    from genmodels.registry import model_classes

    shipped = {zoo.provenance(name)["model"] for name in NAMES}
    # The classifier is the evaluation's judge, shipped as the digit classifier behind FD-digits.
    assert set(model_classes()) - {"classifier"} <= shipped, set(model_classes()) - shipped
    assert {"independent", "markov", "fvsbn", "nade", "made", "vae"} <= set(NAMES)
    total = sum(entry["bytes"] for entry in zoo.entries())
    assert total <= 40e6, f"{total / 1e6:.1f} MB"  # 40 MB of 10^6 bytes


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_recomputes_its_recorded_check(name):
    provenance = zoo.provenance(name)
    for key in (
        "model",
        "parameters",
        "data",
        "steps",
        "train_seconds",
        "headline",
        "commands",
        "check",
        "built_at_commit",
    ):
        assert key in provenance, key
    assert provenance["data"].startswith("mnist-full") and provenance["headline"]
    # the commands that trained it, one per sitting: the first names the data, the others resume
    first, *resumed = provenance["commands"]
    data_set = provenance["data"].rsplit("/", 1)[0]
    run = f"--out {provenance['run']}"
    assert first.startswith(f"genmodels train {provenance['model']} --data ") and run in first
    assert data_set in first.replace("'", "")
    assert all(c.startswith(f"genmodels train {provenance['model']} ") and "--resume" in c for c in resumed)
    assert all(run in c for c in resumed)
    model = genmodels.load(f"zoo:{name}").eval()
    assert model.name == provenance["model"]
    assert model.num_parameters() == provenance["parameters"]  # free ones: masked weights do not count
    data = provenance["data"].rsplit("/", 1)[0]  # "mnist-full[patches=3]/train" -> the data set
    recomputed = zoo.check(model, genmodels.evaluation_view_of(f"zoo:{name}", model), data)
    assert recomputed["measure"] == provenance["check"]["measure"]
    tolerance = {"abs": 1e-3} if provenance["check"]["unit"] == "nats" else {"rel": 1e-3}
    assert recomputed["value"] == pytest.approx(provenance["check"]["value"], **tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_s_page_says_what_it_is_in_the_lecture_s_terms(name):
    from genmodels.app import RunCatalog

    described = RunCatalog(None, zoo=True).describe(f"zoo:{name}")
    provenance = zoo.provenance(name)
    assert f"{provenance['parameters']:,} parameters" in described
    assert "It can " in described and "; it cannot " in described
    for item in provenance["headline"]:  # every headline number, with or without a unit
        assert f"{item['measure']}: **{item['value']}**" in described


def test_the_cli_lists_the_zoo_and_takes_zoo_names(tmp_path, monkeypatch):
    listed = CliRunner().invoke(app, ["zoo", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [row["name"] for row in json.loads(listed.stdout)] == NAMES
    monkeypatch.chdir(tmp_path)
    sampled = CliRunner().invoke(app, ["sample", "zoo:nade", "-n", "4", "--out", "nade.png"])
    assert sampled.exit_code == 0 and (tmp_path / "nade.png").is_file(), sampled.output
    missing = CliRunner().invoke(app, ["sample", "zoo:nothing", "-n", "4"])
    assert missing.exit_code == 2 and "no zoo model 'nothing'" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_a_zoo_model_samples_the_same_as_its_weights_say():
    model = genmodels.load("zoo:vae")
    first = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert first.shape == (3, 1, 28, 28) and set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(first, genmodels.load("zoo:vae").sample(3, generator=torch.Generator().manual_seed(0)))


def test_the_chain_rule_comparison_on_zoo_models_matches_their_formulas_and_log_probs():
    from genmodels.data import View
    from genmodels.data.batches import rows_batch
    from genmodels.evaluation.theory import chain_rule_comparison

    test = genmodels.load_dataset("mnist-full", "test")
    models = {name: genmodels.load(f"zoo:{name}") for name in ("independent", "markov", "fvsbn", "nade")}
    nll = {name: 0.0 for name in models}
    for row in range(20):  # the lecture's ordering holds on average over digits
        x = rows_batch(test, torch.tensor([row]), View.parse("stochastic:0"), torch.device("cpu"))["x"]
        report = chain_rule_comparison(x, models)
        for entry in report["models"]:
            nll[entry["model"]] += entry["nll_nats"] / 20
    assert report["pixels"] == 784 and report["full_joint_parameters"] == "2^784 − 1 ≈ 10^236"
    counts = {entry["model"]: entry["parameters"] for entry in report["models"]}
    assert counts["independent"] == report["independent_parameters"] == 784
    assert counts["markov"] == report["markov_parameters"] == 2 * 784 - 1
    with torch.no_grad():
        direct = float(-models["nade"].log_prob(x))
    assert report["models"][3]["nll_nats"] == pytest.approx(direct, rel=1e-6)
    assert nll["independent"] > nll["markov"] > nll["fvsbn"] > nll["nade"], nll


def test_the_codes_tab_sets_the_zoo_s_vae_beside_its_aae():
    """The lecture's comparison by default: the KL term fits the VAE's codes unit by unit (it
    switches most of its 50 off), the discriminator fits the AAE's aggregate codes as a whole."""
    from genmodels import lecture
    from genmodels.app import RunCatalog

    catalog = RunCatalog(None, zoo=True)
    choices = {key: lecture.runs_of(catalog, test) for key, test in lecture.CHOOSERS.items()}
    assert lecture.vae_beside_aae(choices) == ["zoo:vae", "zoo:aae"]
    picture, text = lecture.codes(catalog, ["zoo:vae", "zoo:aae"], 200, 0)
    assert picture.ndim == 3 and picture.std() > 10  # two scatter plots, not a blank canvas
    vae, aae = (line for line in text.splitlines() if line.startswith("- zoo:"))
    assert "50-d codes" in vae and "the KL switched off" in vae
    assert "10-d codes" in aae and "KL" not in aae
    ratios = [float(r) for r in aae.split("per dimension ")[1].rstrip("…").split(", ")]
    assert all(0.7 < r < 1.3 for r in ratios)  # the AAE's codes fill its prior in every direction


def test_text_to_image_draws_the_digit_a_typed_caption_names():
    from genmodels import lecture
    from genmodels.app import RunCatalog

    catalog = RunCatalog(None, zoo=True)
    choices = lecture.runs_of(catalog, lecture.CHOOSERS["text"])
    assert choices == ["zoo:text2image"]
    picture, text = lecture.text_to_image(catalog, "zoo:text2image", "a thin two", 8, 0)
    assert picture.shape[1] > 4 * picture.shape[0]  # one row of eight
    read = text.split("reads them as ")[1].rstrip(".").split(", ")
    assert len(read) == 8 and read.count("2") >= 6, text
    assert lecture.text_to_image(catalog, "zoo:nade", "a two")[1].startswith("**Error:** ")
    assert "type a caption" in lecture.text_to_image(catalog, "zoo:text2image", " ")[1]


@pytest.fixture(scope="module")
def four_digits(tmp_path_factory):
    """Four mnist-full test digits as PNG files in class subfolders (`folder:DIR`)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("four-digits")
    test = genmodels.load_dataset("mnist-full", "test")
    for row in range(4):
        folder = root / "test" / str(int(test.labels[row]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(test.images[row, 0].numpy()).save(folder / f"{row}.png")
    return root


@pytest.mark.parametrize(
    ("command", "name", "expect"),
    [
        (["evaluate", "--samples", "0", "--json"], "zoo:nade", "nll_nats"),
        (["score", "--json"], "zoo:markov", "mean_nll_nats"),
        (["classify", "--json"], "zoo:nade-classes", "accuracy"),
    ],
)
def test_the_cli_s_scoring_commands_take_zoo_names(command, name, expect, four_digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # score writes scores.csv here
    data = f"folder:{four_digits}"
    result = CliRunner().invoke(app, [command[0], name, "--data", data, "--split", "test", *command[1:]])
    assert result.exit_code == 0, result.output
    assert expect in result.stdout


def test_the_cli_translates_and_draws_figures_with_zoo_names(four_digits, tmp_path):
    digit = next((four_digits / "test").rglob("*.png"))
    out = tmp_path / "thick.png"
    result = CliRunner().invoke(
        app, ["translate", "zoo:cyclegan", "--input", str(digit), "--to", "thick", "--out", str(out)]
    )
    assert result.exit_code == 0 and out.is_file(), result.output
    result = CliRunner().invoke(app, ["figures", "zoo:dcgan", "--out", str(tmp_path / "figures")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "figures").glob("*.png")), result.output
