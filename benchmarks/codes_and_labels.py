"""What the structured codes of InfoGAN and the label-regularised AAE recover, on `mnist`.

    python benchmarks/codes_and_labels.py infogan RUN      # categorical code -> digit, Hungarian-matched
    python benchmarks/codes_and_labels.py aae RUN          # test codes in their class's mixture component

InfoGAN: 1,000 samples per categorical code value (10,000 in all) classified by the shipped digit
classifier; codes are matched to digits one-to-one (Hungarian) and the accuracy is the share of
samples showing their code's digit. AAE: the share of the 1,000 test digits whose code falls in
their class's component of the mixture prior (for a semi-supervised run, 1 − this is its test
error). Rows are appended to benchmarks/results/codes_and_labels.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genmodels
from genmodels.data import View, evaluation_view
from genmodels.evaluation.features import load_feature_network

RESULTS = Path(__file__).parent / "results" / "codes_and_labels.jsonl"


def infogan_row(run: Path) -> dict:
    from genmodels.models.adversarial.infogan import categorical_code_accuracy

    network = load_feature_network(None)
    model = genmodels.load(run)
    result = categorical_code_accuracy(
        model, network.classify, n_per_code=1000, generator=torch.Generator().manual_seed(0)
    )
    measure = "categorical code accuracy (Hungarian)"
    return {"model": "infogan", "measure": measure, "value": result["accuracy"],
            "matching": result["matching"], "n": result["n"]}  # fmt: skip


def aae_row(run: Path) -> dict:
    from genmodels.models.latent.aae import component_agreement

    model = genmodels.load(run)
    described = json.loads((run / "train.json").read_text())
    view = evaluation_view(View(**described["data"]["view"]))
    agreement = component_agreement(model, genmodels.load_dataset("mnist", "test"), view)
    labels = model.config.labels
    extra = {"labelled": model.config.labelled} if labels == "semi_supervised" else {}
    return {"model": "aae", "labels": labels, **extra, "measure": "test codes in their class's component",
            "value": agreement, "test_error": 1 - agreement}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=["infogan", "aae"])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    row = infogan_row(args.run) if args.model == "infogan" else aae_row(args.run)
    row.update(run=str(args.run), date=time.strftime("%Y-%m-%d"))
    print(json.dumps(row))
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
