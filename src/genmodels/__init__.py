"""genmodels: the classic deep generative models in one library.

import genmodels
genmodels.list_models()                      # names, families, capabilities
model = genmodels.create("vae", preset="cpu", image_shape=(1, 28, 28))
result = genmodels.train("vae", data="mnist", steps=2000, out="runs/vae")
model = genmodels.load(result.run_dir)       # any saved model or run folder
data = genmodels.load_dataset("mnist", split="test")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The API is resolved on first use, so that `genmodels --help` does not pay for importing torch.
_API = {
    "create": "genmodels.api",
    "list_models": "genmodels.api",
    "load": "genmodels.api",
    "train": "genmodels.api",
    "resume": "genmodels.api",
    "list_runs": "genmodels.api",
    "evaluation_view_of": "genmodels.api",
    "translation_target": "genmodels.api",
    "load_dataset": "genmodels.data",
}

if TYPE_CHECKING:
    from genmodels.api import (
        create,
        evaluation_view_of,
        list_models,
        list_runs,
        load,
        resume,
        train,
        translation_target,
    )
    from genmodels.data import load_dataset


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'genmodels' has no attribute {name!r}")


__all__ = [
    "__version__",
    "create",
    "evaluation_view_of",
    "list_models",
    "list_runs",
    "load",
    "load_dataset",
    "resume",
    "train",
    "translation_target",
]
