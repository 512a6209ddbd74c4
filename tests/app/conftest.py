"""A folder of runs for the app's tests: two small trained runs (with train.json, so they describe
themselves and have anomaly thresholds), saved untrained models for the controls only they have
(translation, captions, codes, patches; the app's plumbing is the same whatever the weights), and,
listed before them all, two runs that cannot be loaded: damaged weights, and no weights yet."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genmodels
from genmodels.io import save_model, save_model_config
from tests.models import test_cyclegan, test_infogan, test_puzzlegan, test_stargan, test_text2image

# What the catalog lists, in order (checkpoints/ folders are never listed).
BROKEN = ["broken", "halfway"]  # a damaged weights file; a training before its first checkpoint
RUNS = [
    *BROKEN,
    "nade",
    "untrained/cyclegan",
    "untrained/infogan",
    "untrained/puzzlegan",
    "untrained/stargan",
    "untrained/text2image",
    "vae",
]
QUIET = {"log_every": 10, "progress": False, "tensorboard": False, "num_samples": 0}
# The models' own tests' tiny sizes, at 8x8.
UNTRAINED = {
    "cyclegan": {**test_cyclegan.TINY, "domains": ("thin", "thick")},
    "stargan": {**test_stargan.TINY, "image_shape": (1, 8, 8), "attributes": ("thick", "invert")},
    "infogan": test_infogan.DIGITS,
    "text2image": {**test_text2image.TINY, "image_shape": (1, 8, 8)},
    "puzzlegan": test_puzzlegan.TINY,
}


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    import torch

    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    small = {"steps": 30, "batch_size": 50, **QUIET}
    genmodels.train(
        "nade", "digits", preset=None, config={"hidden": 16, "num_classes": 10}, out=root / "nade", **small
    )
    genmodels.train(
        "vae",
        "digits",
        preset=None,
        config={"hidden": (32,), "latent_dim": 4, "iw_samples": 20},
        out=root / "vae",
        **small,
    )
    for name, config in UNTRAINED.items():
        save_model(genmodels.create(name, **config), root / "untrained" / name)
    (root / "untrained" / "stargan" / "checkpoints").mkdir()  # never listed
    save_model(genmodels.create("nade", image_shape=(1, 8, 8), hidden=4), root / "broken")
    (root / "broken" / "model.safetensors").write_bytes(b"not a safetensors file")
    save_model_config(genmodels.create("nade", image_shape=(1, 8, 8), hidden=4), root / "halfway")
    return root


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """Upload files: a real test digit (8x8), noise (8x8), a wrong-size image, patches, and not-images."""
    folder = tmp_path_factory.mktemp("uploads")
    digit = genmodels.load_dataset("digits", "test").images[0, 0].numpy()
    noise = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    files = {
        "digit": (digit, "digit.png"),
        "noise": (noise, "noise.png"),
        "wide": (np.full((30, 20), 90, np.uint8), "wide.png"),
        "patch": (np.full((4, 4), 200, np.uint8), "patch.png"),
    }
    paths = {}
    for key, (array, name) in files.items():
        Image.fromarray(array).save(folder / name)
        paths[key] = folder / name
    paths["text"] = folder / "notes.png"
    paths["text"].write_text("not an image at all")
    paths["truncated"] = folder / "truncated.png"
    paths["truncated"].write_bytes(paths["digit"].read_bytes()[:40])
    return paths
