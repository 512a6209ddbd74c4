"""The command line, end to end on the fast digits set: train, resume, evaluate --json, sample, figures."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from genmodels.cli import app

runner = CliRunner()
TINY = ["--set", "hidden=32", "--set", "latent_dim=4", "--set", "iw_samples=10"]


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def _typed(monkeypatch, *args):
    """`genmodels ARGS` as typed in a shell: the process's argv is the installed command's."""
    monkeypatch.setattr(sys, "argv", ["/venv/bin/genmodels", *map(str, args)])
    return _invoke(*args)


def test_train_resume_evaluate_sample_figures(tmp_path, monkeypatch):
    run = tmp_path / "run"
    result = _typed(
        monkeypatch,
        "train",
        "vae",
        "--data",
        "digits",
        *TINY,
        "--steps",
        20,
        "--batch-size",
        50,
        "--checkpoint-every",
        10,
        "--out",
        run,
        "--json",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["steps"] == 20 and summary["run_dir"] == str(run)

    result = _typed(monkeypatch, "train", "vae", "--resume", "--out", run, "--steps", 30, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["steps"] == 30
    # train.json keeps the command of each sitting (a zoo entry's provenance quotes them)
    first, resumed = json.loads((run / "train.json").read_text())["commands"]
    assert first.startswith("genmodels train vae --data digits --set hidden=32") and str(run) in first
    assert resumed == f"genmodels train vae --resume --out {run} --steps 30 --json"

    result = _invoke("evaluate", run, "--data", "digits", "--split", "test", "--k", 5, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 297 and report["k"] == 5 and report["exact"] is False
    assert report["view"].startswith("thresholded")
    assert report["nll_nats"] <= -report["elbo"] + 1.0  # the k = 5 bound is at least as tight as the ELBO
    assert abs(report["bits_per_dim"] - report["nll_nats"] / (64 * 0.6931471805599453)) < 1e-9

    result = _invoke("sample", run, "-n", 9, "--out", tmp_path / "grid.png", "--seed", 3)
    assert result.exit_code == 0 and (tmp_path / "grid.png").stat().st_size > 0

    result = _invoke("figures", run, "--data", "digits")
    assert result.exit_code == 0, result.output
    for name in ("samples", "reconstructions", "interpolations", "latent_scatter", "loss_curves"):
        assert (run / "figures" / f"{name}.png").is_file(), name


def test_list_json():
    result = _invoke("list", "--json")
    assert result.exit_code == 0
    assert "vae" in {m["name"] for m in json.loads(result.output)["models"]}


def test_errors_are_one_clear_line(tmp_path):
    result = _invoke("train", "vae", "--data", "idx:" + str(tmp_path / "nowhere"), "--steps", 1)
    assert result.exit_code == 2 and "nowhere" in result.output and "Traceback" not in result.output
    result = _invoke("train", "vae", "--data", "digits", "--set", "latent=3", "--steps", 1)
    assert result.exit_code == 2 and "unknown setting(s) latent" in result.output
    result = _invoke("train", "vae", "--data", "digits", "--preset", "none")
    assert result.exit_code == 2 and "exactly one of steps and epochs" in result.output
    result = _invoke("evaluate", tmp_path)
    assert result.exit_code == 2 and "config.json: missing" in result.output
    result = _invoke("train", "vae", "--resume", "--out", tmp_path, "--steps", 3)
    assert result.exit_code == 2


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from genmodels.cli import app; from typer.testing import CliRunner;"
        "CliRunner().invoke(app, ['--help']);"
        "heavy = ('accelerate', 'matplotlib', 'tensorboard', 'sklearn', 'torch');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_help_shows_brackets_as_written():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "mnist[captions]" in result.output and "mnist[patches=3]" in result.output
    assert "mnist, mnist, mnist" not in result.output
    detect = runner.invoke(app, ["detect", "--help"]).output
    assert "mnist[classes=9]" in detect


def test_sample_from_a_sentence_and_an_interpolation(tmp_path):
    import genmodels
    from genmodels.io import save_model

    model = genmodels.create(
        "text2image", image_shape=(1, 8, 8), latent_dim=8, channels=8, text_dim=16, projected_dim=8
    )
    save_model(model, tmp_path / "t2i")
    result = _invoke(
        "sample", tmp_path / "t2i", "--text", "a thick seven", "-n", 16, "--out", tmp_path / "s.png"
    )
    assert result.exit_code == 0, result.output
    assert "16 samples" in result.output and (tmp_path / "s.png").is_file()
    result = _invoke(
        "sample",
        tmp_path / "t2i",
        "--text",
        "a one",
        "--interpolate-to",
        "a thick eight",
        "--out",
        tmp_path / "i.png",
    )
    assert result.exit_code == 0 and "32 samples" in result.output, result.output
    # A text model needs a sentence; a sentence is refused by a model that takes none.
    assert "pass --text" in _invoke("sample", tmp_path / "t2i", "--out", tmp_path / "x.png").output
    save_model(
        genmodels.create(
            "gan", image_shape=(1, 8, 8), generator_hidden=(8,), discriminator_hidden=(8,), latent_dim=4
        ),
        tmp_path / "gan",
    )
    refused = _invoke("sample", tmp_path / "gan", "--text", "a one", "--out", tmp_path / "x.png")
    assert refused.exit_code == 2 and "does not take a sentence" in refused.output


def test_sample_from_key_patches(tmp_path):
    import numpy as np
    from PIL import Image

    import genmodels
    from genmodels.io import save_model

    model = genmodels.create(
        "puzzlegan", image_shape=(1, 8, 8), patch_size=4, latent_dim=4, channels=4, embed_dim=8
    )
    save_model(model, tmp_path / "puzzle")
    files = []
    for k in range(3):
        files.append(tmp_path / f"p{k}.png")
        Image.fromarray(np.full((6, 6), 60 * k, dtype=np.uint8)).save(files[-1])  # resized to 4x4
    result = _invoke("sample", tmp_path / "puzzle", "--patches", *files, "-n", 4, "--out", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    assert "4 samples" in result.output and (tmp_path / "s.png").is_file()
    too_few = _invoke("sample", tmp_path / "puzzle", "--patches", *files[:2], "--out", tmp_path / "x.png")
    assert too_few.exit_code == 2 and "3 patches" in too_few.output
    (tmp_path / "bad.png").write_text("not an image")
    bad = _invoke("sample", tmp_path / "puzzle", "--patches", *files[:2], tmp_path / "bad.png")
    assert bad.exit_code == 2 and "not a readable image" in bad.output
    assert "pass --patches" in _invoke("sample", tmp_path / "puzzle").output


def _save_tiny_cyclegan(folder):
    import genmodels
    from genmodels.io import save_model

    tiny = {
        "channels": 4,
        "residual_blocks": 1,
        "discriminator_channels": 4,
        "discriminator_downsamplings": 1,
    }
    save_model(genmodels.create("cyclegan", image_shape=(1, 8, 8), domains=("thin", "thick"), **tiny), folder)


def test_translate_one_image(tmp_path):
    import numpy as np
    from PIL import Image

    import genmodels
    from genmodels.io import save_model

    _save_tiny_cyclegan(tmp_path / "cyclegan")
    stargan = genmodels.create(
        "stargan",
        image_shape=(1, 8, 8),
        attributes=("thick", "invert"),
        g_channels=4,
        residual_blocks=1,
        d_channels=4,
        d_layers=2,
    )
    save_model(stargan, tmp_path / "stargan")
    Image.fromarray(np.eye(12, dtype=np.uint8) * 255).save(tmp_path / "in.png")  # resized to 8x8
    for run, target in (("cyclegan", "thick"), ("stargan", "thick=1,invert=0"), ("stargan", "invert")):
        out = tmp_path / f"{run}-{target}.png"
        result = _invoke(
            "translate", tmp_path / run, "--input", tmp_path / "in.png", "--to", target, "--out", out
        )
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (8, 8)
    unknown = _invoke("translate", tmp_path / "cyclegan", "--input", tmp_path / "in.png", "--to", "bold")
    assert unknown.exit_code == 2 and "bold" in unknown.output
    refused = _invoke("sample", tmp_path / "cyclegan", "--out", tmp_path / "x.png")
    assert refused.exit_code == 2 and "genmodels translate" in refused.output
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    bad = _invoke("translate", tmp_path / "stargan", "--input", tmp_path / "bad.png", "--to", "invert")
    assert bad.exit_code == 2 and "not a readable image" in bad.output


def test_evaluate_a_translator_asks_for_its_classifiers(tmp_path):

    _save_tiny_cyclegan(tmp_path / "cyclegan")
    result = _invoke(
        "evaluate",
        tmp_path / "cyclegan",
        "--data",
        "digits[domains=thin/thick]",
        "--view",
        "symmetric",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert "--domain-classifier" in json.loads(result.output)["translation"]["skipped"]
