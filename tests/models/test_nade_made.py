"""NADE and MADE: what each adds to the generic checks of tests/models/test_autoregressive.py.

NADE: the O(HD) running sum equals the O(HD²) reference (values and gradients), and the
incremental sampler makes exactly the draws of the reference sampler. MADE: the degree rule, the
autoregressive property of every mask set, the ensemble as a mixture of probabilities (normalised,
equal to its formula, sampled as a mixture), the mask schedule, and saving with its masks.
"""

import itertools
import math

import pytest
import torch

import genmodels
import genmodels.models.autoregressive.made  # registers "made"
import genmodels.models.autoregressive.nade as nade
from genmodels.io import load_model, save_model
from genmodels.models.autoregressive.base import Completion
from tests.conftest import train_on_digits


def _randomised(name, seed=0, **config):
    """A model with random weights around its initial ones, so that every comparison bites."""
    torch.manual_seed(seed)
    model = genmodels.create(name, **config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.7)
    return model.eval()


def _all_binary_images(image_shape):
    n = math.prod(image_shape)
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n))).view(-1, *image_shape)


def _total_variation(samples, probabilities, images):
    index = {tuple(image.flatten().tolist()): i for i, image in enumerate(images)}
    counts = torch.bincount(
        torch.tensor([index[tuple(s.flatten().tolist())] for s in samples]), minlength=len(images)
    )
    return (counts.float() / len(samples) - probabilities).abs().sum().item() / 2


# -- NADE ---------------------------------------------------------------------------------------------
NADE_CASES = {
    "binary": {"image_shape": (1, 4, 5), "levels": 2},
    "categorical colour": {"image_shape": (3, 2, 3), "levels": 4},
    "class-conditional": {"image_shape": (1, 4, 5), "levels": 2, "num_classes": 3},
}


@pytest.mark.parametrize("case", NADE_CASES)
def test_nade_running_sum_equals_the_naive_reference(case, monkeypatch):
    """Values and gradients of the blocked O(HD) path equal the O(HD²) recomputation; blocks of 3
    pixels make the carry between blocks (and a short last block) part of the check."""
    monkeypatch.setattr(nade, "MAX_BLOCK_PIXELS", 3)
    config = NADE_CASES[case]
    model = _randomised("nade", hidden=9, **config)
    levels = config["levels"]
    x = torch.randint(0, levels, (6, *config["image_shape"])).float() / (levels - 1)
    y = torch.tensor([0, 1, 2, 0, 1, 2]) if config.get("num_classes") else None

    fast, naive = model.logits(x, y), model.logits_naive(x, y)
    assert fast.shape == naive.shape == (6, *model.likelihood.logits_shape(config["image_shape"]))
    torch.testing.assert_close(fast, naive, rtol=1e-5, atol=1e-5)

    weights = torch.randn_like(fast)  # an arbitrary loss, so every output's gradient counts
    fast_grads = torch.autograd.grad((fast * weights).sum(), list(model.parameters()))
    naive_grads = torch.autograd.grad((naive * weights).sum(), list(model.parameters()))
    for fast_grad, naive_grad in zip(fast_grads, naive_grads, strict=True):
        torch.testing.assert_close(fast_grad, naive_grad, rtol=1e-4, atol=1e-5)


def test_nade_parameter_count():
    model = genmodels.create("nade", image_shape=(1, 4, 5), hidden=7)
    d, h = 20, 7
    assert model.num_parameters() == h * d + h + d * h + d  # W, c, V, b


NADE_SAMPLING = {
    "binary": ({"image_shape": (1, 4, 5)}, lambda n: None),
    "categorical colour": ({"image_shape": (3, 2, 3), "levels": 4}, lambda n: None),
    "class-conditional": ({"image_shape": (1, 4, 5), "num_classes": 3}, lambda n: torch.arange(n) % 3),
    "labels drawn by the sampler": ({"image_shape": (1, 4, 5), "num_classes": 3}, lambda n: None),
    "completion": (
        {"image_shape": (1, 4, 5)},
        lambda n: Completion.top_half(torch.randint(0, 2, (n, 1, 4, 5)).float()),
    ),
    "conditional completion": (
        {"image_shape": (3, 2, 3), "levels": 4, "num_classes": 3},
        lambda n: Completion.top_half(torch.randint(0, 4, (n, 3, 2, 3)) / 3.0, torch.arange(n) % 3),
    ),
}


