"""Measures of a trained translator (CycleGAN, StarGAN) on the styled mnist test split it was
trained on; one row appended to benchmarks/results/translation.jsonl.

    python scripts/train_domain_classifier.py        # once: the domain and digit classifiers
    python benchmarks/translation.py runs/bench-cyclegan \\
        --domain-classifier runs/domain-classifiers/thin-thick \\
        --content-classifier runs/domain-classifiers/thin-thick-digits
    python benchmarks/translation.py runs/bench-stargan \\
        --domain-classifier runs/domain-classifiers/thick-invert-red \\
        --content-classifier runs/domain-classifiers/thick-invert-red-digits

See `genmodels.evaluation.translation` for what is measured: target-domain accuracy (by the domain
classifier), content preservation (digit accuracy by the styled data's digit classifier, with its
accuracy on the untranslated images as the ceiling), cycle L1 (CycleGAN) or reconstruction L1
(StarGAN), per pixel in [0, 1] units.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rows import append_row, trained

import genmodels
from genmodels.data import View
from genmodels.evaluation.translation import translation_scores

RESULTS = Path(__file__).parent / "results" / "translation.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--domain-classifier", type=Path, required=True)
    parser.add_argument("--content-classifier", type=Path, required=True)
    args = parser.parse_args()
    described = json.loads((args.run / "train.json").read_text())
    data = genmodels.load_dataset(described["data"]["name"], "test")
    model = genmodels.load(args.run)
    started = time.perf_counter()
    scores = translation_scores(
        model,
        data,
        View(**described["data"]["view"]),
        domain_network=genmodels.load(args.domain_classifier),
        content_network=genmodels.load(args.content_classifier),
    )
    row = {
        "model": model.name,
        **scores,
        **trained(args.run),
        "domain_classifier": str(args.domain_classifier),
        "content_classifier": str(args.content_classifier),
        "run": str(args.run),
        "date": time.strftime("%Y-%m-%d"),
        "measure_seconds": round(time.perf_counter() - started, 1),
    }
    append_row(RESULTS, row)


if __name__ == "__main__":
    main()
