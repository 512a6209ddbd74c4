"""The AAE's priors (shapes, statistics, label-conditioned parts, refusals), its three losses on
hand-made networks, the semi-supervised choice of labelled images, a short supervised training run
on the 8x8 digits (the reconstruction improves and the codes find their class's component), and a
save / load round trip."""

import json
import math

import pytest
import torch

import genmodels
import genmodels.models.latent.aae  # registers the model
from genmodels.config import ConfigError
from genmodels.data import View
from genmodels.io import load_model, save_model
from genmodels.models.latent.aae import classify_by_component, component_agreement, semi_supervised_error
from genmodels.models.latent.priors import GaussianMixture2D, StandardNormal, SwissRoll, Uniform, make_prior

LOG2 = math.log(2.0)
TINY_AAE = {
    "hidden": (64, 64),
    "discriminator_hidden": (32, 32),
    "latent_dim": 2,
    "prior": "mixture",
}


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- priors ----------------------------------------------------------------------------------------
def test_standard_normal_keeps_the_vae_api_and_refuses_labels():
    prior = StandardNormal(3)
    z = prior.sample(20_000, generator=_generator())
    assert z.shape == (20_000, 3) and prior.components is None
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=0.03, rtol=0)
    assert prior.log_prob(torch.zeros(2, 3)).tolist() == pytest.approx([-1.5 * math.log(2 * math.pi)] * 2)
    with pytest.raises(ValueError, match="no components"):
        prior.sample(2, labels=torch.tensor([0, 1]))


def test_mixture_components_sit_on_the_circle_with_their_spreads():
    prior = GaussianMixture2D()
    labels = torch.arange(10).repeat_interleave(2000)
    z = prior.sample(len(labels), generator=_generator(), labels=labels)
    assert z.shape == (20_000, 2)
    for k in range(10):
        codes = z[labels == k]
        angle = 2 * math.pi * k / 10
        direction = torch.tensor([math.cos(angle), math.sin(angle)])
        across = torch.tensor([-math.sin(angle), math.cos(angle)])
        radial, tangential = codes @ direction, codes @ across
        assert radial.mean().item() == pytest.approx(1.4, abs=0.03)  # the mean r (cos θ_k, sin θ_k)
        assert tangential.mean().item() == pytest.approx(0.0, abs=0.01)
        assert radial.std().item() == pytest.approx(0.5, abs=0.03)  # long along the radius
        assert tangential.std().item() == pytest.approx(0.1, abs=0.01)  # thin across it
    torch.testing.assert_close(z.view(10, 2000, 2).mean(1), prior.means(), atol=0.03, rtol=0)


def test_mixture_component_of_recovers_the_component_and_unlabelled_draws_cover_all():
    prior = GaussianMixture2D()
    labels = torch.randint(10, (5000,), generator=_generator(1))
    z = prior.sample(5000, generator=_generator(2), labels=labels)
    assert (prior.component_of(z) == labels).float().mean() > 0.95
    # No labels (or label −1): each component about a tenth of the draws.
    free = prior.component_of(prior.sample(10_000, generator=_generator(3)))
    assert torch.bincount(free, minlength=10).min() > 800
    mixed = torch.tensor([3, -1] * 500)
    draws = prior.component_of(prior.sample(1000, generator=_generator(4), labels=mixed))
    assert (draws[::2] == 3).float().mean() > 0.95 and len(draws[1::2].unique()) == 10
    with pytest.raises(ValueError, match="10 parts"):
        prior.sample(2, labels=torch.tensor([0, 10]))


def test_mixture_density_integrates_to_one_and_matches_its_samples():
    prior = GaussianMixture2D()
    grid = torch.linspace(-4, 4, 801)
    cell = (grid[1] - grid[0]).item() ** 2
    z = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    assert (prior.log_prob(z).exp().sum() * cell).item() == pytest.approx(1.0, abs=1e-3)
    # On its own samples the mixture scores better than a standard normal would.
    samples = prior.sample(2000, generator=_generator())
    assert prior.log_prob(samples).mean() > StandardNormal(2).log_prob(samples).mean() + 0.5


