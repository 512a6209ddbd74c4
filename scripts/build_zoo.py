"""Write a zoo entry (src/genmodels/zoo/NAME/) from a finished run on mnist-full.

    python scripts/build_zoo.py nade=runs/full/nade vae=runs/full/vae ...
    python scripts/build_zoo.py --ema aae=runs/full/aae-ema      # the run's averaged weights

For each run: the model is loaded, and its `check` (`genmodels.zoo.check`: for a density, the
mean NLL in nats of the first 100 test digits of mnist-full, binarised once with seed 0, exact for
the autoregressive models and the importance-weighted bound with k = 100 and seed 0 for the VAE;
for a model that only samples, the FD-digits of 1,000 seeded samples against the first 1,000 test
digits) is computed with the weights in float32 and rounded to float16. The weights are stored in
float16 when that moves the check by less than 0.01 nats (and no NLL on the first 1,000 test digits
by more than that either) or, for FD-digits, by less than 0.5%; else in float32.
The entry gets the run's config.json and train.json, and provenance.json: the training commands
(train.json's, or the headline rows' `genmodels train`, or `--command` for a run that recorded none) and
headline numbers from benchmarks/results/*.jsonl (the rows of this run and of the weights shipped),
the code that trained it (train.json's `code`, where the trainer recorded it), the commit that built
the entry, the check. With --ema the entry ships the run's averaged weights (`--ema-decay`), and its
headline rows are those measured with them (`sample_quality.py --ema`, `parzen.py --ema`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import genmodels
from genmodels.data import View
from genmodels.io import CONFIG_FILE, EMA_FILE, WEIGHTS_FILE, save_tensors
from genmodels.zoo import PROVENANCE_FILE, ZOO_ROOT, check, check_nll

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TOLERANCE = 0.01  # nats: below the two decimals the tables report
FD_TOLERANCE = 0.005  # relative: FD-digits are reported to one decimal, in the tens to hundreds


def headline(run: Path, ema: bool = False) -> list[dict]:
    """This run's rows in benchmarks/results: the reproduction, Parzen and mnist-full sample-quality
    tables here, the conditional models' tables in `_conditional_headline`."""
    rows = []
    shown = str(run.resolve().relative_to(ROOT)) if run.resolve().is_relative_to(ROOT) else str(run)
    for row in _rows_of("reproduction.jsonl", shown)[-1:]:  # the latest row wins
        estimate = "exact" if row["exact"] else f"IW bound, k = {row['k']}"
        rows.append({"measure": "test NLL", "value": round(row["test_nll"], 2), "unit": "nats",
                     "protocol": f"mnist-full test, {row['test_view']}, {estimate}",
                     "command": row["command"], "paper": row["paper_nll"]})  # fmt: skip
    parzen = [row for row in _rows_of("parzen.jsonl", shown) if bool(row.get("ema")) == ema]
    for row in parzen[-1:]:  # the latest row wins
        protocol = (
            f"{row['n_samples']:,} {row['kernels_on']}, σ {row['parzen_sigma']:.3f} chosen on val, "
            "mnist-full test (grey)"
        )
        value = round(row["parzen_log_likelihood"], 1)
        rows.append({"measure": "Parzen log-likelihood", "value": value, "unit": "nats",
                     "protocol": protocol, "command": row["command"]})  # fmt: skip
    on_full = [  # rows of the weights the entry holds: not a snapshot chosen on val, nor the EMA's
        row
        for row in _rows_of("sample_quality.jsonl", shown)
        if row["real"].startswith("mnist-full/")
        and row.get("weights", WEIGHTS_FILE) == WEIGHTS_FILE
        and bool(row.get("ema")) == ema
    ]
    for row in on_full[-1:]:  # the latest row wins
        protocol = (
            f"{row['n_fake']:,} samples against {row['real']}, n = {row['n_real']:,}; "
            f"recall {row['recall']:.3f}, precision {row['precision']:.3f}, "
            f"{row['classes_covered']} / 10 classes"
        )
        command = (
            f"python benchmarks/sample_quality.py --models {row['model']} --run "
            f"{row['model']}={shown} --data mnist-full --samples {row['n_fake']}{' --ema' if ema else ''}"
        )
        rows.append({"measure": "FD-digits", "value": round(row["fd"], 1), "unit": "FD-digits",
                     "protocol": protocol, "command": command})  # fmt: skip
    return rows + _conditional_headline(shown)


def _rows_of(file: str, run: str) -> list[dict]:
    path = RESULTS / file
    if not path.is_file():
        return []
    return [row for line in path.read_text().splitlines() if (row := json.loads(line))["run"] == run]


