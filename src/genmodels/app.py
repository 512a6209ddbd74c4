"""The web app: `genmodels serve [RUNS_DIR]` looks at trained models without writing code.

Pick a run; then, where its model can:
- **Sample** n images from a seed, with the controls its condition needs: a class (class-conditional
  autoregressive models, an AAE's prior part), a caption (text-to-image), InfoGAN's codes, or key
  patches uploaded as images (Puzzle-GAN);
- **Interpolate** along a straight path between the latent draws of two seeds, decoded (VAE, AAE,
  the GANs), or between two captions (text-to-image);
- **Translate** an uploaded image into a domain or attribute setting (CycleGAN, StarGAN);
- **Score** an uploaded image: −log p(x) in nats and bits/dim (exact, or a bound where the model
  has one), and a verdict against the run's anomaly thresholds: the 99th percentile of each score
  on held-out images of the data it was trained on (`anomaly_thresholds`), computed once and kept in
  the run folder as `anomaly_thresholds.json`.

Beside the runs' page, the **Lecture** page (one demonstration per idea of the lecture, computed
live by `genmodels.lecture`) and the **Draw a digit** page (a sketchpad whose digit is scored,
classified by Bayes' rule and completed).

The page opens on the first run that loads. A run that cannot be loaded (no weights yet, a damaged
file) stays in the list with its reason, and only the tabs the run's model can use are shown.

Two layers. `RunCatalog` and the action functions take plain values (names, numbers, file paths)
and return an image and a message; every failure becomes the message, so a bad upload (not an
image, the wrong size, too many bytes) is answered, never a crash, and is named by its own file
name, never by the server's temporary path. `build_app` lays them out with Gradio, imported only
here and only when serving, and `serve` binds to localhost unless told otherwise. Requests are
served one at a time: the models share two CPU cores.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genmodels
from genmodels.data import DataError, ImageSet, View, to_uint8
from genmodels.data.user_images import MAX_BYTES, read_image, read_images
from genmodels.io import EMA_FILE, WEIGHTS_FILE, write_json
from genmodels.models.base import DensityModel, GenerativeModel
from genmodels.viz import image_grid, interpolation_grid

LOCALHOST = "127.0.0.1"
THRESHOLDS_FILE = "anomaly_thresholds.json"
FALSE_ALARM_RATE = 0.01
THRESHOLD_IMAGES = 1000  # held-out images the thresholds are measured on (at most)
MAX_SAMPLES = 64
GRID_SCALE = 3  # 28-pixel digits are too small to see at 1:1
REASON_CHARS = 200  # a reason shown in the run list is cut to this length
NO_WEIGHTS = f"no weights yet ({WEIGHTS_FILE} is missing: a training writes it with its first checkpoint)"
log = logging.getLogger(__name__)

Picture = np.ndarray | None  # H x W (grey) or H x W x 3 uint8, what Gradio shows


class UserError(ValueError):
    """A request the app refuses, with the reason shown to the user."""


# -- what a run offers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Controls:
    """The controls a run's model takes, read from its capabilities and condition (never its name)."""

    samples: bool
    labels: int  # classes (or prior parts) `sample` can be asked for; 0: none
    text: bool  # a caption conditions samples (and interpolations)
    codes: tuple[int, int] | None  # InfoGAN: (categories, continuous codes)
    patches: tuple[int, int] | None  # Puzzle-GAN: (key patches, patch size)
    interpolates: bool  # between two seeds' latent draws
    translates: str | None  # "domain" or "attributes"
    targets: tuple[str, ...]  # the domain or attribute names a translation can name
    density: bool
    ema: bool  # the run kept EMA weights

    @classmethod
    def of(cls, model: GenerativeModel, folder: Path) -> Controls:
        capabilities, kind = model.capabilities(), getattr(model, "condition_kind", None)
        config = model.config
        return cls(
            samples="sample" in capabilities,
            labels=model.sample_labels() if kind == "label" else 0,
            text=kind == "text",
            codes=(config.categories, config.continuous_codes) if kind == "codes" else None,
            patches=(config.num_patches, config.patch_size) if kind == "patches" else None,
            interpolates=hasattr(model, "decode") and hasattr(model, "prior") and kind != "text",
            translates=kind if "translate" in capabilities else None,
            targets=tuple(getattr(config, "domains", ()) or getattr(config, "attributes", ())),
            density=isinstance(model, DensityModel),
            ema=(folder / EMA_FILE).is_file(),
        )

    def tabs(self) -> dict[str, bool]:
        """Which of the page's tabs this model can use; the others are hidden."""
        return {
            "Sample": self.samples,
            "Interpolate": self.interpolates or self.text,
            "Translate": self.translates is not None,
            "Score": self.density,
        }

    def summary(self) -> str:
        offers = []
        if self.samples:
            offers.append("sampling")
        if self.interpolates or self.text:
            offers.append("interpolation")
        if self.translates:
            offers.append(f"translation ({', '.join(self.targets)})")
        if self.density:
            offers.append("scoring")
        return ", ".join(offers) or "nothing the app can show"


