"""Gated PixelCNN: no blind spot and no leak (checked by gradients, with the checks shown to catch
both faults), cached sampling identical to the naive sampler, and a short training that learns."""

import itertools

import pytest
import torch
from torch import nn

import genmodels
import genmodels.models.autoregressive.pixelcnn as pixelcnn
from genmodels.models.autoregressive.base import Completion
from genmodels.models.layers import MaskedConv2d
from tests.conftest import train_on_digits

# 8 feature maps per colour: enough that no output's ReLUs are all dead at once by chance.
SMALL = {"channels": 24, "kernel_size": 3, "first_kernel_size": 3, "head_channels": 48}


def make(image_shape, layers, levels=2, seed=0, **extra):
    torch.manual_seed(seed)
    model = genmodels.create(
        "pixelcnn", image_shape=image_shape, levels=levels, layers=layers, **{**SMALL, **extra}
    )
    with torch.no_grad():  # away from the initial weights, so that every connection carries signal
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    return model.eval()


def dependencies(logits_of, image_shape, batch=4):
    """reads[c, i, j] = which inputs [C, H, W] the logits of position (c, i, j) depend on (by gradients).

    One backward pass for all positions: the images are independent, so the same `batch` random
    images are repeated once per position, and each copy's gradient says what its position reads."""
    positions = list(itertools.product(*(range(size) for size in image_shape)))
    x = torch.rand(batch, *image_shape).repeat(len(positions), 1, 1, 1).requires_grad_()
    logits = logits_of(x)
    chosen = sum(
        logits[k * batch : (k + 1) * batch, ..., c, i, j].sum() for k, (c, i, j) in enumerate(positions)
    )
    (gradient,) = torch.autograd.grad(chosen, x)
    return (gradient.view(len(positions), batch, *image_shape).abs().sum(1) > 0).view(
        *image_shape, *image_shape
    )


def causal_past(image_shape):
    """past[c, i, j] = the inputs before position (c, i, j): earlier pixels in raster order, every
    colour; and the earlier colours of the same pixel."""
    channels, height, width = image_shape
    c, i, j = torch.meshgrid(torch.arange(channels), torch.arange(height), torch.arange(width), indexing="ij")
    pixel = i * width + j
    earlier_pixel = pixel.view(*image_shape, 1, 1, 1) > pixel.view(1, 1, 1, *image_shape)
    same_pixel = pixel.view(*image_shape, 1, 1, 1) == pixel.view(1, 1, 1, *image_shape)
    earlier_colour = c.view(*image_shape, 1, 1, 1) > c.view(1, 1, 1, *image_shape)
    return earlier_pixel | (same_pixel & earlier_colour)


@pytest.mark.parametrize(("image_shape", "levels"), [((1, 7, 7), 2), ((3, 7, 7), 4)])
def test_every_output_reads_exactly_its_whole_past(image_shape, levels):
    """No blind spot: pixel (i, j) reads every row above in full (also the pixels to its right) and
    everything left of it, colour c reads the colours < c of its own pixel; nothing later."""
    model = make(image_shape, layers=6, levels=levels)  # reach 1 + 5 = 6 covers a 7x7 image
    assert model.has_full_context
    reads = dependencies(model.logits, image_shape)
    past = causal_past(image_shape)
    leaks = (reads & ~past).nonzero().tolist()
    missed = (past & ~reads).nonzero().tolist()
    assert not leaks, f"outputs read later inputs (output c, i, j, input c, i, j): {leaks[:5]}"
    assert not missed, f"outputs ignore earlier inputs (output c, i, j, input c, i, j): {missed[:5]}"


def test_receptive_field_is_the_window_the_model_claims():
    """With R = k_1//2 + (layers − 1)·(k//2) = 3 on a 7x7 image, pixel (i, j) reads exactly rows
    i − 1 − R .. i − 1 in columns j − R .. j + R and the R pixels left of it; it says it lacks
    the full context."""
    model = make((1, 7, 7), layers=3)
    assert model.reach == 3 and not model.has_full_context
    reads = dependencies(model.logits, (1, 7, 7))[0, :, :, 0]
    i, j = torch.meshgrid(torch.arange(7), torch.arange(7), indexing="ij")
    rows_up = i.view(7, 7, 1, 1) - i.view(1, 1, 7, 7)
    columns_left = j.view(7, 7, 1, 1) - j.view(1, 1, 7, 7)
    above = (rows_up >= 1) & (rows_up <= 1 + model.reach) & (columns_left.abs() <= model.reach)
    left = (rows_up == 0) & (columns_left >= 1) & (columns_left <= model.reach)
    assert torch.equal(reads, above | left)


