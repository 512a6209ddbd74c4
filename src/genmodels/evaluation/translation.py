"""How well a translator (CycleGAN, StarGAN) does its job, on a labelled test split.

Three questions, each answered by a measurement that does not involve the translator itself:
- does the translation show the target domain? The accuracy of a domain classifier (a `classifier`
  run with target "domain" or "attributes", trained on the same styled data by
  `scripts/train_domain_classifier.py`) on the translated images, against the target;
- does it keep the content? The accuracy of a digit classifier on the translated images, against
  the input's digit label. The classifier must read digits in every style of the data, so it is a
  `classifier` run with target "y" trained on the same styled data (its accuracy on the untranslated
  test images, the ceiling, is reported beside it);
- does it keep enough to go back? CycleGAN: the cycle L1 |F(G(a)) − a| (and the other way);
  StarGAN: the reconstruction L1 |G(G(x, c), c') − x| with c' the input's own labels. Mean absolute
  difference per pixel, in [0, 1] units.

CycleGAN translates every test image to the other domain. StarGAN translates every test image
once per attribute of its label set, with that attribute flipped (in a one-of group such as
colours: switched to each other member), and the target accuracy is that attribute's accuracy.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genmodels.data import ImageSet, View, ordered_batches, to_unit


def _unit(x: Tensor) -> Tensor:
    return to_unit(x, "symmetric")


@torch.no_grad()
def translation_scores(
    model: Any,
    data: ImageSet,
    view: View,
    *,
    domain_network: Any | None,
    content_network: Any | None,
    batch_size: int = 250,
) -> dict[str, Any]:
    """Target-domain accuracy, content preservation and cycle/reconstruction L1 on `data`.

    `domain_network` and `content_network` are trained `classifier` models (taking images in
    [0, 1]); the translator takes and gives images in [-1, 1] (`view` "symmetric"). With both None
    only the L1 is measured (the zoo's check: the zoo ships no judges) and the accuracies are NaN."""
    if (domain_network is None) != (content_network is None):
        raise ValueError("give both judges (the domain and the content classifier) or neither")
    if domain_network is not None and data.labels is None:
        raise ValueError(f"{data.name}: content preservation needs digit labels")
    model.eval()
    for network in (domain_network, content_network):
        if network is not None:
            network.eval()
    if model.condition_kind == "domain":
        return _two_domains(model, data, view, domain_network, content_network, batch_size)
    return _attributes(model, data, view, domain_network, content_network, batch_size)


def _content_ceiling(data: ImageSet, view: View, content_network: Any | None, batch_size: int) -> float:
    if content_network is None:
        return math.nan
    right = total = 0
    for batch in ordered_batches(data, view, batch_size):
        right += int((content_network.predict(_unit(batch["x"])) == batch["y"]).sum())
        total += len(batch["x"])
    return right / total


def _two_domains(
    model: Any, data: ImageSet, view: View, domain_network: Any, content_network: Any, batch_size: int
) -> dict[str, Any]:
    if "domain" not in data.fields:
        raise ValueError(f"{data.name} has no domain field (e.g. mnist[domains=thin/thick])")
    names = model.config.domains
    counts = {name: {"n": 0, "target": 0, "content": 0, "cycle": 0.0} for name in names}
    for batch in ordered_batches(data, view, batch_size):
        for source, name in enumerate(names):
            rows = batch["domain"] == source
            if not rows.any():
                continue
            x = batch["x"][rows].to(model.device)
            translated = model.translate(x, source, 1 - source)
            back = model.translate(translated, 1 - source, source)
            shown = _unit(translated).cpu()
            entry = counts[name]
            entry["n"] += len(x)
            if domain_network is not None:  # judged (the zoo's check measures the L1 alone)
                entry["target"] += int((domain_network.predict(shown) == 1 - source).sum())
                entry["content"] += int((content_network.predict(shown) == batch["y"][rows]).sum())
            entry["cycle"] += float((_unit(back) - _unit(x)).abs().flatten(1).mean(1).sum())
    per_direction = {
        f"{name}->{names[1 - s]}": {
            "n": c["n"],
            "target_accuracy": _share(c["target"], c["n"], domain_network),
            "content_accuracy": _share(c["content"], c["n"], domain_network),
            "cycle_l1": c["cycle"] / c["n"],
        }
        for s, (name, c) in enumerate(counts.items())
        if c["n"]
    }
    total = sum(c["n"] for c in counts.values())
    return {
        "target_accuracy": _share(sum(c["target"] for c in counts.values()), total, domain_network),
        "content_accuracy": _share(sum(c["content"] for c in counts.values()), total, domain_network),
        "content_accuracy_untranslated": _content_ceiling(data, view, content_network, batch_size),
        "cycle_l1": sum(c["cycle"] for c in counts.values()) / total,
        "per_direction": per_direction,
        "n": total,
        "data": data.name,
    }


def _flips(labels: Tensor, column: int, groups: list[list[int]]) -> list[Tensor]:
    """Targets that change attribute `column` of every row: its complement, or, in a one-of group,
    switched on (the others off) for the rows where it is off."""
    group = next((g for g in groups if column in g and len(g) > 1), None)
    target = labels.clone()
    if group is None:
        target[:, column] = 1 - labels[:, column]
        return [target]
    target[:, group] = 0.0
    target[:, column] = 1.0
    return [target]


def _attributes(
    model: Any, data: ImageSet, view: View, domain_network: Any, content_network: Any, batch_size: int
) -> dict[str, Any]:
    if "attributes" not in data.fields:
        raise ValueError(f"{data.name} has no attributes field (e.g. mnist[styles=thick/invert/red])")
    names = list(model.config.attributes)
    groups = [[names.index(a) for a in group] for group in getattr(model.config, "one_of", ())]
    per_attribute = {name: {"n": 0, "target": 0, "all": 0, "content": 0} for name in names}
    reconstruction, reconstructed = 0.0, 0
    for batch in ordered_batches(data, view, batch_size):
        x, labels = batch["x"].to(model.device), batch["attributes"].to(model.device)
        known_rows = torch.isfinite(labels)
        for column, name in enumerate(names):
            rows = known_rows[:, column] & (labels[:, column] == 0 if _in_group(column, groups) else True)
            # Rows whose label set covers this attribute (all of its set known).
            if not rows.any():
                continue
            (target,) = _flips(labels[rows], column, groups)
            translated = model.translate(x[rows], labels[rows], target)
            shown = _unit(translated).cpu()
            entry = per_attribute[name]
            entry["n"] += int(rows.sum())
            if domain_network is not None:  # judged (the zoo's check measures the L1 alone)
                predicted = domain_network.predict(shown)
                wanted = target.cpu()
                known = torch.isfinite(wanted)
                entry["target"] += int((predicted[:, column] == wanted[:, column]).sum())
                entry["all"] += int(((predicted == wanted) | ~known).all(1).sum())
                entry["content"] += int((content_network.predict(shown) == batch["y"][rows.cpu()]).sum())
            back = model.translate(translated, target, labels[rows])
            reconstruction += float((_unit(back) - _unit(x[rows])).abs().flatten(1).mean(1).sum())
            reconstructed += int(rows.sum())
    scored = {name: e for name, e in per_attribute.items() if e["n"]}
    total = sum(e["n"] for e in scored.values())
    return {
        "target_accuracy": _share(sum(e["target"] for e in scored.values()), total, domain_network),
        "all_attributes_accuracy": _share(sum(e["all"] for e in scored.values()), total, domain_network),
        "content_accuracy": _share(sum(e["content"] for e in scored.values()), total, domain_network),
        "content_accuracy_untranslated": _content_ceiling(data, view, content_network, batch_size),
        "reconstruction_l1": reconstruction / reconstructed,
        "per_attribute": {
            name: {
                "n": e["n"],
                "target_accuracy": _share(e["target"], e["n"], domain_network),
                "all_attributes_accuracy": _share(e["all"], e["n"], domain_network),
                "content_accuracy": _share(e["content"], e["n"], domain_network),
            }
            for name, e in scored.items()
        },
        "n_translations": total,
        "data": data.name,
    }


def _share(right: int, total: int, judge: Any | None) -> float:
    return right / total if judge is not None else math.nan


def _in_group(column: int, groups: list[list[int]]) -> bool:
    return any(column in g and len(g) > 1 for g in groups)
