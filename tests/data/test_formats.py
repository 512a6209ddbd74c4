"""The IDX and image-folder loaders: exact round trips, and one named `DataError` per kind of bad input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.data.dataset import DataError
from genmodels.data.formats import load_idx, load_image_folder

# 5 images of 4 rows x 3 columns, every pixel different, so a transposed or shifted read shows.
IMAGES = (np.arange(5 * 4 * 3) * 4).astype(np.uint8).reshape(5, 4, 3)
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_mnist(directory: Path, suffix: str = "", dotted: bool = False, prefix: str = "train") -> tuple:
    sep = "." if dotted else "-"
    images = write(directory / f"{prefix}-images{sep}idx3-ubyte{suffix}", idx_bytes(IMAGES))
    labels = write(directory / f"{prefix}-labels{sep}idx1-ubyte{suffix}", idx_bytes(LABELS))
    return images, labels


def raises_naming(path: Path, *words: str):
    """`pytest.raises(DataError)` whose message must contain the file's name, then each of `words`."""
    pattern = ".*".join(re.escape(part) for part in (path.name, *words))
    return pytest.raises(DataError, match=pattern)


# ----------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dotted", [False, True])
def test_idx_round_trip(tmp_path: Path, suffix: str, dotted: bool) -> None:
    write_mnist(tmp_path, suffix, dotted)
    data = load_idx(tmp_path, "train")
    assert data.images.dtype == torch.uint8
    assert data.images.shape == (5, 1, 4, 3)
    assert torch.equal(data.images[:, 0], torch.from_numpy(IMAGES))
    assert data.labels is not None and data.labels.dtype == torch.int64
    assert data.labels.tolist() == [3, 1, 4, 1, 5]
    assert data.class_names is None
    assert data.name == f"idx:{tmp_path}/train"


def test_idx_test_split_reads_t10k_files(tmp_path: Path) -> None:
    write_mnist(tmp_path, prefix="t10k")
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((2, 4, 3), np.uint8)))
    data = load_idx(str(tmp_path), "test")
    assert len(data) == 5
    assert torch.equal(data.images[:, 0], torch.from_numpy(IMAGES))


def test_idx_labels_are_optional(tmp_path: Path) -> None:
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(IMAGES))
    data = load_idx(tmp_path, "train")
    assert data.labels is None
    assert torch.equal(data.images[:, 0], torch.from_numpy(IMAGES))


def test_idx_missing_directory(tmp_path: Path) -> None:
    with raises_naming(tmp_path / "absent", "no such directory"):
        load_idx(tmp_path / "absent", "train")


def test_idx_no_images_file_lists_what_was_looked_for(tmp_path: Path) -> None:
    write_mnist(tmp_path, prefix="t10k")
    with raises_naming(tmp_path, "train-images-idx3-ubyte", "train-images.idx3-ubyte.gz"):
        load_idx(tmp_path, "train")


def test_idx_bad_split(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    with pytest.raises(DataError, match=r"'val'.*train, test"):
        load_idx(tmp_path, "val")


def test_idx_wrong_magic_number(tmp_path: Path) -> None:
    path = write(tmp_path / "train-images-idx3-ubyte", b"\x12\x34" + idx_bytes(IMAGES)[2:])
    with raises_naming(path, "0x12340803", "0x00000803"):
        load_idx(tmp_path, "train")


def test_idx_labels_file_in_place_of_images(tmp_path: Path) -> None:
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(LABELS))
    with raises_naming(path, "1-dimensional, expected 3-dimensional", "0x00000801", "0x00000803"):
        load_idx(tmp_path, "train")


def test_idx_unsupported_type_code(tmp_path: Path) -> None:
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(IMAGES, type_code=0x0D))
    with raises_naming(path, "0x0d (float)"):
        load_idx(tmp_path, "train")


@pytest.mark.parametrize("keep", [2, 10, 40])  # inside the magic number, the sizes, the pixels
def test_idx_truncated(tmp_path: Path, keep: int) -> None:
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(IMAGES)[:keep])
    with raises_naming(path, "truncated"):
        load_idx(tmp_path, "train")


def test_idx_extra_trailing_bytes(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(LABELS) + b"\x00\x00\x00")
    with raises_naming(path, "3 extra bytes"):
        load_idx(tmp_path, "train")


