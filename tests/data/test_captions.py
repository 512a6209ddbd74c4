"""Captions for text-to-image: measured attributes, templated mnist captions with held-out wording,
the byte encoding, attribute agreement, and the `captions:FILE.jsonl` format."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genmodels.data import DataError, ImageSet, load_dataset
from genmodels.data.attributes import (
    ATTRIBUTES,
    BUCKET_WORDS,
    attribute_agreement,
    bucket,
    measure_attributes,
    medians,
    thresholds,
)
from genmodels.data.captions import (
    DIGIT_WORDS,
    TEST_FRAMES,
    TEST_PHRASES,
    TEXT_LENGTH,
    TRAIN_FRAMES,
    TRAIN_PHRASES,
    add_captions,
    caption_for,
    decode_texts,
    encode_texts,
    load_captions,
)
from genmodels.data.embedded import load_mnist


@cache
def captioned(split: str) -> tuple[ImageSet, tuple[str, ...]]:
    data = load_dataset("mnist[captions]", split)
    return data, tuple(decode_texts(data.fields["text"]))


def frame_of(caption: str) -> str:
    """The one frame (train or test) that wrote `caption`: its fixed words around a noun phrase."""
    matches = [
        frame
        for frame in (*TRAIN_FRAMES, *TEST_FRAMES)
        if re.fullmatch(re.escape(frame).replace(re.escape("{np}"), "(an? .+)"), caption)
    ]
    assert len(matches) == 1, (caption, matches)
    return matches[0]


def mentions(caption: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", caption) is not None


def phrases(attribute: str, value: int) -> list[str]:
    return [p for table in (TRAIN_PHRASES, TEST_PHRASES) for p in sum(table[attribute][value].values(), ())]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text))


# ----------------------------------------------------------------------------------------------
# Attribute measures


def bar(width: int, length: int = 16, size: int = 28) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size, dtype=torch.uint8)
    top, left = (size - length) // 2, (size - width) // 2
    image[..., top : top + length, left : left + width] = 255
    return image


def sheared_line(shear: float) -> torch.Tensor:
    """A 3-pixel stroke whose column moves `shear` pixels right per pixel up."""
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centre = 14 + shear * (14 - rows)  # rows count down, so the top (row 4) is to the right
    ink = ((cols - centre).abs() <= 1.5) & (rows >= 4) & (rows <= 23)
    return (ink.to(torch.uint8) * 255)[None, None]


def square(side: int) -> torch.Tensor:
    image = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    start = (28 - side) // 2
    image[..., start : start + side, start : start + side] = 255
    image[..., start + 2 : start + side - 2, start + 2 : start + side - 2] = 0  # an outline, 2 px wide
    return image


def test_measures_rank_synthetic_shapes() -> None:
    thick, thin = measure_attributes(torch.cat([bar(5), bar(2)]))[:, 0]
    assert thick > thin
    assert abs(float(thin) - 2) < 0.3 and abs(float(thick) - 5) < 0.7  # about the width in pixels
    right, upright, left = measure_attributes(torch.cat([sheared_line(0.4), bar(3), sheared_line(-0.4)]))[
        :, 1
    ]
    assert right > 0.3 and left < -0.3 and abs(float(upright)) < 1e-4
    assert abs(float(right) - 0.4) < 0.05  # the shear itself
    big, small = measure_attributes(torch.cat([square(20), square(8)]))[:, 2]
    assert big > 2 * small
    # Same ink, same strokes: an outlined square 2 px wide is as thick as a 2 px bar.
    assert abs(float(measure_attributes(square(20))[0, 0]) - 2) < 0.3


def test_measures_agree_for_uint8_and_unit_floats_and_skip_blank_images() -> None:
    images = load_mnist("test").images[:50]
    assert torch.allclose(measure_attributes(images), measure_attributes(images.float() / 255), atol=1e-5)
    blank = measure_attributes(torch.zeros(2, 1, 28, 28))
    assert blank.isnan().all() and (bucket(blank) == -1).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        measure_attributes(images.float() / 127.5 - 1)


def test_measures_follow_real_digits_made_thicker_leaning_and_smaller() -> None:
    images = load_mnist("test").images[:300]
    base = measure_attributes(images)
    unit = images.float() / 255
    # Dilated strokes are thicker and eroded ones thinner, for nearly every digit.
    dilated = measure_attributes(F.max_pool2d(unit, 3, 1, 1))
    eroded = measure_attributes(-F.max_pool2d(-unit, 2, 1, 0)[..., :28, :28].contiguous())
    valid = ~eroded[:, 0].isnan()
    assert (dilated[:, 0] > base[:, 0]).float().mean() > 0.97
    assert (eroded[valid, 0] < base[valid, 0]).float().mean() > 0.9
    # Shearing the top to the right raises the slant by about the shear; halving the digit halves its size.
    theta = torch.tensor([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0]]).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, list(unit.shape), align_corners=False)
    leaning = measure_attributes(F.grid_sample(unit, grid, align_corners=False))
    assert ((leaning[:, 1] - base[:, 1]) - 0.3).abs().median() < 0.05
    small = F.pad(F.interpolate(unit, size=14, mode="bilinear", antialias=True), (7, 7, 7, 7))
    ratio = measure_attributes(small)[:, 2] / base[:, 2]
    # (A few thin strokes fade below the ink threshold when halved, so bound the ratio loosely.)
    assert (ratio - 0.5).abs().median() < 0.05 and ratio.max() < 0.8


def test_thresholds_are_training_terciles() -> None:
    bounds = thresholds()
    assert bounds.shape == (3, 2) and (bounds[:, 0] < bounds[:, 1]).all()
    assert (bounds[:, 0] < medians()).all() and (medians() < bounds[:, 1]).all()
    train = load_mnist("train")
    buckets = bucket(measure_attributes(train.images))
    shares = (buckets[..., None] == torch.arange(3)).float().mean(0)  # [attribute, bucket]
    assert torch.allclose(shares, torch.full((3, 3), 1 / 3), atol=0.01), shares
    assert torch.equal(thresholds(), bounds)
    assert set(BUCKET_WORDS) == set(ATTRIBUTES) and all(len(w) == 3 for w in BUCKET_WORDS.values())


def test_attribute_agreement() -> None:
    data, _ = captioned("test")
    named, unit = data.fields["named"], data.images.float() / 255
    report = attribute_agreement(unit, named, data.labels)
    for attribute in (*ATTRIBUTES, "all"):
        assert report[attribute]["exact"] == 1.0 and report[attribute]["side"] == 1.0
    assert report["all"]["named"] == int((named >= 0).sum())
    for attribute in ATTRIBUTES:
        assert 0 < report[attribute]["baseline_exact"] < 1 and 0 < report[attribute]["baseline_side"] < 1
    flipped = torch.where(named >= 0, 2 - named, named)
    assert attribute_agreement(unit, flipped)["all"]["side"] == 0.0
    blank = attribute_agreement(torch.zeros(3, 1, 28, 28), torch.tensor([[0, 2, -1]] * 3))
    assert blank["thickness"]["unmeasured"] == 3 and blank["all"]["exact"] == 0.0
    assert math.isnan(blank["size"]["exact"])


# ----------------------------------------------------------------------------------------------
# mnist[captions]


def test_fields_have_the_right_shapes() -> None:
    data, texts = captioned("test")
    assert data.name == "mnist[captions]/test" and len(data) == 1000
    assert data.fields["text"].shape == (1000, TEXT_LENGTH) and data.fields["text"].dtype == torch.uint8
    for key in ("named", "measured"):
        assert data.fields[key].shape == (1000, 3) and data.fields[key].dtype == torch.int64
    assert all(texts)


@pytest.mark.parametrize("split", ["train", "test"])
def test_captions_agree_with_labels_and_measures(split: str) -> None:
    data, texts = captioned(split)
    named, measured = data.fields["named"], data.fields["measured"]
    assert ((named == -1) | (named == measured)).all()
    assert ((named == -1) | (named == 0) | (named == 2)).all()
    counts = (named >= 0).sum(1)
    assert counts.max() == 2 and (counts.bincount(minlength=3) > len(data) // 10).all()
    for text, label, row in zip(texts, data.labels.tolist(), named.tolist(), strict=True):
        named_digits = {d for d in range(10) if mentions(text, DIGIT_WORDS[d]) or mentions(text, str(d))}
        assert named_digits == {label}, text
        for i, attribute in enumerate(ATTRIBUTES):
            for value in (0, 2):
                said = any(mentions(text, phrase) for phrase in phrases(attribute, value))
                assert said == (row[i] == value), (text, row)


def test_held_out_wording() -> None:
    _, train = captioned("train")
    _, test = captioned("test")
    _, val = captioned("val")
    assert {frame_of(text) for text in train} == set(TRAIN_FRAMES)
    assert {frame_of(text) for text in val} <= set(TRAIN_FRAMES)
    assert {frame_of(text) for text in test} == set(TEST_FRAMES)
    held_out = [p for table in TEST_PHRASES.values() for v in table.values() for p in sum(v.values(), ())]
    assert not any(mentions(text, phrase) for text in (*train, *val) for phrase in held_out)
    assert all(any(mentions(text, phrase) for text in test) for phrase in held_out)
    # New structures from known words: a word-level encoder trained on train captions reads them all.
    assert set().union(*map(words, test)) <= set().union(*map(words, train))


def test_captions_are_deterministic_and_fit() -> None:
    data, texts = captioned("test")
    again = add_captions(load_mnist("test"), "test")
    assert decode_texts(again.fields["text"]) == list(texts)
    assert torch.equal(again.fields["named"], data.fields["named"])
    assert caption_for(7, [2, -1, 0], seed=3) == caption_for(7, [2, -1, 0], seed=3)
    assert re.search(r"\b(seven|7)\b", caption_for(7, [-1, -1, -1]))
    with pytest.raises(ValueError, match="extreme"):
        caption_for(7, [1, -1, -1])
    # The longest caption two attributes can make fits the field.
    longest_phrase = max((p for a in ATTRIBUTES for v in (0, 2) for p in phrases(a, v)), key=len)
    longest_frame = max(len(f.replace("{np}", "")) for f in (*TRAIN_FRAMES, *TEST_FRAMES))
    bound = longest_frame + len("an ") + max(map(len, DIGIT_WORDS)) + 2 * len(f" and {longest_phrase}")
    assert bound <= TEXT_LENGTH


def test_captions_follow_class_views() -> None:
    data = load_dataset("mnist[classes=1,7, captions]", "test")
    texts = decode_texts(data.fields["text"])
    assert len(texts) == len(data) == 200
    assert all(re.search(r"\b(one|1|seven|7)\b", t) for t in texts)


def test_encode_decode_round_trip_and_limit() -> None:
    texts = ["a thick seven", "", "ünïcödé ✓ 7", "x" * TEXT_LENGTH]
    encoded = encode_texts(texts)
    assert encoded.dtype == torch.uint8 and encoded.shape == (4, TEXT_LENGTH)
    assert decode_texts(encoded) == texts
    assert decode_texts(encoded[0]) == ["a thick seven"]
    assert encode_texts(["abc"], length=5).tolist() == [[97, 98, 99, 0, 0]]
    with pytest.raises(ValueError, match=f"{TEXT_LENGTH + 1} bytes"):
        encode_texts(["x" * (TEXT_LENGTH + 1)])
    with pytest.raises(ValueError, match="98 bytes"):
        encode_texts(["é" * 49])  # 49 characters, 98 bytes
    with pytest.raises(ValueError, match="NUL"):
        encode_texts(["a\0b"])


# ----------------------------------------------------------------------------------------------
# captions:FILE.jsonl


def save_image(path: Path, value: int, size: tuple[int, int] = (6, 4), mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size[1], size[0]) + ((3,) if mode == "RGB" else ()), value, dtype=np.uint8)
    Image.fromarray(array, mode).save(path)
    return path


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def raises_naming(path: Path, *words: str):
    pattern = ".*".join(re.escape(part) for part in (path.name, *words))
    return pytest.raises(DataError, match=pattern)


def test_captions_file(tmp_path: Path) -> None:
    for value in range(4):
        save_image(tmp_path / "img" / f"{value}.png", 10 * value)
    absolute = save_image(tmp_path / "elsewhere" / "abs.png", 200)
    rows = [
        {"image": "img/0.png", "text": "a thick seven", "label": 7},
        {"image": "img/1.png", "text": "ünïcödé one", "split": "train", "label": 1},
        {"image": "img/2.png", "text": "a test two", "split": "test", "label": 2},
        "",  # blank lines are skipped
        {"image": "img/3.png", "text": "another test", "split": "test", "label": 3},
        {"image": str(absolute), "text": "absolute path", "label": 0},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    train = load_dataset(f"captions:{path}", "train")
    assert train.images.shape == (3, 1, 4, 6) and train.images.dtype == torch.uint8
    assert train.images[:, 0, 0, 0].tolist() == [0, 10, 200]
    assert decode_texts(train.fields["text"]) == ["a thick seven", "ünïcödé one", "absolute path"]
    assert train.labels.tolist() == [7, 1, 0]
    test = load_captions(path, "test")
    assert decode_texts(test.fields["text"]) == ["a test two", "another test"]
    assert len(load_captions(path, "all")) == 5


def test_captions_file_colour_and_no_labels(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", 50)
    save_image(tmp_path / "b.png", 90, mode="RGB")
    path = write_jsonl(
        tmp_path / "c.jsonl", [{"image": "a.png", "text": "a"}, {"image": "b.png", "text": "b"}]
    )
    data = load_captions(path, "train")
    assert data.images.shape == (2, 3, 4, 6) and data.labels is None


@pytest.mark.parametrize(
    ("rows", "split", "words"),
    [
        ([], "train", ["no rows"]),
        (['{"image": "a.png", "text": "x"}', "{not json"], "train", ["line 2", "JSON"]),
        (["[1, 2]"], "train", ["line 1", "object"]),
        ([{"image": "a.png"}], "train", ["line 1", "missing key 'text'"]),
        ([{"text": "x"}], "train", ["line 1", "missing key 'image'"]),
        ([{"image": "a.png", "text": ""}], "train", ["line 1", "non-empty"]),
        ([{"image": "missing.png", "text": "x"}], "train", ["line 1", "missing.png", "does not exist"]),
        ([{"image": "a.png", "text": "x"}], "test", ["no rows for split 'test'"]),
        ([{"image": "a.png", "text": "x", "split": "val"}], "train", ["line 1", "split"]),
        ([{"image": "a.png", "text": "x", "label": "7"}], "train", ["line 1", "label"]),
        ([{"image": "a.png", "text": "x" * 97}], "train", ["line 1", "97 bytes"]),
        (
            [{"image": "a.png", "text": "x", "label": 1}, {"image": "a.png", "text": "y"}],
            "train",
            ["line 2", "label"],
        ),
        (
            [{"image": "a.png", "text": "x"}, {"image": "big.png", "text": "y"}],
            "train",
            ["big.png", "same size"],
        ),
        ([{"image": "a.png", "text": "x"}], "fit", ["unknown split"]),
    ],
)
def test_captions_file_errors(tmp_path: Path, rows: list, split: str, words: list[str]) -> None:
    save_image(tmp_path / "a.png", 5)
    save_image(tmp_path / "big.png", 5, size=(8, 8))
    path = write_jsonl(tmp_path / "bad.jsonl", rows) if rows else tmp_path / "bad.jsonl"
    if not rows:
        path.write_text("\n", encoding="utf-8")
    with raises_naming(path, *words):
        load_captions(path, split)


def test_captions_file_missing(tmp_path: Path) -> None:
    with raises_naming(tmp_path / "absent.jsonl", "no such file"):
        load_dataset(f"captions:{tmp_path / 'absent.jsonl'}", "train")
