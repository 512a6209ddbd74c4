"""The lecture's demonstrations, each computed live by the library's own code from trained models.

One function per idea of the lecture, in its order. Each takes plain values (run names as the app's
`RunCatalog` knows them, numbers, a drawing) and returns a picture and a Markdown text, as the app's
actions do, so the app lays them out and the tests call them directly:

- `chain_rule`: the parameters a binary image of H x W pixels needs as a full table (2^n − 1),
  as independent pixels (n) and as a Markov chain (2n − 1), beside the NLL that trained models of
  each kind give one test digit;
- `generation`: an autoregressive sample as its canvas fills, position by position in the model's
  order (raster; R, G, B within a pixel for colour), and `completion` of a half-drawn digit;
- `elbo`: a digit's ELBO split into its reconstruction term and its KL to the prior, and the
  importance-weighted bound L_k tightening as k grows;
- `discriminator`: D* = p_data / (p_data + p_G) and V(D*, G) = 2·JSD − log 4 on two 1-D densities
  the user sets, beside a discriminator trained on samples of them;
- `codes`: encoded test digits against the prior's samples (a VAE beside an AAE);
- `info_codes`, `text_to_image`, `patches_to_image`, `translations`: InfoGAN's codes as sliders,
  digits drawn for a typed caption (and read back by the digit classifier), Puzzle-GAN's whole digit
  from key patches cut from a test digit, and a test image carried to every domain or attribute of
  a CycleGAN or StarGAN;
- `drawn`: a digit drawn in the browser, brought to MNIST's framing, then its NLL and bits/dim,
  the Bayes-rule class of a class-conditional density model, the anomaly verdict, and completions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

import genmodels
from genmodels.app import Picture, RunCatalog, UserError, answered
from genmodels.data import ImageSet, View, ordered_batches, to_uint8, to_unit
from genmodels.evaluation import theory
from genmodels.models.autoregressive.base import AutoregressiveModel, Completion
from genmodels.models.base import DensityModel, GenerativeModel
from genmodels.viz import image_grid

SCALE = 3  # 28-pixel digits are too small to see at 1:1
IMPORTANCE_SAMPLES = (1, 5, 50, 500, 5000)
SAMPLES_PER_ROW = 5000  # draws of z behind each row of the L_k table
DIGIT_FRACTION = 20 / 28  # MNIST's framing: the digit's box fits 20 x 20, centred by mass in 28 x 28
MAX_LIST = 12


# -- what the demonstrations share ------------------------------------------------------------------------
def _grid(images: Tensor, nrow: int | None = None) -> np.ndarray:
    """uint8 [N, C, H, W] -> the picture Gradio shows (H x W grey or H x W x 3)."""
    array = image_grid(images, nrow=nrow, scale=SCALE).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def _shown(images: Tensor, kind: str) -> Tensor:
    return to_uint8(images.detach().cpu(), kind)


def _test_data(catalog: RunCatalog, name: str) -> ImageSet:
    """The test split of the data the run trained on (its train.json says which)."""
    training = catalog.training(name)
    if training is None:
        raise UserError(f"{name} does not say what it was trained on (no train.json)")
    return genmodels.load_dataset(training["data"]["name"], "test")


def _test_image(catalog: RunCatalog, name: str, index: Any) -> tuple[Tensor, View, str]:
    """Test image `index` of the data the run trained on, in the view its scores are reported on."""
    model = catalog.model(name)
    data = _test_data(catalog, name)
    index = int(index)
    if not 0 <= index < len(data):
        raise UserError(f"choose a test image from 0 to {len(data) - 1}, not {index}")
    view = genmodels.evaluation_view_of(catalog.folder(name), model)
    x = view(data.images[index : index + 1]).to(model.device)
    return x, view, f"test image {index} of {data.name} ({view.describe()})"


def _density(catalog: RunCatalog, name: str) -> DensityModel:
    model = catalog.model(name)
    if not isinstance(model, DensityModel):
        raise UserError(f"{model.name} has no density: choose an explicit or latent-variable model")
    return model


def _figure_picture(figure: Any) -> np.ndarray:
    """A matplotlib figure as an H x W x 3 uint8 picture (then closed)."""
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    picture = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return picture


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- 1. the chain rule and what it costs ----------------------------------------------------------------
@answered
def chain_rule(
    catalog: RunCatalog, names: list[str], height: Any, width: Any, index: Any
) -> tuple[Picture, str]:
    """Parameter counts of the three ways to write p(x) over n binary pixels, and what trained models
    of each kind say of one test digit (the first model's data and view)."""
    height, width = int(height), int(width)
    if not (1 <= height <= 1024 and 1 <= width <= 1024):
        raise UserError("choose an image size from 1 x 1 to 1024 x 1024")
    n = height * width
    lines = [
        f"For a binary image of {height} x {width} = {n:,} pixels, p(x) as:",
        "",
        "| factorisation | parameters |",
        "|---|---|",
        f"| a full table over all 2^n images | 2^{n} − 1 ≈ 10^{n * math.log10(2):,.0f} |",
        f"| the chain rule with every conditional a table | the same 2^{n} − 1 |",
        f"| a first-order Markov chain p(x_i \\| x_(i−1)) | 2n − 1 = {theory.markov_parameters(n):,} |",
        f"| independent pixels p(x_i) | n = {theory.independent_parameters(n):,} |",
    ]
    if not names:
        return None, "\n".join(lines)
    models = {name: _density(catalog, name) for name in names}
    x, _, what = _test_image(catalog, names[0], index)
    for name, model in models.items():
        if tuple(model.config.image_shape) != tuple(x.shape[1:]) or getattr(model.config, "levels", 2) != 2:
            raise UserError(f"{name} does not model binary images of {tuple(x.shape[1:])}")
    compared = theory.chain_rule_comparison(x, models)
    lines += [
        "",
        f"What trained models give {what}, n = {compared['pixels']}:",
        "",
        "| model | parameters | −log p(x), nats | bits/dim |",
        "|---|---|---|---|",
    ]
    for row in sorted(compared["models"], key=lambda row: -row["nll_nats"]):
        bound = "" if row["exact"] else " (bound)"
        lines.append(
            f"| {row['model']} | {row['parameters']:,} | {row['nll_nats']:.1f}{bound} "
            f"| {row['bits_per_dim']:.3f} |"
        )
    lines.append(
        "\nRicher conditionals, fewer nats: each model keeps the chain rule exact and buys its context."
    )
    return _grid(_shown(x, "binary")), "\n".join(lines)


# -- 2. autoregressive generation, position by position ------------------------------------------------
def _autoregressive(catalog: RunCatalog, name: str) -> AutoregressiveModel:
    model = catalog.model(name)
    if not isinstance(model, AutoregressiveModel):
        raise UserError(f"{model.name} is not autoregressive: choose NADE, MADE, PixelCNN, PixelRNN, ...")
    return model


@answered
def generation(catalog: RunCatalog, name: str, seed: Any, frames: Any = 8) -> tuple[Picture, str]:
    """One sample's canvas after 1/F, 2/F, ..., F/F of its positions, in the model's own order.

    A position is drawn once from p(x_i | x_<i) and never changes, so the canvas after t steps is
    the finished sample with only its first t positions in the order shown (the rest grey)."""
    model = _autoregressive(catalog, name)
    frames = int(frames)
    if not 2 <= frames <= 16:
        raise UserError(f"show 2 to 16 frames, not {frames}")
    generator = torch.Generator(model.device).manual_seed(int(seed))
    sample = model.sample(1, generator=generator)
    kind = model.default_view().kind
    shown = _shown(sample, kind)[0]
    order = list(model.generation_order())
    rank = torch.empty(shown.shape, dtype=torch.long)
    for position, (channel, row, column) in enumerate(order):
        rank[channel, row, column] = position
    canvases = []
    for frame in range(1, frames + 1):
        drawn = rank < round(frame * len(order) / frames)
        canvases.append(torch.where(drawn, shown, torch.full_like(shown, 128)))
    first = order[:3]
    colours = model.config.image_shape[0]
    within = ", R then G then B within each pixel" if colours == 3 else ""
    text = (
        f"{model.name}, seed {int(seed)}: the canvas after each {len(order) // frames:,} of its "
        f"{len(order):,} positions (grey: not drawn yet). Order: (channel, row, column) "
        f"{', '.join(map(str, first))}, …{within}. Each position is drawn from p(x_i | x_<i)."
    )
    return _grid(torch.stack(canvases), nrow=frames), text


@answered
def completion(catalog: RunCatalog, name: str, index: Any, n: Any = 8, seed: Any = 0) -> tuple[Picture, str]:
    """The top half of a test digit kept, the bottom half drawn from p(x_bottom | x_top) n times
    (a class-conditional model is given the digit's own class)."""
    model = _autoregressive(catalog, name)
    x, view, what = _test_image(catalog, name, index)
    label = _test_label(catalog, name, index) if model.config.num_classes else None
    return _completions(model, x, int(n), int(seed), view.kind, what, label)


def _test_label(catalog: RunCatalog, name: str, index: Any) -> int:
    data = _test_data(catalog, name)
    if data.labels is None:
        raise UserError(f"{name} is class-conditional and {data.name} has no labels to condition on")
    return int(data.labels[int(index)])


def _completions(
    model: AutoregressiveModel, x: Tensor, n: int, seed: int, kind: str, what: str, label: int | None = None
) -> tuple[Picture, str]:
    if not 1 <= n <= 16:
        raise UserError(f"ask for 1 to 16 completions, not {n}")
    labels = None if label is None else torch.full((n,), label, device=model.device)
    half = Completion.top_half(x.expand(n, *x.shape[1:]).clone(), labels)
    generator = torch.Generator(model.device).manual_seed(seed)
    completed = model.sample(n, condition=half, generator=generator)
    given = torch.where(half.known[:1], x, torch.full_like(x, 0.5 if kind != "symmetric" else 0.0))
    images = torch.cat([x, given, completed])
    condition = "" if label is None else f", y = {label}"
    text = (
        f"{what}: the digit, the half {model.name} is given (grey: hidden), and {n} completions "
        f"drawn from p(x_bottom | x_top{condition}) in the model's order."
    )
    return _grid(_shown(images, kind), nrow=n + 2), text


# -- 3. the ELBO --------------------------------------------------------------------------------
@answered
def elbo(catalog: RunCatalog, name: str, index: Any, seed: Any = 0) -> tuple[Picture, str]:
    """A test digit's ELBO = E_q[log p(x | z)] − KL(q(z | x) || p(z)), and L_k as k grows."""
    model = _density(catalog, name)
    if not hasattr(model, "elbo_terms"):
        raise UserError(f"{model.name} has no ELBO: choose a VAE")
    x, view, what = _test_image(catalog, name, index)
    torch.manual_seed(int(seed))
    with torch.no_grad():
        draws = 200  # the reconstruction term is an expectation over q: its mean over 200 draws
        terms = model.elbo_terms(x.expand(draws, *x.shape[1:]))
        # E[L_k] rises with k; one estimate of L_k is noisy, so each row averages
        # SAMPLES_PER_ROW / k independent ones (every row spends as many draws of z).
        bounds = {
            k: float(model.log_prob(x.expand(SAMPLES_PER_ROW // k, *x.shape[1:]), k=k).mean())
            for k in IMPORTANCE_SAMPLES
        }
        reconstruction = model.decode(model.encode(x))
    recon, kl = float(terms["recon"].mean()), float(terms["kl"].mean())
    lines = [
        f"{what}, {model.name}:",
        "",
        f"- reconstruction E_q[log p(x | z)] = **{recon:.2f}** nats "
        f"(mean over {draws} draws of z ~ q(z | x))",
        f"- KL(q(z | x) ‖ p(z)) = **{kl:.2f}** nats (closed form)",
        f"- ELBO = {recon:.2f} − {kl:.2f} = **{recon - kl:.2f}** nats ≤ log p(x)",
        "",
        "The importance-weighted bound L_k = E[log (1/k) Σ_j p(x, z_j) / q(z_j | x)] rises towards "
        "log p(x) with k:",
        "",
        f"| k | E[L_k], nats (mean of {SAMPLES_PER_ROW:,} / k estimates) |",
        "|---|---|",
        *(f"| {k:,} | {value:.2f} |" for k, value in bounds.items()),
        "",
        f"L_{IMPORTANCE_SAMPLES[-1]:,} − ELBO = {bounds[IMPORTANCE_SAMPLES[-1]] - (recon - kl):.2f} "
        "nats: about "
        "what KL(q(z | x) ‖ p(z | x)) costs the ELBO. Picture: the digit and the decoder's mean at z = μ(x).",
    ]
    return _grid(_shown(torch.cat([x, reconstruction]), view.kind)), "\n".join(lines)


# -- 4. the optimal discriminator ---------------------------------------------------------------------------
@answered
def discriminator(
    data_means: str, data_std: Any, g_mean: Any, g_std: Any, steps: Any = 300, seed: Any = 0
) -> tuple[Picture, str]:
    """D*(x) = p_data / (p_data + p_G) and V(D*, G) = 2·JSD(p_data ‖ p_G) − log 4 for 1-D densities:
    p_data an even mixture of N(m, s²) over the given means, p_G = N(g_mean, g_std²); beside a
    discriminator trained on samples of the two by the binary cross-entropy."""
    try:
        means = [float(part) for part in str(data_means).replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"p_data's means: numbers separated by commas, got {data_means!r}") from None
    data_std, g_mean, g_std, steps = float(data_std), float(g_mean), float(g_std), int(steps)
    if not 1 <= len(means) <= 5 or min(data_std, g_std) <= 0:
        raise UserError("give p_data 1 to 5 means, and both densities a positive standard deviation")
    if not 0 <= steps <= 3000:
        raise UserError(f"train the discriminator 0 to 3,000 steps, not {steps}")
    p_data = theory.GaussianMixture1D([1.0] * len(means), means, [data_std] * len(means))
    p_g = theory.normal(g_mean, g_std)
    optimal = theory.optimal(p_data, p_g)
    trained = theory.train_discriminator(p_data.sample, p_g.sample, steps=steps, seed=int(seed))
    jsd = theory.jensen_shannon(p_data, p_g)
    v_optimal, v_trained = theory.gan_value(optimal, p_data, p_g), theory.gan_value(trained, p_data, p_g)

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.6), dpi=100)
    x = np.linspace(*_plot_range(p_data, p_g), 600)
    axis.plot(x, np.exp(p_data.log_prob(x)), label="p_data", color="tab:blue")
    axis.plot(x, np.exp(p_g.log_prob(x)), label="p_G", color="tab:orange")
    other = axis.twinx()
    other.plot(x, optimal(x), label="D*(x)", color="black")
    other.plot(x, trained(x), label=f"trained D ({steps} steps)", color="tab:green", linestyle="--")
    other.set_ylim(-0.02, 1.02)
    other.set_ylabel("D(x)")
    axis.set_ylabel("density")
    handles = axis.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    axis.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    figure.tight_layout()
    lines = [
        f"p_data = {p_data}, p_G = {p_g}.",
        "",
        f"- JSD(p_data ‖ p_G) = {jsd:.4f} nats (adaptive quadrature)",
        f"- 2·JSD − log 4 = **{2 * jsd - math.log(4):.4f}**",
        f"- V(D*, G) = **{v_optimal:.4f}** (trapezoid rule on D* = p_data / (p_data + p_G))",
        f"- V(trained D, G) = {v_trained:.4f} ≤ V(D*, G): the trained discriminator falls short by "
        f"{v_optimal - v_trained:.4f}",
        "",
        "Move p_G onto p_data: D* flattens to ½ and V(D*, G) falls to its minimum, −log 4 = −1.3863.",
    ]
    return _figure_picture(figure), "\n".join(lines)


def _plot_range(*densities: theory.GaussianMixture1D) -> tuple[float, float]:
    spans = [density.span(4.0) for density in densities]
    return min(lo for lo, _ in spans), max(hi for _, hi in spans)


# -- 5. codes against the prior -----------------------------------------------------------------------------
@answered
def codes(catalog: RunCatalog, names: list[str], n: Any = 2000, seed: Any = 0) -> tuple[Picture, str]:
    """The codes of n test digits beside n draws of each model's prior (the codes' two principal
    axes when they have more than two dimensions): how well q(z) fills p(z)."""
    if not names:
        raise UserError("choose one or more models with an encoder (VAE, AAE)")
    n = int(n)
    if not 100 <= n <= 10_000:
        raise UserError(f"encode 100 to 10,000 test digits, not {n}")
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), dpi=100, squeeze=False)
    lines = []
    for axis, name in zip(axes[0], names, strict=True):
        model = catalog.model(name)
        if not hasattr(model, "encode") or not hasattr(model, "draw_latent"):
            raise UserError(f"{model.name} has no encoder: choose a VAE or an AAE")
        data = _test_data(catalog, name).subset(slice(0, n))
        view = genmodels.evaluation_view_of(catalog.folder(name), model)
        with torch.no_grad():
            z = model.encode(view(data.images).to(model.device)).double().cpu()
            prior = model.draw_latent(len(z), torch.Generator(model.device).manual_seed(int(seed)))
        prior = prior.double().cpu()
        projected, projected_prior, axes_note = _project(z, prior)
        axis.scatter(projected_prior[:, 0], projected_prior[:, 1], s=2, c="0.8", label="p(z) draws")
        axis.scatter(projected[:, 0], projected[:, 1], s=2, c=data.labels, cmap="tab10", label="codes")
        axis.set_title(f"{name}{axes_note}", fontsize=9)
        axis.legend(fontsize=7, loc="upper right", markerscale=4)
        mean_gap = float((z.mean(0) - prior.mean(0)).norm())
        std_ratio = (z.std(0) / prior.std(0)).tolist()
        # only a KL term switches units off; an AAE's discriminator sees the whole code
        switched_off = " (near 0: a unit the KL switched off)" if hasattr(model, "elbo_terms") else ""
        lines.append(
            f"- {name} ({model.name}, {z.shape[1]}-d codes): ‖mean(codes) − mean(prior)‖ = {mean_gap:.2f}; "
            f"std(codes) / std(prior) per dimension{switched_off} "
            + ", ".join(f"{r:.2f}" for r in std_ratio[:8])
            + ("…" if len(std_ratio) > 8 else "")
        )
    figure.tight_layout()
    text = (
        f"The codes of the first {len(z):,} test digits (coloured by digit) over as many draws of each prior "
        "(grey). A VAE pulls q(z | x) towards p(z) through the KL term; an AAE matches the aggregate "
        "q(z) to p(z) through its discriminator, so any prior it can sample works.\n\n" + "\n".join(lines)
    )
    return _figure_picture(figure), text


