"""Train the domain classifiers that measure translations: does a translated image show its target?

    OMP_NUM_THREADS=1 python scripts/train_domain_classifier.py            # all six
    python scripts/train_domain_classifier.py --only thin-thick --steps 200  # one, shorter
    python scripts/train_domain_classifier.py --only full-thick-invert-red-digits --steps 6000

Each trains the `classifier` model (cpu preset and its recipe) through the one trainer on a styled
view of the train split that the translation benchmarks use:

- thin-thick: `mnist[domains=thin/thick]`, target "domain" (CycleGAN's stroke pair);
- grey-red:   `mnist[domains=grey/red]`, target "domain" (CycleGAN's colour pair);
- thick-invert-red: `mnist[styles=thick/invert/red]`, target "attributes" (StarGAN's labels);
- and, for each, `<name>-digits`: target "y", the digit classifier of that styled data, which
  measures whether a translation keeps its digit;
- full-thin-thick, full-thick-invert-red and their `-digits`: the same on `mnist-full` (trained
  on its 50,000 training digits, measured on its 10,000 test digits).

Runs go to runs/domain-classifiers/<name>/ (a loadable model folder). The test accuracy (for
attributes: the share of attribute entries right, and per attribute) on the same view of the
test digits (1,000 in mnist, 10,000 in mnist-full) is written to each run's accuracy.json and to
runs/domain-classifiers/accuracy.json, and printed as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

import genmodels
from genmodels.data import View, ordered_batches

CLASSIFIERS: dict[str, tuple[str, str]] = {
    "thin-thick": ("mnist[domains=thin/thick]", "domain"),
    "grey-red": ("mnist[domains=grey/red]", "domain"),
    "thick-invert-red": ("mnist[styles=thick/invert/red]", "attributes"),
    # Digit classifiers of the same styled data: does a translation keep its digit? (They read
    # digits in every style, which the shipped classifier, trained on plain digits, cannot.)
    "thin-thick-digits": ("mnist[domains=thin/thick]", "y"),
    "grey-red-digits": ("mnist[domains=grey/red]", "y"),
    "thick-invert-red-digits": ("mnist[styles=thick/invert/red]", "y"),
    # The same judges on mnist-full's 50,000 training digits (issue 15's and the zoo's translators).
    "full-thin-thick": ("mnist-full[domains=thin/thick]", "domain"),
    "full-thick-invert-red": ("mnist-full[styles=thick/invert/red]", "attributes"),
    "full-thin-thick-digits": ("mnist-full[domains=thin/thick]", "y"),
    "full-thick-invert-red-digits": ("mnist-full[styles=thick/invert/red]", "y"),
}


@torch.no_grad()
def accuracy(model, data_name: str, split: str = "test") -> dict[str, object]:
    """The share of known targets predicted right, overall and per output name."""
    model.eval()
    data = genmodels.load_dataset(data_name, split)
    right = known = 0
    per_output: dict[str, list[int]] = {}
    names = model.config.label_names
    for batch in ordered_batches(data, View("unit"), 500):
        logits, targets = model(batch["x"]), model.targets(batch)
        batch_right, batch_known = model.scores(logits, targets)
        right, known = right + int(batch_right), known + int(batch_known)
        if model.config.multi_label:
            hits = ((logits > 0).float() == targets) & ~torch.isnan(targets)
            for k, name in enumerate(names):
                counts = per_output.setdefault(name, [0, 0])
                counts[0] += int(hits[:, k].sum())
                counts[1] += int((~torch.isnan(targets[:, k])).sum())
    report: dict[str, object] = {"accuracy": right / max(known, 1), "n": len(data)}
    if per_output:
        report["per_attribute"] = {name: r / max(k, 1) for name, (r, k) in per_output.items()}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/domain-classifiers"))
    parser.add_argument("--only", choices=sorted(CLASSIFIERS), action="append", help="Train only these.")
    parser.add_argument("--steps", type=int, default=None, help="Default: the cpu recipe's.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = {"steps": args.steps} if args.steps else {}
    summary_file = args.out / "accuracy.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    for name in args.only or list(CLASSIFIERS):
        data_name, target = CLASSIFIERS[name]
        run = args.out / name
        start = time.perf_counter()
        result = genmodels.train(
            "classifier", data_name, preset="cpu", config={"target": target}, out=run,
            seed=args.seed, progress=False, overwrite=True, **steps,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        model = genmodels.load(run)
        record = {
            "data": data_name,
            "target": target,
            "outputs": list(model.config.label_names),
            "test": accuracy(model, data_name, "test"),
            "train_accuracy": accuracy(model, data_name, "train")["accuracy"],
            "steps": result.steps,
            "train_seconds": round(seconds, 1),
            "command": "python " + " ".join(sys.argv),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
            "date": time.strftime("%Y-%m-%d"),
        }
        (run / "accuracy.json").write_text(json.dumps(record, indent=2) + "\n")
        summary[name] = record
        args.out.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{name}: test accuracy {record['test']['accuracy']:.4f} ({seconds:.0f} s)", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
