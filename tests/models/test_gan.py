"""The GAN losses on hand-made inputs, the MLP GAN and DCGAN networks, and short training runs that
must move the samples towards the data (FD-digits falls from its value at initialisation)."""

import math

import pytest
import torch

import genmodels
from genmodels.data import View, to_unit
from genmodels.evaluation.features import load_feature_network
from genmodels.evaluation.sample_quality import compare_features, draw_samples, real_images
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.dcgan import doublings
from genmodels.models.adversarial.losses import (
    discriminator_loss,
    generator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
)

LOG2 = math.log(2.0)


def test_discriminator_loss_on_hand_made_logits():
    zero = torch.zeros(8)
    # D = 1/2 everywhere: −log ½ − log(1 − ½) = 2 log 2 (the value −V(D, G) = log 4 of the undecided D).
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * LOG2, abs=1e-6)
    # A confident, correct D pays almost nothing; a confident, wrong one pays about 2 × 20.
    assert discriminator_loss(torch.full((8,), 20.0), torch.full((8,), -20.0)).item() < 1e-8
    assert discriminator_loss(torch.full((8,), -20.0), torch.full((8,), 20.0)).item() == pytest.approx(
        40, abs=1e-6
    )


def test_generator_losses_and_why_the_non_saturating_one_is_used():
    zero = torch.zeros(4)
    assert generator_loss(zero, "non_saturating").item() == pytest.approx(LOG2, abs=1e-6)  # −log ½
    assert generator_loss(zero, "minimax").item() == pytest.approx(-LOG2, abs=1e-6)  # log(1 − ½)
    # Early in training D rejects fakes (logit −10): the minimax loss gives G almost no gradient,
    # the non-saturating loss a strong one, pointing the same way (raise the logit).
    gradients = {}
    for kind in ("minimax", "non_saturating"):
        logits = torch.full((1,), -10.0, requires_grad=True)
        generator_loss(logits, kind).backward()
        gradients[kind] = logits.grad.item()
    assert -1e-4 < gradients["minimax"] < 0
    assert gradients["non_saturating"] == pytest.approx(-1.0, abs=1e-4)
    with pytest.raises(ValueError, match="unknown generator loss"):
        generator_loss(zero, "hinge")


def test_least_squares_losses():
    assert least_squares_discriminator_loss(torch.ones(3), torch.zeros(3)).item() == 0
    assert least_squares_discriminator_loss(torch.zeros(3), torch.ones(3)).item() == pytest.approx(1.0)
    assert least_squares_generator_loss(torch.full((3,), 3.0)).item() == pytest.approx(2.0)


def test_dcgan_sizes_and_refusals():
    assert doublings(28) == (7, 2) and doublings(32) == (4, 3) and doublings(64) == (4, 4)
    for side in (28, 32):
        model = genmodels.create("dcgan", preset="cpu", image_shape=(3, side, side))
        x = model.sample(4, generator=torch.Generator().manual_seed(0))
        assert x.shape == (4, 3, side, side) and x.min() >= -1 and x.max() <= 1
        assert model.discriminator(x).shape == (4,)
    with pytest.raises(ValueError, match="image side"):
        genmodels.create("dcgan", image_shape=(1, 27, 27))
    with pytest.raises(ValueError, match="square"):
        genmodels.create("dcgan", image_shape=(1, 28, 32))


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_save_then_load_gives_identical_samples(name, tmp_path):
    model = genmodels.create(name, preset="cpu")
    save_model(model, tmp_path / name)
    loaded = load_model(tmp_path / name)
    model.eval()
    first = model.sample(5, generator=torch.Generator().manual_seed(3))
    second = loaded.sample(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def _fd_digits(model, real_features, network) -> float:
    fake = to_unit(draw_samples(model, 300, seed=1), "symmetric")
    return compare_features(real_features, network.features(fake), kid_subsets=2)["fd"]


@pytest.mark.parametrize(("name", "steps", "factor"), [("gan", 600, 0.6), ("dcgan", 150, 0.5)])
def test_short_training_moves_samples_towards_the_digits(name, steps, factor, tmp_path):
    network = load_feature_network(None)
    real = network.features(real_images(genmodels.load_dataset("mnist", "test"), View("symmetric")))
    fast = {"lr_g": 1e-3, "lr_d": 1e-3}  # a larger step than the presets', to move in seconds
    torch.manual_seed(0)  # the trainer seeds with 0 too: the same initial weights
    initial = _fd_digits(genmodels.create(name, preset="cpu", **fast), real, network)
    result = genmodels.train(
        name, "mnist", preset="cpu", config=fast, out=tmp_path / name, steps=steps, batch_size=64,
        log_every=50, progress=False, tensorboard=False, num_samples=64, sample_every=0,
    )  # fmt: skip
    trained = _fd_digits(genmodels.load(tmp_path / name), real, network)
    assert trained < factor * initial, (initial, trained)
    logs = result.last_logs
    # The diagnostics are logged: D on real and fake images, and gradient norms of both players.
    for key in (
        "discriminator/D(x)",
        "discriminator/D(G(z))",
        "discriminator/grad_norm",
        "generator/grad_norm",
    ):
        assert key in logs, logs.keys()
    assert 0 < logs["discriminator/D(G(z))"] < logs["discriminator/D(x)"] < 1
    # And the class histogram of the fixed sample batch at the end of training.
    rows = [
        line
        for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        if "classes_covered" in line
    ]
    assert rows
