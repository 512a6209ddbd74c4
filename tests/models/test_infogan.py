"""InfoGAN: the information loss on hand-made inputs, codes that sampling honours, the traversal
grids, the Hungarian code-to-class accuracy, and a short run on the digits in which Q learns to read
the categorical code back from the samples (the mutual-information term at work)."""

import json
import math

import pytest
import torch
from torch import nn

import genmodels
import genmodels.models.adversarial.infogan  # registers "infogan"
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.infogan import (
    categorical_code_accuracy,
    information_loss,
    real_digit_accuracy,
)
from tests.conftest import train_on_digits

TINY = {"channels": 8, "hidden": 32, "q_hidden": 16, "latent_dim": 8}
DIGITS = {"channels": 16, "hidden": 64, "q_hidden": 32, "latent_dim": 16, "image_shape": (1, 8, 8)}


def test_information_loss_on_hand_made_inputs():
    category = torch.tensor([0, 3, 9])
    certain = torch.full((3, 10), -30.0)
    certain[torch.arange(3), category] = 30.0
    means = torch.zeros(3, 2)
    ce, nll = information_loss(certain, means, category, torch.zeros(3, 2))
    assert ce.item() < 1e-12  # all of Q's mass on the true category: nothing to pay
    # Uniform logits pay log 10; a confident wrong Q pays 30 + log(9 e^30) nats.
    assert information_loss(torch.zeros(3, 10), means, category, means)[0].item() == pytest.approx(
        math.log(10)
    )
    assert information_loss(-certain, means, category, means)[0].item() == pytest.approx(
        60 + math.log(9), abs=1e-4
    )
    # Gaussian NLL with σ = 1: ½ (c − μ)² + ½ log 2π per code, summed over codes, averaged over the batch.
    # Codes (1, −0.5) against means (0, 0.5): ½ (1 + 1) + log 2π.
    c = torch.tensor([[1.0, -0.5]])
    _, nll = information_loss(certain[:1], torch.tensor([[0.0, 0.5]]), category[:1], c)
    assert nll.item() == pytest.approx(1.0 + math.log(2 * math.pi), abs=1e-6)
    _, exact = information_loss(certain[:1], c, category[:1], c)
    assert exact.item() == pytest.approx(math.log(2 * math.pi), abs=1e-6)  # the floor: only the constant


def test_networks_follow_the_paper_table_and_sizes():
    model = genmodels.create("infogan", preset="paper")
    inputs = model.generator[0]
    assert inputs.in_features == 62 + 10 + 2 and inputs.out_features == 1024
    assert model.generator[3].out_features == 7 * 7 * 128
    assert model.discriminator.q[-1].out_features == 12  # 10 logits + 2 means
    for side in (28, 32):
        small = genmodels.create("infogan", preset="cpu", image_shape=(1, side, side)).eval()
        x = small.sample(4, generator=torch.Generator().manual_seed(0))
        logits, q = small.discriminator.heads(x)
        assert x.shape == (4, 1, side, side) and logits.shape == (4,) and q.shape == (4, 12)
    with pytest.raises(ValueError, match="square"):
        genmodels.create("infogan", image_shape=(1, 28, 32))


def test_objectives_split_the_parameters_between_the_players():
    model = genmodels.create("infogan", **TINY)
    d_step, g_step = model.objectives()
    assert (d_step.name, g_step.name) == ("discriminator", "generator")
    assert (d_step.optimizer.lr, g_step.optimizer.lr, g_step.optimizer.betas) == (2e-4, 1e-3, (0.5, 0.999))
    d_ids = {id(p) for p in d_step.parameters()}
    g_ids = {id(p) for p in g_step.parameters()}
    assert not d_ids & g_ids and d_ids | g_ids == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.discriminator.trunk.parameters()} <= d_ids  # the trunk is D's alone
    assert {id(p) for p in model.discriminator.q.parameters()} <= g_ids  # Q's head plays with G
    # The generator's loss is the adversarial term plus λ L_info: with λ = 0 only the first remains.
    batch = {"x": torch.zeros(4, 1, 28, 28)}
    torch.manual_seed(0)
    loss, logs = g_step.loss(batch)
    info = logs["info_ce"] + logs["info_nll"]
    torch.testing.assert_close(loss.detach(), logs["adversarial"] + info)


