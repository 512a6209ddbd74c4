"""One NADE training step, autograd through `logits` against the fused likelihood's hand-written backward.

The step is the trainer's: forward, the batch's mean negative log-likelihood, backward, Adam. Both
paths train the same model (H = 500, 1x28x28 binary) on the same batch: 100 embedded MNIST digits,
binarised once (p = grey level / 255), as in the `cpu` recipe's dynamic view. One torch thread. The
steps alternate (autograd, fused, autograd, ...), since the speed of a shared machine drifts by more
than the effect measured: the headline is the median time of each path after a warm-up, with the
median of the ratios of adjacent pairs beside it.

    python benchmarks/nade_step.py [--steps 20] [--warmup 3] [--hidden 500] [--batch-size 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

import genmodels
from genmodels.models.autoregressive.nade import NADE


def autograd_nll(model: NADE, x: Tensor) -> Tensor:
    """The path before the fused likelihood: Bernoulli log-likelihood of the blocked `logits`."""
    return -model.likelihood.log_prob(model.logits(x), x).mean()


def fused_nll(model: NADE, x: Tensor) -> Tensor:
    return -model.log_prob(x).mean()


def timed_step(
    model: NADE, optimizer: torch.optim.Optimizer, nll: Callable[[NADE, Tensor], Tensor], x: Tensor
) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    nll(model, x).backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each path first")
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    digits = genmodels.load_dataset("mnist", "train").images[: args.batch_size].float() / 255
    x = torch.bernoulli(digits, generator=torch.Generator().manual_seed(0))
    # Two copies of one model, each with its own Adam, so that both paths step the same weights.
    torch.manual_seed(0)
    models = {"autograd": genmodels.create("nade", image_shape=(1, 28, 28), hidden=args.hidden)}
    models["fused"] = genmodels.create("nade", image_shape=(1, 28, 28), hidden=args.hidden)
    models["fused"].load_state_dict(models["autograd"].state_dict())
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=1e-3) for name, model in models.items()}
    paths = {"autograd": autograd_nll, "fused": fused_nll}

    with torch.no_grad():  # the same weights: the same log-likelihoods, up to float32 rounding
        model = models["fused"]
        difference = (model.log_prob(x) - model.likelihood.log_prob(model.logits(x), x)).abs().max()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for step in range(args.warmup + args.steps):
        for name, nll in paths.items():
            seconds = timed_step(models[name], optimizers[name], nll, x)
            if step >= args.warmup:
                times[name].append(seconds)

    ratios = [old / new for old, new in zip(times["autograd"], times["fused"], strict=True)]
    result = {
        "benchmark": "nade_step",
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "data": "1x28x28 mnist/train digits, binarised once",
        "steps": args.steps,
        "autograd_seconds": statistics.median(times["autograd"]),
        "fused_seconds": statistics.median(times["fused"]),
        "speed_up": statistics.median(times["autograd"]) / statistics.median(times["fused"]),
        "speed_up_paired": statistics.median(ratios),
        "largest_log_p_difference_nats": float(difference),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread",
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        old, new = result["autograd_seconds"] * 1e3, result["fused_seconds"] * 1e3
        print(
            f"NADE step (batch {args.batch_size}, H = {args.hidden}, 28x28, one thread), "
            f"median of {args.steps}: autograd {old:.1f} ms, fused {new:.1f} ms, {result['speed_up']:.2f}x "
            f"(median of paired ratios {result['speed_up_paired']:.2f}x); "
            f"largest |Δ log p| of an image {result['largest_log_p_difference_nats']:.1e} nats"
        )


if __name__ == "__main__":
    main()