def test_swiss_roll_segments_follow_the_labels():
    prior = SwissRoll()
    labels = torch.randint(10, (4000,), generator=_generator(5))
    z = prior.sample(4000, generator=_generator(6), labels=labels)
    assert z.shape == (4000, 2)
    # Radius 3√u with u in [k/10, (k+1)/10): the label fixes the ring the point lies on.
    u = (z.norm(dim=1) / 3) ** 2
    assert ((u >= labels / 10 - 1e-5) & (u < (labels + 1) / 10 + 1e-5)).all()
    assert (prior.component_of(z) == labels).float().mean() > 0.95
    free = prior.sample(5000, generator=_generator(7))
    assert ((free.norm(dim=1) / 3) ** 2).mean().item() == pytest.approx(0.5, abs=0.02)  # u ~ U(0, 1)


def test_uniform_prior_stays_in_its_box():
    prior = make_prior("uniform", 3, bound=2.0)
    z = prior.sample(20_000, generator=_generator())
    assert z.shape == (20_000, 3) and z.abs().max() <= 2.0
    torch.testing.assert_close(z.var(0), torch.full((3,), 4 / 3), atol=0.05, rtol=0)  # a² / 3
    inside, outside = prior.log_prob(torch.zeros(1, 3)), prior.log_prob(torch.full((1, 3), 2.5))
    assert inside.item() == pytest.approx(-3 * math.log(4.0)) and outside.item() == -math.inf
    with pytest.raises(ValueError, match="no components"):
        prior.sample(1, labels=torch.tensor([0]))


def test_make_prior_by_name_and_the_two_dimensional_priors_refuse_other_sizes():
    assert isinstance(make_prior("normal", 8), StandardNormal)
    assert isinstance(make_prior("mixture", 2), GaussianMixture2D)
    assert isinstance(make_prior("swiss_roll", 2), SwissRoll)
    assert isinstance(make_prior("uniform", 5), Uniform)
    for name in ("mixture", "swiss_roll"):
        with pytest.raises(ValueError, match="2-D"):
            make_prior(name, 8)
    with pytest.raises(ValueError, match="unknown prior 'laplace'"):
        make_prior("laplace", 2)
    with pytest.raises(ConfigError, match="2-D"):
        genmodels.create("aae", image_shape=(1, 8, 8), latent_dim=8, prior="mixture")
    with pytest.raises(ConfigError, match="one part per class"):
        genmodels.create("aae", image_shape=(1, 8, 8), latent_dim=8, prior="normal", labels="supervised")


# -- the three objectives --------------------------------------------------------------------------
def _undecided(labels: str = "none"):
    """A tiny AAE whose decoder outputs logits 0 (every pixel p = ½) and whose D says ½ everywhere."""
    model = genmodels.create("aae", image_shape=(1, 8, 8), labels=labels, **TINY_AAE)
    for last in (model.decoder[0][-1], model.discriminator[0][-1]):
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    return model


@pytest.mark.parametrize("labels", ["none", "supervised", "semi_supervised"])
def test_the_three_losses_on_hand_made_networks(labels):
    model = _undecided(labels)
    x = (torch.rand(16, 1, 8, 8, generator=_generator()) > 0.5).float()
    batch = {"x": x, "y": torch.arange(16) % 10, "index": torch.arange(16)}
    names = [o.name for o in model.objectives()]
    assert names == ["reconstruction", "discriminator", "generator"]
    losses = {o.name: o.loss(batch)[0].item() for o in model.objectives()}
    # Bernoulli(½) for each of 64 pixels: 64 log 2 nats per image, whatever the image (summed over
    # pixels, averaged over the batch).
    assert losses["reconstruction"] == pytest.approx(64 * LOG2, rel=1e-6)
    assert losses["discriminator"] == pytest.approx(2 * LOG2, rel=1e-6)  # −log ½ − log(1 − ½)
    assert losses["generator"] == pytest.approx(LOG2, rel=1e-6)  # non-saturating −log D, D = ½
    model.config.generator_loss = "minimax"
    assert model.generator_step(batch)[0].item() == pytest.approx(-LOG2, rel=1e-6)


