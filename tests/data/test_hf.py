"""`hf:DIR`: image data sets saved with the `datasets` library and folders of Parquet files, written
here: splits, the image / label / caption / attribute columns, grey and colour images, the cache
storage, and the refusals, each naming what is wrong."""

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.data import DataError, load_dataset
from genmodels.data.captions import decode_texts

datasets = pytest.importorskip("datasets")


def _rows(n, colour=True, size=(5, 6), offset=0):
    images = []
    for i in range(n):
        value = 20 * (i + offset)
        pixels = np.full((size[1], size[0], 3), (value, 255 - value, 7), np.uint8)
        images.append(Image.fromarray(pixels if colour else pixels[..., 0]))
    return {
        "image": images,
        "label": [i % 2 for i in range(n)],
        "caption": [f"picture number {i}" for i in range(n)],
        "Smiling": [i % 3 == 0 for i in range(n)],
        "Male": [1 if i % 2 else -1 for i in range(n)],
    }


FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=["cat", "dog"]),
        "caption": datasets.Value("string"),
        "Smiling": datasets.Value("bool"),
        "Male": datasets.Value("int32"),
    }
)


def _dataset(n, **options):
    return datasets.Dataset.from_dict(_rows(n, **options), features=FEATURES)


def test_a_saved_dataset_dict_gives_its_splits_with_labels_captions_and_attributes(tmp_path):
    datasets.DatasetDict({"train": _dataset(5), "test": _dataset(2, offset=5)}).save_to_disk(
        str(tmp_path / "d")
    )
    train = load_dataset(f"hf:{tmp_path / 'd'}[attribute_columns=Smiling/Male]", "train")
    assert train.images.shape == (5, 3, 6, 5) and train.images.dtype == torch.uint8
    assert train.images[3, :, 0, 0].tolist() == [60, 195, 7]  # R, G, B planes of row 3
    assert train.labels.tolist() == [0, 1, 0, 1, 0] and train.class_names == ("cat", "dog")
    assert decode_texts(train.fields["text"])[4] == "picture number 4"
    assert train.field_names["attributes"] == ("Smiling", "Male")
    assert train.fields["attributes"].tolist()[:3] == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    test = load_dataset(f"hf:{tmp_path / 'd'}", "test")
    assert len(test) == 2 and test.images[0, 0, 0, 0] == 100 and "attributes" not in test.fields
    with pytest.raises(DataError, match="no split 'val'; it has test, train"):
        load_dataset(f"hf:{tmp_path / 'd'}", "val")


@pytest.mark.parametrize("layout", ["train/part.parquet", "train-00000-of-00001.parquet", "all.parquet"])
def test_parquet_folders_in_the_hubs_layouts(tmp_path, layout):
    path = tmp_path / "p" / layout
    path.parent.mkdir(parents=True, exist_ok=True)
    _dataset(4, colour=False).to_parquet(str(path))
    data = load_dataset(f"hf:{tmp_path / 'p'}", "train")
    assert data.images.shape == (4, 1, 6, 5) and data.images[2, 0, 0, 0] == 40  # grey: one channel
    assert data.labels.tolist() == [0, 1, 0, 1] and data.class_names == ("cat", "dog")


def test_named_columns_and_the_cache_storage(tmp_path):
    rows = _rows(3)
    renamed = datasets.Dataset.from_dict(
        {"picture": rows["image"], "kind": [2, 0, 1]},
        features=datasets.Features({"picture": datasets.Image(), "kind": datasets.Value("int64")}),
    )
    renamed.save_to_disk(str(tmp_path / "s"))
    data = load_dataset(f"hf:{tmp_path / 's'}[label=kind]", "anything")  # one Dataset serves every split
    assert data.labels.tolist() == [2, 0, 1] and data.images.shape == (3, 3, 6, 5)
    cached = load_dataset(f"hf:{tmp_path / 's'}[label=kind, storage=cache]", "train")
    assert torch.equal(cached.images, data.images)
    with pytest.raises(DataError, match="no column 'nope' for the labels"):
        load_dataset(f"hf:{tmp_path / 's'}[label=nope]", "train")


def test_refusals_name_the_problem(tmp_path):
    mixed = _rows(2)
    mixed["image"][1] = mixed["image"][1].resize((7, 7))
    datasets.Dataset.from_dict(mixed, features=FEATURES).save_to_disk(str(tmp_path / "mixed"))
    with pytest.raises(DataError, match="row 1 is 7x7 pixels but row 0 is 5x6"):
        load_dataset(f"hf:{tmp_path / 'mixed'}", "train")
    datasets.Dataset.from_dict({"x": [1, 2]}).save_to_disk(str(tmp_path / "noimage"))
    with pytest.raises(DataError, match=r"no image column .* \[image=COLUMN\]"):
        load_dataset(f"hf:{tmp_path / 'noimage'}", "train")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not readable Parquet"):
        load_dataset(f"hf:{tmp_path / 'bad'}", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a data set saved with save_to_disk"):
        load_dataset(f"hf:{tmp_path / 'empty'}", "train")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(f"hf:{tmp_path / 'nowhere'}", "train")
