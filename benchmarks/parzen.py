"""The Parzen-window log-likelihood of the GAN and AAE papers, on mnist-full (issue 15).

    python benchmarks/parzen.py RUN [RUN ...] [--samples 10000] [--ema]

For each run: 10,000 samples of the model (decoder means E[x | z] for the VAE and AAE), a Gaussian
kernel on each, the bandwidth σ chosen on the 10,000 `val` digits, the mean log-likelihood of the
10,000 `test` digits with its standard error, all grey levels in [0, 1]
(`genmodels.evaluation.parzen`). Rows are appended to benchmarks/results/parzen.jsonl; `python
benchmarks/tables.py parzen` renders them beside the papers' numbers. With --ema, a run's averaged
weights (kept by `--ema-decay`) are measured instead of its raw ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from rows import append_row, shown, trained

import genmodels
from genmodels.evaluation.parzen import model_parzen_window

RESULTS = Path(__file__).parent / "results" / "parzen.jsonl"
# The papers' MNIST numbers under this protocol (nats; higher is better).
PAPERS = {
    "gan": (225.0, 2.0, "Goodfellow et al. 2014, Table 1"),
    "aae": (340.0, 2.0, "Makhzani et al. 2015, Table 1"),
}


def measure(run: Path, samples: int, ema: bool = False) -> dict:
    model = genmodels.load(run, use_ema=ema)
    described = json.loads((run / "train.json").read_text())
    data = described["data"]["name"]
    if not data.startswith("mnist-full"):
        raise SystemExit(f"{run}: trained on {data}; the papers' protocol needs a run on mnist-full")
    started = time.perf_counter()
    result = model_parzen_window(
        model, genmodels.load_dataset("mnist-full", "val"), genmodels.load_dataset("mnist-full", "test"),
        n_samples=samples,
    )  # fmt: skip
    paper = PAPERS.get(model.name)
    # The command that trained the run, as the trainer recorded it (its --set overrides included;
    # the tidy flags of a scheduled run dropped), else the preset's.
    preset = described["data"]["preset"]
    recorded = described.get("commands", [])[:1]
    training = (
        recorded[0].replace(" --no-progress", "").replace(" --overwrite", "")
        if recorded
        else f"genmodels train {model.name} --data {data} --preset {preset} --out {shown(run)}"
    )
    return {
        "model": model.name,
        "run": str(shown(run)),
        **({"ema": True} if ema else {}),  # the averaged weights, not the raw ones
        **{key: value for key, value in result.items() if key != "sigmas"},
        "paper": None if paper is None else {"value": paper[0], "error": paper[1], "source": paper[2]},
        "trained_on": f"{data}/{described['data']['split']}",
        **trained(run),
        "measure_seconds": round(time.perf_counter() - started, 1),
        "command": f"{training} && python benchmarks/parzen.py {shown(run)}{' --ema' if ema else ''}",
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--ema", action="store_true", help="Measure the averaged weights (--ema-decay).")
    args = parser.parse_args()
    for run in args.runs:
        append_row(RESULTS, measure(run, args.samples, args.ema))


if __name__ == "__main__":
    main()
