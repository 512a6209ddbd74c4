"""A class-conditional density model on mnist-full's test digits, in the literature's view: the
classifier by Bayes' rule and the densities it is built from. One row appended to
benchmarks/results/bayes.jsonl.

    genmodels train nade --data mnist-full --preset full --set num_classes=10 --out runs/full/nade-classes
    python benchmarks/bayes_classifier.py runs/full/nade-classes

With log p(x | y) for every test digit and class (exact for the autoregressive models), and the
uniform prior p(y) = 1/10 (the model's own marginal):
- accuracy of ŷ(x) = argmax_y log p(x | y) + log p(y), per class, and the confusion matrix;
- the conditional NLL, −log p(x | y) with y the digit's label;
- the marginal NLL, −log p(x) = −log Σ_y p(x | y) p(y): a density over images like any other,
  comparable with the unconditional models' test NLL.
The 10,000 test digits are binarised once by Bernoulli sampling (the `stochastic` view, seed 0).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from rows import append_row, shown, trained

import genmodels
from genmodels.data import View
from genmodels.evaluation.classify import bayes_classify, class_log_likelihoods

RESULTS = Path(__file__).parent / "results" / "bayes.jsonl"
TEST_VIEW = View("stochastic", seed=0)


def measure(run: Path) -> dict:
    model = genmodels.load(run)
    data = genmodels.load_dataset("mnist-full", "test")
    log_likelihoods = class_log_likelihoods(model, data, TEST_VIEW)  # [N, 10]
    classes = log_likelihoods.shape[1]
    report = bayes_classify(model, data, TEST_VIEW, log_likelihoods=log_likelihoods)
    conditional = -log_likelihoods.gather(1, data.labels[:, None]).squeeze(1)
    marginal = -(log_likelihoods.logsumexp(1) - math.log(classes))
    return {
        **{
            k: report[k]
            for k in ("model", "data", "n", "view", "accuracy", "per_class_accuracy", "confusion")
        },
        "prior": "uniform",
        "conditional_nll": float(conditional.mean()),
        "marginal_nll": float(marginal.mean()),
        "run": str(shown(run)),
        **trained(run),
        "command": f"python benchmarks/bayes_classifier.py {shown(run)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    for run in args.runs:
        started = time.perf_counter()
        row = measure(run)
        row.update(date=time.strftime("%Y-%m-%d"), measure_seconds=round(time.perf_counter() - started, 1))
        append_row(RESULTS, row)


if __name__ == "__main__":
    main()
