"""The one training loop. Every model trains here: for each batch, for each of the model's
objectives that is due, zero that objective's optimiser, compute its loss, backward, step.

Around that loop, and nothing model-specific: seeding, accelerate (device, mixed precision),
metric logs, sample grids, an optional EMA of the weights, validation with early stopping,
atomic checkpoints and exact resume (the batches are a function of the step, the RNG states are
saved), a stop with a clear message on a NaN or infinite loss, and a run folder that one training
at a time writes (`run_folder`: locked, never overwritten unasked).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genmodels.config import config_to_dict
from genmodels.data import BatchStream, ImageSet, View, ordered_batches, to_uint8
from genmodels.data.batches import rows_batch
from genmodels.io import (
    EMA_FILE,
    WEIGHTS_FILE,
    ModelFolderError,
    atomic_write,
    link_or_copy,
    save_model_config,
    save_tensors,
    write_json,
)
from genmodels.models.base import GenerativeModel, Objective
from genmodels.training.callbacks import EMA, MetricLog, Stopwatch
from genmodels.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from genmodels.training.run_folder import RunFolderError, clear_run, refuse_existing_run, run_lock
from genmodels.viz import image_grid, save_image


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the run stopped and its last good checkpoint is kept."""


@dataclass
class TrainConfig:
    steps: int | None = None  # total optimisation steps (batches); or give epochs
    epochs: float | None = None
    batch_size: int = 128
    seed: int = 0
    log_every: int = 50
    sample_every: int = 1000  # 0: only at the end
    checkpoint_every: int = 1000  # 0: only at the end
    val_every: int = 0  # 0: no validation
    patience: int = 0  # early stopping after this many validations without improvement (0: never)
    ema_decay: float = 0.0  # 0: no EMA
    # Stop (and checkpoint) once this much training time has passed, resumed time included (0: no
    # limit): a wall-clock budget, as the reproduction table's "60 minutes on 2 cores". Where it
    # stops depends on the machine's speed, so such a run is reproducible up to its step count.
    max_minutes: float = 0.0
    # Keep the weights every N steps as snapshots/step_XXXXXXX.safetensors (0: none), so a learning
    # curve can be measured afterwards on data that training must never see (the test split).
    snapshot_every: int = 0
    num_samples: int = 64
    # Log the digit classes of each sample grid (shipped digit classifier; 1x28x28 images only).
    sample_classes: bool = True
    max_grad_norm: float = 0.0  # 0: no clipping
    # "cosine": every objective's learning rate falls from its value to 0 over the run's steps (the
    # step noise of Adam at a fixed rate costs the likelihood models about a nat at the end).
    lr_decay: Literal["none", "cosine"] = "none"
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    cpu: bool = False  # train on the CPU even where an accelerator is present
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        # A budget of zero or fewer steps would "train" nothing and leave a folder without weights;
        # a zero interval would divide by zero deep in the loop. Checked here, so the CLI, the
        # Python API and a resumed run's train.json are all held to it.
        positive = {
            "steps": self.steps,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "log_every": self.log_every,
        }
        at_least_zero = {
            "sample_every": self.sample_every,
            "checkpoint_every": self.checkpoint_every,
            "val_every": self.val_every,
            "patience": self.patience,
            "max_minutes": self.max_minutes,
            "snapshot_every": self.snapshot_every,
            "num_samples": self.num_samples,
            "max_grad_norm": self.max_grad_norm,
        }
        for name, value in positive.items():
            if value is not None and not (0 < value < math.inf):
                raise ValueError(f"{name} must be a positive number, got {value}")
        for name, value in at_least_zero.items():
            if not (0 <= value < math.inf):
                raise ValueError(f"{name} must be 0 or more, got {value}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no EMA), got {self.ema_decay}")

    def total_steps(self, batches_per_epoch: int) -> int:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps and epochs (--steps / --epochs)")
        return self.steps if self.steps is not None else math.ceil(self.epochs * batches_per_epoch)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    stopped_early: bool = False
    best_step: int | None = None
    best_val: float | None = None
    last_logs: dict[str, float] = field(default_factory=dict)


