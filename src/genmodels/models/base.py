"""The contracts every model meets (DESIGN.md section 2).

A model is a `GenerativeModel` with a `Config` dataclass (saved as config.json), a list of
`Objective`s that the one trainer optimises in order on each batch, and `sample`. What else it can
do is said by the capability protocols it implements: `DensityModel`, `LatentModel`,
`ConditionalModel`, `Translator`. The CLI, evaluation and app look for those, never for names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from genmodels.config import ConfigError, config_from_dict
from genmodels.data import Batch, ImageSet, View

Logs = dict[str, Tensor | float]


@dataclass
class ModelConfig:
    """Fields every model has. Likelihood models add `levels` (2: binary pixels, 256: 8-bit)."""

    image_shape: tuple[int, int, int] = (1, 28, 28)


@dataclass(frozen=True)
class OptimizerSpec:
    """How one objective's parameters are optimised."""

    kind: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0

    def build(self, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        parameters = list(parameters)
        if self.kind == "adam":
            return torch.optim.Adam(parameters, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        if self.kind == "adamw":
            return torch.optim.AdamW(parameters, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        if self.kind == "rmsprop":
            return torch.optim.RMSprop(parameters, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(parameters, lr=self.lr, momentum=self.betas[0], weight_decay=self.weight_decay)


@dataclass
class Objective:
    """One optimisation step of a model: its loss, the parameters it updates and their optimiser.

    `loss(batch)` returns the scalar to minimise (summed over pixels, averaged over the batch) and
    the values to log, as tensors (the trainer reads them only when it logs, to avoid a sync per step).
    """

    name: str
    parameters: Callable[[], Iterable[nn.Parameter]]
    loss: Callable[[Batch], tuple[Tensor, Logs]]
    every: int = 1  # run on every k-th batch (e.g. a generator step after n_critic critic steps)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    # The learning rate at (step, total_steps) as a factor of the optimiser's, e.g. CycleGAN's
    # linear decay to 0 over the second half; None: constant. A function of the step alone, so a
    # resumed run continues the same schedule.
    lr_factor: Callable[[int, int], float] | None = None


def linear_decay(start_fraction: float = 0.5) -> Callable[[int, int], float]:
    """Constant for the first `start_fraction` of training, then linearly down to 0 at the end."""

    def factor(step: int, total: int) -> float:
        start = start_fraction * total
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / max(total - start, 1))

    return factor


def full_mnist_recipe(steps: int, **changes: Any) -> dict[str, Any]:
    """The `full` recipe of the likelihood models (the reproduction table of BENCHMARKS.md):
    mnist-full's 50,000 training digits (`--data mnist-full`), dynamically binarised, validated on
    its `val` split every 1,000 steps (the weights kept are the best there: never chosen on test),
    a weight snapshot every 5,000 steps for the learning curve, the learning rate decayed to 0 by
    cosine, and at most 60 minutes of training on the 2-core machine (`steps` is chosen to fit)."""
    recipe = {
        "steps": steps,
        "batch_size": 100,
        "view": "dynamic",
        "val_split": "val",
        "val_every": 1000,
        "snapshot_every": 5000,
        "checkpoint_every": 5000,
        "lr_decay": "cosine",
        "max_minutes": 60.0,
        "sample_every": 0,
    }
    return {**recipe, **changes}


def full_sampler_recipe(steps: int, **changes: Any) -> dict[str, Any]:
    """The `full` recipe of the latent and adversarial models (issue 15's tables on mnist-full,
    `--data mnist-full`): the model's own view, a constant learning rate as in their papers, a
    checkpoint and a sample grid every 5,000 steps, a weight snapshot every 10,000, and at most 60
    minutes of training on the 2-core machine; `steps` is sized from the measured step time so that
    the budget, not the count, usually ends the run (the step count reached is recorded)."""
    recipe = {
        "steps": steps,
        "batch_size": 64,
        "checkpoint_every": 5000,
        "sample_every": 5000,
        "snapshot_every": 10_000,
        "max_minutes": 60.0,
    }
    return {**recipe, **changes}


class GenerativeModel(nn.Module):
    """Base of every model: a Config, objectives for the trainer, and samples."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    name: ClassVar[str] = ""  # set by @register
    family: ClassVar[Literal["autoregressive", "latent", "adversarial", "classifier", ""]] = ""
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # Training defaults that go with a preset (TrainConfig fields, and `view`); what the user
    # passes wins. `genmodels train vae --preset cpu` alone then reproduces BENCHMARKS.md.
    recipes: ClassVar[dict[str, dict[str, Any]]] = {}
    input_range: ClassVar[Literal["unit", "symmetric"]] = "unit"  # GANs take [-1, 1]
    # The equation the model implements, in LaTeX, for the app's model page (the docstring has the rest).
    equation: ClassVar[str] = ""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def make_config(cls, preset: str | None = None, **overrides: Any) -> ModelConfig:
        """A Config from a named preset ("cpu", "paper") with `overrides` on top."""
        values: dict[str, Any] = {}
        if preset is not None:
            if preset not in cls.presets:
                known = ", ".join(cls.presets) or "none"
                raise ConfigError(f"model {cls.name!r} has no preset {preset!r}; presets: {known}")
            values.update(cls.presets[preset])
        values.update(overrides)
        return config_from_dict(cls.Config, values, context=f"{cls.name} config")

    @classmethod
    def create(cls, preset: str | None = None, **overrides: Any) -> GenerativeModel:
        return cls(cls.make_config(preset, **overrides))

    @classmethod
    def capabilities(cls) -> list[str]:
        required = {
            "density": ("log_prob",),
            "latent": ("encode", "decode"),
            "conditional": ("condition_kind",),
            "translate": ("translate",),
        }
        found = [name for name, members in required.items() if all(hasattr(cls, m) for m in members)]
        samples = cls.sample is not GenerativeModel.sample and cls.family != "classifier"
        return (["sample"] if samples else []) + found

    def num_parameters(self) -> int:
        """Trainable parameters (the autoregressive models count only the unmasked weights)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -- what the trainer and evaluation use -----------------------------------------------------
    def objectives(self) -> list[Objective]:
        raise NotImplementedError(f"{type(self).__name__} must define its objectives")

    def validation_loss(self, batch: Batch) -> tuple[Tensor, int]:
        """What validation and early stopping read for a batch: a mean loss and how many images it
        averages over. By default the first objective's loss over the whole batch; a model whose
        first objective is not the measure to select by (a semi-supervised classifier) overrides it."""
        loss, _ = self.objectives()[0].loss(batch)
        return loss, len(batch["x"])

    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define sample")

    def draw_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of what `decode` reads (models that have one): z ~ p(z). Paths between two
        draws, decoded, are the latent interpolations of the figures and the app."""
        return self.prior.sample(n, generator=generator, device=self.device)

    def sample_labels(self) -> int:
        """How many class labels `sample(n, condition=k)` takes (k in 0..count−1); 0 when none. A
        model whose prior has parts (a mixture) picks the part; a class-conditional one the class."""
        return getattr(getattr(self, "prior", None), "components", None) or 0

    def on_step(self, step: int) -> None:
        """Called by the trainer before each step: schedules (growth, fade-in) are model state."""

    def milestones(self) -> dict[int, str]:
        """Steps (counted as steps done) at which the trainer also writes a named sample grid,
        e.g. the end of each resolution stage of a growing GAN."""
        return {}

    @classmethod
    def settings_from_data(cls, data: ImageSet) -> dict[str, Any]:
        """Config values the training data decide unless the user gives them (as the image shape
        is): e.g. a translation model's domain or attribute names."""
        return {}

    def default_pad(self, raw_shape: tuple[int, int, int]) -> int:
        """Pixels of padding the model wants around images of `raw_shape` (e.g. 28 -> 32)."""
        return 0

    def default_view(self) -> View:
        """The data view this model trains on: [-1, 1] for GANs; binarised when levels = 2."""
        if self.input_range == "symmetric":
            return View("symmetric")
        return View("static" if getattr(self.config, "levels", 256) == 2 else "unit")

    def check_view(self, view: View) -> None:
        """Refuse data the model's likelihood cannot score (e.g. grey levels into a Bernoulli)."""
        levels = getattr(self.config, "levels", None)
        if self.input_range == "symmetric" and view.kind != "symmetric":
            raise ConfigError(f"{self.name} takes images in [-1, 1] (view 'symmetric'), not {view.kind!r}")
        if levels == 2 and not view.binarised:
            raise ConfigError(
                f"{self.name} has levels=2 (binary pixels): use a binarised view, not {view.kind!r}"
            )
        if levels is not None and levels > 2 and view.kind != "unit":
            raise ConfigError(f"{self.name} has levels={levels}: it needs grey levels (view 'unit')")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


@runtime_checkable
class DensityModel(Protocol):
    """log p(x) in nats per example. Exact for autoregressive models; a bound (say so) otherwise."""

    log_prob_is_exact: bool

    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor: ...


@runtime_checkable
class LatentModel(Protocol):
    prior: Any

    def encode(self, x: Tensor) -> Tensor: ...

    def decode(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class ConditionalModel(Protocol):
    """`sample(n, condition=...)` (or `translate`) with what `condition_kind` names, one of "label",
    "text", "codes", "patches", "domain", "attributes": the app picks its controls by it."""

    condition_kind: str


@runtime_checkable
class Translator(Protocol):
    def translate(self, x: Tensor, source: Any, target: Any) -> Tensor: ...