def _project(z: Tensor, prior: Tensor) -> tuple[Tensor, Tensor, str]:
    """2-D views of the codes and prior draws: as they are, or both on the codes' two principal axes."""
    if z.shape[1] <= 2:
        pad = lambda t: torch.cat([t, torch.zeros(len(t), 2 - t.shape[1], dtype=t.dtype)], 1)  # noqa: E731
        return pad(z), pad(prior), ""
    mean = z.mean(0)
    _, _, v = torch.linalg.svd(z - mean, full_matrices=False)
    return (z - mean) @ v[:2].T, (prior - mean) @ v[:2].T, f" (the codes' 2 principal axes of {z.shape[1]})"


# -- 6. conditions and translations -------------------------------------------------------------------------
@answered
def info_codes(
    catalog: RunCatalog, name: str, category: Any, first: Any, second: Any, seed: Any = 0, n: Any = 8
) -> tuple[Picture, str]:
    """InfoGAN's codes set by hand: n noise draws at the chosen category and continuous codes
    (row 1), then the first continuous code swept from −2 to 2 for the first draw (row 2), then the
    second (row 3)."""
    model = catalog.model(name)
    if getattr(model, "condition_kind", None) != "codes":
        raise UserError(f"{model.name} has no codes to set: choose an InfoGAN")
    categories, continuous = model.config.categories, model.config.continuous_codes
    category, n = int(category), int(n)
    if not 0 <= category < categories:
        raise UserError(f"{model.name} has categories 0 to {categories - 1}, not {category}")
    if not 2 <= n <= 16:
        raise UserError(f"show 2 to 16 draws, not {n}")
    values = [float(first), float(second)][:continuous] + [0.0] * max(0, continuous - 2)
    rows = []
    generator = torch.Generator(model.device).manual_seed(int(seed))
    with torch.no_grad():
        z, _, _ = model.draw(n, None, generator)
        chosen = torch.full((n,), category, device=model.device)
        rows.append(model.generate(z, chosen, torch.tensor([values] * n, device=model.device)))
        sweep = torch.linspace(-2, 2, n)
        for code in range(min(continuous, 2)):
            settings = torch.tensor([values] * n)
            settings[:, code] = sweep
            rows.append(model.generate(z[:1].expand(n, -1), chosen, settings.to(model.device)))
    text = (
        f"{model.name}: category {category}, continuous codes {', '.join(f'{v:g}' for v in values)}. Row 1: "
        f"{n} noise draws; rows 2–{1 + min(continuous, 2)}: one draw with each continuous code swept "
        "from −2 to 2. "
        "InfoGAN maximises a lower bound on I(c; G(z, c)), so the codes steer what the noise does not."
    )
    return _grid(_shown(torch.cat(rows), model.default_view().kind), nrow=n), text