def test_each_objective_updates_only_its_networks_and_moves_the_right_way():
    torch.manual_seed(0)
    model = genmodels.create("aae", image_shape=(1, 8, 8), labels="supervised", **TINY_AAE)
    reconstruction, discriminator, generator = model.objectives()
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    encoder, decoder = ids(model.encoder.parameters()), ids(model.decoder.parameters())
    assert ids(reconstruction.parameters()) == encoder | decoder
    assert ids(discriminator.parameters()) == ids(model.discriminator.parameters())
    assert ids(generator.parameters()) == encoder
    batch = {"x": (torch.rand(64, 1, 8, 8, generator=_generator()) > 0.5).float(), "y": torch.arange(64) % 10}
    # D steps with the encoder fixed: D learns to tell the prior's samples from the codes.
    optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    first = model.discriminator_step(batch)[0].item()
    for _ in range(100):
        optimizer.zero_grad()
        model.discriminator_step(batch)[0].backward()
        optimizer.step()
    assert model.discriminator_step(batch)[0].item() < first - 0.3
    # One encoder step against that fixed D raises D(code): the encoder plays the generator.
    before = model.generator_step(batch)[0].item()
    optimizer = torch.optim.SGD(model.encoder.parameters(), lr=1e-2)
    optimizer.zero_grad()
    model.generator_step(batch)[0].backward()
    optimizer.step()
    assert model.generator_step(batch)[0].item() < before


def test_discriminator_sees_labels_and_label_conditioned_prior_samples():
    model = genmodels.create("aae", image_shape=(1, 8, 8), labels="supervised", **TINY_AAE)
    assert model.discriminator[0][0].in_features == 2 + 11  # code + 10 classes + "no label"
    batch = {"x": torch.zeros(200, 1, 8, 8), "y": torch.arange(200) % 10}
    slots = model.slots(batch)
    assert torch.equal(slots, batch["y"])
    torch.manual_seed(0)
    z = model.prior_sample(slots, 200)
    assert (model.prior.component_of(z) == batch["y"]).float().mean() > 0.95
    unsupervised = genmodels.create("aae", image_shape=(1, 8, 8), **TINY_AAE)
    assert unsupervised.discriminator[0][0].in_features == 2 and unsupervised.slots(batch) is None
    with pytest.raises(ValueError, match="no 'y'"):
        model.slots({"x": batch["x"]})


def test_semi_supervised_labels_exactly_the_first_rows():
    train = genmodels.load_dataset("digits", "train")
    x = View("static")(train.images)
    model = genmodels.create("aae", image_shape=(1, 8, 8), labels="semi_supervised", labelled=150, **TINY_AAE)
    index = torch.randperm(len(x), generator=_generator())  # a shuffled batch, as the trainer draws them
    slots = model.slots({"x": x[index], "y": train.labels[index], "index": index})
    labelled = index < 150
    assert int(labelled.sum()) == 150
    assert (
        torch.equal(slots[labelled], train.labels[index][labelled].long()) and (slots[~labelled] == 10).all()
    )
    z = model.prior_sample(slots, len(x))  # unlabelled rows: the whole mixture
    assert len(model.prior.component_of(z[~labelled]).unique()) == 10
    with pytest.raises(ValueError, match="row indices"):
        model.slots({"x": x, "y": train.labels})
    with pytest.raises(ConfigError, match="labelled must be"):
        genmodels.create("aae", image_shape=(1, 8, 8), labels="semi_supervised", labelled=-1, **TINY_AAE)


# -- training, measuring, saving -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_supervised(tmp_path_factory):
    run = tmp_path_factory.mktemp("aae")
    genmodels.train(
        "aae",
        "digits",
        preset=None,
        config={**TINY_AAE, "labels": "supervised"},
        steps=600,
        batch_size=64,
        out=run,
        log_every=50,
        progress=False,
        tensorboard=False,
        num_samples=0,
        checkpoint_every=0,
    )
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return run, [row["reconstruction/nll"] for row in rows if "reconstruction/nll" in row]


def test_supervised_training_reconstructs_and_puts_each_class_in_its_component(trained_supervised):
    run, nll = trained_supervised
    assert nll[-1] < nll[0] - 5, nll
    model, test = genmodels.load(run), genmodels.load_dataset("digits", "test")
    agreement = component_agreement(model, test, View("static"))
    assert agreement > 0.5, agreement  # chance is 0.1
    assert semi_supervised_error(model, test, View("static")) == pytest.approx(1 - agreement)
    assert classify_by_component(model, test, View("static")).shape == (len(test),)
    # Asking for class 3 draws codes from component 3.
    draws = model.sample(8, condition=3, generator=_generator())
    assert draws.shape == (8, 1, 8, 8) and set(draws.unique().tolist()) <= {0.0, 1.0}