def _rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(np.random.get_state()[1].tobytes(), dtype=np.uint8).copy()),
        "numpy_pos": np.random.get_state()[2],
        "python": random.getstate()[1],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = np.frombuffer(state["numpy"].numpy().tobytes(), dtype=np.uint32)
    np.random.set_state(("MT19937", keys, int(state["numpy_pos"]), 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains `model` on `data` into `run_dir`, or resumes the run found there."""

    def __init__(
        self,
        model: GenerativeModel,
        data: ImageSet,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        view: View | None = None,
        val_data: ImageSet | None = None,
        data_spec: dict[str, Any] | None = None,
    ) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.view = view or model.default_view()
        model.check_view(self.view)
        expected = self.view.image_shape(data.image_shape)
        if tuple(model.config.image_shape) != expected:
            raise ValueError(
                f"{model.name} is configured for images {tuple(model.config.image_shape)} "
                f"but the data ({data.name}, view {self.view.kind}) gives {expected}"
            )
        # accelerate 1.x sets up processes on the CPU (gloo) only when told `cpu=True`: without it,
        # `torchrun --nproc_per_node N` on a machine with no accelerator gave N independent
        # single-process runs, each writing the same run folder.
        cpu = config.cpu or not torch.accelerator.is_available()
        self.accelerator = _accelerator(cpu, config.mixed_precision)
        self.distributed = self.accelerator.num_processes > 1
        self.model = model.to(self.accelerator.device)
        self.data, self.val_data = data, val_data
        if config.val_every and val_data is None:
            raise ValueError("validating every N steps (val_every) needs validation data (--val-split)")
        self.data_spec = data_spec or {"name": data.name}
        self.objectives = model.objectives()
        self.optimizers = [self._optimizer(o) for o in self.objectives]
        self._base_lrs = {id(o): [g["lr"] for g in o.param_groups] for o in self.optimizers}
        self.stream = BatchStream(
            data,
            self.view,
            config.batch_size,
            config.seed,
            rank=self.accelerator.process_index,
            world_size=self.accelerator.num_processes,
        )
        self.total_steps = config.total_steps(self.stream.batches_per_epoch)
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        self.is_main = self.accelerator.is_main_process
        self._progress_every = max(1, self.total_steps // 500)  # the bar moves in 0.2% steps
        # The command lines that trained the run, one per sitting (a resumed run adds its own).
        self.commands: list[str] = []

    def _optimizer(self, objective: Objective) -> torch.optim.Optimizer:
        optimizer = objective.optimizer.build(objective.parameters())
        # accelerate's optimizer wrapper is needed only for fp16 loss scaling; elsewhere it costs a
        # package look-up on disk at every step (its `is_lomo_available()`), several % of a small model.
        return (
            self.accelerator.prepare_optimizer(optimizer)
            if self.accelerator.scaler is not None
            else optimizer
        )

    def _lr_factor(self, objective: Objective, step: int) -> float | None:
        """The model's own schedule for this objective (CycleGAN's linear decay), times the run's
        `lr_decay` (cosine from 1 at the first step to 0 at the last); None: leave the lr alone."""
        factor = None if objective.lr_factor is None else objective.lr_factor(step, self.total_steps)
        if self.config.lr_decay == "cosine":
            factor = (
                (1.0 if factor is None else factor) * 0.5 * (1 + math.cos(math.pi * step / self.total_steps))
            )
        return factor

    # -- the loop --------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
        """Train to the step budget into the run folder: afresh into a folder that holds no run, or
        with `overwrite` over the run it holds (cleared first), or with `resume` on from the run's
        last checkpoint. The main process holds the folder's lock from its first write to its last."""
        if resume and overwrite:
            raise ValueError("resume a run or overwrite it, not both")
        with run_lock(self.run_dir) if self.is_main else contextlib.nullcontext():
            result = self._fit(*self._start(resume, overwrite))
        if self.distributed:
            # Rank 0 still writes samples when the others finish: a process that exits with its
            # gloo group alive aborts ("terminate called without an active exception"), which
            # fails the whole launch. Every process waits, then the group is torn down. (Not after
            # an error: a barrier that one process never reaches would hang the others.)
            self.accelerator.wait_for_everyone()
            self.accelerator.end_training()
        return result

    def _fit(
        self, start: int, stopwatch: Stopwatch, best: dict[str, Any], bad_validations: int
    ) -> TrainResult:
        milestones = self.model.milestones()
        log = self.log
        stopped_early, done = False, start
        last_logs: dict[str, float] = {}
        with self._progress() as progress, self._stop_at_step_end_on_ctrl_c() as interrupted:
            task = progress.add_task(self.model.name, total=self.total_steps, completed=start, logs="")
            self.model.train()
            for step in range(start, self.total_steps):
                self.model.on_step(step)
                batch = {
                    k: v.to(self.accelerator.device, non_blocking=True)
                    for k, v in self.stream.batch(step).items()
                }
                for objective, optimizer in zip(self.objectives, self.optimizers, strict=True):
                    if step % objective.every:
                        continue
                    factor = self._lr_factor(objective, step)
                    if factor is not None:
                        for group, base in zip(
                            optimizer.param_groups, self._base_lrs[id(optimizer)], strict=True
                        ):
                            group["lr"] = base * factor
                    optimizer.zero_grad(set_to_none=True)
                    with self.accelerator.autocast():
                        loss, logs = objective.loss(batch)
                    self.accelerator.backward(loss)
                    checked = self._average_gradients(objective, loss) if self.distributed else loss.detach()
                    if not torch.isfinite(checked):  # before the step: the weights stay good
                        self._diverged(step, objective.name, float(checked))
                    if self.config.max_grad_norm > 0:
                        logs["grad_norm"] = self.accelerator.clip_grad_norm_(
                            list(objective.parameters()), self.config.max_grad_norm
                        )
                    elif (step + 1) % self.config.log_every == 0:  # a diagnostic: measured when logged
                        logs["grad_norm"] = _gradient_norm(objective.parameters())
                    optimizer.step()
                    log.accumulate(objective.name, {"loss": loss.detach(), **logs})
                if self.ema is not None:
                    self.ema.update(self.model)
                done = step + 1
                if done % self.config.log_every == 0 or done == self.total_steps:
                    last_logs = self._mean_over_processes(log.pop_means())
                    log.write(
                        done,
                        last_logs,
                        epoch=round(done / self.stream.batches_per_epoch, 3),
                        time=round(stopwatch.seconds, 2),
                    )
                    progress.update(task, logs=_summary(last_logs))
                if done % self._progress_every == 0 or done == self.total_steps:
                    progress.update(task, completed=done)
                if self.config.val_every and done % self.config.val_every == 0:
                    value = self.validate()
                    if self.distributed:  # batch norm statistics differ between processes: rank 0 decides
                        value = _broadcast_object(value)
                    log.write(done, {"val/loss": value})
                    if best["value"] is None or value < best["value"]:
                        best.update(value=value, step=done)
                        bad_validations = 0
                        if self.is_main:
                            save_tensors(
                                self.run_dir / "checkpoints" / "best.safetensors", self._weights_to_keep()
                            )
                    else:
                        bad_validations += 1
                    if self.config.patience and bad_validations >= self.config.patience:
                        stopped_early = True
                if self.config.sample_every and done % self.config.sample_every == 0:
                    self.write_samples(done)
                if done in milestones:
                    self.write_samples(done, name=milestones[done])
                if self.config.snapshot_every and done % self.config.snapshot_every == 0 and self.is_main:
                    save_tensors(
                        self.run_dir / "snapshots" / f"step_{done:07d}.safetensors", self._weights_to_keep()
                    )
                if self.config.max_minutes and done < self.total_steps:
                    out_of_time = stopwatch.seconds >= 60 * self.config.max_minutes
                    if self.distributed:  # every process stops at the same step: rank 0's clock decides
                        out_of_time = bool(_broadcast_object(out_of_time))
                    if out_of_time:
                        log.write(
                            done, {}, event=f"time budget of {self.config.max_minutes:g} minutes reached"
                        )
                        stopped_early = True
                is_last = done == self.total_steps or stopped_early or interrupted.is_set()
                if is_last or (self.config.checkpoint_every and done % self.config.checkpoint_every == 0):
                    self._checkpoint(done, stopwatch.seconds, best, bad_validations)
                if interrupted.is_set() and done < self.total_steps:
                    log.write(done, {}, event="interrupted (Ctrl-C): checkpointed")
                    log.close()
                    raise KeyboardInterrupt
                if stopped_early:
                    break
        self._finish(done, best)
        return TrainResult(
            self.run_dir, done, stopwatch.seconds, stopped_early, best["step"], best["value"], last_logs
        )

    @contextlib.contextmanager
    def _stop_at_step_end_on_ctrl_c(self) -> Iterator[threading.Event]:
        """Ctrl-C (SIGINT) during training sets the event: the loop checkpoints the step it is on and
        raises KeyboardInterrupt, so no step is lost. A Python KeyboardInterrupt raised wherever the
        signal lands could also be swallowed (one raised inside a finaliser is only printed) and the
        training would go on. A second Ctrl-C interrupts at once. Only in the main thread of a single
        process: the processes of a launch stop together through their launcher."""
        interrupted = threading.Event()
        if (
            self.distributed
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # started to ignore it (nohup, &)
        ):
            yield interrupted
            return

        def request_stop(signum: int, frame: Any) -> None:
            if interrupted.is_set():
                raise KeyboardInterrupt
            interrupted.set()

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield interrupted
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- data parallelism ------------------------------------------------------------------------
    # Each process computes its objective's loss on its share of the global batch, then the
    # gradients of that objective's parameters are averaged over the processes before the step, so
    # every process takes the same step from the same weights. Why not DDP (`accelerator.prepare`)?
    # DDP synchronises the gradients of one module's forward; here objectives have their own
    # optimisers over parameter subsets (a GAN's critic and generator), call submodules directly,
    # and one objective's backward leaves gradients on another's parameters, to be discarded. One
    # flat all-reduce per objective step is simple and exact for all of them. Gradient averaging
    # equals the single-process gradient where the loss is a mean over the rows of the batch; losses
    # that couple the rows (batch statistics, MMD, minibatch discrimination) see only their share.
    # Batch norm running statistics are not synchronised: each process keeps its own, and rank 0's
    # are the ones checkpointed (and used for validation and samples).
    def _average_gradients(self, objective: Objective, loss: torch.Tensor) -> torch.Tensor:
        """Averages the objective's gradients over the processes in place; returns the mean loss."""
        params = [p for p in objective.parameters() if p.requires_grad]
        # A gradient may exist on some processes only (a term absent from a share of the batch):
        # count the processes that have one, and keep None where none has, as one process would.
        present = torch.tensor(
            [p.grad is not None for p in params], dtype=torch.float32, device=self.accelerator.device
        )
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads] + [present, loss.detach().reshape(1).float()])
        torch.distributed.all_reduce(flat)
        flat /= self.accelerator.num_processes
        offset = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[offset : offset + g.numel()].view_as(g).to(g.dtype)
            offset += g.numel()
        for p, seen in zip(params, flat[offset : offset + len(params)].tolist(), strict=True):
            if seen == 0:
                p.grad = None
        return flat[-1]

    def _mean_over_processes(self, logs: dict[str, float]) -> dict[str, float]:
        """The logged means averaged over the processes (each saw its share of the batches)."""
        if not self.distributed:
            return logs
        gathered: list[dict[str, float]] = [{} for _ in range(self.accelerator.num_processes)]
        torch.distributed.all_gather_object(gathered, logs)
        return {
            key: sum(g[key] for g in gathered if key in g) / sum(key in g for g in gathered)
            for key in dict.fromkeys(k for g in gathered for k in g)
        }

    # -- pieces of the loop ----------------------------------------------------------------------
    def _start(self, resume: bool, overwrite: bool) -> tuple[int, Stopwatch, dict[str, Any], int]:
        """The step to start from, with the clock, best validation and patience count so far.
        Everything that can refuse (a run already there, no checkpoint, a finished budget) does so
        before the first write."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        best: dict[str, Any] = {"value": None, "step": None}
        if not resume:
            if self.is_main and overwrite:
                clear_run(self.run_dir)
            elif self.is_main:
                refuse_existing_run(self.run_dir)
            self.log = MetricLog(self.run_dir, tensorboard=self.config.tensorboard, enabled=self.is_main)
            if self.distributed:  # every process starts from rank 0's weights (as DDP would)
                for tensor in self.model.state_dict().values():
                    torch.distributed.broadcast(tensor, src=0)
            _seed_everything(self.config.seed)
            self.commands = _command_line()
            if self.is_main:
                save_model_config(self.model, self.run_dir)  # the weights come with each checkpoint
                write_json(self.run_dir / "train.json", self.describe())
            return 0, Stopwatch(), best, 0
        checkpoint = latest_checkpoint(self.run_dir)
        if checkpoint is None:
            raise RunFolderError(
                f"{self.run_dir}: no checkpoint to resume from (the run stopped before its first); "
                "start it again with --overwrite"
            )
        weights, state, ema = load_checkpoint(checkpoint)
        done = int(state["step"])
        if done >= self.total_steps:
            has = f"its {done} steps"
            if done > self.total_steps:
                has = f"{done} steps, more than the {self.total_steps} asked for"
            raise RunFolderError(
                f"{self.run_dir}: the run already has {has}; "
                f"give a budget above {done} to train it further (--steps)"
            )
        try:
            self.model.load_state_dict(weights)
            for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
                optimizer.load_state_dict(saved)
        # A checkpoint of another model or config than config.json's: torch's messages list every key.
        except (RuntimeError, ValueError, KeyError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelFolderError(
                f"{checkpoint}: does not fit the run's model in config.json ({reason})"
            ) from error
        self.log = MetricLog(self.run_dir, tensorboard=self.config.tensorboard, enabled=self.is_main)
        if self.ema is not None and ema is not None:
            self.ema.shadow = {k: v.to(self.accelerator.device) for k, v in ema.items()}
        _set_rng_state(state["rng"])
        self.log.load_state(state["log"])
        self.log.truncate_after(state["step"])
        best.update(value=state["best_value"], step=state["best_step"])
        self.commands = _earlier_commands(self.run_dir) + _command_line()
        if self.is_main:
            write_json(self.run_dir / "train.json", self.describe())  # the step budget may have grown
        return done, Stopwatch(float(state["seconds"])), best, int(state["bad_validations"])

    def _checkpoint(self, step: int, seconds: float, best: dict[str, Any], bad_validations: int) -> None:
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            return
        state = {
            "step": step,
            "seconds": seconds,
            "optimizers": [o.state_dict() for o in self.optimizers],
            "rng": _rng_state(),
            "log": self.log.state(),
            "best_value": best["value"],
            "best_step": best["step"],
            "bad_validations": bad_validations,
        }
        ema = self.ema.shadow if self.ema is not None else None
        folder = save_checkpoint(self.run_dir, step, self.model.state_dict(), state, ema=ema)
        # The run folder is also a model folder: its weights are the latest checkpoint's (linked, not copied).
        for name in (WEIGHTS_FILE, EMA_FILE) if ema is not None else (WEIGHTS_FILE,):
            link_or_copy(folder / name, self.run_dir / name)

    def _finish(self, step: int, best: dict[str, Any]) -> None:
        if self.is_main:
            best_file = self.run_dir / "checkpoints" / "best.safetensors"
            if best["step"] is not None and best_file.is_file():
                # Early stopping's point: the model the run leaves is the best on validation.
                atomic_write(self.run_dir / WEIGHTS_FILE, lambda p: shutil.copyfile(best_file, p))
            self.write_samples(step, name="final")
        self.log.close()

    def _diverged(self, step: int, objective: str, value: float) -> None:
        self.log.write(step, {}, event=f"{objective} loss is {value}: stopped")
        self.log.close()
        checkpoint = latest_checkpoint(self.run_dir)
        kept = (
            f"the last good checkpoint is {checkpoint}"
            if checkpoint
            else "no checkpoint had been written yet"
        )
        raise TrainingDiverged(
            f"step {step}: the {objective!r} loss is {value}; training stopped ({kept}). "
            "Try a lower learning rate (--set lr=...) or gradient clipping (--max-grad-norm)."
        )

    def _weights_to_keep(self) -> dict[str, torch.Tensor]:
        return self.ema.shadow if self.ema is not None else self.model.state_dict()

    @contextlib.contextmanager
    def _evaluation_mode(self, seed: int):
        """Eval mode, EMA weights if kept, and a private RNG stream: evaluating never changes training."""
        was_training = self.model.training
        self.model.eval()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            with self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext():
                yield
        self.model.train(was_training)

    def validate(self) -> float:
        """The model's validation loss (by default its first objective's) on the validation set,
        averaged over the images it reads."""
        with self._evaluation_mode(self.config.seed + 1):
            total, count = 0.0, 0
            for batch in ordered_batches(self.val_data, self.view, 500, self.config.seed):
                batch = {k: v.to(self.accelerator.device) for k, v in batch.items()}
                loss, images = self.model.validation_loss(batch)
                if images:
                    total, count = total + float(loss) * images, count + images
        if not count:
            raise ValueError(
                f"the validation set {self.val_data.name} gave {self.model.name} nothing to validate on"
            )
        return total / count

    def _first_rows(self, n: int) -> dict[str, torch.Tensor]:
        """The first n rows of the training set (cycled), in the fixed evaluation view: the same
        inputs at every step, for models that sample from data (captions, patches, translations)."""
        return rows_batch(self.stream.data, torch.arange(n), self.view, self.accelerator.device)

    def write_samples(self, step: int, name: str | None = None) -> None:
        if not self.is_main or self.config.num_samples <= 0:
            return
        translates = "translate" in self.model.capabilities() and hasattr(self.model, "translation_grid")
        if "sample" not in self.model.capabilities() and not translates:
            return
        n, columns, log_classes = self.config.num_samples, None, self.config.sample_classes
        with self._evaluation_mode(self.config.seed + 2):
            generator = torch.Generator(self.accelerator.device).manual_seed(self.config.seed)
            if "sample" in self.model.capabilities():
                has_condition = hasattr(self.model, "condition_from_batch")
                condition = self.model.condition_from_batch(self._first_rows(n)) if has_condition else None
                samples = self.model.sample(n, condition=condition, generator=generator)
            else:  # a translator: inputs in rows, each target domain in a column
                samples, columns = self.model.translation_grid(self._first_rows(min(n, 8)))
                log_classes = False
            images = to_uint8(samples.cpu(), self.view.kind)
        grid = image_grid(images, nrow=columns, scale=2)
        save_image(grid, self.run_dir / "samples" / f"{name or f'step_{step:07d}'}.png")
        self.log.image("samples", grid, step)
        if log_classes:
            self._log_sample_classes(step, images)

    def _log_sample_classes(self, step: int, images: torch.Tensor) -> None:
        """The digit classes of the fixed batch of samples (mode coverage as training goes), where
        the images are digit-shaped (1x28x28, or padded around it)."""
        from genmodels.evaluation.features import load_feature_network
        from genmodels.evaluation.sample_quality import COVERED_SHARE, class_histogram

        c, h, w = images.shape[1:]
        if c != 1 or h < 28 or w < 28:
            return
        network = load_feature_network(None)
        histogram = class_histogram(network.classify(images.float() / 255.0), network.num_classes)
        covered = sum(share >= COVERED_SHARE / network.num_classes for share in histogram)
        self.log.write(
            step,
            {
                "samples/classes_covered": covered,
                **{f"samples/class_{k}": v for k, v in enumerate(histogram)},
            },
        )

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "train": config_to_dict(self.config),
            "total_steps": self.total_steps,
            "data": {**self.data_spec, "view": dataclasses.asdict(self.view)},
            "val_data": self.val_data.name if self.val_data is not None else None,
            "processes": self.accelerator.num_processes,
            "device": str(self.accelerator.device),
            "code": _code_version(),
            "commands": self.commands,
        }

    def _progress(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)  # stdout is for results (--json)
        shown = self.config.progress and self.is_main
        if shown and not console.is_terminal:
            return LineProgress()
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[logs]}", markup=False),
            console=console,
            disable=not shown,
            refresh_per_second=4,
        )


class LineProgress:
    """The progress bar's stand-in where stderr is not a terminal (a log file, a pipe, a batch
    job), in which a bar's redraws come out as garbled fragments: whole lines instead, one at most
    every `interval` seconds and one at the end. The part of rich's Progress that the loop uses."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def add_task(self, description: str, *, total: int, completed: int = 0, logs: str = "") -> int:
        self.description, self.total, self.completed, self.logs = description, total, completed, logs
        self.started = self.printed = time.perf_counter()
        return 0

    def update(self, task: int, *, completed: int | None = None, logs: str | None = None) -> None:
        self.logs = self.logs if logs is None else logs
        if completed is None or completed == self.completed:
            return
        self.completed, now = completed, time.perf_counter()
        if completed >= self.total or now - self.printed >= self.interval:
            self.printed = now
            elapsed = time.strftime("%H:%M:%S", time.gmtime(now - self.started))
            line = f"{self.description}: step {completed}/{self.total}, {elapsed}  {self.logs}"
            sys.stderr.write(line.rstrip() + "\n")
            sys.stderr.flush()


