"""`cifar10:DIR`: CIFAR-10's python batches written here in the real layout (Python 2 and Python 3
pickles), the pixel order (planes R, G, B), the splits and class names, and the refusals: a pickle
that would run code, a malformed batch, a missing file, all as one clear line."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from genmodels.data import DataError, load_dataset

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _batch(n, first_label, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {
        b"batch_label": b"a batch",
        b"labels": [(first_label + i) % 10 for i in range(n)],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def _write(folder, name, obj, protocol=2):
    (folder / name).write_bytes(pickle.dumps(obj, protocol=protocol))


@pytest.fixture
def cifar(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {f"data_batch_{i}": _batch(4, i, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(3, 7, 9)
    for name, batch in batches.items():
        _write(folder, name, batch, protocol=2 if name != "test_batch" else 4)
    _write(folder, "batches.meta", {b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072})
    return tmp_path, batches


def test_splits_pixels_labels_and_class_names(cifar):
    root, batches = cifar
    train = load_dataset(f"cifar10:{root}", "train")  # the folder that holds cifar-10-batches-py
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    expected = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    # Row r: its first 1024 bytes are the red plane, row by row; then green, then blue.
    assert torch.equal(train.images[5, 0].flatten(), torch.from_numpy(expected[5, :1024]))
    assert torch.equal(train.images[5, 2, 31], torch.from_numpy(expected[5, 2048 + 31 * 32 : 2048 + 32 * 32]))
    labels = [label for i in range(1, 6) for label in batches[f"data_batch_{i}"][b"labels"]]
    assert train.labels.tolist() == labels and train.class_names == tuple(NAMES)
    test = load_dataset(f"cifar10:{root / 'cifar-10-batches-py'}", "test")  # the folder itself, a py3 pickle
    assert len(test) == 3 and test.labels.tolist() == [7, 8, 9]
    # Derived views work on it as on any set.
    assert len(load_dataset(f"cifar10:{root}[classes=7]", "test")) == 1


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_batch_that_would_run_code_is_refused_by_name_and_nothing_runs(cifar, tmp_path):
    root, _ = cifar
    marker = tmp_path / "ran"
    _write(root / "cifar-10-batches-py", "test_batch", {b"data": _Payload(marker), b"labels": [0]})
    with pytest.raises(DataError, match=r"refused to load: the pickle asks for posix\.system"):
        load_dataset(f"cifar10:{root}", "test")
    assert not marker.exists()
    result = subprocess.run(
        [sys.executable, "-m", "genmodels.cli", "evaluate", str(tmp_path), "--data", f"cifar10:{root}"],
        capture_output=True,
        text=True,
    )
    assert not marker.exists()
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({b"labels": [0]}, "has no data"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"uint8 \[N, 3072\]"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "must be 2 integers"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}, r"0\.\.9"),
        ([1, 2, 3], "not a CIFAR-10 batch"),
    ],
)
def test_malformed_batches_are_named(cifar, batch, message):
    root, _ = cifar
    _write(root / "cifar-10-batches-py", "test_batch", batch)
    with pytest.raises(DataError, match=message):
        load_dataset(f"cifar10:{root}", "test")


def test_a_missing_batch_or_folder_or_split_is_named(cifar, tmp_path):
    root, _ = cifar
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3: missing"):
        load_dataset(f"cifar10:{root}", "train")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(f"cifar10:{tmp_path / 'nowhere'}", "train")
    with pytest.raises(DataError, match="unknown split 'val'"):
        load_dataset(f"cifar10:{root}", "val")
