"""The AAE with a categorical and a style code: the semi-supervised training set (`labelled=N`), the
phases reading only the rows they may (labels of unlabelled rows are never read), a short
semi-supervised run that classifies test digits far above chance, the clustering error's naming
of clusters on validation digits, class-conditional samples, and a save / load round trip."""

import json

import pytest
import torch

import genmodels
from genmodels.config import ConfigError
from genmodels.data import DataError, ImageSet, View, load_dataset
from genmodels.data.batches import rows_batch
from genmodels.io import load_model, save_model
from genmodels.models.latent.categorical_aae import classification_error, clustering_error

TINY = {"hidden": (64,), "discriminator_hidden": (32,), "style_dim": 4, "image_shape": (1, 8, 8)}


def test_labelled_copies_are_balanced_and_fill_half_the_set():
    data = load_dataset("digits[labelled=20]", "train")
    base = load_dataset("digits", "train")
    flag = data.fields["labelled"]
    assert len(data) == 2 * len(base) and int(flag.sum()) == len(base)
    assert torch.equal(data.images[: len(base)], base.images) and not flag[: len(base)].any()
    copies = data.labels[flag.bool()]
    assert torch.bincount(copies[:20], minlength=10).tolist() == [2] * 10  # 20 labels: 2 a digit
    assert len({tuple(row.flatten().tolist()) for row in data.images[flag.bool()]}) == 20
    # The chosen rows are the first two of each digit in the training order.
    firsts = [int((base.labels == k).nonzero()[i]) for k in range(10) for i in range(2)]
    chosen = {tuple(base.images[i].flatten().tolist()) for i in firsts}
    assert chosen == {tuple(row.flatten().tolist()) for row in data.images[flag.bool()]}
    with pytest.raises(DataError, match="more than the"):
        load_dataset("digits[labelled=5000]", "train")
    with pytest.raises(DataError, match="must be 1 or more"):
        load_dataset("digits[labelled=0]", "train")


def _batch(model, data, rows):
    return rows_batch(data, torch.tensor(rows), View("static"), model.device)


def test_phases_never_read_the_labels_of_unlabelled_rows():
    data = load_dataset("digits[labelled=20]", "train")
    model = genmodels.create("aae-categorical", **TINY, semi_supervised=True)
    rows = [*range(0, 40), *range(len(data) - 30, len(data))]  # 40 unlabelled, 30 labelled rows
    batch = _batch(model, data, rows)
    scrambled = dict(batch, y=torch.where(batch["labelled"].bool(), batch["y"], (batch["y"] + 3) % 10))
    for objective in model.objectives():
        values = []
        for given in (batch, scrambled):
            torch.manual_seed(0)  # the priors' draws
            model.zero_grad()
            loss, _ = objective.loss(given)
            loss.backward()
            values.append(
                (loss.detach(), [p.grad.clone() for p in objective.parameters() if p.grad is not None])
            )
        assert torch.equal(values[0][0], values[1][0]), objective.name
        assert all(torch.equal(a, b) for a, b in zip(values[0][1], values[1][1], strict=True)), objective.name
    # And the classification phase does read the labels of the labelled rows.
    relabelled = dict(batch, y=(batch["y"] + 1) % 10)
    classification = model.objectives()[-1]
    assert classification.name == "classification"
    assert not torch.equal(classification.loss(batch)[0], classification.loss(relabelled)[0])


def test_the_semi_supervised_model_needs_the_labelled_field_and_the_unsupervised_one_has_three_phases():
    assert genmodels.create("aae-categorical", **TINY).config.semi_supervised is False
    assert [o.name for o in genmodels.create("aae-categorical", **TINY).objectives()] == [
        "reconstruction",
        "discriminator",
        "generator",
    ]
    model = genmodels.create("aae-categorical", **TINY, semi_supervised=True)
    with pytest.raises(ValueError, match="labelled"):
        model.reconstruction_step(_batch(model, load_dataset("digits", "train"), [0, 1]))
    with pytest.raises(ConfigError, match="classes must be >= 2"):
        genmodels.create("aae-categorical", **TINY, classes=1)


@pytest.fixture(scope="module")
def semi_supervised(tmp_path_factory):
    run = tmp_path_factory.mktemp("caae")
    genmodels.train(
        "aae-categorical",
        "digits[labelled=50]",
        config={key: value for key, value in TINY.items() if key != "image_shape"},
        steps=600,
        batch_size=100,
        view="dynamic",
        out=run,
        progress=False,
        tensorboard=False,
        num_samples=0,
        log_every=100,
    )
    return genmodels.load(run).eval()


