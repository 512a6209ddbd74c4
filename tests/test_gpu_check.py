"""scripts/gpu_check.py, the accelerator check, kept working on a machine without one: its table
names every registered model, it runs its checks on the CPU in bf16 (where it found the gradient
penalty's dtype mix), and without CUDA it says so and exits 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


def _run(*arguments):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_bf16_on_the_cpu_trains_samples_and_scores_like_float32(tmp_path):
    out = tmp_path / "rows.jsonl"
    finished = _run(
        "--device", "cpu", "--precision", "bf16", "--models", "progan,stargan,nade,vae", "--out", str(out)
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    rows = {row["model"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert all(row["ok"] for row in rows.values()), rows
    assert rows["progan"]["precision"] == "bf16" and rows["nade"]["precision"] == "no"
    assert rows["vae"]["outputs"]["scores_finite"] and rows["progan"]["outputs"]["shape"] == [8, 1, 8, 8]


def test_without_cuda_it_says_so_and_every_model_is_in_its_table():
    finished = _run("--device", "cuda")
    assert finished.returncode == 0, finished.stderr  # a model missing from the table exits non-zero
    if not torch.cuda.is_available():
        assert json.loads(finished.stdout.splitlines()[-1])["available"] is False
