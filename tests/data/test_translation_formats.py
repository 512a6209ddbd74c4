"""The translation formats a user brings, on small files written here: CycleGAN's unpaired folders
and CelebA's attribute list, with one named `DataError` per kind of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.data import DataError, load_dataset
from genmodels.data.translation_formats import load_celeba, load_unpaired


def save_image(path: Path, value: int, size: tuple[int, int] = (6, 4), mode: str = "RGB") -> None:
    """A flat image of `value` (grey level, or red level in RGB), `size` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, colour).save(path)


def write_unpaired(root: Path) -> Path:
    for folder, values in {
        "trainA": (10, 20, 30),
        "trainB": (200, 210),
        "testA": (40,),
        "testB": (220,),
    }.items():
        for i, value in enumerate(values):
            save_image(root / folder / f"{i:03d}.png", value)
    return root


def raises_naming(path: Path | str, *words: str):
    pattern = ".*".join(re.escape(str(part)) for part in (path, *words))
    return pytest.raises(DataError, match=pattern)


# ----------------------------------------------------------------------------------------------
# unpaired:DIR


def test_unpaired_reads_both_domains_per_split(tmp_path):
    root = write_unpaired(tmp_path / "horse2zebra")
    train = load_unpaired(root, "train")
    assert train.images.shape == (5, 3, 4, 6) and train.labels is None
    # Rows alternate between the domains (A's third image, without a partner, comes last), so the
    # first rows that sample grids translate hold both.
    assert train.images[:, 0, 0, 0].tolist() == [10, 200, 20, 210, 30]
    assert train.fields["domain"].tolist() == [0, 1, 0, 1, 0]
    assert train.field_names["domain"] == ("A", "B")
    test = load_dataset(f"unpaired:{root}", "test")
    assert test.fields["domain"].tolist() == [0, 1] and test.images[:, 0, 0, 0].tolist() == [40, 220]


def test_unpaired_errors(tmp_path):
    root = write_unpaired(tmp_path / "data")
    for file in (root / "trainB").iterdir():
        file.unlink()
    with raises_naming(root / "trainB", "holds no images"):
        load_unpaired(root, "train")
    (root / "trainB").rmdir()
    with raises_naming(root / "trainB", "no such folder", "trainA, trainB"):
        load_unpaired(root, "train")
    save_image(root / "trainB" / "big.png", 5, size=(8, 8))
    with raises_naming(root / "trainB" / "big.png", "8x8", "000.png", "6x4"):
        load_unpaired(root, "train")
    (root / "testB" / "000.png").write_bytes(b"not a png")
    with raises_naming(root / "testB" / "000.png", "not a readable image"):
        load_unpaired(root, "test")
    with raises_naming(root, "unknown split 'val'"):
        load_unpaired(root, "val")
    with raises_naming(tmp_path / "nowhere", "no such directory"):
        load_dataset(f"unpaired:{tmp_path / 'nowhere'}")


# ----------------------------------------------------------------------------------------------
# celeba:DIR

NAMES = ("Black_Hair", "Blond_Hair", "Male", "Smiling")
ROWS = {
    "000001.jpg": (1, -1, -1, 1),
    "000002.jpg": (-1, 1, -1, -1),
    "000003.jpg": (-1, -1, 1, 1),
    "000004.jpg": (1, -1, 1, -1),
}