def _conditional_headline(run: str) -> list[dict]:
    """The translators', the structured GANs', the class-conditional densities' and the categorical
    AAE's numbers (the latest row of each table)."""
    rows = []
    for row in _rows_of("translation.jsonl", run)[-1:]:
        command = (
            f"python benchmarks/translation.py {run} --domain-classifier {row['domain_classifier']} "
            f"--content-classifier {row['content_classifier']}"
        )
        protocol = f"{row['data']}, judged by classifiers trained on the same styled digits"
        round_trip = "cycle_l1" if "cycle_l1" in row else "reconstruction_l1"
        for measure, key in (
            ("target-domain accuracy", "target_accuracy"),
            ("digit kept", "content_accuracy"),
            (round_trip.replace("_l1", " L1 per pixel"), round_trip),
        ):
            rows.append({"measure": measure, "value": round(row[key], 4), "protocol": protocol,
                         "command": command})  # fmt: skip
    for row in _rows_of("structured.jsonl", run)[-1:]:
        command = f"python benchmarks/structured_generation.py {row['model']} {run}"
        if row["model"] == "puzzlegan":
            protocol = f"each of the {row['images']:,} {row['data']} digits rebuilt from its key patches"
            measures = (
                ("completion shows the source digit", "same_digit"),
                ("placement mean IoU", "mean_iou"),
                ("FD-digits of the completions", "fd"),
            )
        elif row["model"] == "text2image":
            row = {**row, **row["held_out_phrasings"]}
            protocol = f"one sample per caption of {row['data']} (phrasings held out of training)"
            measures = (("digit accuracy", "digit_accuracy"), ("FD-digits", "fd"))
        else:
            continue
        for measure, key in measures:
            rows.append({"measure": measure, "value": round(row[key], 3), "protocol": protocol,
                         "command": command})  # fmt: skip
    for row in _rows_of("bayes.jsonl", run)[-1:]:
        protocol = f"{row['data']}, {row['view']}, exact"
        rows.append({"measure": "test NLL", "value": round(row["marginal_nll"], 2), "unit": "nats",
                     "protocol": protocol + ", −log p(x) = −log Σ_y p(x | y)/10",
                     "command": row["command"]})  # fmt: skip
        rows.append({"measure": "Bayes-rule accuracy", "value": round(row["accuracy"], 4),
                     "protocol": protocol + ", argmax_y log p(x | y) + log 1/10",
                     "command": row["command"]})  # fmt: skip
    for row in _rows_of("codes_and_labels.jsonl", run)[-1:]:
        if row["model"] == "aae-categorical":  # its error by label or cluster (InfoGAN's: Parzen, FD)
            command = f"python benchmarks/codes_and_labels.py {row['model']} {run} --data mnist-full"
            rows.append({"measure": row["measure"], "value": round(row["test_error"], 4),
                         "protocol": f"trained on {row['trained_on']}, {row['classes']} classes; "
                                     f"{row['data']}", "command": command})  # fmt: skip
    return rows


def training_commands(run: Path, described: dict, given: list[str]) -> list[str]:
    """The commands that trained the run, one per sitting: as given, else as train.json recorded
    them (runs trained since 2026-12-02), else the `genmodels train` of the run's headline rows."""
    commands = given or described.get("commands") or []
    if not commands:
        found = {row["command"].split("&&")[0].strip() for row in headline(run)}
        commands = sorted(c for c in found if c.startswith("genmodels train"))
    if not commands:
        raise SystemExit(f"{run}: no training command recorded; give it with --command")
    return commands


def build(name: str, run: Path, commands: list[str] | None = None, ema: bool = False) -> dict:
    model = genmodels.load(run, use_ema=ema).eval()
    view = genmodels.evaluation_view_of(run, model)
    described = json.loads((run / "train.json").read_text())
    trained_with = training_commands(run, described, commands or [])
    data = described["data"]
    full = check(model, view, data["name"])["value"]
    weights = model.state_dict()
    half = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    rounded = genmodels.load(run, use_ema=ema).eval()
    rounded.load_state_dict(half)
    moved = abs(check(rounded, view, data["name"])["value"] - full)
    if "density" in model.capabilities():
        moved = max(moved, abs(check_nll(rounded, 1000) - check_nll(model, 1000)))
        use_half = moved < TOLERANCE
    else:
        use_half = moved < FD_TOLERANCE * full
    folder = ZOO_ROOT / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    save_tensors(folder / WEIGHTS_FILE, half if use_half else weights)
    for file in (CONFIG_FILE, "train.json"):
        shutil.copyfile(run / file, folder / file)
    shipped = genmodels.load(folder).eval()
    built = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    provenance = {
        "model": model.name,
        "parameters": model.num_parameters(),
        "data": f"{data['name']}/{data['split']}",
        "training_view": View(**data["view"]).describe(),
        "steps": _metrics(run)[-1]["step"],  # reached (a time budget may end a run before its count)
        "train_seconds": next((row["time"] for row in reversed(_metrics(run)) if "time" in row), None),
        "commands": trained_with,
        "headline": headline(run, ema),
        "trained_by": described.get(
            "code", "not recorded (the trainer recorded no commit before 2026-12-01 22:50)"
        ),
        "built_at_commit": built.stdout.strip() or None,
        "run": str(run),
        "weights": "float16" if use_half else "float32",
        "weights_of_the_run": EMA_FILE if ema else WEIGHTS_FILE,  # the averaged or the raw weights
        "float16_moved_the_check_by": round(moved, 5),
        "check": check(shipped, view, data["name"]),
        "date": time.strftime("%Y-%m-%d"),
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("entries", nargs="+", help="NAME=RUN")
    parser.add_argument(
        "--command",
        action="append",
        default=[],
        help="a command that trained the run (repeat for each sitting), where train.json records none; "
        "one entry only",
    )
    parser.add_argument(
        "--ema", action="store_true", help="Ship the runs' averaged weights (trained with --ema-decay)."
    )
    args = parser.parse_args()
    if args.command and len(args.entries) != 1:
        parser.error("--command names the commands of one entry")
    for entry in args.entries:
        name, _, run = entry.partition("=")
        provenance = build(name, Path(run), args.command, args.ema)
        print(
            name, json.dumps({k: provenance[k] for k in ("weights", "float16_moved_the_check_by", "check")})
        )


if __name__ == "__main__":
    main()
