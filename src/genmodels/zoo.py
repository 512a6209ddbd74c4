"""The pretrained zoo: models trained on mnist-full, shipped with the package, loaded as `zoo:NAME`.

Each entry is a model folder under `genmodels/zoo/NAME/`: `config.json`, `model.safetensors`
(half precision where that changes no recorded number measurably), the run's `train.json` (so the
views and data it trained on are known, as for any run) and `provenance.json`: the command that
trained it, the commit, the data, the training time, its headline numbers with the commands that
measured them, and a `check`, a number recomputed from the shipped weights on a fixed subset
(the tests recompute it, so a change that breaks a zoo model fails the suite): the mean NLL of
100 test digits for a model with a density, the round-trip L1 of 100 test images for a
translator, the FD-digits of 1,000 seeded samples against 1,000 test digits for one that only
samples, conditioned, where it takes a condition, on those digits' captions or patches (`check`).

`genmodels.load("zoo:nade")` and every command that takes a run (`genmodels evaluate zoo:nade`)
accept the name; `genmodels zoo` lists the entries. `scripts/build_zoo.py` writes an entry from a
finished run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ZOO_ROOT = Path(__file__).parent / "zoo"
PREFIX = "zoo:"
PROVENANCE_FILE = "provenance.json"


class ZooError(ValueError):
    """A `zoo:NAME` that names no entry."""


def names() -> list[str]:
    """The entries shipped, sorted."""
    if not ZOO_ROOT.is_dir():
        return []
    return sorted(p.name for p in ZOO_ROOT.iterdir() if (p / PROVENANCE_FILE).is_file())


def resolve(folder: str | Path) -> Path:
    """`zoo:NAME` -> the entry's folder; any other path unchanged."""
    text = str(folder)
    if not text.startswith(PREFIX):
        return Path(folder)
    name = text[len(PREFIX) :]
    if name not in names():
        raise ZooError(f"no zoo model {name!r}; the zoo holds {', '.join(names()) or 'nothing'}")
    return ZOO_ROOT / name


def is_zoo(folder: str | Path) -> bool:
    return str(folder).startswith(PREFIX)


def provenance(name: str) -> dict[str, Any]:
    return json.loads((resolve(PREFIX + name) / PROVENANCE_FILE).read_text())


def entries() -> list[dict[str, Any]]:
    """Every entry's provenance with its name and size on disk, for `genmodels zoo`."""
    rows = []
    for name in names():
        folder = ZOO_ROOT / name
        rows.append(
            {
                "name": name,
                **provenance(name),
                "bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
            }
        )
    return rows


CHECK_VIEW = "stochastic:0"  # mnist-full's test digits binarised once, seed 0


def check_nll(model: Any, n: int = 100) -> float:
    """A zoo entry's `check`: the mean NLL (nats) of the first n mnist-full test digits, binarised
    once with seed 0; exact for the autoregressive models, the importance-weighted bound with
    k = 100 (seed 0) for a model whose log p(x) is a bound."""
    import torch

    import genmodels
    from genmodels.data import View
    from genmodels.evaluation.likelihood import per_image_log_prob

    subset = genmodels.load_dataset("mnist-full", "test").subset(torch.arange(n))
    options = {} if model.log_prob_is_exact else {"k": 100}
    return float(-per_image_log_prob(model, subset, View.parse(CHECK_VIEW), seed=0, **options).mean())


CHECK_SAMPLES = 1000


def check_fd(model: Any, view: Any, data: str = "mnist-full", n: int = CHECK_SAMPLES) -> float:
    """A sampler's `check`: the FD-digits of n samples (seed 0) against the first n test digits of
    `data` (the run's data set: its captions or patches condition the samples) in the run's
    evaluation view, in the shipped digit classifier's feature space."""
    import torch

    import genmodels
    from genmodels.evaluation import sample_quality

    subset = genmodels.load_dataset(data, "test").subset(torch.arange(n))
    return float(sample_quality(model, subset, view, n_fake=n, seed=0)["fd"])


CHECK_TRANSLATIONS = 100


def check_round_trip(model: Any, view: Any, data: str, n: int = CHECK_TRANSLATIONS) -> float:
    """A translator's `check`: the mean per-pixel L1 in [0, 1] units of the first n test images of
    `data` carried to the other domain and back (CycleGAN's cycle; StarGAN: each attribute flipped
    and back, the reconstruction), as `genmodels.evaluation.translation` measures it."""
    import torch

    import genmodels
    from genmodels.evaluation.translation import translation_scores

    subset = genmodels.load_dataset(data, "test").subset(torch.arange(n))
    scores = translation_scores(model, subset, view, domain_network=None, content_network=None)
    return float(scores["cycle_l1"] if "cycle_l1" in scores else scores["reconstruction_l1"])


def check(model: Any, view: Any, data: str = "mnist-full") -> dict[str, Any]:
    """The number an entry records and the tests recompute: NLL for a density, the round-trip L1
    for a translator, FD-digits for a sampler. `view` is the run's evaluation view (the samplers'
    real digits are taken in it); `data` the data set the run trained on, whose test split is used."""
    if "density" in model.capabilities():
        measure = f"mean NLL of the first 100 mnist-full test digits ({CHECK_VIEW})"
        if not model.log_prob_is_exact:
            measure += ", IW bound k = 100, seed 0"
        if getattr(model.config, "num_classes", 0):
            measure += ", −log p(x | y) with each digit's label"
        return {"measure": measure, "value": round(check_nll(model, 100), 4), "unit": "nats"}
    if "translate" in model.capabilities():
        return {
            "measure": f"round-trip L1 per pixel of the first {CHECK_TRANSLATIONS} {data} test images "
            "(to the other domain, or each attribute flipped, and back)",
            "value": round(check_round_trip(model, view, data), 5),
            "unit": "L1 per pixel, [0, 1]",
        }
    return {
        "measure": f"FD-digits of {CHECK_SAMPLES:,} samples (seed 0) against the first "
        f"{CHECK_SAMPLES:,} {data} test digits ({view.describe()})",
        "value": round(check_fd(model, view, data), 3),
        "unit": "FD-digits",
    }
