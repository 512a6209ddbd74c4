"""CycleGAN: each loss term on hand-made inputs, the image pool, the learning-rate decay, translation
by name and index, the sample grid, save and load, and a short run on a tiny two-domain set."""

import itertools
import json

import pytest
import torch
from torch import nn

import genmodels
from genmodels.config import ConfigError
from genmodels.data import ImageSet
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.cyclegan import (
    CycleGAN,
    ImagePool,
    adversarial_loss,
    discriminator_loss,
    l1,
    receptive_field,
)
from genmodels.training import TrainConfig, Trainer

TINY = {
    "image_shape": (1, 8, 8),
    "channels": 4,
    "residual_blocks": 1,
    "discriminator_channels": 8,
    "discriminator_downsamplings": 1,
    "domains": ("light", "dark"),
}


def tiny(**overrides) -> CycleGAN:
    torch.manual_seed(0)
    return genmodels.create("cyclegan", **{**TINY, **overrides})


def two_domains(n: int = 256) -> ImageSet:
    """8x8 images of one random bright rectangle each (no data set to load: fast); even rows are
    domain 0 as drawn, odd rows domain 1 inverted (255 − x). Unpaired: no image is in both."""
    g = torch.Generator().manual_seed(0)
    top, left = torch.randint(0, 5, (2, n), generator=g)
    height, width = torch.randint(2, 5, (2, n), generator=g)
    rows, columns = torch.arange(8).view(1, 8, 1), torch.arange(8).view(1, 1, 8)
    in_rows = (rows >= top.view(n, 1, 1)) & (rows < (top + height).view(n, 1, 1))
    inside = in_rows & (columns >= left.view(n, 1, 1)) & (columns < (left + width).view(n, 1, 1))
    images, domain = (inside * 255).to(torch.uint8).unsqueeze(1), torch.arange(n) % 2
    images[domain == 1] = 255 - images[domain == 1]
    return ImageSet(
        images,
        None,
        "rectangles-light/dark",
        fields={"domain": domain},
        field_names={"domain": ("light", "dark")},
    )


def batch_of(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    domain = torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    return {"x": torch.cat([a, b]), "domain": domain}


class Negate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


# -- the losses ------------------------------------------------------------------------------------
def test_least_squares_terms():
    ones, zeros, empty = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2), torch.zeros(0, 1, 2, 2)
    # G: E[(D(G(a)) − 1)²], the paper's (not halved).
    assert adversarial_loss(ones).item() == 0
    assert adversarial_loss(zeros).item() == pytest.approx(1.0)
    assert adversarial_loss(torch.full((2, 1, 3, 3), 3.0)).item() == pytest.approx(4.0)
    # D: ½ (E[(D(b) − 1)²] + E[D(G(a))²]): halved as in the paper.
    assert discriminator_loss(ones, zeros).item() == 0
    assert discriminator_loss(zeros, ones).item() == pytest.approx(1.0)
    # A batch with one domain only keeps the half it has.
    assert discriminator_loss(zeros, empty).item() == pytest.approx(0.5)
    assert discriminator_loss(empty, ones).item() == pytest.approx(0.5)


def test_cycle_and_identity_terms_with_known_generators():
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert l1(x, x + 0.5).item() == pytest.approx(0.5)  # a mean over pixels, as the paper
    a, b = x[:3], x[3:]
    model = tiny()
    # Identity generators: every cycle and identity term is 0; only the adversarial terms remain.
    model.G, model.F = nn.Identity(), nn.Identity()
    loss, logs = model.generators_step(batch_of(a, b))
    for key in ("cycle_A", "cycle_B", "identity_A", "identity_B"):
        assert logs[key].item() == 0
    adversarial = adversarial_loss(model.D_B(a)) + adversarial_loss(model.D_A(b))
    assert loss.item() == pytest.approx(adversarial.item(), rel=1e-6)
    # G negates, F is the identity: F(G(a)) = −a, G(F(b)) = −b, F(a) = a, G(b) = −b.
    model.G = Negate()
    loss, logs = model.generators_step(batch_of(a, b))
    assert logs["cycle_A"].item() == pytest.approx(2 * a.abs().mean().item(), rel=1e-6)
    assert logs["cycle_B"].item() == pytest.approx(2 * b.abs().mean().item(), rel=1e-6)
    assert logs["identity_A"].item() == 0
    assert logs["identity_B"].item() == pytest.approx(2 * b.abs().mean().item(), rel=1e-6)
    adversarial = adversarial_loss(model.D_B(-a)) + adversarial_loss(model.D_A(b))
    expected = adversarial + 10 * (logs["cycle_A"] + logs["cycle_B"]) + 5 * logs["identity_B"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)  # λ_cyc = 10, λ_id = 0.5 λ_cyc
    # Without the identity loss its terms are neither computed nor logged.
    model.config.identity_weight = 0.0
    _, logs = model.generators_step(batch_of(a, b))
    assert "identity_A" not in logs and "identity_B" not in logs


