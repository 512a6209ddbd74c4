"""Data parallelism through the one trainer: 2 CPU processes (gloo), started by torchrun or by
accelerate launch, on a global batch B take the same steps as one process on B, and the run folder
is written once."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genmodels
from genmodels.training.checkpoint import latest_checkpoint

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)

# NADE has no dropout, batch norm or sampling noise in its loss, and its loss is a mean over the
# rows: averaged gradients over two halves of a batch are the gradient of the whole batch.
MODEL, CONFIG = "nade", {"hidden": 16}
STEPS, BATCH, EVERY = 6, 50, 3


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


LAUNCHERS = {
    "torchrun": ("torch.distributed.run", "--standalone", "--nproc_per_node", "2"),
    # --multi_gpu picks accelerate's torchrun route; with no GPU the trainer's Accelerator takes
    # CPU processes on gloo (--cpu would start a single process).
    "accelerate": (
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
    ),
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path, launcher):
    two = tmp_path / "two"
    command = [
        *(sys.executable, "-m", *LAUNCHERS[launcher]),
        *("-m", "genmodels.cli", "train", MODEL, "--data", "digits", "--set", "hidden=16"),
        *("--steps", str(STEPS), "--batch-size", str(BATCH), "--checkpoint-every", str(EVERY)),
        *("--log-every", str(EVERY), "--no-progress", "--out", str(two)),
    ]
    # A private HF_HOME: no accelerate config file of the user's changes the launch.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf")}
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert time.perf_counter() - started < 120

    one = tmp_path / "one"
    genmodels.train(
        MODEL,
        "digits",
        config=CONFIG,
        steps=STEPS,
        batch_size=BATCH,
        checkpoint_every=EVERY,
        log_every=EVERY,
        progress=False,
        out=one,
    )

    assert json.loads((two / "train.json").read_text())["processes"] == 2
    a, b = load_file(str(one / "model.safetensors")), load_file(str(two / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0, msg=name)

    # Written once, by the main process: one row per logged step, one folder per checkpoint step,
    # one TensorBoard event file.
    rows = _rows(two)
    assert [row["step"] for row in rows] == list(range(EVERY, STEPS + 1, EVERY))
    # The logged loss is the mean over both processes' shares: the single-process value.
    for mine, theirs in zip(rows, _rows(one), strict=True):
        assert mine["nll/nll"] == pytest.approx(theirs["nll/nll"], abs=1e-4)
    folders = sorted(p.name for p in (two / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert folders == [f"step_{s:07d}" for s in range(EVERY, STEPS + 1, EVERY)]
    assert latest_checkpoint(two).name == f"step_{STEPS:07d}"
    assert len(list((two / "tensorboard").iterdir())) == 1
