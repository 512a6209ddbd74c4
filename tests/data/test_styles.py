"""Styled views of the digits for translation: each style does what it says, domains are unpaired
and deterministic, and StarGAN's attribute labels agree with the images they describe."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.data import DataError, load_dataset
from genmodels.data.attributes import ink_mask, slant, thickness
from genmodels.data.derived import parse_spec
from genmodels.data.styles import STYLES, apply_styles, invert, rotate, thick, thin, tint


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_dataset("mnist", "test").images[:300]


def ink(images: torch.Tensor) -> torch.Tensor:
    return ink_mask(images).sum((1, 2))


def test_stroke_styles_change_the_ink_and_keep_the_digit(digits):
    assert (ink(thick(digits)) > ink(digits)).all()
    thinned = thin(digits)
    assert (ink(thinned) < ink(digits)).float().mean() > 0.95
    assert (ink(thinned) > 0).all() and (ink(thinned) >= 0.2 * ink(digits)).float().mean() > 0.95
    assert thickness(ink_mask(thinned)).nanmean() < thickness(ink_mask(digits)).nanmean()
    assert thickness(ink_mask(thick(digits))).nanmean() > thickness(ink_mask(digits)).nanmean()
    assert thin(digits).dtype == thick(digits).dtype == torch.uint8


def test_rotation_turns_the_digits_counter_clockwise(digits):
    rotated = rotate(digits)
    before, after = slant(ink_mask(digits)), slant(ink_mask(rotated))
    # +30° counter-clockwise: a right-leaning top moves left, so nearly every digit's shear drops
    # (by about 0.3 on average: a rotation is not a shear, so not exactly by tan 30° = 0.58).
    assert (after < before).float().mean() > 0.85 and (after - before).nanmean() < -0.2
    assert rotated.shape == digits.shape and rotated.dtype == torch.uint8
    assert torch.equal(rotate(digits, 0.0), digits)


def test_invert_and_tints(digits):
    assert torch.equal(invert(digits), 255 - digits)
    for colour, dominant in (
        ("red", [0]),
        ("green", [1]),
        ("blue", [2]),
        ("yellow", [0, 1]),
        ("cyan", [1, 2]),
    ):
        tinted = tint(digits, colour)
        assert tinted.shape == (len(digits), 3, 28, 28)
        sums = tinted.float().sum((0, 2, 3))
        for channel in range(3):
            if channel in dominant:
                assert torch.equal(tinted[:, channel], digits[:, 0])
            else:
                assert sums[channel] == 0
    assert torch.equal(tint(digits, "grey"), digits.expand(-1, 3, -1, -1))


def test_domains_are_unpaired_deterministic_and_styled(digits):
    base = load_dataset("mnist", "test")
    data = load_dataset("mnist[domains=thin/thick]", "test")
    assert data.field_names["domain"] == ("thin", "thick")
    assert torch.equal(data.fields["domain"], torch.arange(len(base)) % 2)
    assert torch.equal(data.labels, base.labels)
    # Every row is its own digit image, styled as its own domain only.
    assert torch.equal(data.images[0::2], thin(base.images[0::2]))
    assert torch.equal(data.images[1::2], thick(base.images[1::2]))
    assert torch.equal(load_dataset("mnist[domains=thin/thick]", "test").images, data.images)
    assert data.name == "mnist[domains=thin/thick]/test"


def test_a_colour_domain_makes_every_image_rgb():
    data = load_dataset("digits[domains=grey/red/cyan]", "test")
    assert data.image_shape == (3, 8, 8) and data.field_names["domain"] == ("grey", "red", "cyan")
    grey, red, cyan = (data.images[data.fields["domain"] == d] for d in range(3))
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert red[:, 1:].sum() == 0 and red[:, 0].sum() > 0
    assert cyan[:, 0].sum() == 0 and torch.equal(cyan[:, 1], cyan[:, 2])


def test_style_labels_agree_with_the_images():
    base = load_dataset("mnist", "test")
    data = load_dataset("mnist[styles=thick/invert/red]", "test")
    attributes = data.fields["attributes"]
    assert data.field_names["attributes"] == ("thick", "invert", "red")
    assert attributes.dtype == torch.float32 and attributes.shape == (1000, 3)
    assert set(attributes.unique().tolist()) == {0.0, 1.0}
    assert ((attributes.mean(0) - 0.5).abs() < 0.06).all()  # each style with probability 1/2
    # The images are exactly the base digits under the labelled styles.
    on = {name: attributes[:, k] == 1 for k, name in enumerate(("thick", "invert", "red"))}
    assert torch.equal(data.images, apply_styles(base.images, on, colour=True))
    # And visibly so: inverted rows have a bright background, red rows no green or blue.
    corner = data.images[:, :, 0, 0].float().amax(1)
    assert (corner[on["invert"]] == 255).all() and (corner[~on["invert"]] == 0).all()
    assert data.images[on["red"]][:, 1:].sum() == 0
    assert (data.images[~on["red"]][:, 0] == data.images[~on["red"]][:, 1]).all()
    thick_ink = ink(data.images[on["thick"] & ~on["invert"]]).mean()
    plain_ink = ink(data.images[~on["thick"] & ~on["invert"]]).mean()
    assert thick_ink > 1.5 * plain_ink
    assert torch.equal(load_dataset("mnist[styles=thick/invert/red]", "test").images, data.images)
    train = load_dataset("mnist[styles=thick/invert/red]", "train").fields["attributes"]
    assert not torch.equal(train[:1000], attributes)  # seeded by the split too


def test_exclusive_groups():
    attributes = load_dataset("digits[styles=thin/thick/red/green/blue]", "train").fields["attributes"]
    strokes, colours = attributes[:, :2], attributes[:, 2:]
    assert strokes.sum(1).max() == 1  # never both thin and thick
    assert ((strokes.mean(0) - 1 / 3).abs() < 0.05).all()
    assert (colours.sum(1) == 1).all()  # exactly one colour per row
    assert ((colours.mean(0) - 1 / 3).abs() < 0.05).all()


def test_label_sets_mark_the_other_sets_unknown():
    data = load_dataset("mnist[styles=thick/invert|red/green/blue]", "test")
    attributes, label_set = data.fields["attributes"], data.fields["label_set"]
    assert data.field_names["label_set"] == ("thick/invert", "red/green/blue")
    assert data.field_names["attributes"] == ("thick", "invert", "red", "green", "blue")
    assert torch.equal(label_set, torch.arange(1000) % 2)
    first, second = label_set == 0, label_set == 1
    assert attributes[first, 2:].isnan().all() and not attributes[first, :2].isnan().any()
    assert attributes[second, :2].isnan().all() and (attributes[second, 2:].sum(1) == 1).all()
    # Rows are styled by their own set only: the first set's rows stay grey, the second's are not
    # inverted (dark corners) and keep the normal stroke.
    images = data.images.float()
    assert (images[first][:, 0] == images[first][:, 1]).all()
    assert (images[second][:, :, 0, 0] == 0).all()
    base = load_dataset("mnist", "test").images
    assert torch.equal(images[second].amax(1), base[second, 0].float())


def test_attribute_selection_keeps_the_named_columns():
    full = load_dataset("digits[styles=thick/invert/rotate]", "test")
    chosen = load_dataset("digits[styles=thick/invert/rotate, attributes=rotate/thick]", "test")
    assert chosen.field_names["attributes"] == ("rotate", "thick")
    assert torch.equal(chosen.fields["attributes"], full.fields["attributes"][:, [2, 0]])
    assert torch.equal(chosen.images, full.images)


def test_spec_parsing_with_style_lists_and_format_paths():
    assert parse_spec("mnist[styles=thick/invert|red/green, attributes=red]") == (
        "mnist",
        {"styles": "thick/invert|red/green", "attributes": "red"},
    )
    assert parse_spec("celeba:/data/celeba[attributes=Male/Smiling, size=32]") == (
        "celeba:/data/celeba",
        {"attributes": "Male/Smiling", "size": "32"},
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digits[domains=thin/bold]", "unknown style.*bold.*known: " + ", ".join(STYLES)),
        ("digits[domains=thin]", "2 or more domains"),
        ("digits[domains=]", "needs style names"),
        ("digits[styles=]", "needs style names"),
        ("digits[styles=thick//red]", "needs style names"),
        ("digits[styles=thick/thick]", "listed twice"),
        ("digits[styles=thick|thick/red]", "more than one label set"),
        ("digits[styles=thick/grey]", "grey as the only colour"),
        ("digits[styles=thick, domains=thin/thick]", "not both"),
        ("digits[styles=thick, attributes=invert]", "unknown attribute.*invert.*available: thick"),
        ("digits[attributes=thick]", "needs a data set with an `attributes` field"),
    ],
)
def test_bad_style_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_dataset(spec, "test")


def test_styles_on_rows_without_ink_stay_defined():
    blank = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    assert torch.equal(thin(blank), blank) and torch.equal(thick(blank), blank)
    assert not math.isnan(float(rotate(blank).float().sum()))