class RunCatalog:
    """The model folders under a root (and, with `zoo`, the pretrained zoo's entries as `zoo:NAME`,
    listed first), loaded on first use and kept (the last few) in memory."""

    def __init__(self, root: str | Path | None, keep: int = 4, *, zoo: bool = False) -> None:
        self.root = Path(root).resolve() if root is not None else None
        self.zoo = zoo
        self._models: OrderedDict[tuple[str, bool, int], GenerativeModel] = OrderedDict()
        self._keep = keep
        self._failures: dict[str, str] = {}  # why each run that failed to load did, until it loads

    def names(self) -> list[str]:
        """Every run under the root in `list_runs`' order, with the runs that have no weights yet
        (which `list_runs` leaves out: nothing there loads) so that none is missed silently."""
        from genmodels import zoo

        entries = [zoo.PREFIX + name for name in zoo.names()] if self.zoo else []
        if self.root is None:
            return entries
        runs = genmodels.list_runs(self.root, without_weights=True)
        return entries + [folder.relative_to(self.root).as_posix() for folder in runs]

    def first_loadable(self) -> str | None:
        """The first run whose model loads: the page opens on it, not on a broken one."""
        for name in self.names():
            try:
                self.model(name)
            except UserError:  # its reason is kept for the list
                continue
            return name
        return None

    def failed(self, name: str) -> bool:
        """Whether the run has no weights, or failed to load when last tried."""
        return name in self._failures or not (self.folder(name) / WEIGHTS_FILE).is_file()

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) of every run: a run that cannot be loaded (no weights, or it failed when
        tried) says why in its label, in one line."""
        labels = []
        for name in self.names():
            has_weights = (self.folder(name) / WEIGHTS_FILE).is_file()
            reason = self._failures.get(name) if has_weights else NO_WEIGHTS
            if reason is not None and len(reason) > REASON_CHARS:
                reason = reason[: REASON_CHARS - 1] + "…"
            labels.append((name if reason is None else f"{name}: cannot be loaded: {reason}", name))
        return labels

    def folder(self, name: str | None) -> Path:
        # Only names from the listing: a crafted name cannot reach a folder outside the root.
        if not name:
            raise UserError("choose a run first")
        if name not in self.names():
            raise UserError(f"no run named {name!r}" + (f" under {self.root}" if self.root else ""))
        from genmodels import zoo

        return zoo.resolve(name) if zoo.is_zoo(name) else self.root / name

    def model(self, name: str | None, ema: bool = False) -> GenerativeModel:
        """The run's model; a run that cannot be loaded raises a UserError with the reason."""
        folder = self.folder(name)
        weights = folder / (EMA_FILE if ema else WEIGHTS_FILE)
        if not (folder / WEIGHTS_FILE).is_file():
            raise UserError(f"{name} cannot be loaded: {NO_WEIGHTS}")
        if ema and not weights.is_file():
            raise UserError(f"{name} kept no EMA weights")
        key = (str(folder), ema, weights.stat().st_mtime_ns)  # a retrained run is loaded again
        if key not in self._models:
            try:
                self._models[key] = genmodels.load(folder, use_ema=ema)
            except Exception as error:  # a damaged folder: the reason, in one line, without server paths
                reason = " ".join(_renamed(str(error), {folder: name}).split()) or type(error).__name__
                if not ema:  # damaged EMA weights leave the run itself loadable
                    self._failures[name] = reason
                log.warning("cannot load %s: %s", name, reason)
                raise UserError(f"{name} cannot be loaded: {reason}") from error
            if not ema:
                self._failures.pop(name, None)
            while len(self._models) > self._keep:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]

    def controls(self, name: str | None) -> Controls:
        return Controls.of(self.model(name), self.folder(name))

    def training(self, name: str | None) -> dict[str, Any] | None:
        """The run's train.json (None for a bare model folder)."""
        path = self.folder(name) / "train.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def describe(self, name: str | None) -> str:
        model, controls, training = self.model(name), self.controls(name), self.training(name)
        lines = [f"**{model.name}** ({model.family}): {controls.summary()}."]
        if training is not None:
            data = training["data"]
            lines.append(
                f"Trained {training.get('total_steps', '?')} steps on {data['name']}/{data['split']}, "
                f"{View(**data['view']).describe()}."
            )
        else:
            lines.append("A model folder without train.json: what it was trained on is not recorded.")
        lines.append(f"{_family(model)}. {_abilities(model)}. {model.num_parameters():,} parameters.")
        if model.equation:
            lines.append(f"\n\n$${model.equation}$$\n\n")
        from genmodels import zoo

        if zoo.is_zoo(name):  # the zoo's headline numbers, with the protocol they were measured by
            for item in zoo.provenance(name.removeprefix(zoo.PREFIX))["headline"]:
                paper = f" (paper: {item['paper']})" if item.get("paper") else ""
                unit = f" {item['unit']}" if item.get("unit") else ""  # shares and accuracies have none
                lines.append(f"{item['measure']}: **{item['value']}**{unit}{paper}, {item['protocol']}.")
        return " ".join(lines)

    def thresholds(self, name: str | None) -> dict[str, Any] | None:
        """The run's anomaly thresholds, measured on first use and kept in the run folder (measured
        again when the weights change). None when the run does not say what it was trained on."""
        folder, training = self.folder(name), self.training(name)
        if training is None:
            return None
        weights = (folder / WEIGHTS_FILE).stat()
        stamp = {"size": weights.st_size, "mtime_ns": weights.st_mtime_ns}
        path = _thresholds_path(name, folder)
        if path.is_file():
            try:
                kept = json.loads(path.read_text())
                if kept.get("weights") == stamp and kept.get("false_alarm_rate") == FALSE_ALARM_RATE:
                    return kept
            except (ValueError, AttributeError):
                pass  # an unreadable file is measured again and replaced
        from genmodels.evaluation.anomaly import anomaly_thresholds

        model = self.model(name)
        held_out, note = _held_out(training["data"]["name"], training["data"]["split"])
        view = genmodels.evaluation_view_of(folder, model)
        measured = anomaly_thresholds(model, held_out, view, FALSE_ALARM_RATE)
        measured.update(weights=stamp, note=note)
        try:
            write_json(path, measured)
        except OSError as error:  # a read-only run folder: use the numbers without keeping them
            log.warning("could not keep %s: %s", path, error)
        return measured


