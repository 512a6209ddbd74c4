"""The one trainer: losses fall, resume is exact, divergence stops cleanly, files are what they claim."""

import itertools
import json
import math

import pytest
import torch

import genmodels
from genmodels.api import resume
from genmodels.io import load_model
from genmodels.training import TrainingDiverged
from genmodels.training.checkpoint import latest_checkpoint
from tests.conftest import TINY_VAE

QUIET = {"progress": False, "tensorboard": False, "num_samples": 0}


def _train(out, **options):
    settings = {"steps": 40, "batch_size": 50, "checkpoint_every": 10, "log_every": 10, **QUIET, **options}
    return genmodels.train("vae", "digits", preset=None, config=TINY_VAE, out=out, **settings)


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls_with_training(tmp_path):
    _train(tmp_path, steps=200, log_every=20, checkpoint_every=0)
    losses = [row["elbo/loss"] for row in _rows(tmp_path) if "elbo/loss" in row]
    assert len(losses) == 10
    assert losses[-1] < losses[0] - 5, losses


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    _train(whole, ema_decay=0.9)

    broken = tmp_path / "broken"
    from genmodels.models.latent.vae import VAE

    def crash_at_step_25(self, step):
        if step == 25:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(VAE, "on_step", crash_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        _train(broken, ema_decay=0.9)
    monkeypatch.undo()
    assert latest_checkpoint(broken).name == "step_0000020"  # the last one written before the kill
    result = resume(broken)
    assert result.steps == 40

    for weights in ("model.safetensors", "ema.safetensors"):
        from safetensors.torch import load_file

        a, b = load_file(str(whole / weights)), load_file(str(broken / weights))
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), (weights, name)
    # The log is the same too: rows logged after the checkpoint were not kept twice.
    drop_time = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert drop_time(_rows(whole)) == drop_time(_rows(broken))


def test_ctrl_c_checkpoints_the_step_it_lands_in_and_resume_continues_exactly(tmp_path, monkeypatch):
    # A real SIGINT during step 25 (between checkpoints every 10): the step finishes, is checkpointed,
    # and KeyboardInterrupt follows; the resumed run equals the uninterrupted one.
    import os
    import signal

    from safetensors.torch import load_file

    from genmodels.models.latent.vae import VAE

    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    _train(whole)

    def ctrl_c_at_step_25(self, step):
        if step == 25:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(VAE, "on_step", ctrl_c_at_step_25)
    # Python's own handler, as in a terminal (a job started in the background ignores SIGINT, and
    # so does the trainer then).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _train(stopped)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert latest_checkpoint(stopped).name == "step_0000026"  # no step lost
    assert "interrupted" in _rows(stopped)[-1]["event"]
    assert resume(stopped).steps == 40
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(stopped / "model.safetensors"))
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_resume_can_extend_the_step_budget(tmp_path):
    _train(tmp_path, steps=20)
    result = resume(tmp_path, steps=30)
    assert result.steps == 30
    assert latest_checkpoint(tmp_path).name == "step_0000030"


def test_nan_loss_stops_the_run_and_the_last_checkpoint_still_loads(tmp_path, monkeypatch):
    from genmodels.models.latent.vae import VAE

    original = VAE.negative_elbo

    def poisoned(self, batch):
        loss, logs = original(self, batch)
        return (loss * float("nan") if self._step >= 23 else loss), logs

    def remember_step(self, step):
        self._step = step

    monkeypatch.setattr(VAE, "negative_elbo", poisoned)
    monkeypatch.setattr(VAE, "on_step", remember_step)
    with pytest.raises(TrainingDiverged, match=r"step 23: the 'elbo' loss is nan.*step_0000020"):
        _train(tmp_path)
    monkeypatch.undo()
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint.name == "step_0000020"
    model = load_model(tmp_path)  # the run folder's model is the last good one
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "stopped" in _rows(tmp_path)[-1]["event"]
    assert resume(tmp_path).steps == 40  # and training can go on from it


def test_early_stopping_keeps_the_best_validated_weights(tmp_path):
    result = genmodels.train(
        "vae",
        "digits",
        split="fit",
        val_split="val",
        preset=None,
        config={**TINY_VAE, "lr": 3e-2},
        out=tmp_path,
        steps=400,
        batch_size=50,
        val_every=10,
        patience=3,
        checkpoint_every=0,
        **QUIET,
    )
    assert result.stopped_early and result.steps < 400
    assert result.best_step <= result.steps - 30
    vals = [row["val/loss"] for row in _rows(tmp_path) if "val/loss" in row]
    assert min(vals) == pytest.approx(result.best_val)
    from safetensors.torch import load_file

    saved, best = (
        load_file(str(tmp_path / "model.safetensors")),
        load_file(str(tmp_path / "checkpoints/best.safetensors")),
    )
    assert all(torch.equal(saved[k], best[k]) for k in saved)


