"""The reproduction table of BENCHMARKS.md: the likelihood models on mnist-full, measured by the
literature's protocol, beside their papers.

Protocol: the 10,000 official test digits of `mnist-full`, binarised once by Bernoulli sampling of
the grey level (the `stochastic` view, seed 0); NLL in nats per image, exact for the autoregressive
models, the importance-weighted bound with k = 5,000 for the VAE. Train NLL on the training digits
in the same kind of view (the VAE's on the first 2,000, its bound being costly). The learning
curve is the test NLL of each weight snapshot the run kept (k = 100 for the VAE's curve, k = 5,000
for its final row) against the training minutes logged at that step.

    genmodels train nade --data mnist-full --preset full --out runs/full/nade
    python benchmarks/reproduction.py runs/full/nade        # appends a row per run
    python benchmarks/tables.py reproduction                 # renders the table

Rows go to benchmarks/results/reproduction.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from rows import append_row, metrics, shown, snapshot_step, snapshots, trained
from safetensors.torch import load_file

import genmodels
from genmodels.data import View
from genmodels.evaluation import evaluate_likelihood

RESULTS = Path(__file__).parent / "results" / "reproduction.jsonl"
TEST_VIEW = View("stochastic", seed=0)

# The papers' numbers on binarised MNIST (nats), with where each comes from and its protocol.
PAPERS = {
    "independent": (None, "the lecture's baseline (no paper number)"),
    "markov": (None, "the lecture's baseline (no paper number)"),
    "fvsbn": (97.45, "Larochelle & Murray 2011 (NADE paper), stochastically binarised test"),
    "nade": (88.86, "Larochelle & Murray 2011, H = 500, stochastically binarised test"),
    "made": (86.64, "Germain et al. 2015, 32 masks; the target for one mask is NADE's 88.86"),
    "made/full-ensemble": (86.64, "Germain et al. 2015, 32 masks, stochastically binarised test"),
    "vae": (86.76, "Burda et al. 2015, 784-200-200-50, k = 5,000, dynamically binarised training"),
    "pixelcnn": (81.30, "van den Oord et al. 2016 (PixelRNN paper), stochastically binarised test"),
    "pixelrnn": (79.20, "van den Oord et al. 2016, Diagonal BiLSTM (7 layers, h = 16)"),
    "pixelrnn/full-row": (80.54, "van den Oord et al. 2016, Row LSTM"),
    "pixelrnn/paper-row": (80.54, "van den Oord et al. 2016, Row LSTM"),
}


def _nll(model, split: str, k: int, limit: int | None = None) -> float:
    data = genmodels.load_dataset("mnist-full", split)
    if limit is not None:
        data = data.subset(slice(0, limit))
    return evaluate_likelihood(model, data, TEST_VIEW, k=k)["nll_nats"]


def learning_curve(run: Path, k: int, stride: int = 1) -> list[list[float]]:
    """[minutes, test NLL, step] for every `stride`-th weight snapshot of the run (and the last), in
    step order."""
    times = {row["step"]: row["time"] for row in metrics(run) if "time" in row}
    model = genmodels.load(run)
    curve = []
    kept = snapshots(run)
    for snapshot in kept[stride - 1 :: stride] + ([] if len(kept) % stride == 0 else kept[-1:]):
        step = snapshot_step(snapshot)
        model.load_state_dict(load_file(str(snapshot)))
        curve.append([round(times[step] / 60, 2), round(_nll(model, "test", k), 3), step])
        print(f"  curve: step {step}: {curve[-1][1]:.2f} nats at {curve[-1][0]:.1f} min", flush=True)
    return curve


def measure(run: Path, k: int, curve_k: int, vae_train_limit: int, curve_stride: int = 1) -> dict:
    model = genmodels.load(run)
    described = json.loads((run / "train.json").read_text())
    name = model.name
    exact = bool(model.log_prob_is_exact)
    preset = described["data"].get("preset")
    paper, paper_protocol = PAPERS.get(f"{name}/{preset}", PAPERS.get(name, (None, "")))
    logged = trained(run)
    val_rows = [row for row in metrics(run) if "val/loss" in row]
    row = {
        "model": name,
        "run": str(shown(run)),
        "paper_nll": paper,
        "paper_protocol": paper_protocol,
        "test_view": TEST_VIEW.describe(),
        "test_nll": _nll(model, "test", k),
        "train_nll": _nll(model, "train", k, None if exact else vae_train_limit),
        "train_nll_images": 50_000 if exact else vae_train_limit,
        "exact": exact,
        "k": None if exact else k,
        "parameters": model.num_parameters(),
        "config": json.loads((run / "config.json").read_text()),
        "training_view": View(**described["data"]["view"]).describe(),
        "train_split": described["data"]["split"],
        "best_val_step": min(val_rows, key=lambda r: r["val/loss"])["step"] if val_rows else None,
        **logged,
        "epochs": round(logged["steps"] * described["train"]["batch_size"] / 50_000, 1),
        "command": f"genmodels train {name} --data mnist-full --preset {preset} "
        f"--out {shown(run)} && python benchmarks/reproduction.py {shown(run)}",
        "machine": f"{platform.machine()}, 2 cores, {torch.get_num_threads()} torch thread(s)",
        "date": time.strftime("%Y-%m-%d"),
    }
    row["curve"] = learning_curve(run, k if exact else curve_k, curve_stride)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--k", type=int, default=5000, help="Importance samples of the VAE's final bound.")
    parser.add_argument("--curve-k", type=int, default=100, help="Importance samples of the VAE's curve.")
    parser.add_argument("--vae-train-images", type=int, default=2_000)
    parser.add_argument(
        "--curve-stride", type=int, default=1, help="Score every N-th snapshot (and the last)."
    )
    args = parser.parse_args()
    for run in args.runs:
        append_row(RESULTS, measure(run, args.k, args.curve_k, args.vae_train_images, args.curve_stride))


if __name__ == "__main__":
    main()
