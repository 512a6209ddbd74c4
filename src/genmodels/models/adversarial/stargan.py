"""StarGAN (Choi et al. 2018, "StarGAN: Unified generative adversarial networks for multi-domain
image-to-image translation"; reference code yunjey/stargan): one generator translates an image to
any target domain, given as a vector of attribute labels.

Generator. G(x, c) → y: the target label vector c is tiled over space (`tile_labels`) and
concatenated with the image channels; then a 7x7 convolution, two stride-2 down-samplings, residual
blocks (6 in the paper), two stride-2 up-samplings (transposed convolutions), a 7x7 convolution to
the image channels and tanh. Instance norm and ReLU after every convolution but the last.

Discriminator. A PatchGAN-like trunk of 4x4 stride-2 convolutions with leaky ReLU (0.01) and no
normalisation (a gradient penalty and a per-example norm do not mix), and two heads on its last map:
D_src, a 3x3 convolution to one real/fake score per patch, and D_cls, a convolution whose kernel
covers the whole remaining map, to one logit per attribute.

Losses (section 3.1). With c the target labels and c′ the input's own labels:

    L_adv   = E_x[D_src(x)] − E_{x,c}[D_src(G(x, c))] − λ_gp E_x̂[(‖∇_x̂ D_src(x̂)‖₂ − 1)²]
              (the Wasserstein form with a gradient penalty, section 4.1; the GP at x̂ between x
              and G(x, c) uses the gradient of the sum of D_src's patch scores),
    L_cls^r = E_{x,c′}[−log D_cls(c′ | x)]     (D learns to classify real images),
    L_cls^f = E_{x,c}[−log D_cls(c | G(x, c))]  (G makes fakes that D classifies as the target),
    L_rec   = E_{x,c,c′}[‖x − G(G(x, c), c′)‖₁]  (cycle back to the input: keep what is not c),

    L_D = −L_adv + λ_cls L_cls^r,
    L_G =  L_adv + λ_cls L_cls^f + λ_rec L_rec,     λ_cls = 1, λ_rec = 10, λ_gp = 10.

−log D_cls(c | x) is the binary cross-entropy summed over the attributes (the paper's CelebA
setting; the reference code sums over attributes and averages over the batch). Attributes whose
label is unknown (NaN in the data) and, with several label sets, the attributes of the sets other
than the row's add nothing to it.

Target labels are the paper's: the real labels of the same batch, shuffled.

Mask vector (section 3.2). To train on several label sets at once (the paper: CelebA's attributes and
RaFD's expressions), G's condition is c̃ = [c_1, ..., c_n, m]: the label vectors of every set, those
of the sets other than the row's zeroed, and m, the one-hot vector of the row's set (`condition`).
D_cls predicts every set's labels; only the row's set is trained. A target is drawn within the
row's set (the real labels of a shuffled row of that set), so the cycle back uses the same mask.

Training: 5 D steps per G step (n_critic: the generator objective's `every`), Adam lr 1e-4,
β = (0.5, 0.999), the learning rate constant for the first half and linearly down to 0 over the
second (the paper: 200k iterations, decay from 100k), batch 16.

Conventions and departures:

- L1: the library sums over pixels and averages over the batch; the paper (and its code,
  `torch.mean(torch.abs(x − x_rec))`) averages over pixels too. So the summed L1 is weighted by
  λ_rec / D, D = C·H·W, which is exactly the paper's λ_rec · mean L1 and keeps its balance with the
  adversarial and classification terms (both per-image scalars). `rec_weight` is the paper's λ_rec;
  the log shows the per-pixel mean L1 (`rec_l1`), comparable with the paper's numbers.
- One-of-k label groups (e.g. the colours of `mnist[styles=thick/red/green/blue]`) train with BCE
  per attribute, as the paper trains CelebA's hair colours; the paper uses a softmax cross-entropy
  only for RaFD's expressions. The groups (`one_of`, found in the data: adjacent columns of a set
  of which no row has two on) matter for translation: setting one on switches the others off.
- An option the paper does not have, measured and left off: `label_norm`, the labels after the
  norms. In the paper's G the labels enter once, as constant input channels; a convolution turns a
  constant channel into a constant shift of each feature map (plus a rim where the zero padding
  cuts the kernel), which the instance norm right after subtracts. With `label_norm` every instance
  norm outside the residual blocks takes its scale and shift from c̃ (conditional instance norm,
  Dumoulin et al. 2017). It was the suspect for StarGAN's lost inversions (the digit kept in 21% of
  the inverted translations of mnist[styles=thick/invert/red]), but on mnist-full's styles, cpu
  preset, 16,000 steps each, it kept 26.1% against the paper's G's 24.9% (thick 92.4 / 91.6%, red
  90.7 / 89.5%): the labels do reach the paper's G (it inverts every background). The inverted
  images are codes, shapes unlike the digit that G decodes back on the way home (BENCHMARKS.md);
  with λ_rec = 2.5 the inversions keep the digit (87.8%) and the thickened and reddened images
  become the codes (17.9%, 21.4%), while λ_rec = 3, 4, 5 and 7.5 give the paper's picture again
  (inversions 23.1-24.9%): λ_rec moves the codes between attributes, and only the lowest value tried
  moved them away from the inversions.
- A second option, measured and left off: `input_skip`, G's last convolution also reading x (a
  U-Net's finest skip), so that a per-pixel change needs no code through the bottleneck. With the
  paper's λ_rec it kept the digit in 41.2% of the inversions (the paper's G: 24.9%), but fewer
  translations reached their target (inverted 87.2%, thickened 86.1%) and the reddened ones kept
  the digit less often (83.3%).
- Two more options, measured and left off (mnist-full's styles, cpu preset, 16,000 steps):
  `identity_weight` (λ_id), CycleGAN's identity term λ_id · mean |x − G(x, c′)|: with λ_id = 5 the
  inversions kept the digit in 30.0% (thick 92.8%, red 90.6%); it asks G to leave an image alone
  when nothing is to change, which says nothing about an inversion. `warmup_rec_weight` for the
  first `warmup_steps` (2.5 for 4,000 steps, then 10): 29.3% (thick 93.6%, red 91.4%); no attribute
  was drawn faithfully by step 4,000, and under λ_rec = 10 the inversions then became codes.
  Neither does the paper's G run longer (40,000 steps: 18.0%, the codes now other, well-drawn
  digits), nor the input skip with λ_rec = 2.5 (26.1%).
- The residual blocks pad by reflection (the library's `ResidualBlock`, shared with CycleGAN); the
  paper's pad with zeros. At 28 px G down-samples 28 → 14 → 7 and D has 3 layers (28 → 14 → 7 → 3)
  instead of 6 (128 → 2).
- Targets are shuffled rows of each label set within a mixed batch; the paper alternates batches
  of the two data sets.
- The trainer runs an objective with `every` = 5 on steps 0, 5, 10, ...: G's first step follows
  the first D step rather than the fifth (the reference code: after D steps 5, 10, ...).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.data import ImageSet
from genmodels.models.adversarial.losses import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genmodels.models.base import GenerativeModel, Logs, ModelConfig, Objective, OptimizerSpec, linear_decay
from genmodels.models.layers import ResidualBlock
from genmodels.registry import register

SLOPE = 0.01  # D's leaky ReLU (the paper's)
NEEDS_ATTRIBUTES = (
    "stargan translates between attribute labels: use data with an 'attributes' field, "
    "e.g. 'mnist[styles=thick/invert]' or 'celeba:DIR[attributes=Black_Hair/Blond_Hair/Male]'"
)
# The five CelebA attributes of the paper's experiments.
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")


@dataclass
class StarGANConfig(ModelConfig):
    # The attribute columns, and how many of them each label set has, in column order (one set: all
    # of them). Filled from the data (`settings_from_data`).
    attributes: tuple[str, ...] = ()
    label_sets: tuple[int, ...] = ()
    # Groups of attributes of which at most one is on (colours, thin/thick): switching one on
    # switches the others off. Found in the data unless given.
    one_of: tuple[tuple[str, ...], ...] = ()
    g_channels: int = 64  # G's first feature maps; x2 at each down-sampling
    residual_blocks: int = 6
    d_channels: int = 64  # D's first feature maps; x2 at each layer
    d_layers: int = 6  # 4x4 stride-2 convolutions in D's trunk
    cls_weight: float = 1.0  # λ_cls
    rec_weight: float = 10.0  # λ_rec, on the per-pixel mean L1 as in the paper (see the docstring)
    gp_weight: float = 10.0  # λ_gp
    n_critic: int = 5  # D steps per G step
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start: float = 0.5  # the fraction of training after which the learning rates fall to 0
    # G's instance norms outside the residual blocks take their scale and shift from the labels
    # (`ConditionalInstanceNorm`); False is the paper's G, where the labels enter only as input
    # channels. Measured not to keep the inverted digits (see the docstring); off in every preset.
    label_norm: bool = False
    # G's last convolution also reads the input image x (a skip from input to output, as a U-Net's
    # finest skip), so a per-pixel change such as an inversion needs no code through the bottleneck.
    # Not in the paper's G; see the docstring for what it was measured to do.
    input_skip: bool = False
    # λ_id of an identity term λ_id · mean |x − G(x, c′)| (c′ the input's own labels): asked for no
    # change, G returns its input (CycleGAN's identity loss, Zhu et al. 2017, section 5.2). Not in
    # the StarGAN paper; 0 (off) is the paper's G objective. See the docstring.
    identity_weight: float = 0.0
    # A warm-up of the cycle term: λ_rec = warmup_rec_weight for the first `warmup_steps` steps, then
    # rec_weight. Not in the paper (0 steps: off). See the docstring.
    warmup_rec_weight: float = 0.0
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if not self.attributes:
            raise ConfigError(f"no attribute names; {NEEDS_ATTRIBUTES} (or pass attributes=...)")
        if len(set(self.attributes)) != len(self.attributes):
            raise ConfigError(f"attribute names repeat: {self.attributes}")
        if not self.label_sets:
            self.label_sets = (len(self.attributes),)
        if min(self.label_sets) < 1 or sum(self.label_sets) != len(self.attributes):
            raise ConfigError(
                f"label_sets {self.label_sets} must be positive sizes that add up to the "
                f"{len(self.attributes)} attributes {self.attributes}"
            )
        for group in self.one_of:
            unknown = [name for name in group if name not in self.attributes]
            if unknown or len(group) < 2:
                raise ConfigError(
                    f"one_of group {group}: needs 2 or more of the attributes {self.attributes}"
                )
        _, height, width = self.image_shape
        if height % 4 or width % 4:
            raise ConfigError(
                f"StarGAN's G halves the image twice: height and width must be multiples of 4, "
                f"got {height}x{width}"
            )
        if self.identity_weight < 0:
            raise ConfigError(f"identity_weight (λ_id) must be >= 0, got {self.identity_weight}")
        if self.warmup_steps < 0 or (self.warmup_steps and self.warmup_rec_weight < 0):
            raise ConfigError(
                f"warmup_steps must be >= 0 and warmup_rec_weight >= 0, got {self.warmup_steps} "
                f"and {self.warmup_rec_weight}"
            )
        if (
            min(self.g_channels, self.d_channels, self.d_layers, self.n_critic) < 1
            or self.residual_blocks < 0
        ):
            raise ConfigError("channels, d_layers and n_critic must be positive, residual_blocks >= 0")
        if trunk_size(height, self.d_layers) < 1 or trunk_size(width, self.d_layers) < 1:
            raise ConfigError(
                f"{self.d_layers} stride-2 layers leave nothing of {height}x{width} images: "
                "use fewer d_layers"
            )

    @property
    def condition_dim(self) -> int:
        """The length of G's condition: the labels, plus the mask vector with several label sets."""
        sets = len(self.label_sets)
        return len(self.attributes) + (sets if sets > 1 else 0)


