"""Render the measured rows of benchmarks/results/*.jsonl as the Markdown tables of BENCHMARKS.md,
so that no number there is typed by hand. The latest row of each model wins.

    python benchmarks/tables.py explicit
    python benchmarks/tables.py quality
    python benchmarks/tables.py density     # anomaly detection and the Bayes classifier
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
    order = ["independent", "markov", "fvsbn", "nade", "made", "pixelcnn", "pixelrnn", "vae"]
    rows = latest_rows("explicit_models.jsonl")
    for name, row in sorted(rows.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99):
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


def density_tables() -> str:
    detect = json.loads((RESULTS / "density_uses" / "detect.json").read_text())
    lines = [
        f"In-distribution: {detect['in_data']} ({detect['view']}), model {detect['model']}.",
        "",
        "| out-of-distribution set | n in / out | mean NLL in / out | AUROC raw NLL | AUROC likelihood ratio "
        "| AUROC complexity-corrected | AUPRC (raw / ratio / complexity) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in detect["results"]:
        auprc = " / ".join(f"{r[k]['auprc']:.3f}" for k in ("nll", "likelihood_ratio", "complexity"))
        auroc = " | ".join(f"{r[k]['auroc']:.3f}" for k in ("nll", "likelihood_ratio", "complexity"))
        nll = f"{r['mean_nll_in']:.1f} / {r['mean_nll_out']:.1f}"
        lines.append(f"| {r['out_data']} | {r['n_in']} / {r['n_out']} | {nll} | {auroc} | {auprc} |")
        lines += [f"|  | warning: {w} |  |  |  |  |  |" for w in r.get("warnings", [])]
    classify = json.loads((RESULTS / "density_uses" / "classify.json").read_text())
    per_class = " ".join(f"{a:.2f}" for a in classify["per_class_accuracy"])
    lines += [
        "",
        f"Bayes classifier ({classify['model']}, {classify['data']}, n = {classify['n']}, "
        f"{classify['view']}): accuracy **{classify['accuracy']:.3f}**; per class 0-9: {per_class}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", choices=["explicit", "quality", "density"])
    args = parser.parse_args()
    print({"explicit": explicit_table, "quality": quality_table, "density": density_tables}[args.table]())


if __name__ == "__main__":
    main()
