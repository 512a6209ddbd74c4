"""Progressive GAN: the growth schedule, the fade-in of G, D and the real images, its layers
(equalised learning rate, pixel norm, minibatch stddev) on hand-made inputs, the WGAN-GP losses,
exact resume in the middle of a fade, save and load, and a short training run on the digits."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import genmodels
from genmodels.api import resume
from genmodels.config import ConfigError
from genmodels.data import View, to_unit
from genmodels.evaluation.sample_quality import real_images
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.losses import (
    drift_penalty,
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genmodels.models.adversarial.progan import ProGAN, schedule
from genmodels.models.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from genmodels.training.checkpoint import latest_checkpoint

QUIET = {"progress": False, "tensorboard": False, "num_samples": 0}
# Digits are 8x8: one doubling (4x4, then 8x8 faded in). 4 + (6 + 4) = 14 steps in all.
TINY = {
    "latent_dim": 8,
    "channels": 8,
    "channel_base": 32,
    "stabilise_steps": 4,
    "fade_steps": 6,
    "group_size": 4,
}


def tiny_32(**overrides):
    config = {
        "image_shape": (1, 32, 32),
        "latent_dim": 8,
        "channels": 8,
        "channel_base": 64,
        "stabilise_steps": 3,
        "fade_steps": 4,
        **overrides,
    }
    return genmodels.create("progan", **config)


# -- the schedule ------------------------------------------------------------------------------------
def test_resolution_grows_and_alpha_rises_linearly_during_each_fade():
    # 32x32: stabilise 3 steps at 4x4, then for 8, 16 and 32: fade 4 steps, stabilise 3.
    expected = [(0, 1.0)] * 3
    for level in (1, 2, 3):
        expected += [(level, t / 4) for t in range(4)] + [(level, 1.0)] * 3
    assert [schedule(step, 3, 3, 4) for step in range(24)] == expected
    assert schedule(24, 3, 3, 4) == schedule(10_000, 3, 3, 4) == (3, 1.0)  # full size after the schedule
    assert schedule(5, 3, 3, 0) == (1, 1.0)  # no fade: the new block at once

    model = tiny_32()
    model.on_step(12)  # the third step of the 16x16 fade
    assert (model.resolution, model.alpha) == (16, 0.5)
    assert model.milestones() == {3: "stage_4x4", 10: "stage_8x8", 17: "stage_16x16", 24: "stage_32x32"}
    # The trainer writes grid k after `end` steps are done, i.e. after step end − 1, the last of stage k.
    for end, name in model.milestones().items():
        model.on_step(end - 1)
        assert name == f"stage_{model.resolution}x{model.resolution}" and model.alpha == 1.0


def test_samples_have_the_full_shape_at_every_stage_and_fade_ins_start_where_the_old_output_was():
    torch.manual_seed(0)
    model = tiny_32().eval()
    z = torch.randn(8, 8)
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    for step in range(26):
        model.on_step(step)
        samples = model.sample(8, generator=torch.Generator().manual_seed(0))
        assert samples.shape == (8, 1, 32, 32) and samples.abs().max() <= 1
        side = model.resolution
        assert model.generator(z, model.level, model.alpha).shape == (8, 1, side, side)
        assert model.reals(x).shape == (8, 1, side, side)
        assert model.critic(model.reals(x)).shape == (8,)
    with torch.no_grad():
        for level in (1, 2, 3):
            # α = 0: G's output is the previous stage's, upsampled; D sees the pooled image with its
            # previous stage's path; the real images are the pooled ones, upsampled.
            up = F.interpolate(model.generator(z, level - 1, 1.0), scale_factor=2, mode="nearest")
            assert torch.allclose(model.generator(z, level, 0.0), up, atol=1e-6)
            side = 4 * 2**level
            real = F.avg_pool2d(x, 32 // side)
            assert torch.allclose(
                model.discriminator(real, level, 0.0),
                model.discriminator(F.avg_pool2d(real, 2), level - 1, 1.0),
                atol=1e-5,
            )
        model.on_step(10)  # the 16x16 fade starts: α = 0
        low = F.interpolate(F.avg_pool2d(x, 4), scale_factor=2, mode="nearest")
        assert torch.allclose(model.reals(x), low, atol=1e-6)
        model.on_step(12)  # α = 1/2: half way between the two resolutions
        assert torch.allclose(model.reals(x), 0.5 * low + 0.5 * F.avg_pool2d(x, 2), atol=1e-6)


def test_image_sizes_that_are_not_powers_of_two_are_refused_and_mnist_is_padded_to_32():
    for shape in ((1, 28, 28), (1, 2, 2), (1, 32, 16)):
        with pytest.raises(ConfigError, match="power of two"):
            genmodels.create("progan", image_shape=shape)
    model = tiny_32()
    assert model.default_pad((1, 28, 28)) == 2
    assert model.default_pad((1, 8, 8)) == 0
    assert model.default_pad((3, 60, 60)) == 2
    assert model.default_pad((1, 2, 2)) == 1
    with pytest.raises(ConfigError, match="padded evenly"):
        model.default_pad((1, 7, 7))
    # The paper's widths: 512 maps up to 32x32, then halving.
    paper = ProGAN.make_config("paper", image_shape=(3, 128, 128))
    assert [paper.width(k) for k in range(paper.doublings + 1)] == [512, 512, 512, 512, 256, 128]


# -- the layers ----------------------------------------------------------------------------------------
def test_equalised_layers_store_unit_normal_weights_and_scale_them_by_the_he_constant():
    torch.manual_seed(0)
    linear = EqualizedLinear(256, 300)
    assert linear.weight.mean().abs() < 0.01 and abs(linear.weight.std().item() - 1) < 0.01
    assert torch.equal(linear.bias, torch.zeros(300))
    x = torch.randn(5, 256)
    c = math.sqrt(2) / math.sqrt(256)
    assert torch.allclose(linear(x), F.linear(x, linear.weight * c, linear.bias), atol=1e-6)

    conv = EqualizedConv2d(3, 4, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 3, 6, 6)
    c = math.sqrt(2) / math.sqrt(3 * 3 * 3)
    out = conv(x)
    assert out.shape == (2, 4, 6, 6)
    assert torch.allclose(out, F.conv2d(x, conv.weight * c, conv.bias, padding=1), atol=1e-6)
    to_rgb = EqualizedConv2d(16, 1, 1, gain=1.0)  # toRGB: 1x1, gain 1
    x = torch.randn(2, 16, 4, 4)
    assert torch.allclose(to_rgb(x), F.conv2d(x, to_rgb.weight / 4, to_rgb.bias), atol=1e-6)
    # The gradient reaching the stored weight is scaled by c too: the point of scaling at run time.
    (conv(torch.ones(1, 3, 6, 6))[0, 0, 3, 3]).backward()
    assert torch.allclose(conv.weight.grad[0], torch.full((3, 3, 3), c))


def test_pixel_norm_gives_unit_mean_square_features_at_every_pixel():
    x = torch.randn(4, 16, 5, 5) * (torch.rand(4, 1, 5, 5) + 0.1) * 10  # mean squares far above 1e-8
    y = PixelNorm()(x)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(4, 5, 5), atol=1e-5)
    assert torch.allclose(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True), atol=1e-6)


def test_minibatch_stddev_on_a_hand_made_batch():
    # Groups of 2 over a batch of 4: examples {0, 2} and {1, 3} (example i is in group i mod 2).
    x = torch.stack([torch.full((2, 3, 3), v) for v in (0.0, 1.0, 2.0, 1.0)])
    x[2, 1] = 4.0  # group {0, 2}: feature 0 has values 0, 2 (σ = 1), feature 1 has 0, 4 (σ = 2)
    y = MinibatchStdDev(group_size=2)(x)
    assert y.shape == (4, 3, 3, 3)
    assert torch.equal(y[:, :2], x)
    expected = torch.tensor([1.5, 1e-4, 1.5, 1e-4])  # mean of σ = 1, 2; and sqrt(0 + 1e-8)
    assert torch.allclose(y[:, 2], expected.view(4, 1, 1).expand(4, 3, 3), rtol=1e-4)
    # A batch not divisible by the group size uses the largest divisor below it (6 -> groups of 3).
    assert MinibatchStdDev(group_size=4)(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4)


# -- the losses --------------------------------------------------------------------------------------
def test_wasserstein_losses_and_drift_term():
    real, fake = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 0.5, 2.0])
    assert wasserstein_critic_loss(real, fake).item() == pytest.approx(1.0 - 2.0 / 3.0)
    assert wasserstein_generator_loss(fake).item() == pytest.approx(-1.0)
    assert drift_penalty(real).item() == pytest.approx(14.0 / 3.0)


def test_gradient_penalty_of_a_linear_critic_is_known():
    # D(x) = <w, x>: ‖∇D‖ = ‖w‖ everywhere, so the penalty is (‖w‖ − 1)² wherever x̂ falls.
    w = torch.randn(1, 2, 3, 3)
    w = (3 * w / w.norm()).requires_grad_(True)
    critic = lambda x: (x * w).sum(dim=(1, 2, 3))  # noqa: E731
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx(4.0, rel=1e-5)
    # The graph is kept, so the penalty trains the critic: d/dw (‖w‖ − 1)² = 2 (‖w‖ − 1) w / ‖w‖.
    penalty.backward()
    assert torch.allclose(w.grad, 2 * 2 * w.detach() / 3, atol=1e-5)
    # A critic with several scores per image (a patch critic, as StarGAN's): the gradient of their sum.
    v = torch.zeros(1, 2, 3, 3)
    v[0, 0, 0, 0] = 1.0
    patches = lambda x: torch.stack([(x * v).sum(dim=(1, 2, 3)), 2 * (x * v).sum(dim=(1, 2, 3))], 1)  # noqa: E731
    assert gradient_penalty(patches, real, fake).item() == pytest.approx(4.0)  # (3 − 1)²


# -- training, resume, save and load --------------------------------------------------------------
def _train(out, **options):
    settings = {"steps": 14, "batch_size": 16, "checkpoint_every": 5, "log_every": 7, **QUIET, **options}
    return genmodels.train("progan", "digits", preset=None, config=TINY, out=out, **settings)


def test_resume_in_the_middle_of_a_fade_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    _train(whole, ema_decay=0.9)

    broken = tmp_path / "broken"
    original = ProGAN.on_step

    def crash_at_step_8(self, step):
        if step == 8:  # the 8x8 fade runs over steps 4..9
            raise KeyboardInterrupt("simulated kill")
        original(self, step)

    monkeypatch.setattr(ProGAN, "on_step", crash_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        _train(broken, ema_decay=0.9)
    monkeypatch.undo()
    assert latest_checkpoint(broken).name == "step_0000005"  # α = 1/6 at the next step
    assert resume(broken).steps == 14

    for weights in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(str(whole / weights)), load_file(str(broken / weights))
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), (weights, name)
    loaded = genmodels.load(broken, use_ema=True)
    assert (loaded.resolution, loaded.alpha) == (8, 1.0)  # the schedule's step is saved with the weights


def test_save_then_load_gives_identical_samples_mid_fade(tmp_path):
    model = tiny_32().eval()
    model.on_step(12)  # 16x16, α = 1/2
    save_model(model, tmp_path / "progan")
    loaded = load_model(tmp_path / "progan")
    assert (loaded.resolution, loaded.alpha) == (16, 0.5)
    first = model.sample(6, generator=torch.Generator().manual_seed(3))
    second = loaded.sample(6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def _mean_image_error(model, real_mean):
    """Mean squared difference between the samples' mean image and the data's, in [0, 1]."""
    samples = to_unit(model.sample(1000, generator=torch.Generator().manual_seed(1)), "symmetric")
    return (samples.mean(0) - real_mean).pow(2).mean().item()


def test_short_training_run_on_the_digits(tmp_path):
    config = {**TINY, "channels": 16, "channel_base": 128, "stabilise_steps": 40, "fade_steps": 40}
    settings = {**QUIET, "num_samples": 16, "sample_every": 0, "log_every": 20, "checkpoint_every": 0}
    real_mean = real_images(genmodels.load_dataset("digits"), View("symmetric")).mean(0)
    torch.manual_seed(0)  # the trainer seeds with 0 too: the same initial weights
    initial = genmodels.create("progan", image_shape=(1, 8, 8), **config)
    initial.on_step(10**6)  # sample at the full size, as the trained model does
    genmodels.train(
        "progan", "digits", preset=None, config=config, out=tmp_path, steps=160, batch_size=32, **settings
    )
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "critic/loss" in row]
    assert [row["critic/resolution"] for row in rows] == [4.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert [row["critic/alpha"] for row in rows[2:4]] == pytest.approx([9.5 / 40, 29.5 / 40])
    for row in rows:
        assert all(math.isfinite(row[key]) for key in ("critic/gp", "critic/drift", "generator/loss"))
        assert row["critic/gp"] < 1.0  # the critic's gradient norm stays near 1
    # The critic soon tells real from fake: E D(x) − E D(G(z)) > 0. (Later the estimate is noisy
    # and dips below zero now and then: one critic step per generator step, as in the paper.)
    assert rows[0]["critic/w_distance"] > 0 and rows[1]["critic/w_distance"] > 0
    # The samples' mean image moves towards the digits' (about 0.29 at initialisation, 0.02 after).
    trained = genmodels.load(tmp_path)
    assert _mean_image_error(trained, real_mean) < 0.3 * _mean_image_error(initial, real_mean)
    names = sorted(path.name for path in (tmp_path / "samples").iterdir())
    assert names == ["final.png", "stage_4x4.png", "stage_8x8.png"]


# -- the papers' resolutions -------------------------------------------------------------------------
PHOTOS_256 = "photos[size=256, n=8, colour]"
TINY_256 = {"latent_dim": 8, "channels": 4, "channel_base": 64, "stabilise_steps": 1, "fade_steps": 2}


def test_grows_to_256_with_a_grid_per_stage_and_resumes_in_the_middle_of_a_stage(tmp_path, monkeypatch):
    # 4x4 for 1 step, then six doublings of 2 fade steps and 1 stabilise step: 19 steps to 256x256.
    settings = {"steps": 19, "batch_size": 4, "checkpoint_every": 2, "log_every": 19, "num_samples": 4}
    quiet = {"progress": False, "tensorboard": False, "view": "symmetric"}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    genmodels.train("progan", PHOTOS_256, config=TINY_256, out=whole, **settings, **quiet)
    grids = {path.name for path in (whole / "samples").iterdir()}
    assert {f"stage_{side}x{side}.png" for side in (4, 8, 16, 32, 64, 128, 256)} <= grids
    model = genmodels.load(whole)
    assert (model.resolution, model.alpha) == (256, 1.0) and model.sample(2).shape == (2, 3, 256, 256)

    original = ProGAN.on_step

    def stop_at_step_14(self, step):
        if step == 14:  # the 128x128 fade runs over steps 13..14
            raise KeyboardInterrupt("simulated kill")
        original(self, step)

    monkeypatch.setattr(ProGAN, "on_step", stop_at_step_14)
    with pytest.raises(KeyboardInterrupt):
        genmodels.train("progan", PHOTOS_256, config=TINY_256, out=broken, **settings, **quiet)
    monkeypatch.undo()
    assert latest_checkpoint(broken).name == "step_0000014"
    assert resume(broken).steps == 19
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(broken / "model.safetensors"))
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_the_paper_preset_follows_the_papers_channels_up_to_1024():
    # Table 2: 512 feature maps from 4x4 to 32x32, then 256, 128, 64, 32 and 16 at 1024x1024.
    config = ProGAN.make_config("paper", image_shape=(3, 1024, 1024))
    assert config.doublings == 8
    assert [config.width(level) for level in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