def trunk_size(side: int, layers: int) -> int:
    """The side left after `layers` 4x4 convolutions of stride 2, padding 1 (28 -> 14 -> 7 -> 3)."""
    for _ in range(layers):
        side = (side - 2) // 2 + 1
    return side


# -- the pieces, each testable on its own -----------------------------------------------------------
def tile_labels(c: Tensor, height: int, width: int) -> Tensor:
    """[B, K] -> [B, K, height, width]: channel k holds c[:, k] at every position."""
    return c[:, :, None, None].expand(-1, -1, height, width)


def set_of_columns(label_sets: Sequence[int], device: torch.device | None = None) -> Tensor:
    """The label set of each attribute column: sizes (2, 3) -> [0, 0, 1, 1, 1]."""
    sizes = torch.tensor(label_sets, device=device)
    return torch.repeat_interleave(torch.arange(len(label_sets), device=device), sizes)


def condition(labels: Tensor, label_set: Tensor, label_sets: Sequence[int]) -> Tensor:
    """G's condition c̃ [B, K (+ n)]: the labels with unknown entries (NaN) and the entries of the
    sets other than the row's zeroed, then the one-hot mask vector m of the row's set (only when
    there are several sets; with one set c̃ = c)."""
    own = set_of_columns(label_sets, labels.device)[None, :] == label_set[:, None]
    c = torch.where(own & torch.isfinite(labels), labels, torch.zeros_like(labels))
    if len(label_sets) == 1:
        return c
    return torch.cat([c, F.one_hot(label_set, len(label_sets)).to(c.dtype)], dim=1)


