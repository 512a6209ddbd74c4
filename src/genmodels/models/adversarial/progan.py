"""Progressive GAN (Karras et al. 2018): G and D grow together from 4x4 to the image size.

Training starts with both networks at 4x4 and doubles the resolution stage by stage (4 -> 8 -> 16
-> 32 for MNIST padded from 28 to 32). Each new block is faded in smoothly, then trained alone:

- fade (`fade_steps`): α rises linearly from 0 to 1 and G's output is
      G_α(z) = (1 − α) · upsample(toRGB_old(h)) + α · toRGB_new(block(h)),
  where h is the last feature map of the previous resolution; D mirrors it,
      D_α(x) = D_rest((1 − α) · fromRGB_old(avgpool(x)) + α · block(fromRGB_new(x))).
  The real images are blended the same way, x_α = (1 − α) · upsample(avgpool(x)) + α · x, so that
  real and fake images show D the same mixture of resolutions;
- stabilise (`stabilise_steps`): α = 1, the new resolution alone.

The 4x4 stage has only a stabilise phase. Resolution and α are model state computed from the
trainer's step counter alone (`on_step`), so a resumed run is exactly where it was. Every block
exists from the start; inactive ones get no gradient (and, with Adam, no update).

The paper's stabilising tricks, all here:
- equalised learning rate: weights N(0, 1), scaled at run time by c = gain / sqrt(fan_in) with
  gain sqrt(2) (1 for toRGB and D's last layer, sqrt(2)/4 for G's first dense layer, as in the
  reference code), so Adam's scale-invariant steps move every layer at the same speed;
- pixel-wise feature normalisation in G after each convolution (and on z):
      b_{x,y} = a_{x,y} / sqrt(1/N Σ_j (a^j_{x,y})² + 1e-8);
- a minibatch standard-deviation feature map at the start of D's last (4x4) block, group size 4;
- leaky ReLU (0.2) everywhere except G's toRGB output (linear) and D's score; nearest upsampling in
  G, 2x2 average pooling in D; 1x1 toRGB / fromRGB convolutions.

Loss: WGAN-GP with the drift term (section A.1),
      L_D = E_z[D(G(z))] − E_x[D(x)] + λ E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²] + ε E_x[D(x)²],  λ = 10, ε = 0.001,
      L_G = −E_z[D(G(z))],
one critic step then one generator step per batch, Adam with lr 1e-3, β = (0, 0.99). The paper
keeps an exponential moving average of G's weights (decay 0.999) for its images: the recipes ask the
trainer for one (`ema_decay`: 0.999 in the paper recipe, 0.99 for the cpu recipe's short phases;
`genmodels.load(run, use_ema=True)` loads it).

Networks (Table 2): G: z (pixel-normed) -> dense to 4x4 -> conv 3x3, then per doubling: upsample,
conv 3x3, conv 3x3. D: per halving: conv 3x3, conv 3x3 (to the lower resolution's width), avgpool;
then minibatch stddev, conv 3x3, dense, dense to one score. Feature maps per resolution r:
min(`channels`, `channel_base` / r) (paper: 512 up to 32x32, halving above; cpu preset: 64 capped).

Departures: the paper counts phases in images (800k each) and lowers the batch size at high
resolution; here phases are counted in trainer steps at a fixed batch size. The reference code
resets Adam's state at each new resolution; here the optimisers persist (new blocks start with
fresh state anyway: Adam keeps per-parameter step counts, and a parameter without gradient is
skipped). G's output is linear as in the paper; `sample` clips it to [-1, 1].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.models.adversarial.base import AdversarialModel
from genmodels.models.adversarial.losses import (
    drift_penalty,
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genmodels.models.base import Logs, ModelConfig, Objective, OptimizerSpec, full_sampler_recipe
from genmodels.models.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from genmodels.registry import register

SLOPE = 0.2  # leaky ReLU


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclass
class ProGANConfig(ModelConfig):
    image_shape: tuple[int, int, int] = (1, 32, 32)  # square, side a power of two >= 4
    latent_dim: int = 512
    channels: int = 512  # feature maps at the low resolutions (the cap)
    channel_base: int = 16384  # feature maps at resolution r: min(channels, channel_base // r)
    stabilise_steps: int = 1000  # steps at each resolution with α = 1 (the only phase at 4x4)
    fade_steps: int = 1000  # steps over which a new resolution's α rises from 0 to 1
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.99)
    gp_weight: float = 10.0  # λ
    drift: float = 0.001  # ε
    group_size: int = 4  # minibatch stddev group

    def __post_init__(self) -> None:
        _, height, width = self.image_shape
        if height != width or not is_power_of_two(height) or height < 4:
            raise ConfigError(
                f"Progressive GAN needs square images whose side is a power of two >= 4 "
                f"(4, 8, 16, 32, ...), got {height}x{width}; pad or resize the data (--pad)"
            )
        if self.stabilise_steps < 1 or self.fade_steps < 0:
            raise ConfigError("Progressive GAN needs stabilise_steps >= 1 and fade_steps >= 0")
        if min(self.latent_dim, self.channels, self.group_size) < 1:
            raise ConfigError("latent_dim, channels and group_size must be positive")

    @property
    def doublings(self) -> int:
        """Doublings from 4x4 to the image size (3 for 32x32)."""
        return int(math.log2(self.image_shape[1])) - 2

    def width(self, level: int) -> int:
        """Feature maps at resolution 4 · 2^level."""
        return max(1, min(self.channels, self.channel_base // (4 * 2**level)))


def schedule(step: int, doublings: int, stabilise: int, fade: int) -> tuple[int, float]:
    """(level, α) at 0-based `step`: resolution 4 · 2^level; α < 1 only while that level fades in.

    Stage 0 (4x4) stabilises for `stabilise` steps; each later stage fades for `fade` steps
    (α = t / fade at its t-th step) and then stabilises. After the last stage: full size, α = 1."""
    if step < stabilise:
        return 0, 1.0
    stage, within = divmod(step - stabilise, fade + stabilise)
    if stage >= doublings:
        return doublings, 1.0
    return stage + 1, within / fade if within < fade else 1.0


# -- the networks ------------------------------------------------------------------------------------
class GeneratorBlock(nn.Module):
    """Upsample (nearest), then two 3x3 convolutions, each followed by leaky ReLU and pixel norm."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(n_in, n_out, 3)
        self.conv2 = EqualizedConv2d(n_out, n_out, 3)
        self.norm = PixelNorm()

    def forward(self, h: Tensor) -> Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.norm(F.leaky_relu(self.conv1(h), SLOPE))
        return self.norm(F.leaky_relu(self.conv2(h), SLOPE))


