"""The `genmodels` command. Heavy modules are imported inside the commands, so `--help` is fast.

Every refusal is one line on stderr, `error: ...`, with exit code 2: the library's own errors, the
usage errors click finds (a missing argument, a number out of range), and the known failures of
the models (an attribute a translator does not have). Help and messages are plain text: rich
markup would read `mnist[captions]` as a style tag and print `mnist`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from types import ModuleType

    import click

    from genmodels.data import ImageSet, View
    from genmodels.models.base import GenerativeModel


def _fail(message: str) -> typer.Exit:
    """Print `error: message` as one line on stderr (bold red on a terminal); exit code 2."""
    from rich.console import Console
    from rich.markup import escape

    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(line)}", highlight=False)
    return typer.Exit(code=2)


def _click() -> ModuleType:
    """The click that typer runs on: click itself, or (typer 0.29 on) typer's own copy of it, whose
    exceptions and parameter sources are other classes than click's."""
    import importlib

    return importlib.import_module(TyperGroup.__mro__[1].__module__)


@contextlib.contextmanager
def _usage_errors_in_one_line() -> Iterator[None]:
    click = _click()
    try:
        yield
    except click.NoArgsIsHelpError:  # `genmodels` alone: the help is the answer
        raise
    except click.UsageError as error:
        hint = f" (see: {error.ctx.command_path} --help)" if error.ctx is not None else ""
        raise _fail(error.format_message() + hint) from None


class _Commands(TyperGroup):
    """click's usage errors (usage, a hint, then the message) become one line like every other."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _usage_errors_in_one_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors_in_one_line():  # the commands' own arguments are parsed in here
            return super().invoke(ctx)


app = typer.Typer(
    name="genmodels",
    help="Train, sample and evaluate the classic deep generative models.",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help as written: brackets are data names, not markup
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def handles_errors(command):
    """Known failures (bad data, bad config, bad model or run folder, diverged training, a file
    that cannot be written, a name a model does not know) end with one clear line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from genmodels.config import ConfigError
        from genmodels.data import DataError
        from genmodels.io import ModelFolderError
        from genmodels.registry import UnknownModelError
        from genmodels.training import TrainingDiverged

        try:
            return command(*args, **kwargs)
        except (ConfigError, DataError, ModelFolderError, UnknownModelError, TrainingDiverged) as error:
            raise _fail(str(error)) from None
        except (ValueError, TypeError) as error:
            raise _fail(str(error)) from None
        except KeyError as error:  # the models' refusal of a name they do not have (str() would quote it)
            raise _fail(str(error.args[0]) if error.args else repr(error)) from None
        except OSError as error:  # a folder that cannot be written, a path that is a file, ...
            names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
            raise _fail(f"{names}: {error.strerror}" if names and error.strerror else str(error)) from None

    return wrapper


@app.command("list")
@handles_errors
def list_command(as_json: JsonOption = False) -> None:
    """The models: name, family, capabilities and presets."""
    import genmodels

    models = genmodels.list_models()
    if as_json:
        return _print_json({"models": models})
    from rich.console import Console
    from rich.table import Table

    table = Table("model", "family", "capabilities", "presets", "summary")
    for m in models:
        table.add_row(
            m["name"], m["family"], ", ".join(m["capabilities"]), ", ".join(m["presets"]), m["summary"]
        )
    Console().print(table)