def _family(model: GenerativeModel) -> str:
    """What the model is in the lecture's terms: what it can and cannot do with a density."""
    from genmodels.models.base import DensityModel

    if isinstance(model, DensityModel) and model.log_prob_is_exact:
        return "Explicit density: exact log p(x) by the chain rule"
    if isinstance(model, DensityModel):
        return "Latent-variable model: log p(x) through a bound (the ELBO, importance-weighted)"
    if model.family == "classifier":
        return "A classifier: p(y | x), no samples"
    if model.family == "latent":
        return "Latent-variable model without a density: the prior is matched adversarially"
    return "Implicit model: samples, no density to score"


def _abilities(model: GenerativeModel) -> str:
    """What the model can and cannot do, in the lecture's four verbs."""
    capabilities = model.capabilities()
    exact = isinstance(model, DensityModel) and model.log_prob_is_exact
    verbs = {
        "sample x ~ p(x)": "sample" in capabilities,
        "score log p(x)" + ("" if exact else " (a bound)"): "density" in capabilities,
        "encode x to a code z": "latent" in capabilities,
        "translate x to another domain": "translate" in capabilities,
    }
    can = [verb for verb, able in verbs.items() if able]
    cannot = [verb.removesuffix(" (a bound)") for verb, able in verbs.items() if not able]
    return f"It can {', '.join(can) or 'do none of these'}; it cannot {', '.join(cannot) or '—'}"


