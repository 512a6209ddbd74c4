"""StarGAN: label tiling, the mask vector, the three losses on hand-made inputs (the classification
loss with unknown labels), the gradient penalty on D_src, n_critic and the lr schedule, the labels
read from the data, translation by vector and by name and its errors, the translation grid, save and
load, and a short training run on a tiny hand-made two-attribute set."""

import json
import math

import pytest
import torch
from torch import nn

import genmodels
from genmodels.config import ConfigError
from genmodels.data import ImageSet
from genmodels.io import load_model, save_model
from genmodels.models.adversarial import stargan
from genmodels.models.adversarial.stargan import (
    StarGAN,
    classification_loss,
    condition,
    known_labels,
    one_of_groups,
    reconstruction_loss,
    shuffled_targets,
    tile_labels,
)
from genmodels.training.trainer import TrainConfig, Trainer

TINY = {"g_channels": 4, "residual_blocks": 1, "d_channels": 8, "d_layers": 2}
NAN = math.nan


def tiny(attributes=("thick", "invert"), **overrides):
    config = {"image_shape": (1, 8, 8), "attributes": attributes, **TINY, **overrides}
    return genmodels.create("stargan", **config)


def tiny_multi():
    """Two label sets: thick/invert, and a one-of colour group red/green/blue (RGB images)."""
    return tiny(
        ("thick", "invert", "red", "green", "blue"),
        image_shape=(3, 8, 8),
        label_sets=(2, 3),
        one_of=(("red", "green", "blue"),),
    )


# -- the pieces ------------------------------------------------------------------------------------
def test_tile_labels_puts_the_label_vector_at_every_position():
    c = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0]])
    tiled = tile_labels(c, 4, 5)
    assert tiled.shape == (2, 3, 4, 5)
    for i in range(4):
        for j in range(5):
            assert torch.equal(tiled[:, :, i, j], c)
    # G reads the image and the tiled condition as channels.
    model = tiny()
    first = model.generator.stem
    assert first.in_channels == 1 + 2 and first.kernel_size == (7, 7)


def test_label_norm_moves_every_pixel_s_features_by_the_labels_and_starts_as_the_plain_norm():
    """A channel's spatially constant shift is what instance norm removes, so labels that enter only
    as constant input channels reach the interior of the first feature maps only weakly;
    the conditional norm applies them after the normalisation, at every position."""
    from genmodels.models.adversarial.stargan import ConditionalInstanceNorm, InstanceNorm

    torch.manual_seed(0)
    h = torch.randn(2, 4, 6, 6)
    c0, c1 = torch.zeros(2, 3), torch.tensor([[0.0, 1.0, 0.0]] * 2)
    conditional, plain = ConditionalInstanceNorm(4, 3), InstanceNorm(4, 3)
    assert torch.allclose(conditional(h, c0), plain(h, c0), atol=1e-6)  # starts as the plain norm
    assert torch.equal(plain(h, c0), plain(h, c1))  # the plain one ignores the labels
    nn.init.normal_(conditional.scale_shift.weight)
    moved = (conditional(h, c1) - conditional(h, c0)).abs()
    assert bool((moved.flatten(2).min(2).values > 0).all())  # every position of every channel
    # a constant input channel is removed by the plain norm: only the image's pattern is left
    shift = torch.arange(4.0)[None, :, None, None]
    assert torch.allclose(plain(h + shift, c0), plain(h, c0), atol=1e-5)
    # the option: on, G uses it; off (every preset, the paper's G), the plain norm
    assert isinstance(tiny(label_norm=True).generator.stem_norm, ConditionalInstanceNorm)
    assert isinstance(tiny().generator.stem_norm, InstanceNorm)


def test_input_skip_lets_the_last_convolution_read_the_image_itself():
    """With the skip, G's output depends on x by a path that bypasses the bottleneck: with every
    weight before the last convolution zeroed, the plain G's output no longer depends on x, and the
    skipped one's does, pixel for pixel. Off in every preset (the paper's G)."""
    torch.manual_seed(0)
    x, other = torch.rand(2, 1, 8, 8) * 2 - 1, torch.rand(2, 1, 8, 8) * 2 - 1
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for skip in (False, True):
        model = tiny(input_skip=skip)
        with torch.no_grad():
            for name, parameter in model.generator.named_parameters():
                if not name.startswith("out."):
                    parameter.zero_()
            g = model.generator
            moved = (g(x, c) - g(other, c)).abs().amax()
        assert g.out.in_channels == 4 + (1 if skip else 0)
        assert (float(moved) > 1e-3) is skip
    assert not tiny().config.input_skip