def test_save_then_load_gives_identical_codes_and_samples(trained_supervised, tmp_path):
    run, _ = trained_supervised
    model = genmodels.load(run)
    save_model(model, tmp_path / "copy")
    loaded = load_model(tmp_path / "copy")
    x = View("static")(genmodels.load_dataset("digits", "test").images[:50])
    assert torch.equal(model.encode(x), loaded.encode(x))
    assert torch.equal(model.sample(6, generator=_generator(9)), loaded.sample(6, generator=_generator(9)))
    means = loaded.decode(torch.zeros(2, 2))
    assert means.shape == (2, 1, 8, 8) and means.min() >= 0 and means.max() <= 1


def test_grey_level_decoder_and_conditional_sampling_checks():
    model = genmodels.create("aae", image_shape=(1, 8, 8), levels=256, **TINY_AAE)
    x = torch.randint(0, 256, (4, 1, 8, 8), generator=_generator()).float() / 255
    loss, _ = model.reconstruction_step({"x": x})
    assert torch.isfinite(loss) and loss.item() > 0
    draws = model.sample(3, condition=[0, 5, 9], generator=_generator())
    assert draws.shape == (3, 1, 8, 8)
    torch.testing.assert_close(draws * 255, (draws * 255).round())  # on the 256-level grid
    with pytest.raises(ValueError, match="no components"):
        genmodels.create("aae", image_shape=(1, 8, 8), prior="normal").sample(2, condition=1)


def test_a_gaussian_encoder_draws_its_codes_and_encodes_by_the_mean(tmp_path):
    model = genmodels.create("aae", **TINY_AAE, image_shape=(1, 8, 8), encoder="gaussian", batch_norm=True)
    assert any(isinstance(layer, torch.nn.BatchNorm1d) for layer in model.encoder.modules())
    assert any(isinstance(layer, torch.nn.BatchNorm1d) for layer in model.decoder.modules())
    model.eval()
    x = (torch.rand(16, 1, 8, 8, generator=_generator()) > 0.5).float()
    mean = model.encode(x)
    assert mean.shape == (16, 2) and torch.equal(mean, model.encode(x))  # the mean: no draw
    torch.manual_seed(0)
    first = model.code(x)
    torch.manual_seed(1)
    second = model.code(x)
    assert not torch.equal(first, second)
    # z = μ + σ ε: the draws scatter around the mean with the encoder's σ, and σ gets gradients.
    mu, logvar = model.encoder(x).chunk(2, dim=1)
    torch.manual_seed(0)
    torch.testing.assert_close(first, mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    model.train()
    loss, _ = model.reconstruction_step({"x": x})
    loss.backward()
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert last.weight.grad[2:].abs().sum() > 0  # the log-variance rows learn
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert torch.equal(loaded.encode(x), model.eval().encode(x))


def test_min_std_keeps_the_gaussian_encoder_s_spread_however_small_its_sigma():
    model = genmodels.create("aae", **TINY_AAE, image_shape=(1, 8, 8), encoder="gaussian", min_std=0.3).eval()
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # log σ² = −60: σ(x) = 1e-13, the collapse measured in the full run
        last.weight[2:].zero_()
        last.bias[2:].fill_(-60.0)
    x = (torch.rand(2000, 1, 8, 8, generator=_generator()) > 0.5).float()
    x[:] = x[0]  # one image: the codes' spread is the encoder's noise alone
    torch.manual_seed(0)
    spread = model.code(x).std(0)
    torch.testing.assert_close(spread, torch.full((2,), 0.3), atol=0.03, rtol=0)
    with pytest.raises(ConfigError, match="min_std"):
        genmodels.create("aae", **TINY_AAE, image_shape=(1, 8, 8), min_std=0.3)  # deterministic encoder
    with pytest.raises(ConfigError, match="min_std"):
        genmodels.create("aae", **TINY_AAE, image_shape=(1, 8, 8), encoder="gaussian", min_std=-1.0)