def write_celeba(
    root: Path, rows: dict = ROWS, *, images_in_subfolder: bool = True, count: int | None = None
):
    folder = root / "img_align_celeba" if images_in_subfolder else root
    for i, name in enumerate(rows):
        # 10 wide x 14 high, like CelebA's 178 x 218 portrait: a red level per face, and a white
        # band at the top that the centre crop cuts away.
        array = np.zeros((14, 10, 3), dtype=np.uint8)
        array[..., 0] = 40 * (i + 1)
        array[:2] = 255
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / name, quality=100)
    lines = [str(len(rows) if count is None else count), " ".join(NAMES)]
    lines += [f"{name}  " + " ".join(f"{v:2d}" for v in values) for name, values in rows.items()]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_reads_faces_and_attributes(tmp_path):
    root = write_celeba(tmp_path / "celeba")
    data = load_celeba(root, "train", size=8)
    assert data.images.shape == (4, 3, 8, 8) and data.images.dtype == torch.uint8
    assert data.field_names["attributes"] == NAMES
    expected = (torch.tensor(list(ROWS.values())) > 0).float()
    assert torch.equal(data.fields["attributes"], expected)
    # Centre crop: the white band at the top is gone, the red level is each face's own.
    assert data.images[:, 1].float().max() < 60
    assert (data.images[:, 0].float().mean((1, 2)) - torch.tensor([40.0, 80, 120, 160])).abs().max() < 8
    with raises_naming(root, "split 'test' needs list_eval_partition.txt"):
        load_celeba(root, "test")


def test_celeba_partition_size_and_attribute_options(tmp_path):
    root = write_celeba(tmp_path / "celeba", images_in_subfolder=False)
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n")
    spec = f"celeba:{root}[attributes=Smiling/Male, size=6]"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    assert train.images.shape == (2, 3, 6, 6) and test.images.shape == (1, 3, 6, 6)
    assert train.field_names["attributes"] == ("Smiling", "Male")
    assert train.fields["attributes"].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert test.fields["attributes"].tolist() == [[0.0, 1.0]]
    assert train.name == f"{spec}/train"
    assert load_dataset(f"celeba:{root}", "val").images.shape == (1, 3, 64, 64)  # default size 64
    assert load_dataset(f"celeba:{root}[size=6]", "all").name == f"celeba:{root}[size=6]/all"
    with pytest.raises(
        DataError, match=r"unknown attribute.*Bald.*available: Black_Hair, Blond_Hair, Male, Smiling"
    ):
        load_dataset(f"celeba:{root}[attributes=Male/Bald]", "train")
    with pytest.raises(DataError, match="size='big' is not an integer"):
        load_dataset(f"celeba:{root}[size=big]", "train")


def test_celeba_errors(tmp_path):
    root = write_celeba(tmp_path / "count", count=5)
    with raises_naming(root / "list_attr_celeba.txt", "line 1 says 5 images but the file lists 4"):
        load_celeba(root, "train")
    root = write_celeba(tmp_path / "short", {**ROWS, "000004.jpg": (1, -1, 1)})
    with raises_naming(root / "list_attr_celeba.txt", "line 6 (000004.jpg) has 3 values", "names 4"):
        load_celeba(root, "train")
    root = write_celeba(tmp_path / "missing")
    (root / "img_align_celeba" / "000003.jpg").unlink()
    with raises_naming(
        root / "img_align_celeba" / "000003.jpg", "listed in list_attr_celeba.txt but missing"
    ):
        load_celeba(root, "train")
    (root / "list_attr_celeba.txt").unlink()
    with raises_naming(root / "list_attr_celeba.txt", "no such file"):
        load_celeba(root, "train")
    root = write_celeba(tmp_path / "partition")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n")
    with raises_naming(root / "list_eval_partition.txt", "no split for 2 listed image(s)", "000003.jpg"):
        load_celeba(root, "train")


@pytest.mark.parametrize("kind", ["celeba", "unpaired"])
def test_celeba_and_unpaired_folders_stream_from_the_cache_with_the_same_rows(tmp_path, kind):
    from genmodels.data import load_dataset

    root = write_celeba(tmp_path / "celeba") if kind == "celeba" else write_unpaired(tmp_path / "pairs")
    size = "size=64, " if kind == "celeba" else ""  # the paper-size runs (128, 256) are slow tests
    memory = load_dataset(f"{kind}:{root}[{size}storage=memory]", "train")
    cached = load_dataset(f"{kind}:{root}[{size}storage=cache]", "train")
    assert torch.equal(memory.images, cached.images) and memory.fields.keys() == cached.fields.keys()
    assert all(torch.equal(memory.fields[key], cached.fields[key]) for key in memory.fields)