@app.command()
@handles_errors
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A model name from `genmodels list`.")],
    data: Annotated[
        str,
        typer.Option(
            help="mnist, mnist-full, digits, idx:DIR, folder:DIR, captions:FILE.jsonl, unpaired:DIR, "
            "celeba:DIR, "
            "or a view: mnist[captions], mnist[patches=3], mnist[domains=thin/thick], mnist[styles=thick]."
        ),
    ] = "mnist",
    split: Annotated[
        str,
        typer.Option(
            help="Split to train on (mnist: train, fit, val, test; mnist-full: train, val, test, trainval)."
        ),
    ] = "train",
    val_split: Annotated[str | None, typer.Option(help="Split for validation and early stopping.")] = None,
    preset: Annotated[str, typer.Option(help="Named model config: cpu, paper; 'none' for defaults.")] = "cpu",
    steps: Annotated[
        int | None, typer.Option(help="Total optimisation steps (default: the preset's).")
    ] = None,
    epochs: Annotated[float | None, typer.Option(help="Total epochs (instead of --steps).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Model config override key=value (repeatable).")
    ] = None,
    view: Annotated[
        str | None,
        typer.Option(
            help="unit, static (thresholded), dynamic, stochastic[:SEED] (binarised once) or "
            "symmetric; default: the model's."
        ),
    ] = None,
    pad: Annotated[int, typer.Option(help="Pad images by this many pixels on each side.")] = 0,
    perturb: Annotated[
        float, typer.Option(help="Replace this share of pixels by noise (a background model for `detect`).")
    ] = 0.0,
    batch_size: Annotated[int | None, typer.Option(help="Default 128.")] = None,
    seed: Annotated[int | None, typer.Option(help="Default 0.")] = None,
    log_every: Annotated[int | None, typer.Option(help="Default 50.")] = None,
    sample_every: Annotated[int | None, typer.Option(help="0: only at the end.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="0: only at the end.")] = None,
    val_every: Annotated[int | None, typer.Option(help="Validate every N steps (needs --val-split).")] = None,
    patience: Annotated[
        int | None, typer.Option(help="Stop after N validations without improvement.")
    ] = None,
    ema_decay: Annotated[
        float | None, typer.Option(help="Keep an EMA of the weights (e.g. 0.999); 0: none.")
    ] = None,
    max_grad_norm: Annotated[
        float | None, typer.Option(help="Clip gradients to this norm; 0: no clipping.")
    ] = None,
    mixed_precision: Annotated[str | None, typer.Option(help="no, fp16 or bf16.")] = None,
    lr_decay: Annotated[
        str | None, typer.Option(help="none, or cosine: the lr falls to 0 by the last step.")
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop after this much training time (resumed time included).")
    ] = None,
    snapshot_every: Annotated[
        int | None, typer.Option(help="Keep the weights every N steps in RUN/snapshots (learning curves).")
    ] = None,
    cpu: Annotated[bool, typer.Option(help="Train on the CPU even if a GPU is present.")] = False,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<model>-<data>-<time>).")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --out from its last checkpoint (a larger --steps or --epochs "
            "trains it further; its data, model config and training settings stay the run's)."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the run in --out: its old files are removed first.")
    ] = False,
    progress: Annotated[
        bool, typer.Option(help="Show the progress bar (plain lines where stderr is not a terminal).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Train MODEL; the run folder holds the model, checkpoints, metrics, samples and TensorBoard logs.
    A folder that holds a run is never written over unasked: --resume continues it, --overwrite
    replaces it; one training at a time writes a run folder. Ctrl-C stops at once and prints the
    command that resumes from the last checkpoint."""
    import genmodels.api as api
    from genmodels.config import parse_overrides

    given = {
        "batch_size": batch_size,
        "seed": seed,
        "log_every": log_every,
        "sample_every": sample_every,
        "checkpoint_every": checkpoint_every,
        "val_every": val_every,
        "patience": patience,
        "ema_decay": ema_decay,
        "max_grad_norm": max_grad_norm,
        "mixed_precision": mixed_precision,
        "lr_decay": lr_decay,
        "max_minutes": max_minutes,
        "snapshot_every": snapshot_every,
        "steps": steps,
        "epochs": epochs,
    }
    # Only what the user gave: the preset's recipe, then TrainConfig's defaults, fill the rest.
    options = {key: value for key, value in given.items() if value is not None}
    options.update(cpu=cpu, progress=progress and not as_json)
    if resume and overwrite:
        raise ValueError("choose --resume (continue the run in --out) or --overwrite (replace it), not both")
    if resume and out is None:
        raise ValueError("--resume needs --out RUN_DIR, the run to continue")
    out = out or api.default_run_dir(model, data)
    try:
        if resume:
            # What the user stated about the data is checked against the run rather than ignored.
            data_options = {
                "name": ("data", data),
                "split": ("split", split),
                "val_split": ("val_split", val_split),
                "preset": ("preset", None if preset == "none" else preset),
                "view": ("view", view),
                "pad": ("pad", pad),
                "perturb": ("perturb", perturb),
            }
            stated = {key: value for key, (option, value) in data_options.items() if _given(ctx, option)}
            config = parse_overrides(set_ or [])
            result = api.resume(out, model=model, config=config, data=stated, **options)
        else:
            result = api.train(
                model,
                data,
                split=split,
                val_split=val_split,
                preset=None if preset == "none" else preset,
                config=parse_overrides(set_ or []),
                view=view,
                pad=pad,
                perturb=perturb,
                out=out,
                overwrite=overwrite,
                **options,
            )
    except KeyboardInterrupt:
        raise _interrupted(model, out) from None
    if int(os.environ.get("RANK", "0")) != 0:  # one of several processes (torchrun): rank 0 reports
        return None
    summary = {
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "stopped_early": result.stopped_early,
        "best_step": result.best_step,
        "best_val": result.best_val,
        "last_logs": result.last_logs,
    }
    if as_json:
        return _print_json(summary)
    typer.echo(f"trained {result.steps} steps in {result.seconds:.1f} s -> {result.run_dir}")
    if result.best_step is not None:
        typer.echo(f"best validation loss {result.best_val:.3f} at step {result.best_step} (the saved model)")


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option `name` (rather than its default taking its place)."""
    source = _click().ParameterSource
    return ctx.get_parameter_source(name) not in (None, source.DEFAULT, source.DEFAULT_MAP)


def _interrupted(model: str, run_dir: Path) -> typer.Exit:
    """Ctrl-C while training: where the run stands, and the command that continues it. Exit 130."""
    from genmodels.training.checkpoint import latest_checkpoint
    from genmodels.training.run_folder import holds_run

    if int(os.environ.get("RANK", "0")) != 0:  # one of several processes (torchrun): rank 0 reports
        return typer.Exit(code=130)
    checkpoint = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    if checkpoint is not None:
        lines = [
            f"interrupted: the last checkpoint is {checkpoint}",
            f"continue with: genmodels train {shlex.quote(model)} --out {shlex.quote(str(run_dir))} --resume",
        ]
    elif run_dir.is_dir() and holds_run(run_dir):
        lines = [f"interrupted before the first checkpoint; to start {run_dir} again, add --overwrite"]
    else:
        lines = ["interrupted before training began"]
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(code=130)


@app.command()
@handles_errors
def sample(
    run: Annotated[Path, typer.Argument(help="A run or model folder.")],
    patch_files: Annotated[
        list[Path] | None, typer.Argument(help="With --patches: the key patches (PNG), one file each.")
    ] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Number of samples.")] = 64,
    out: Annotated[Path, typer.Option(help="PNG grid to write.")] = Path("samples.png"),
    seed: Annotated[int, typer.Option()] = 0,
    ema: Annotated[bool, typer.Option(help="Use the EMA weights (if the run kept them).")] = False,
    nrow: Annotated[int | None, typer.Option(min=1, help="Images per row.")] = None,
    text: Annotated[str | None, typer.Option(help="A sentence, for text-to-image models.")] = None,
    interpolate_to: Annotated[
        str | None,
        typer.Option(help="With --text: a second sentence; writes a grid moving from one to the other."),
    ] = None,
    patches: Annotated[
        bool, typer.Option("--patches", help="Build whole images from the key patches given as files.")
    ] = False,
) -> None:
    """Draw N samples from a trained model into a PNG grid; `--text "a thick seven"` for
    text-to-image, `--patches a.png b.png c.png` for Puzzle-GAN."""
    import torch

    import genmodels
    from genmodels.data import to_uint8
    from genmodels.viz import save_grid

    model = genmodels.load(run, use_ema=ema)
    if "sample" not in model.capabilities():
        hint = " (it translates: genmodels translate RUN --input img.png --to DOMAIN)"
        raise ValueError(f"{model.name} does not sample{hint if 'translate' in model.capabilities() else ''}")
    kind = getattr(model, "condition_kind", None)
    if (text is not None or interpolate_to is not None) and kind != "text":
        raise ValueError(f"{model.name} does not take a sentence (--text is for text-to-image models)")
    if patches != bool(patch_files):
        raise ValueError("give key patches as files after --patches: sample RUN --patches a.png b.png c.png")
    if patches and kind != "patches":
        raise ValueError(f"{model.name} does not build images from patches")
    if kind in ("text", "patches") and text is None and not patches:
        option = "--text 'a thick seven'" if kind == "text" else "--patches a.png b.png c.png"
        raise ValueError(f"{model.name} samples from a condition: pass {option}")
    generator = torch.Generator().manual_seed(seed)
    condition: Any = None
    if text is not None and interpolate_to is not None:
        images, nrow = model.interpolation_grid(text, interpolate_to, generator=generator), 8
    else:
        if text is not None:
            condition = text
        elif patches:
            condition = _read_patches(patch_files, model).expand(n, -1, -1, -1, -1)
        images = model.sample(n, condition=condition, generator=generator)
    save_grid(to_uint8(images, model.default_view().kind), out, nrow=nrow)
    typer.echo(f"{len(images)} samples -> {out}")


def _classifier(run: Path, option: str) -> GenerativeModel:
    import genmodels

    model = genmodels.load(run)
    if model.family != "classifier":
        raise ValueError(f"{option} {run}: a `classifier` run is needed, not a {model.name}")
    return model


def _data_for(
    model: GenerativeModel, run: Path, name: str | None, split: str, view: View, *, option: str = "--data"
) -> ImageSet:
    """The data set `name` (None: the one the run trained on, else mnist: a zoo model trained on
    mnist-full is then not scored on the embedded digits, which are among its training digits),
    refused in one line where its images (in `view`) are not the size the model takes, naming the
    data the run trained on where the run says."""
    import genmodels
    import genmodels.api as api

    if name is None:
        trained = api.trained_on(run)
        name = trained["name"] if trained is not None else "mnist"
    dataset = genmodels.load_dataset(name, split)
    shape, wanted = view.image_shape(dataset.image_shape), tuple(model.config.image_shape)
    if shape != wanted:
        trained = api.trained_on(run)
        hint = f"; the run trained on {trained['name']}" if trained is not None else ""
        raise ValueError(
            f"{model.name} takes images {wanted}, {dataset.name} gives {shape}: "
            f"choose data of that size with {option}{hint}"
        )
    return dataset


def _read_patches(files: list[Path], model: Any):
    """Patch images -> [1, K, C, p, p] in the model's range, resized to the model's patch size."""
    if len(files) != model.config.num_patches:
        raise ValueError(f"{model.name} was trained on {model.config.num_patches} patches; got {len(files)}")
    from genmodels.data import View
    from genmodels.data.user_images import read_images

    colours, size = model.config.image_shape[0], model.config.patch_size
    patches = read_images(files, (colours, size, size), View(model.default_view().kind))
    return patches.unsqueeze(0).to(model.device)


@app.command()
@handles_errors
def translate(
    run: Annotated[
        Path, typer.Argument(help="A translation model's run or model folder (cyclegan, stargan).")
    ],
    input: Annotated[
        Path, typer.Option("--input", help="The image to translate (resized to the model's size).")
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Target domain (cyclegan: e.g. thick) or attribute settings (stargan: thick=1,invert=0).",
        ),
    ],
    source: Annotated[
        str | None, typer.Option("--from", help="Source domain or attribute settings; default: inferred.")
    ] = None,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("translated.png"),
) -> None:
    """Translate one image into another domain: `genmodels translate RUN --input img.png --to DOMAIN`."""
    import genmodels
    from genmodels.data import View, to_uint8
    from genmodels.data.user_images import read_images
    from genmodels.viz import save_image

    model = genmodels.load(run)
    if "translate" not in model.capabilities():
        raise ValueError(f"{model.name} does not translate images (try a cyclegan or stargan run)")
    x = read_images([input], model.config.image_shape, View(model.default_view().kind)).to(model.device)
    translated = model.translate(x, genmodels.translation_target(source), genmodels.translation_target(to))
    save_image(to_uint8(translated.cpu(), model.default_view().kind)[0], out)  # the image itself, its size
    typer.echo(f"{input} -> {out}")


@app.command()
@handles_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run or model folder.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Data set to evaluate on; default: the data the run trained on (its train.json), else mnist."
        ),
    ] = None,
    split: Annotated[str, typer.Option()] = "test",
    view: Annotated[
        str | None,
        typer.Option(
            help="Data view; default: the one the run trained on. 'stochastic' (test digits binarised "
            "once, seed 0) is the literature's protocol; 'static' (thresholded) is easier."
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option(min=1, help="Importance samples for models whose density is a bound.")
    ] = None,
    samples: Annotated[
        int, typer.Option(min=0, help="Samples drawn for the sample-quality metrics; 0 skips them.")
    ] = 1000,
    features: Annotated[
        str | None,
        typer.Option(
            help="Feature network: the shipped digit classifier (default), a classifier run, "
            "or inception:FILE."
        ),
    ] = None,
    parzen: Annotated[
        int,
        typer.Option(
            min=0,
            help="Parzen-window log-likelihood on this many samples (the GAN and AAE papers': 10000), "
            "its bandwidth chosen on --parzen-val; 0 skips it.",
        ),
    ] = 0,
    parzen_val: Annotated[str, typer.Option(help="The split that chooses the Parzen bandwidth.")] = "val",
    batch_size: Annotated[int, typer.Option(min=1)] = 100,
    seed: Annotated[int, typer.Option()] = 0,
    domain_classifier: Annotated[
        Path | None, typer.Option(help="Translators: a classifier run of the target domains / attributes.")
    ] = None,
    content_classifier: Annotated[
        Path | None, typer.Option(help="Translators: a digit classifier run of the same styled data.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a trained model: NLL (nats, bits/dim) where it has a density, sample quality
    (FD-digits, KID, precision/recall, density/coverage, class coverage) where it samples, and
    translation scores (target-domain accuracy, digit kept, cycle / reconstruction L1) where it
    translates and the two classifiers are given, and with --parzen the Parzen-window
    log-likelihood of the GAN and AAE papers."""
    import genmodels
    import genmodels.api as api
    from genmodels.evaluation import evaluate_likelihood, sample_quality
    from genmodels.models.base import DensityModel

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model, view)
    dataset = _data_for(model, run, data, split, chosen)
    report: dict[str, Any] = {"model": model.name, "data": dataset.name, "view": chosen.describe()}
    if isinstance(model, DensityModel):
        report.update(evaluate_likelihood(model, dataset, chosen, k=k, batch_size=batch_size, seed=seed))
    if samples > 0 and "sample" in model.capabilities():
        from genmodels.evaluation.features import load_feature_network

        try:
            network = load_feature_network(features)
        except RuntimeError as error:  # torch.jit's reading of a file that is not TorchScript
            reason = (str(error).strip() or type(error).__name__).splitlines()[0].split(". ")[0]
            raise ValueError(f"--features {features}: not a readable network ({reason})") from None
        shape = chosen.image_shape(dataset.image_shape)
        if features is None and not network.accepts(shape):  # the default network fits digits only
            report["sample_quality"] = {
                "skipped": f"the shipped digit classifier takes {network.image_shape}, these images are "
                f"{shape}: pass --features RUN with a classifier trained on this data"
            }
        else:
            report["sample_quality"] = sample_quality(
                model, dataset, chosen, n_fake=samples, features=network, seed=seed
            )
    if parzen > 0:
        from genmodels.evaluation.parzen import model_parzen_window

        validation = _data_for(model, run, data, parzen_val, chosen, option="--parzen-val")
        report["parzen"] = model_parzen_window(model, validation, dataset, n_samples=parzen, seed=seed)
    if "translate" in model.capabilities():
        if domain_classifier is None or content_classifier is None:
            report["translation"] = {
                "skipped": "pass --domain-classifier and --content-classifier "
                "(scripts/train_domain_classifier.py trains them for the styled mnist sets)"
            }
        else:
            from genmodels.evaluation.translation import translation_scores

            scores = translation_scores(
                model,
                dataset,
                chosen,
                domain_network=_classifier(domain_classifier, "--domain-classifier"),
                content_network=_classifier(content_classifier, "--content-classifier"),
                batch_size=batch_size,
            )
            report["translation"] = {k: v for k, v in scores.items() if not isinstance(v, dict)}
    trained = api.trained_on(run)
    if trained is not None:  # how the model was trained belongs beside the number
        from genmodels.data import View

        report["trained_on"] = f"{trained['name']}/{trained['split']}, {View(**trained['view']).describe()}"
    if as_json:
        return _print_json(report)
    from rich.console import Console
    from rich.markup import escape  # data names like mnist[invert] are not markup
    from rich.table import Table

    table = Table("measure", "value", title=escape(f"{model.name} on {dataset.name} ({report['view']})"))
    quality = report.pop("sample_quality", {})
    translation = report.pop("translation", {})
    parzen_window = report.pop("parzen", {})
    rows = list(report.items()) + [(f"samples: {key}", value) for key, value in quality.items()]
    rows += [(f"parzen: {key}", value) for key, value in parzen_window.items()]
    rows += [(f"translation: {key}", value) for key, value in translation.items()]
    for key, value in rows:
        if key == "samples: fd" and "score_name" in quality:
            key = f"samples: {quality['score_name']}"
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        if isinstance(value, list) and value and isinstance(value[0], float):
            shown = " ".join(f"{v:.2f}" for v in value)
        table.add_row(key, escape(shown))
    Console().print(table)
    for warning in quality.get("warnings", []) + parzen_window.get("warnings", []):
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(warning)}")


@app.command()
@handles_errors
def figures(
    run: Annotated[Path, typer.Argument(help="A run or model folder.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Images to reconstruct, encode, caption or translate; default: the data the run "
            "trained on (its train.json), else mnist."
        ),
    ] = None,
    split: Annotated[str, typer.Option()] = "test",
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the PNGs (default RUN/figures; figures-NAME for zoo:NAME)."),
    ] = None,
) -> None:
    """Pictures of a trained model: samples, and where it has a latent space, reconstructions,
    interpolations and a 2-D latent scatter coloured by label; loss curves from its metrics."""
    import genmodels
    import genmodels.api as api
    from genmodels import zoo
    from genmodels.viz import model_figures

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model)
    trained = api.trained_on(run)
    name = data or (trained["name"] if trained is not None else "mnist")
    # A zoo model's folder is the package's: its pictures go to the working folder.
    out = out or (
        Path(f"figures-{str(run).removeprefix(zoo.PREFIX)}") if zoo.is_zoo(run) else run / "figures"
    )
    written = model_figures(model, _data_for(model, run, name, split, chosen), chosen, out, seed=seed)
    metrics = zoo.resolve(run) / "metrics.jsonl"
    if metrics.is_file():
        from genmodels.viz import loss_curves

        curve = loss_curves(metrics, out / "loss_curves.png")
        written += [curve] if curve else []
    for path in written:
        typer.echo(str(path))


@app.command()
@handles_errors
def score(
    run: Annotated[Path, typer.Argument(help="A run or model folder with a density.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Images to score; default: the data the run trained on (its train.json), else mnist."
        ),
    ] = None,
    split: Annotated[str, typer.Option()] = "test",
    out: Annotated[Path, typer.Option(help="CSV to write: index, label, nll_nats, bits_per_dim.")] = Path(
        "scores.csv"
    ),
    view: Annotated[str | None, typer.Option(help="Data view; default: the run's, made fixed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per-image negative log-likelihood (nats) and bits/dim, written as CSV."""
    import csv
    import math

    import genmodels
    from genmodels.evaluation import per_image_log_prob

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model, view)
    dataset = _data_for(model, run, data, split, chosen)
    nll = -per_image_log_prob(model, dataset, chosen)
    dims = math.prod(chosen.image_shape(dataset.image_shape))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "label", "nll_nats", "bits_per_dim"])
        for i, value in enumerate(nll.tolist()):
            label = "" if dataset.labels is None else int(dataset.labels[i])
            writer.writerow([i, label, f"{value:.6f}", f"{value / (dims * math.log(2)):.6f}"])
    summary = {"data": dataset.name, "n": len(dataset), "view": chosen.describe(), "csv": str(out)}
    summary.update(mean_nll_nats=float(nll.mean()), exact=bool(model.log_prob_is_exact))
    if as_json:
        return _print_json(summary)
    typer.echo(f"{len(dataset)} scores -> {out} (mean NLL {float(nll.mean()):.3f} nats, {chosen.describe()})")


