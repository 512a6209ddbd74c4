"""Every explicit model, through the public API: a true normalised density, causal in its order,
with the parameter count of its formula, whose samples and completions follow its log_prob."""

import itertools
import math

import pytest
import torch

import genmodels
from genmodels.models.autoregressive.base import Completion

# A tiny config per model (the image shape is given by each test). A model joins every check
# below by adding its line here.
TINY = {
    "independent": {},
    "markov": {"order": 1},
    "fvsbn": {},
    "nade": {"hidden": 8},
    "made": {"hidden": (16, 12), "num_masks": 2, "natural_order": True},
    "made:direct": {"hidden": (16, 12), "num_masks": 2, "natural_order": True, "direct_connection": True},
    "pixelcnn": {"channels": 24, "layers": 2, "kernel_size": 3, "first_kernel_size": 3, "head_channels": 48},
    "pixelrnn": {"variant": "diagonal_bilstm", "layers": 2, "hidden_channels": 6},
    "pixelrnn:row_lstm": {"variant": "row_lstm", "layers": 2, "hidden_channels": 6},
}
BINARY_ONLY = {"markov"}
# A model's name, optionally ":variant" for a second entry with another config (e.g. the Row LSTM).


def make(name, image_shape=(1, 2, 3), levels=2, seed=0, **extra):
    torch.manual_seed(seed)
    model_name = name.split(":")[0]  # "pixelrnn:row_lstm" is the pixelrnn model with its own config
    model = genmodels.create(model_name, image_shape=image_shape, levels=levels, **{**TINY[name], **extra})
    _randomise(model)
    return model.eval()


def _randomise(model):
    """Fresh models often start at p = 1/2 everywhere; random weights make every check bite."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.7)


def all_images(image_shape, levels):
    n = math.prod(image_shape)
    values = torch.tensor(list(itertools.product(range(levels), repeat=n)), dtype=torch.float32)
    # Enumerate in the sequence order (h, w, c), then lay out as images; every image appears once either way.
    return values.view(-1, *image_shape) / (levels - 1)


@pytest.mark.parametrize("name", TINY)
def test_probabilities_of_all_binary_images_sum_to_one(name):
    model = make(name)
    images = all_images((1, 2, 3), 2)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(images), 0).exp().item()
    assert abs(total - 1.0) < 1e-5


@pytest.mark.parametrize("name", sorted(set(TINY) - BINARY_ONLY))
def test_categorical_colour_model_is_normalised(name):
    model = make(name, image_shape=(3, 1, 2), levels=3)  # 3^6 = 729 colour images, R -> G -> B
    images = all_images((3, 1, 2), 3)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(images), 0).exp().item()
    assert abs(total - 1.0) < 1e-5


@pytest.mark.parametrize("name", sorted(set(TINY) - BINARY_ONLY))
@pytest.mark.parametrize(("image_shape", "levels"), [((1, 3, 3), 2), ((3, 2, 2), 4)])
def test_causality_by_gradients(name, image_shape, levels):
    """d logits(position i) / d x(position j) is zero for every j at or after i in the model's order,
    and (for models that claim the full past) non-zero for every j before i."""
    model = make(name, image_shape=image_shape, levels=levels)
    order = list(model.generation_order())
    rank = {position: r for r, position in enumerate(order)}
    x = torch.rand(2, *image_shape, requires_grad=True)
    logits = model.logits(x)
    for position in order:
        output = logits[..., position[0], position[1], position[2]].sum()
        (gradient,) = torch.autograd.grad(output, x, retain_graph=True, allow_unused=True)
        depends = (
            torch.zeros(image_shape, dtype=torch.bool) if gradient is None else gradient.abs().sum(0) > 0
        )
        for other in order:
            if rank[other] >= rank[position]:
                assert not depends[other], f"{name}: output {position} reads input {other}, not in its past"
            elif model.has_full_context:
                assert depends[other], f"{name}: output {position} ignores earlier input {other}"


def test_markov_context_is_exactly_the_previous_k_pixels():
    """The Markov chain's logits are table look-ups (no gradient): check by changing inputs."""
    for order in (1, 2):
        model = make("markov", image_shape=(1, 3, 3), order=order)
        x = torch.randint(0, 2, (64, 1, 3, 3)).float()
        base = model.logits(x).flatten(1)
        for j in range(9):
            flipped = x.flatten(1).clone()
            flipped[:, j] = 1 - flipped[:, j]
            changed = (model.logits(flipped.view_as(x)).flatten(1) != base).any(0)
            expected = torch.zeros(9, dtype=torch.bool)
            expected[j + 1 : j + 1 + order] = True
            assert torch.equal(changed, expected), (order, j, changed)


