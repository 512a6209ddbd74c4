"""The translation models' `paper` presets at the papers' resolutions, a few steps each on synthetic
photographs read through the memory-mapped cache: StarGAN on CelebA-style faces at 128x128 with the
paper's five attributes, CycleGAN on unpaired folders at 256x256 (issue 16). Slow: the paper
networks take seconds a step on one core (`pytest -m slow`)."""

import math

import numpy as np
import pytest
from PIL import Image

import genmodels
from genmodels.models.adversarial.stargan import CELEBA_ATTRIBUTES

pytestmark = pytest.mark.slow
QUIET = {"progress": False, "tensorboard": False, "num_samples": 2, "log_every": 1, "checkpoint_every": 2}


def _photo(seed: int, width: int, height: int) -> Image.Image:
    """A smooth colour picture: a photograph's statistics, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [
        np.sin(2 * np.pi * (rng.uniform(0.5, 2) * x + rng.uniform(0.5, 2) * y + rng.uniform())) for _ in "rgb"
    ]
    return Image.fromarray(((np.stack(channels, -1) + 1) * 127.5).astype(np.uint8))


def _losses(run):
    import json

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [v for row in rows for k, v in row.items() if k.endswith("/loss")]


def test_stargan_paper_preset_at_128_on_celeba_style_faces(tmp_path):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    lines = ["6", " ".join(CELEBA_ATTRIBUTES)]
    for i in range(6):
        name = f"{i:06d}.jpg"
        _photo(i, 178, 218).save(root / "img_align_celeba" / name, quality=95)  # CelebA's aligned size
        hair = i % 3  # one hair colour of three, as the paper's label set
        values = [1 if k == hair else -1 for k in range(3)] + [1 if i % 2 else -1, -1 if i % 4 else 1]
        lines.append(f"{name} " + " ".join(f"{v:2d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    run = tmp_path / "stargan"
    genmodels.train(
        "stargan",
        f"celeba:{root}[size=128, storage=cache]",
        preset="paper",
        steps=2,
        batch_size=2,
        out=run,
        **QUIET,
    )
    model = genmodels.load(run)
    assert model.config.image_shape == (3, 128, 128) and model.config.attributes == CELEBA_ATTRIBUTES
    assert _losses(run) and all(math.isfinite(v) for v in _losses(run))
    assert (run / "checkpoints" / "step_0000002").is_dir()


def test_cyclegan_paper_preset_at_256_on_unpaired_photos(tmp_path):
    root = tmp_path / "photos"
    for folder, offset in (("trainA", 0), ("trainB", 100), ("testA", 200), ("testB", 300)):
        (root / folder).mkdir(parents=True)
        for i in range(2):
            _photo(offset + i, 256, 256).save(root / folder / f"{i}.png")
    run = tmp_path / "cyclegan"
    genmodels.train("cyclegan", f"unpaired:{root}[storage=cache]", preset="paper", steps=2, out=run, **QUIET)
    model = genmodels.load(run)
    assert model.config.image_shape == (3, 256, 256) and model.config.residual_blocks == 9
    assert _losses(run) and all(math.isfinite(v) for v in _losses(run))


def test_progan_grows_to_512_with_a_grid_per_stage(tmp_path):
    # Beyond the fast test's 256: tiny channels, 1 stabilise and 2 fade steps a stage, 22 steps.
    config = {"latent_dim": 8, "channels": 4, "channel_base": 64, "stabilise_steps": 1, "fade_steps": 2}
    run = tmp_path / "progan"
    options = {**QUIET, "num_samples": 4}
    photos = "photos[size=512, n=4, colour]"
    genmodels.train(
        "progan", photos, config=config, steps=22, batch_size=4, out=run, view="symmetric", **options
    )
    grids = {path.name for path in (run / "samples").iterdir()}
    assert {f"stage_{2**k}x{2**k}.png" for k in range(2, 10)} <= grids
    model = genmodels.load(run)
    assert (model.resolution, model.alpha) == (512, 1.0) and model.sample(1).shape == (1, 3, 512, 512)
