"""Measures of the GANs whose input or schedule is structured: a sentence, key patches, a growing
resolution. Each reads a finished run and appends one row to benchmarks/results/structured.jsonl.

    python benchmarks/structured_generation.py text2image RUN   # mnist[captions]
    python benchmarks/structured_generation.py puzzlegan RUN    # mnist[patches=3]
    python benchmarks/structured_generation.py progan RUN       # mnist padded to 32, EMA generator

Each measures on the test split of the data the run trained on (mnist or mnist-full).

- text2image: one sample per caption of the test digits, whose captions use phrasings held out of
  training; and, for comparison, one per caption of the validation digits, in the training
  phrasings (images the model never trained on either way). Digit accuracy by the shipped
  digit classifier (chance 10%); attribute agreement for the attributes a caption names (measured
  tercile equal to the named one, chance about 1/3; with the baseline of a model that draws the
  right digit but ignores the attribute words); FD-digits against the split's real digits.
- puzzlegan: each test digit rebuilt from its 3 key patches: FD-digits of the completed images,
  placement (IoU of each predicted mask with the patch's true box), appearance L1, and the share
  of completions that the digit classifier reads as the digit the patches came from.
- progan: FD-digits of 1,000 samples of the EMA generator (and of the raw one) against the test
  digits padded to 32.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rows import append_row, trained

import genmodels
from genmodels.data import View, evaluation_view

RESULTS = Path(__file__).parent / "results" / "structured.jsonl"


def _view(run: Path) -> View:
    return evaluation_view(View(**json.loads((run / "train.json").read_text())["data"]["view"]))


def _quality(result: dict) -> dict:
    keys = ("fd", "kid", "precision", "recall", "density", "coverage", "classes_covered", "score_name")
    return {k: result[k] for k in keys if k in result}


def text2image_row(run: Path) -> dict:
    from genmodels.evaluation.conditional import text_conditioning

    model, view = genmodels.load(run), _view(run)
    row: dict = {"model": "text2image"}
    for name, split in (("held_out_phrasings", "test"), ("training_phrasings", "val")):
        data = genmodels.load_dataset(_data_name(run), split)  # mnist[captions] or mnist-full[captions]
        result = text_conditioning(model, data, view, seed=0)
        row[name] = {
            "data": data.name,
            "digit_accuracy": result["digit_accuracy"],
            "digit_accuracy_per_class": result["digit_accuracy_per_class"],
            "attributes": result["attributes"],
            **_quality(result["sample_quality"]),
        }
    return row


def puzzlegan_row(run: Path) -> dict:
    from genmodels.data import to_unit
    from genmodels.evaluation.features import load_feature_network
    from genmodels.evaluation.placement import placement_scores
    from genmodels.evaluation.sample_quality import draw_samples, sample_quality

    model, view = genmodels.load(run), _view(run)
    data = genmodels.load_dataset(_data_name(run), "test")
    # Does the whole image show the digit the patches were cut from? (The shipped digit classifier.)
    completed = to_unit(draw_samples(model, len(data), seed=0, data=data, view=view), view.kind)
    same_digit = float((load_feature_network(None).classify(completed) == data.labels).float().mean())
    return {
        "model": "puzzlegan",
        "data": data.name,
        **placement_scores(model, data, seed=0),
        "same_digit": same_digit,
        **_quality(sample_quality(model, data, view, n_fake=len(data), seed=0)),
    }


def progan_row(run: Path) -> dict:
    from genmodels.evaluation.sample_quality import sample_quality

    view = _view(run)
    data = genmodels.load_dataset(_data_name(run), "test")
    row: dict = {"model": "progan", "data": data.name}
    for weights, use_ema in (("ema", True), ("raw", False)):
        model = genmodels.load(run, use_ema=use_ema)
        row[weights] = _quality(sample_quality(model, data, view, n_fake=1000, seed=0))
    return row


def _data_name(run: Path) -> str:
    return json.loads((run / "train.json").read_text())["data"]["name"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=["text2image", "puzzlegan", "progan"])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    measure = {"text2image": text2image_row, "puzzlegan": puzzlegan_row, "progan": progan_row}[args.model]
    started = time.perf_counter()
    row = measure(args.run)
    row.update(trained(args.run), run=str(args.run), date=time.strftime("%Y-%m-%d"))
    row["measure_seconds"] = round(time.perf_counter() - started, 1)
    append_row(RESULTS, row)


if __name__ == "__main__":
    main()