@answered
def text_to_image(
    catalog: RunCatalog, name: str, caption: Any, n: Any = 8, seed: Any = 0
) -> tuple[Picture, str]:
    """n samples for a caption the user types, each read back by the shipped digit classifier: does
    the picture show the digit the sentence names?"""
    from genmodels.evaluation.features import load_feature_network

    model = catalog.model(name)
    if getattr(model, "condition_kind", None) != "text":
        raise UserError(f"{model.name} does not draw from text: choose a text-to-image GAN")
    caption, n = str(caption or "").strip(), int(n)
    if not caption:
        raise UserError("type a caption, e.g. 'a thick seven'")
    if not 1 <= n <= 16:
        raise UserError(f"ask for 1 to 16 images, not {n}")
    generator = torch.Generator(model.device).manual_seed(int(seed))
    with torch.no_grad():
        images = model.sample(n, condition=caption, generator=generator)
    kind = model.default_view().kind
    text = f"{model.name}: {n} samples for “{caption}” (one noise draw each)."
    colours, height, width = model.config.image_shape
    if colours == 1 and min(height, width) >= 28:  # the digit classifier reads 28-px grey digits
        read = load_feature_network(None).classify(to_unit(images, kind).cpu()).tolist()
        text += f" The shipped digit classifier reads them as {', '.join(map(str, read))}."
    return _grid(_shown(images, kind), nrow=n), text