def test_fifty_labels_classify_test_digits_far_above_chance(semi_supervised):
    assert semi_supervised.config.semi_supervised  # from the data's `labelled` field
    error = classification_error(semi_supervised, load_dataset("digits", "test"), View("static"))
    assert error < 0.45, error  # chance: 0.9; measured 0.23 after 600 steps


def test_clusters_are_named_by_their_validation_digits():
    model = genmodels.create("aae-categorical", **TINY, classes=4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    images = (labels * 100).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
    val = ImageSet(images, labels, name="toy/val")
    test = ImageSet(images[:6], torch.tensor([0, 1, 1, 1, 2, 0]), name="toy/test")
    # A stand-in encoder: the cluster is the grey level's class, except class 2 goes to cluster 3.
    model.predict = lambda x: torch.tensor([0, 1, 3])[(x.mean((1, 2, 3)) * 255 / 100).round().long()]
    result = clustering_error(model, val, test, View("unit"))
    assert result["cluster_names"] == {0: 0, 1: 1, 3: 2} and result["clusters_used"] == 3
    assert result["test_error"] == pytest.approx(2 / 6)  # rows 1 and 5 carry other labels


def test_class_conditional_samples_and_save_load(semi_supervised, tmp_path):
    model = semi_supervised
    samples = model.sample(6, condition=3, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (6, 1, 8, 8) and set(samples.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"0\.\.9"):
        model.sample(2, condition=10)
    code = model.draw_latent(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(code[:, :10].sum(1), torch.ones(5)) and code.shape == (5, 14)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert loaded.config.batch_norm == model.config.batch_norm
    for condition in (None, 4):
        a = model.sample(5, condition=condition, generator=torch.Generator().manual_seed(2))
        b = loaded.sample(5, condition=condition, generator=torch.Generator().manual_seed(2))
        assert torch.equal(a, b)


def test_batch_norm_normalises_both_networks_and_its_statistics_survive_save_and_load(tmp_path):
    config = {**TINY, "batch_norm": True}
    model = genmodels.create("aae-categorical", **config)
    for network in (model.encoder, model.decoder):
        assert any(isinstance(layer, torch.nn.BatchNorm1d) for layer in network.modules())
    x = torch.rand(16, 1, 8, 8).bernoulli()
    model.train()
    for _ in range(3):  # move the running statistics away from their start
        model.reconstruction_step({"x": x, "y": torch.zeros(16)})
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert torch.equal(model.eval().encode(x), loaded.encode(x))


def test_validation_selects_by_the_class_code_on_the_validation_digits_themselves(tmp_path):
    """Early stopping of the semi-supervised model reads the class code's error on the validation
    digits (not on the labelled copies, which repeat a few digits, nor the reconstruction), and the
    trainer's val/loss is exactly that; unsupervised, it stays the reconstruction NLL."""
    data = load_dataset("digits[labelled=20]", "val")
    model = genmodels.create("aae-categorical", **TINY, semi_supervised=True)
    rows = [*range(0, 40), *range(len(data) - 30, len(data))]  # 40 validation digits, 30 copies
    batch = _batch(model, data, rows)
    loss, images = model.validation_loss(batch)
    logits, _ = model.posterior(batch["x"][:40])
    wrong = (logits.argmax(1) != batch["y"][:40].long()).float().mean()
    assert images == 40 and torch.equal(loss, wrong)
    assert model.validation_loss(_batch(model, data, rows[40:]))[1] == 0  # copies only: nothing read
    unsupervised = genmodels.create("aae-categorical", **TINY)
    reconstruction, _ = unsupervised.objectives()[0].loss(batch)
    assert torch.equal(unsupervised.validation_loss(batch)[0], reconstruction)

    run = tmp_path / "run"
    config = {key: value for key, value in TINY.items() if key != "image_shape"}
    genmodels.train(
        "aae-categorical", "digits[labelled=20]", val_split="val", config=config, out=run, steps=20,
        batch_size=50, val_every=20, view="static", progress=False, tensorboard=False, num_samples=0,
    )  # fmt: skip
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (value,) = [row["val/loss"] for row in logged if "val/loss" in row]
    trained = genmodels.load(run)
    expected = classification_error(trained, load_dataset("digits", "val"), View("static"))
    assert value == pytest.approx(expected, abs=1e-6)  # the class code's error, not an NLL (> 20 nats)
