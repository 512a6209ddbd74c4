"""Deep convolutional GAN (Radford et al. 2016), scaled to 28 and 32 pixel images.

The game and its losses are the GAN's (see `gan.py`); DCGAN fixes the architecture that makes it
train stably:

- G: z is projected to a small feature map by a transposed convolution, then doubled in size by
  stride-2 transposed convolutions, each followed by batch norm and ReLU, halving the channels;
  the last layer has no batch norm and ends in tanh.
- D: the mirror, stride-2 convolutions with LeakyReLU(0.2), batch norm everywhere except at D's
  input, no pooling and no fully connected hidden layers; a last convolution over the whole map
  gives the logit.
- Weights N(0, 0.02); Adam with lr 2e-4 and β1 = 0.5.

The paper's 64-pixel networks start from 4x4 with four doublings; 32 pixels take three (4 -> 32)
and 28 pixels two (7 -> 28).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from genmodels.models.adversarial.base import AdversarialModel, dcgan_init
from genmodels.models.adversarial.losses import GeneratorLoss
from genmodels.models.base import ModelConfig, full_sampler_recipe
from genmodels.registry import register


@dataclass
class DCGANConfig(ModelConfig):
    latent_dim: int = 100
    channels: int = 64  # feature maps of the largest hidden layer; each smaller map has twice as many
    generator_loss: GeneratorLoss = "non_saturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5


def doublings(size: int) -> tuple[int, int]:
    """(start size, number of doublings): the most doublings that leave a start map of at most 7."""
    count = 0
    while size % 2 == 0 and size // 2 >= 4:
        size, count = size // 2, count + 1
    if count == 0 or size > 7:
        raise ValueError(f"DCGAN needs an image side of 4..7 times a power of two (e.g. 28, 32), got {size}")
    return size, count


def upsampling(widths: list[int], colours: int) -> list[nn.Module]:
    """G's doublings: from `widths[0]` feature maps, each stride-2 transposed convolution (batch norm,
    ReLU) goes to the next width, and the last to `colours` with tanh. `widths`: coarsest first."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(widths):
        layers += [nn.ConvTranspose2d(n_in, n_out, 4, 2, 1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU()]
    return [*layers, nn.ConvTranspose2d(widths[-1], colours, 4, 2, 1), nn.Tanh()]


def downsampling(colours: int, widths: list[int], slope: float = 0.2) -> list[nn.Module]:
    """D's halvings: a stride-2 convolution from `colours` to `widths[0]` (no batch norm at D's
    input), then each to the next width with batch norm; leaky ReLU. `widths`: finest first."""
    layers: list[nn.Module] = [nn.Conv2d(colours, widths[0], 4, 2, 1), nn.LeakyReLU(slope)]
    for n_in, n_out in itertools.pairwise(widths):
        layers += [nn.Conv2d(n_in, n_out, 4, 2, 1, bias=False), nn.BatchNorm2d(n_out), nn.LeakyReLU(slope)]
    return layers


@register("dcgan")
class DCGAN(AdversarialModel):
    """DCGAN: all-convolutional G and D with batch norm, the architecture that made GANs train stably."""

    Config = DCGANConfig
    equation: ClassVar[str] = (
        r"\min_G \max_D \ \mathbb{E}[\log D(\mathbf{x})] + \mathbb{E}[\log(1 - D(G(\mathbf{z})))] "
        r"\ \text{with convolutional } G, D"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"latent_dim": 64, "channels": 32},
        "paper": {"latent_dim": 100, "channels": 128},
        "full": {"latent_dim": 64, "channels": 32},  # the cpu network, for the hour on mnist-full
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 3000, "batch_size": 64, "sample_every": 500},
        "paper": {"epochs": 25, "batch_size": 128},
        # mnist-full: 0.1 s a step for the cpu network (3,000 in 300 s): 30,000 steps (38 epochs)
        # or the hour, whichever ends first.
        "full": full_sampler_recipe(30_000),
    }

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        if height != width:
            raise ValueError(f"DCGAN takes square images, got {height}x{width}")
        start, count = doublings(height)
        widths = [config.channels * 2**i for i in reversed(range(count))]  # e.g. [64, 32] for 28 px

        up: list[nn.Module] = [
            nn.Unflatten(1, (config.latent_dim, 1, 1)),
            nn.ConvTranspose2d(config.latent_dim, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        self.generator = nn.Sequential(*up, *upsampling(widths, colours))
        down = downsampling(colours, widths[::-1])
        self.discriminator = nn.Sequential(*down, nn.Conv2d(widths[0], 1, start, 1, 0), nn.Flatten(0))
        self.apply(dcgan_init)
