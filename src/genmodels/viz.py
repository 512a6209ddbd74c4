"""Pictures: image grids (Pillow), and plots (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import Tensor

from genmodels.io import atomic_write


def image_grid(images: Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1) -> Tensor:
    """uint8 [N, C, H, W] -> one uint8 [C, H', W'] grid, row-major, with a grey border between images."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.full(
        (c, rows * (h + padding) + padding, nrow * (w + padding) + padding), 128, dtype=torch.uint8
    )
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    if scale > 1:
        grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return grid


def save_image(image: Tensor, path: str | Path) -> Path:
    """Save a uint8 [C, H, W] image as PNG (atomically)."""
    from PIL import Image

    array = image.permute(1, 2, 0).cpu().numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    atomic_write(path, lambda p: picture.save(p, format="PNG"))
    return Path(path)


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None, scale: int = 2) -> Path:
    return save_image(image_grid(images, nrow=nrow, scale=scale), path)


def interpolation_grid(decode, z_start: Tensor, z_end: Tensor, steps: int = 10) -> Tensor:
    """decode((1 − t) z_start + t z_end) for t in [0, 1]: one row per pair, `steps` columns."""
    t = torch.linspace(0, 1, steps, device=z_start.device).view(1, steps, 1)
    path = (1 - t) * z_start.unsqueeze(1) + t * z_end.unsqueeze(1)  # [pairs, steps, D]
    images = decode(path.reshape(-1, z_start.shape[-1]))
    return images


def latent_scatter(
    codes: Tensor, labels: Tensor | None, path: str | Path, title: str, prior_samples: Tensor | None = None
) -> Path:
    """A 2-D scatter of codes coloured by label; codes of more than 2 dimensions are projected by PCA.
    With 2-D codes, `prior_samples` are drawn behind them in grey: how well q(z) matches p(z)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codes = codes.double()
    if codes.shape[1] > 2:
        centred = codes - codes.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        codes = centred @ v[:2].T
        title += f" (PCA of {v.shape[1]}-d codes)"
    figure, axis = plt.subplots(figsize=(6, 5))
    if prior_samples is not None and codes.shape[1] == 2 and prior_samples.shape[1] == 2:
        axis.scatter(prior_samples[:, 0], prior_samples[:, 1], c="0.8", s=2, label="prior samples")
        axis.legend(loc="upper right", fontsize=7)
    points = axis.scatter(codes[:, 0], codes[:, 1], c=None if labels is None else labels, cmap="tab10", s=4)
    if labels is not None:
        figure.colorbar(points, ax=axis, label="label")
    axis.set_title(title)
    figure.tight_layout()
    atomic_write(path, lambda p: figure.savefig(p, format="png", dpi=120))
    plt.close(figure)
    return Path(path)


def loss_curves(metrics_path: str | Path, path: str | Path) -> Path | None:
    """One panel per logged value of metrics.jsonl against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    skip = ("step", "time", "epoch", "event")
    # The per-class shares of the sample histogram would be ten panels; classes_covered sums them up.
    names = sorted({k for row in rows for k in row if k not in skip and not k.startswith("samples/class_")})
    if not names:
        return None
    figure, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        points = [(row["step"], row[name]) for row in rows if name in row]
        axis.plot(*zip(*points, strict=True))
        axis.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    atomic_write(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)
    return Path(path)


def model_figures(model, data, view, folder: str | Path, *, seed: int = 0, n: int = 64) -> list[Path]:
    """The standard pictures of a model, chosen by its capabilities (never by its name)."""
    from genmodels.data import ordered_batches, to_uint8
    from genmodels.data.batches import rows_batch
    from genmodels.models.base import LatentModel

    folder = Path(folder)
    written = []
    model.eval()
    generator = torch.Generator(model.device).manual_seed(seed)
    capabilities = model.capabilities()
    with torch.no_grad():
        if "sample" in capabilities:
            condition = None
            if hasattr(model, "condition_from_batch"):  # samples from captions, patches: the data's
                n = min(n, len(data))
                condition = model.condition_from_batch(rows_batch(data, torch.arange(n), view, model.device))
            samples = model.sample(n, condition=condition, generator=generator)
            written.append(save_grid(to_uint8(samples.cpu(), view.kind), folder / "samples.png"))
        if "translate" in capabilities and hasattr(model, "translation_grid"):
            batch = rows_batch(data, torch.arange(min(8, len(data))), view, model.device)
            images, columns = model.translation_grid(batch)
            written.append(
                save_grid(to_uint8(images.cpu(), view.kind), folder / "translations.png", nrow=columns)
            )
        # Pictures only some models have (InfoGAN's code traversals, ...): named grids from the model.
        for stem, (images, columns) in getattr(model, "figure_grids", lambda g: {})(generator).items():
            written.append(save_grid(to_uint8(images.cpu(), view.kind), folder / f"{stem}.png", nrow=columns))
        if not isinstance(model, LatentModel):
            return written
        z = model.prior.sample(n, generator=generator, device=model.device)
        written.append(
            save_grid(to_uint8(model.decode(z).cpu(), view.kind), folder / "prior_decoded_means.png")
        )
        x = next(ordered_batches(data, view, 32, seed))["x"].to(model.device)
        reconstruction = model.decode(model.encode(x))
        # Rows alternate: 8 inputs, then their reconstructions.
        pairs = torch.stack([x.view(4, 8, *x.shape[1:]), reconstruction.view(4, 8, *x.shape[1:])], 1)
        written.append(
            save_grid(
                to_uint8(pairs.reshape(-1, *x.shape[1:]).cpu(), view.kind),
                folder / "reconstructions.png",
                nrow=8,
            )
        )
        codes = model.encode(x[:16])
        steps = interpolation_grid(model.decode, codes[:8], codes[8:16], steps=10)
        written.append(save_grid(to_uint8(steps.cpu(), view.kind), folder / "interpolations.png", nrow=10))
        all_codes = torch.cat(
            [model.encode(b["x"].to(model.device)).cpu() for b in ordered_batches(data, view, 500, seed)]
        )
    title = f"{model.name}: codes of {data.name}"
    prior = model.prior.sample(2000, generator=torch.Generator().manual_seed(seed)).cpu()
    written.append(latent_scatter(all_codes, data.labels, folder / "latent_scatter.png", title, prior))
    return written