def test_samples_honour_fixed_codes():
    torch.manual_seed(0)
    model = genmodels.create("infogan", **TINY).eval()
    x = model.sample(16, generator=torch.Generator().manual_seed(1))
    assert x.shape == (16, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and x.std() > 0

    def draw(**codes):
        return model.sample(6, condition=codes, generator=torch.Generator().manual_seed(2))

    codes = {"category": 4, "continuous": torch.tensor([0.5, -0.25]).expand(6, 2)}
    first, again = draw(**codes), draw(**codes)
    assert torch.equal(first, again)  # same z, same codes: same images
    scale = first.abs().amax((1, 2, 3))  # small at initialisation (weights N(0, 0.02))

    def every_image_changed(other):
        return bool(((other - first).abs().amax((1, 2, 3)) > 0.1 * scale).all())

    other_category = draw(category=5, continuous=codes["continuous"])
    assert every_image_changed(other_category)
    assert every_image_changed(draw(category=4, continuous=torch.tensor([0.5, 0.75])))  # broadcast
    per_image = draw(category=torch.tensor([4, 4, 4, 5, 5, 5]), continuous=codes["continuous"])
    assert torch.equal(per_image[:3], first[:3]) and torch.equal(per_image[3:], other_category[3:])
    with pytest.raises(ValueError, match="category must be in"):
        draw(category=10)
    with pytest.raises(ValueError, match="codes are"):
        draw(label=1)


def test_traversal_grid_and_figure_hook():
    model = genmodels.create("infogan", **TINY).eval()
    grid = model.traversal_grid(range(10), 1, steps=7, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (70, 1, 28, 28) and grid.min() >= -1 and grid.max() <= 1
    # Row r is category r with code 2 swept from −2 to 2 and code 1 at 0, all on one z.
    rows = grid.view(10, 7, 1, 28, 28)
    z = model.prior.sample(1, generator=torch.Generator().manual_seed(0))
    for r, col, value in ((3, 0, -2.0), (3, 6, 2.0), (8, 3, 0.0)):
        expected = model.generate(z, torch.tensor([r]), torch.tensor([[0.0, value]]))
        torch.testing.assert_close(rows[r, col], expected[0])
    per_row = model.traversal_grid([2, 2], 0, steps=3, shared_noise=False)
    assert not torch.equal(per_row[:3], per_row[3:])  # the same category on two different z
    grids = model.figure_grids(torch.Generator().manual_seed(0))
    assert set(grids) == {"traversal_code1", "traversal_code2"}
    images, columns = grids["traversal_code1"]
    assert images.shape == (100, 1, 28, 28) and columns == 10
    with pytest.raises(ValueError, match="code_index"):
        model.traversal_grid(range(10), 2)


class CategoryAsBrightness(nn.Module):
    """A stand-in generator: the image is a flat grey whose level is the categorical code found in
    G's input, so any classifier that reads grey levels sees exactly the code the model was given."""

    def __init__(self, latent_dim: int, categories: int = 10) -> None:
        super().__init__()
        self.span = slice(latent_dim, latent_dim + categories)

    def forward(self, inputs):
        k = inputs[:, self.span].argmax(1).float()
        return (-1 + 2 * k / 9).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)


def test_categorical_code_accuracy_matches_codes_to_classes():
    model = genmodels.create("infogan", **TINY)
    model.generator = CategoryAsBrightness(TINY["latent_dim"])  # the code travels through sample()

    def shifted(images):  # reads the grey level back (images arrive in [0, 1]), names it k + 3
        assert images.shape[1:] == (1, 28, 28) and images.min() >= 0 and images.max() <= 1
        return ((images.mean((1, 2, 3)) * 9).round().long() + 3) % 10

    result = categorical_code_accuracy(model, shifted, n_per_code=20)
    assert result["accuracy"] == 1.0 and result["n"] == 200
    assert result["matching"] == {k: (k + 3) % 10 for k in range(10)}
    assert result["confusion"][2][5] == 20 and sum(map(sum, result["confusion"])) == 200

    labels = torch.Generator().manual_seed(0)
    noise = categorical_code_accuracy(model, lambda x: torch.randint(10, (len(x),), generator=labels))
    assert noise["accuracy"] < 0.3  # chance is 0.1; the matching adds a little on 100 per code
    with pytest.raises(ValueError, match=r"labels in 0\.\.9"):
        categorical_code_accuracy(model, lambda x: torch.full((len(x),), 10), n_per_code=2)


def brightness_as_code(x):
    """A Q head that reads an image's grey level (in [-1, 1]) as the code (k + 3) mod 10."""
    k = ((x.mean((1, 2, 3)) + 1) / 2 * 9).round().long()
    return torch.zeros(len(x), 1), nn.functional.one_hot((k + 3) % 10, 12).float()


def test_real_digit_accuracy_reads_q_on_the_images_and_matches_codes_to_labels():
    from genmodels.data import ImageSet

    model = genmodels.create("infogan", **TINY)
    model.discriminator.heads = brightness_as_code  # an instance attribute: the method's place
    labels = torch.arange(250) % 10
    images = (labels * 255 / 9).round().to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    data = ImageSet(images.contiguous(), labels, name="brightness/test")
    result = real_digit_accuracy(model, data, batch_size=64)  # uneven batches
    assert result["accuracy"] == 1.0 and result["n"] == 250
    assert result["matching"] == {(k + 3) % 10: k for k in range(10)}
    flipped = ImageSet(images.contiguous(), (labels + torch.arange(250) % 2) % 10, name="half/test")
    assert real_digit_accuracy(model, flipped)["accuracy"] == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="no labels"):
        real_digit_accuracy(model, ImageSet(images.contiguous(), None, name="unlabelled"))


