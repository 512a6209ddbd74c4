"""Text-to-image GAN, GAN-INT-CLS (Reed et al. 2016): G(z, φ(t)) draws an image that a sentence t
describes; a matching-aware D judges image and sentence together.

Text embedding. A sentence encoder φ (`models/text.py`) maps t to a vector; both G and D compress it
with their own fully connected layer and leaky ReLU (1024 -> 128 in the paper; here text_dim -> 128).
In the paper φ is a char-CNN-RNN pre-trained with a structured joint embedding of images and
sentences, then frozen. Here the built-in `CharEncoder` learns the same kind of joint embedding as a
first objective on the same batches: a small image encoder f and φ are trained so that an image and
its own caption score highest among the batch (a symmetric cross-entropy over the cosine scores
f(x_i) · φ(t_j) / τ; rows with byte-identical captions share the target). G and D read φ(t)
detached, as they would read a frozen encoder. With `text_encoder = "minilm"` the pretrained
all-MiniLM-L6-v2 is used frozen and this objective is dropped.

Generator. z ~ N(0, I) (100-d) concatenated with the compressed embedding; DCGAN's up-sampling path
(transposed convolutions, batch norm, ReLU, tanh): x̂ = G(z, φ(t)).

Matching-aware discriminator (GAN-CLS). D's convolutions reduce the image to a small map (4x4 in
the paper; 7x7 for 28 pixels), the compressed embedding is replicated over that map and
concatenated, and a 1x1 convolution and a last convolution give the score s = D(x, φ). Besides
real and fake images, D must learn to reject real images with the wrong sentence:

    s_r = D(x, φ(t)),   s_w = D(x, φ(t̂)),   s_f = D(G(z, φ(t)), φ(t)),
    L_D = −log D(s_r) − ½ [log(1 − D(s_w)) + log(1 − D(s_f))],

where t̂ is a caption of another image that really does not match (`mismatched_rows`: a different
caption and, where labels exist, a different digit; a shuffled batch alone pairs many images with a
caption of their own class). D's output is logits, so log D = −softplus(−s).

Interpolation (GAN-INT). Embeddings between those of two training sentences are also plausible
sentences; G is trained on them too, with D judging the pair (G(z, φ̄), φ̄):

    φ̄ = β φ(t_1) + (1 − β) φ(t_2),  β = 0.5,
    L_G = −log D(G(z, φ(t)), φ(t)) − w_int log D(G(z, φ̄), φ̄)   (non-saturating; w_int = 1).

Adam 2e-4, β1 = 0.5, as in the paper and DCGAN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.models.adversarial.base import AdversarialModel, dcgan_init
from genmodels.models.adversarial.dcgan import doublings, downsampling, upsampling
from genmodels.models.base import Logs, ModelConfig, Objective, OptimizerSpec
from genmodels.models.text import make_text_encoder, tokens
from genmodels.registry import register


@dataclass
class Text2ImageConfig(ModelConfig):
    latent_dim: int = 100
    text_encoder: Literal["char", "minilm"] = "char"
    text_dim: int = 128  # φ's size for the built-in encoder (MiniLM's is 384)
    projected_dim: int = 128  # the compressed embedding that G and D read
    channels: int = 64  # feature maps of the largest hidden layer; each smaller map has twice as many
    interpolation_weight: float = 1.0  # w_int; 0 gives GAN-CLS without INT
    interpolation_beta: float = 0.5
    temperature: float = 0.1  # τ of the joint embedding's scores
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    lr_embedding: float = 1e-3
    beta1: float = 0.5


# -- the losses ------------------------------------------------------------------------------------
def matching_aware_loss(real_logits: Tensor, mismatched_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """L_D = −log D(s_r) − ½ [log(1 − D(s_w)) + log(1 − D(s_f))], averaged over the batch."""
    real = F.softplus(-real_logits).mean()
    return real + 0.5 * (F.softplus(mismatched_logits).mean() + F.softplus(fake_logits).mean())


def joint_embedding_loss(
    image_vectors: Tensor, text_vectors: Tensor, text: Tensor, temperature: float
) -> Tensor:
    """Symmetric cross-entropy of the cosine scores: each image picks its caption among the batch's
    captions and each caption its image. Byte-identical captions are the same sentence: the target
    spreads evenly over them (else the loss would push a sentence away from itself)."""
    scores = F.normalize(image_vectors, dim=1) @ F.normalize(text_vectors, dim=1).T / temperature
    same = (text[:, None, :] == text[None, :, :]).all(-1).float()
    targets = same / same.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(scores, targets) + F.cross_entropy(scores.T, targets))


def mismatched_rows(
    text: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """For each row i, a random row j whose caption differs and, with labels, whose label differs too.

    Rows with no such partner in the batch (a batch of one digit and one caption) fall back to any
    other row. Returns indices [B]."""
    differs = ~(text[:, None, :] == text[None, :, :]).all(-1)
    if labels is not None:
        differs &= labels[:, None] != labels[None, :]
    fallback = ~torch.eye(len(text), dtype=torch.bool, device=text.device)
    allowed = torch.where(differs.any(1, keepdim=True), differs, fallback)
    if len(text) == 1:
        return torch.zeros(1, dtype=torch.long, device=text.device)
    return torch.multinomial(allowed.float(), 1, generator=generator).squeeze(1)


# -- the networks ----------------------------------------------------------------------------------
class MatchingDiscriminator(nn.Module):
    """D(x, φ): convolutions to a small map, the compressed φ replicated over it, then the score."""

    def __init__(self, colours: int, widths: list[int], start: int, text_dim: int, projected: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*downsampling(colours, widths[::-1]))
        self.compress = nn.Sequential(nn.Linear(text_dim, projected), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(
            nn.Conv2d(widths[0] + projected, widths[0], 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[0], 1, start),
            nn.Flatten(0),
        )

    def score(self, features: Tensor, phi: Tensor) -> Tensor:
        """Logits from the image's features (`trunk(x)`) and a sentence embedding."""
        h = self.compress(phi)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.joint(torch.cat([features, h], 1))

    def forward(self, x: Tensor, phi: Tensor) -> Tensor:
        return self.score(self.trunk(x), phi)


