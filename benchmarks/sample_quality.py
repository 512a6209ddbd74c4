"""The sample-quality table of BENCHMARKS.md: every model that samples, on the same footing.

Each model's cpu preset is trained on the embedded `mnist` train split (or an existing run folder
is reused with --run NAME=FOLDER), then 1,000 samples are compared with the 1,000 `mnist` test
digits in the shipped digit classifier's feature space: FD-digits, KID, precision, recall,
density, coverage and the number of digit classes covered. Real digits are taken in the model's
evaluation view (statically binarised for binary models, grey levels otherwise).

    python benchmarks/sample_quality.py --models gan,dcgan,infogan,aae,vae
    python benchmarks/sample_quality.py --models pixelcnn --run pixelcnn=runs/bench-explicit/pixelcnn
    python benchmarks/sample_quality.py --models gan --run gan=runs/full/gan --data mnist-full --samples 10000
    python benchmarks/sample_quality.py --models aae --run aae=RUN --data mnist-full --samples 10000 --ema

With --ema the run's averaged weights are measured (a run trained with --ema-decay keeps them beside
its raw weights, and its snapshots are of them).

Rows are appended to benchmarks/results/sample_quality.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from rows import snapshots, trained
from safetensors.torch import load_file

import genmodels
from genmodels.config import parse_overrides
from genmodels.data import View, evaluation_view
from genmodels.evaluation import sample_quality
from genmodels.io import EMA_FILE, WEIGHTS_FILE

RESULTS = Path(__file__).parent / "results" / "sample_quality.jsonl"
SELECTION_SAMPLES = 2000  # per candidate weights, with --select-on-val


def select_on_validation(
    model: torch.nn.Module, run_dir: Path, data: str, view: View, final: str = WEIGHTS_FILE
) -> dict:
    """Load into `model` the run's weights (each snapshot, and the weights it ended with, `final`)
    whose samples are nearest the validation digits: the lowest FD-digits of SELECTION_SAMPLES
    samples against `data`'s val split. The test digits take no part in the choice. Returns what
    was chosen and every candidate's FD, for the result row."""
    val = genmodels.load_dataset(data, "val")
    candidates = [*snapshots(run_dir), run_dir / final]
    scores = {}
    for weights in candidates:
        model.load_state_dict(load_file(str(weights)))
        model.eval()
        scores[str(weights.relative_to(run_dir))] = sample_quality(
            model, val, view, n_fake=SELECTION_SAMPLES, seed=0, kid_subsets=2
        )["fd"]
    chosen = min(scores, key=scores.get)
    model.load_state_dict(load_file(str(run_dir / chosen)))
    model.eval()
    return {
        "weights": chosen,
        "selected_on": f"{val.name}: FD-digits of {SELECTION_SAMPLES:,} samples, lowest of {len(scores)}",
        "selection_fd": {name: round(fd, 1) for name, fd in scores.items()},
    }


def measure(
    name: str,
    run_dir: Path,
    train: bool,
    n_fake: int,
    extra: list[str],
    data: str = "mnist",
    select: bool = False,
    ema: bool = False,
) -> dict:
    if train:
        config = parse_overrides(extra)
        genmodels.train(
            name, "mnist", preset="cpu", out=run_dir, progress=False, config=config or None, overwrite=True
        )
    model = genmodels.load(run_dir, use_ema=ema)
    described = json.loads((run_dir / "train.json").read_text())
    view = evaluation_view(View(**described["data"]["view"]))
    test = genmodels.load_dataset(data, "test")
    final = EMA_FILE if ema else WEIGHTS_FILE
    selection = select_on_validation(model, run_dir, data, view, final) if select else {}
    start = time.perf_counter()
    quality = sample_quality(model, test, view, n_fake=n_fake, seed=0)
    return {
        "model": name,
        "run": str(run_dir),
        "config_overrides": extra,
        **trained(run_dir),  # the steps reached (a time budget may end a run before its count)
        **({"ema": True} if ema else {}),  # the averaged weights (--ema-decay), not the raw ones
        **selection,
        "evaluate_seconds": round(time.perf_counter() - start, 1),
        **quality,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="gan,dcgan,infogan,aae,vae")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-quality"))
    parser.add_argument("--run", action="append", default=[], help="NAME=FOLDER: reuse a trained run.")
    parser.add_argument("--set", action="append", default=[], help="key=value config override (all models).")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--data", default="mnist", help="The real images' test split: mnist (1,000) or mnist-full (10,000)."
    )
    parser.add_argument(
        "--select-on-val",
        action="store_true",
        help="Measure the run's snapshot (or final weights) with the lowest FD-digits on the val split.",
    )
    parser.add_argument(
        "--ema", action="store_true", help="Measure the run's averaged weights (trained with --ema-decay)."
    )
    args = parser.parse_args()
    reuse = dict(item.split("=", 1) for item in args.run)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        run_dir = Path(reuse.get(name, args.out / name))
        row = measure(
            name, run_dir, name not in reuse, args.samples, args.set, args.data, args.select_on_val, args.ema
        )
        print(json.dumps(row), flush=True)
        with RESULTS.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
