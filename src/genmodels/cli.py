"""The `genmodels` command. Heavy modules are imported inside the commands, so `--help` is fast."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="genmodels",
    help="Train, sample and evaluate the classic deep generative models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def handles_errors(command):
    """Known failures (bad data, bad config, bad model folder, diverged training) end with one clear line."""

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
        except (FileNotFoundError, ValueError, TypeError) as error:
            raise _fail(str(error)) from None

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
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Train MODEL; the run folder holds the model, checkpoints, metrics, samples and TensorBoard logs."""
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
    if resume:
        if out is None:
            raise typer.BadParameter("--resume needs --out RUN_DIR")
        budget = {"steps": steps} if steps is not None else {"epochs": epochs} if epochs is not None else {}
        if max_minutes is not None:  # a longer (or shorter) time budget for the rest of the run
            budget["max_minutes"] = max_minutes
        result = api.resume(out, **budget, progress=options["progress"])
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
            **options,
        )
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


@app.command()
@handles_errors
def sample(
    run: Annotated[Path, typer.Argument(help="A run or model folder.")],
    patch_files: Annotated[
        list[Path] | None, typer.Argument(help="With --patches: the key patches (PNG), one file each.")
    ] = None,
    n: Annotated[int, typer.Option("-n", help="Number of samples.")] = 64,
    out: Annotated[Path, typer.Option(help="PNG grid to write.")] = Path("samples.png"),
    seed: Annotated[int, typer.Option()] = 0,
    ema: Annotated[bool, typer.Option(help="Use the EMA weights (if the run kept them).")] = False,
    nrow: Annotated[int | None, typer.Option(help="Images per row.")] = None,
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
    data: Annotated[str, typer.Option(help="Data set to evaluate on.")] = "mnist",
    split: Annotated[str, typer.Option()] = "test",
    view: Annotated[
        str | None,
        typer.Option(
            help="Data view; default: the one the run trained on. 'stochastic' (test digits binarised "
            "once, seed 0) is the literature's protocol; 'static' (thresholded) is easier."
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option(help="Importance samples for models whose density is a bound.")
    ] = None,
    samples: Annotated[
        int, typer.Option(help="Samples drawn for the sample-quality metrics; 0 skips them.")
    ] = 1000,
    features: Annotated[
        str | None,
        typer.Option(
            help="Feature network: the shipped digit classifier (default), a classifier run, "
            "or inception:FILE."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option()] = 100,
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
    translates and the two classifiers are given."""
    import genmodels
    from genmodels.evaluation import evaluate_likelihood, sample_quality
    from genmodels.models.base import DensityModel

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model, view)
    dataset = genmodels.load_dataset(data, split)
    report: dict[str, Any] = {"model": model.name, "data": dataset.name, "view": chosen.describe()}
    if isinstance(model, DensityModel):
        report.update(evaluate_likelihood(model, dataset, chosen, k=k, batch_size=batch_size, seed=seed))
    if samples > 0 and "sample" in model.capabilities():
        from genmodels.evaluation.features import load_feature_network

        network = load_feature_network(features)
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
                domain_network=genmodels.load(domain_classifier),
                content_network=genmodels.load(content_classifier),
                batch_size=batch_size,
            )
            report["translation"] = {k: v for k, v in scores.items() if not isinstance(v, dict)}
    if (run / "train.json").is_file():  # how the model was trained belongs beside the number
        from genmodels.data import View

        trained = json.loads((run / "train.json").read_text())["data"]
        report["trained_on"] = (
            f"{trained['name']}/{trained.get('split', '?')}, {View(**trained['view']).describe()}"
        )
    if as_json:
        return _print_json(report)
    from rich.console import Console
    from rich.markup import escape  # data names like mnist[invert] are not markup
    from rich.table import Table

    table = Table("measure", "value", title=escape(f"{model.name} on {dataset.name} ({report['view']})"))
    quality = report.pop("sample_quality", {})
    translation = report.pop("translation", {})
    rows = list(report.items()) + [(f"samples: {key}", value) for key, value in quality.items()]
    rows += [(f"translation: {key}", value) for key, value in translation.items()]
    for key, value in rows:
        if key == "samples: fd" and "score_name" in quality:
            key = f"samples: {quality['score_name']}"
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        if isinstance(value, list) and value and isinstance(value[0], float):
            shown = " ".join(f"{v:.2f}" for v in value)
        table.add_row(key, escape(shown))
    Console().print(table)
    for warning in quality.get("warnings", []):
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(warning)}")


@app.command()
@handles_errors
def figures(
    run: Annotated[Path, typer.Argument(help="A run or model folder.")],
    data: Annotated[str, typer.Option(help="Images to reconstruct and encode.")] = "mnist",
    split: Annotated[str, typer.Option()] = "test",
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for the PNGs (default RUN/figures).")] = None,
) -> None:
    """Pictures of a trained model: samples, and where it has a latent space, reconstructions,
    interpolations and a 2-D latent scatter coloured by label; loss curves from its metrics."""
    import genmodels
    from genmodels.viz import model_figures

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model)
    written = model_figures(
        model, genmodels.load_dataset(data, split), chosen, out or run / "figures", seed=seed
    )
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        from genmodels.viz import loss_curves

        curve = loss_curves(metrics, (out or run / "figures") / "loss_curves.png")
        written += [curve] if curve else []
    for path in written:
        typer.echo(str(path))


@app.command()
@handles_errors
def score(
    run: Annotated[Path, typer.Argument(help="A run or model folder with a density.")],
    data: Annotated[str, typer.Option(help="Images to score.")] = "mnist",
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
    dataset = genmodels.load_dataset(data, split)
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
    in_data: Annotated[str, typer.Option(help="In-distribution images.")] = "mnist",
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
    outs = [
        genmodels.load_dataset(name, split) for name in (out_data or ["mnist[invert]", "noise", "photos"])
    ]
    bg = genmodels.load(background) if background is not None else None
    report = detection_report(model, genmodels.load_dataset(in_data, split), outs, chosen, bg)
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
    data: Annotated[str, typer.Option()] = "mnist",
    split: Annotated[str, typer.Option()] = "test",
    as_json: JsonOption = False,
) -> None:
    """Bayes classifier: argmax_y log p(x | y) + log p(y), with p(y) from the training labels."""
    import torch

    import genmodels
    from genmodels.evaluation.classify import bayes_classify

    model = genmodels.load(run)
    chosen = genmodels.evaluation_view_of(run, model)
    prior = None
    described = run / "train.json"
    if described.is_file():
        spec = json.loads(described.read_text())["data"]
        labels = genmodels.load_dataset(spec["name"], spec["split"]).labels
        if labels is not None:
            prior = torch.bincount(labels, minlength=model.config.num_classes).float()
            prior = prior / prior.sum()
    report = bayes_classify(model, genmodels.load_dataset(data, split), chosen, prior)
    if as_json:
        return _print_json(report)
    typer.echo(
        f"Bayes classifier accuracy on {report['data']}: {report['accuracy']:.4f} ({report['n']} images)"
    )


@app.command()
@handles_errors
def serve(
    runs_dir: Annotated[Path, typer.Argument(help="The folder of runs to serve.")] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="Address to bind; the default lets only this machine connect.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 7860,
    max_upload_mb: Annotated[float, typer.Option(help="Uploads larger than this are refused.")] = 20.0,
) -> None:
    """The web app: pick a trained run, sample with a seed (and its class, caption, codes or
    patches), interpolate, translate or score an uploaded image (needs the `app` extra: gradio)."""
    from genmodels.app import LOCALHOST, serve

    if host not in (LOCALHOST, "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: other machines can reach the app", err=True)
    serve(runs_dir, host=host, port=port, max_upload_bytes=int(max_upload_mb * 2**20))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
