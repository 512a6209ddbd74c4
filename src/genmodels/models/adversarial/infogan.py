"""InfoGAN (Chen et al. 2016): a GAN whose generator input holds codes c that the samples must reveal.

G takes the noise z (62-d, N(0, I)) and structured codes c: one Categorical(10) code (one-hot) and
two continuous codes Uniform(−1, 1) on MNIST, 74 inputs in all. Nothing in the GAN game makes G use
c, so InfoGAN asks for high mutual information I(c; G(z, c)). The posterior P(c | x) is unknown;
an auxiliary distribution Q(c | x) gives the variational lower bound

    I(c; G(z, c)) ≥ L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)}[log Q(c | x)] + H(c),

tight when Q is the true posterior. H(c) is a constant (log 10 for the categorical code), so the
game becomes

    min_{G, Q} max_D V(D, G) − λ · L_I(G, Q),   λ = 1.

Q shares D's convolutional trunk and adds a small head: the categorical code's logits and, for each
continuous code, the mean of a Gaussian with a fixed standard deviation of 1 (as the reference code,
`Uniform(1, fix_std=True)`). A learned log-std lets Q shrink σ on codes it reads well, and
−log Q = log σ + (c − μ)² / 2σ² then runs to −∞ and outweighs the GAN terms; with σ = 1 the
continuous term is ½ (c − μ)² + ½ log 2π per code, bounded and on the scale of the categorical
cross-entropy. The information loss is therefore

    L_info = CE(Q_logits, c_cat) + w_cont · Σ_j [½ (c_j − μ_j)² + ½ log 2π],   w_cont = 1,

the reference code's weights (its `info_reg_coeff = 1.0` multiplies the discrete and the continuous
terms alike; the paper mentions a smaller λ for continuous codes, which σ = 1 already provides: it
halves the squared error). The two objectives of the trainer are the game above, player by player:

- discriminator (D's trunk and D's head; lr 2e-4): −E log D(x) − E log(1 − D(G(z, c)));
- generator (G and Q's head; lr 1e-3): −E log D(G(z, c)) (non-saturating) + λ L_info.

Q's loss does not update the shared trunk: the trunk is D's, and Q reads D's features through its
own head. The reference code differs: Q's variables live in D's scope, so it adds λ L_info to D's
loss too and trains the trunk and Q's head with D's optimiser. Measured here (MNIST 5k, cpu preset,
2,000 steps, seeds 0 and 1), that layout gave worse samples (FD-digits 111 and 109 against 74 and
60; recall 0.58-0.60 against 0.78-0.79) and no better codes (categorical-code accuracy by the
shipped digit classifier 0.69 and 0.68 against 0.77 and 0.64). Q's head cannot take the trunk into
G's objective either: the trunk would then also follow G's adversarial loss and learn to call fakes
real.

Networks (the paper's MNIST table, Appendix C.1): G: FC 1024 BN ReLU -> FC 7x7x128 BN ReLU ->
4x4 upconv 64 stride 2 BN ReLU -> 4x4 upconv 1 stride 2, tanh (images in [-1, 1]). D: 4x4 conv 64
stride 2 LReLU(0.1) -> 4x4 conv 128 stride 2 BN LReLU -> FC 1024 BN LReLU -> FC 1 (D) and, for Q,
FC 128 BN LReLU -> FC (10 logits + 2 means). 32-pixel images start from 4x4 with one more doubling
(`doublings` of DCGAN). Adam β1 = 0.5, batch 128.

Departures from the reference code: it draws z from Uniform(−1, 1) and ends G in a sigmoid
(Bernoulli means in [0, 1]); here z ~ N(0, I) like the library's other GANs, and G ends in tanh.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.data import View, ordered_batches, to_unit
from genmodels.evaluation.clustering import confusion_matrix, hungarian_accuracy
from genmodels.models.adversarial.base import AdversarialModel, dcgan_init
from genmodels.models.adversarial.dcgan import doublings, downsampling, upsampling
from genmodels.models.adversarial.losses import GeneratorLoss, generator_loss
from genmodels.models.base import Logs, ModelConfig, Objective, full_sampler_recipe
from genmodels.registry import register

if TYPE_CHECKING:
    from genmodels.data import ImageSet

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class InfoGANConfig(ModelConfig):
    latent_dim: int = 62  # incompressible noise z
    categories: int = 10  # values of the one categorical code
    continuous_codes: int = 2  # Uniform(−1, 1) codes
    channels: int = 64  # feature maps of the largest conv layer; each smaller map has twice as many
    hidden: int = 1024  # the fully connected layer of G and of D's trunk
    q_hidden: int = 128  # Q's own fully connected layer
    info_weight: float = 1.0  # λ
    continuous_weight: float = 1.0  # weight of the continuous codes' NLL inside L_info
    slope: float = 0.1  # LeakyReLU slope in D (the paper's appendix; the reference code has 0.01)
    generator_loss: GeneratorLoss = "non_saturating"
    lr_g: float = 1e-3
    lr_d: float = 2e-4
    beta1: float = 0.5


# -- the information term ------------------------------------------------------------------------
def information_loss(
    logits: Tensor, means: Tensor, category: Tensor, continuous: Tensor
) -> tuple[Tensor, Tensor]:
    """−E[log Q(c | x)] in nats, split into the categorical cross-entropy and the continuous codes'
    Gaussian NLL (σ = 1, summed over codes), both averaged over the batch."""
    cross_entropy = F.cross_entropy(logits, category)
    nll = (0.5 * (continuous - means).pow(2) + HALF_LOG_2PI).sum(-1).mean()
    return cross_entropy, nll


# -- the networks --------------------------------------------------------------------------------
class Discriminator(nn.Module):
    """D and Q on one shared trunk. `forward` gives D's logits; `heads` gives D's logits and Q's output."""

    def __init__(self, trunk: nn.Module, hidden: int, q_hidden: int, q_outputs: int, slope: float) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(hidden, 1)
        self.q = nn.Sequential(
            nn.Linear(hidden, q_hidden, bias=False),
            nn.BatchNorm1d(q_hidden),
            nn.LeakyReLU(slope),
            nn.Linear(q_hidden, q_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x)).flatten()

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.trunk(x)
        return self.head(features).flatten(), self.q(features)


