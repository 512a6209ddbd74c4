"""Every model a few steps on an accelerator, checked against the CPU (issue 16's `make gpu-check`).

    python scripts/gpu_check.py                         # CUDA, bf16 where the model allows
    python scripts/gpu_check.py --device cpu            # the same checks on the CPU (no accelerator)
    python scripts/gpu_check.py --models vae,dcgan --precision fp16
    python scripts/gpu_check.py --throughput            # also images/s of each `paper` preset

For each registered model (the table below must name them all): a tiny network trains 3 steps on
small embedded data on the CPU in full precision and on the device in the mixed precision asked for
(bf16 by default; "no" where a model's own autograd code needs float32); then it samples and, where
it has a density, scores a batch. The check: every logged loss is finite, the samples have the
CPU's shape and lie in the model's range, the scores are finite. One JSON line per model goes to
stdout and to --out; the exit status is 1 if any model failed. Without the device it says so and
exits 0 after the CPU reference, so the script itself stays tested on any machine.

--throughput adds, for each model with a `paper` preset, the images per second of training steps
at the paper's sizes on the device (after 3 warm-up steps), the number BENCHMARKS.md asks beside
each preset.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genmodels
from genmodels.registry import model_classes

# model: (data, tiny config, mixed precision allowed). Data are embedded or derived from it.
TINY: dict[str, tuple[str, dict[str, Any], bool]] = {
    "independent": ("digits", {}, True),
    "markov": ("digits", {}, True),
    "fvsbn": ("digits", {}, True),
    "nade": ("digits", {"hidden": 16}, False),  # the fused log-likelihood's backward is float32
    "made": ("digits", {"hidden": (32,)}, True),
    "pixelcnn": ("digits", {"channels": 8, "layers": 2, "head_channels": 8}, True),
    "pixelrnn": ("digits", {"layers": 1, "hidden_channels": 4}, True),
    "vae": ("digits", {"hidden": (32,), "latent_dim": 4}, True),
    "aae": ("digits", {"hidden": (32,), "discriminator_hidden": (16,)}, True),
    "aae-categorical": (
        "digits[labelled=20]",
        {"hidden": (32,), "discriminator_hidden": (16,), "style_dim": 4},
        True,
    ),
    "gan": ("digits", {"generator_hidden": (16,), "discriminator_hidden": (16,), "latent_dim": 4}, True),
    "dcgan": ("digits", {"latent_dim": 8, "channels": 8}, True),
    "infogan": ("digits", {"channels": 8, "hidden": 32, "q_hidden": 16, "latent_dim": 8}, True),
    "text2image": (
        "digits[captions]",
        {"latent_dim": 4, "channels": 4, "text_dim": 8, "projected_dim": 4},
        True,
    ),
    "puzzlegan": (
        "digits[patches=3, patch_size=4]",
        {"patch_size": 4, "channels": 4, "embed_dim": 8, "latent_dim": 4},
        True,
    ),
    "cyclegan": (
        "digits[domains=thin/thick]",
        {"channels": 4, "residual_blocks": 1, "discriminator_channels": 4, "discriminator_downsamplings": 1},
        True,
    ),
    "stargan": (
        "digits[styles=thick/invert]",
        {"g_channels": 4, "residual_blocks": 1, "d_channels": 4, "d_layers": 2},
        True,
    ),
    "progan": (
        "digits",
        {"latent_dim": 8, "channels": 8, "channel_base": 32, "stabilise_steps": 1, "fade_steps": 1},
        True,
    ),
    "classifier": ("digits", {"channels": (4, 4), "features": 8}, True),
}
STEPS, BATCH = 3, 16


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [v for row in rows for k, v in row.items() if k.endswith("/loss") and isinstance(v, float)]


def _train(name: str, device: str, precision: str, out: Path) -> Any:
    data, config, _ = TINY[name]
    genmodels.train(
        name, data, config=config, steps=STEPS, batch_size=BATCH, out=out, cpu=device == "cpu",
        mixed_precision=precision, progress=False, tensorboard=False, num_samples=0, log_every=1,
        checkpoint_every=STEPS, overwrite=True,
    )  # fmt: skip
    return genmodels.load(out, map_location=device)


@torch.no_grad()
def _outputs(model: Any, data_name: str, device: str) -> dict[str, Any]:
    """Samples (or, for the classifier, predictions) and, for a density, the scores of a batch."""
    from genmodels.data import ordered_batches
    from genmodels.data.batches import rows_batch
    from genmodels.models.base import DensityModel

    model.eval()
    data = genmodels.load_dataset(data_name, "test")
    view = model.default_view()
    outputs: dict[str, Any] = {}
    if "sample" in model.capabilities():
        condition = None
        if hasattr(model, "condition_from_batch"):
            condition = model.condition_from_batch(
                rows_batch(data, torch.arange(8), view, torch.device(device))
            )
        samples = model.sample(8, condition=condition, generator=torch.Generator(device).manual_seed(0))
        outputs.update(shape=list(samples.shape), low=float(samples.min()), high=float(samples.max()))
    if "translate" in model.capabilities():
        outputs["translates"] = True
    if isinstance(model, DensityModel):
        batch = next(iter(ordered_batches(data, view, 16)))
        scores = model.log_prob(batch["x"].to(device))
        outputs["scores_finite"] = bool(torch.isfinite(scores).all())
    if model.family == "classifier":
        batch = next(iter(ordered_batches(data, view, 16)))
        outputs["shape"] = list(model.predict(batch["x"].to(device)).shape)
    return outputs


def _in_range(model: Any, low: float, high: float) -> bool:
    bounds = (-1.0, 1.0) if model.input_range == "symmetric" else (0.0, 1.0)
    return bounds[0] - 1e-3 <= low and high <= bounds[1] + 1e-3


def check(name: str, device: str, precision: str, folder: Path) -> dict[str, Any]:
    _, _, mixed = TINY[name]
    used = precision if mixed else "no"
    row: dict[str, Any] = {"model": name, "device": device, "precision": used}
    started = time.perf_counter()
    try:
        reference = _train(name, "cpu", "no", folder / f"{name}-cpu")
        expected = _outputs(reference, TINY[name][0], "cpu")
        model = _train(name, device, used, folder / f"{name}-{device}")
        got = _outputs(model, TINY[name][0], device)
        losses = _losses(folder / f"{name}-{device}")
        problems = []
        if not losses or not all(math.isfinite(v) for v in losses):
            problems.append(f"losses not finite: {losses}")
        if got.get("shape") != expected.get("shape"):
            problems.append(f"output shape {got.get('shape')} on {device}, {expected.get('shape')} on cpu")
        if "low" in got and not _in_range(model, got["low"], got["high"]):
            problems.append(f"samples in [{got['low']:.3g}, {got['high']:.3g}], outside the model's range")
        if got.get("scores_finite") is False:
            problems.append("log p(x) not finite")
        row.update(ok=not problems, problems=problems, losses=losses[-3:], outputs=got)
    except Exception as error:  # one model's failure is its row; the others still run
        row.update(ok=False, problems=[f"{type(error).__name__}: {error}"])
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def throughput(name: str, device: str, precision: str) -> dict[str, Any] | None:
    """Images per second of training steps at the `paper` sizes (3 warm-up steps, then 10)."""
    cls = model_classes()[name]
    if "paper" not in cls.presets:
        return None
    data, _, mixed = TINY[name]
    recipe = cls.recipes.get("paper", {})
    batch = int(recipe.get("batch_size", 32))
    data = data.replace("digits", "mnist")
    with tempfile.TemporaryDirectory() as folder:
        common = {
            "preset": "paper", "batch_size": batch, "cpu": device == "cpu", "progress": False,
            "tensorboard": False, "num_samples": 0, "sample_every": 0, "checkpoint_every": 0,
            "log_every": 1000, "epochs": None, "mixed_precision": precision if mixed else "no",
        }  # fmt: skip
        genmodels.train(name, data, steps=3, out=Path(folder) / "warm", **common)
        started = time.perf_counter()
        genmodels.train(name, data, steps=13, out=Path(folder) / "timed", **common)
        seconds = time.perf_counter() - started
    return {
        "model": name,
        "preset": "paper",
        "data": data,
        "batch_size": batch,
        "images_per_second": round(13 * batch / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16", choices=["no", "bf16", "fp16"])
    parser.add_argument("--models", default="all", help="Comma-separated names, or all.")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON lines here.")
    args = parser.parse_args()
    missing = sorted(set(model_classes()) - set(TINY))
    if missing:
        sys.exit(f"gpu_check: no tiny configuration for {', '.join(missing)}: add them to TINY")
    names = sorted(TINY) if args.models == "all" else args.models.split(",")
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(
            json.dumps({"device": device, "available": False, "note": "no CUDA device here: nothing checked"})
        )
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            rows.append(check(name, device, args.precision, Path(folder)))
            print(json.dumps(rows[-1]), flush=True)
    if args.throughput:
        for name in names:
            measured = throughput(name, device, args.precision)
            if measured:
                rows.append(measured)
                print(json.dumps(measured), flush=True)
    if args.out:
        with args.out.open("a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    failed = [row["model"] for row in rows if row.get("ok") is False]
    print(json.dumps({"device": device, "checked": len(names), "failed": failed}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
