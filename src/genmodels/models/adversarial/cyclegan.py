"""CycleGAN (Zhu et al. 2017, "Unpaired image-to-image translation using cycle-consistent
adversarial networks"): two translators learnt from unpaired images of two domains A and B.

G: A -> B and F: B -> A are trained against two discriminators, D_B (real b against G(a)) and D_A
(real a against F(b)). An adversarial loss alone would let G map every a to any plausible b; the
cycle loss asks each translation to be undone by the other, F(G(a)) ≈ a and G(F(b)) ≈ b, so G must
keep what a and b share (here: the digit) and change only the domain (stroke width, colour, ...).

Least-squares adversarial loss (Mao et al. 2017; the paper's Section 4 replaces the log loss with
it for stability). For G and D_B (and the same for F and D_A with the roles of A and B swapped):

    G   minimises  E_a[(D_B(G(a)) − 1)²],
    D_B minimises  ½ (E_b[(D_B(b) − 1)²] + E_a[D_B(G(a))²])      (halved, as in the paper),

where D_B's scores are a map of patches (PatchGAN) and each expectation is a mean over the rows
and the patch map. The full objective of the generators (Eq. 3, with the identity loss of Sec. 5.2)

    L(G, F) = E_a[(D_B(G(a)) − 1)²] + E_b[(D_A(F(b)) − 1)²]
              + λ_cyc (E_a ||F(G(a)) − a||_1 + E_b ||G(F(b)) − b||_1)      (cycle consistency)
              + λ_id  (E_b ||G(b) − b||_1 + E_a ||F(a) − a||_1)            (identity)

with λ_cyc = 10 and λ_id = 0.5 λ_cyc = 5. The identity term asks a generator given an image of its
own target domain to leave it alone; it keeps colours (and here grey levels) from drifting.

The L1 norms are means over pixels (and rows), as the paper and its reference code
(`nn.L1Loss()`) compute them: a departure from the library's convention (sum over pixels, mean
over the batch) made so that λ_cyc = 10 and λ_id = 5 keep the paper's balance against the
adversarial terms, which are means over D's patch map. Summing would need λ_cyc = 10 / (C·H·W),
a weight that changes with the image size. The logged cycle and identity values are these
per-pixel means (images in [-1, 1], so a mean L1 of 0.1 is 5% of the range).

The networks, sized for small images (the paper's at 256 px in brackets):
- Generators (Johnson et al. 2016): c7s1-k, d2k, d4k, n residual blocks R4k, u2k, uk, c7s1-C:
  a 7x7 convolution with reflection padding, two 3x3 stride-2 convolutions, n residual blocks
  (`layers.ResidualBlock`, reflection padded) at a quarter of the size, two 3x3 stride-2
  transposed convolutions, and a 7x7 convolution to the image's channels with tanh; instance norm
  and ReLU after every hidden convolution. k = 64, n = 9 [6 at 128 px]; the "cpu" preset k = 16,
  n = 3 at 28 px (7x7 maps in the residual blocks).
- Discriminators, PatchGAN: 4x4 convolutions, the first m with stride 2 and the channels doubling
  (capped at 8 times the first), then one with stride 1, then a 4x4 convolution to one score per
  patch; LeakyReLU(0.2), instance norm except after the first layer. m = 3 gives each score a
  70x70 receptive field [the paper's 70x70 PatchGAN, a 30x30 map at 256 px]; the "cpu" preset's
  m = 2 at 28 px gives a 5x5 map of 34x34 patches (`receptive_field`): at this size the patches
  overlap the whole digit, and a smaller D (m = 1: 16x16 patches) would judge strokes only.
- Weights N(0, 0.02) as the reference code.

Training (Sec. 7 and the reference code): Adam, lr 2e-4, β1 = 0.5; the learning rate constant for
the first half of training and decaying linearly to 0 over the second half (the paper: 100 + 100
epochs); the generators (G and F together) step first on each batch, then the discriminators
(D_A and D_B together) on the fakes the generators made before their step (kept from the
generators' step of the same batch, as the reference code does). Each discriminator sees, instead
of the newest fakes, a history (Shrivastava et al. 2017): an image pool of the 50 last fakes; once
full, each new fake is, with probability ½, swapped for a stored one, which D then sees instead.

Data (`mnist[domains=thin/thick]`, `unpaired:DIR`, ...): one image set whose rows carry a `domain`
field (0 for A, 1 for B); a batch mixes the domains and the losses split it. The a's and b's of a
batch are unrelated images: nothing here assumes pairs. Each term is a mean over the rows it needs;
a batch that happens to hold one domain only trains the terms it can.

Departures from the paper, and why:
- Sizes: fewer residual blocks, fewer channels and a smaller PatchGAN for 28-pixel digits (above).
- Batches: the paper steps on one a and one b (batch size 1); here a batch is a random mix of the
  two domains, so the number of a's and b's varies from batch to batch, and the "paper" recipe
  takes batches of 2 (one of each on average; as many steps per epoch as the paper's).
- Every hidden convolution followed by instance norm follows the library's `ResidualBlock`: a norm
  with a learnt scale and shift (affine) and no convolution bias, where the reference code uses a
  bias and a norm without affine parameters (a bias before instance norm is removed by it anyway;
  the learnt scale and shift are the difference).

The "cpu" recipe (28 px, batch 16, 5,000 steps, 20 epochs of the 4,000 training digits): about
0.2 s of one core per step, about 17 minutes; the translations look right (thin <-> thick) from
about step 500.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.data import Batch, ImageSet
from genmodels.models.adversarial.base import dcgan_init
from genmodels.models.adversarial.losses import least_squares_discriminator_loss, least_squares_generator_loss
from genmodels.models.base import GenerativeModel, Logs, ModelConfig, Objective, OptimizerSpec, linear_decay
from genmodels.models.layers import ResidualBlock
from genmodels.registry import register

DATA_HINT = "a two-domain data set such as 'mnist[domains=thin/thick]' or 'unpaired:DIR'"


@dataclass
class CycleGANConfig(ModelConfig):
    domains: tuple[str, str] = ("A", "B")  # the names of domain 0 (A) and 1 (B); from the data
    channels: int = 64  # k of the generators' first layer c7s1-k; the two downsamplings give 2k, 4k
    residual_blocks: int = 9
    discriminator_channels: int = 64  # of D's first layer; doubling at each stride-2 layer, up to 8x
    discriminator_downsamplings: int = 3  # stride-2 layers of the PatchGAN: 3 gives 70x70 patches
    cycle_weight: float = 10.0  # λ_cyc
    identity_weight: float = 5.0  # λ_id = 0.5 λ_cyc, the paper's; 0 drops the identity loss
    pool_size: int = 50  # past fakes kept for each discriminator; 0: D sees only the newest
    lr: float = 2e-4
    beta1: float = 0.5
    decay_start: float = 0.5  # the fraction of training after which the lr decays linearly to 0


# -- the losses ------------------------------------------------------------------------------------
def adversarial_loss(fake_scores: Tensor) -> Tensor:
    """E[(D(G(a)) − 1)²], the paper's least-squares generator loss (losses.py's is half of it)."""
    return 2.0 * least_squares_generator_loss(fake_scores)


def discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """½ (E[(D(b) − 1)²] + E[D(G(a))²]); a half with no rows in this batch is left out."""
    if len(real_scores) and len(fake_scores):
        return least_squares_discriminator_loss(real_scores, fake_scores)
    if len(real_scores):
        return least_squares_generator_loss(real_scores)  # ½ E[(D(b) − 1)²]: the real half alone
    return 0.5 * fake_scores.pow(2).mean()


def l1(x: Tensor, y: Tensor) -> Tensor:
    """||x − y||_1 as a mean over pixels and rows (the paper's; see the module docstring)."""
    return (x - y).abs().mean()


def receptive_field(downsamplings: int) -> int:
    """The side of the patch each PatchGAN score sees: 4x4 kernels, `downsamplings` of stride 2,
    then two of stride 1 (70 for the paper's 3)."""
    side = 1
    for stride in [1, 1] + [2] * downsamplings:  # from the output back to the input
        side = (side - 1) * stride + 4
    return side


# -- the image pool --------------------------------------------------------------------------------
class ImagePool(nn.Module):
    """The last `size` fakes shown to a discriminator (Shrivastava et al. 2017).

    While the pool fills, each fake is stored and returned as it is. Once full, each fake is, with
    probability ½, stored in place of a random stored one, which is returned instead; else it is
    returned and not stored. The images and the fill count are buffers, so the pool is saved with
    the weights and a resumed run continues with the same history. The draws come from torch's
    global RNG, which the trainer seeds and restores on resume."""

    def __init__(self, size: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: Tensor) -> Tensor:
        if self.size == 0 or len(fakes) == 0:
            return fakes
        fakes = fakes.detach()
        returned = fakes.clone()
        swap = torch.rand(len(fakes)) < 0.5
        slots = torch.randint(self.size, (len(fakes),))
        count = int(self.count)
        # One image at a time, as the reference: two fakes of a batch may draw the same slot, and the
        # second then gets the first's image back.
        for i in range(len(fakes)):
            if count < self.size:
                self.images[count] = fakes[i]
                count += 1
            elif swap[i]:
                slot = int(slots[i])
                returned[i] = self.images[slot]
                self.images[slot] = fakes[i]
        self.count.fill_(count)
        return returned


# -- the networks ----------------------------------------------------------------------------------
def _norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, affine=True), nn.ReLU()]