def test_the_mask_vector_names_the_row_s_label_set_and_zeroes_the_other_sets():
    labels = torch.tensor([[1.0, 0.0, NAN, NAN, NAN], [NAN, NAN, 0.0, 1.0, 0.0], [NAN, 1.0, NAN, NAN, NAN]])
    label_set = torch.tensor([0, 1, 0])
    c = condition(labels, label_set, (2, 3))
    assert torch.equal(
        c,
        torch.tensor(
            [
                [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],  # set 0's labels, set 1's zeroed, m = (1, 0)
                [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0],  # set 1's labels, m = (0, 1)
                [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],  # an unknown label of its own set: 0 too
            ]
        ),
    )
    # One label set: c̃ = c, no mask; a known label of another set is zeroed too.
    assert torch.equal(
        condition(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), (2,)), torch.tensor([[1.0, 0.0]])
    )
    assert torch.equal(
        condition(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([1]), (1, 2)),
        torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]]),
    )
    model = tiny_multi()
    assert model.config.condition_dim == 7 and model.generator.stem.in_channels == 3 + 7
    assert model.discriminator.cls.out_channels == 5  # D_cls predicts every set's labels


def test_classification_loss_sums_bce_over_known_attributes_and_ignores_unknown_ones():
    logits = torch.tensor([[0.0, 2.0, 3.0], [1.0, -1.0, 0.5]], requires_grad=True)
    labels = torch.tensor([[1.0, NAN, 1.0], [0.0, 1.0, 1.0]])
    label_set = torch.tensor([0, 0])
    known = known_labels(labels, label_set, (2, 1))  # column 2 is another set's: ignored too
    assert known.tolist() == [[True, False, False], [True, True, False]]
    loss = classification_loss(logits, labels, known)
    softplus = torch.nn.functional.softplus
    # Row 0: −log σ(0) = log 2. Row 1: −log(1 − σ(1)) − log σ(−1) = 2 softplus(1).
    expected = (math.log(2) + 2 * softplus(torch.tensor(1.0)).item()) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 1] == 0 and logits.grad[0, 2] == 0 and logits.grad[1, 2] == 0
    assert logits.grad[0, 0].item() == pytest.approx((0.5 - 1) / 2)  # (σ(ℓ) − y) / B


def test_reconstruction_l1_sums_pixels_and_is_zero_for_an_identity_generator(monkeypatch):
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    assert reconstruction_loss(x, x).item() == 0
    assert reconstruction_loss(x, x + 0.5).item() == pytest.approx(0.5 * 64)  # summed over pixels

    class Identity(nn.Module):
        def forward(self, x, c):
            return x

    model = tiny()
    model.generator = Identity()
    batch = {"x": x, "attributes": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}
    loss, logs = model.generator_step(batch)
    assert logs["rec_l1"].item() == 0
    # The paper's λ_rec on the mean over pixels: λ_rec / D on the sum. Here G(x, c) = x, so the
    # loss is −E D_src(x) + λ_cls L_cls(D_cls(x), c) with nothing from the reconstruction.
    scores, _ = model.discriminator(x)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(
        -scores.mean().item() + logs["cls_fake"].item(), rel=1e-5
    )