@register("infogan")
class InfoGAN(AdversarialModel):
    """InfoGAN: a GAN whose codes c must be readable from G(z, c) (a variational bound on I(c; x))."""

    Config = InfoGANConfig
    equation: ClassVar[str] = (
        r"\min_{G,Q} \max_D \ V(D, G) - \lambda L_I(G, Q), \quad L_I = \mathbb{E}_{c, \mathbf{x} "
        r"\sim G(\mathbf{z}, c)}[\log Q(c \mid \mathbf{x})] + H(c) \le I(c; G(\mathbf{z}, c))"
    )
    condition_kind: ClassVar[str] = "codes"  # {"category": int | LongTensor[n], "continuous": Tensor[n, k]}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"channels": 32, "hidden": 256, "q_hidden": 64},
        "paper": {"channels": 64, "hidden": 1024, "q_hidden": 128},
        "full": {"channels": 32, "hidden": 256, "q_hidden": 64},  # the cpu network, on mnist-full
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # About 0.15 s a step on one core: 5,000 steps in ~12 minutes. The categorical code's digit
        # accuracy (Hungarian-matched, shipped classifier) was 71% after 2,000 steps, 91% after 5,000.
        "cpu": {"steps": 5000, "batch_size": 64, "sample_every": 1000},
        # The reference launcher: 50 "epochs" of 100 updates at batch 128 (640k images).
        "paper": {"steps": 5000, "batch_size": 128},
        # mnist-full for the categorical code's accuracy on the test digits (paper: about 95%): the
        # cpu network at 0.15 s a step, 20,000 steps (26 epochs) or the hour.
        "full": full_sampler_recipe(20_000),
    }

    def __init__(self, config: InfoGANConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        if height != width:
            raise ValueError(f"InfoGAN takes square images, got {height}x{width}")
        if config.categories < 2 or config.continuous_codes < 0:
            raise ValueError("InfoGAN needs categories >= 2 and continuous_codes >= 0")
        start, count = doublings(height)
        widths = [config.channels * 2**i for i in reversed(range(count))]  # [128, 64] for 28 px
        inputs = config.latent_dim + config.categories + config.continuous_codes

        up: list[nn.Module] = [
            nn.Linear(inputs, config.hidden, bias=False),
            nn.BatchNorm1d(config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, widths[0] * start * start, bias=False),
            nn.BatchNorm1d(widths[0] * start * start),
            nn.ReLU(),
            nn.Unflatten(1, (widths[0], start, start)),
        ]
        self.generator = nn.Sequential(*up, *upsampling(widths, colours))

        down = downsampling(colours, widths[::-1], config.slope)
        down += [
            nn.Flatten(),
            nn.Linear(widths[0] * start * start, config.hidden, bias=False),
            nn.BatchNorm1d(config.hidden),
            nn.LeakyReLU(config.slope),
        ]
        q_outputs = config.categories + config.continuous_codes
        self.discriminator = Discriminator(
            nn.Sequential(*down), config.hidden, config.q_hidden, q_outputs, config.slope
        )
        self.apply(dcgan_init)

    # -- the codes -------------------------------------------------------------------------------
    def draw(
        self, n: int, condition: dict[str, Any] | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """z ~ N(0, I), c_cat ~ Uniform{0..K−1}, c_cont ~ Uniform(−1, 1)^k; `condition` fixes codes.

        All three are always drawn (in this order), so the same generator gives the same z whatever
        codes are fixed: changing only the category changes only the category."""
        config, device = self.config, self.device
        z = self.prior.sample(n, generator=generator, device=device)
        category = torch.randint(config.categories, (n,), generator=generator, device=device)
        continuous = torch.rand(n, config.continuous_codes, generator=generator, device=device) * 2 - 1
        condition = dict(condition or {})
        unknown = set(condition) - {"category", "continuous"}
        if unknown:
            raise ValueError(f"InfoGAN codes are 'category' and 'continuous'; got {sorted(unknown)}")
        if condition.get("category") is not None:
            fixed = torch.as_tensor(condition["category"], dtype=torch.long, device=device)
            if fixed.min() < 0 or fixed.max() >= config.categories:
                raise ValueError(f"category must be in 0..{config.categories - 1}")
            category = fixed.expand(n).clone()
        if condition.get("continuous") is not None:
            fixed = torch.as_tensor(condition["continuous"], dtype=torch.float32, device=device)
            continuous = fixed.expand(n, config.continuous_codes).clone()
        return z, category, continuous

    def generator_input(self, z: Tensor, category: Tensor, continuous: Tensor) -> Tensor:
        """[z, one-hot c_cat, c_cont]: what G (and `decode`) reads."""
        return torch.cat([z, F.one_hot(category, self.config.categories).to(z.dtype), continuous], 1)

    def generate(self, z: Tensor, category: Tensor, continuous: Tensor) -> Tensor:
        """G(z, c), in [-1, 1]."""
        return self.generator(self.generator_input(z, category, continuous))

    # -- the two objectives ----------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        d = self.discriminator
        return [
            Objective(
                "discriminator",
                lambda: itertools.chain(d.trunk.parameters(), d.head.parameters()),
                self.discriminator_step,  # AdversarialModel's: D's loss on real images and self.fake(n)
                optimizer=self.optimizer(self.config.lr_d),
            ),
            Objective(
                "generator",
                lambda: itertools.chain(self.generator.parameters(), d.q.parameters()),
                self.generator_step,
                optimizer=self.optimizer(self.config.lr_g),
            ),
        ]

    def fake(self, n: int) -> Tensor:
        return self.generate(*self.draw(n))

    def information(self, q: Tensor, category: Tensor, continuous: Tensor) -> tuple[Tensor, Logs]:
        """λ · L_info from Q's output on G(z, c), and its terms for the logs."""
        config = self.config
        logits, means = q[:, : config.categories], q[:, config.categories :]
        cross_entropy, nll = information_loss(logits, means, category, continuous)
        loss = config.info_weight * (cross_entropy + config.continuous_weight * nll)
        return loss, {
            "info_ce": cross_entropy.detach(),  # log K minus the bound on I(c_cat; x)
            "info_nll": nll.detach(),
            "q_accuracy": (logits.argmax(1) == category).float().mean().detach(),
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        z, category, continuous = self.draw(len(batch["x"]))
        fake_logits, q = self.discriminator.heads(self.generate(z, category, continuous))
        adversarial = generator_loss(fake_logits, self.config.generator_loss)
        info, logs = self.information(q, category, continuous)
        return adversarial + info, {"adversarial": adversarial.detach(), **logs}

    @torch.no_grad()
    def infer_category(self, x: Tensor) -> Tensor:
        """argmax_k Q(c_cat = k | x) for images x in [-1, 1]: the categorical code read off real images."""
        was_training = self.training
        self.eval()
        try:
            return self.discriminator.heads(x)[1][:, : self.config.categories].argmax(1)
        finally:
            self.train(was_training)

    # -- sampling and pictures -------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, inputs: Tensor) -> Tensor:
        """G on its whole input [z, one-hot c_cat, c_cont] (latent_dim + categories + continuous_codes)."""
        return self.generator(inputs)

    def draw_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """What `decode` reads, drawn: a path between two draws moves the noise and both codes together."""
        return self.generator_input(*self.draw(n, None, generator))

    @torch.no_grad()
    def sample(
        self, n: int, *, condition: dict[str, Any] | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.generate(*self.draw(n, condition, generator))

    @torch.no_grad()
    def traversal_grid(
        self,
        category_values: Iterable[int],
        code_index: int,
        steps: int = 10,
        low: float = -2.0,
        high: float = 2.0,
        generator: torch.Generator | None = None,
        shared_noise: bool = True,
    ) -> Tensor:
        """Rows: the categorical values; columns: continuous code `code_index` from `low` to `high`
        (beyond the training range ±1, as in the paper's figures), the other continuous codes at 0.
        One z for the whole grid (the paper's figures), or one per row. [rows * steps, C, H, W]."""
        if not 0 <= code_index < self.config.continuous_codes:
            raise ValueError(f"code_index must be in 0..{self.config.continuous_codes - 1}")
        rows = torch.as_tensor(list(category_values), dtype=torch.long, device=self.device)
        z = self.prior.sample(1 if shared_noise else len(rows), generator=generator, device=self.device)
        z = z.expand(len(rows), -1).repeat_interleave(steps, 0)
        continuous = torch.zeros(len(rows) * steps, self.config.continuous_codes, device=self.device)
        continuous[:, code_index] = torch.linspace(low, high, steps, device=self.device).repeat(len(rows))
        return self.generate(z, rows.repeat_interleave(steps), continuous)

    def figure_grids(self, generator: torch.Generator | None = None) -> dict[str, tuple[Tensor, int]]:
        """The paper's Figure 2: each continuous code swept from −2 to 2 (columns), one row per category."""
        steps = 10
        return {
            f"traversal_code{j + 1}": (
                self.traversal_grid(range(self.config.categories), j, steps, generator=generator),
                steps,
            )
            for j in range(self.config.continuous_codes)
        }


# -- evaluation ------------------------------------------------------------------------------------
@torch.no_grad()
def categorical_code_accuracy(
    model: InfoGAN,
    classify: Callable[[Tensor], Tensor],
    n_per_code: int = 100,
    generator: torch.Generator | None = None,
    num_classes: int = 10,
) -> dict[str, Any]:
    """How well the categorical code controls the digit class of the samples.

    For each code value k, `n_per_code` samples with c_cat = k are classified (`classify` takes
    images in [0, 1], [N, C, H, W], and returns integer labels [N]); the K x `num_classes` confusion
    matrix code -> predicted class is matched one-to-one by the Hungarian algorithm (most matches),
    and the accuracy is the share of samples whose class is their code's match."""
    was_training = model.training
    model.eval()
    codes, labels = [], []
    try:
        for k in range(model.config.categories):
            images = model.sample(n_per_code, condition={"category": k}, generator=generator)
            predicted = torch.as_tensor(classify(to_unit(images, "symmetric"))).long().cpu()
            if len(predicted) != n_per_code or predicted.min() < 0 or predicted.max() >= num_classes:
                raise ValueError(f"classify must return {n_per_code} labels in 0..{num_classes - 1}")
            codes.append(torch.full_like(predicted, k))
            labels.append(predicted)
    finally:
        model.train(was_training)
    confusion = confusion_matrix(torch.cat(codes), torch.cat(labels), model.config.categories, num_classes)
    return hungarian_accuracy(confusion)


def real_digit_accuracy(model: InfoGAN, data: ImageSet, *, batch_size: int = 500) -> dict[str, Any]:
    """The categorical code as an unsupervised classifier of real digits, the paper's reading ("5%
    error"): Q's most probable code for each image of `data` (grey levels in [-1, 1]), matched
    one-to-one to the labels by the Hungarian algorithm."""
    if data.labels is None:
        raise ValueError(f"{data.name} has no labels to match the codes with")
    num_classes = int(data.labels.max()) + 1
    codes = torch.cat(
        [
            model.infer_category(batch["x"].to(model.device)).cpu()
            for batch in ordered_batches(data, View("symmetric", pad=model.default_view().pad), batch_size)
        ]
    )
    return hungarian_accuracy(confusion_matrix(codes, data.labels, model.config.categories, num_classes))