def _thresholds_path(name: str, folder: Path) -> Path:
    """Where a model's anomaly thresholds are kept: its run folder, or for a zoo entry (the package's
    own folder, possibly read-only and never to be written) the user's cache."""
    from genmodels import zoo
    from genmodels.data.embedded import _cache_dir

    if zoo.is_zoo(name):
        return _cache_dir() / "zoo-thresholds" / f"{name.removeprefix(zoo.PREFIX)}.json"
    return folder / THRESHOLDS_FILE


def _renamed(message: str, names: dict[Path, str]) -> str:
    """`message` with each server path in `names` replaced by the name the user knows it by."""
    for path, name in names.items():
        message = message.replace(str(path), name)
    return message


def _held_out(name: str, split: str) -> tuple[ImageSet, str]:
    """Images of the training distribution the model did not train on: the validation part when it
    trained on "fit", else the test split; the training split itself only when there is neither."""
    candidates = ["val"] if split == "fit" else ["test"] if split != "test" else []
    for candidate in candidates:
        try:
            data = genmodels.load_dataset(name, candidate)
        except DataError:
            continue
        return data.subset(slice(0, THRESHOLD_IMAGES)), f"held-out {data.name}"
    data = genmodels.load_dataset(name, split)
    return data.subset(slice(0, THRESHOLD_IMAGES)), f"{data.name}, the training images (no held-out split)"


# -- the actions ------------------------------------------------------------------------------------------
def answered(action):
    """Run an action; whatever goes wrong becomes its message (the server logs the unexpected)."""

    def run(*args: Any) -> tuple[Picture, str]:
        try:
            return action(*args)
        except (UserError, DataError, ValueError) as error:  # refusals: the user's input, a model's
            return None, f"**Error:** {error}"
        except KeyError as error:  # e.g. an attribute name the model does not have
            return None, f"**Error:** {error.args[0] if error.args else error}"
        except Exception as error:  # anything unforeseen: logged, and still only a message
            log.exception("%s failed", action.__name__)
            return None, f"**Error:** {type(error).__name__}: {error}"

    run.__name__ = action.__name__
    run.__doc__ = action.__doc__
    return run


def _picture(images: torch.Tensor, kind: str, nrow: int | None = None) -> np.ndarray:
    grid = image_grid(to_uint8(images.detach().cpu(), kind), nrow=nrow, scale=GRID_SCALE)
    array = grid.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def _seed(value: Any) -> int:
    try:
        seed = int(value)
    except (TypeError, ValueError):
        raise UserError(f"the seed must be a whole number, got {value!r}") from None
    if not 0 <= seed < 2**63:
        raise UserError(f"the seed must be in 0..2^63 − 1, got {seed}")
    return seed


def _files(upload: Any) -> list[Path]:
    """Gradio's upload value (a path, a list of paths, or None) as paths."""
    if upload is None:
        return []
    items = upload if isinstance(upload, list) else [upload]
    # Gradio gives paths as strings; a file object (older Gradio) names its path in `.name`.
    return [Path(item if isinstance(item, str | os.PathLike) else item.name) for item in items]


@contextmanager
def _uploaded(files: list[Path]) -> Iterator[None]:
    """Errors while reading uploads name each file by its own name: Gradio keeps an upload as
    <temporary folder>/<hash>/<its name>, a path that means nothing to the user and shows the
    server's layout."""
    try:
        yield
    except DataError as error:
        raise UserError(_renamed(str(error), {file: file.name for file in files})) from None