class Generator(nn.Module):
    def __init__(self, latent_dim: int, widths: list[int], colours: int) -> None:
        super().__init__()
        self.norm = PixelNorm()
        # The 4x4 "conv" of Table 2 on a 1x1 input is a dense layer; its bias is per feature map.
        self.dense = EqualizedLinear(latent_dim, widths[0] * 16, bias=False, gain=math.sqrt(2) / 4)
        self.dense_bias = nn.Parameter(torch.zeros(widths[0], 1, 1))
        self.conv = EqualizedConv2d(widths[0], widths[0], 3)
        self.blocks = nn.ModuleList(GeneratorBlock(a, b) for a, b in itertools.pairwise(widths))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, colours, 1, gain=1.0) for w in widths)

    def forward(self, z: Tensor, level: int, alpha: float) -> Tensor:
        """Images at resolution 4 · 2^level (linear output, about [-1, 1])."""
        h = self.dense(self.norm(z)).view(len(z), -1, 4, 4) + self.dense_bias
        h = self.norm(F.leaky_relu(h, SLOPE))
        h = self.norm(F.leaky_relu(self.conv(h), SLOPE))
        for block in self.blocks[: max(level - 1, 0)]:
            h = block(h)  # the stages already grown
        if level == 0:
            return self.to_rgb[0](h)
        new = self.to_rgb[level](self.blocks[level - 1](h))
        if alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[level - 1](h), scale_factor=2, mode="nearest")
        return torch.lerp(old, new, alpha)


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convolutions (the second to the lower resolution's width) with leaky ReLU, then
    2x2 average pooling."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(n_in, n_in, 3)
        self.conv2 = EqualizedConv2d(n_in, n_out, 3)

    def forward(self, h: Tensor) -> Tensor:
        h = F.leaky_relu(self.conv1(h), SLOPE)
        return F.avg_pool2d(F.leaky_relu(self.conv2(h), SLOPE), 2)


class Discriminator(nn.Module):
    def __init__(self, widths: list[int], colours: int, group_size: int) -> None:
        super().__init__()
        self.from_rgb = nn.ModuleList(EqualizedConv2d(colours, w, 1) for w in widths)
        # blocks[i] takes resolution 4 · 2^(i+1) down to 4 · 2^i.
        self.blocks = nn.ModuleList(DiscriminatorBlock(b, a) for a, b in itertools.pairwise(widths))
        self.stddev = MinibatchStdDev(group_size)
        self.conv = EqualizedConv2d(widths[0] + 1, widths[0], 3)
        self.dense = EqualizedLinear(widths[0] * 16, widths[0])
        self.score = EqualizedLinear(widths[0], 1, gain=1.0)

    def forward(self, x: Tensor, level: int, alpha: float) -> Tensor:
        """Scores [B] of images at resolution 4 · 2^level."""
        h = F.leaky_relu(self.from_rgb[level](x), SLOPE)
        if level > 0:
            h = self.blocks[level - 1](h)
            if alpha < 1.0:
                old = F.leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), SLOPE)
                h = torch.lerp(old, h, alpha)
            for block in reversed(self.blocks[: level - 1]):
                h = block(h)
        h = F.leaky_relu(self.conv(self.stddev(h)), SLOPE)
        h = F.leaky_relu(self.dense(h.flatten(1)), SLOPE)
        return self.score(h).flatten()