def test_run_folder_holds_what_the_design_promises(tmp_path):
    genmodels.train(
        "vae",
        "digits",
        preset=None,
        config=TINY_VAE,
        out=tmp_path,
        steps=20,
        batch_size=50,
        sample_every=10,
        checkpoint_every=10,
        progress=False,
    )
    for name in (
        "config.json",
        "model.safetensors",
        "train.json",
        "metrics.jsonl",
        "samples/step_0000010.png",
        "samples/final.png",
        "checkpoints/latest",
    ):
        assert (tmp_path / name).exists(), name
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    described = json.loads((tmp_path / "train.json").read_text())
    assert described["data"]["view"] == {"kind": "static", "pad": 0, "perturb": 0.0, "seed": 0}
    assert described["train"]["seed"] == 0


def test_samples_and_validation_do_not_disturb_training(tmp_path):
    _train(tmp_path / "plain", steps=20)
    genmodels.train(
        "vae",
        "digits",
        split="train",
        val_split="val",
        preset=None,
        config=TINY_VAE,
        out=tmp_path / "busy",
        steps=20,
        batch_size=50,
        checkpoint_every=10,
        log_every=10,
        val_every=5,
        sample_every=5,
        num_samples=8,
        progress=False,
        tensorboard=False,
    )
    from safetensors.torch import load_file

    a, b = (
        load_file(str(tmp_path / "plain/model.safetensors")),
        load_file(str(tmp_path / "busy/model.safetensors")),
    )
    # The busy run ends with its best-validated weights: compare the last checkpoint instead.
    b = load_file(str(latest_checkpoint(tmp_path / "busy") / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_data_that_does_not_fit_the_model_is_refused(tmp_path):
    from genmodels.config import ConfigError

    with pytest.raises(ValueError, match=r"configured for images \(1, 28, 28\).*\(1, 8, 8\)"):
        genmodels.train(
            "vae",
            "digits",
            preset=None,
            config={**TINY_VAE, "image_shape": (1, 28, 28)},
            out=tmp_path,
            steps=1,
            **QUIET,
        )
    with pytest.raises(ConfigError, match=r"levels=2.*binarised"):
        genmodels.train(
            "vae", "digits", preset=None, config=TINY_VAE, view="unit", out=tmp_path, steps=1, **QUIET
        )


def test_linear_decay_schedule():
    from genmodels.models.base import linear_decay

    factor = linear_decay(0.5)
    expected = [1.0, 1.0, 1.0, 0.5, 0.02, 0.0]
    assert [factor(s, 100) for s in (0, 49, 50, 75, 99, 100)] == pytest.approx(expected)


def test_a_time_budget_stops_and_checkpoints_the_run(tmp_path, monkeypatch):
    from genmodels.training import trainer

    clock = iter(range(0, 10_000, 30))  # every reading of the clock is 30 s later
    monkeypatch.setattr(trainer.Stopwatch, "seconds", property(lambda self: float(next(clock))))
    result = _train(tmp_path, steps=1000, max_minutes=1.0)
    assert result.stopped_early and result.steps < 10
    assert latest_checkpoint(tmp_path).name == f"step_{result.steps:07d}"
    assert any("time budget of 1 minutes" in row.get("event", "") for row in _rows(tmp_path))


def test_snapshots_keep_the_weights_of_their_step(tmp_path):
    from safetensors.torch import load_file

    _train(tmp_path, steps=20, snapshot_every=10, checkpoint_every=0)
    snapshots = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert snapshots == ["step_0000010.safetensors", "step_0000020.safetensors"]
    last, final = (
        load_file(str(tmp_path / "snapshots" / snapshots[-1])),
        load_file(str(tmp_path / "model.safetensors")),
    )
    assert all(torch.equal(last[name], final[name]) for name in final)
    first = load_file(str(tmp_path / "snapshots" / snapshots[0]))
    assert not all(torch.equal(first[name], final[name]) for name in final)


def test_cosine_decay_brings_the_learning_rate_to_zero(tmp_path, monkeypatch):
    seen = []
    original = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    _train(tmp_path, steps=20, lr_decay="cosine", checkpoint_every=0)
    base = TINY_VAE.get("lr", 1e-3)
    assert seen[0] == pytest.approx(base) and seen[10] == pytest.approx(base / 2)
    assert seen[-1] == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 19 / 20)))
    assert all(a >= b for a, b in itertools.pairwise(seen))


def test_one_process_can_train_again_with_another_precision(tmp_path):
    # accelerate fixes its state at a process's first Accelerator: a second training asking for
    # bf16 was refused ("AcceleratorState has already been initialized").
    first = _train(tmp_path / "float32", steps=3, cpu=True)
    second = _train(tmp_path / "bf16", steps=3, cpu=True, mixed_precision="bf16")
    third = _train(tmp_path / "again", steps=3, cpu=True)
    assert json.loads((tmp_path / "bf16" / "train.json").read_text())["train"]["mixed_precision"] == "bf16"
    assert math.isfinite(second.last_logs["elbo/loss"])
    assert third.last_logs == first.last_logs  # the float32 state came back, bit for bit