@answered
def patches_to_image(
    catalog: RunCatalog, name: str, index: Any, n: Any = 6, seed: Any = 0
) -> tuple[Picture, str]:
    """Key patches cut from a test digit (the boxes of the run's data), and n whole digits built from them."""
    model = catalog.model(name)
    if getattr(model, "condition_kind", None) != "patches":
        raise UserError(f"{model.name} does not build images from patches: choose a Puzzle-GAN")
    data = _test_data(catalog, name)
    index, n = int(index), int(n)
    if not 0 <= index < len(data):
        raise UserError(f"choose a test image from 0 to {len(data) - 1}, not {index}")
    if not 1 <= n <= 12:
        raise UserError(f"ask for 1 to 12 images, not {n}")
    view = genmodels.evaluation_view_of(catalog.folder(name), model)
    batch = next(iter(ordered_batches(data.subset(slice(index, index + 1)), view, 1)))
    patches = model.condition_from_batch({key: value.to(model.device) for key, value in batch.items()})
    generator = torch.Generator(model.device).manual_seed(int(seed))
    with torch.no_grad():
        images, _ = model.complete(patches.expand(n, *patches.shape[1:]), generator)
    size = model.config.image_shape[-1]
    padded = torch.nn.functional.pad(
        patches[0], [0, size - patches.shape[-1], 0, size - patches.shape[-2]], value=-1.0
    )
    row = torch.cat([batch["x"].to(model.device), padded, images])
    text = (
        f"Test digit {index} of {data.name}, its {patches.shape[1]} key patches, and {n} whole digits "
        f"{model.name} builds around them (one noise draw each)."
    )
    return _grid(_shown(row, view.kind), nrow=len(row)), text