def test_a_plain_masked_convolution_stack_has_the_blind_spot():
    """The same check on a stack of 3x3 masked convolutions (mask A, then B), with the receptive
    field size of the gated model above: causal, but pixels above and to the right are missed."""
    torch.manual_seed(0)
    layers = [MaskedConv2d(1, 16, 3, "A"), nn.Tanh()]
    for _ in range(5):
        layers += [MaskedConv2d(16, 16, 3, "B"), nn.Tanh()]
    plain = nn.Sequential(*layers, MaskedConv2d(16, 1, 1, "B"))
    reads = dependencies(plain, (1, 7, 7))
    past = causal_past((1, 7, 7))
    assert not (reads & ~past).any()  # it is causal ...
    assert reads[0, 3, 3, 0, 2, 4]  # ... reads the pixel above-right ...
    assert not reads[0, 3, 3, 0, 2, 5] and not reads[0, 3, 3, 0, 1, 6]  # ... but not those beyond
    assert (past & ~reads).any()


def test_without_the_down_shift_the_current_row_leaks(monkeypatch):
    """The vertical stack at row r reads row r in full; the one-row shift is what keeps the pixels
    at and right of (r, c) out. Remove it and the check catches the leak."""
    monkeypatch.setattr(pixelcnn, "down_shift", lambda v: v)
    model = make((1, 5, 5), layers=3)
    reads = dependencies(model.logits, (1, 5, 5))
    assert reads[0, 2, 1, 0, 2, 1] and reads[0, 2, 1, 0, 2, 3]  # itself and its right: the future


def _random_known(image_shape, n, seed):
    generator = torch.Generator().manual_seed(seed)
    known = torch.rand((n, *image_shape), generator=generator) < 0.5
    image = torch.randint(0, 2, (n, *image_shape), generator=generator).float()
    return Completion(image, known)


CASES = {
    "binary": ((1, 8, 8), 2, 0, None),
    "256 levels": ((1, 6, 6), 256, 0, None),
    "colour": ((3, 5, 5), 4, 0, None),
    "colour 256 levels, labels": ((3, 4, 4), 256, 3, torch.tensor([0, 1, 2, 1, 0, 2])),
    "labels drawn": ((1, 6, 6), 2, 4, None),
    "completion of the top half": ((1, 8, 8), 2, 0, "top half"),
    "colour completion with labels": ((3, 5, 5), 4, 3, "top half"),
    "scattered known entries": ((3, 5, 5), 2, 0, "scattered"),
}


@pytest.mark.parametrize("case", CASES)
def test_cached_sampling_equals_naive_sampling(case):
    image_shape, levels, num_classes, condition = CASES[case]
    model = make(image_shape, layers=3, levels=levels, num_classes=num_classes)
    n = 6
    if condition == "top half":
        images = torch.randint(0, levels, (n, *image_shape)).float() / (levels - 1)
        labels = torch.arange(n) % num_classes if num_classes else None
        condition = Completion.top_half(images, labels)
    elif condition == "scattered":  # some colours of a pixel known for all images, some for a few
        condition = _random_known(image_shape, n, seed=3)
    fast = model.sample(n, condition=condition, generator=torch.Generator().manual_seed(7))
    naive = model.sample_naive(n, condition=condition, generator=torch.Generator().manual_seed(7))
    assert torch.equal(fast, naive)
    if isinstance(condition, Completion):
        assert torch.equal(fast[condition.known], condition.image[condition.known])
    drawn = fast if not isinstance(condition, Completion) else fast[~condition.known]
    # The samples must vary, or the comparison says nothing (a sampler that always draws 0 would pass).
    assert len(drawn.unique()) >= min(levels, 3), f"degenerate samples: {drawn.unique().tolist()}"


def test_cached_sampler_is_reproducible_and_leaves_training_mode():
    model = make((1, 6, 6), layers=2).train()
    first = model.sample(4, generator=torch.Generator().manual_seed(0))
    second = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, second) and model.training


def test_config_is_checked():
    with pytest.raises(ValueError, match="multiple of the 3 colours"):
        genmodels.create("pixelcnn", image_shape=(3, 4, 4), channels=16)
    with pytest.raises(ValueError, match="odd"):
        genmodels.create("pixelcnn", image_shape=(1, 4, 4), kernel_size=4)


def test_short_training_lowers_the_nll(tmp_path):
    config = {"channels": 16, "layers": 3, "kernel_size": 3, "first_kernel_size": 5, "head_channels": 32}
    nll = train_on_digits("pixelcnn", config, tmp_path, steps=60, batch_size=50)
    assert len(nll) == 6
    assert nll[-1] < nll[0] - 3, nll  # nats per 8x8 binarised digit