@pytest.fixture(scope="module")
def trained_on_digits(tmp_path_factory):
    run = tmp_path_factory.mktemp("infogan")
    train_on_digits("infogan", DIGITS, run, steps=200, batch_size=64, log_every=25, checkpoint_every=0)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return genmodels.load(run).eval(), [row for row in rows if "generator/info_ce" in row]


def test_short_training_makes_the_code_readable(trained_on_digits):
    model, rows = trained_on_digits
    first, last = rows[0], rows[-1]
    # log 10 = 2.30 nats is what Q pays when it cannot read the code; the bound on I(c_cat; x) is
    # log 10 − CE, so a falling CE is mutual information gained.
    assert first["generator/info_ce"] > 2.0 and last["generator/info_ce"] < 1.0, (first, last)
    assert last["generator/q_accuracy"] > 0.9 and 0 < last["discriminator/D(G(z))"] < 1
    for key in ("generator/info_nll", "generator/adversarial", "discriminator/D(x)"):
        assert key in last
    # On fresh samples with fixed codes, Q (as the classifier) recovers them: code k -> class k.
    # Q takes the model's [-1, 1] images; `classify` receives [0, 1].
    result = categorical_code_accuracy(
        model,
        lambda x: model.discriminator.heads(x * 2 - 1)[1][:, :10].argmax(1),
        n_per_code=50,
        generator=torch.Generator().manual_seed(0),
    )
    assert result["accuracy"] > 0.9 and result["matching"] == {k: k for k in range(10)}, result


def test_save_then_load_gives_identical_samples(trained_on_digits, tmp_path):
    model, _ = trained_on_digits
    save_model(model, tmp_path / "infogan")
    loaded = load_model(tmp_path / "infogan").eval()
    assert type(loaded) is type(model) and loaded.config == model.config
    for condition in (None, {"category": 7, "continuous": torch.tensor([0.3, -0.9])}):
        first = model.sample(5, condition=condition, generator=torch.Generator().manual_seed(3))
        second = loaded.sample(5, condition=condition, generator=torch.Generator().manual_seed(3))
        assert torch.equal(first, second)