class ResnetGenerator(nn.Module):
    """c7s1-k, d2k, d4k, n x R4k, u2k, uk, c7s1-C with tanh (Johnson et al. 2016; CycleGAN's G)."""

    def __init__(self, colours: int, channels: int, blocks: int) -> None:
        super().__init__()
        k = channels
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(colours, k, 7, bias=False),
            *_norm_relu(k),
            nn.Conv2d(k, 2 * k, 3, stride=2, padding=1, bias=False),
            *_norm_relu(2 * k),
            nn.Conv2d(2 * k, 4 * k, 3, stride=2, padding=1, bias=False),
            *_norm_relu(4 * k),
            *[ResidualBlock(4 * k) for _ in range(blocks)],
            nn.ConvTranspose2d(4 * k, 2 * k, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_norm_relu(2 * k),
            nn.ConvTranspose2d(2 * k, k, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_norm_relu(k),
            nn.ReflectionPad2d(3),
            nn.Conv2d(k, colours, 7),
            nn.Tanh(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 convolutions, `downsamplings` of stride 2, one of stride 1, then one score per
    patch. [B, C, H, W] -> [B, 1, H / 2^m − 2, W / 2^m − 2] (the scores are not averaged here: the
    losses take their mean)."""

    def __init__(self, colours: int, channels: int, downsamplings: int) -> None:
        super().__init__()
        widths = [channels * min(2**i, 8) for i in range(downsamplings + 1)]
        layers: list[nn.Module] = [nn.Conv2d(colours, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for n_in, n_out in itertools.pairwise(widths[:-1]):
            layers += [nn.Conv2d(n_in, n_out, 4, 2, 1, bias=False), nn.InstanceNorm2d(n_out, affine=True)]
            layers.append(nn.LeakyReLU(0.2))
        layers += [
            nn.Conv2d(widths[-2], widths[-1], 4, 1, 1, bias=False),
            nn.InstanceNorm2d(widths[-1], affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[-1], 1, 4, 1, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def apply(network: nn.Module, *inputs: Tensor) -> list[Tensor]:
    """network(x) for each x of `inputs`, in one call on them stacked: instance norm treats every
    image alone, so this is exact, and cheaper than a call each. A batch may hold one domain only:
    empty inputs are skipped (instance norm refuses an empty batch), and all empty come back as given."""
    sizes = [len(x) for x in inputs]
    if sum(sizes) == 0:
        return list(inputs)
    return list(network(torch.cat(inputs)).split(sizes))


def _check_side(side: int, downsamplings: int) -> None:
    if side < 8 or side % 4:
        raise ValueError(
            f"CycleGAN's generators halve the image twice: its sides must be multiples of 4, at least 8, "
            f"got {side}"
        )
    if side // 2**downsamplings < 3:
        raise ValueError(
            f"a {side}-pixel side is too small for a PatchGAN with {downsamplings} stride-2 layers "
            f"(its maps would vanish): lower discriminator_downsamplings to at most "
            f"{max((side // 3).bit_length() - 1, 0)}"
        )


@register("cyclegan")
class CycleGAN(GenerativeModel):
    """Unpaired two-domain translation: G: A -> B and F: B -> A with cycle consistency."""

    Config = CycleGANConfig
    equation: ClassVar[str] = (
        r"L = L_{GAN}(G, D_Y) + L_{GAN}(F, D_X) + \lambda\big(\|F(G(\mathbf{x})) - \mathbf{x}\|_1 "
        r"+ \|G(F(\mathbf{y})) - \mathbf{y}\|_1\big)"
    )
    family = "adversarial"
    input_range = "symmetric"
    condition_kind: ClassVar[str] = "domain"  # translate(x, source, target), by name or index
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {
            "channels": 16,
            "residual_blocks": 3,
            "discriminator_channels": 32,
            "discriminator_downsamplings": 2,
        },
        "paper": {
            "channels": 64,
            "residual_blocks": 9,
            "discriminator_channels": 64,
            "discriminator_downsamplings": 3,
        },
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 5000, "batch_size": 16, "sample_every": 500},
        "paper": {"epochs": 200, "batch_size": 2},
    }

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        for side in (height, width):
            _check_side(side, config.discriminator_downsamplings)
        if len(set(config.domains)) != 2:
            raise ValueError(f"CycleGAN's two domains need two different names, got {config.domains}")
        if config.channels < 1 or config.discriminator_channels < 1 or config.discriminator_downsamplings < 1:
            raise ValueError(
                "channels, discriminator_channels and discriminator_downsamplings must be positive"
            )
        if config.residual_blocks < 0 or config.pool_size < 0:
            raise ValueError("residual_blocks and pool_size must be at least 0")
        if min(config.cycle_weight, config.identity_weight) < 0:
            raise ValueError("the loss weights must be at least 0")
        self.G = ResnetGenerator(colours, config.channels, config.residual_blocks)  # A -> B
        self.F = ResnetGenerator(colours, config.channels, config.residual_blocks)  # B -> A
        self.D_A = PatchDiscriminator(
            colours, config.discriminator_channels, config.discriminator_downsamplings
        )
        self.D_B = PatchDiscriminator(
            colours, config.discriminator_channels, config.discriminator_downsamplings
        )
        self.apply(dcgan_init)  # N(0, 0.02), as the reference code
        self.pool_A = ImagePool(config.pool_size, config.image_shape)  # past F(b), shown to D_A
        self.pool_B = ImagePool(config.pool_size, config.image_shape)  # past G(a), shown to D_B
        # Not state: the fakes of the generators' step, reused by the discriminators' step on the same
        # batch, and the learning-rate factor of the current step (for the logs).
        self._fakes: tuple[Tensor, Tensor, Tensor] | None = None
        self._lr_factor = 1.0

    # -- the data ----------------------------------------------------------------------------------
    @classmethod
    def settings_from_data(cls, data: ImageSet) -> dict[str, Any]:
        """The domain names of the data, which must have exactly two."""
        if "domain" not in data.fields:
            raise ConfigError(
                f"cyclegan translates between two domains: {data.name} has no 'domain' field; use {DATA_HINT}"
            )
        names = data.field_names.get("domain")
        if names is None:
            values = set(data.fields["domain"].unique().tolist())
            if not values <= {0, 1}:
                raise ConfigError(f"{data.name}: cyclegan takes domains 0 and 1, found {sorted(values)}")
            return {}
        if len(names) != 2:
            raise ConfigError(
                f"cyclegan translates between exactly two domains; {data.name} has {len(names)} "
                f"({', '.join(names)}): use a model for several domains (StarGAN) or {DATA_HINT}"
            )
        return {"domains": tuple(names)}

    def default_pad(self, raw_shape: tuple[int, int, int]) -> int:
        """One pixel each side for sides of 4k + 2 (e.g. 30 -> 32): the generators halve twice."""
        return 1 if raw_shape[1] % 4 == 2 and raw_shape[2] % 4 == 2 else 0

    @staticmethod
    def split(batch: Batch) -> tuple[Tensor, Tensor]:
        """The batch's images of domain A and of domain B (unrelated: unpaired data)."""
        if "domain" not in batch:
            raise ValueError(f"cyclegan needs a 'domain' field in every batch: use {DATA_HINT}")
        x, domain = batch["x"], batch["domain"]
        return x[domain == 0], x[domain == 1]

    # -- the objectives ----------------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        adam = OptimizerSpec(lr=self.config.lr, betas=(self.config.beta1, 0.999))
        decay = linear_decay(self.config.decay_start)

        def lr_factor(step: int, total: int) -> float:
            self._lr_factor = decay(step, total)  # kept to log it
            return self._lr_factor

        return [
            Objective(
                "generators",
                lambda: itertools.chain(self.G.parameters(), self.F.parameters()),
                self.generators_step,
                optimizer=adam,
                lr_factor=lr_factor,
            ),
            Objective(
                "discriminators",
                lambda: itertools.chain(self.D_A.parameters(), self.D_B.parameters()),
                self.discriminators_step,
                optimizer=adam,
                lr_factor=lr_factor,
            ),
        ]

    def generators_step(self, batch: Batch) -> tuple[Tensor, Logs]:
        a, b = self.split(batch)
        config = self.config
        identity = config.identity_weight > 0
        fake_b, same_b = apply(self.G, a, b if identity else b[:0])  # G(a), G(b)
        fake_a, same_a = apply(self.F, b, a if identity else a[:0])  # F(b), F(a)
        (reconstructed_a,) = apply(self.F, fake_b)  # F(G(a))
        (reconstructed_b,) = apply(self.G, fake_a)  # G(F(b))
        self._fakes = (batch["x"], fake_b.detach(), fake_a.detach())

        terms: dict[str, Tensor] = {}
        if len(a):
            terms["adversarial_G"] = adversarial_loss(self.D_B(fake_b))
            terms["cycle_A"] = l1(reconstructed_a, a)
            if identity:
                terms["identity_A"] = l1(same_a, a)
        if len(b):
            terms["adversarial_F"] = adversarial_loss(self.D_A(fake_a))
            terms["cycle_B"] = l1(reconstructed_b, b)
            if identity:
                terms["identity_B"] = l1(same_b, b)
        weights = {"adversarial": 1.0, "cycle": config.cycle_weight, "identity": config.identity_weight}
        loss = sum(weights[name.split("_")[0]] * value for name, value in terms.items())
        logs: Logs = {name: value.detach() for name, value in terms.items()}
        logs["lr_factor"] = self._lr_factor
        return loss, logs

    def discriminators_step(self, batch: Batch) -> tuple[Tensor, Logs]:
        a, b = self.split(batch)
        if self._fakes is not None and self._fakes[0] is batch["x"]:
            _, fake_b, fake_a = self._fakes  # made by the generators before their step on this batch
        else:
            with torch.no_grad():
                (fake_b,), (fake_a,) = apply(self.G, a), apply(self.F, b)
        self._fakes = None
        fake_b, fake_a = self.pool_B.query(fake_b), self.pool_A.query(fake_a)
        d_a = discriminator_loss(*apply(self.D_A, a, fake_a))
        d_b = discriminator_loss(*apply(self.D_B, b, fake_b))
        return d_a + d_b, {"D_A": d_a.detach(), "D_B": d_b.detach(), "lr_factor": self._lr_factor}

    # -- translation -------------------------------------------------------------------------------
    def domain_index(self, domain: int | str) -> int:
        """0 (A) or 1 (B), from a domain's name or index."""
        names = self.config.domains
        if isinstance(domain, str) and domain in names:
            return names.index(domain)
        if isinstance(domain, str) and domain in ("0", "1"):
            return int(domain)
        if isinstance(domain, int) and not isinstance(domain, bool) and domain in (0, 1):
            return domain
        raise ValueError(
            f"unknown domain {domain!r}; this model translates between {names[0]!r} (0) and {names[1]!r} (1)"
        )

    @torch.no_grad()
    def translate(self, x: Tensor, source: int | str | None, target: int | str) -> Tensor:
        """Images x [B, C, H, W] in [-1, 1] of domain `source` (None: the other one than `target`),
        translated to domain `target`."""
        t = self.domain_index(target)
        s = 1 - t if source is None else self.domain_index(source)
        if s == t:
            raise ValueError(
                f"source and target are the same domain ({self.config.domains[s]!r}): nothing to translate"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.config.image_shape):
            raise ValueError(
                f"expected images [B, {', '.join(map(str, self.config.image_shape))}], got {tuple(x.shape)}"
            )
        (translated,) = apply(self.G if s == 0 else self.F, x.to(self.device))
        return translated

    @torch.no_grad()
    def translation_grid(self, batch: Batch, per_domain: int = 8) -> tuple[Tensor, int]:
        """Up to `per_domain` inputs of each domain in rows; columns: the input, its translation to the
        other domain, and the translation back (the reconstruction). ([rows * 3, C, H, W], 3)."""
        rows = []
        for source, images in enumerate(self.split(batch)):
            x = images[:per_domain]
            if len(x):
                translated = self.translate(x, source, 1 - source)
                rows.append(torch.stack([x, translated, self.translate(translated, 1 - source, source)], 1))
        return torch.cat(rows).flatten(0, 1), 3
