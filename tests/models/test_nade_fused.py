"""NADE's fused binary likelihood: the value of the O(HD²) reference, and the hand-written backward
against autograd through the blocked `logits` path, for arbitrary per-example weights.

Tiny tiles and stretches (monkeypatched) put the carry between tiles, between stretches of
recomputation and a short last tile and stretch into every comparison.
"""

import math

import pytest
import torch

import genmodels
import genmodels.models.autoregressive.nade as nade

# (activations per tile, pixels per stretch) for B = 5, H = 16 (80 activations a pixel):
TILINGS = {
    "one pixel a tile": (1, 4),  # tiles of 1 pixel, stretches of 4 (36 = 9 x 4)
    "tiles of 2 in stretches of 5": (2 * 80, 5),  # tiles 2, 2, 1; the last stretch 1 pixel
    "module defaults": (nade.FUSED_TILE_ELEMENTS, nade.CHECKPOINT_PIXELS),  # here: one tile a stretch
}


def _randomised(seed=0, dtype=torch.float64, **config):
    """A NADE with random weights around its initial ones (the class bias too), so that every
    comparison bites."""
    torch.manual_seed(seed)
    model = genmodels.create("nade", **{"image_shape": (1, 6, 6), "hidden": 16, **config}).to(dtype)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.7)
    return model


def _binary(n, image_shape=(1, 6, 6), dtype=torch.float64, seed=1):
    return torch.randint(0, 2, (n, *image_shape), generator=torch.Generator().manual_seed(seed)).to(dtype)


def _through_logits(model, x, y=None, logits=None):
    """log p(x | y) by autograd's path: the Bernoulli likelihood of `logits` (the blocked running sum
    unless told otherwise); the marginal over classes when a conditional model gets no labels."""
    logits = logits or model.logits
    classes = model.config.num_classes
    if classes and y is None:
        per_class = [_through_logits(model, x, torch.full((len(x),), k), logits) for k in range(classes)]
        return torch.logsumexp(torch.stack(per_class), 0) - math.log(classes)
    return model.likelihood.log_prob(logits(x, y), x)


@pytest.fixture(params=list(TILINGS))
def tiling(request, monkeypatch):
    tile_elements, stretch = TILINGS[request.param]
    monkeypatch.setattr(nade, "FUSED_TILE_ELEMENTS", tile_elements)
    monkeypatch.setattr(nade, "CHECKPOINT_PIXELS", stretch)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_prob_equals_the_naive_reference(tiling, dtype):
    model = _randomised(dtype=dtype)
    x = _binary(5, dtype=dtype)
    fused = model.log_prob(x)
    assert fused.shape == (5,) and fused.dtype == dtype
    torch.testing.assert_close(fused, _through_logits(model, x, logits=model.logits_naive), rtol=0, atol=1e-4)
    with torch.no_grad():  # evaluation keeps no checkpoints and gives the same numbers
        torch.testing.assert_close(model.log_prob(x), fused.detach(), rtol=0, atol=0)


CASES = {
    "grey": {},
    "colour, R before G before B": {"image_shape": (3, 2, 3)},
    "class-conditional, given labels": {"num_classes": 3},
    "class-conditional, marginal": {"num_classes": 3},  # logsumexp: unequal weights on each term
}


@pytest.mark.parametrize("case", CASES)
def test_gradients_equal_autograd_through_logits(tiling, case):
    """∂ Σ_b w_b log p(x_b) for unequal (and negative) w_b: W, V, b, c and the class bias."""
    config = CASES[case]
    model = _randomised(**config)
    x = _binary(5, config.get("image_shape", (1, 6, 6)))
    y = torch.tensor([0, 2, 1, 1, 0]) if case.endswith("given labels") else None
    weights = torch.tensor([1.0, -0.3, 2.5, 0.0, 0.7], dtype=torch.float64)
    parameters = dict(model.named_parameters())
    assert ("class_bias.embedding.weight" in parameters) == ("num_classes" in config)

    fused = model.log_prob(x, y)
    reference = _through_logits(model, x, y)
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-10)
    fused_grads = torch.autograd.grad((weights * fused).sum(), list(parameters.values()))
    reference_grads = torch.autograd.grad((weights * reference).sum(), list(parameters.values()))
    for name, fused_grad, reference_grad in zip(parameters, fused_grads, reference_grads, strict=True):
        assert fused_grad.abs().max() > 0, name  # every parameter's gradient is exercised
        torch.testing.assert_close(fused_grad, reference_grad, rtol=1e-9, atol=1e-12, msg=name)


def test_the_function_passes_gradcheck(monkeypatch):
    """Finite differences on the autograd.Function itself, with a1 a free [B, H] input (as c + C[y])."""
    monkeypatch.setattr(nade, "FUSED_TILE_ELEMENTS", 2 * 3 * 4)  # tiles of 2 pixels at B = 3, H = 4
    monkeypatch.setattr(nade, "CHECKPOINT_PIXELS", 3)
    generator = torch.Generator().manual_seed(2)

    def free(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_()

    x = torch.randint(0, 2, (3, 7), generator=generator).double()
    a1, W, V, b = free(3, 4), free(4, 7), free(7, 4), free(7)
    assert torch.autograd.gradcheck(
        lambda *inputs: nade._BinaryNADELogLikelihood.apply(x, *inputs, True), (a1, W, V, b)
    )


def test_a_gradient_for_the_image_takes_the_autograd_path():
    model = _randomised()
    x = _binary(3).requires_grad_()
    (grad,) = torch.autograd.grad(model.log_prob(x).sum(), x)
    (reference,) = torch.autograd.grad(_through_logits(model, x).sum(), x)
    torch.testing.assert_close(grad, reference)


def test_float32_training_gradients_match_within_rounding():
    """The training case: float32 and the loss of training (the batch mean of the NLL)."""
    model = _randomised(dtype=torch.float32, hidden=32)
    x = _binary(8, dtype=torch.float32)
    parameters = list(model.parameters())
    fused = torch.autograd.grad(-model.log_prob(x).mean(), parameters)
    reference = torch.autograd.grad(-_through_logits(model, x).mean(), parameters)
    for fused_grad, reference_grad in zip(fused, reference, strict=True):
        torch.testing.assert_close(fused_grad, reference_grad, rtol=1e-4, atol=1e-5)
