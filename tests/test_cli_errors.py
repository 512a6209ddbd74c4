"""Every command answers bad input with one line on stderr and exit code 2, never a traceback (issue 14).

The table below enumerates, for each command, missing paths, wrong kinds of run, out-of-range
numbers and unknown names; each case also names a fragment the one line must contain, so that the
right refusal is the one given. The tiny runs it needs (a few steps on the 8x8 digits) are made once
for the module. Also here: `figures RUN` finds its data in the run's train.json, and the same
answers come from a real `genmodels` process as from CliRunner.
"""

# ruff: noqa: E501 (the table below keeps one case to a line)
from __future__ import annotations

import itertools
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import genmodels
from genmodels.cli import app
from tests.conftest import TINY_VAE

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress": False, "tensorboard": False, "num_samples": 0, "log_every": 5, "preset": None}

# name: (model, data, config, steps); a handful of steps is all these answers need.
TINY_RUNS = {
    "vae": ("vae", "digits", TINY_VAE, 20),
    "gan": ("gan", "digits", {"generator_hidden": (8,), "discriminator_hidden": (8,), "latent_dim": 4}, 2),
    "nade10": ("nade", "digits", {"hidden": 8, "num_classes": 10}, 2),
    "stargan": (
        "stargan",
        "digits[styles=thick/invert]",
        {"g_channels": 4, "residual_blocks": 1, "d_channels": 4, "d_layers": 2},
        2,
    ),
    "cyclegan": (
        "cyclegan",
        "digits[domains=thin/thick]",
        {"channels": 4, "residual_blocks": 1, "discriminator_channels": 4, "discriminator_downsamplings": 1},
        2,
    ),
    "puzzlegan": (
        "puzzlegan",
        "digits[patches=3, patch_size=4]",
        {"patch_size": 4, "channels": 4, "embed_dim": 8, "latent_dim": 4},
        2,
    ),
    "text2image": (
        "text2image",
        "digits[captions]",
        {"latent_dim": 4, "channels": 4, "text_dim": 8, "projected_dim": 4},
        2,
    ),
}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The tiny runs by name, and the other paths the cases name: a missing one, an empty folder,
    a text file, an 8x8 PNG, a port that is in use."""
    root = tmp_path_factory.mktemp("cli-errors")
    for name, (model, data, config, steps) in TINY_RUNS.items():
        genmodels.train(
            model,
            data,
            config=config,
            out=root / name,
            steps=steps,
            batch_size=16,
            checkpoint_every=10,
            **QUIET,
        )
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("not an image, not a run")
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(root / "digit.png")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield {
            **{name: root / name for name in TINY_RUNS},
            "missing": root / "nowhere",
            "empty": root / "empty",
            "file": root / "notes.txt",
            "image": root / "digit.png",
            "busy": busy.getsockname()[1],
            "root": root,
        }


# (command, what is wrong, arguments with {placeholders}, a fragment of the one line)
# fmt: off
CASES = [
    # -- train ---------------------------------------------------------------------------------------
    ("train", "path", "vae --data idx:{missing} --steps 2 --out {new}", "nowhere"),
    ("train", "path", "vae --data folder:{empty} --steps 2 --out {new}", "empty"),
    ("train", "path", "vae --data digits --steps 2 --out {file}", "notes.txt: File exists"),
    ("train", "path", "vae --data digits --steps 2 --out {file}/run", "Not a directory"),
    ("train", "path", "vae --resume --out {missing} --steps 3", "train.json: missing"),
    ("train", "path", "vae --resume --out {empty} --steps 3", "train.json: missing"),
    ("train", "kind", "vae --data digits --steps 2 --out {vae}", "continue it with --resume, or replace it with --overwrite"),
    ("train", "kind", "dcgan --data digits --steps 2 --out {vae}", "already holds a run (vae, checkpoint step_0000020)"),
    ("train", "kind", "nade --resume --out {vae} --steps 30", "is a vae run: --resume continues it as vae, not nade"),
    ("train", "kind", "vae --resume --out {vae} --steps 30 --set latent_dim=3", "latent_dim 3 (the run's: 4)"),
    ("train", "kind", "vae --resume --out {vae} --steps 30 --batch-size 7", "batch_size 7 (the run's: 16)"),
    ("train", "kind", "vae --resume --out {vae} --steps 30 --data mnist", "data 'mnist' (the run's: 'digits')"),
    ("train", "kind", "vae --resume --out {vae} --steps 30 --view dynamic", "view 'dynamic' (the run's: 'static')"),
    ("train", "kind", "vae --resume --out {vae} --steps 5", "already has 20 steps, more than the 5 asked for"),
    ("train", "kind", "vae --resume --out {vae}", "already has its 20 steps; give a budget above 20"),
    ("train", "kind", "vae --resume --overwrite --out {vae}", "not both"),
    ("train", "kind", "vae --resume --steps 3", "--resume needs --out"),
    ("train", "kind", "puzzlegan --data digits --preset none --set patch_size=4 --steps 2 --batch-size 16 --out {new}", "key-patch boxes"),
    ("train", "kind", "vae --data digits --preset none --view unit --steps 2 --out {new}", "levels=2"),
    ("train", "kind", "vae --data digits --steps 2 --val-every 5 --out {new}", "needs validation data (--val-split)"),
    ("train", "number", "vae --data digits --steps -5 --out {new}", "steps must be a positive number, got -5"),
    ("train", "number", "vae --data digits --steps 0 --out {new}", "steps must be a positive number, got 0"),
    ("train", "number", "vae --data digits --epochs -1 --out {new}", "epochs must be a positive number"),
    ("train", "number", "vae --data digits --epochs 0 --out {new}", "epochs must be a positive number"),
    ("train", "number", "vae --data digits --steps 2 --batch-size 0 --out {new}", "batch_size must be a positive"),
    ("train", "number", "vae --data digits --steps 2 --batch-size -3 --out {new}", "batch_size must be a positive"),
    ("train", "number", "vae --data digits --steps 2 --batch-size 5000 --out {new}", "fewer than one batch of 5000"),
    ("train", "number", "vae --data digits --steps 2 --log-every 0 --out {new}", "log_every must be a positive"),
    ("train", "number", "vae --data digits --steps 2 --checkpoint-every -1 --out {new}", "checkpoint_every must be 0"),
    ("train", "number", "vae --data digits --steps 2 --sample-every -1 --out {new}", "sample_every must be 0 or"),
    ("train", "number", "vae --data digits --steps 2 --snapshot-every -1 --out {new}", "snapshot_every must be 0"),
    ("train", "number", "vae --data digits --steps 2 --patience -1 --out {new}", "patience must be 0 or more"),
    ("train", "number", "vae --data digits --steps 2 --ema-decay 1.5 --out {new}", "ema_decay must be in [0, 1)"),
    ("train", "number", "vae --data digits --steps 2 --max-grad-norm -1 --out {new}", "max_grad_norm must be 0"),
    ("train", "number", "vae --data digits --steps 2 --max-minutes -1 --out {new}", "max_minutes must be 0 or"),
    ("train", "number", "vae --data digits --steps 2 --pad -1 --out {new}", "padding must be >= 0"),
    ("train", "number", "vae --data digits --steps 2 --perturb 1.5 --out {new}", "perturb must be in [0, 1)"),
    ("train", "number", "vae --data digits[patches=0] --steps 2 --out {new}", "patches='0' must be 1 or more"),
    ("train", "number", "vae --data mnist[classes=0-12] --steps 2 --out {new}", "no classes 10, 11, 12 in mnist/train; it has 0-9"),
    ("train", "number", "vae --data digits --steps two --out {new}", "Invalid value for '--steps'"),
    ("train", "name", "vea --data digits --steps 2 --out {new}", "unknown model 'vea'"),
    ("train", "name", "vae --data nope --steps 2 --out {new}", "unknown data set 'nope'; known: mnist"),
    ("train", "name", "vae --data nope --steps 2 --out {new}", "NAME[options]"),
    ("train", "name", "vae --data zip:x --steps 2 --out {new}", "unknown data format 'zip'"),
    ("train", "name", "vae --data digits[wings] --steps 2 --out {new}", "digits[wings]: unknown option(s) wings"),
    ("train", "name", "vae --data noise[colour] --steps 2 --out {new}", "noise: unknown option(s) colour"),
    ("train", "name", "vae --data digits --split nope --steps 2 --out {new}", "unknown split 'nope'"),
    ("train", "name", "vae --data digits --preset fast --steps 2 --out {new}", "no preset 'fast'"),
    ("train", "name", "vae --data digits --view nope --steps 2 --out {new}", "unknown data view 'nope'"),
    ("train", "name", "vae --data digits --set latent=3 --steps 2 --out {new}", "unknown setting(s) latent"),
    ("train", "name", "vae --data digits --mixed-precision fp8 --steps 2 --out {new}", "'fp8' is not one of"),
    ("train", "name", "vae --data digits --lr-decay linear --steps 2 --out {new}", "'linear' is not one of"),
    ("train", "name", "vae --data digits --steps 2 --bogus", "No such option: --bogus"),
    # -- sample --------------------------------------------------------------------------------------
    ("sample", "path", "{missing}", "nowhere: no such model folder"),
    ("sample", "path", "{empty}", "config.json: missing"),
    ("sample", "path", "{file}", "no such model folder"),
    ("sample", "path", "{puzzlegan} --patches {missing} {missing} {missing}", "cannot be read"),
    ("sample", "path", "{puzzlegan} --patches {file} {file} {file}", "not a readable image"),
    ("sample", "kind", "{cyclegan}", "does not sample (it translates: genmodels translate"),
    ("sample", "kind", "{vae} --text hello", "does not take a sentence"),
    ("sample", "kind", "{vae} --patches {image}", "does not build images from patches"),
    ("sample", "kind", "{text2image}", "pass --text 'a thick seven'"),
    ("sample", "kind", "{puzzlegan}", "pass --patches a.png b.png c.png"),
    ("sample", "kind", "{puzzlegan} --patches {image}", "trained on 3 patches; got 1"),
    ("sample", "number", "{vae} -n 0", "Invalid value for '-n'"),
    ("sample", "number", "{vae} -n -3", "Invalid value for '-n'"),
    ("sample", "number", "{vae} --nrow 0", "Invalid value for '--nrow'"),
    ("sample", "name", "{vae} --bogus", "No such option: --bogus"),
    ("sample", "name", "", "Missing argument 'run'"),
    # -- evaluate ------------------------------------------------------------------------------------
    ("evaluate", "path", "{missing}", "nowhere: no such model folder"),
    ("evaluate", "path", "{empty}", "config.json: missing"),
    ("evaluate", "path", "{vae} --data digits --features {missing}", "nowhere: no such model folder"),
    ("evaluate", "path", "{cyclegan} --data digits[domains=thin/thick] --domain-classifier {missing} --content-classifier {missing} --samples 0", "nowhere"),
    ("evaluate", "kind", "{vae} --data mnist", "vae takes images (1, 8, 8), mnist/test gives (1, 28, 28): choose data of that size with --data; the run trained on digits"),
    ("evaluate", "kind", "{cyclegan} --data digits[domains=thin/thick] --domain-classifier {vae} --content-classifier {vae}", "--domain-classifier"),
    ("evaluate", "kind", "{vae} --data digits --features {gan}", "a feature network must be a `classifier` run"),
    ("evaluate", "kind", "{vae} --data digits --features inception:{image}", "not a readable network"),
    ("evaluate", "number", "{vae} --data digits --k 0", "Invalid value for '--k'"),
    ("evaluate", "number", "{vae} --data digits --samples -1", "Invalid value for '--samples'"),
    ("evaluate", "number", "{vae} --data digits --batch-size 0", "Invalid value for '--batch-size'"),
    ("evaluate", "name", "{vae} --data nope", "unknown data set 'nope'"),
    ("evaluate", "name", "{vae} --data digits --split nope", "unknown split 'nope'"),
    ("evaluate", "name", "{vae} --data digits --view nope", "unknown data view 'nope'"),
    ("evaluate", "name", "{vae} --data digits --features nope", "nope: no such model folder"),
    # -- figures -------------------------------------------------------------------------------------
    ("figures", "path", "{missing}", "nowhere: no such model folder"),
    ("figures", "path", "{empty}", "config.json: missing"),
    ("figures", "path", "{vae} --out {file}/figures", "Not a directory"),
    ("figures", "kind", "{puzzlegan} --data digits", "key-patch boxes: use a data set such as 'mnist[patches=3]'"),
    ("figures", "kind", "{cyclegan} --data digits", "'domain' field in every batch: use a two-domain data set such as 'mnist[domains=thin/thick]'"),
    ("figures", "kind", "{stargan} --data digits", "attribute labels"),
    ("figures", "kind", "{text2image} --data digits", "captions"),
    ("figures", "kind", "{vae} --data mnist", "takes images (1, 8, 8)"),
    ("figures", "name", "{vae} --data nope", "unknown data set 'nope'"),
    ("figures", "name", "{vae} --split nope", "unknown split 'nope'"),
    ("figures", "number", "{vae} --seed x", "Invalid value for '--seed'"),
    # -- score ---------------------------------------------------------------------------------------
    ("score", "path", "{missing} --data digits", "nowhere: no such model folder"),
    ("score", "path", "{empty} --data digits", "config.json: missing"),
    ("score", "path", "{vae} --data digits --out {file}/scores.csv", "notes.txt"),
    ("score", "kind", "{gan} --data digits", "gan has no density"),
    ("score", "kind", "{vae} --data mnist", "takes images (1, 8, 8), mnist/test gives (1, 28, 28)"),
    ("score", "name", "{vae} --data nope", "unknown data set 'nope'"),
    ("score", "name", "{vae} --data digits --view nope", "unknown data view 'nope'"),
    ("score", "number", "{vae} --data digits[classes=10]", "no class 10 in digits/test; it has 0-9"),
    # -- detect --------------------------------------------------------------------------------------
    ("detect", "path", "{missing} --in-data digits", "nowhere: no such model folder"),
    ("detect", "path", "{vae} --in-data digits --out-data digits[invert] --background {missing}", "nowhere: no such model folder"),
    ("detect", "kind", "{gan} --in-data digits --out-data digits[invert]", "gan has no density"),
    ("detect", "kind", "{vae} --in-data digits", "mnist[invert]/test gives (1, 28, 28): choose data of that size with --out-data"),
    ("detect", "name", "{vae} --in-data digits --out-data nope", "unknown data set 'nope'"),
    ("detect", "name", "{vae} --in-data nope", "unknown data set 'nope'"),
    ("detect", "number", "{vae} --in-data digits --out-data noise[n=0]", "n='0' must be 1 or more"),
    # -- classify ------------------------------------------------------------------------------------
    ("classify", "path", "{missing} --data digits", "nowhere: no such model folder"),
    ("classify", "path", "{empty} --data digits", "config.json: missing"),
    ("classify", "kind", "{vae} --data digits", "vae has no classes (num_classes=0)"),
    ("classify", "kind", "{gan} --data digits", "gan has no density"),
    ("classify", "kind", "{nade10} --data mnist", "takes images (1, 8, 8), mnist/test gives (1, 28, 28)"),
    ("classify", "kind", "{nade10} --data noise[shape=1x8x8]", "has no labels"),
    ("classify", "name", "{nade10} --data nope", "unknown data set 'nope'"),
    ("classify", "number", "{nade10} --data digits[classes=0-10]", "no class 10 in digits/test"),
    ("classify", "name", "{nade10} --data digits --split nope", "unknown split 'nope'"),
    # -- translate -----------------------------------------------------------------------------------
    ("translate", "path", "{missing} --input {image} --to thick", "nowhere: no such model folder"),
    ("translate", "path", "{cyclegan} --input {missing} --to thick", "cannot be read"),
    ("translate", "path", "{cyclegan} --input {file} --to thick", "not a readable image"),
    ("translate", "path", "{cyclegan} --to thick", "Missing option '--input'"),
    ("translate", "kind", "{vae} --input {image} --to thick", "vae does not translate images"),
    ("translate", "name", "{stargan} --input {image} --to wings=1", "unknown attribute(s) ['wings']"),
    ("translate", "name", "{cyclegan} --input {image} --to bold", "unknown domain 'bold'"),
    ("translate", "name", "{cyclegan} --input {image} --from thin --to thin", "the same domain ('thin')"),
    ("translate", "number", "{stargan} --input {image} --to thick=2", "switch it to 0 or 1, not 2.0"),
    ("translate", "number", "{stargan} --input {image} --to thick=yes", "expected name=0 or name=1"),
    # -- serve ---------------------------------------------------------------------------------------
    ("serve", "path", "{missing}", "nowhere: not a folder of runs"),
    ("serve", "path", "{file}", "notes.txt: not a folder of runs"),
    ("serve", "kind", "{root} --port {busy}", "is in use: choose another with --port"),
    ("serve", "number", "{root} --port 0", "Invalid value for '--port'"),
    ("serve", "number", "{root} --port 70000", "Invalid value for '--port'"),
    ("serve", "number", "{root} --max-upload-mb 0", "--max-upload-mb must be above 0"),
    ("serve", "name", "{root} --host 192.0.2.1", "cannot serve on 192.0.2.1"),
    # -- list ----------------------------------------------------------------------------------------
    ("list", "name", "vae", "unexpected extra argument"),
    ("list", "name", "--bogus", "No such option: --bogus"),
    ("zoo", "name", "vae", "unexpected extra argument"),
    ("zoo", "name", "--bogus", "No such option: --bogus"),
    # -- no command ----------------------------------------------------------------------------------
    ("", "name", "nope", "No such command 'nope'"),
]
# fmt: on
_counter = itertools.count()
EVERY_COMMAND = (
    "train",
    "sample",
    "evaluate",
    "figures",
    "score",
    "detect",
    "classify",
    "translate",
    "serve",
    "list",
    "zoo",
)


def _id(case: tuple[str, str, str, str]) -> str:
    command, kind, arguments, _ = case
    return f"{command or '-'}:{kind}:{arguments}"


@pytest.mark.parametrize("case", CASES, ids=[_id(case) for case in CASES])
def test_bad_input_is_one_line_and_exit_2(places, monkeypatch, case):
    command, _, arguments, fragment = case
    import genmodels.app

    def refuse(*args, **kwargs):
        raise AssertionError("the server would have started")

    monkeypatch.setattr(genmodels.app, "serve", refuse)
    new = places["root"] / "new" / str(next(_counter))
    words = shlex.split(arguments.format(**places, new=new))
    result = CliRunner().invoke(app, [command, *words] if command else words)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert fragment in lines[0], lines[0]


def test_the_table_covers_every_command():
    """Each command has a case of each kind that it can be given (list and zoo take no paths or numbers)."""
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    named = {command for command, *_ in CASES} - {""}
    assert named == commands == set(EVERY_COMMAND)
    for command in named - {"list", "zoo"}:
        kinds = {kind for c, kind, *_ in CASES if c == command}
        assert kinds == {"path", "kind", "number", "name"}, (command, kinds)
    print(f"{len(CASES)} cases of bad input")


def test_figures_reads_the_data_of_the_run(places):
    """No --data: each run's pictures come from the data it trained on (its train.json)."""
    expected = {
        "cyclegan": "translations.png",
        "stargan": "translations.png",
        "text2image": "samples.png",
        "puzzlegan": "samples.png",
        "vae": "reconstructions.png",
    }
    for name, picture in expected.items():
        out = places["root"] / "figures" / name
        result = CliRunner().invoke(app, ["figures", str(places[name]), "--out", str(out)])
        assert result.exit_code == 0, (name, result.output)
        assert (out / picture).is_file(), name


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["sample", "nowhere", "-n", "0"], "error: Invalid value for '-n'"),
        (
            ["train", "vae", "--data", "mnist[classes=0-12]", "--steps", "2"],
            "error: mnist[classes=0-12]: no classes",
        ),
    ],
)
def test_a_real_process_answers_the_same(tmp_path, arguments, fragment):
    process = subprocess.run(
        [sys.executable, "-m", "genmodels.cli", *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")},
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and process.stderr.startswith(fragment), process.stderr
    assert process.stdout == "" and not (tmp_path / "runs").exists()
