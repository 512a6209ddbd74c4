"""Puzzle-GAN: the key patches and their boxes, the mixed negatives, each loss term on hand-made
inputs, the decay of the loss weights, shapes and refusals, save/load, and a short run on the 8x8
digits in which the masks learn where the patches go."""

import itertools
import json
import math

import pytest
import torch

import genmodels
from genmodels.data import View, load_dataset
from genmodels.data.batches import make_batch
from genmodels.data.key_patches import box_masks, cut_patches
from genmodels.evaluation.placement import placement_scores
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.puzzlegan import (
    appearance_loss,
    discriminator_loss,
    loss_weight,
    mask_loss,
    mixed_negatives,
    place,
    shifted_partners,
    union,
)

DIGITS = "digits[patches=3, patch_size=4]"
TINY = {"image_shape": (1, 8, 8), "patch_size": 4, "channels": 8, "embed_dim": 16, "latent_dim": 8}


def _batch(data, rows=16):
    return make_batch(data, torch.arange(rows), View("symmetric"), None)


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist[patches=3]", "test")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return genmodels.create("puzzlegan", **TINY)


# -- the data: patches, boxes and masks agree ------------------------------------------------------
def test_patches_boxes_and_masks_are_consistent(mnist_test):
    boxes = mnist_test.fields["boxes"]
    assert boxes.shape == (1000, 3, 4) and boxes.dtype == torch.int64
    top, left, h, w = boxes.unbind(-1)
    assert (h == 10).all() and (w == 10).all()
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all()
    batch = _batch(mnist_test, 64)
    x, patches = batch["x"], cut_patches(batch["x"], batch["boxes"])
    masks = box_masks(batch["boxes"], 28, 28)  # [B, K, 1, H, W]
    assert masks.shape == (64, 3, 1, 28, 28) and (masks.flatten(2).sum(-1) == 100).all()
    for k in range(3):
        # Blanking everything outside box k leaves patch k as it was.
        inside = x * masks[:, k] + (-1) * (1 - masks[:, k])
        assert torch.equal(cut_patches(inside, batch["boxes"])[:, k], patches[:, k])
    # Key patches are parts of the digit: every patch holds ink (background is −1).
    ink = (patches > -1).flatten(2).sum(-1)
    assert (ink > 0).all() and ink.float().mean() > 25


def test_boxes_are_deterministic_per_split_and_differ_between_splits():
    train, again = load_dataset(DIGITS, "train"), load_dataset(DIGITS, "train")
    test = load_dataset(DIGITS, "test")
    assert torch.equal(train.fields["boxes"], again.fields["boxes"])
    assert len(train) + len(test) == 1797 and not torch.equal(train.images[: len(test)], test.images)
    assert not torch.equal(train.fields["boxes"][: len(test)], test.fields["boxes"])
    assert train.fields["boxes"][..., 2:].eq(4).all()


# -- D's mixed negatives --------------------------------------------------------------------------
def test_mixed_negatives_take_their_parts_from_other_images(mnist_test):
    batch = _batch(mnist_test, 8)
    x, boxes = batch["x"], batch["boxes"]
    region = box_masks(boxes, 28, 28).amax(1)  # [B, 1, H, W]: the union of each image's boxes
    partners = shifted_partners(8, generator=torch.Generator().manual_seed(0))
    assert sorted(partners.tolist()) == list(range(8)) and (partners != torch.arange(8)).all()
    shuffled_parts, shuffled_background = mixed_negatives(x, region, partners)
    inside, outside = region.bool().expand_as(x), ~region.bool().expand_as(x)
    other = x[partners]
    assert torch.equal(shuffled_parts[inside], other[inside]) and torch.equal(
        shuffled_parts[outside], x[outside]
    )
    assert torch.equal(shuffled_background[inside], x[inside])
    assert torch.equal(shuffled_background[outside], other[outside])
    # They really mix: each mixed image differs from its real image where the other one was used.
    for mixed in (shuffled_parts, shuffled_background):
        assert ((mixed - x).abs().flatten(1).sum(1) > 0).all()
    with pytest.raises(ValueError, match="at least 2"):
        shifted_partners(1)


