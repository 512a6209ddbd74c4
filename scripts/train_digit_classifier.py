"""Train the digit classifier that the sample-quality metrics use, and ship it with the package.

    python scripts/train_digit_classifier.py            # trains, measures, writes the shipped folder

It trains the `classifier` model on mnist-full's 50,000 training digits (the `full` recipe, the
weights kept the best on its 10,000 `val` digits; `--data mnist` trains the cpu recipe on the
embedded 4,000 instead) through the one trainer, measures its accuracy on the data's test digits
(10,000 for mnist-full), and writes
src/genmodels/evaluation/weights/digit_classifier/ (config.json, model.safetensors and
provenance.json: the command, the accuracy, the date, the machine). The metrics refuse nothing
based on it; they record the network's name and accuracy with every result.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

import genmodels
from genmodels.data import View, ordered_batches
from genmodels.io import CONFIG_FILE, WEIGHTS_FILE

SHIPPED = Path(__file__).resolve().parents[1] / "src/genmodels/evaluation/weights/digit_classifier"


@torch.no_grad()
def accuracy(model, data_name: str, split: str) -> float:
    data = genmodels.load_dataset(data_name, split)
    correct = 0
    for batch in ordered_batches(data, View("unit"), 500):
        correct += int((model.predict(batch["x"]) == batch["y"]).sum())
    return correct / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="mnist-full", help="mnist-full (the shipped one) or mnist.")
    parser.add_argument("--out", type=Path, default=Path("runs/digit-classifier"))
    parser.add_argument("--steps", type=int, default=None, help="Default: the recipe's.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    steps = {"steps": args.steps} if args.steps else {}
    preset = "full" if args.data == "mnist-full" else "cpu"
    result = genmodels.train(
        "classifier",
        args.data,
        preset=preset,
        out=args.out,
        seed=args.seed,
        progress=False,
        overwrite=True,
        **steps,
    )
    seconds = time.perf_counter() - start
    model = genmodels.load(args.out)
    provenance = {
        "network": "digit_classifier",
        "trained_on": f"{args.data} train split ({len(genmodels.load_dataset(args.data, 'train')):,} "
        "digits, grey levels in [0, 1])",
        "test_accuracy": accuracy(model, args.data, "test"),
        "test_digits": len(genmodels.load_dataset(args.data, "test")),
        "train_accuracy": accuracy(model, args.data, "train"),
        "best_val_step": result.best_step,
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d"),
    }
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copyfile(args.out / name, SHIPPED / name)
    (SHIPPED / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance))


if __name__ == "__main__":
    main()
