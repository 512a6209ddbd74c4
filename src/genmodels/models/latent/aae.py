"""Adversarial autoencoder (Makhzani et al. 2015).

An autoencoder whose code distribution is matched to a prior p(z) by a GAN played in code space.
The encoder is deterministic, z = E(x) (as in the paper's main experiments), so the aggregated
posterior q(z) = ∫ q(z | x) p_data(x) dx is the distribution of the codes of the data. A
discriminator D(z) ∈ (0, 1) tells prior samples from codes, and the encoder, acting as the GAN's
generator, learns to fool it:

    min_{E, G} E_data[−log p_G(x | E(x))]                                    (reconstruction)
    min_D      −E_{z ~ p(z)}[log D(z)] − E_data[log(1 − D(E(x)))]             (discriminator)
    min_E      −E_data[log D(E(x))]                                          (generator)

three objectives, run in this order on every batch, each with its own optimiser: the
reconstruction phase updates encoder and decoder, the regularisation phase first D, then E
(non-saturating by default; `generator_loss = "minimax"` gives E_data[log(1 − D(E(x)))]). At the
game's optimum q(z) = p(z), so decoding prior samples, x ~ p_G(x | z) with z ~ p(z), generates
data. The GAN losses are the library's (`models/adversarial/losses.py`). Any prior that can be
sampled works (`models/latent/priors.py`): N(0, I), a mixture of 10 2-D Gaussians, a swiss roll,
a uniform box. The paper's MNIST codes are 2-D for the pictures (Fig. 4); so is the cpu preset.

The decoder p_G(x | z) is a pixel likelihood as in the VAE: Bernoulli on binarised images
(`levels = 2`) or a 256-way categorical on grey levels, so the reconstruction loss is a negative
log-likelihood in nats, summed over pixels and averaged over the batch. (The paper used a squared
error with sigmoid outputs on grey-level MNIST; here the loss is the likelihood the rest of the
library reports.)

Labels in the adversarial regularisation (the paper's Section 4, Fig. 4). With `labels` set, D
also sees a one-hot vector of K + 1 entries (K classes and a last "no label" slot), and the prior
sample paired with an example of label y comes from the prior's part y (mixture component y,
segment y of the swiss roll):

    D's real pairs:  (z ~ p(z | y), onehot(y))     D's fake pairs:  (E(x), onehot(y))

so the encoder must put the codes of class y into part y. An unlabelled example gets the "no
label" slot and a sample from the whole prior. "supervised": every example is labelled.
"semi_supervised": only the first `labelled` rows of the training set are (the batches carry
each row's index; mnist's train split is in a stratified random order, so the first 100 hold about
10 of each class).

A test digit is then classified by the part its code falls in (`prior.component_of`):
`component_agreement` and `semi_supervised_error` below. This is the label-regularised AAE of
the paper's Fig. 4; its Section 5 semi-supervised architecture (a categorical and a style code
with two discriminators) is `aae-categorical` (`categorical_aae.py`).

The encoder (the paper's Section 2 lists three choices): `encoder = "deterministic"`, z = E(x), the
default above; or `"gaussian"`, q(z | x) = N(μ(x), diag σ²(x)) sampled by reparameterisation
z = μ + σ ε in all three phases, which spreads each digit's code over a small cloud, so q(z) is a
smooth density the discriminator can match rather than 50,000 points (`encode` returns μ).
`batch_norm` normalises the hidden layers of the encoder and the decoder.

The balance of the three steps (issue 15; BENCHMARKS.md, "The AAE's balance"). With the
deterministic encoder and the rates above (reconstruction 5e-4, both adversarial steps 1e-3), the
encoder's adversarial step outweighs the reconstruction step: the codes fill the prior unevenly
and the samples are poor (on mnist-full after 8 minutes, FD-digits 543 and recall 0.22, against
the VAE's 240 and 0.82). The `full` preset changes three settings, each measured in turn on the
same data and budget:

- a Gaussian encoder, so that q(z) is a smooth density the discriminator can match rather than
  50,000 points it can tell from the prior (alone it helps little: FD 452);
- batch norm in the encoder and the decoder, which makes the Gaussian encoder work (FD 204, all
  10 classes, recall 0.75);
- an encoder adversarial step as fast as D's (lr_g 2e-4, lr_d 2e-4; reconstruction at the VAE's
  1e-3), found over the full hour (below).

The encoder's adversarial rate, each run the full hour on mnist-full (10,000 samples, the run's
weight snapshot with the lowest FD on `val`, the VAE measured the same way: FD 183.4, recall
0.837): 7e-5 gave FD 209.6 and recall 0.845, 1e-4 gave 190.7 and 0.824, 2e-4 gave 160.7 and
0.842 (the VAE's recall over three sample seeds: 0.835-0.840; this AAE's: 0.837-0.842), 3e-4
gave 135.2 and 0.832 (a second seed: 142.9 and 0.804), and the paper's rates with this encoder
(1e-3 for both adversarial steps) collapsed (FD 655, 8 classes). A faster encoder step matches the
prior better (lower FD) and, past 2e-4, covers fewer digits (lower recall). The samples swing
between snapshots (FD on val 165-223 over the last 50,000 steps of the 2e-4 run), so the weights
that a run ends with are a draw from that swing. So the `full` recipe also keeps an exponential
moving average of the weights (decay 0.999; sample from it with `--ema`): on a second seed the
average as the hour ended gave FD 154.7 and recall 0.839 (its raw weights 179.2 and 0.835), on
seed 0 175.0 and 0.841 (raw 195.2 and 0.818), against the VAE's 183.4 and 0.837, and
its snapshots' FD on val stayed within 150-162 over the last 40,000 steps. `zoo:aae` is that
average.
Over the hour σ(x) falls to about 1e-5 (nothing like the VAE's KL keeps it up); `min_std` floors
it, but a floor of 0.3 made the 8-minute screens' samples worse (FD 882 with a slow encoder step,
whose codes then spread to 5.5x the prior's scale to outrun the noise; 617.7 with a fast one), so
every preset leaves it at 0.

The cpu and paper presets keep the paper's deterministic encoder and 2-D codes for Fig. 4's picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.data import ImageSet, View, ordered_batches
from genmodels.models.adversarial.losses import GeneratorLoss, discriminator_loss, generator_loss
from genmodels.models.base import (
    GenerativeModel,
    Logs,
    ModelConfig,
    Objective,
    OptimizerSpec,
    full_sampler_recipe,
)
from genmodels.models.distributions import pixel_likelihood
from genmodels.models.latent.networks import ACTIVATIONS, decoder_logits, mlp, mlp_encoder_decoder, pixel_head
from genmodels.models.latent.priors import make_prior
from genmodels.registry import register


@dataclass
class AAEConfig(ModelConfig):
    levels: int = 2  # 2: Bernoulli decoder on binarised images; 256: categorical on grey levels
    latent_dim: int = 2
    prior: Literal["normal", "mixture", "swiss_roll", "uniform"] = "mixture"
    hidden: tuple[int, ...] = (1000, 1000)  # encoder widths (the decoder mirrors them)
    discriminator_hidden: tuple[int, ...] = (1000, 1000)
    activation: Literal["relu", "tanh", "elu", "softplus"] = "relu"
    encoder: Literal["deterministic", "gaussian"] = "deterministic"  # z = E(x), or z ~ N(μ(x), σ²(x))
    # The Gaussian encoder's σ is min_std + exp(½ log σ²(x)): nothing else keeps σ from shrinking
    # to 0 (the AAE has no KL term), and then the decoder only ever sees the data's exact codes.
    min_std: float = 0.0
    batch_norm: bool = False  # in the encoder's and the decoder's hidden layers
    labels: Literal["none", "supervised", "semi_supervised"] = "none"
    labelled: int = 100  # semi_supervised: the first this many rows of the training set are labelled
    num_classes: int = 10  # K: the prior's parts, one per class
    generator_loss: GeneratorLoss = "non_saturating"
    # Adam learning rates, found on MNIST with 2-D codes: a reconstruction step as large as the
    # adversarial ones lets the autoencoder ignore the prior (codes of a class land elsewhere).
    lr: float = 5e-4  # reconstruction (encoder + decoder)
    lr_d: float = 1e-3
    lr_g: float = 1e-3  # the encoder's adversarial step
    beta1: float = 0.5  # Adam's β1 of the two adversarial steps
    categorical_features: int = 32  # per-pixel features before the 256-way head (levels > 2 only)


@register("aae")
class AAE(GenerativeModel):
    """Adversarial autoencoder: a GAN on the codes matches them to any prior that can be sampled."""

    Config = AAEConfig
    equation: ClassVar[str] = (
        r"\min_{E,G} \mathbb{E}[-\log p_G(\mathbf{x}\mid E(\mathbf{x}))], \quad \min_E \max_D \ "
        r"\mathbb{E}_{p(\mathbf{z})}[\log D(\mathbf{z})] + \mathbb{E}_{\mathbf{x}}[\log(1 - "
        r"D(E(\mathbf{x})))]"
    )
    family = "latent"
    condition_kind: ClassVar[str] = "label"  # picks the prior's part: the class, when trained with labels
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Trains in about 5 minutes on 2 CPU cores; a 2-D code on the mixture, so the scatter of the
        # codes is the picture of the paper's Fig. 4.
        "cpu": {
            "hidden": (512, 512),
            "discriminator_hidden": (256, 256),
            "latent_dim": 2,
            "prior": "mixture",
        },
        # Makhzani et al. (2015), MNIST: encoder, decoder and discriminator each two ReLU layers of
        # 1000 units, a linear code; the 2-D code and 10-component mixture of Fig. 4.
        "paper": {
            "hidden": (1000, 1000),
            "discriminator_hidden": (1000, 1000),
            "latent_dim": 2,
            "prior": "mixture",
        },
        # Issue 15's balance, found by measurement (BENCHMARKS.md, "The AAE's balance"): the VAE's
        # `full` widths, a 10-d normal prior, a Gaussian encoder with batch norm, and the encoder's
        # adversarial step at D's rate.
        "full": {
            "hidden": (500, 500),
            "discriminator_hidden": (500, 500),
            "latent_dim": 10,
            "prior": "normal",
            "encoder": "gaussian",
            "batch_norm": True,
            "lr": 1e-3,
            "lr_d": 2e-4,
            "lr_g": 2e-4,
        },
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 4000, "batch_size": 100, "view": "static", "sample_every": 1000},
        # The paper's mini-batch of 100. The paper gives no epoch count: 200 is our GPU-sized
        # budget (give --epochs to change it).
        "paper": {"epochs": 200, "batch_size": 100, "view": "static"},
        # The VAE's `full` budget on mnist-full (batch 100, dynamic binarisation, cosine decay,
        # 60 minutes), so that the two samplers are compared on the same data and budget; an
        # average of the weights is kept beside them (ema.safetensors, `--ema` to sample from it),
        # because the raw weights swing from snapshot to snapshot (see the docstring).
        "full": full_sampler_recipe(
            100_000, batch_size=100, view="dynamic", lr_decay="cosine", ema_decay=0.999
        ),
    }

    def __init__(self, config: AAEConfig) -> None:
        super().__init__(config)
        colours = config.image_shape[0]
        parts = {"components": config.num_classes} if config.prior in ("mixture", "swiss_roll") else {}
        try:
            self.prior = make_prior(config.prior, config.latent_dim, **parts)
        except ValueError as error:
            raise ConfigError(f"aae config: {error}") from error
        if config.labels != "none" and self.prior.components is None:
            raise ConfigError(
                f"aae config: labels={config.labels!r} needs a prior with one part per class "
                f"('mixture' or 'swiss_roll'), not {config.prior!r}"
            )
        if config.min_std < 0 or (config.min_std > 0 and config.encoder != "gaussian"):
            raise ConfigError(
                f"aae config: min_std must be >= 0 and needs encoder='gaussian', got {config.min_std} "
                f"with encoder={config.encoder!r}"
            )
        if config.labels == "semi_supervised" and config.labelled < 0:
            raise ConfigError(f"aae config: labelled must be >= 0, got {config.labelled}")
        self.likelihood = pixel_likelihood(config.levels)
        out_channels, self.head = pixel_head(colours, config.levels, config.categorical_features)
        # A Gaussian encoder emits μ and log σ² for each code dimension.
        code_size = config.latent_dim * (2 if config.encoder == "gaussian" else 1)
        self.encoder, self.decoder = mlp_encoder_decoder(
            config.image_shape,
            config.hidden,
            code_size,
            config.latent_dim,
            out_channels,
            ACTIVATIONS[config.activation],
            config.batch_norm,
        )
        # D sees the code, and with labels a one-hot of K classes plus the "no label" slot.
        self.label_slots = 0 if config.labels == "none" else config.num_classes + 1
        self.discriminator = nn.Sequential(
            mlp([config.latent_dim + self.label_slots, *config.discriminator_hidden, 1], nn.ReLU),
            nn.Flatten(0),
        )

    # -- the networks ----------------------------------------------------------------------------
    def logits(self, z: Tensor) -> Tensor:
        """Parameters of p_G(x | z), shaped for the pixel likelihood."""
        return decoder_logits(self.decoder, self.head, z, self.config.image_shape, self.config.levels)

    def code(self, x: Tensor) -> Tensor:
        """The code the three phases use: E(x), or a draw μ(x) + σ(x) ε of the Gaussian encoder."""
        out = self.encoder(x)
        if self.config.encoder == "deterministic":
            return out
        mu, logvar = out.chunk(2, dim=1)
        return mu + (self.config.min_std + torch.exp(0.5 * logvar)) * torch.randn_like(mu)

    def critic(self, z: Tensor, slots: Tensor | None) -> Tensor:
        """D's logit for codes z, with their label slots (K = "no label") when trained with labels."""
        if slots is None:
            return self.discriminator(z)
        return self.discriminator(torch.cat([z, F.one_hot(slots, self.label_slots).to(z.dtype)], -1))

    # -- labels ----------------------------------------------------------------------------------
    def is_labelled(self, index: Tensor) -> Tensor:
        """Which rows count as labelled in the semi-supervised variant: the first `labelled` of the
        training set (the mnist train split is a stratified random order, so they are near-balanced)."""
        return index < self.config.labelled

    def slots(self, batch: dict[str, Tensor]) -> Tensor | None:
        """Each example's label slot for D: its class, or K ("no label"); None without labels."""
        if self.config.labels == "none":
            return None
        if "y" not in batch:
            raise ValueError(f"the {self.config.labels} AAE needs labelled data (the batch has no 'y')")
        y = batch["y"].long()
        if self.config.labels == "supervised":
            return y
        if "index" not in batch:
            raise ValueError("the semi-supervised AAE needs the batch's row indices ('index')")
        labelled = self.is_labelled(batch["index"])
        return torch.where(labelled, y, torch.full_like(y, self.config.num_classes))

    def prior_sample(self, slots: Tensor | None, n: int) -> Tensor:
        """p(z) for unlabelled rows, p(z | y) for rows of label y."""
        if slots is None:
            return self.prior.sample(n, device=self.device)
        labels = torch.where(slots < self.config.num_classes, slots, -1)  # −1: the whole prior
        return self.prior.sample(n, device=self.device, labels=labels)

    # -- the three objectives --------------------------------------------------------------------
    def reconstruction_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        x = batch["x"]
        recon = -self.likelihood.log_prob(self.logits(self.code(x)), x).mean()
        return recon, {"nll": recon.detach()}

    def discriminator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        x = batch["x"]
        slots = self.slots(batch)
        with torch.no_grad():
            codes = self.code(x)
        real_logits = self.critic(self.prior_sample(slots, len(x)), slots)
        fake_logits = self.critic(codes, slots)
        loss = discriminator_loss(real_logits, fake_logits)
        logs: Logs = {
            "D(prior)": torch.sigmoid(real_logits).mean().detach(),
            "D(code)": torch.sigmoid(fake_logits).mean().detach(),
        }
        if slots is not None:
            logs["labelled"] = (slots < self.config.num_classes).float().mean()
        return loss, logs

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        fake_logits = self.critic(self.code(batch["x"]), self.slots(batch))
        return generator_loss(fake_logits, self.config.generator_loss), {}

    def objectives(self) -> list[Objective]:
        autoencoder = [*self.encoder.parameters(), *self.decoder.parameters()]
        if self.head is not None:
            autoencoder += list(self.head.parameters())
        adversarial = OptimizerSpec(lr=self.config.lr_d, betas=(self.config.beta1, 0.999))
        return [
            Objective(
                "reconstruction",
                lambda: autoencoder,
                self.reconstruction_step,
                optimizer=OptimizerSpec(lr=self.config.lr),
            ),
            Objective(
                "discriminator", self.discriminator.parameters, self.discriminator_step, optimizer=adversarial
            ),
            Objective(
                "generator",
                self.encoder.parameters,
                self.generator_step,
                optimizer=OptimizerSpec(lr=self.config.lr_g, betas=(self.config.beta1, 0.999)),
            ),
        ]

    # -- latent-variable model -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The code z = E(x) (the mean μ(x) of a Gaussian encoder)."""
        return self.encoder(x)[:, : self.config.latent_dim]

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """The mean image E[x | z] (pixel probabilities for binary images)."""
        return self.likelihood.mean(self.logits(z))

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p_G(x | z), z ~ p(z), or z ~ p(z | y) for class labels `condition` (an int or [n] ints)."""
        labels = None
        if condition is not None:
            labels = torch.as_tensor(condition, dtype=torch.long, device=self.device)
            labels = labels.expand(n) if labels.dim() == 0 else labels
        z = self.prior.sample(n, generator=generator, device=self.device, labels=labels)
        return self.likelihood.sample(self.logits(z), generator=generator)


# -- measurements ------------------------------------------------------------------------------------
@torch.no_grad()
def classify_by_component(model: AAE, data: ImageSet, view: View, batch_size: int = 500) -> Tensor:
    """The prior part (mixture component, swiss-roll segment) that each image's code falls in."""
    if not hasattr(model.prior, "component_of"):
        raise ValueError(f"the {model.config.prior!r} prior has no components to classify by")
    was_training = model.training
    model.eval()
    parts = [
        model.prior.component_of(model.encode(batch["x"].to(model.device))).cpu()
        for batch in ordered_batches(data, view, batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts)


def component_agreement(model: AAE, data: ImageSet, view: View) -> float:
    """The share of images whose code falls in their own class's part of the prior (chance: 1/K)."""
    if data.labels is None:
        raise ValueError(f"{data.name} has no labels to compare the components with")
    return (classify_by_component(model, data, view) == data.labels.long()).float().mean().item()


def semi_supervised_error(model: AAE, data: ImageSet, view: View) -> float:
    """Test error of the classifier "the class is the part the code falls in": 1 − agreement.

    With labels in the regularisation, part k is class k by construction (no matching of parts to
    classes is needed or done), so this is the same number as `component_agreement`, read as an
    error rate: it is the semi-supervised variant's classification error.
    """
    return 1.0 - component_agreement(model, data, view)