def _condition(
    catalog: RunCatalog, name: str, controls: Controls, label: Any, caption: str, codes: tuple, patches: Any
) -> Any:
    """The `condition` for `sample` from the controls the model has (None: unconditional)."""
    model = catalog.model(name)
    if controls.text:
        if not caption or not caption.strip():
            raise UserError(f"{model.name} draws from a caption: type one, e.g. 'a thick seven'")
        return caption.strip()
    if controls.patches is not None:
        count, size = controls.patches
        files = _files(patches)
        if len(files) != count:
            raise UserError(f"{model.name} builds an image from {count} key patches; upload {count} images")
        colours = model.config.image_shape[0]
        with _uploaded(files):
            return read_images(files, (colours, size, size), View(model.default_view().kind))[None]
    if controls.codes is not None:
        category, continuous = codes
        condition: dict[str, Any] = {}
        if category not in (None, "", "any"):
            condition["category"] = int(category)
        if continuous and str(continuous).strip():
            values = _numbers(continuous, "continuous codes")
            if len(values) != controls.codes[1]:
                raise UserError(f"{model.name} has {controls.codes[1]} continuous codes; got {len(values)}")
            condition["continuous"] = torch.tensor(values)
        return condition or None
    if controls.labels and label not in (None, "", "any"):
        return int(label)
    return None


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(part) for part in str(text).replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"{what}: expected numbers separated by commas, got {text!r}") from None


@answered
def sample(
    catalog: RunCatalog,
    name: str,
    n: Any,
    seed: Any,
    ema: bool = False,
    label: Any = None,
    caption: str = "",
    category: Any = None,
    continuous: str = "",
    patches: Any = None,
) -> tuple[Picture, str]:
    """n samples from one seed: the same seed and settings give the same images."""
    model, controls = catalog.model(name, ema=bool(ema)), catalog.controls(name)
    if not controls.samples:
        hint = " (it translates: use the Translate tab)" if controls.translates else ""
        raise UserError(f"{model.name} does not sample{hint}")
    n, seed = int(n), _seed(seed)
    if not 1 <= n <= MAX_SAMPLES:
        raise UserError(f"ask for 1 to {MAX_SAMPLES} samples, not {n}")
    condition = _condition(catalog, name, controls, label, caption, (category, continuous), patches)
    if controls.patches is not None:
        condition = condition.expand(n, -1, -1, -1, -1)
    generator = torch.Generator(model.device).manual_seed(seed)
    with torch.no_grad():
        images = model.sample(n, condition=condition, generator=generator)
    chosen = "" if condition is None or controls.patches else f", condition {_shown(condition)}"
    return _picture(images, model.default_view().kind), f"{n} samples of {model.name}, seed {seed}{chosen}"


def _shown(condition: Any) -> str:
    if isinstance(condition, dict):
        return ", ".join(
            f"{k} {v.tolist() if isinstance(v, torch.Tensor) else v}" for k, v in condition.items()
        )
    return repr(condition)


@answered
def interpolate(
    catalog: RunCatalog,
    name: str,
    seed_a: Any,
    seed_b: Any,
    steps: Any = 8,
    caption_a: str = "",
    caption_b: str = "",
) -> tuple[Picture, str]:
    """Decoded points on the straight line between two latent draws (rows: 4 paths for text)."""
    model, controls = catalog.model(name), catalog.controls(name)
    steps = int(steps)
    if not 2 <= steps <= 16:
        raise UserError(f"use 2 to 16 steps, not {steps}")
    kind = model.default_view().kind
    if controls.text:
        if not caption_a.strip() or not caption_b.strip():
            raise UserError("type the two captions to move between")
        generator = torch.Generator(model.device).manual_seed(_seed(seed_a))
        with torch.no_grad():
            images = model.interpolation_grid(
                caption_a.strip(), caption_b.strip(), steps, generator=generator
            )
        return _picture(images, kind, nrow=steps), f"from {caption_a.strip()!r} to {caption_b.strip()!r}"
    if not controls.interpolates:
        raise UserError(f"{model.name} has no latent space to move through")
    start = model.draw_latent(1, torch.Generator(model.device).manual_seed(_seed(seed_a)))
    end = model.draw_latent(1, torch.Generator(model.device).manual_seed(_seed(seed_b)))
    with torch.no_grad():
        images = interpolation_grid(model.decode, start, end, steps)
    return _picture(images, kind, nrow=steps), f"{steps} steps from seed {seed_a}'s latent to seed {seed_b}'s"


