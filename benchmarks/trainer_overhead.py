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


class Clock:
    """Wall time, and this process's CPU time (which other tenants of a shared machine inflate far less)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def bare_loop(model, stream: BatchStream, steps: int) -> Clock:
    (objective,) = model.objectives()
    optimizer = objective.optimizer.build(model.parameters())
    model.train()
    with Clock() as clock:
        for step in range(steps):
            batch = stream.batch(step)
            optimizer.zero_grad(set_to_none=True)
            loss = -model.elbo_terms(batch["x"])["elbo"].mean()
            loss.backward()
            optimizer.step()
    return clock


def our_trainer(model, data, steps: int, batch_size: int) -> Clock:
    config = TrainConfig(steps=steps, batch_size=batch_size, log_every=50, sample_every=0, checkpoint_every=0)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, data, config, run_dir, view=View("static"))
        with Clock() as clock:
            trainer.fit()
    return clock


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

    def paired(runs_a, runs_b, field):
        return (
            statistics.median(
                getattr(a, field) / getattr(b, field) for a, b in zip(runs_a, runs_b, strict=True)
            )
            - 1
        )

    result = {
        "benchmark": "trainer_overhead",
        "model": "vae (cpu preset)",
        "data": "mnist/train, statically binarised",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "bare_seconds": [round(c.wall, 3) for c in bare],
        "trainer_seconds": [round(c.wall, 3) for c in ours],
        "bare_cpu_seconds": [round(c.cpu, 3) for c in bare],
        "trainer_cpu_seconds": [round(c.cpu, 3) for c in ours],
        "overhead": paired(ours, bare, "wall"),
        "overhead_cpu_time": paired(ours, bare, "cpu"),
        "overhead_fastest_runs": min(c.wall for c in ours) / min(c.wall for c in bare) - 1.0,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"bare loop {statistics.median(c.wall for c in bare):.2f} s, "
            f"trainer {statistics.median(c.wall for c in ours):.2f} s "
            f"for {args.steps} steps: overhead {100 * result['overhead']:+.2f}% wall time (median of paired "
            f"ratios), {100 * result['overhead_cpu_time']:+.2f}% CPU time; target <= 3%"
        )


if __name__ == "__main__":
    main()