def known_labels(labels: Tensor, label_set: Tensor, label_sets: Sequence[int]) -> Tensor:
    """[B, K] bool: the entries the classification loss uses (the row's set, and not NaN)."""
    own = set_of_columns(label_sets, labels.device)[None, :] == label_set[:, None]
    return own & torch.isfinite(labels)


def classification_loss(logits: Tensor, labels: Tensor, known: Tensor) -> Tensor:
    """−log D_cls(c | x): binary cross-entropy summed over the known attributes, averaged over rows.

    Unknown entries are dropped before the loss (not multiplied by 0 after it: a NaN label times 0
    is still NaN), so they add nothing to it nor to its gradient."""
    safe = torch.where(known, labels, torch.zeros_like(labels))
    per_entry = F.binary_cross_entropy_with_logits(logits, safe, reduction="none")
    return torch.where(known, per_entry, torch.zeros_like(per_entry)).sum(1).mean()


def reconstruction_loss(x: Tensor, reconstruction: Tensor) -> Tensor:
    """‖x − G(G(x, c), c′)‖₁ summed over pixels, averaged over the batch (the library's convention;
    the paper's mean over pixels is this divided by C·H·W)."""
    return (x - reconstruction).abs().flatten(1).sum(1).mean()


def shuffled_targets(labels: Tensor, label_set: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The paper's target labels: each row gets the real labels of a random row of the batch, drawn
    from the rows of its own label set (a permutation within each set)."""
    index = torch.arange(len(labels), device=labels.device)
    for s in torch.unique(label_set):
        rows = index[label_set == s]
        order = torch.randperm(len(rows), generator=generator, device=generator.device if generator else None)
        index[rows] = rows[order.to(rows.device)]
    return labels[index]


# -- the networks -----------------------------------------------------------------------------------
class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are functions of the condition (Dumoulin et al. 2017):
    γ(c̃)·(h − μ)/σ + β(c̃), one linear map from c̃ to (γ, β). It starts as the plain affine instance
    norm (γ = 1, β = 0, the map's weights 0) and learns how the labels move each channel."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale_shift = nn.Linear(condition_dim, 2 * channels)
        nn.init.zeros_(self.scale_shift.weight)
        with torch.no_grad():
            self.scale_shift.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.scale_shift(c).chunk(2, dim=1)
        return self.norm(h) * scale[:, :, None, None] + shift[:, :, None, None]


class InstanceNorm(nn.InstanceNorm2d):
    """The paper's affine instance norm, taking (and ignoring) the condition like the one above."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__(channels, affine=True)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(h)


class Generator(nn.Module):
    """G(x, c̃): [x, tiled c̃] -> conv 7x7 -> 2 down-samplings -> residual blocks -> 2 up-samplings
    -> conv 7x7 -> tanh; instance norm and ReLU in between. With `label_norm` the instance norms
    outside the residual blocks take their scale and shift from c̃ (`ConditionalInstanceNorm`); with
    `input_skip` the last convolution reads [features, x]."""

    def __init__(
        self,
        colours: int,
        condition_dim: int,
        channels: int,
        blocks: int,
        label_norm: bool,
        input_skip: bool = False,
    ) -> None:
        super().__init__()
        self.input_skip = input_skip
        norm = ConditionalInstanceNorm if label_norm else InstanceNorm
        self.stem = nn.Conv2d(colours + condition_dim, channels, 7, 1, 3, bias=False)
        self.stem_norm = norm(channels, condition_dim)
        widths = [channels, channels * 2, channels * 4]
        self.down = nn.ModuleList(nn.Conv2d(a, b, 4, 2, 1, bias=False) for a, b in itertools.pairwise(widths))
        self.down_norms = nn.ModuleList(norm(b, condition_dim) for b in widths[1:])
        self.blocks = nn.Sequential(*(ResidualBlock(widths[-1]) for _ in range(blocks)))
        up_widths = widths[::-1]
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in itertools.pairwise(up_widths)
        )
        self.up_norms = nn.ModuleList(norm(b, condition_dim) for b in up_widths[1:])
        self.out = nn.Conv2d(channels + (colours if input_skip else 0), colours, 7, 1, 3, bias=False)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        c = c.to(x.dtype)
        h = F.relu(self.stem_norm(self.stem(torch.cat([x, tile_labels(c, x.shape[2], x.shape[3])], 1)), c))
        for conv, norm in zip(self.down, self.down_norms, strict=True):
            h = F.relu(norm(conv(h), c))
        h = self.blocks(h)
        for conv, norm in zip(self.up, self.up_norms, strict=True):
            h = F.relu(norm(conv(h), c))
        if self.input_skip:
            h = torch.cat([h, x], 1)
        return torch.tanh(self.out(h))


