"""The explicit-model table of BENCHMARKS.md: each model's cpu preset trained on statically
binarised embedded MNIST (4,000 training digits), then measured on the same footing.

For each model: free parameters, training time and epochs, train and test NLL (nats per image;
exact for autoregressive models, the importance-weighted bound with k = 1,000 for the VAE), and the
sampling time per image of the naive sampler (one full forward pass per pixel) and of the model's
own sampler (cached / incremental where it has one), at batch 16.

    python benchmarks/explicit_models.py --models independent,markov,fvsbn,nade,made,pixelcnn,pixelrnn,vae
    python benchmarks/explicit_models.py --models nade --out runs/bench   # one row at a time
    python benchmarks/explicit_models.py --models pixelcnn --run pixelcnn=runs/pixelcnn  # a finished run

Each model's row is appended to benchmarks/results/explicit_models.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import genmodels
from genmodels.data import View
from genmodels.evaluation import evaluate_likelihood

RESULTS = Path(__file__).parent / "results" / "explicit_models.jsonl"


def sampling_seconds_per_image(model, sampler: str, batch: int = 16, rows: int | None = None) -> float:
    """Time one batch of samples; `rows` (naive sampler only) times that many image rows and scales up,
    since every row of a naive sampler costs the same (one full forward pass per pixel)."""
    generator = torch.Generator().manual_seed(0)
    model.eval()
    start = time.perf_counter()
    if sampler == "naive" and rows is not None:
        order = list(model.generation_order())
        c, h, w = model.config.image_shape
        with torch.no_grad():
            x = torch.zeros(batch, c, h, w)
            for channel, row, column in order[: rows * w * c]:
                logits = model.logits(x)[..., channel, row, column]
                x[:, channel, row, column] = model.likelihood.sample(logits, generator=generator)
        return (time.perf_counter() - start) * (h / rows) / batch
    sample = model.sample_naive if sampler == "naive" else model.sample
    sample(batch, generator=generator)
    return (time.perf_counter() - start) / batch


def run(name: str, out: Path, naive_rows: int | None, reuse: Path | None = None) -> dict:
    run_dir = reuse or out / name
    if reuse is None:
        start = time.perf_counter()
        steps = genmodels.train(
            name, "mnist", preset="cpu", out=run_dir, progress=False, overwrite=True
        ).steps
        seconds = time.perf_counter() - start
    else:  # a finished run of the same recipe: its own clock and step count
        logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        timed = [row for row in logged if "time" in row]
        steps, seconds = timed[-1]["step"], timed[-1]["time"]
    model = genmodels.load(run_dir)
    view = View("static")
    described = json.loads((run_dir / "train.json").read_text())
    row = {
        "model": name,
        "parameters": model.num_parameters(),
        "train_seconds": round(seconds, 1),
        "steps": steps,
        "epochs": round(steps * described["train"]["batch_size"] / 4000, 1),
        "training_view": View(**described["data"]["view"]).describe(),
        "train_nll": evaluate_likelihood(model, genmodels.load_dataset("mnist", "train"), view, k=1000)[
            "nll_nats"
        ],
        "test_nll": evaluate_likelihood(model, genmodels.load_dataset("mnist", "test"), view, k=1000)[
            "nll_nats"
        ],
        "exact": bool(model.log_prob_is_exact),
    }
    if hasattr(model, "sample_naive"):
        row["sample_seconds_per_image_naive"] = sampling_seconds_per_image(model, "naive", rows=naive_rows)
    row["sample_seconds_per_image"] = sampling_seconds_per_image(model, "model")
    row.update(
        machine=f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        date=time.strftime("%Y-%m-%d"),
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="independent,markov,fvsbn,nade,made,pixelcnn,pixelrnn,vae")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-explicit"))
    parser.add_argument("--run", action="append", default=[], help="NAME=FOLDER: measure a finished run.")
    parser.add_argument(
        "--naive-rows", type=int, default=None, help="Time this many rows of naive sampling and scale up."
    )
    args = parser.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    reuse = {name: Path(folder) for name, folder in (item.split("=", 1) for item in args.run)}
    for name in args.models.split(","):
        row = run(name, args.out, args.naive_rows, reuse.get(name))
        print(json.dumps(row), flush=True)
        with RESULTS.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
