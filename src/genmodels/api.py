"""The public functions that scripts, the CLI and the app rely on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from genmodels.config import config_from_dict, config_to_dict
from genmodels.data import View, load_dataset
from genmodels.io import ModelFolderError, load_model
from genmodels.models.base import GenerativeModel
from genmodels.registry import get_model_class, model_classes
from genmodels.training import TrainConfig, Trainer, TrainResult
from genmodels.training.run_folder import RunFolderError


def list_models() -> list[dict[str, Any]]:
    """Every registered model: name, family, capabilities, presets."""
    return [
        {
            "name": name,
            "family": cls.family,
            "capabilities": cls.capabilities(),
            "presets": list(cls.presets),
            "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        }
        for name, cls in model_classes().items()
    ]


def create(name: str, preset: str | None = None, **config: Any) -> GenerativeModel:
    """A fresh model by name, from a preset ("cpu", "paper") and/or Config fields."""
    return get_model_class(name).create(preset, **config)


def load(folder: str | Path, *, use_ema: bool = False, map_location: str = "cpu") -> GenerativeModel:
    """Rebuild a saved model (a model folder, a run folder, or `zoo:NAME`) through the registry;
    no pickle."""
    from genmodels import zoo

    return load_model(zoo.resolve(folder), use_ema=use_ema, map_location=map_location)


def list_runs(root: str | Path, max_depth: int = 4, *, without_weights: bool = False) -> list[Path]:
    """Every saved model folder (config.json + model.safetensors) under `root`, sorted; the
    checkpoints inside a run are left out (the run's own folder holds its chosen weights). With
    `without_weights`, also the folders with a config.json but no weights yet (a training before
    its first checkpoint, or one that stopped before it)."""
    root, found = Path(root), []

    def visit(folder: Path, depth: int) -> None:
        if (folder / "config.json").is_file() and (
            without_weights or (folder / "model.safetensors").is_file()
        ):
            found.append(folder)
            return
        if depth < max_depth:
            for child in sorted(folder.iterdir()):
                if child.is_dir() and not child.name.startswith(".") and child.name != "checkpoints":
                    visit(child, depth + 1)

    if not root.is_dir():
        raise ModelFolderError(f"{root}: not a folder of runs")
    visit(root, 0)
    return found


def evaluation_view_of(run: str | Path, model: GenerativeModel, view: str | None = None) -> View:
    """The view a run's scores are reported on: `view` if given, else the run's training view made
    fixed (dynamic binarisation becomes static, perturbation is dropped), else the model's default."""
    from genmodels.data import evaluation_view

    if view is not None:
        return View.parse(view)
    trained = trained_on(run)
    return evaluation_view(View(**trained["view"])) if trained is not None else model.default_view()


def trained_on(run: str | Path) -> dict[str, Any] | None:
    """What a run trained on, from its train.json: the data spec (name, split, val_split, preset,
    view); None for a model folder that has no train.json."""
    from genmodels import zoo

    described = zoo.resolve(run) / "train.json"
    return _read_run_description(described)["data"] if described.is_file() else None


def translation_target(text: str | None) -> str | dict[str, float] | None:
    """A translation target as typed: "thick" stays a domain name; "thick=1,invert=0" becomes
    {"thick": 1.0, "invert": 0.0}."""
    if text is None or "=" not in text:
        return text
    settings = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            settings[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"attribute setting {item!r}: expected name=0 or name=1") from None
    return settings


def default_run_dir(model: str, data: str) -> Path:
    """runs/<model>-<data>-<time>, with a number added where a run started in the same second."""
    safe = data.replace(":", "-").replace("/", "-").strip("-")
    stem = Path("runs") / f"{model}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, number = stem, 1
    while folder.exists():
        number += 1
        folder = stem.with_name(f"{stem.name}-{number}")
    return folder


def train(
    model: str,
    data: str = "mnist",
    *,
    split: str = "train",
    val_split: str | None = None,
    preset: str | None = "cpu",
    config: dict[str, Any] | None = None,
    view: str | None = None,
    pad: int = 0,
    perturb: float = 0.0,
    out: str | Path | None = None,
    overwrite: bool = False,
    **train_options: Any,
) -> TrainResult:
    """Train a model by name on a data set by name; the run folder is also a loadable model folder.

    `train_options` are TrainConfig fields (steps or epochs, batch_size, seed, ema_decay, ...);
    they override the preset's recipe, which overrides TrainConfig's defaults. A folder `out` that
    already holds a run is refused, unless `overwrite` (its old run is then cleared first).
    """
    cls = get_model_class(model)
    recipe = dict(cls.recipes.get(preset, {})) if preset else {}
    recipe_view = recipe.pop("view", None)
    # A recipe may name its validation split (the `full` recipes stop on mnist-full's `val`).
    recipe_val_split = recipe.pop("val_split", None)
    val_split = val_split or recipe_val_split
    if "steps" in train_options or "epochs" in train_options:
        recipe.pop("steps", None), recipe.pop("epochs", None)
    train_config = config_from_dict(TrainConfig, {**recipe, **train_options}, context="training options")
    train_set = load_dataset(data, split)
    overrides = {**cls.settings_from_data(train_set), **(config or {})}
    # The data decide the image shape unless the user says otherwise.
    probe = cls(cls.make_config(preset, **overrides))  # only to ask which view it wants
    # Padding: what the user asked for, else what the model wants for these images (28 -> 32).
    pad = pad or probe.default_pad(train_set.image_shape)
    named = View.parse(view or recipe_view or probe.default_view().kind)
    chosen = View(named.kind, pad, perturb, seed=named.seed)
    overrides.setdefault("image_shape", chosen.image_shape(train_set.image_shape))
    from genmodels.training.trainer import _seed_everything

    _seed_everything(train_config.seed)  # the initial weights depend on the seed too
    network = cls(cls.make_config(preset, **overrides))
    val_set = load_dataset(data, val_split) if val_split else None
    trainer = Trainer(
        network,
        train_set,
        train_config,
        out or default_run_dir(model, data),
        view=chosen,
        val_data=val_set,
        data_spec={"name": data, "split": split, "val_split": val_split, "preset": preset},
    )
    return trainer.fit(overwrite=overwrite)


# What resuming may change: the budget, and how often the run logs, samples and saves. Everything
# else (batch size, seed, EMA, clipping, schedule, validation) decides the result, which a resumed
# run keeps equal to an uninterrupted one.
RESUMABLE_OPTIONS = frozenset(
    {
        "steps",
        "epochs",
        "max_minutes",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "snapshot_every",
        "num_samples",
        "sample_classes",
        "progress",
        "tensorboard",
        "cpu",
    }
)


def resume(
    run_dir: str | Path,
    *,
    model: str | None = None,
    config: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    **train_options: Any,
) -> TrainResult:
    """Continue a run from its last checkpoint; `steps` / `epochs` / `max_minutes` may raise its
    budget, and the intervals of RESUMABLE_OPTIONS may change.

    What else the caller states about the run must be what the run has, or it is refused rather
    than ignored: `model` (its name), `config` (model Config fields), `data` (any of name, split,
    val_split, preset, view, pad, perturb as `train` takes them) and the other TrainConfig fields.
    """
    run_dir = Path(run_dir)
    description = _read_run_description(run_dir / "train.json")
    data_spec = description["data"]
    try:
        view = View(**data_spec["view"])
    except (TypeError, ValueError) as error:
        raise ModelFolderError(f"{run_dir / 'train.json'}: data.view is not a view ({error})") from error
    trained_as = description.get("model")
    if model is not None and trained_as is not None and model != trained_as:
        raise RunFolderError(
            f"{run_dir} is a {trained_as} run: --resume continues it as {trained_as}, not {model} "
            "(train a new run into another --out)"
        )
    config_from_dict(TrainConfig, description["train"], context=f"{run_dir}/train.json")  # names the file
    options = {**description["train"], **train_options}
    if "steps" in train_options:
        options["epochs"] = None
    if "epochs" in train_options:
        options["steps"] = None
    train_config = config_from_dict(TrainConfig, options, context="training options")
    network = load_model(run_dir)  # config from the run; weights come from the checkpoint
    if trained_as is not None and network.name != trained_as:
        raise ModelFolderError(
            f"{run_dir}: config.json holds a {network.name}, train.json describes a {trained_as} run"
        )
    asked_train = {key: getattr(train_config, key) for key in train_options if key not in RESUMABLE_OPTIONS}
    _refuse_changes(run_dir, network, view, data_spec, description["train"], config, data, asked_train)
    train_set = load_dataset(data_spec["name"], data_spec["split"])
    val_set = load_dataset(data_spec["name"], data_spec["val_split"]) if data_spec.get("val_split") else None
    trainer = Trainer(
        network,
        train_set,
        train_config,
        run_dir,
        view=view,
        val_data=val_set,
        data_spec={k: v for k, v in data_spec.items() if k != "view"},
    )
    return trainer.fit(resume=True)


def _refuse_changes(
    run_dir: Path,
    network: GenerativeModel,
    view: View,
    data_spec: dict[str, Any],
    trained: dict[str, Any],
    config: dict[str, Any] | None,
    data: dict[str, Any] | None,
    train: dict[str, Any],
) -> None:
    """One line naming every setting the caller gave that differs from the run's own."""
    differences = []
    if config:
        # Built the way config.json was, so `hidden=32` and `hidden=[32]` compare equal.
        saved = config_to_dict(network.config)
        wanted = config_to_dict(
            config_from_dict(type(network.config), {**saved, **config}, context=f"{network.name} config")
        )
        differences += [(key, wanted[key], saved[key]) for key in config if wanted[key] != saved[key]]
    if data:
        run_has = {
            "name": data_spec["name"],
            "split": data_spec["split"],
            "val_split": data_spec.get("val_split"),
            "preset": data_spec.get("preset"),
            "view": view.spec,
            "pad": view.pad,
            "perturb": view.perturb,
        }
        unknown = set(data) - set(run_has)
        if unknown:
            raise TypeError(f"resume: unknown data setting(s) {', '.join(sorted(unknown))}")
        asked = {**data, **({"view": View.parse(data["view"]).spec} if data.get("view") else {})}
        differences += [
            ("data" if key == "name" else key, value, run_has[key])
            for key, value in asked.items()
            if value != run_has[key]
        ]
    defaults = config_to_dict(TrainConfig())
    for key, value in train.items():
        if value != trained.get(key, defaults[key]):
            differences.append((key, value, trained.get(key, defaults[key])))
    if differences:
        listed = ", ".join(f"{key} {new!r} (the run's: {old!r})" for key, new, old in differences)
        raise RunFolderError(
            f"{run_dir}: a resumed run keeps the settings it was trained with, and these differ: "
            f"{listed}; train a new run into another --out instead"
        )


def _read_run_description(path: Path) -> dict[str, Any]:
    """A run's train.json, checked enough that a broken one is named rather than failing deep inside."""
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing; a run folder to resume holds train.json")
    try:
        description = json.loads(path.read_text())
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError included
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from error
    if (
        not isinstance(description, dict)
        or not isinstance(description.get("train"), dict)
        or not isinstance(description.get("data"), dict)
        or not isinstance(description["data"].get("view"), dict)
        or not isinstance(description["data"].get("name"), str)
        or not isinstance(description["data"].get("split"), str)
    ):
        raise ModelFolderError(f"{path}: expected an object with 'train' and 'data' (name, split, view)")
    return description
