"""The encoder and decoder networks the latent-variable models share (VAE, AAE).

The decoder's output is shaped for a pixel likelihood. For binary pixels it emits one logit per
pixel. For 256 levels a 256-way head per pixel would make the MLP's last layer huge, so the
trunk emits a few features per pixel and a shared 1x1 convolution maps them to the levels' logits.
"""

from __future__ import annotations

import itertools

from torch import Tensor, nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "softplus": nn.Softplus}


def mlp(sizes: list[int], activation: type[nn.Module], batch_norm: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last),
    batch-normalised before each activation when `batch_norm`."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(n_in, n_out, bias=not (hidden and batch_norm)))
        if hidden:
            layers += [nn.BatchNorm1d(n_out), activation()] if batch_norm else [activation()]
    return nn.Sequential(*layers)


def pixel_head(colours: int, levels: int, features: int) -> tuple[int, nn.Conv2d | None]:
    """(channels the decoder trunk emits, the 1x1 head to the levels' logits or None for binary)."""
    if levels == 2:
        return colours, None
    return features, nn.Conv2d(features, colours * levels, 1)


def mlp_encoder_decoder(
    image_shape: tuple[int, int, int],
    hidden: tuple[int, ...],
    code_size: int,
    latent_dim: int,
    out_channels: int,
    activation: type[nn.Module],
    batch_norm: bool = False,
) -> tuple[nn.Sequential, nn.Sequential]:
    """An MLP encoder image -> `code_size` numbers, and its mirror latent_dim -> decoder features."""
    c, h, w = image_shape
    encoder = nn.Sequential(nn.Flatten(), mlp([c * h * w, *hidden, code_size], activation, batch_norm))
    decoder = nn.Sequential(
        mlp([latent_dim, *reversed(hidden), out_channels * h * w], activation, batch_norm),
        nn.Unflatten(1, (out_channels, h, w)),
    )
    return encoder, decoder


def decoder_logits(
    decoder: nn.Module, head: nn.Module | None, z: Tensor, image_shape: tuple[int, int, int], levels: int
) -> Tensor:
    """Parameters of p(x | z), shaped for the pixel likelihood."""
    features = decoder(z)
    if head is None:
        return features
    c, h, w = image_shape
    return head(features).view(len(z), levels, c, h, w)