def test_a_batch_of_one_domain_trains_what_it_can():
    model = tiny()
    only_b = batch_of(torch.zeros(0, 1, 8, 8), torch.rand(5, 1, 8, 8) * 2 - 1)
    loss, logs = model.generators_step(only_b)
    assert set(logs) == {"adversarial_F", "cycle_B", "identity_B", "lr_factor"}
    loss.backward()
    # The discriminators' step alone, on gradients zeroed as the trainer zeroes them: D_A learns from
    # F(b) (a fake) and D_B from b (real), and no gradient reaches the generators through the fakes.
    model.zero_grad(set_to_none=True)
    loss, logs = model.discriminators_step(only_b)
    assert torch.isfinite(loss) and set(logs) == {"D_A", "D_B", "lr_factor"}
    loss.backward()
    for name, network in [("D_A", model.D_A), ("D_B", model.D_B)]:
        grads = [p.grad for p in network.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), name
    for network in (model.G, model.F):
        assert all(p.grad is None for p in network.parameters())


def test_discriminators_use_the_fakes_made_before_the_generators_step():
    model = tiny(pool_size=0)
    batch = batch_of(torch.rand(3, 1, 8, 8), torch.rand(2, 1, 8, 8))
    model.generators_step(batch)
    _, fake_b, fake_a = model._fakes
    with torch.no_grad():  # as if the generators had stepped: the kept fakes are used, not new ones
        for p in model.G.parameters():
            p.add_(1.0)
    loss, _ = model.discriminators_step(batch)
    a, b = model.split(batch)
    expected = discriminator_loss(model.D_A(a), model.D_A(fake_a)) + discriminator_loss(
        model.D_B(b), model.D_B(fake_b)
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert model._fakes is None


# -- the image pool --------------------------------------------------------------------------------
def test_image_pool_fills_then_swaps_about_half():
    torch.manual_seed(0)
    pool = ImagePool(50, (1, 2, 2))
    first = torch.arange(30.0).view(30, 1, 1, 1).expand(30, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: the inputs come back
    second = torch.arange(30.0, 50.0).view(20, 1, 1, 1).expand(20, 1, 2, 2)
    assert torch.equal(pool.query(second), second)
    assert int(pool.count) == 50
    assert torch.equal(pool.images[:, 0, 0, 0], torch.arange(50.0))
    # Full: each fake is swapped for a stored one with probability 1/2.
    swapped = 0
    for i in range(1000):
        new = torch.full((1, 1, 2, 2), 1000.0 + i)
        returned = pool.query(new)
        assert returned.shape == new.shape
        if not torch.equal(returned, new):
            swapped += 1
            assert returned[0, 0, 0, 0].item() < 1000 + i  # an older fake
            assert (pool.images[:, 0, 0, 0] == 1000 + i).any()  # and the new one took its place
    assert 430 < swapped < 570, swapped
    # An empty pool passes the fakes through.
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(new), new)


def test_image_pool_survives_save_and_load(tmp_path):
    model = tiny(pool_size=4)
    model.pool_B.query(torch.rand(3, 1, 8, 8))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert int(loaded.pool_B.count) == 3 and int(loaded.pool_A.count) == 0
    assert torch.equal(loaded.pool_B.images, model.pool_B.images)


# -- the schedule ----------------------------------------------------------------------------------
def test_learning_rate_constant_then_linear_to_zero():
    model = tiny()
    generators, discriminators = model.objectives()
    assert (generators.name, discriminators.name) == ("generators", "discriminators")
    for objective in (generators, discriminators):
        assert objective.optimizer.lr == 2e-4 and objective.optimizer.betas == (0.5, 0.999)
        factors = [objective.lr_factor(step, 100) for step in range(101)]
        assert factors[0] == factors[50] == 1.0 and factors[75] == pytest.approx(0.5) and factors[100] == 0
        assert all(x >= y for x, y in itertools.pairwise(factors))


# -- translation -----------------------------------------------------------------------------------
def test_translate_by_name_and_index():
    model = tiny()
    assert set(CycleGAN.capabilities()) >= {"translate"} and "sample" not in CycleGAN.capabilities()
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    to_dark = model.translate(x, "light", "dark")
    assert to_dark.shape == x.shape and to_dark.abs().max() <= 1
    assert torch.equal(to_dark, model.translate(x, 0, 1)) and torch.equal(to_dark, model.G(x))
    assert torch.equal(model.translate(x, "dark", 0), model.F(x))
    with pytest.raises(ValueError, match=r"unknown domain 'red'.*'light' \(0\) and 'dark' \(1\)"):
        model.translate(x, "red", "dark")
    with pytest.raises(ValueError, match="unknown domain 2"):
        model.translate(x, 0, 2)
    with pytest.raises(ValueError, match="same domain"):
        model.translate(x, "dark", 1)
    with pytest.raises(ValueError, match="expected images"):
        model.translate(x[0], 0, 1)


def test_translation_grid():
    model = tiny()
    a, b = torch.rand(10, 1, 8, 8), torch.rand(3, 1, 8, 8)
    images, columns = model.translation_grid(batch_of(a, b))
    assert columns == 3 and images.shape == ((8 + 3) * 3, 1, 8, 8)  # at most 8 inputs per domain
    with torch.no_grad():
        to_b, to_a = model.G(a[:8]), model.F(b)
        back = model.F(to_b)
    assert torch.equal(images[0], a[0]) and torch.allclose(images[1], to_b[0], atol=1e-6)
    assert torch.allclose(images[2], back[0], atol=1e-6)  # the reconstruction F(G(a))
    assert torch.equal(images[8 * 3], b[0]) and torch.allclose(images[8 * 3 + 1], to_a[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"mnist\[domains=thin/thick\]"):
        model.translation_grid({"x": a})


def test_domains_come_from_the_data_and_must_be_two():
    data = two_domains(8)
    assert CycleGAN.settings_from_data(data) == {"domains": ("light", "dark")}
    three = data.replace(field_names={"domain": ("thin", "thick", "red")})
    with pytest.raises(ConfigError, match="exactly two domains"):
        CycleGAN.settings_from_data(three)
    with pytest.raises(ConfigError, match=r"no 'domain' field.*mnist\[domains=thin/thick\]"):
        CycleGAN.settings_from_data(data.replace(fields={}))


def test_network_sizes_and_refusals():
    assert receptive_field(3) == 70  # the paper's 70x70 PatchGAN
    model = genmodels.create("cyclegan", preset="cpu", image_shape=(3, 28, 28))
    x = torch.zeros(2, 3, 28, 28)
    assert model.G(x).shape == x.shape and model.D_A(x).shape == (2, 1, 5, 5)
    with pytest.raises(ValueError, match="multiples of 4"):
        genmodels.create("cyclegan", preset="cpu", image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match="discriminator_downsamplings"):
        genmodels.create("cyclegan", **{**TINY, "discriminator_downsamplings": 2})
    with pytest.raises(ValueError, match="different names"):
        genmodels.create("cyclegan", **{**TINY, "domains": ("A", "A")})
    assert model.default_pad((1, 30, 30)) == 1 and model.default_pad((1, 28, 28)) == 0


def test_save_then_load_gives_identical_translations(tmp_path):
    model = tiny()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config.domains == ("light", "dark")
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(model.translate(x, "light", "dark"), loaded.translate(x, "light", "dark"))
    assert torch.equal(model.translate(x, 1, 0), loaded.translate(x, 1, 0))


# -- training --------------------------------------------------------------------------------------
def test_short_training_lowers_the_cycle_loss_and_decays_the_learning_rate(tmp_path):
    torch.manual_seed(0)
    model = genmodels.create("cyclegan", **{**TINY, "channels": 8, "residual_blocks": 2, "lr": 1e-3})
    options = {"log_every": 10, "progress": False, "tensorboard": False, "num_samples": 8, "sample_every": 0}
    trainer = Trainer(model, two_domains(), TrainConfig(steps=40, batch_size=16, **options), tmp_path / "run")
    result = trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    cycle = [r["generators/cycle_A"] + r["generators/cycle_B"] for r in rows if "generators/cycle_A" in r]
    assert cycle[-1] < 0.6 * cycle[0], cycle
    for key in (
        "generators/adversarial_G",
        "generators/identity_A",
        "discriminators/D_A",
        "discriminators/D_B",
    ):
        assert key in result.last_logs
    # Constant for 20 steps, then linear: the last step (39) runs at 1/20 of the rate, and the
    # factor logged over the last 10 steps is the mean of (40 − s) / 20 for s = 30..39.
    for optimizer in trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 20)
    assert result.last_logs["generators/lr_factor"] == pytest.approx(5.5 / 20)
    assert result.last_logs["discriminators/lr_factor"] == pytest.approx(5.5 / 20)
    assert (tmp_path / "run" / "samples" / "final.png").is_file()  # the translation grid