@app.command()
@handles_errors
def detect(
    run: Annotated[Path, typer.Argument(help="A run or model folder with a density (trained on --in-data).")],
    in_data: Annotated[
        str | None,
        typer.Option(
            help="In-distribution images; default: the data the run trained on (its train.json), else mnist."
        ),
    ] = None,
    out_data: Annotated[
        list[str] | None,
        typer.Option(
            help="Out-of-distribution set(s), e.g. 'mnist[classes=9]', 'mnist[invert]', noise, photos."
        ),
    ] = None,
    split: Annotated[str, typer.Option()] = "test",
    background: Annotated[
        Path | None, typer.Option(help="Background model trained with --perturb, for the likelihood ratio.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Anomaly detection: AUROC / AUPRC of raw NLL, likelihood ratio and complexity-corrected NLL."""
    import genmodels
    from genmodels.evaluation.anomaly import detection_report

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model)
    inside = _data_for(model, run, in_data, split, chosen)
    outs = [
        _data_for(model, run, name, split, chosen, option="--out-data")
        for name in (out_data or ["mnist[invert]", "noise", "photos"])
    ]
    bg = genmodels.load(background) if background is not None else None
    report = detection_report(model, inside, outs, chosen, bg)
    if as_json:
        return _print_json(report)
    from rich.console import Console
    from rich.markup import escape  # data names like mnist[invert] are not markup
    from rich.table import Table

    scores = ["nll", "likelihood_ratio", "complexity"] if bg is not None else ["nll", "complexity"]
    title = f"in: {escape(report['in_data'])}"
    table = Table("out-of-distribution set", *(f"{s} AUROC / AUPRC" for s in scores), title=title)
    for row in report["results"]:
        table.add_row(
            escape(row["out_data"]), *(f"{row[s]['auroc']:.3f} / {row[s]['auprc']:.3f}" for s in scores)
        )
    console = Console()
    console.print(table)
    for row in report["results"]:
        if "warning" in row:
            console.print(f"[yellow]warning:[/] {escape(row['warning'])}")
    if bg is None:
        console.print("no --background model: the likelihood-ratio score is left out")


@app.command()
@handles_errors
def classify(
    run: Annotated[Path, typer.Argument(help="A class-conditional density model (num_classes > 0).")],
    data: Annotated[
        str | None,
        typer.Option(
            help="The images to classify; default: the data the run trained on (its train.json), else mnist."
        ),
    ] = None,
    split: Annotated[str, typer.Option()] = "test",
    as_json: JsonOption = False,
) -> None:
    """Bayes classifier: argmax_y log p(x | y) + log p(y), with p(y) from the training labels."""
    import torch

    import genmodels
    import genmodels.api as api
    from genmodels.evaluation.classify import bayes_classify
    from genmodels.models.base import DensityModel

    model = genmodels.load(run)
    classes = getattr(model.config, "num_classes", 0)
    if not isinstance(model, DensityModel) or not classes:
        has = "no density" if not isinstance(model, DensityModel) else "no classes (num_classes=0)"
        raise ValueError(
            f"{model.name} has {has}: Bayes' rule needs a class-conditional density model "
            "(e.g. genmodels train nade --set num_classes=10)"
        )
    chosen = genmodels.evaluation_view_of(run, model)
    dataset = _data_for(model, run, data, split, chosen)
    prior = None
    trained = api.trained_on(run)
    if trained is not None:
        labels = genmodels.load_dataset(trained["name"], trained["split"]).labels
        if labels is not None:
            prior = torch.bincount(labels, minlength=classes).float()
            prior = prior / prior.sum()
    report = bayes_classify(model, dataset, chosen, prior)
    if as_json:
        return _print_json(report)
    typer.echo(
        f"Bayes classifier accuracy on {report['data']}: {report['accuracy']:.4f} ({report['n']} images)"
    )


@app.command()
@handles_errors
def serve(
    runs_dir: Annotated[
        Path | None,
        typer.Argument(help="The folder of runs to serve beside the zoo; default: ./runs if it exists."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; the default lets only this machine connect.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 7860,
    max_upload_mb: Annotated[float, typer.Option(help="Uploads larger than this are refused.")] = 20.0,
    with_zoo: Annotated[
        bool, typer.Option("--zoo/--no-zoo", help="List the pretrained zoo's models first (zoo:NAME).")
    ] = True,
) -> None:
    """The web app: pick a zoo model or a trained run, sample with a seed (and its class, caption,
    codes or patches), interpolate, translate or score an uploaded image; the Lecture page's
    demonstrations; a pad to draw a digit on and have it scored, classified and completed (needs
    the `app` extra: gradio)."""
    # Checked before the app (and gradio) is imported: these answers should not take seconds.
    if runs_dir is None:  # the zoo opens, with this folder's runs beside it when it has some
        runs_dir = Path("runs") if Path("runs").is_dir() else None
    elif not runs_dir.is_dir():
        raise ValueError(f"{runs_dir}: not a folder of runs")
    if not max_upload_mb > 0:  # typer's ranges have no open end
        raise ValueError(f"--max-upload-mb must be above 0, got {max_upload_mb}")
    _refuse_unavailable_port(host, port)
    from genmodels.app import LOCALHOST, serve

    if host not in (LOCALHOST, "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: other machines can reach the app", err=True)
    if runs_dir is None and not with_zoo:
        raise ValueError("nothing to serve: give a folder of runs, or leave the zoo on")
    serve(runs_dir, zoo=with_zoo, host=host, port=port, max_upload_bytes=int(max_upload_mb * 2**20))


def _refuse_unavailable_port(host: str, port: int) -> None:
    """Bind the address once, as the server will: a port in use or a host that is not this
    machine's is refused here in one line (gradio's own error suggests an environment variable)."""
    import errno
    import socket

    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host {host}: not an address to serve on ({error.strerror})") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(f"port {port} on {host} is in use: choose another with --port") from None
            raise ValueError(f"cannot serve on {host} port {port} ({error.strerror})") from None


@app.command("zoo")
@handles_errors
def zoo_command(as_json: JsonOption = False) -> None:
    """The pretrained models shipped with the package (load one as zoo:NAME): what each is, what it
    was trained on, and its headline numbers with the commands that measured them."""
    from genmodels import zoo

    rows = zoo.entries()
    if as_json:
        return _print_json(rows)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("name", "model", "parameters", "trained on", "headline", "size", title="genmodels zoo")
    for row in rows:
        headline = "; ".join(f"{item['measure']}: {item['value']:g}" for item in row["headline"])
        size = f"{row['bytes'] / 1e6:.1f} MB"
        cells = (f"zoo:{row['name']}", row["model"], f"{row['parameters']:,}", row["data"], headline, size)
        table.add_row(*map(escape, cells))  # data names like mnist[captions] are not markup
    Console().print(table)
    total = sum(row["bytes"] for row in rows) / 1e6  # MB of 10^6 bytes, the unit
    typer.echo(f"{len(rows)} models, {total:.1f} MB in all; details: {zoo.ZOO_ROOT}/NAME/provenance.json")


def main() -> None:
    try:
        app()
    except SystemExit as done:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            _leave_launched_worker(done.code)
        raise


def _leave_launched_worker(code: int | str | None) -> None:
    """A worker of torchrun or accelerate launch leaves without the interpreter's teardown. Its
    work is saved and its process group torn down (the trainer's end), yet on torch 2.13 with gloo
    the C++ teardown at exit sometimes aborts ("terminate called without an active exception",
    SIGABRT: 3 launches of 6 in one series on the 2 busy cores, none of 50 in another), and the
    launcher then reports the whole run as failed."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