def _summary(logs: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in list(logs.items())[:4])


def _gradient_norm(parameters) -> torch.Tensor:
    return torch.nn.utils.get_total_norm([p.grad.detach() for p in parameters if p.grad is not None])


def _broadcast_object(value: Any) -> Any:
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def _command_line() -> list[str]:
    """This process's command line when it is the `genmodels` command (a zoo entry's provenance
    names the commands that trained it); nothing for a training started from Python."""
    if Path(sys.argv[0]).name != "genmodels":
        return []
    return [shlex.join(["genmodels", *sys.argv[1:]])]


def _earlier_commands(run_dir: Path) -> list[str]:
    """The commands a resumed run's train.json records (none in a run from before they were kept)."""
    try:
        commands = json.loads((run_dir / "train.json").read_text()).get("commands", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [c for c in commands if isinstance(c, str)] if isinstance(commands, list) else []


def _code_version() -> dict[str, Any]:
    """The library version and, in a git checkout, the commit and whether files differ from it:
    which code trained a run (a zoo entry's provenance names it)."""
    import subprocess

    import genmodels

    version: dict[str, Any] = {"genmodels": genmodels.__version__}
    source = Path(genmodels.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "src"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            version.update(commit=commit.stdout.strip(), modified=bool(status.stdout.strip()))
    except (OSError, subprocess.SubprocessError):  # no git here: the version alone
        pass
    return version


def _accelerator(cpu: bool, mixed_precision: str) -> Any:
    """accelerate keeps one state per process, fixed by its first Accelerator: a later training in
    the same process (a notebook, a script that trains twice) that asks for another precision was
    refused, and one that asks for the accelerator after a CPU run would have stayed on the CPU.
    A process that is not part of a launch starts each training from a clean state; the processes
    of a launch keep theirs (their process group lives in it)."""
    from accelerate import Accelerator  # imported here: the CLI's --help should not pay for it
    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=cpu, mixed_precision=mixed_precision)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
