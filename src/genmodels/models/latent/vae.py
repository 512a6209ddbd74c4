"""Variational autoencoder (Kingma & Welling 2014), with the importance-weighted bound of Burda et al. (2015).

An encoder q_φ(z | x) = N(μ_φ(x), diag σ²_φ(x)) and a decoder p_θ(x | z) (Bernoulli for binary
pixels, a 256-way categorical for 8-bit) are trained together by maximising the evidence lower bound

    ELBO(x) = E_q[log p_θ(x | z)] − KL(q_φ(z | x) || p(z)),       p(z) = N(0, I),

with the reparameterisation z = μ + σ ⊙ ε, ε ~ N(0, I), and the KL of two Gaussians in closed form

    KL(N(μ, σ²) || N(0, 1)) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1).

The gap is exactly the posterior mismatch: log p(x) = ELBO(x) + KL(q_φ(z | x) || p_θ(z | x)).
The density is estimated by the importance-weighted bound with k samples z_i ~ q(z | x),

    L_k(x) = log (1/k) Σ_i p_θ(x | z_i) p(z_i) / q_φ(z_i | x),      L_1 = ELBO ≤ L_k ≤ L_{k+1} ≤ log p(x),

computed in chunks of samples with a running logsumexp. The loss is −ELBO summed over pixels and
averaged over the batch; recon and KL are logged as the two terms, unweighted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genmodels.models.base import (
    GenerativeModel,
    Logs,
    ModelConfig,
    Objective,
    OptimizerSpec,
    full_mnist_recipe,
)
from genmodels.models.distributions import pixel_likelihood
from genmodels.models.latent.networks import ACTIVATIONS, decoder_logits, mlp_encoder_decoder, pixel_head
from genmodels.models.latent.priors import StandardNormal
from genmodels.registry import register


@dataclass
class VAEConfig(ModelConfig):
    levels: int = 2  # 2: Bernoulli decoder on binarised images; 256: categorical on grey levels
    latent_dim: int = 50
    architecture: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (500, 500)  # MLP widths (the decoder mirrors them)
    channels: tuple[int, ...] = (32, 64)  # conv widths, each a stride-2 layer
    activation: Literal["relu", "tanh", "elu", "softplus"] = "relu"
    iw_samples: int = 1000  # k of the importance-weighted log_prob
    lr: float = 1e-3
    categorical_features: int = 32  # per-pixel features before the 256-way head (levels > 2 only)


def gaussian_kl_to_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) in closed form, per example."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(-1)


def diagonal_gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


@register("vae")
class VAE(GenerativeModel):
    """VAE: maximise the ELBO, reconstruction minus KL(q(z | x) || p(z)); log p(x) by importance weighting."""

    Config = VAEConfig
    equation: ClassVar[str] = (
        r"\log p(\mathbf{x}) \ge \mathbb{E}_{q_\phi(\mathbf{z}\mid\mathbf{x})}[\log "
        r"p_\theta(\mathbf{x}\mid\mathbf{z})] - \mathrm{KL}\big(q_\phi(\mathbf{z}\mid\mathbf{x}) "
        r"\,\|\, p(\mathbf{z})\big)"
    )
    family = "latent"
    log_prob_is_exact = False  # log_prob is the importance-weighted bound L_k, not log p(x)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Trains in a few minutes on 2 CPU cores; see BENCHMARKS.md for what it reaches.
        "cpu": {"architecture": "mlp", "hidden": (512, 256), "latent_dim": 32, "activation": "elu"},
        # Burda et al. (2015), one stochastic layer: 784-200-200-50, tanh.
        "paper": {"architecture": "mlp", "hidden": (200, 200), "latent_dim": 50, "activation": "tanh"},
        # One stochastic layer, wider than Burda et al.'s: 784-500-500-50 (ELU), trained on the ELBO.
        "full": {"architecture": "mlp", "hidden": (500, 500), "latent_dim": 50, "activation": "elu"},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # Dynamic binarisation (fresh Bernoulli pixels every batch) is the regulariser that lets
        # 4,000 digits train this long without over-fitting; evaluation stays on static binarisation.
        "cpu": {"steps": 5000, "batch_size": 100, "view": "dynamic", "sample_every": 1000},
        # Burda et al.: batch 20, Adam; their 3,280 passes are a GPU budget (give --epochs).
        "paper": {"epochs": 3280, "batch_size": 20, "view": "dynamic"},
        # 17-20 ms a step on one core of the busy 2-core machine: 150,000 steps (300 epochs of
        # mnist-full) end inside the hour, with the cosine decay run to its end.
        "full": full_mnist_recipe(150_000, snapshot_every=10_000),
    }

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        colours = config.image_shape[0]
        self.likelihood = pixel_likelihood(config.levels)
        self.prior = StandardNormal(config.latent_dim)
        activation = ACTIVATIONS[config.activation]
        out_channels, self.head = pixel_head(colours, config.levels, config.categorical_features)
        if config.architecture == "mlp":
            self.encoder, self.decoder = mlp_encoder_decoder(
                config.image_shape,
                config.hidden,
                2 * config.latent_dim,
                config.latent_dim,
                out_channels,
                activation,
            )
        else:
            self.encoder, self.decoder = self._conv_networks(config, out_channels, activation)

    @staticmethod
    def _conv_networks(
        config: VAEConfig, out_channels: int, activation: type[nn.Module]
    ) -> tuple[nn.Module, nn.Module]:
        c, h, w = config.image_shape
        factor = 2 ** len(config.channels)
        if h % factor or w % factor:
            raise ValueError(
                f"conv VAE with {len(config.channels)} stride-2 layers needs H, W divisible by {factor}"
            )
        widths = [c, *config.channels]
        down: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(widths):
            down += [nn.Conv2d(n_in, n_out, 4, 2, 1), activation()]
        bottom = (widths[-1], h // factor, w // factor)
        flat = math.prod(bottom)
        encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, 2 * config.latent_dim))
        up: list[nn.Module] = [nn.Linear(config.latent_dim, flat), activation(), nn.Unflatten(1, bottom)]
        ups = [*reversed(config.channels), out_channels]
        for i, (n_in, n_out) in enumerate(itertools.pairwise(ups)):
            up.append(nn.ConvTranspose2d(n_in, n_out, 4, 2, 1))
            if i < len(ups) - 2:
                up.append(activation())
        return encoder, nn.Sequential(*up)

    # -- the two networks ------------------------------------------------------------------------
    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q_φ(z | x): mean and log-variance."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def logits(self, z: Tensor) -> Tensor:
        """Parameters of p_θ(x | z), shaped for the pixel likelihood."""
        return decoder_logits(self.decoder, self.head, z, self.config.image_shape, self.config.levels)

    # -- the objective ---------------------------------------------------------------------------
    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per example: recon = log p_θ(x | z) at one reparameterised z, kl, and elbo = recon − kl."""
        mu, logvar = self.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.likelihood.log_prob(self.logits(z), x)
        kl = gaussian_kl_to_standard(mu, logvar)
        return {"recon": recon, "kl": kl, "elbo": recon - kl}

    def negative_elbo(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        terms = self.elbo_terms(batch["x"])
        logs = {name: value.detach().mean() for name, value in terms.items()}
        return -terms["elbo"].mean(), logs

    def objectives(self) -> list[Objective]:
        return [
            Objective("elbo", self.parameters, self.negative_elbo, optimizer=OptimizerSpec(lr=self.config.lr))
        ]

    # -- density ---------------------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(
        self, x: Tensor, condition: Any = None, *, k: int | None = None, chunk: int | None = None
    ) -> Tensor:
        """The importance-weighted bound L_k per example; k = config.iw_samples by default, k = 1 the ELBO."""
        k = k or self.config.iw_samples
        mu, logvar = self.posterior(x)
        std = torch.exp(0.5 * logvar)
        # Keep each chunk's decoder output near 2^24 numbers so memory stays flat whatever k is.
        per_sample = len(x) * math.prod(self.likelihood.logits_shape(self.config.image_shape))
        chunk = chunk or max(1, min(k, 2**24 // per_sample))
        partial = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            z = mu + std * torch.randn(n, *mu.shape, device=x.device, dtype=mu.dtype)  # [n, B, D]
            flat_z = z.reshape(-1, z.shape[-1])
            x_rep = x.unsqueeze(0).expand(n, *x.shape).reshape(-1, *x.shape[1:])
            log_px_z = self.likelihood.log_prob(self.logits(flat_z), x_rep).view(n, len(x))
            log_w = log_px_z + self.prior.log_prob(z) - diagonal_gaussian_log_prob(z, mu, logvar)
            partial.append(torch.logsumexp(log_w, dim=0))
        return torch.logsumexp(torch.stack(partial), dim=0) - math.log(k)

    # -- latent-variable model -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean μ_φ(x): the code used for plots and interpolation."""
        return self.posterior(x)[0]

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """The mean image E[x | z] (pixel probabilities for binary images)."""
        return self.likelihood.mean(self.logits(z))

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """x ~ p_θ(x | z), z ~ p(z): real draws of every pixel, not the decoder's mean."""
        z = self.prior.sample(n, generator=generator, device=self.device)
        return self.likelihood.sample(self.logits(z), generator=generator)