@pytest.mark.parametrize("n_pixels", [1, 6, 784])
def test_parameter_counts_follow_their_formulas(n_pixels):
    shape = (1, 1, n_pixels)
    n = n_pixels
    assert genmodels.create("independent", image_shape=shape).num_parameters() == n
    assert genmodels.create("markov", image_shape=shape).num_parameters() == 2 * n - 1
    for k in (2, 3):
        expected = sum(2 ** min(i, k) for i in range(n))
        assert genmodels.create("markov", image_shape=shape, order=k).num_parameters() == expected
    assert genmodels.create("fvsbn", image_shape=shape).num_parameters() == n * (n + 1) // 2


@pytest.mark.parametrize("name", TINY)
def test_samples_follow_log_prob(name):
    """Empirical frequencies of 20,000 samples of a 2x2 binary image match exp(log_prob)."""
    model = make(name, image_shape=(1, 2, 2))
    images = all_images((1, 2, 2), 2)
    probabilities = model.log_prob(images).exp().detach()
    draws = model.sample(20000, generator=torch.Generator().manual_seed(0))
    index = {tuple(image.flatten().tolist()): i for i, image in enumerate(images)}
    counts = torch.bincount(torch.tensor([index[tuple(d.flatten().tolist())] for d in draws]), minlength=16)
    frequencies = counts.float() / len(draws)
    assert (frequencies - probabilities).abs().sum() / 2 < 0.02  # total variation distance


@pytest.mark.parametrize("name", TINY)
def test_completion_keeps_the_known_half_and_samples_the_conditional(name):
    model = make(name, image_shape=(1, 2, 2))
    top = torch.tensor([1.0, 0.0])
    partial = torch.zeros(20000, 1, 2, 2)
    partial[:, 0, 0] = top
    completed = model.sample(
        20000, condition=Completion.top_half(partial), generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(completed[:, 0, 0], partial[:, 0, 0])
    images = all_images((1, 2, 2), 2)
    matching = images[(images[:, 0, 0] == top).all(1)]  # the 4 images with this top row
    conditional = model.log_prob(matching).softmax(0).detach()
    bottoms = completed[:, 0, 1]
    frequencies = torch.stack([(bottoms == image[0, 1]).all(1).float().mean() for image in matching])
    assert (frequencies - conditional).abs().sum() / 2 < 0.02


@pytest.mark.parametrize("name", TINY)
def test_class_conditional_model_uses_its_label(name):
    model = make(name, image_shape=(1, 2, 3), num_classes=3)
    images = all_images((1, 2, 3), 2)
    with torch.no_grad():
        for label in range(3):
            total = torch.logsumexp(model.log_prob(images, torch.full((64,), label)), 0).exp().item()
            assert abs(total - 1.0) < 1e-5  # p(x | y) is normalised for every y
        a, b = (
            model.log_prob(images, torch.zeros(64, dtype=torch.long)),
            model.log_prob(images, torch.ones(64, dtype=torch.long)),
        )
        marginal = model.log_prob(images)  # no labels: log p(x) = logsumexp_y log p(x|y) − log K
        expected = torch.logsumexp(
            torch.stack([model.log_prob(images, torch.full((64,), k)) for k in range(3)]), 0
        ) - math.log(3)
    assert not torch.allclose(a, b)
    torch.testing.assert_close(marginal, expected)
    assert abs(torch.logsumexp(marginal, 0).exp().item() - 1.0) < 1e-5
    assert model.sample(4, condition=torch.tensor(2)).shape == (4, 1, 2, 3)
    with pytest.raises(ValueError, match=r"labels must be 4 integers in \[0, 3\)"):
        model.sample(4, condition=torch.tensor([0, 1, 2, 3]))