def test_the_critic_step_uses_the_gradient_penalty_of_d_src(monkeypatch):
    torch.manual_seed(0)
    model = tiny()
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    batch = {"x": x, "attributes": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] * 2)}
    calls = []
    original = stargan.gradient_penalty

    def spy(critic, real, fake, **options):
        calls.append((critic, real, fake))
        return original(critic, real, fake, **options)

    monkeypatch.setattr(stargan, "gradient_penalty", spy)
    loss, logs = model.discriminator_step(batch)
    ((critic, real, fake),) = calls
    assert torch.equal(real, x) and fake.shape == x.shape
    assert torch.equal(critic(x), model.discriminator(x)[0])  # D_src's patch scores
    assert critic(x).shape == (6, 2, 2)  # 8 -> 4 -> 2: a score per patch
    # L_D = E D(G(x, c)) − E D(x) + λ_cls L_cls^r + λ_gp GP.
    expected = -logs["w_distance"] + logs["cls_real"] + 10 * logs["gp"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # A critic of known gradient (a linear D_src with ‖w‖ = 3): GP = (3 − 1)².
    w = torch.randn(1, 1, 8, 8)
    w = 3 * w / w.norm()
    assert original(lambda images: (images * w).sum((1, 2, 3)), x, x.flip(0)).item() == pytest.approx(
        4.0, rel=1e-5
    )


def test_targets_are_shuffled_rows_of_the_same_label_set():
    labels = torch.tensor(
        [[0.0, 1.0, NAN], [1.0, 0.0, NAN], [NAN, NAN, 1.0], [1.0, 1.0, NAN], [NAN, NAN, 0.0]]
    )
    label_set = torch.tensor([0, 0, 1, 0, 1])
    for seed in range(5):
        targets = shuffled_targets(labels, label_set, torch.Generator().manual_seed(seed))
        assert torch.equal(torch.isnan(targets), torch.isnan(labels))  # each row keeps its set
        own = sorted(map(tuple, targets[label_set == 0, :2].tolist()))
        assert own == sorted(map(tuple, labels[label_set == 0, :2].tolist()))  # a permutation within the set


def test_objectives_n_critic_and_the_learning_rate_schedule():
    model = tiny()
    discriminator, generator = model.objectives()
    assert (discriminator.name, discriminator.every) == ("discriminator", 1)
    assert (generator.name, generator.every) == ("generator", 5)
    for objective in (discriminator, generator):
        assert objective.optimizer.lr == 1e-4 and objective.optimizer.betas == (0.5, 0.999)
        assert [objective.lr_factor(s, 100) for s in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert StarGAN.capabilities() == ["conditional", "translate"]  # a translator: no `sample`


# -- the labels from the data ---------------------------------------------------------------------
def test_settings_from_data_read_names_label_sets_and_one_of_groups():
    n = 12
    images = torch.zeros(n, 3, 8, 8, dtype=torch.uint8)
    attributes = torch.full((n, 5), NAN)
    label_set = torch.arange(n) % 2
    rows0, rows1 = label_set == 0, label_set == 1
    attributes[rows0, :2] = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).repeat(2, 1)
    attributes[rows1, 2:] = torch.eye(3).repeat(2, 1)
    data = ImageSet(
        images,
        name="hand-made",
        fields={"attributes": attributes, "label_set": label_set},
        field_names={"attributes": ("thick", "invert", "red", "green", "blue"), "label_set": ("a", "b")},
    )
    settings = StarGAN.settings_from_data(data)
    assert settings == {
        "attributes": ("thick", "invert", "red", "green", "blue"),
        "label_sets": (2, 3),
        "one_of": (("red", "green", "blue"),),
    }
    single = ImageSet(
        images,
        fields={"attributes": attributes[rows1, 2:].repeat(2, 1)},
        field_names={"attributes": ("r", "g", "b")},
    )
    assert StarGAN.settings_from_data(single)["label_sets"] == (3,)
    # At most one on (neither, thin, thick) is a group too; independent attributes are not.
    values = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert one_of_groups(values, [4, 5, 6]) == [[4, 5]]
    with pytest.raises(ConfigError, match=r"no attribute labels.*mnist\[styles=thick/invert\]"):
        StarGAN.settings_from_data(ImageSet(images, name="plain"))
    with pytest.raises(ConfigError, match="no attribute names"):
        genmodels.create("stargan")
    with pytest.raises(ConfigError, match="add up to"):
        tiny(label_sets=(1, 2))


# -- translation -----------------------------------------------------------------------------------
def test_translate_by_vector_and_by_names_and_its_errors():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    by_vector = model.translate(x, None, torch.tensor([1.0, 0.0]))
    assert by_vector.shape == x.shape and by_vector.abs().max() <= 1
    assert torch.equal(model.translate(x, [0.0, 0.0], {"thick": 1, "invert": 0}), by_vector)
    assert torch.equal(model.translate(x, [1.0, 1.0], {"invert": 0}), by_vector)
    assert torch.equal(model.translate(x, [0.0, 0.0], ["thick"]), by_vector)
    assert torch.equal(model.translate(x, [0.0, 0.0], "thick"), by_vector)
    assert torch.allclose(model.translate(x[0], None, [1.0, 0.0]), by_vector[0], atol=1e-6)  # one image
    per_row = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert torch.allclose(
        model.translate(x, None, per_row)[1], model.translate(x[1:2], None, [0.0, 1.0])[0], atol=1e-6
    )
    # Without a source, D's classifier reads the input's labels.
    read = model.estimate_labels(x)
    read[:, 1] = 1.0
    assert torch.equal(model.translate(x, None, {"invert": 1}), model.translate(x, None, read))
    with pytest.raises(KeyError, match=r"unknown attribute.*'bold'.*thick, invert"):
        model.translate(x, None, {"bold": 1})
    with pytest.raises(ValueError, match="vector of 2 labels"):
        model.translate(x, None, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="0 or 1"):
        model.translate(x, None, {"thick": 2})


def test_translate_with_one_of_groups_and_several_label_sets():
    torch.manual_seed(0)
    model = tiny_multi().eval()
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    colour_green = model.translate(x, None, [NAN, NAN, 0.0, 1.0, 0.0])  # the set: where labels are known
    assert torch.equal(model.translate(x, None, [5.0, 5.0, 0.0, 1.0, 0.0], label_set=1), colour_green)
    # Switching green on switches red off (a one-of group).
    assert torch.equal(model.translate(x, [NAN, NAN, 1.0, 0.0, 0.0], {"green": 1}), colour_green)
    c = model.condition(torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0]]), torch.tensor([1]))
    assert c.tolist() == [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="not all of one label set"):
        model.translate(x, None, {"thick": 1, "red": 1})
    with pytest.raises(ValueError, match="give the target's set"):
        model.translate(x, None, [1.0, 0.0, 0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="must be known"):
        model.translate(x, None, [NAN, NAN, NAN, 1.0, 0.0], label_set=1)


def test_translation_grid_has_the_input_then_one_column_per_attribute():
    torch.manual_seed(0)
    model = tiny_multi().eval()
    x = torch.rand(10, 3, 8, 8) * 2 - 1
    attributes = torch.full((10, 5), NAN)
    attributes[::2, :2] = 1.0
    attributes[1::2, 2:] = torch.tensor([1.0, 0.0, 0.0])
    batch = {"x": x, "attributes": attributes, "label_set": torch.arange(10) % 2}
    images, columns = model.translation_grid(batch)
    assert columns == 6 and images.shape == (8 * 6, 3, 8, 8)  # 8 rows: input + 5 attributes
    grid = images.view(8, 6, 3, 8, 8)
    assert torch.equal(grid[:, 0], x[:8])
    # Row 0 (set 0, thick and invert on): column "thick" switches thick off; column "green" sets the
    # colour group to green with set 1's mask, the row's colours read by D.
    assert torch.allclose(
        grid[0, 1], model.translate(x[0], [1.0, 1.0, NAN, NAN, NAN], {"thick": 0}), atol=1e-6
    )
    assert torch.allclose(grid[1, 4], model.translate(x[1], attributes[1], {"green": 1}), atol=1e-6)
    with pytest.raises(ValueError, match=r"no attribute labels.*mnist\[styles=thick/invert\]"):
        model.translation_grid({"x": x})


def test_save_then_load_gives_identical_translations(tmp_path):
    torch.manual_seed(0)
    model = tiny_multi().eval()
    save_model(model, tmp_path / "stargan")
    loaded = load_model(tmp_path / "stargan")
    assert loaded.config == model.config and loaded.config.one_of == (("red", "green", "blue"),)
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    for target in ({"blue": 1}, {"invert": 1}):
        assert torch.equal(model.translate(x, None, target), loaded.translate(x, None, target))


# -- training --------------------------------------------------------------------------------------
def two_attribute_set(n=256, seed=0):
    """8x8 grey images: a bright left half says `left`, a bright bottom half says `bottom`."""
    generator = torch.Generator().manual_seed(seed)
    attributes = torch.randint(0, 2, (n, 2), generator=generator).float()
    images = torch.rand(n, 1, 8, 8, generator=generator) * 60
    images[:, :, :, :4] += attributes[:, 0, None, None, None] * 180
    images[:, :, 4:, :] += attributes[:, 1, None, None, None] * 180
    return ImageSet(
        images.clamp(0, 255).to(torch.uint8),
        name="hand-made",
        fields={"attributes": attributes},
        field_names={"attributes": ("left", "bottom")},
    )


def test_short_training_run_learns_to_classify_and_to_reconstruct(tmp_path):
    data = two_attribute_set()
    torch.manual_seed(0)
    model = genmodels.create(
        "stargan", image_shape=(1, 8, 8), **StarGAN.settings_from_data(data), **TINY, lr_d=1e-3, lr_g=1e-3
    )
    config = TrainConfig(
        steps=100,
        batch_size=16,
        log_every=20,
        sample_every=0,
        checkpoint_every=0,
        progress=False,
        tensorboard=False,
    )
    Trainer(model, data, config, tmp_path).fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "discriminator/loss" in row]
    accuracy = [row["discriminator/accuracy_real"] for row in rows]
    rec = [row["generator/rec_l1"] for row in rows]
    assert accuracy[-1] > 0.9 and accuracy[-1] > accuracy[0] + 0.2, accuracy
    assert rec[-1] < rec[0], rec
    assert all(math.isfinite(row["discriminator/gp"]) for row in rows)
    assert (tmp_path / "samples" / "final.png").is_file()  # the trainer's translation grid


