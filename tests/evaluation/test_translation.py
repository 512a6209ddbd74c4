"""Translation scores on hand-made data with known answers: an oracle translator that applies the
true style gets target accuracy 1, a translator that changes nothing gets 0; both keep the content
and go back exactly (cycle / reconstruction L1 = 0)."""

import math
from types import SimpleNamespace

import pytest
import torch

from genmodels.data import ImageSet, View
from genmodels.evaluation.translation import translation_scores

N = 40


class Network:
    """A stand-in classifier on images in [0, 1]: domain = inverted (bright background); digit = the
    brightness of pixel (0, 0) relative to the background (the data put the 'digit' there)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def eval(self):
        return self

    def predict(self, x):
        inverted = x[:, 0, 3, 3] > 0.5  # the background pixel
        if self.kind == "domain":
            return inverted.long()
        if self.kind == "attributes":
            return inverted.float()[:, None]
        ink = x[:, 0, 0, 0] > 0.5
        return (ink ^ inverted).long()


def _data(field: str) -> ImageSet:
    labels = torch.arange(N) % 2
    images = torch.zeros(N, 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = labels.to(torch.uint8) * 255
    inverted = (torch.arange(N) // 2) % 2 == 1
    images[inverted] = 255 - images[inverted]
    fields = {"domain": inverted.long()} if field == "domain" else {"attributes": inverted.float()[:, None]}
    return ImageSet(images, labels, "toy", fields=fields)


def _translator(kind: str, oracle: bool):
    def translate(x, source, target):
        if not oracle:
            return x.clone()
        if kind == "domain":
            return -x if source != target else x.clone()
        flip = (torch.as_tensor(source) != torch.as_tensor(target)).any(1)
        return torch.where(flip[:, None, None, None], -x, x)

    config = SimpleNamespace(domains=("plain", "inverted"), attributes=("inverted",), one_of=())
    return SimpleNamespace(
        condition_kind=kind, config=config, translate=translate, eval=lambda: None, device=torch.device("cpu")
    )


@pytest.mark.parametrize("kind", ["domain", "attributes"])
def test_oracle_and_do_nothing_translators(kind):
    data = _data(kind)
    networks = {"domain_network": Network(kind), "content_network": Network("content")}
    oracle = translation_scores(_translator(kind, True), data, View("symmetric"), batch_size=16, **networks)
    lazy = translation_scores(_translator(kind, False), data, View("symmetric"), batch_size=16, **networks)
    assert oracle["target_accuracy"] == 1.0 and lazy["target_accuracy"] == 0.0
    assert oracle["content_accuracy"] == 1.0 == oracle["content_accuracy_untranslated"]
    error = "cycle_l1" if kind == "domain" else "reconstruction_l1"
    assert oracle[error] == pytest.approx(0.0) and lazy[error] == pytest.approx(0.0)
    assert (oracle["n"] if kind == "domain" else oracle["n_translations"]) == N


def test_needs_the_fields():
    data = ImageSet(torch.zeros(4, 1, 4, 4, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), "plain")
    networks = {"domain_network": Network("domain"), "content_network": Network("content")}
    with pytest.raises(ValueError, match="no domain field"):
        translation_scores(_translator("domain", True), data, View("symmetric"), **networks)


@pytest.mark.parametrize("kind", ["domain", "attributes"])
def test_without_judges_only_the_round_trip_is_measured(kind):
    """The zoo's check: no classifiers, the same L1, and accuracies NaN rather than made up."""
    data = _data(kind)
    networks = {"domain_network": Network(kind), "content_network": Network("content")}
    judged = translation_scores(_translator(kind, True), data, View("symmetric"), batch_size=16, **networks)
    alone = translation_scores(
        _translator(kind, True),
        data,
        View("symmetric"),
        batch_size=16,
        domain_network=None,
        content_network=None,
    )
    error = "cycle_l1" if kind == "domain" else "reconstruction_l1"
    assert alone[error] == judged[error]
    assert math.isnan(alone["target_accuracy"]) and math.isnan(alone["content_accuracy_untranslated"])
    grey = _translator(kind, True)
    grey.translate = lambda x, source, target: torch.zeros_like(x)  # everything to mid-grey, and back
    # every pixel of these black-and-white images is 0 or 1: half a unit from grey
    lost = translation_scores(grey, data, View("symmetric"), domain_network=None, content_network=None)
    assert lost[error] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both judges"):
        translation_scores(grey, data, View("symmetric"), domain_network=Network(kind), content_network=None)
