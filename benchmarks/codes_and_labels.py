"""What the structured codes of InfoGAN and the label-regularised AAE recover.

    python benchmarks/codes_and_labels.py infogan RUN [--data mnist-full]   # categorical code -> digit
    python benchmarks/codes_and_labels.py aae RUN [--data mnist-full]       # test codes in their component
    python benchmarks/codes_and_labels.py aae-categorical RUN --data mnist-full  # the paper's Sections 5-6

InfoGAN, two readings, both Hungarian-matched one-to-one to the digits: (1) the paper's, Q's most
probable code for each test digit (grey levels) against its label; (2) 1,000 samples per code value
(10,000 in all) classified by the shipped digit classifier: does the code control the class. AAE:
the share of the test digits whose code falls in their class's component of the mixture prior (for
a semi-supervised run, 1 − this is its test error). The AAE with a categorical code
(`aae-categorical`): its semi-supervised test error (the code is the class), or, unsupervised, its
clustering error with each cluster named by the majority label of its `val` digits. Rows are appended to
benchmarks/results/codes_and_labels.jsonl with the data they were measured on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rows import append_row, metrics, shown, trained

import genmodels
from genmodels.data import View, evaluation_view
from genmodels.evaluation.features import load_feature_network

RESULTS = Path(__file__).parent / "results" / "codes_and_labels.jsonl"


def infogan_row(run: Path, data: str) -> dict:
    from genmodels.models.adversarial.infogan import categorical_code_accuracy, real_digit_accuracy

    network = load_feature_network(None)
    model = genmodels.load(run)
    on_samples = categorical_code_accuracy(
        model, network.classify, n_per_code=1000, generator=torch.Generator().manual_seed(0)
    )
    on_test = real_digit_accuracy(model, genmodels.load_dataset(data, "test"))
    return {"model": "infogan", "measure": "categorical code accuracy (Hungarian)",
            "value": on_test["accuracy"], "test_error": 1 - on_test["accuracy"],
            "matching": on_test["matching"], "n": on_test["n"],
            "samples_value": on_samples["accuracy"], "samples_matching": on_samples["matching"],
            "samples_n": on_samples["n"], "samples_classifier": network.name}  # fmt: skip


def aae_row(run: Path, data: str) -> dict:
    from genmodels.models.latent.aae import component_agreement

    model = genmodels.load(run)
    described = json.loads((run / "train.json").read_text())
    view = evaluation_view(View(**described["data"]["view"]))
    agreement = component_agreement(model, genmodels.load_dataset(data, "test"), view)
    labels = model.config.labels
    extra = {"labelled": model.config.labelled} if labels == "semi_supervised" else {}
    return {"model": "aae", "labels": labels, "prior": model.config.prior,
            "latent_dim": model.config.latent_dim, "encoder": model.config.encoder,
            "rates": [model.config.lr, model.config.lr_d, model.config.lr_g], **extra,
            "measure": "test codes in their class's component",
            "value": agreement, "test_error": 1 - agreement}  # fmt: skip


def kept_on_validation(run: Path, described: dict) -> dict:
    """For a run validated on a split (`--val-split`): the step whose weights it kept, the lowest
    val/loss (the model's `validation_loss`), and the patience; nothing for a run without."""
    validated = [row for row in metrics(run) if "val/loss" in row]
    if not validated:
        return {}
    best = min(validated, key=lambda row: row["val/loss"])
    return {
        "validated_on": described["data"]["val_split"],
        "kept_step": best["step"],
        "kept_val_loss": best["val/loss"],
        "patience": described["train"]["patience"],
    }


def categorical_aae_row(run: Path, data: str) -> dict:
    """Semi-supervised (trained on data with a `labelled` field): the test error of argmax q(y | x).
    Unsupervised: clusters named by the majority label of their `val` digits, then the test error."""
    from genmodels.models.latent.categorical_aae import classification_error, clustering_error

    model = genmodels.load(run)
    described = json.loads((run / "train.json").read_text())
    view = evaluation_view(View(**described["data"]["view"]))
    test = genmodels.load_dataset(data, "test")
    row = {
        "model": "aae-categorical",
        "trained_on": described["data"]["name"],
        "classes": model.config.classes,
        "rates": [model.config.lr, model.config.lr_d, model.config.lr_g],
        "batch_norm": model.config.batch_norm,
        **kept_on_validation(run, described),
    }
    if model.config.semi_supervised:
        error = classification_error(model, test, view)
        return {
            **row,
            "measure": "semi-supervised test error (code = class)",
            "value": error,
            "test_error": error,
        }
    result = clustering_error(model, genmodels.load_dataset(data, "val"), test, view)
    return {**row, "measure": "unsupervised clustering test error (clusters named on val)",
            "value": result["test_error"], **result}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=["infogan", "aae", "aae-categorical"])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", default="mnist", help="The data set whose test split is read.")
    args = parser.parse_args()
    rows = {"infogan": infogan_row, "aae": aae_row, "aae-categorical": categorical_aae_row}
    row = rows[args.model](args.run, args.data)
    row.update(data=f"{args.data}/test", run=str(shown(args.run)), **trained(args.run))
    row.update(date=time.strftime("%Y-%m-%d"))
    append_row(RESULTS, row)


if __name__ == "__main__":
    main()