# -- the losses on hand-made inputs ---------------------------------------------------------------
def test_masks_are_placed_boxes():
    # A logit that singles out one top-left corner places exactly that box; any logits place p² pixels.
    logits = torch.full((1, 1, 8, 8), -1e4)
    logits[0, 0, 2, 3] = 0.0
    assert torch.equal(place(logits, 4), box_masks(torch.tensor([[[2, 3, 4, 4]]]), 8, 8)[:, 0])
    spread = place(torch.randn(5, 1, 8, 8), 4)
    assert torch.allclose(spread.flatten(1).sum(1), torch.full((5,), 16.0)) and spread.max() <= 1
    # Corners that would put the box outside the image are never chosen.
    assert place(torch.zeros(1, 1, 8, 8), 4)[0, 0, 7, 7] == pytest.approx(1 / 25)


def test_loss_terms_on_hand_made_inputs():
    boxes = torch.tensor([[[0, 0, 4, 4], [4, 4, 4, 4]]])  # two 4x4 boxes in an 8x8 image
    true = box_masks(boxes, 8, 8)
    # Spatial loss: summed over pixels and patches. All-zero masks miss 2 · 16 pixels.
    assert mask_loss(torch.zeros_like(true), true).item() == 32
    assert mask_loss(true, true).item() == 0
    assert mask_loss(torch.full_like(true, 0.5), true).item() == pytest.approx(0.5 * 2 * 64)
    # The union of soft masks: 1 − (1 − ½)(1 − ½) = ¾; of the true boxes, 32 pixels.
    assert torch.allclose(union(torch.full((1, 2, 1, 2, 2), 0.5)), torch.full((1, 1, 2, 2), 0.75))
    assert union(true).sum().item() == 32
    # Appearance loss: ||ŷ ⊙ M̂ − y ⊙ M||_1. A generated image equal to the real one where both masks
    # agree costs nothing; a white image where the real one is black costs 2 per masked pixel.
    real = torch.rand(1, 1, 8, 8) * 2 - 1
    region = union(true)
    assert appearance_loss(real, region, real, region).item() == 0
    white, black = torch.ones(1, 1, 8, 8), -torch.ones(1, 1, 8, 8)
    assert appearance_loss(white, region, black, region).item() == pytest.approx(2 * 32)
    # Outside the masks nothing counts: a generated image masked out everywhere against a real one
    # masked out everywhere.
    assert appearance_loss(white, torch.zeros_like(region), black, torch.zeros_like(region)).item() == 0
    # Averaged over the batch: two copies cost what one does.
    two = appearance_loss(white.expand(2, -1, -1, -1), region, black.expand(2, -1, -1, -1), region)
    assert two.item() == pytest.approx(64)
    # D: real and three negatives; an undecided D pays 4 log 2, a confident right one nothing.
    zero = torch.zeros(5)
    assert discriminator_loss(zero, [zero, zero, zero]).item() == pytest.approx(4 * math.log(2))
    sure = torch.full((5,), 30.0)
    assert discriminator_loss(sure, [-sure, -sure, -sure]).item() < 1e-10
    # A D fooled by the shuffled parts alone pays about 30 for it.
    assert discriminator_loss(sure, [-sure, sure, -sure]).item() == pytest.approx(30, abs=1e-6)


