"""A run folder is never silently overwritten or corrupted (issue 14).

- training into a folder that holds a run is refused, naming --resume and --overwrite; --overwrite
  clears every file of the old run first;
- one training at a time writes a folder: a second writer is refused, naming the first one's PID,
  and the first run goes on undamaged; a lock left by a dead process is no obstacle;
- resume refuses another model, changed settings and a budget the run has already reached, and
  finds the newest checkpoint even where the `latest` pointer is lost;
- Ctrl-C prints the last checkpoint and the command that resumes from it, exit 130.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import genmodels
from genmodels.api import default_run_dir, resume
from genmodels.cli import app
from genmodels.config import ConfigError
from genmodels.training import TrainConfig
from genmodels.training.checkpoint import latest_checkpoint
from genmodels.training.run_folder import LOCK_FILE, RUN_ENTRIES, RunFolderError, RunLocked, run_lock
from tests.conftest import TINY_VAE

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"progress": False, "tensorboard": False, "num_samples": 0, "log_every": 5}
TRAIN_TINY_VAE = [
    *("train", "vae", "--data", "digits", "--preset", "none", "--set", "hidden=8", "--set", "latent_dim=2"),
    *("--batch-size", "50"),
]


def _train(out, model="vae", config=TINY_VAE, **options):
    settings = {"steps": 10, "batch_size": 50, "checkpoint_every": 5, **QUIET, **options}
    return genmodels.train(model, "digits", preset=None, config=config, out=out, **settings)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


def test_a_folder_that_holds_a_run_is_refused_and_left_as_it_was(tmp_path):
    _train(tmp_path)
    before = _files(tmp_path)
    for model, config in (("vae", TINY_VAE), ("nade", {"hidden": 8})):
        with pytest.raises(RunFolderError, match=r"already holds a run \(vae, checkpoint step_0000010\)"):
            _train(tmp_path, model=model, config=config, steps=5)
    assert _files(tmp_path) == before
    # A saved model (config.json and weights, no train.json) is a run to keep too.
    genmodels.io.save_model(genmodels.create("vae", image_shape=(1, 8, 8), **TINY_VAE), tmp_path / "saved")
    with pytest.raises(RunFolderError, match=r"--resume.*--overwrite"):
        _train(tmp_path / "saved")


def test_overwrite_clears_every_file_of_the_old_run(tmp_path):
    _train(tmp_path, steps=200, checkpoint_every=100, snapshot_every=100, tensorboard=True, num_samples=4)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "samples.png").write_bytes(b"old picture")
    (tmp_path / "anomaly_thresholds.json").write_text("{}")
    (tmp_path / ".model.safetensors.abc.tmp").write_bytes(b"half written")
    (tmp_path / "notes.txt").write_text("the user's own")
    present = {name for name in RUN_ENTRIES if (tmp_path / name).exists()}
    assert present == set(RUN_ENTRIES) - {"ema.safetensors"}  # every kind of file is there to clear

    result = _train(tmp_path, model="nade", config={"hidden": 8}, steps=5, overwrite=True)
    assert result.steps == 5
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "checkpoints/latest",
        "checkpoints/step_0000005/model.safetensors",
        "checkpoints/step_0000005/trainer_state.pt",
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "notes.txt",
        "train.json",
    ]
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [5]
    assert genmodels.load(tmp_path).name == "nade"


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    _train(tmp_path / "run")
    before = _files(tmp_path / "run")
    with run_lock(tmp_path / "run"):
        holder = f"PID {os.getpid()} on"
        with pytest.raises(RunLocked, match=rf"being written by another training \({holder}"):
            _train(tmp_path / "run", overwrite=True)
        with pytest.raises(RunLocked, match=holder):
            resume(tmp_path / "run", steps=15)
        with pytest.raises(RunLocked, match=holder), run_lock(tmp_path / "run"):
            pass
    assert _files(tmp_path / "run") == before
    assert not (tmp_path / "run" / LOCK_FILE).exists()  # released and removed
    assert resume(tmp_path / "run", steps=15).steps == 15


def test_a_lock_file_left_by_a_dead_process_is_no_obstacle(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    (tmp_path / LOCK_FILE).write_text(f"{int(dead.stdout)} somewhere 2020-01-01 00:00:00\n")
    assert _train(tmp_path).steps == 10
    assert not (tmp_path / LOCK_FILE).exists()


def test_resume_refuses_what_would_change_the_run(tmp_path):
    _train(tmp_path, steps=10)
    cases = {
        "another model": ({"model": "nade"}, r"is a vae run: --resume continues it as vae, not nade"),
        "another config": ({"config": {"latent_dim": 3}}, r"latent_dim 3 \(the run's: 4\)"),
        "unknown setting": ({"config": {"latent": 3}}, r"unknown setting\(s\) latent"),
        "other data": ({"data": {"name": "mnist"}}, r"data 'mnist' \(the run's: 'digits'\)"),
        "another view": ({"data": {"view": "dynamic"}}, r"view 'dynamic' \(the run's: 'static'\)"),
        "another batch": ({"batch_size": 20}, r"batch_size 20 \(the run's: 50\)"),
        "reached budget": ({"steps": 10}, r"already has its 10 steps; give a budget above 10"),
        "smaller budget": ({"steps": 5}, r"already has 10 steps, more than the 5 asked for"),
        "bad budget": ({"steps": -5}, r"steps must be a positive number"),
    }
    before = _files(tmp_path)
    for name, (arguments, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            resume(tmp_path, **arguments)
        assert _files(tmp_path) == before, name
    # What may change: the budget, the intervals; and what equals the run's own is no change.
    same = {"config": {"latent_dim": 4}, "data": {"name": "digits", "view": "static"}, "batch_size": 50}
    assert resume(tmp_path, model="vae", steps=15, log_every=1, checkpoint_every=3, **same).steps == 15


def test_resume_finds_the_newest_checkpoint_without_its_pointer(tmp_path):
    _train(tmp_path, steps=15)  # keeps step 10 and step 15
    pointer = tmp_path / "checkpoints" / "latest"
    for text in (None, "step_0000099\n", "../../elsewhere/step_0000015\n", ""):
        if text is None:
            pointer.unlink()
        else:
            pointer.write_text(text)
        assert latest_checkpoint(tmp_path).name == "step_0000015", text
    (tmp_path / "checkpoints" / "step_0000015" / "trainer_state.pt").unlink()  # incomplete: passed over
    assert latest_checkpoint(tmp_path).name == "step_0000010"
    assert resume(tmp_path, steps=20).steps == 20


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("steps", 0),
        ("steps", -5),
        ("epochs", -1.0),
        ("epochs", 0.0),
        ("batch_size", 0),
        ("log_every", 0),
        ("checkpoint_every", -1),
        ("sample_every", -1),
        ("snapshot_every", -1),
        ("val_every", -1),
        ("patience", -1),
        ("max_minutes", -1.0),
        ("max_grad_norm", -0.5),
        ("num_samples", -1),
        ("ema_decay", 1.0),
        ("ema_decay", -0.1),
        ("epochs", float("nan")),
    ],
)
def test_budgets_sizes_and_intervals_are_validated(tmp_path, option, value):
    with pytest.raises(ConfigError, match=rf"training options: {option} must be"):
        _train(tmp_path, **{"steps": 5, option: value})
    assert not tmp_path.joinpath("config.json").exists()


def test_the_edges_of_the_valid_ranges_are_accepted():
    TrainConfig(steps=1, batch_size=1, log_every=1, sample_every=0, checkpoint_every=0, ema_decay=0.0)
    TrainConfig(epochs=0.01, patience=0, max_minutes=0.0, max_grad_norm=0.0, ema_decay=0.9999)


def test_default_run_folders_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = default_run_dir("vae", "mnist[classes=0-8]")
    first.mkdir(parents=True)
    second = default_run_dir("vae", "mnist[classes=0-8]")
    assert second != first and second.name.startswith(first.name)


def test_progress_is_plain_lines_where_stderr_is_not_a_terminal(tmp_path):
    from genmodels.training.trainer import LineProgress

    progress = LineProgress(interval=0.0)
    progress.add_task("vae", total=3, completed=0, logs="")
    stream = io.StringIO()
    real, sys.stderr = sys.stderr, stream
    try:
        for step in (1, 2, 3):
            progress.update(0, logs=f"loss={10 - step}")
            progress.update(0, completed=step)
    finally:
        sys.stderr = real
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["vae: step 1/3", "vae: step 2/3", "vae: step 3/3"]
    assert lines[-1].endswith("loss=7")

    result = CliRunner().invoke(
        app,
        [*TRAIN_TINY_VAE, "--steps", "20", "--out", str(tmp_path / "run")],
    )
    assert result.exit_code == 0, result.output
    assert "━" not in result.stderr and "\r" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("vae: step 20/20, 00:00:")


# A long run that checkpoints often, for the tests that stop it.
LONG_RUN = [*TRAIN_TINY_VAE, "--steps", "1000000", "--checkpoint-every", "20", "--no-progress"]


def test_a_running_training_holds_its_folder_and_ctrl_c_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "genmodels.cli", *LONG_RUN, "--out", str(run)]
    # As from a terminal: SIGINT's default action (a background job, e.g. under CI, inherits "ignore").
    process = subprocess.Popen(
        command,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while latest_checkpoint(run) is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert latest_checkpoint(run) is not None, process.stderr.read() if process.poll() is not None else ""
        described = (run / "train.json").read_bytes(), (run / "config.json").read_bytes()

        # A second writer, to the same folder, in any way: one line naming the first one's PID.
        runner = CliRunner()
        for extra in (["--overwrite"], ["--resume"], []):
            second = runner.invoke(app, [*LONG_RUN, "--steps", "5", "--out", str(run), *extra])
            assert second.exit_code == 2, second.output
            assert second.stderr.count("\n") == 1, second.stderr
            assert f"being written by another training (PID {process.pid} on" in second.stderr
        assert ((run / "train.json").read_bytes(), (run / "config.json").read_bytes()) == described
        reached = _step(latest_checkpoint(run))
        while _step(latest_checkpoint(run)) <= reached and process.poll() is None:  # still training
            time.sleep(0.1)

        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    last = latest_checkpoint(run)
    assert _step(last) > reached
    assert stderr.splitlines()[-2:] == [
        f"interrupted: the last checkpoint is {last}",
        f"continue with: genmodels train vae --out {shlex.quote(str(run))} --resume",
    ]
    assert "Traceback" not in stderr and not (run / LOCK_FILE).exists()

    # The command it printed continues the run (here with a budget that ends soon).
    done = _step(last)
    arguments = shlex.split(stderr.splitlines()[-1].removeprefix("continue with: "))[1:]
    result = CliRunner().invoke(app, [*arguments, "--steps", str(done + 5), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == done + 5


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.removeprefix("step_"))


def test_ctrl_c_before_the_first_checkpoint_says_to_start_again(tmp_path, monkeypatch):
    from genmodels.models.latent.vae import VAE

    def interrupt(self, step):
        raise KeyboardInterrupt

    monkeypatch.setattr(VAE, "on_step", interrupt)
    result = CliRunner().invoke(app, [*LONG_RUN, "--out", str(tmp_path / "run")])
    assert result.exit_code == 130
    run = tmp_path / "run"
    expected = f"interrupted before the first checkpoint; to start {run} again, add --overwrite\n"
    assert result.stderr == expected
    assert not (run / LOCK_FILE).exists()