@answered
def translations(catalog: RunCatalog, name: str, index: Any) -> tuple[Picture, str]:
    """A test image carried to every domain (CycleGAN) or with each attribute switched on (StarGAN)."""
    model = catalog.model(name)
    kind = getattr(model, "condition_kind", None)
    if kind not in ("domain", "attributes"):
        raise UserError(f"{model.name} does not translate: choose a CycleGAN or a StarGAN")
    x, view, what = _test_image(catalog, name, index)
    targets = list(getattr(model.config, "domains", ()) or getattr(model.config, "attributes", ()))
    images = [x]
    with torch.no_grad():
        for target in targets:
            images.append(model.translate(x, None, target if kind == "domain" else {target: 1.0}))
    shown = ", ".join(targets if kind == "domain" else (f"{t}=1" for t in targets))
    return _grid(_shown(torch.cat(images), view.kind), nrow=len(images)), f"{what}, then to {shown}."


# -- 7. the drawing pad ----------------------------------------------------------------------
def digit_from_drawing(drawing: Any, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """A drawing (an array, or Gradio's sketchpad value with its `composite`) as an MNIST-like uint8
    digit: ink 255 on 0, the ink's box scaled to fit 20 x 20 and its centre of mass put in the middle
    of 28 x 28 (how MNIST's digits were framed; other sizes in proportion). The ink is what differs
    from the background colour (read from the border), so dark-on-light and light-on-dark drawings
    both work."""
    from PIL import Image

    if isinstance(drawing, dict):
        drawing = drawing.get("composite")
    if drawing is None:
        raise UserError("draw a digit first")
    array = np.asarray(drawing, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] == 4:  # over white where transparent
        alpha = array[..., 3:] / 255.0
        array = array[..., :3] * alpha + 255.0 * (1.0 - alpha)
    grey = array.mean(-1) if array.ndim == 3 else array
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = np.abs(grey - np.median(border))
    if ink.max() < 32:
        raise UserError("the pad is empty: draw a digit first")
    ink = ink / ink.max()
    rows, columns = np.nonzero(ink > 0.1)
    box = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    fit = [max(1, round(side * DIGIT_FRACTION)) for side in shape]
    factor = min(fit[0] / box.shape[0], fit[1] / box.shape[1])
    size = (max(1, round(box.shape[1] * factor)), max(1, round(box.shape[0] * factor)))
    small = np.asarray(Image.fromarray((box * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float64)
    canvas = np.zeros(shape)
    weights = small.sum()
    centre_row = (np.arange(small.shape[0]) @ small.sum(1)) / weights
    centre_column = (np.arange(small.shape[1]) @ small.sum(0)) / weights
    top = round(shape[0] / 2 - centre_row)
    left = round(shape[1] / 2 - centre_column)
    top = min(max(top, 0), shape[0] - small.shape[0])
    left = min(max(left, 0), shape[1] - small.shape[1])
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas.clip(0, 255).round().astype(np.uint8)


@answered
def drawn(
    catalog: RunCatalog, drawing: Any, name: str, classifier: str | None = None, seed: Any = 0
) -> tuple[Picture, str]:
    """A drawn digit scored by a density model (NLL, bits/dim, anomaly verdict), classified by Bayes'
    rule with a class-conditional one, and completed from its top half by an autoregressive one."""
    from genmodels.evaluation.anomaly import anomaly_scores

    model = _density(catalog, name)
    colours, height, width = model.config.image_shape
    if colours != 1:
        raise UserError(f"{model.name} models colour images: choose a model of grey digits")
    view = genmodels.evaluation_view_of(catalog.folder(name), model)
    raw = torch.from_numpy(digit_from_drawing(drawing, (height - 2 * view.pad, width - 2 * view.pad)))[
        None, None
    ]
    x = view(raw).to(model.device)
    scores = anomaly_scores(model, ImageSet(raw, name="your drawing"), view)
    nll = float(scores["nll"][0])
    bits = nll / (math.prod(model.config.image_shape) * math.log(2))
    bound = "exact" if model.log_prob_is_exact else "an upper bound"
    lines = [f"**{model.name}: −log p(x) = {nll:.2f} nats**, {bits:.4f} bits/dim ({bound})."]
    measured = catalog.thresholds(name)
    if measured is not None:
        limit = measured["thresholds"]["nll"]
        verdict = "**anomalous**" if nll > limit else "**normal**"
        lines.append(
            f"- anomaly: {nll:.2f} vs threshold {limit:.2f} "
            f"(the 99th percentile on {measured['note']}) → {verdict}"
        )
    if classifier:
        lines.append(_bayes_class(catalog, classifier, raw))
    if not isinstance(model, AutoregressiveModel):
        lines.append(f"- completion: {model.name} is not autoregressive; choose one to complete the drawing")
        return _grid(_shown(x, view.kind)), "\n".join(lines)
    label = None
    if model.config.num_classes:  # complete as the class the model itself reads the drawing as
        label = int(_class_log_likelihoods(model, raw, view).argmax())
    try:
        picture, completed = _completions(model, x, 6, int(seed), view.kind, "your drawing", label)
    except ValueError as error:  # e.g. a MADE whose order does not put the top half first
        lines.append(f"- completion: {error}")
        return _grid(_shown(x, view.kind)), "\n".join(lines)
    lines.append(f"- completion: {completed}")
    return picture, "\n".join(lines)


def _bayes_class(catalog: RunCatalog, name: str, raw: Tensor) -> str:
    """ŷ = argmax_y log p(x | y) + log p(y) with a uniform p(y), and the posterior p(y | x)."""
    model = _density(catalog, name)
    classes = getattr(model.config, "num_classes", 0)
    if not classes:
        raise UserError(f"{model.name} is not class-conditional: it cannot classify by Bayes' rule")
    view = genmodels.evaluation_view_of(catalog.folder(name), model)
    log_likelihoods = _class_log_likelihoods(model, raw, view)
    posterior = torch.softmax(log_likelihoods, 0)  # the uniform prior cancels
    best = int(posterior.argmax())
    top = posterior.topk(min(3, classes))
    others = ", ".join(
        f"p({int(k)} | x) = {float(p):.3f}" for p, k in zip(top.values, top.indices, strict=True)
    )
    return f"- Bayes' rule with {model.name}'s p(x | y) and a uniform p(y): **{best}** ({others})"


def _class_log_likelihoods(model: Any, raw: Tensor, view: View) -> Tensor:
    """log p(x | y) of one uint8 image [1, C, H, W] for every class y: [K]."""
    from genmodels.evaluation.classify import class_log_likelihoods

    return class_log_likelihoods(model, ImageSet(raw, name="your drawing"), view)[0]


def runs_of(catalog: RunCatalog, test: Callable[[type[GenerativeModel], dict[str, Any]], bool]) -> list[str]:
    """The catalog's runs whose model class and config pass `test`, read from their config.json (no
    weights are loaded: the choosers are filled when the page is built)."""
    from genmodels.io import CONFIG_FILE
    from genmodels.registry import get_model_class

    chosen = []
    for name in catalog.names():
        if catalog.failed(name):  # listed on the Models page, with its reason
            continue
        try:
            described = json.loads((catalog.folder(name) / CONFIG_FILE).read_text())
            model_class = get_model_class(described["model"])
        except (OSError, ValueError, KeyError, TypeError):  # a damaged folder: the run list says why
            continue
        if test(model_class, described.get("config", {})):
            chosen.append(name)
    return chosen


# -- the pages ---------------------------------------------------------------------------------------------
def _binary_density(cls: type, config: dict[str, Any]) -> bool:
    return hasattr(cls, "log_prob") and config.get("levels", 2) == 2 and not config.get("num_classes")


CHOOSERS: dict[str, Callable[[type, dict[str, Any]], bool]] = {
    "binary": _binary_density,
    "autoregressive": lambda cls, config: issubclass(cls, AutoregressiveModel),
    "elbo": lambda cls, config: hasattr(cls, "elbo_terms"),
    "encoder": lambda cls, config: hasattr(cls, "encode") and hasattr(cls, "decode"),
    # an encoder whose codes' prior is matched by a discriminator, not a KL term: no density to score
    "adversarial encoder": lambda cls, config: (
        hasattr(cls, "encode") and hasattr(cls, "decode") and not hasattr(cls, "log_prob")
    ),
    "codes": lambda cls, config: getattr(cls, "condition_kind", None) == "codes",
    "patches": lambda cls, config: getattr(cls, "condition_kind", None) == "patches",
    "text": lambda cls, config: getattr(cls, "condition_kind", None) == "text",
    "translator": lambda cls, config: getattr(cls, "condition_kind", None) in ("domain", "attributes"),
    "grey density": lambda cls, config: (
        hasattr(cls, "log_prob") and tuple(config.get("image_shape", (1,)))[:1] == (1,)
    ),
    "class-conditional": lambda cls, config: hasattr(cls, "log_prob") and bool(config.get("num_classes")),
}


def vae_beside_aae(choices: dict[str, list[str]]) -> list[str]:
    """The codes tab's first choice, the lecture's comparison: a VAE (a KL term fits its codes to the
    prior) beside an AAE (a discriminator does); else the first two models with an encoder."""
    vaes = [name for name in choices["encoder"] if name in choices["elbo"]]
    aaes = [name for name in choices["encoder"] if name in choices["adversarial encoder"]]
    pair = vaes[:1] + aaes[:1]
    return pair if len(pair) == 2 else choices["encoder"][:2]


def lecture_page(gr: Any, catalog: RunCatalog) -> None:
    """The demonstrations as tabs, laid out inside the caller's Blocks (element ids `<key>-...`).
    Each tab's choosers list the catalog's runs that can show it, the zoo's first."""
    choices = {key: runs_of(catalog, test) for key, test in CHOOSERS.items()}

    def chooser(
        key: str, elem_id: str, label: str, multiselect: bool = False, first: int = 1, value: Any = None
    ):
        names = choices[key]
        if value is None:
            value = names[:first] if multiselect else (names[0] if names else None)
        return gr.Dropdown(names, value=value, multiselect=multiselect, label=label, elem_id=elem_id)

    def action(
        key: str, button: str, function: Callable, inputs: list[Any], catalogued: bool = True
    ) -> Callable:
        """The button, its answer's text and picture; returns the bound handler for other triggers."""
        run = gr.Button(button, variant="primary", elem_id=f"{key}-button")
        message = gr.Markdown(elem_id=f"{key}-message")
        image = gr.Image(label=button, elem_id=f"{key}-image", interactive=False, format="png")
        handler = partial(function, catalog) if catalogued else function
        run.click(handler, inputs, [image, message])
        return lambda trigger: trigger(handler, inputs, [image, message])

    def number(key: str, label: str, value: int = 0):
        return gr.Number(value, precision=0, label=label, elem_id=f"{key}-{label.split()[-1].lower()}")

    with gr.Tabs(elem_id="lecture-tabs"):
        with gr.Tab("Chain rule", elem_id="chain-tab"):
            gr.Markdown(
                "p(x) = Π_i p(x_i | x_<i) holds for every joint: "
                "a model is what it pays for its conditionals."
            )
            models = chooser("binary", "chain-models", "Models", multiselect=True, first=MAX_LIST)
            with gr.Row():
                height, width = number("chain", "Height", 28), number("chain", "Width", 28)
                index = number("chain", "Test image")
            action("chain", "Compare", chain_rule, [models, height, width, index])
        with gr.Tab("Generation", elem_id="generation-tab"):
            model = chooser("autoregressive", "generation-model", "Autoregressive model")
            with gr.Row():
                seed = number("generation", "Seed")
                frames = gr.Slider(2, 16, value=8, step=1, label="Frames", elem_id="generation-frames")
            action("generation", "Generate", generation, [model, seed, frames])
            with gr.Row():
                index = number("completion", "Test image")
                count = gr.Slider(1, 16, value=8, step=1, label="Completions", elem_id="completion-n")
                seed = number("completion", "Seed")
            action("completion", "Complete the bottom half", completion, [model, index, count, seed])
        with gr.Tab("ELBO", elem_id="elbo-tab"):
            model = chooser("elbo", "elbo-model", "VAE")
            with gr.Row():
                index, seed = number("elbo", "Test image"), number("elbo", "Seed")
            action("elbo", "Split the ELBO", elbo, [model, index, seed])
        with gr.Tab("Optimal discriminator", elem_id="discriminator-tab"):
            with gr.Row():
                means = gr.Textbox(
                    "-2, 2", label="p_data: means of an even mixture", elem_id="discriminator-means"
                )
                data_std = gr.Slider(
                    0.1, 3, value=0.5, step=0.05, label="p_data: std", elem_id="discriminator-sd"
                )
            with gr.Row():
                g_mean = gr.Slider(
                    -6, 6, value=0, step=0.1, label="p_G: mean", elem_id="discriminator-g-mean"
                )
                g_std = gr.Slider(0.1, 3, value=1, step=0.05, label="p_G: std", elem_id="discriminator-g-sd")
                steps = gr.Slider(
                    0, 3000, value=300, step=50, label="D's training steps", elem_id="discriminator-steps"
                )
            inputs = [means, data_std, g_mean, g_std, steps]
            also_on = action("discriminator", "Compute D*", discriminator, inputs, catalogued=False)
            for slider in (data_std, g_mean, g_std):  # D* follows the densities as the user moves them
                also_on(slider.release)
        with gr.Tab("Codes and prior", elem_id="codes-tab"):
            pair = vae_beside_aae(choices)
            models = chooser("encoder", "codes-models", "Models with encoders", multiselect=True, value=pair)
            count = gr.Slider(100, 10_000, value=2000, step=100, label="Test digits", elem_id="codes-n")
            action("codes", "Encode", codes, [models, count])
        with gr.Tab("InfoGAN codes", elem_id="info-tab"):
            model = chooser("codes", "info-model", "InfoGAN")
            with gr.Row():
                category = number("info", "Category")
                first = gr.Slider(-2, 2, value=0, step=0.1, label="Continuous code 1", elem_id="info-first")
                second = gr.Slider(-2, 2, value=0, step=0.1, label="Continuous code 2", elem_id="info-second")
                seed = number("info", "Seed")
            action("info", "Generate", info_codes, [model, category, first, second, seed])
        with gr.Tab("Text to image", elem_id="text-tab"):
            model = chooser("text", "text-model", "Text-to-image GAN")
            with gr.Row():
                caption = gr.Textbox("a thick seven", label="Caption", elem_id="text-caption")
                count = gr.Slider(1, 16, value=8, step=1, label="Images", elem_id="text-n")
                seed = number("text", "Seed")
            action("text", "Draw", text_to_image, [model, caption, count, seed])
        with gr.Tab("Patches to image", elem_id="patches-tab"):
            model = chooser("patches", "patches-model", "Puzzle-GAN")
            with gr.Row():
                index, seed = number("patches", "Test image"), number("patches", "Seed")
                count = gr.Slider(1, 12, value=6, step=1, label="Images", elem_id="patches-n")
            action("patches", "Build", patches_to_image, [model, index, count, seed])
        with gr.Tab("Translation", elem_id="translation-tab"):
            model = chooser("translator", "translation-model", "CycleGAN or StarGAN")
            index = number("translation", "Test image")
            action("translation", "Translate", translations, [model, index])


def _recorded_nll(name: str) -> float:
    """A zoo entry's recorded test NLL (the pad offers the best density model first); inf for runs."""
    from genmodels import zoo

    if not zoo.is_zoo(name):
        return math.inf
    headline = zoo.provenance(name.removeprefix(zoo.PREFIX))["headline"]
    return next((item["value"] for item in headline if item["measure"] == "test NLL"), math.inf)


def drawing_page(gr: Any, catalog: RunCatalog) -> None:
    """The drawing pad: draw a digit, then score, classify and complete it (element ids draw-...)."""
    densities = sorted(runs_of(catalog, CHOOSERS["grey density"]), key=_recorded_nll)
    classifiers = runs_of(catalog, CHOOSERS["class-conditional"])
    gr.Markdown(
        "Draw a digit. It is framed as MNIST's digits were (its box scaled to fit 20 x 20, its centre "
        "of mass in the middle of 28 x 28), then scored, classified by Bayes' rule and completed."
    )
    with gr.Row():
        pad = gr.Sketchpad(
            type="numpy",
            image_mode="RGBA",
            canvas_size=(280, 280),
            brush=gr.Brush(colors=["#000000"], default_size=18, color_mode="fixed"),
            label="Your digit",
            elem_id="draw-pad",
        )
        with gr.Column():
            model = gr.Dropdown(
                densities,
                value=densities[0] if densities else None,
                label="Density model",
                elem_id="draw-model",
            )
            classifier = gr.Dropdown(
                classifiers,
                value=classifiers[0] if classifiers else None,
                label="Class-conditional model, for Bayes' rule",
                elem_id="draw-classifier",
            )
            button = gr.Button("Score my digit", variant="primary", elem_id="draw-button")
    message = gr.Markdown(elem_id="draw-message")
    image = gr.Image(
        label="As the model sees it; completions", elem_id="draw-image", interactive=False, format="png"
    )
    button.click(partial(drawn, catalog), [pad, model, classifier], [image, message])
