"""Adversarial autoencoder with a categorical and a style code (Makhzani et al. 2015, Sections 5-6).

The encoder q(y, z | x) splits its output in two: a class code y, a softmax over K values, and a
continuous style code z. The decoder p(x | y, z) reads both. Two discriminators impose the two
priors on the aggregated posteriors: D_y tells one-hot vectors drawn from Cat(K) from the encoder's
softmax outputs, D_z tells N(0, I) draws from the style codes. Because y must look one-hot and
uniform, and z carries no class information (its prior is the same for every class), the encoder
is pushed to put the class into y and everything else (slant, width, thickness) into z.

Each step runs the paper's phases as objectives of the one trainer, in order:

    reconstruction  (encoder, decoder):  E[−log p(x | y(x), z(x))]
    discriminator   (D_y, D_z):          −E log D_y(y ~ Cat) − E log(1 − D_y(y(x)))
                                         −E log D_z(z ~ N)  − E log(1 − D_z(z(x)))
    generator       (encoder):           −E log D_y(y(x)) − E log D_z(z(x))     (non-saturating)
    classification  (encoder; semi-supervised only):  E_labelled[−log q(y = label | x)]

Semi-supervised (Section 5): the training data carry a `labelled` field (`mnist-full[labelled=100]`:
the copies of 100 labelled digits fill half of every batch, `genmodels.data.derived`). The first
three phases read the unlabelled rows only, the fourth the labelled rows only, and a label is never
read from a row marked unlabelled. A test digit is classified by argmax_k q(y = k | x); the code is
the class by construction, no matching is done (`classification_error`).

Unsupervised clustering (Section 6): no labels at all, K = 16 or 30 clusters. Each cluster is then
named by the majority label of the validation digits it holds, and the test error is the share of
test digits whose cluster's name is not their label (`clustering_error`). (The paper named each
cluster by the one validation digit of highest q(y | x); the majority of the cluster's validation
digits uses more labels, a few hundred per cluster, and is the more common reading.)

As in the AAE of `aae.py`, the decoder is a pixel likelihood (Bernoulli on binarised digits), so
the reconstruction term is a negative log-likelihood in nats; the paper used a squared error on
grey levels. Samples: y ~ Cat(K) one-hot (or the class asked for), z ~ N(0, I), x ~ p(x | y, z);
with z fixed and y varied, the class changes and the style stays (the paper's Fig. 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.config import ConfigError
from genmodels.data import ImageSet, View, ordered_batches
from genmodels.evaluation.clustering import confusion_matrix, majority_accuracy
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
from genmodels.registry import register


@dataclass
class CategoricalAAEConfig(ModelConfig):
    levels: int = 2  # 2: Bernoulli decoder on binarised images; 256: categorical on grey levels
    classes: int = 10  # K: values of the categorical code (clusters when unsupervised)
    style_dim: int = 10  # the continuous style code z
    hidden: tuple[int, ...] = (1000, 1000)  # encoder widths (the decoder mirrors them)
    discriminator_hidden: tuple[int, ...] = (1000, 1000)  # each of D_y and D_z
    activation: Literal["relu", "tanh", "elu", "softplus"] = "relu"
    batch_norm: bool = False  # in the encoder's and the decoder's hidden layers (as the AAE's)
    # Set from the training data: whether it has a `labelled` field (the fourth phase).
    semi_supervised: bool = False
    generator_loss: GeneratorLoss = "non_saturating"
    lr: float = 1e-3  # reconstruction and classification (encoder + decoder)
    lr_d: float = 2e-4
    lr_g: float = 2e-4  # the encoder's adversarial step
    beta1: float = 0.5  # Adam's β1 of the two adversarial steps
    categorical_features: int = 32  # per-pixel features before the 256-way head (levels > 2 only)


@register("aae-categorical")
class CategoricalAAE(GenerativeModel):
    """Adversarial autoencoder with a categorical class code and a style code, one discriminator each."""

    Config = CategoricalAAEConfig
    equation: ClassVar[str] = (
        r"q(\mathbf{y}, \mathbf{z} \mid \mathbf{x}): \ D_y \text{ matches } q(\mathbf{y}) \text{ "
        r"to } \mathrm{Cat}(K), \ D_z \text{ matches } q(\mathbf{z}) \text{ to } \mathcal{N}(0, "
        r"I), \ \min \mathbb{E}[-\log p(\mathbf{x} \mid \mathbf{y}, \mathbf{z})]"
    )
    family = "latent"
    condition_kind: ClassVar[str] = "label"  # the categorical code's value
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The paper's MNIST networks (Appendix): two ReLU layers of 1000 units for the encoder, the
        # decoder and each discriminator; a 10-d style code.
        "paper": {"hidden": (1000, 1000), "discriminator_hidden": (1000, 1000), "style_dim": 10},
        "cpu": {"hidden": (512, 512), "discriminator_hidden": (256, 256), "style_dim": 10},
        # The cpu network on mnist-full, for issue 15's error rates (K from --set classes=16 or 30).
        "full": {"hidden": (512, 512), "discriminator_hidden": (256, 256), "style_dim": 10},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 5000, "batch_size": 200, "view": "dynamic", "sample_every": 1000},
        "paper": {"epochs": 200, "batch_size": 200, "view": "dynamic"},
        # Semi-supervised (`mnist-full[labelled=100]`) or unsupervised (`mnist-full`) on the 50,000
        # training digits; the budget, not the count, ends it (0.05 s a step on one core).
        "full": full_sampler_recipe(200_000, batch_size=200, view="dynamic"),
    }

    def __init__(self, config: CategoricalAAEConfig) -> None:
        super().__init__(config)
        if config.classes < 2 or config.style_dim < 1:
            raise ConfigError(
                f"aae-categorical config: classes must be >= 2 and style_dim >= 1, "
                f"got {config.classes} and {config.style_dim}"
            )
        self.likelihood = pixel_likelihood(config.levels)
        out_channels, self.head = pixel_head(
            config.image_shape[0], config.levels, config.categorical_features
        )
        activation = ACTIVATIONS[config.activation]
        self.encoder, self.decoder = mlp_encoder_decoder(
            config.image_shape,
            config.hidden,
            config.classes + config.style_dim,  # the class logits, then the style
            config.classes + config.style_dim,  # the decoder reads [y, z]
            out_channels,
            activation,
            config.batch_norm,
        )
        self.class_critic = nn.Sequential(
            mlp([config.classes, *config.discriminator_hidden, 1], nn.ReLU), nn.Flatten(0)
        )
        self.style_critic = nn.Sequential(
            mlp([config.style_dim, *config.discriminator_hidden, 1], nn.ReLU), nn.Flatten(0)
        )

    @classmethod
    def settings_from_data(cls, data: ImageSet) -> dict[str, Any]:
        return {"semi_supervised": "labelled" in data.fields}

    # -- the networks ----------------------------------------------------------------------------
    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(y | x) as logits [n, K] and the style z(x) [n, style_dim]."""
        out = self.encoder(x)
        return out[:, : self.config.classes], out[:, self.config.classes :]

    def logits(self, code: Tensor) -> Tensor:
        """Parameters of p(x | y, z) for codes [y, z] (y one-hot or a softmax)."""
        return decoder_logits(self.decoder, self.head, code, self.config.image_shape, self.config.levels)

    def prior_codes(
        self, n: int, *, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """[y, z] with y ~ Cat(K) one-hot (or the given labels) and z ~ N(0, I)."""
        if labels is None:
            labels = torch.randint(self.config.classes, (n,), generator=generator, device=self.device)
        y = F.one_hot(labels.long(), self.config.classes).float()
        z = torch.randn(n, self.config.style_dim, generator=generator, device=self.device)
        return torch.cat([y, z], 1)

    # -- which rows each phase reads -------------------------------------------------------------
    def _rows(self, batch: dict[str, Tensor], labelled: bool) -> Tensor:
        """The batch's unlabelled rows (labelled=False) or labelled rows; every row when unsupervised."""
        if not self.config.semi_supervised:
            return torch.ones(len(batch["x"]), dtype=torch.bool, device=batch["x"].device)
        if "labelled" not in batch:
            raise ValueError(
                "the semi-supervised model needs data with a `labelled` field (e.g. mnist-full[labelled=100])"
            )
        return batch["labelled"].bool() == labelled

    # -- the phases ------------------------------------------------------------------------------
    def reconstruction_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        x = batch["x"][self._rows(batch, labelled=False)]
        class_logits, style = self.posterior(x)
        code = torch.cat([class_logits.softmax(1), style], 1)
        recon = -self.likelihood.log_prob(self.logits(code), x).mean()
        return recon, {"nll": recon.detach()}

    def discriminator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        x = batch["x"][self._rows(batch, labelled=False)]
        with torch.no_grad():
            class_logits, style = self.posterior(x)
        prior = self.prior_codes(len(x))
        y_prior, z_prior = prior[:, : self.config.classes], prior[:, self.config.classes :]
        real_y, fake_y = self.class_critic(y_prior), self.class_critic(class_logits.softmax(1))
        real_z, fake_z = self.style_critic(z_prior), self.style_critic(style)
        loss = discriminator_loss(real_y, fake_y) + discriminator_loss(real_z, fake_z)
        return loss, {
            "D_y(prior)": torch.sigmoid(real_y).mean().detach(),
            "D_y(code)": torch.sigmoid(fake_y).mean().detach(),
            "D_z(prior)": torch.sigmoid(real_z).mean().detach(),
            "D_z(code)": torch.sigmoid(fake_z).mean().detach(),
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        class_logits, style = self.posterior(batch["x"][self._rows(batch, labelled=False)])
        kind = self.config.generator_loss
        fool_y = generator_loss(self.class_critic(class_logits.softmax(1)), kind)
        fool_z = generator_loss(self.style_critic(style), kind)
        return fool_y + fool_z, {"fool_y": fool_y.detach(), "fool_z": fool_z.detach()}

    def classification_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        rows = self._rows(batch, labelled=True)
        class_logits, _ = self.posterior(batch["x"][rows])
        labels = batch["y"][rows].long()
        if not len(labels):  # a batch without labelled rows: nothing to learn from, a zero step
            return class_logits.sum() * 0.0, {}
        loss = F.cross_entropy(class_logits, labels)
        accuracy = (class_logits.argmax(1) == labels).float().mean()
        return loss, {"accuracy": accuracy.detach()}

    def validation_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Semi-supervised: the error of argmax_k q(y = k | x) on the validation digits not marked
        labelled (their labels are read here, for model selection only), so that early stopping
        (`--val-split val --val-every N --patience K`) keeps the weights from before the
        classification phase over-fits its few labels. The error, not −log q(label | x): the
        cross-entropy on val rose from step 1,000 on (the code growing confident) while the error
        was still falling (100 labels: stopped at 24.1%, against 11.85% at step 19,000).
        Unsupervised: the reconstruction NLL, as every model's default."""
        if not self.config.semi_supervised:
            return super().validation_loss(batch)
        rows = self._rows(batch, labelled=False)
        class_logits, _ = self.posterior(batch["x"][rows])
        wrong = (class_logits.argmax(1) != batch["y"][rows].long()).float()
        return (wrong.mean() if len(wrong) else wrong.sum()), len(wrong)

    def objectives(self) -> list[Objective]:
        config = self.config
        autoencoder = [*self.encoder.parameters(), *self.decoder.parameters()]
        if self.head is not None:
            autoencoder += list(self.head.parameters())
        adversarial = {"betas": (config.beta1, 0.999)}
        objectives = [
            Objective(
                "reconstruction",
                lambda: autoencoder,
                self.reconstruction_step,
                optimizer=OptimizerSpec(lr=config.lr),
            ),
            Objective(
                "discriminator",
                lambda: [*self.class_critic.parameters(), *self.style_critic.parameters()],
                self.discriminator_step,
                optimizer=OptimizerSpec(lr=config.lr_d, **adversarial),
            ),
            Objective(
                "generator",
                self.encoder.parameters,
                self.generator_step,
                optimizer=OptimizerSpec(lr=config.lr_g, **adversarial),
            ),
        ]
        if config.semi_supervised:
            objectives.append(
                Objective(
                    "classification",
                    self.encoder.parameters,
                    self.classification_step,
                    optimizer=OptimizerSpec(lr=config.lr),
                )
            )
        return objectives

    # -- latent-variable model -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The code [q(y | x), z(x)]: class probabilities, then the style."""
        class_logits, style = self.posterior(x)
        return torch.cat([class_logits.softmax(1), style], 1)

    @torch.no_grad()
    def decode(self, code: Tensor) -> Tensor:
        """The mean image E[x | y, z] (pixel probabilities for binary images)."""
        return self.likelihood.mean(self.logits(code))

    def draw_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.prior_codes(n, generator=generator)

    def sample_labels(self) -> int:
        return self.config.classes

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """argmax_k q(y = k | x): the class (semi-supervised) or the cluster (unsupervised)."""
        return self.posterior(x)[0].argmax(1)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p(x | y, z), y ~ Cat(K) or the class `condition` (an int or [n] ints), z ~ N(0, I)."""
        labels = None
        if condition is not None:
            labels = torch.as_tensor(condition, dtype=torch.long, device=self.device)
            labels = labels.expand(n) if labels.dim() == 0 else labels
            if int(labels.min()) < 0 or int(labels.max()) >= self.config.classes:
                raise ValueError(f"a class must lie in 0..{self.config.classes - 1}")
        code = self.prior_codes(n, labels=labels, generator=generator)
        return self.likelihood.sample(self.logits(code), generator=generator)


# -- measurements ------------------------------------------------------------------------------------
@torch.no_grad()
def predicted_codes(model: CategoricalAAE, data: ImageSet, view: View, batch_size: int = 500) -> Tensor:
    """argmax_k q(y = k | x) for every image of `data`, in order."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model.predict(b["x"].to(model.device)).cpu() for b in ordered_batches(data, view, batch_size)]
        )
    finally:
        model.train(was_training)


def classification_error(model: CategoricalAAE, data: ImageSet, view: View) -> float:
    """Semi-supervised: the share of `data` whose code is not its label (code k is class k)."""
    if data.labels is None:
        raise ValueError(f"{data.name} has no labels")
    return (predicted_codes(model, data, view) != data.labels.long()).float().mean().item()


def clustering_error(model: CategoricalAAE, val: ImageSet, test: ImageSet, view: View) -> dict[str, Any]:
    """Unsupervised: clusters named by the majority label of their `val` digits; the test error."""
    if val.labels is None or test.labels is None:
        raise ValueError("clustering error needs labelled validation and test data")
    classes = int(max(val.labels.max(), test.labels.max())) + 1
    naming = majority_accuracy(
        confusion_matrix(predicted_codes(model, val, view), val.labels, model.config.classes, classes)
    )
    names = torch.tensor([naming["matching"].get(k, -1) for k in range(model.config.classes)])
    test_codes = predicted_codes(model, test, view)
    error = (names[test_codes] != test.labels.long()).float().mean().item()
    return {
        "test_error": error,
        "cluster_names": naming["matching"],
        "clusters_used": int((torch.bincount(test_codes, minlength=model.config.classes) > 0).sum()),
    }