def test_the_identity_term_adds_lambda_id_times_the_mean_l1_of_g_asked_for_no_change():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    batch = {"x": x, "attributes": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}
    plain, with_identity = tiny(), tiny(identity_weight=5.0)
    with_identity.load_state_dict(plain.state_dict())
    torch.manual_seed(1)  # the same shuffled targets for both
    loss, logs = plain.generator_step(batch)
    torch.manual_seed(1)
    loss_id, logs_id = with_identity.generator_step(batch)
    assert "id_l1" not in logs
    unchanged = plain.generator(x, plain.condition(batch["attributes"], torch.zeros(3, dtype=torch.long)))
    mean_l1 = (x - unchanged).abs().mean()
    assert logs_id["id_l1"].item() == pytest.approx(mean_l1.item(), rel=1e-5)
    assert loss_id.item() == pytest.approx(loss.item() + 5.0 * mean_l1.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="identity_weight"):
        tiny(identity_weight=-1.0)


def test_the_cycle_term_s_warm_up_weight_holds_for_its_steps_then_the_paper_s_lambda_rec():
    model = tiny(warmup_rec_weight=2.5, warmup_steps=3)
    assert model.rec_weight() == 2.5  # before the trainer's first call: step 0
    for step, expected in [(0, 2.5), (2, 2.5), (3, 10.0), (100, 10.0)]:
        model.on_step(step)
        assert model.rec_weight() == expected
    assert tiny().rec_weight() == 10.0

    # The weight is the one the loss uses: an identity G's reconstruction is exact, so compare a
    # shifted one, whose mean |x − G(G(x, c), c′)| is 0.5 at every pixel.
    class Shift(nn.Module):
        def forward(self, x, c):
            return x + 0.25

    x = torch.rand(3, 1, 8, 8) * 2 - 1
    batch = {"x": x, "attributes": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}
    losses = []
    model.generator = Shift()
    for step in (0, 3):
        model.on_step(step)
        torch.manual_seed(1)  # the same shuffled targets at both steps
        losses.append(model.generator_step(batch)[0].item())
    assert losses[1] - losses[0] == pytest.approx((10.0 - 2.5) * 0.5, rel=1e-5)
    with pytest.raises(ConfigError, match="warmup"):
        tiny(warmup_steps=-1)
