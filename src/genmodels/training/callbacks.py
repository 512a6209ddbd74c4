"""What the trainer does beside optimising: an exponential moving average of the weights, metric
logs (metrics.jsonl and TensorBoard), and sample grids. Each is a small object the loop calls
explicitly, so a reader of trainer.py sees every step."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class EMA:
    """shadow ← decay · shadow + (1 − decay) · weights, after every step (parameters and float buffers)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {name: t.detach().clone() for name, t in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[name].lerp_(value, 1.0 - self.decay)
            else:
                self.shadow[name].copy_(value)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Temporarily swap the averaged weights in (for samples and validation)."""
        saved = {name: t.detach().clone() for name, t in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(saved)


class MetricLog:
    """Running means of the logged values between writes; rows go to metrics.jsonl and TensorBoard."""

    def __init__(self, run_dir: Path, *, tensorboard: bool, enabled: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled
        self.sums: dict[str, Tensor | float] = {}
        self.counts: dict[str, int] = {}
        self.writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy: imported only when used

            self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def accumulate(self, prefix: str, values: dict[str, Any]) -> None:
        for key, value in values.items():
            name = f"{prefix}/{key}"
            value = value.detach() if isinstance(value, Tensor) else value
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def pop_means(self) -> dict[str, float]:
        means = {name: float(total) / self.counts[name] for name, total in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means

    def write(self, step: int, values: dict[str, float], **extra: Any) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **extra, **values}) + "\n")
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def image(self, tag: str, grid: Tensor, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, grid, step)

    def truncate_after(self, step: int) -> None:
        """On resume, forget rows logged after the checkpoint: they are about to be logged again."""
        if not self.enabled or not self.path.is_file():  # one process (the main one) owns the file
            return
        rows = [line for line in self.path.read_text().splitlines() if line.strip()]
        kept = [line for line in rows if json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def state(self) -> dict[str, Any]:
        return {"sums": {k: float(v) for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Stopwatch:
    """Wall time spent training, carried across resumes."""

    def __init__(self, already: float = 0.0) -> None:
        self.already, self.start = already, time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.already + time.perf_counter() - self.start