def test_loss_weights_decay_from_1e_2_to_1e_4(tiny):
    horizon = 101
    weights = [loss_weight(t, 1e-2, 1e-4, horizon) for t in range(horizon + 20)]
    assert weights[0] == pytest.approx(1e-2) and weights[horizon - 1] == pytest.approx(1e-4)
    assert weights[(horizon - 1) // 2] == pytest.approx(1e-3)  # geometric: halfway is 1e-3
    assert all(a > b for a, b in itertools.pairwise(weights[:horizon]))
    assert all(w == pytest.approx(1e-4) for w in weights[horizon:])  # constant after the horizon
    # The model's weights follow the step the trainer gives it, and the step is saved state.
    model = genmodels.create("puzzlegan", **TINY, decay_steps=11)
    assert model.loss_weights() == pytest.approx((1e-2, 1e-2))
    model.on_step(10)
    assert model.loss_weights() == pytest.approx((1e-4, 1e-4))
    assert int(model.state_dict()["step"]) == 10


# -- shapes, order, refusals ------------------------------------------------------------------------
def test_sample_and_complete_shapes_and_order(tiny):
    data = load_dataset(DIGITS, "test")
    batch = _batch(data, 6)
    tiny.eval()
    patches = tiny.condition_from_batch(batch)
    assert patches.shape == (6, 3, 1, 4, 4) and torch.equal(patches, cut_patches(batch["x"], batch["boxes"]))
    images, masks = tiny.complete(patches, generator=torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 8, 8) and masks.shape == (6, 3, 1, 8, 8)
    assert images.min() >= -1 and images.max() <= 1 and masks.min() >= 0 and masks.max() <= 1
    samples = tiny.sample(6, condition=patches, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, images)
    assert tiny.sample(4, condition=patches[0]).shape == (4, 1, 8, 8)  # one set of patches, four z
    # The patches' order does not matter: the image stays, the masks follow their patches.
    order = torch.tensor([2, 0, 1])
    shuffled_images, shuffled_masks = tiny.complete(
        patches[:, order], generator=torch.Generator().manual_seed(0)
    )
    assert torch.allclose(shuffled_images, images, atol=1e-5)
    assert torch.allclose(shuffled_masks, masks[:, order], atol=1e-5)


def test_clear_errors(tiny):
    with pytest.raises(ValueError, match="condition=patches"):
        tiny.sample(2)
    with pytest.raises(ValueError, match=r"expected patches \[n, 3, 1, 4, 4\]"):
        tiny.sample(2, condition=torch.zeros(2, 3, 1, 5, 5))
    with pytest.raises(ValueError, match="expected patches"):
        tiny.complete(torch.zeros(2, 2, 1, 4, 4))
    with pytest.raises(ValueError, match="3 sets of patches for 2 samples"):
        tiny.sample(2, condition=torch.zeros(3, 3, 1, 4, 4))
    data = load_dataset("digits", "test")
    plain = _batch(data, 4)
    for objective in tiny.objectives():
        with pytest.raises(KeyError, match=r"mnist\[patches=3\]"):
            objective.loss(plain)
    wrong = _batch(load_dataset("digits[patches=2, patch_size=4]", "test"), 4)
    with pytest.raises(ValueError, match="configured for 3 patches of 4x4"):
        tiny.objectives()[0].loss(wrong)
    with pytest.raises(ValueError, match="no key-patch boxes"):
        placement_scores(tiny, data)
    with pytest.raises(ValueError, match="patch_size"):
        genmodels.create("puzzlegan", patch_size=30)


def test_save_then_load_gives_identical_outputs(tiny, tmp_path):
    tiny.on_step(7)
    save_model(tiny, tmp_path / "puzzle")
    loaded = load_model(tmp_path / "puzzle")
    tiny.eval(), loaded.eval()
    patches = tiny.condition_from_batch(_batch(load_dataset(DIGITS, "test"), 5))
    first = tiny.complete(patches, generator=torch.Generator().manual_seed(3))
    second = loaded.complete(patches, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert loaded.loss_weights() == tiny.loss_weights()


# -- a short run ------------------------------------------------------------------------------------
def test_short_training_teaches_the_masks(tmp_path):
    steps = 160
    result = genmodels.train(
        "puzzlegan", DIGITS, preset=None,
        config={**TINY, "decay_steps": steps, "lr_g": 2e-3, "mask_weight": (0.1, 0.01)},
        steps=steps, batch_size=32, log_every=20, out=tmp_path, progress=False, tensorboard=False,
        num_samples=0,
    )  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    mask_l1 = [row["generator/mask_l1"] for row in rows if "generator/mask_l1" in row]
    # All-zero masks would cost 3 · 16 = 48; boxes at random places about 3 · 2 · 16 · (1 − 0.2).
    assert mask_l1[-1] < 0.85 * mask_l1[0] and mask_l1[-1] < 48, mask_l1
    logs = result.last_logs
    for key in (
        "discriminator/D(x)",
        "discriminator/D(G(z))",
        "discriminator/D(shuffled_parts)",
        "discriminator/D(shuffled_background)",
        "generator/appearance_l1",
        "generator/mask_weight",
    ):
        assert key in logs, logs.keys()
    assert 1e-2 <= logs["generator/mask_weight"] < 1.5e-2  # the last 20 steps' mean: near the end
    # The placement scores: in range, and the same for the same seed.
    model, test = genmodels.load(tmp_path), load_dataset(DIGITS, "test")
    scores = placement_scores(model, test, seed=0, limit=100)
    assert scores == placement_scores(model, test, seed=0, limit=100)
    assert scores["patches"] == 300 and 0 <= scores["mean_iou"] <= 1 and 0 <= scores["appearance_l1"] <= 1
