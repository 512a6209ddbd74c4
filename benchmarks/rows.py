"""What the benchmark scripts share: how a finished run was trained, and appending a result row."""

from __future__ import annotations

import json
from pathlib import Path


def metrics(run: Path) -> list[dict]:
    """The rows of a run's metrics log."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def snapshots(run: Path) -> list[Path]:
    """The run's weight snapshots (`--snapshot-every`), in step order."""
    return sorted((run / "snapshots").glob("step_*.safetensors"))


def snapshot_step(snapshot: str | Path) -> int:
    """The training step of a snapshot file (snapshots/step_0090000.safetensors: 90000)."""
    return int(Path(snapshot).stem.split("_")[1])


def trained(run: Path) -> dict:
    """Steps and training seconds of a finished run, from its metrics log, and its training seed."""
    rows = metrics(run)
    timed = [row for row in rows if "time" in row]  # sample-grid rows carry no time
    described = json.loads((run / "train.json").read_text()) if (run / "train.json").is_file() else {}
    return {
        "steps": rows[-1]["step"],
        "train_seconds": timed[-1]["time"] if timed else None,
        "train_seed": described.get("train", {}).get("seed"),  # "seed" is a measurement's own
    }


def append_row(results: Path, row: dict) -> None:
    """Print the row as JSON and append it to a results file (one JSON object per line)."""
    print(json.dumps(row))
    results.parent.mkdir(exist_ok=True)
    with results.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def shown(run: Path) -> Path:
    """The run's path as a command from the repository's root names it."""
    root = Path(__file__).resolve().parents[1]
    return run.resolve().relative_to(root) if run.resolve().is_relative_to(root) else run