@answered
def translate(
    catalog: RunCatalog, name: str, upload: Any, target: str, source: str = ""
) -> tuple[Picture, str]:
    """The uploaded image (resized to the model's size) in the target domain or attributes."""
    model, controls = catalog.model(name), catalog.controls(name)
    if controls.translates is None:
        raise UserError(f"{model.name} does not translate images")
    files = _files(upload)
    if len(files) != 1:
        raise UserError("upload one image to translate")
    if not target or not target.strip():
        raise UserError(f"name a target: {_target_hint(controls)}")
    view = View(model.default_view().kind)
    with _uploaded(files):
        x = read_images(files, model.config.image_shape, view).to(model.device)
    to = genmodels.translation_target(target.strip())
    with torch.no_grad():
        translated = model.translate(x, genmodels.translation_target(source.strip() or None), to)
    return _picture(
        torch.cat([x, translated]), view.kind, nrow=2
    ), f"input and its translation to {target.strip()}"


def _target_hint(controls: Controls) -> str:
    names = ", ".join(controls.targets)
    if controls.translates == "attributes":
        first = controls.targets[0] if controls.targets else "name"
        return f"attribute settings such as {first}=1 (attributes: {names})"
    return f"a domain ({names})"


@answered
def score(catalog: RunCatalog, name: str, upload: Any) -> tuple[Picture, str]:
    """−log p(x) of the uploaded image, in nats and bits/dim, and the anomaly verdict."""
    from genmodels.evaluation.anomaly import anomaly_scores

    model, controls = catalog.model(name), catalog.controls(name)
    if not controls.density:
        raise UserError(f"{model.name} has no density to score with")
    files = _files(upload)
    if len(files) != 1:
        raise UserError("upload one image to score")
    view = genmodels.evaluation_view_of(catalog.folder(name), model)
    colours, height, width = model.config.image_shape
    raw = (colours, height - 2 * view.pad, width - 2 * view.pad)
    with _uploaded(files):
        image = torch.from_numpy(read_image(files[0], raw, resize=False))[None]
    scores = anomaly_scores(model, ImageSet(image, name=files[0].name), view)
    nll = float(scores["nll"][0])
    bits = nll / (math.prod(model.config.image_shape) * math.log(2))
    bound = "exact" if model.log_prob_is_exact else "an upper bound: the model's log p(x) is a lower bound"
    lines = [f"**−log p(x) = {nll:.2f} nats**, {bits:.4f} bits/dim ({bound})."]
    measured = catalog.thresholds(name)
    if measured is None:
        lines.append("No anomaly verdict: the folder does not say what the model was trained on.")
    else:
        rate = measured["false_alarm_rate"]
        for key, what in (("nll", "−log p(x)"), ("complexity", "−log p(x) − PNG length")):
            value, limit = float(scores[key][0]), measured["thresholds"][key]
            verdict = "**anomalous**" if value > limit else "**normal**"
            lines.append(
                f"- {what}: {value:.2f} vs threshold {limit:.2f} → {verdict}"
                f" (flags {rate:.0%} of {measured['note']}, {measured['n']} images)"
            )
    return _picture(view(image), view.kind), "\n".join(lines)