@pytest.mark.parametrize("corrupt", [lambda good: good[: len(good) // 2], lambda good: b"not gzip at all"])
def test_idx_corrupt_gzip(tmp_path: Path, corrupt) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(corrupt(gzip.compress(idx_bytes(IMAGES))))
    with raises_naming(path, "gzip"):
        load_idx(tmp_path, "train")


def test_idx_image_and_label_counts_differ(tmp_path: Path) -> None:
    images, _ = write_mnist(tmp_path)
    labels = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(LABELS[:4]))
    with raises_naming(images, "5 images", labels.name, "4 labels"):
        load_idx(tmp_path, "train")


# ----------------------------------------------------------------------------------------------
# Image folders


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def grey(value: int, size: tuple[int, int] = (4, 3)) -> np.ndarray:
    """An image `size` = (height, width) whose pixels run from `value` upwards, so each one is distinct."""
    return (value + np.arange(size[0] * size[1])).astype(np.uint8).reshape(size)


def test_folder_flat_grey(tmp_path: Path) -> None:
    for index in (2, 0, 1):  # written out of order: the loader sorts
        save(tmp_path / f"img{index}.png", grey(10 * index))
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    data = load_image_folder(tmp_path)
    assert data.images.shape == (3, 1, 4, 3)
    assert data.images.dtype == torch.uint8
    assert data.labels is None and data.class_names is None
    for index in range(3):
        assert torch.equal(data.images[index, 0], torch.from_numpy(grey(10 * index)))


def test_folder_class_subfolders(tmp_path: Path) -> None:
    save(tmp_path / "dog" / "a.png", grey(0))
    save(tmp_path / "dog" / "b.PNG", grey(1))  # extensions in any case
    save(tmp_path / "cat" / "c.bmp", grey(2))
    data = load_image_folder(tmp_path)
    assert data.class_names == ("cat", "dog")
    assert data.labels is not None and data.labels.dtype == torch.int64
    assert data.labels.tolist() == [0, 1, 1]
    assert [int(image[0, 0, 0]) for image in data.images] == [2, 0, 1]


def test_folder_rgb_keeps_channels(tmp_path: Path) -> None:
    colour = np.zeros((4, 3, 3), np.uint8)
    colour[0, 0] = (200, 100, 50)
    colour[3, 2] = (1, 2, 3)
    save(tmp_path / "a.png", colour)
    save(tmp_path / "b.png", grey(7))  # grey next to colour: widened to three equal channels
    data = load_image_folder(tmp_path)
    assert data.images.shape == (2, 3, 4, 3)
    assert data.images[0, :, 0, 0].tolist() == [200, 100, 50]
    assert data.images[0, :, 3, 2].tolist() == [1, 2, 3]
    for channel in range(3):
        assert torch.equal(data.images[1, channel], torch.from_numpy(grey(7)))


def test_folder_rgba_becomes_rgb(tmp_path: Path) -> None:
    rgba = np.full((4, 3, 4), 9, np.uint8)
    rgba[..., :3] = (10, 20, 30)
    save(tmp_path / "a.png", rgba)
    data = load_image_folder(tmp_path)
    assert data.images.shape == (1, 3, 4, 3)
    assert data.images[0, :, 1, 1].tolist() == [10, 20, 30]


def test_folder_split_subfolder_used_when_present(tmp_path: Path) -> None:
    save(tmp_path / "train" / "a.png", grey(0))
    save(tmp_path / "test" / "b.png", grey(50))
    save(tmp_path / "test" / "c.png", grey(60))
    data = load_image_folder(tmp_path, "test")
    assert len(data) == 2 and data.labels is None
    assert data.images[:, 0, 0, 0].tolist() == [50, 60]
    assert data.name == f"folder:{tmp_path}/test"


def test_folder_without_split_subfolder_reads_the_folder(tmp_path: Path) -> None:
    save(tmp_path / "a.png", grey(0))
    assert len(load_image_folder(tmp_path, "train")) == 1


def test_folder_missing(tmp_path: Path) -> None:
    with raises_naming(tmp_path / "absent", "no such directory"):
        load_image_folder(tmp_path / "absent")


def test_folder_is_a_file(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", grey(0))
    with raises_naming(path, "not a directory"):
        load_image_folder(path)


def test_folder_empty(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with raises_naming(tmp_path, "no images", ".png", ".webp"):
        load_image_folder(tmp_path)


def test_folder_unreadable_image(tmp_path: Path) -> None:
    save(tmp_path / "a.png", grey(0))
    bad = tmp_path / "bad.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes())
    with raises_naming(bad, "not a readable image"):
        load_image_folder(tmp_path)


def test_folder_truncated_image(tmp_path: Path) -> None:
    good = save(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    cut = tmp_path / "b.png"
    cut.write_bytes(good.read_bytes()[:200])
    with raises_naming(cut, "not a readable image"):
        load_image_folder(tmp_path)


def test_folder_mixed_sizes(tmp_path: Path) -> None:
    first = save(tmp_path / "a.png", grey(0))
    save(tmp_path / "b.png", grey(0))
    odd = save(tmp_path / "c.png", grey(0, size=(5, 3)))
    with raises_naming(odd, "3x5", first.name, "3x4"):
        load_image_folder(tmp_path)


def test_folder_mixed_files_and_class_folders(tmp_path: Path) -> None:
    save(tmp_path / "a.png", grey(0))
    save(tmp_path / "cat" / "b.png", grey(0))
    with pytest.raises(DataError, match=rf"{re.escape(str(tmp_path))}: .*a\.png.*cat"):
        load_image_folder(tmp_path)


def test_folder_empty_class_subfolder(tmp_path: Path) -> None:
    save(tmp_path / "cat" / "a.png", grey(0))
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    with raises_naming(tmp_path / "dog", "no images"):
        load_image_folder(tmp_path)


def test_folder_with_split_folders_but_not_the_one_asked_for(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / split / "a.png")
    assert len(load_image_folder(tmp_path, "test")) == 1
    with pytest.raises(DataError, match=r"split folders test, train but no 'val' folder"):
        load_image_folder(tmp_path, "val")
