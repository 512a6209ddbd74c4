"""The embedded sets, the canonical split, the views and the deterministic batching."""

import numpy as np
import pytest
import torch

from genmodels.data import BatchStream, DataError, ImageSet, View, load_dataset, ordered_batches


def test_mnist_canonical_split_is_stratified_disjoint_and_stable():
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert len(train) == 4000 and len(test) == 1000
    assert train.image_shape == (1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    all_images = load_dataset("mnist", "all").images.flatten(1)
    rows = {bytes(r.numpy()) for r in train.images.flatten(1)}
    assert not rows & {bytes(r.numpy()) for r in test.images.flatten(1)}
    assert len(all_images) == 5000
    # fit + val is train, in order, and val is its last 500 rows.
    fit, val = load_dataset("mnist", "fit"), load_dataset("mnist", "val")
    assert torch.equal(torch.cat([fit.images, val.images]), train.images) and len(val) == 500
    # Read again (now from the cache): the same images.
    from genmodels.data import embedded

    embedded._mnist_arrays.cache_clear()
    assert torch.equal(load_dataset("mnist", "test").images, test.images)


def test_mnist_matches_the_split_recipe_of_the_design():
    """Rows permuted by RandomState(0).permutation(5000), then train_test_split(..., random_state=0)."""
    from sklearn.model_selection import train_test_split

    from genmodels.data.embedded import _mnist_arrays

    images, labels = _mnist_arrays()
    _, test_index = train_test_split(np.arange(5000), test_size=1000, stratify=labels, random_state=0)
    assert np.array_equal(load_dataset("mnist", "test").images.numpy(), images[test_index])


def test_digits_are_8x8_on_the_0_255_scale():
    digits = load_dataset("digits", "train")
    assert (
        digits.image_shape == (1, 8, 8) and len(digits) == 1500 and len(load_dataset("digits", "test")) == 297
    )
    assert digits.images.max() == 255 and len(digits.images.unique()) == 17


@pytest.mark.parametrize(
    ("name", "split", "message"),
    [
        ("mnist", "nope", "unknown split 'nope'"),
        ("cifar100", "train", "unknown data set 'cifar100'"),
        ("zip:/tmp/x", "train", "unknown data format 'zip'"),
    ],
)
def test_bad_names_give_clear_errors(name, split, message):
    with pytest.raises(DataError, match=message):
        load_dataset(name, split)


def test_image_set_checks_its_inputs():
    with pytest.raises(DataError, match="3 images but 2 labels"):
        ImageSet(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), "x")
    with pytest.raises(DataError, match="uint8"):
        ImageSet(torch.zeros(3, 1, 2, 2), None, "x")


def test_views():
    images = torch.tensor([0, 127, 128, 255], dtype=torch.uint8).view(1, 1, 2, 2)
    assert View("static")(images).flatten().tolist() == [0, 0, 1, 1]
    assert View("unit")(images).flatten().tolist() == pytest.approx([0, 127 / 255, 128 / 255, 1])
    assert View("symmetric")(images).flatten()[[0, 3]].tolist() == [-1, 1]
    padded = View("unit", pad=2)(images)
    assert padded.shape == (1, 1, 6, 6) and padded[0, 0, 0].sum() == 0
    dynamic = View("dynamic")(images.expand(20000, 1, 2, 2), torch.Generator().manual_seed(0))
    assert dynamic.mean(0).flatten().tolist() == pytest.approx([0, 127 / 255, 128 / 255, 1], abs=0.015)
    with pytest.raises(DataError, match="unknown data view"):
        View("binary")


def test_batches_are_a_function_of_the_step():
    data = load_dataset("digits", "train")
    stream = BatchStream(data, View("dynamic"), 64, seed=3)
    again = BatchStream(data, View("dynamic"), 64, seed=3)
    for step in (0, 5, 23, 24, 100):  # 23 batches per epoch: crosses epoch boundaries
        a, b = stream.batch(step), again.batch(step)
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    epoch = torch.cat([stream.batch(s)["y"] for s in range(23)])
    assert len(epoch) == 23 * 64  # every batch full; one epoch sees no image twice
    index = torch.cat([stream._permutation(0)[: 23 * 64]])
    assert len(index.unique()) == 23 * 64
    assert not torch.equal(stream.batch(0)["y"], stream.batch(23)["y"])  # epochs are reshuffled
    other_seed = BatchStream(data, View("dynamic"), 64, seed=4)
    assert not torch.equal(stream.batch(0)["x"], other_seed.batch(0)["x"])


def test_processes_split_each_global_batch():
    data = load_dataset("digits", "train")
    whole = BatchStream(data, View("unit"), 8, seed=0).batch(7)
    shares = [BatchStream(data, View("unit"), 8, seed=0, rank=r, world_size=2).batch(7) for r in (0, 1)]
    assert torch.equal(torch.cat([s["y"] for s in shares]).sort().values, whole["y"].sort().values)
    with pytest.raises(DataError, match="multiple of the 3 processes"):
        BatchStream(data, View("unit"), 8, world_size=3)
    with pytest.raises(DataError, match="fewer than one batch"):
        BatchStream(data.subset(slice(0, 5)), View("unit"), 8)


def test_ordered_batches_cover_every_image_once():
    data = load_dataset("digits", "test")
    labels = torch.cat([b["y"] for b in ordered_batches(data, View("static"), 100)])
    assert torch.equal(labels, data.labels)
