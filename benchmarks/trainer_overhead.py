"""Our trainer against a bare PyTorch loop: same model, same initial weights, same batches.

The bare loop is the least a user would write: slice the next batch, binarise it, forward,
backward, step. The trainer does the same plus everything it adds per step: the objective
bookkeeping, the NaN check, accelerate's backward, the running means of the logged values, a
metrics.jsonl row and TensorBoard scalars every 50 steps, the progress bar, and its final
checkpoint and sample grid. Runs alternate (bare, trainer, bare, ...): the speed of a shared
machine drifts by more than the effect measured, so the headline is the median over rounds of
the ratio within each adjacent pair, with the ratio of the fastest runs beside it.

    python benchmarks/trainer_overhead.py [--steps 400] [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

import genmodels
from genmodels.data import BatchStream, View
from genmodels.training import TrainConfig, Trainer


def bare_loop(model, stream: BatchStream, steps: int) -> float:
    (objective,) = model.objectives()
    optimizer = objective.optimizer.build(model.parameters())
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        batch = stream.batch(step)
        optimizer.zero_grad(set_to_none=True)
        loss = -model.elbo_terms(batch["x"])["elbo"].mean()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def our_trainer(model, data, steps: int, batch_size: int) -> float:
    config = TrainConfig(steps=steps, batch_size=batch_size, log_every=50, sample_every=0, checkpoint_every=0)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, data, config, run_dir, view=View("static"))
        start = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = genmodels.load_dataset("mnist", "train")
    torch.manual_seed(0)
    initial = genmodels.create("vae", preset="cpu").state_dict()

    def fresh():
        model = genmodels.create("vae", preset="cpu")
        model.load_state_dict(initial)
        return model

    bare_loop(fresh(), BatchStream(data, View("static"), args.batch_size), 20)  # warm up the allocator
    bare, ours = [], []
    for _ in range(args.rounds):
        torch.manual_seed(0)
        bare.append(bare_loop(fresh(), BatchStream(data, View("static"), args.batch_size), args.steps))
        torch.manual_seed(0)
        ours.append(our_trainer(fresh(), data, args.steps, args.batch_size))
    result = {
        "benchmark": "trainer_overhead",
        "model": "vae (cpu preset)",
        "data": "mnist/train, statically binarised",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "bare_seconds": [round(t, 3) for t in bare],
        "trainer_seconds": [round(t, 3) for t in ours],
        "overhead": statistics.median(t / b for t, b in zip(ours, bare, strict=True)) - 1.0,
        "overhead_fastest_runs": min(ours) / min(bare) - 1.0,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"bare loop {statistics.median(bare):.2f} s, trainer {statistics.median(ours):.2f} s "
            f"for {args.steps} steps: overhead {100 * result['overhead']:+.2f}% (median of paired ratios; "
            f"fastest runs {100 * result['overhead_fastest_runs']:+.2f}%; target <= 3%)"
        )


if __name__ == "__main__":
    main()