# -- the model -----------------------------------------------------------------------------------------
@register("progan")
class ProGAN(AdversarialModel):
    """Progressive GAN: G and D grow from 4x4 to the image size, new blocks faded in (WGAN-GP)."""

    Config = ProGANConfig
    equation: ClassVar[str] = (
        r"G_\alpha(\mathbf{z}) = (1 - \alpha)\, \mathrm{up}(\mathrm{toRGB}_{old}(\mathbf{h})) + "
        r"\alpha\, \mathrm{toRGB}_{new}(\mathrm{block}(\mathbf{h})), \ \text{WGAN-GP: } "
        r"\mathbb{E}[D(\tilde{\mathbf{x}})] - \mathbb{E}[D(\mathbf{x})] + \lambda\, "
        r"\mathbb{E}[(\|\nabla D(\hat{\mathbf{x}})\|_2 - 1)^2]"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {
            "latent_dim": 64,
            "channels": 64,
            "channel_base": 512,  # 64 maps at 4x4 and 8x8, 32 at 16x16, 16 at 32x32
            "stabilise_steps": 400,
            "fade_steps": 400,
        },
        # The cpu network with phases twice as long, for the hour on mnist-full (issue 15).
        "full": {
            "latent_dim": 64,
            "channels": 64,
            "channel_base": 512,
            "stabilise_steps": 800,
            "fade_steps": 800,
        },
        # Table 2 and section A.1: 512 maps up to 32x32; 800k images per phase at batch 16.
        "paper": {
            "latent_dim": 512,
            "channels": 512,
            "channel_base": 16384,
            "stabilise_steps": 50_000,
            "fade_steps": 50_000,
        },
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # 400 + 3 × (400 + 400) = 2,800 steps: the whole cpu schedule for 32x32 images (MNIST padded);
        # about 0.04, 0.17, 0.41 and 0.76 s a step at 4, 8, 16 and 32 px on one core: ~18 minutes.
        # The EMA's time constant (1 / (1 − decay) steps) must be short against a phase: the paper's
        # 0.999 is 1,000 steps, 2% of its 50k-step phases but longer than these 400-step ones (the
        # averaged new blocks were then still mostly their random initialisation); 0.99 is 100 steps.
        "cpu": {"steps": 2800, "batch_size": 64, "ema_decay": 0.99, "sample_every": 400},
        # 800 + 3 × (800 + 800) = 5,600 steps, about 36 minutes on one quiet core by the step times
        # above (more beside another run), within the hour of the other `full` recipes.
        "full": full_sampler_recipe(5600, ema_decay=0.99, sample_every=800),
        # 32x32: 50k + 3 × 100k steps at batch 16 (other sizes: pass --steps for their schedule).
        "paper": {"steps": 350_000, "batch_size": 16, "ema_decay": 0.999, "sample_every": 10_000},
    }

    def __init__(self, config: ProGANConfig) -> None:
        super().__init__(config)
        colours = config.image_shape[0]
        widths = [config.width(level) for level in range(config.doublings + 1)]
        self.generator = Generator(config.latent_dim, widths, colours)
        self.discriminator = Discriminator(widths, colours, config.group_size)
        # The schedule's step is saved with the weights, so a loaded model samples at its stage.
        self.register_buffer("schedule_step", torch.zeros((), dtype=torch.long))
        self.level, self.alpha = 0, 1.0
        self.register_load_state_dict_post_hook(lambda module, _keys: module._follow_schedule())

    # -- the growing schedule ------------------------------------------------------------------------
    def on_step(self, step: int) -> None:
        self.schedule_step.fill_(step)
        self._follow_schedule()

    def _follow_schedule(self) -> None:
        config = self.config
        step = int(self.schedule_step)
        self.level, self.alpha = schedule(step, config.doublings, config.stabilise_steps, config.fade_steps)

    @property
    def resolution(self) -> int:
        return 4 * 2**self.level

    def stage_ends(self) -> list[int]:
        """Steps done at the end of each stage (4x4, 8x8, ...)."""
        config = self.config
        length = config.fade_steps + config.stabilise_steps
        return [config.stabilise_steps + k * length for k in range(config.doublings + 1)]

    def milestones(self) -> dict[int, str]:
        return {end: f"stage_{4 * 2**k}x{4 * 2**k}" for k, end in enumerate(self.stage_ends())}

    def default_pad(self, raw_shape: tuple[int, int, int]) -> int:
        """The pad (per side) up to the next power of two >= 4: 28 -> 2 (32x32)."""
        side = max(raw_shape[1:])
        target = max(4, 1 << (side - 1).bit_length())
        if raw_shape[1] != raw_shape[2] or (target - side) % 2:
            raise ConfigError(
                f"Progressive GAN needs square images whose side is a power of two; "
                f"{raw_shape[1]}x{raw_shape[2]} cannot be padded evenly to {target}x{target}: resize them"
            )
        return (target - side) // 2

    def reals(self, x: Tensor) -> Tensor:
        """Real images as D sees them now: average-pooled to the current resolution and, during a
        fade, blended with their lower-resolution version like G's output."""
        x = F.avg_pool2d(x, x.shape[-1] // self.resolution) if x.shape[-1] > self.resolution else x
        if self.level > 0 and self.alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, self.alpha)
        return x

    # -- the two objectives --------------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        optimizer = OptimizerSpec(lr=self.config.lr, betas=tuple(self.config.betas))
        return [
            Objective("critic", self.discriminator.parameters, self.critic_step, optimizer=optimizer),
            Objective("generator", self.generator.parameters, self.generator_step, optimizer=optimizer),
        ]

    def fake(self, n: int) -> Tensor:
        return self.generator(self.prior.sample(n, device=self.device), self.level, self.alpha)

    def critic(self, x: Tensor) -> Tensor:
        return self.discriminator(x, self.level, self.alpha)

    def critic_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        config = self.config
        real = self.reals(batch["x"])
        with torch.no_grad():
            fake = self.fake(len(real))
        real_scores, fake_scores = self.critic(real), self.critic(fake)
        penalty = gradient_penalty(self.critic, real, fake)
        drift = drift_penalty(real_scores)
        loss = (
            wasserstein_critic_loss(real_scores, fake_scores)
            + config.gp_weight * penalty
            + config.drift * drift
        )
        return loss, {
            "w_distance": (real_scores.mean() - fake_scores.mean()).detach(),  # E D(x) − E D(G(z))
            "gp": penalty.detach(),
            "drift": drift.detach(),
            "resolution": float(self.resolution),
            "alpha": self.alpha,
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        fake_scores = self.critic(self.fake(len(batch["x"])))
        return wasserstein_generator_loss(fake_scores), {}

    # -- sampling ------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """G(z) at the current stage, upsampled (nearest) to the full image size, in [-1, 1]."""
        images = self.generator(z, self.level, self.alpha)
        factor = self.config.image_shape[1] // images.shape[-1]
        if factor > 1:
            images = F.interpolate(images, scale_factor=factor, mode="nearest")
        return images.clamp(-1.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(self.prior.sample(n, generator=generator, device=self.device))
