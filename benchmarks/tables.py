"""Render the measured rows of benchmarks/results/*.jsonl as the Markdown tables of BENCHMARKS.md,
so that no number there is typed by hand. The latest row of each model wins.

    python benchmarks/tables.py explicit
    python benchmarks/tables.py quality
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def latest_rows(file: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for line in (RESULTS / file).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            # A reused run of another variant (e.g. runs/bench-codes/aae-supervised) gets its own row.
            run = Path(row.get("run", ""))
            label = row["model"] if run.name in ("", row["model"]) else f"{row['model']} ({run.name})"
            rows[label] = row
    return rows


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} s"


def _small(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def explicit_table() -> str:
    lines = [
        "| model | free parameters | steps (epochs), training view | train time | train NLL | test NLL "
        "| sampling s/image, naive | own sampler | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in latest_rows("explicit_models.jsonl").items():
        naive, own = row.get("sample_seconds_per_image_naive"), row.get("sample_seconds_per_image")
        speedup = f"{naive / own:.0f}×" if naive and own else "n/a"
        view = row["training_view"].split(" (")[0]
        lines.append(
            f"| {name} | {row['parameters']:,} | {row['steps']:,} ({row['epochs']:g}), {view} "
            f"| {_seconds(row['train_seconds'])} | {row['train_nll']:.2f} | {row['test_nll']:.2f} "
            f"| {_small(naive)} | {_small(own)} | {speedup} |"
        )
    return "\n".join(lines)


def quality_table() -> str:
    lines = [
        "| model | steps | train time | FD-digits | KID (± sd) | precision | recall | density | coverage "
        "| classes covered |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in latest_rows("sample_quality.jsonl").items():
        lines.append(
            f"| {name} | {row['steps']:,} | {_seconds(row['train_seconds'])} | {row['fd']:.2f} "
            f"| {row['kid']:.3f} ± {row['kid_std']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['density']:.3f} | {row['coverage']:.3f} | {row.get('classes_covered', 'n/a')} / 10 |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", choices=["explicit", "quality"])
    args = parser.parse_args()
    print(explicit_table() if args.table == "explicit" else quality_table())


if __name__ == "__main__":
    main()
