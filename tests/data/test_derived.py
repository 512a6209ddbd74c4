"""Derived views: held-out classes, inversion, noise, photo patches, perturbation; all deterministic."""

import pytest
import torch

from genmodels.data import DataError, View, load_dataset
from genmodels.data.derived import parse_spec


def test_spec_parsing():
    assert parse_spec("mnist") == ("mnist", {})
    assert parse_spec("mnist[classes=1,7, invert]") == ("mnist", {"classes": "1,7", "invert": ""})
    assert parse_spec("photos[size=16,n=5,colour]") == ("photos", {"size": "16", "n": "5", "colour": ""})


def test_class_views_partition_the_split():
    kept, held_out = load_dataset("mnist[classes=0-8]", "test"), load_dataset("mnist[classes=9]", "test")
    assert set(kept.labels.tolist()) == set(range(9)) and set(held_out.labels.tolist()) == {9}
    assert len(kept) + len(held_out) == 1000
    assert kept.name == "mnist[classes=0-8]/test"
    assert set(load_dataset("digits[classes=1,7]", "train").labels.tolist()) == {1, 7}


def test_invert_noise_photos():
    base, inverted = load_dataset("digits", "test"), load_dataset("digits[invert]", "test")
    assert torch.equal(inverted.images, 255 - base.images)
    noise = load_dataset("noise[shape=3x4x5,n=7]", "test")
    assert noise.images.shape == (7, 3, 4, 5) and torch.equal(
        noise.images, load_dataset("noise[shape=3x4x5,n=7]", "test").images
    )
    assert not torch.equal(noise.images, load_dataset("noise[shape=3x4x5,n=7]", "train").images)
    photos = load_dataset("photos[size=16,n=12,colour]", "test")
    assert (
        photos.images.shape == (12, 3, 16, 16) and photos.images.float().std() > 20
    )  # real structure, not flat
    assert load_dataset("photos[n=3]", "train").image_shape == (1, 28, 28)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("mnist[classes=x]", "expected numbers"),
        ("mnist[classes=42]", "no class 42 in mnist/test; it has 0-9"),
        ("mnist[upside_down]", "unknown option"),
        ("noise[shape=28x28]", "CxHxW"),
        ("noise", "unknown split"),
    ],
)
def test_bad_derived_specs(name, message):
    with pytest.raises(DataError, match=message):
        load_dataset(name, "nope" if name == "noise" else "test")


def test_perturbation_replaces_the_asked_share_of_pixels():
    images = torch.full((200, 1, 28, 28), 7, dtype=torch.uint8)
    out = View("unit", perturb=0.25)(images, torch.Generator().manual_seed(0))
    changed = (out != 7 / 255).float().mean().item()
    assert abs(changed - 0.25 * 255 / 256) < 0.01  # a replacement can draw the same value
    with pytest.raises(DataError, match="perturb"):
        View("unit", perturb=1.5)


def test_unpad_inverts_a_views_padding_and_refuses_what_cannot_be_removed():
    from genmodels.data import unpad

    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    padded = View("unit", pad=2)(images)
    assert padded.shape[-2:] == (32, 32)
    assert torch.equal(unpad(padded, 2), View("unit")(images))
    assert unpad(padded, 0) is padded
    with pytest.raises(ValueError, match="cannot remove a padding of 16"):
        unpad(padded, 16)
