"""Checkpoints a killed run can always resume from.

    run/checkpoints/step_000500/   model.safetensors, [ema.safetensors], trainer_state.pt
    run/checkpoints/latest         the name of the newest complete checkpoint folder

A checkpoint is written into a hidden temporary folder, renamed into place, and only then named
by `latest` (itself replaced atomically): whenever the process dies, `latest` names a complete
checkpoint. trainer_state.pt holds only tensors and plain values and is read with
`weights_only=True`, so no pickled code is ever run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genmodels.io import EMA_FILE, WEIGHTS_FILE, atomic_write, load_tensors, save_tensors

STATE_FILE = "trainer_state.pt"


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    weights: dict[str, Tensor],
    state: dict[str, Any],
    *,
    ema: dict[str, Tensor] | None = None,
    keep: int = 2,
) -> Path:
    root = checkpoint_root(run_dir)
    name = f"step_{step:07d}"
    staging = root / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_tensors(staging / WEIGHTS_FILE, weights)
    if ema is not None:
        save_tensors(staging / EMA_FILE, ema)
    torch.save(state, staging / STATE_FILE)
    final = root / name
    if final.exists():  # the same step saved again (e.g. the end of a resumed run)
        shutil.rmtree(final)
    staging.rename(final)
    atomic_write(root / "latest", lambda p: p.write_text(name + "\n"))
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    pointer = checkpoint_root(run_dir) / "latest"
    if not pointer.is_file():
        return None
    folder = checkpoint_root(run_dir) / pointer.read_text().strip()
    return folder if (folder / STATE_FILE).is_file() else None


def load_checkpoint(folder: Path) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    weights = load_tensors(folder / WEIGHTS_FILE)
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    ema = load_tensors(folder / EMA_FILE) if (folder / EMA_FILE).is_file() else None
    return weights, state, ema
