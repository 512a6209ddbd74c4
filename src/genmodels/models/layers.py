"""Building blocks shared by several models.

Masks are applied out of place (`F.linear(x, W * mask)`), never by overwriting weights: the
optimiser then cannot leak gradient into a masked connection, and a saved model holds its true
weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedLinear(nn.Linear):
    """y = x (W ⊙ M)ᵀ + b with a fixed 0/1 mask M [out, in] (a buffer, saved with the model)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask: Tensor) -> None:
        self.mask.copy_(mask.to(self.mask.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def colour_groups(channels: int, colours: int) -> Tensor:
    """The colour (0 = R, 1 = G, 2 = B) each of `channels` feature maps belongs to: contiguous blocks."""
    if channels % colours:
        raise ValueError(f"{channels} feature maps cannot be split evenly over {colours} colour channels")
    return torch.arange(channels) * colours // channels


def causal_conv_mask(
    out_channels: int, in_channels: int, kernel: tuple[int, int], mask_type: str, colours: int = 1
) -> Tensor:
    """The PixelCNN mask [out, in, kh, kw]: every row above the centre, the pixels left of it in the
    centre row, and at the centre itself only earlier colours (mask "A") or earlier and the same
    colour (mask "B"), where R comes before G before B."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, : kh // 2] = 1
    mask[:, :, kh // 2, : kw // 2] = 1
    out_colour = colour_groups(out_channels, colours).view(-1, 1)
    in_colour = colour_groups(in_channels, colours).view(1, -1)
    allowed = in_colour < out_colour if mask_type == "A" else in_colour <= out_colour
    mask[:, :, kh // 2, kw // 2] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the causal past of each pixel (see `causal_conv_mask`).

    'Same' padding, so the output has the input's size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: str,
        colours: int = 1,
        bias: bool = True,
    ) -> None:
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(
            in_channels, out_channels, kernel, padding=(kernel[0] // 2, kernel[1] // 2), bias=bias
        )
        self.register_buffer("mask", causal_conv_mask(out_channels, in_channels, kernel, mask_type, colours))

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class ClassBias(nn.Module):
    """The one conditioning mechanism of the explicit models: a learned bias per class, added to a
    layer's pre-activation (h = W x + b + V[y]), broadcast over space for feature maps.
    With 0 classes it is the identity, so unconditional models pay nothing."""

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes, features) if num_classes > 0 else None
        if self.embedding is not None:
            nn.init.zeros_(self.embedding.weight)  # starts as the unconditional model

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        if self.embedding is None:
            return h
        if y is None:
            raise ValueError("this model is class-conditional: give the labels (condition=y)")
        bias = self.embedding(y)
        return h + bias.view(*bias.shape, *([1] * (h.dim() - 2)))


# -- Progressive GAN (Karras et al. 2018) ------------------------------------------------------------
class EqualizedLinear(nn.Module):
    """A linear layer with the equalised learning rate: weights stored N(0, 1) and scaled at run time
    by the He constant c = gain / sqrt(fan_in), y = x (c W)ᵀ + b. Adam's step is about the same size
    for every weight, so scaling at run time (not at init) gives every layer the same learning speed."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, gain: float = 2**0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / in_features**0.5

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A convolution with the equalised learning rate (see `EqualizedLinear`); fan_in = in · kh · kw.
    'Same' padding for odd kernels, so 3x3 and 1x1 (toRGB / fromRGB) keep the map's size."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, gain: float = 2**0.5
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / (in_channels * kernel_size * kernel_size) ** 0.5
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Pixel-wise feature normalisation: each pixel's feature vector scaled to unit mean square,
    b = a / sqrt(mean_c a² + ε). It keeps G's signal from escalating in the G-D competition."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """One extra feature map: the standard deviation of each feature at each pixel over a group of
    examples, averaged over features and pixels, and shown to D for every member of the group. A
    batch of near-identical fakes has a small value there, so D can see a lack of variety.

    As the reference code, example i belongs to group i mod (B / G), the variance is the population
    variance over the group (divided by G), and σ = sqrt(var + 1e-8). The group size is the largest
    divisor of the batch not above `group_size`, so any batch size works.
    [B, C, H, W] -> [B, C + 1, H, W]."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = next(d for d in range(min(self.group_size, b), 0, -1) if b % d == 0)
        y = x.reshape(g, b // g, c, h, w)
        std = (y.var(dim=0, correction=0) + 1e-8).sqrt()  # [M, C, H, W]
        std = std.mean(dim=(1, 2, 3)).view(1, b // g, 1, 1, 1)  # [1, M, 1, 1, 1]
        return torch.cat([x, std.expand(g, -1, 1, h, w).reshape(b, 1, h, w)], dim=1)


# -- translation networks (CycleGAN, StarGAN) ------------------------------------------------------
class ResidualBlock(nn.Module):
    """x + F(x), F = conv 3x3 -> instance norm -> ReLU -> conv 3x3 -> instance norm (Johnson et al.
    2016, the blocks of CycleGAN's and StarGAN's generators). Reflection padding as in CycleGAN keeps
    the borders free of the zero-padding artefacts a translator would otherwise copy."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)