@pytest.mark.parametrize("case", NADE_SAMPLING)
def test_nade_incremental_sampler_makes_the_reference_draws(case):
    config, condition = NADE_SAMPLING[case]
    model = _randomised("nade", hidden=9, **config)
    torch.manual_seed(5)
    given = condition(300)
    fast = model.sample(300, condition=given, generator=torch.Generator().manual_seed(11))
    reference = model.sample_naive(300, condition=given, generator=torch.Generator().manual_seed(11))
    assert torch.equal(fast, reference)
    assert fast.unique().numel() > 1  # real draws, not a constant image


# -- MADE ---------------------------------------------------------------------------------------------
def test_made_degrees_follow_the_rule():
    """m^0 is a permutation of 1..D (the identity with natural_order); every hidden degree lies in
    {min of the layer below, ..., D − 1}, so in [1, D − 1]; each set comes from its own seed."""
    d = 12
    model = genmodels.create("made", image_shape=(1, 3, 4), hidden=(40, 30, 20), num_masks=5)
    for k in range(5):
        order, hidden = model.degrees(k)
        assert sorted(order.tolist()) == list(range(1, d + 1))
        below = order
        for degrees in hidden:
            assert degrees.min() >= below.min() and degrees.max() <= d - 1
            below = degrees
    assert len({tuple(model.degrees(k)[0].tolist()) for k in range(5)}) == 5  # five different orders
    natural = genmodels.create("made", image_shape=(1, 3, 4), hidden=(40,), num_masks=3, natural_order=True)
    for k in range(3):
        assert torch.equal(natural.degrees(k)[0], torch.arange(1, d + 1))
    assert list(natural.generation_order()) == [(0, r, c) for r in range(3) for c in range(4)]


@pytest.mark.parametrize(("image_shape", "levels"), [((1, 3, 3), 2), ((3, 2, 2), 3)])
def test_made_output_never_reads_its_future_for_any_mask(image_shape, levels):
    """d logits(order position d) / d x(order position e) = 0 for every e >= d, for all K sets."""
    model = _randomised("made", image_shape=image_shape, levels=levels, hidden=(24, 24), num_masks=4)
    x = torch.rand(3, *image_shape, requires_grad=True)
    for k in range(4):
        model.on_step(k)
        order = list(model.generation_order())
        logits = model.logits(x)
        for d, position in enumerate(order):
            output = logits[..., position[0], position[1], position[2]].sum()
            (gradient,) = torch.autograd.grad(output, x, retain_graph=True)
            reads = gradient.abs().sum(0) > 0
            for later in order[d:]:
                assert not reads[later], f"mask {k}: output {position} reads input {later}"
        assert reads.any()  # the last output of the order reads something: the check can fail


def test_made_ensemble_is_a_normalised_mixture_of_probabilities():
    model = _randomised("made", image_shape=(1, 2, 3), hidden=(20,), num_masks=3)
    images = _all_binary_images((1, 2, 3))
    with torch.no_grad():
        ensemble = model.log_prob(images)
        per_mask = []
        for k in range(3):
            model.on_step(k)
            per_mask.append(model.likelihood.log_prob(model.logits(images), images))
        per_mask = torch.stack(per_mask)
    assert abs(torch.logsumexp(ensemble, 0).exp().item() - 1.0) < 1e-5
    torch.testing.assert_close(ensemble, per_mask.exp().mean(0).log())  # log (1/K) Σ_k p_k(x)
    assert (per_mask - ensemble).abs().max() > 0.1  # the sets really differ
    assert int(model.mask_index) == 2  # log_prob left the set in use as it found it


def test_on_step_selects_mask_s_mod_k():
    model, reference = (_randomised("made", image_shape=(1, 3, 3), hidden=(16,), num_masks=3) for _ in "ab")
    model.on_step(0)
    assert int(model.mask_index) == 0  # a fresh model uses set 0
    x = torch.rand(2, 1, 3, 3)
    for step in (4, 0, 1, 2, 3, 7, 8, 3000):
        model.on_step(step)
        assert int(model.mask_index) == step % 3
        with reference.using_mask(step % 3):
            assert list(model.generation_order()) == list(reference.generation_order())
            assert torch.equal(model.output_layer.mask, reference.output_layer.mask)
            assert torch.equal(model.logits(x), reference.logits(x))
    assert int(reference.mask_index) == 0