# -- the page ----------------------------------------------------------------------------------------------
def build_app(catalog: RunCatalog):
    """The Gradio page over the catalog's runs."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    import gradio as gr

    from genmodels import lecture

    def on_run(name: str | None, current: str):
        """The run's description; the tabs and controls its model takes shown and the others hidden,
        staying on the `current` tab where the model can use it (else going to its first usable
        one). A run that cannot be opened shows why, and nothing else."""
        nothing = [
            gr.update(),
            current,
            *(gr.update(visible="hidden") for _ in tabs),
            *(gr.update(visible=False) for _ in run_controls),
        ]
        if not name:
            return ["Choose a run.", *nothing]
        try:
            controls, about = catalog.controls(name), catalog.describe(name)
        except UserError as error:  # it cannot be loaded: the reason was logged as it was found
            return [f"**Error:** {error}", *nothing]
        except Exception as error:  # e.g. an unreadable train.json
            log.exception("cannot open %s", name)
            return [f"**Error:** {error}", *nothing]
        usable = controls.tabs()
        chosen = (
            current if usable.get(current) else next((tab for tab, can in usable.items() if can), current)
        )
        labels = ["any", *map(str, range(controls.labels))]
        categories = ["any", *map(str, range(controls.codes[0]))] if controls.codes else ["any"]
        return [
            about,
            gr.Tabs(selected=chosen),
            chosen,
            # "hidden", not False: Gradio (6.31) keeps a tab's header when an update sets visible=False.
            *(gr.update(visible=True if usable[tab] else "hidden") for tab in tabs),
            gr.update(visible=controls.ema, value=False),
            gr.update(visible=controls.labels > 0, choices=labels, value="any"),
            gr.update(visible=controls.text),
            gr.update(visible=controls.codes is not None, choices=categories, value="any"),
            gr.update(visible=controls.codes is not None),
            gr.update(visible=controls.patches is not None),
            gr.update(visible=controls.text),
            gr.update(visible=controls.text),
            # Shown again whenever the run translates: a broken run before it had hidden it.
            gr.update(
                visible=controls.translates is not None,
                value=_target_hint(controls) if controls.translates else "",
            ),
        ]

    def refreshed(current: str | None):
        choices = catalog.choices()
        names = [name for _, name in choices]
        return gr.update(choices=choices, value=current if current in names else catalog.first_loadable())

    def action_area(key: str, action: str, picture: str):
        """A tab's button, then the action's message and picture (element ids key-button, ...)."""
        button = gr.Button(action, variant="primary", elem_id=f"{key}-button")
        message = gr.Markdown(elem_id=f"{key}-message")
        image = gr.Image(label=picture, elem_id=f"{key}-image", interactive=False, format="png")
        return button, message, image

    first = catalog.first_loadable()  # tried first, so that the runs before it are listed with their reason
    with gr.Blocks(title="genmodels", analytics_enabled=False) as page:
        listed = ["The pretrained zoo (`zoo:NAME`, trained on mnist-full)"] if catalog.zoo else []
        listed += [f"trained runs under `{catalog.root}`"] if catalog.root is not None else []
        text = " and ".join(listed)
        gr.Markdown(f"# genmodels\n{text[:1].upper()}{text[1:]}.")
        with gr.Tabs(elem_id="pages"):
            with gr.Tab("Models", id="Models", elem_id="models-page"):
                with gr.Row():
                    run = gr.Dropdown(catalog.choices(), value=first, label="Run", elem_id="run", scale=4)
                    refresh = gr.Button("Refresh the list", elem_id="refresh", scale=1)
                about = gr.Markdown(elem_id="about")
                with gr.Tabs(elem_id="tabs") as tab_area:
                    with gr.Tab("Sample", id="Sample", elem_id="sample-tab") as sample_tab:
                        with gr.Row():
                            n = gr.Slider(
                                1, MAX_SAMPLES, value=16, step=1, label="Samples", elem_id="sample-n"
                            )
                            seed = gr.Number(0, precision=0, label="Seed", elem_id="sample-seed")
                            ema = gr.Checkbox(False, label="EMA weights", elem_id="sample-ema", visible=False)
                        label = gr.Dropdown(
                            ["any"], value="any", label="Class", elem_id="sample-label", visible=False
                        )
                        caption = gr.Textbox(
                            "a thick seven", label="Caption", elem_id="sample-caption", visible=False
                        )
                        with gr.Row():
                            category = gr.Dropdown(
                                ["any"],
                                value="any",
                                label="Category code",
                                elem_id="sample-category",
                                visible=False,
                            )
                            continuous = gr.Textbox(
                                "",
                                label="Continuous codes, comma-separated (blank: random)",
                                elem_id="sample-continuous",
                                visible=False,
                            )
                        patches = gr.File(
                            file_count="multiple",
                            label="Key patches (images)",
                            elem_id="sample-patches",
                            visible=False,
                        )
                        sample_action = action_area("sample", "Sample", "Samples")
                    with gr.Tab(
                        "Interpolate", id="Interpolate", elem_id="interpolate-tab"
                    ) as interpolate_tab:
                        with gr.Row():
                            seed_a = gr.Number(0, precision=0, label="Seed A", elem_id="interpolate-seed-a")
                            seed_b = gr.Number(1, precision=0, label="Seed B", elem_id="interpolate-seed-b")
                            steps = gr.Slider(
                                2, 16, value=8, step=1, label="Steps", elem_id="interpolate-steps"
                            )
                        caption_a = gr.Textbox(
                            "a thin one", label="Caption A", elem_id="interpolate-caption-a", visible=False
                        )
                        caption_b = gr.Textbox(
                            "a thick seven", label="Caption B", elem_id="interpolate-caption-b", visible=False
                        )
                        interpolate_action = action_area("interpolate", "Interpolate", "Interpolation")
                    with gr.Tab("Translate", id="Translate", elem_id="translate-tab") as translate_tab:
                        translate_upload = gr.File(label="Image to translate", elem_id="translate-upload")
                        target_hint = gr.Markdown(elem_id="translate-hint")
                        with gr.Row():
                            target = gr.Textbox(label="To", elem_id="translate-to")
                            source = gr.Textbox(
                                label="From (blank: read from the image)", elem_id="translate-from"
                            )
                        translate_action = action_area("translate", "Translate", "Input and translation")
                    with gr.Tab("Score", id="Score", elem_id="score-tab") as score_tab:
                        score_upload = gr.File(label="Image to score", elem_id="score-upload")
                        score_action = action_area("score", "Score", "As the model sees it")

            with gr.Tab("Lecture", id="Lecture", elem_id="lecture-page"):
                lecture.lecture_page(gr, catalog)
            with gr.Tab("Draw a digit", id="Draw", elem_id="draw-page"):
                lecture.drawing_page(gr, catalog)

        tabs = {tab.label: tab for tab in (sample_tab, interpolate_tab, translate_tab, score_tab)}
        current_tab = gr.State("Sample")  # the tab the user is on
        run_controls = [
            ema,
            label,
            caption,
            category,
            continuous,
            patches,
            caption_a,
            caption_b,
            target_hint,
        ]
        run_outputs = [about, tab_area, current_tab, *tabs.values(), *run_controls]
        run.change(on_run, [run, current_tab], run_outputs)
        page.load(on_run, [run, current_tab], run_outputs)
        for tab_label, tab in tabs.items():  # kept at once (unqueued), for the next choice of run
            tab.select(partial(str, tab_label), None, current_tab, queue=False)
        refresh.click(refreshed, run, run)
        for (button, message, image), action, inputs in [
            (sample_action, sample, [n, seed, ema, label, caption, category, continuous, patches]),
            (interpolate_action, interpolate, [seed_a, seed_b, steps, caption_a, caption_b]),
            (translate_action, translate, [translate_upload, target, source]),
            (score_action, score, [score_upload]),
        ]:
            button.click(partial(action, catalog), [run, *inputs], [image, message])
    return page


def serve(
    runs_dir: str | Path | None = "runs",
    *,
    zoo: bool = True,
    host: str = LOCALHOST,
    port: int = 7860,
    max_upload_bytes: int = MAX_BYTES,
) -> None:
    """Serve the app until interrupted: the zoo's models and the runs under `runs_dir` (None: the
    zoo only). Only this machine can reach it unless `host` says otherwise."""
    catalog = RunCatalog(runs_dir, zoo=zoo)
    page = build_app(catalog)
    page.queue(default_concurrency_limit=1)
    page.launch(
        server_name=host, server_port=port, max_file_size=max_upload_bytes, share=False, show_error=False
    )