class ConditionalGenerator(nn.Module):
    """G(z, φ): [z, compress(φ)] -> DCGAN's up-sampling path -> tanh."""

    def __init__(
        self, latent: int, text_dim: int, projected: int, widths: list[int], start: int, colours: int
    ) -> None:
        super().__init__()
        self.compress = nn.Sequential(nn.Linear(text_dim, projected), nn.LeakyReLU(0.2))
        up: list[nn.Module] = [
            nn.Unflatten(1, (latent + projected, 1, 1)),
            nn.ConvTranspose2d(latent + projected, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        self.up = nn.Sequential(*up, *upsampling(widths, colours))

    def forward(self, z: Tensor, phi: Tensor) -> Tensor:
        return self.up(torch.cat([z, self.compress(phi)], 1))


def image_encoder(colours: int, widths: list[int], dim: int) -> nn.Module:
    """f(x) of the joint embedding: a small convolutional net to a vector the size of φ."""
    layers: list[nn.Module] = []
    n_in = colours
    for n_out in reversed(widths):
        layers += [nn.Conv2d(n_in, n_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        n_in = n_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(n_in, dim))


@register("text2image")
class TextToImageGAN(AdversarialModel):
    """GAN-INT-CLS: G(z, φ(t)) draws what a sentence says; a matching-aware D judges image and sentence."""

    Config = Text2ImageConfig
    equation: ClassVar[str] = (
        r"L_D = -\log D(\mathbf{x}, \mathbf{t}) - \tfrac12\big[\log(1 - D(\mathbf{x}, "
        r"\hat{\mathbf{t}})) + \log(1 - D(G(\mathbf{z}, \mathbf{t}), \mathbf{t}))\big]"
    )
    condition_kind: ClassVar[str] = "text"  # a sentence, a list of n sentences, or byte rows [n, L]
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"latent_dim": 64, "channels": 32, "text_dim": 128, "projected_dim": 64},
        "paper": {"latent_dim": 100, "channels": 64, "text_dim": 1024, "projected_dim": 128},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"steps": 4000, "batch_size": 64, "sample_every": 1000},
        "paper": {"epochs": 600, "batch_size": 64},
    }

    def __init__(self, config: Text2ImageConfig) -> None:
        super().__init__(config)
        colours, height, width = config.image_shape
        if height != width:
            raise ValueError(f"text2image takes square images, got {height}x{width}")
        start, count = doublings(height)
        widths = [config.channels * 2**i for i in reversed(range(count))]
        self.text_encoder = make_text_encoder(config.text_encoder, config.text_dim)
        text_dim = self.text_encoder.dim
        self.generator = ConditionalGenerator(
            config.latent_dim, text_dim, config.projected_dim, widths, start, colours
        )
        self.discriminator = MatchingDiscriminator(colours, widths, start, text_dim, config.projected_dim)
        self.generator.apply(dcgan_init)
        self.discriminator.apply(dcgan_init)
        self.image_encoder = image_encoder(colours, widths, text_dim) if self.text_encoder.trainable else None

    # -- the sentence embedding ----------------------------------------------------------------
    def embed(self, text: str | list[str] | Tensor) -> Tensor:
        """φ(t) [B, text_dim], detached: G and D read the encoder, they do not train it."""
        with torch.no_grad():
            return self.text_encoder(tokens(text, self.device))

    @staticmethod
    def _text(batch: dict[str, Tensor]) -> Tensor:
        if "text" not in batch:
            raise ValueError(
                "text2image trains on captioned images: use a data set with captions, "
                "e.g. 'mnist[captions]' or 'captions:FILE.jsonl'"
            )
        return batch["text"]

    # -- the objectives --------------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        adam = OptimizerSpec(lr=self.config.lr_embedding)
        embedding = []
        if self.image_encoder is not None:
            image_encoder = self.image_encoder
            embedding.append(
                Objective(
                    "embedding",
                    lambda: itertools.chain(image_encoder.parameters(), self.text_encoder.parameters()),
                    self.embedding_step,
                    optimizer=adam,
                )
            )
        return [*embedding, *super().objectives()]

    def embedding_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        text = self._text(batch)
        image_vectors, text_vectors = self.image_encoder(batch["x"]), self.text_encoder(text)
        loss = joint_embedding_loss(image_vectors, text_vectors, text, self.config.temperature)
        with torch.no_grad():
            scores = F.normalize(image_vectors, dim=1) @ F.normalize(text_vectors, dim=1).T
            same = (text[:, None, :] == text[None, :, :]).all(-1)
            retrieved = same[torch.arange(len(text)), scores.argmax(1)].float().mean()
        return loss, {"retrieval": retrieved}  # share of images whose best-scoring caption is theirs

    def discriminator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        real, text = batch["x"], self._text(batch)
        phi = self.embed(text)
        wrong = phi[mismatched_rows(text, batch.get("y"))]
        with torch.no_grad():
            fake = self.generator(self.prior.sample(len(real), device=self.device), phi)
        d = self.discriminator
        features = d.trunk(real)
        real_logits, mismatched_logits = d.score(features, phi), d.score(features, wrong)
        fake_logits = d(fake, phi)
        loss = matching_aware_loss(real_logits, mismatched_logits, fake_logits)
        return loss, {
            "D(x,t)": torch.sigmoid(real_logits).mean().detach(),
            "D(x,wrong t)": torch.sigmoid(mismatched_logits).mean().detach(),
            "D(G(z,t),t)": torch.sigmoid(fake_logits).mean().detach(),
        }

    def generator_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        phi = self.embed(self._text(batch))
        n, config = len(phi), self.config
        beta = config.interpolation_beta
        # φ̄ between each caption and the next one in the (shuffled) batch.
        between = beta * phi + (1 - beta) * phi.roll(1, 0)
        conditions = torch.cat([phi, between]) if config.interpolation_weight else phi
        z = self.prior.sample(len(conditions), device=self.device)
        logits = self.discriminator(self.generator(z, conditions), conditions)
        matching = F.softplus(-logits[:n]).mean()
        interpolated = F.softplus(-logits[n:]).mean() if config.interpolation_weight else logits.new_zeros(())
        loss = matching + config.interpolation_weight * interpolated
        return loss, {"matching": matching.detach(), "interpolated": interpolated.detach()}

    # -- sampling --------------------------------------------------------------------------------
    def condition_from_batch(self, batch: dict[str, Tensor]) -> Tensor:
        return self._text(batch)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        condition: str | list[str] | Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """n images for a sentence (each its own z), or one image per sentence of a list of n."""
        if condition is None:
            raise ValueError("text2image samples from a sentence: pass condition='a thick seven' (or --text)")
        text = tokens(condition, self.device)
        if len(text) == 1:
            text = text.expand(n, -1)
        if len(text) != n:
            raise ValueError(f"{len(text)} sentences for {n} samples: give one sentence or n")
        z = self.prior.sample(n, generator=generator, device=self.device)
        return self.generator(z, self.embed(text))

    @torch.no_grad()
    def interpolation_grid(
        self, first: str, second: str, steps: int = 8, rows: int = 4, generator: torch.Generator | None = None
    ) -> Tensor:
        """Rows: one z each; columns: φ moving from the first sentence's to the second's (the
        paper's Figure 6). [rows * steps, C, H, W]."""
        phi = self.embed([first, second])
        weights = torch.linspace(0, 1, steps, device=self.device)[:, None]
        path = (1 - weights) * phi[0] + weights * phi[1]  # [steps, text_dim]
        z = self.prior.sample(rows, generator=generator, device=self.device).repeat_interleave(steps, 0)
        return self.generator(z, path.repeat(rows, 1))

    def figure_grids(self, generator: torch.Generator | None = None) -> dict[str, tuple[Tensor, int]]:
        """Every digit by name (rows: z; columns: the sentence), and an interpolation between two."""
        from genmodels.data.captions import DIGIT_WORDS, caption_for

        sentences = [caption_for(label, [-1, -1, -1]) for label in range(len(DIGIT_WORDS))]
        rows = 4
        z = self.prior.sample(rows, generator=generator, device=self.device).repeat_interleave(
            len(sentences), 0
        )
        with torch.no_grad():
            digits = self.generator(z, self.embed(sentences).repeat(rows, 1))
        return {
            "digits_by_name": (digits, len(sentences)),
            "interpolation": (
                self.interpolation_grid(
                    caption_for(1, [0, -1, -1]), caption_for(8, [2, -1, -1]), generator=generator
                ),
                8,
            ),
        }
