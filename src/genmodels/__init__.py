"""genmodels: the classic deep generative models in one library.

import genmodels
genmodels.list_models()                      # names, families, capabilities
model = genmodels.create("vae", preset="cpu", image_shape=(1, 28, 28))
result = genmodels.train("vae", data="mnist", steps=2000, out="runs/vae")
model = genmodels.load(result.run_dir)       # any saved model or run folder
data = genmodels.load_dataset("mnist", split="test")
"""

from __future__ import annotations

__version__ = "0.1.0"

from genmodels.api import create, list_models, load, train
from genmodels.data import load_dataset

__all__ = ["__version__", "create", "list_models", "load", "load_dataset", "train"]