class Discriminator(nn.Module):
    """A trunk of 4x4 stride-2 convolutions (leaky ReLU 0.01, no normalisation) and two heads:
    D_src, real/fake scores per patch [B, h, w]; D_cls, attribute logits [B, K]."""

    def __init__(
        self, colours: int, size: tuple[int, int], channels: int, layers: int, attributes: int
    ) -> None:
        super().__init__()
        trunk: list[nn.Module] = []
        width, n_in = channels, colours
        for _ in range(layers):
            trunk += [nn.Conv2d(n_in, width, 4, 2, 1), nn.LeakyReLU(SLOPE)]
            n_in, width = width, width * 2
        self.trunk = nn.Sequential(*trunk)
        self.src = nn.Conv2d(n_in, 1, 3, 1, 1, bias=False)
        remaining = (trunk_size(size[0], layers), trunk_size(size[1], layers))
        self.cls = nn.Conv2d(n_in, attributes, remaining, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.src(h).squeeze(1), self.cls(h).flatten(1)


# -- the model --------------------------------------------------------------------------------------
@register("stargan")
class StarGAN(GenerativeModel):
    """StarGAN: one G(x, c) translating images between attribute domains; D scores and classifies."""

    Config = StarGANConfig
    equation: ClassVar[str] = (
        r"L_G = L_{adv} + \lambda_{cls} L^{f}_{cls} + \lambda_{rec} \|\mathbf{x} - G(G(\mathbf{x}, "
        r"c), c')\|_1, \quad L_D = -L_{adv} + \lambda_{cls} L^{r}_{cls}"
    )
    family = "adversarial"
    input_range = "symmetric"
    condition_kind: ClassVar[str] = "attributes"  # translate(x, source, target={"thick": 1, ...})
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 28 px: G 16 -> 32 -> 64 maps (64 at 7x7, 3 residual blocks); D 32, 64, 128 maps down to 3x3.
        "cpu": {"g_channels": 16, "residual_blocks": 3, "d_channels": 32, "d_layers": 3},
        # Section 4 and the reference code: 128x128 CelebA with its five attributes, D 2048 maps at 2x2.
        "paper": {
            "image_shape": (3, 128, 128),
            "attributes": CELEBA_ATTRIBUTES,
            "label_sets": (5,),
            "g_channels": 64,
            "residual_blocks": 6,
            "d_channels": 64,
            "d_layers": 6,
        },
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # 0.058 s a step at batch 16 on one free core, 28 px, 1 or 3 channels (a D step 0.039 s, a G
        # step, every 5th, 0.093 s): 16,000 steps (3,200 G steps) take about 16 minutes (twice that
        # on a core shared with other jobs). At 8,000 steps thick/thin already flips, invert is weak.
        "cpu": {"steps": 16_000, "batch_size": 16, "sample_every": 2000},
        "paper": {"steps": 200_000, "batch_size": 16, "sample_every": 10_000},
    }

    def __init__(self, config: StarGANConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        self.generator = Generator(
            colours,
            config.condition_dim,
            config.g_channels,
            config.residual_blocks,
            config.label_norm,
            config.input_skip,
        )
        self.discriminator = Discriminator(
            colours, (height, width), config.d_channels, config.d_layers, len(config.attributes)
        )
        self.training_step = 0  # the trainer's step (on_step), which λ_rec's warm-up reads

    # -- the data's labels ------------------------------------------------------------------------
    @classmethod
    def settings_from_data(cls, data: ImageSet) -> dict[str, Any]:
        """The attribute names, the label sets' sizes (from which columns each set's rows know) and
        the one-of groups."""
        if "attributes" not in data.fields:
            raise ConfigError(f"{data.name} has no attribute labels. {NEEDS_ATTRIBUTES}")
        values = data.fields["attributes"].float()
        names = tuple(data.field_names.get("attributes", ()))
        if len(names) != values.shape[1]:
            raise ConfigError(
                f"{data.name}: {values.shape[1]} attribute columns but names {names} "
                "(field_names['attributes'] must name each column)"
            )
        label_set = data.fields.get("label_set")
        if label_set is None:
            label_set = torch.zeros(len(values), dtype=torch.long)
        sets = int(label_set.max()) + 1
        owner = torch.full((len(names),), -1)
        for s in range(sets):
            known = torch.isfinite(values[label_set == s]).any(0)
            if (known & (owner >= 0)).any():
                raise ConfigError(f"{data.name}: rows of several label sets know the same attribute columns")
            owner[known] = s
        if (owner < 0).any() or (owner.diff() < 0).any() or len(torch.unique(owner)) != sets:
            raise ConfigError(
                f"{data.name}: each label set must own a block of adjacent attribute columns, in set order; "
                f"the columns {names} belong to sets {owner.tolist()}"
            )
        sizes = tuple(int((owner == s).sum()) for s in range(sets))
        groups: list[tuple[str, ...]] = []
        for s in range(sets):
            columns = (owner == s).nonzero().flatten().tolist()
            groups += [
                tuple(names[j] for j in g) for g in one_of_groups(values[label_set == s][:, columns], columns)
            ]
        return {"attributes": names, "label_sets": sizes, "one_of": tuple(groups)}

    def _labels(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The batch's attribute labels [B, K] and label sets [B] (all 0 with one set)."""
        if "attributes" not in batch:
            raise ValueError(f"this batch has no attribute labels (only {sorted(batch)}). {NEEDS_ATTRIBUTES}")
        labels = batch["attributes"].float()
        if labels.shape[1] != len(self.config.attributes):
            raise ValueError(
                f"the batch has {labels.shape[1]} attributes; "
                f"the model was built for {self.config.attributes}"
            )
        label_set = batch.get("label_set")
        if label_set is None:
            label_set = torch.zeros(len(labels), dtype=torch.long, device=labels.device)
        return labels, label_set.long()

    def condition(self, labels: Tensor, label_set: Tensor) -> Tensor:
        return condition(labels, label_set, self.config.label_sets)

    def on_step(self, step: int) -> None:
        # The trainer calls this before every step (resumed runs included), so the step need not be
        # saved with the weights.
        self.training_step = step

    def rec_weight(self) -> float:
        """λ_rec at the current step: the warm-up's value during `warmup_steps`, then rec_weight."""
        config = self.config
        in_warmup = self.training_step < config.warmup_steps
        return config.warmup_rec_weight if in_warmup else config.rec_weight

    def critic(self, x: Tensor) -> Tensor:
        """D_src alone: the scores whose input gradient the penalty constrains."""
        return self.discriminator(x)[0]

    # -- the two objectives -----------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        config = self.config
        decay = linear_decay(config.decay_start)
        return [
            Objective(
                "discriminator",
                self.discriminator.parameters,
                self.discriminator_step,
                optimizer=OptimizerSpec(lr=config.lr_d, betas=tuple(config.betas)),
                lr_factor=decay,
            ),
            Objective(
                "generator",
                self.generator.parameters,
                self.generator_step,
                every=config.n_critic,
                optimizer=OptimizerSpec(lr=config.lr_g, betas=tuple(config.betas)),
                lr_factor=decay,
            ),
        ]

    def discriminator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        """L_D = E[D_src(G(x, c))] − E[D_src(x)] + λ_cls L_cls^r + λ_gp GP."""
        config = self.config
        x = batch["x"]
        labels, label_set = self._labels(batch)
        target = shuffled_targets(labels, label_set)
        with torch.no_grad():
            fake = self.generator(x, self.condition(target, label_set))
        real_scores, real_logits = self.discriminator(x)
        fake_scores, _ = self.discriminator(fake)
        known = known_labels(labels, label_set, config.label_sets)
        cls = classification_loss(real_logits, labels, known)
        penalty = gradient_penalty(self.critic, x, fake)
        loss = (
            wasserstein_critic_loss(real_scores, fake_scores)
            + config.cls_weight * cls
            + config.gp_weight * penalty
        )
        return loss, {
            "w_distance": (real_scores.mean() - fake_scores.mean()).detach(),  # E D(x) − E D(G(x, c))
            "gp": penalty.detach(),
            "cls_real": cls.detach(),
            "accuracy_real": attribute_accuracy(real_logits, labels, known),
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        """L_G = −E[D_src(G(x, c))] + λ_cls L_cls^f + λ_rec / D · ‖x − G(G(x, c), c′)‖₁
        (+ λ_id / D · ‖x − G(x, c′)‖₁ with `identity_weight`)."""
        config = self.config
        x = batch["x"]
        labels, label_set = self._labels(batch)
        target = shuffled_targets(labels, label_set)
        fake = self.generator(x, self.condition(target, label_set))
        scores, logits = self.discriminator(fake)
        known = known_labels(target, label_set, config.label_sets)
        cls = classification_loss(logits, target, known)
        reconstruction = self.generator(fake, self.condition(labels, label_set))
        rec = reconstruction_loss(x, reconstruction)
        pixels = x[0].numel()
        loss = wasserstein_generator_loss(scores) + config.cls_weight * cls + self.rec_weight() / pixels * rec
        logs = {
            "cls_fake": cls.detach(),
            "accuracy_fake": attribute_accuracy(logits, target, known),
            "rec_l1": (rec / pixels).detach(),  # per-pixel mean, the paper's units
        }
        if config.identity_weight:
            unchanged = self.generator(x, self.condition(labels, label_set))
            identity = reconstruction_loss(x, unchanged)
            loss = loss + config.identity_weight / pixels * identity
            logs["id_l1"] = (identity / pixels).detach()
        return loss, logs

    # -- translation ------------------------------------------------------------------------------
    def _columns(self, names: Sequence[str]) -> list[int]:
        attributes = self.config.attributes
        unknown = [name for name in names if name not in attributes]
        if unknown:
            raise KeyError(
                f"unknown attribute(s) {unknown}; this model's attributes: {', '.join(attributes)}"
            )
        return [attributes.index(name) for name in names]

    def _group_of(self, column: int) -> list[int]:
        """The columns of the one-of group that `column` is in ([column] when it is in none)."""
        name = self.config.attributes[column]
        for group in self.config.one_of:
            if name in group:
                return self._columns(group)
        return [column]

    @torch.no_grad()
    def estimate_labels(self, x: Tensor) -> Tensor:
        """D_cls's reading of the images' labels [B, K] in {0, 1}: logit > 0, and the most likely
        member of each one-of group."""
        logits = self.discriminator(x)[1]
        labels = (logits > 0).to(x.dtype)
        for group in self.config.one_of:
            columns = self._columns(group)
            labels[:, columns] = F.one_hot(logits[:, columns].argmax(1), len(columns)).to(x.dtype)
        return labels

    @torch.no_grad()
    def translate(
        self,
        x: Tensor,
        source: Tensor | Sequence[float] | None,
        target: Tensor | Sequence[float] | Mapping[str, float] | Sequence[str] | str,
        *,
        label_set: int | None = None,
    ) -> Tensor:
        """G(x, c) for images x in [-1, 1], [B, C, H, W] (or one image [C, H, W]).

        target: a label vector [K] or [B, K] (with several label sets, the entries of other sets NaN,
        or say which set with `label_set`), or attribute names to switch: a dict {"thick": 1,
        "invert": 0} or a list of names to switch on (in a one-of group, switching one on switches
        the others off). Names change the input's labels, `source` ([K] or [B, K]); with source None
        (or NaN where unknown), D's classifier reads them from x."""
        single = x.dim() == 3
        x = (x[None] if single else x).to(self.device)
        n, k = len(x), len(self.config.attributes)
        sets = set_of_columns(self.config.label_sets, x.device)
        if isinstance(target, str):
            target = [target]
        if isinstance(target, Mapping) or (
            isinstance(target, Sequence) and len(target) > 0 and all(isinstance(t, str) for t in target)
        ):
            switches = dict(target) if isinstance(target, Mapping) else dict.fromkeys(target, 1.0)
            columns = self._columns(list(switches))
            chosen = {int(sets[j]) for j in columns}
            if len(chosen) > 1 or (label_set is not None and chosen != {label_set}):
                wanted = "" if label_set is None else f" (label_set={label_set})"
                raise ValueError(f"the attributes {list(switches)} are not all of one label set{wanted}")
            set_index = chosen.pop()
            labels = self._base_labels(x, source)
            for j, value in zip(columns, switches.values(), strict=True):
                if float(value) not in (0.0, 1.0):
                    raise ValueError(
                        f"attribute {self.config.attributes[j]!r}: switch it to 0 or 1, not {value!r}"
                    )
                if float(value) == 1.0:
                    labels[:, self._group_of(j)] = 0.0
                labels[:, j] = float(value)
        else:
            labels = torch.as_tensor(target, dtype=x.dtype, device=x.device)
            if labels.shape not in ((k,), (n, k)):
                raise ValueError(
                    f"target: a vector of {k} labels {self.config.attributes} (or [{n}, {k}]), "
                    f"got shape {tuple(labels.shape)}"
                )
            labels = labels.expand(n, k).clone()
            set_index = self._set_of_vector(labels, label_set)
            missing = ~torch.isfinite(labels[:, sets == set_index])
            if missing.any():
                raise ValueError("target: the labels of its label set must be known (not NaN)")
        chosen_set = torch.full((n,), set_index, dtype=torch.long, device=x.device)
        out = self.generator(x, self.condition(labels, chosen_set))
        return out[0] if single else out

    def _base_labels(self, x: Tensor, source: Tensor | Sequence[float] | None) -> Tensor:
        """The input's labels [B, K]: `source` where known, D's reading where not."""
        estimate = self.estimate_labels(x)
        if source is None:
            return estimate
        source = torch.as_tensor(source, dtype=x.dtype, device=x.device)
        k = len(self.config.attributes)
        if source.shape not in ((k,), (len(x), k)):
            raise ValueError(
                f"source: a vector of {k} labels {self.config.attributes}, got shape {tuple(source.shape)}"
            )
        source = source.expand(len(x), k)
        return torch.where(torch.isfinite(source), source, estimate)

    def _set_of_vector(self, labels: Tensor, label_set: int | None) -> int:
        count = len(self.config.label_sets)
        if label_set is not None:
            if not 0 <= label_set < count:
                raise ValueError(f"label_set {label_set}: this model has {count} label set(s)")
            return label_set
        if count == 1:
            return 0
        sets = set_of_columns(self.config.label_sets, labels.device)
        finite = torch.isfinite(labels).all(0)
        candidates = [
            s for s in range(count) if bool(finite[sets == s].all()) and not bool(finite[sets != s].any())
        ]
        if len(candidates) != 1:
            raise ValueError(
                f"with {count} label sets {self.config.label_sets}, give the target's set (label_set=) "
                "or NaN for the entries of the other sets"
            )
        return candidates[0]

    @torch.no_grad()
    def translation_grid(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Up to 8 inputs in rows; columns: the input, then for each attribute the input with that
        attribute flipped (in a one-of group: set to that member). [rows · (K + 1), C, H, W], K + 1.

        Each column uses its attribute's label set (and mask vector); labels the row does not know
        (another set's) come from D's classifier."""
        labels, _ = self._labels(batch)
        x, labels = batch["x"][:8], labels[:8]
        base = torch.where(torch.isfinite(labels), labels, self.estimate_labels(x))
        sets = set_of_columns(self.config.label_sets, x.device)
        columns = [x]
        for j in range(len(self.config.attributes)):
            target = base.clone()
            group = self._group_of(j)
            if len(group) > 1:
                target[:, group] = 0.0
                target[:, j] = 1.0
            else:
                target[:, j] = 1.0 - target[:, j]
            label_set = torch.full((len(x),), int(sets[j]), dtype=torch.long, device=x.device)
            columns.append(self.generator(x, self.condition(target, label_set)))
        return torch.stack(columns, 1).flatten(0, 1), len(columns)


def one_of_groups(values: Tensor, columns: list[int]) -> list[list[int]]:
    """Runs of 2 or more adjacent columns that exclude each other: every row that knows them has
    at most one on, and each is on in some row (colours, of which a row has exactly one; thin and
    thick, of which it has at most one). `values` [N, len(columns)]; returns the groups as entries of
    `columns`, taking the longest run from each start."""
    groups, start = [], 0
    while start < len(columns) - 1:
        for end in range(len(columns), start + 1, -1):
            block = values[:, start:end]
            rows = block[torch.isfinite(block).all(1)]
            binary = len(rows) > 0 and bool(((rows == 0) | (rows == 1)).all())
            if binary and bool((rows.sum(1) <= 1).all()) and bool((rows.sum(0) > 0).all()):
                groups.append(columns[start:end])
                start = end
                break
        else:
            start += 1
    return groups


@torch.no_grad()
def attribute_accuracy(logits: Tensor, labels: Tensor, known: Tensor) -> Tensor:
    """The share of known attribute entries that D_cls gets right (logit > 0 for label 1)."""
    right = ((logits > 0) == (labels > 0.5)) & known
    return right.sum() / known.sum().clamp(min=1)
