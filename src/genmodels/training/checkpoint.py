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

from genmodels.io import EMA_FILE, WEIGHTS_FILE, ModelFolderError, atomic_write, load_tensors, save_tensors

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
    """The checkpoint `latest` names; where that pointer is missing or names no complete
    checkpoint (a run folder copied in part, or one that two writers shared before runs were
    locked), the newest complete `step_*` folder: each is complete once renamed into place."""
    root = checkpoint_root(run_dir)
    pointer = root / "latest"
    if pointer.is_file():
        name = pointer.read_text().strip()
        if Path(name).name == name and _complete(root / name):  # a folder of this run's, no path
            return root / name
    complete = [folder for folder in sorted(root.glob("step_*")) if _complete(folder)]
    return complete[-1] if complete else None


def _complete(folder: Path) -> bool:
    return folder.name.startswith("step_") and all(
        (folder / name).is_file() for name in (WEIGHTS_FILE, STATE_FILE)
    )


def load_checkpoint(folder: Path) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    weights = load_tensors(folder / WEIGHTS_FILE)
    state = load_trainer_state(folder / STATE_FILE)
    ema = load_tensors(folder / EMA_FILE) if (folder / EMA_FILE).is_file() else None
    return weights, state, ema


def load_trainer_state(path: Path) -> dict[str, Any]:
    """trainer_state.pt as a dict of tensors and plain values; anything else is refused, never run."""
    if not path.is_file():
        raise ModelFolderError(f"{path}: trainer state not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    # A file that is not torch's format, is cut short, or asks for any global beyond tensors and
    # plain values (the weights-only loader refuses those before they run): torch and its loader
    # report each with their own exception types, and all mean the same to the user.
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        # The weights-only refusal is a long message; its line naming the refused global is the point.
        reason = next((line for line in lines if "GLOBAL" in line), lines[0])
        raise ModelFolderError(f"{path}: not a readable trainer state ({reason})") from error
    if not isinstance(state, dict):
        raise ModelFolderError(f"{path}: not a readable trainer state (holds {type(state).__name__})")
    return state