def test_made_save_then_load_keeps_the_ensemble_and_the_set_in_use(tmp_path):
    model = _randomised("made", image_shape=(1, 3, 3), hidden=(16, 12), num_masks=3, num_classes=2)
    model.on_step(5)
    save_model(model, tmp_path / "made")
    loaded = load_model(tmp_path / "made")
    x = torch.randint(0, 2, (8, 1, 3, 3)).float()
    y = torch.arange(8) % 2
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x, y), model.log_prob(x, y))
        assert torch.equal(loaded.logits(x, y), model.logits(x, y))
    assert int(loaded.mask_index) == 2
    assert list(loaded.generation_order()) == list(model.generation_order())


def test_made_samples_follow_the_ensemble():
    """20,000 samples of a 2x2 binary image follow exp(log_prob) of the K = 3 mixture, which is far
    from each of its sets (so drawing one set for the whole call would fail)."""
    model = _randomised("made", image_shape=(1, 2, 2), hidden=(16,), num_masks=3, seed=1)
    images = _all_binary_images((1, 2, 2))
    with torch.no_grad():
        probabilities = model.log_prob(images).exp()
        components = model.log_prob_per_mask(images, None).exp()
    assert min((p - probabilities).abs().sum().item() / 2 for p in components) > 0.05
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    assert _total_variation(samples, probabilities, images) < 0.02


def test_made_completion_draws_the_set_from_its_posterior():
    """Completing the bottom row given the top row samples the mixture's conditional
    p(bottom | top) = Σ_k p_k(top) p_k(bottom | top) / Σ_k p_k(top), not the mean of the p_k(bottom | top)."""
    model = _randomised("made", image_shape=(1, 2, 2), hidden=(16,), num_masks=3, natural_order=True, seed=2)
    top = torch.tensor([1.0, 0.0])
    images = _all_binary_images((1, 2, 2))
    matching = images[(images[:, 0, 0] == top).all(1)]
    with torch.no_grad():
        conditional = model.log_prob(matching).softmax(0)
        averaged = model.log_prob_per_mask(matching, None).softmax(1).mean(0)
    assert (conditional - averaged).abs().sum() / 2 > 0.02  # the two differ: the test can fail
    partial = torch.zeros(20000, 1, 2, 2)
    partial[:, 0, 0] = top
    completed = model.sample(
        20000, condition=Completion.top_half(partial), generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(completed[:, 0, 0], partial[:, 0, 0])
    frequencies = torch.stack(
        [(completed[:, 0, 1] == image[0, 1]).all(1).float().mean() for image in matching]
    )
    assert (frequencies - conditional).abs().sum() / 2 < 0.02


def test_made_refuses_a_completion_its_orders_cannot_condition_on():
    model = genmodels.create("made", image_shape=(1, 3, 3), hidden=(16,), num_masks=2)  # random orders
    partial = Completion.top_half(torch.zeros(4, 1, 3, 3))
    with pytest.raises(ValueError, match="known entries come first"):
        model.sample(4, condition=partial)


def test_made_trains_on_the_mask_of_the_step_and_validates_on_the_ensemble():
    model = _randomised("made", image_shape=(1, 2, 3), hidden=(12,), num_masks=3)
    batch = {"x": _all_binary_images((1, 2, 3))}
    model.train()
    model.on_step(4)
    loss, _ = model.negative_log_likelihood(batch)
    with torch.no_grad():
        expected = -model.likelihood.log_prob(model.logits(batch["x"]), batch["x"]).mean()
    torch.testing.assert_close(loss, expected)
    model.eval()
    with torch.no_grad():
        loss, _ = model.negative_log_likelihood(batch)
        torch.testing.assert_close(loss, -model.log_prob(batch["x"]).mean())


# -- a little training on real digits ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "config"),
    [("nade", {"hidden": 32}), ("made", {"hidden": (64,), "num_masks": 2})],
)
def test_short_training_on_digits_lowers_the_nll(name, config, tmp_path):
    nll = train_on_digits(name, config, tmp_path, steps=60, batch_size=64, checkpoint_every=0)
    assert len(nll) == 6 and nll[-1] < nll[0] - 3, nll
    model = genmodels.load(tmp_path)
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 8, 8)
