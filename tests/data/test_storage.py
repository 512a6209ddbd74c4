"""Data larger than memory: an image folder decoded once into a memory-mapped cache. The cache holds
exactly the in-memory pixels, "auto" chooses it by size, a changed folder is decoded again, a
resumed run on it equals an uninterrupted one, and a training under a memory cap that the folder's
pixels exceed several times over runs on the cache where the in-memory path cannot even load."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import genmodels
from genmodels.data import DataError, load_dataset
from genmodels.training.checkpoint import latest_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _folder(root: Path, n: int, side: int, colour: bool = True) -> Path:
    """n images in two class subfolders: gradients (PNG compresses them to almost nothing)."""
    y, x = np.mgrid[0:side, 0:side]
    for k in range(2):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = ((x * (1 + i % 2) + y + i) % 256).astype(np.uint8)
        pixels = np.stack([base, base[::-1], base.T], -1) if colour else base
        Image.fromarray(pixels).save(root / f"class{i % 2}" / f"{i:05d}.png", compress_level=1)
    return root


def _mapped_file(tensor: torch.Tensor) -> str | None:
    """The file whose mapping holds the tensor's memory (from /proc/self/maps); None for anonymous."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        if low <= address < high:
            return fields[5] if len(fields) == 6 and fields[5].startswith("/") else None
    return None


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc/self/maps (Linux)")
def test_the_cache_holds_the_in_memory_pixels_and_auto_chooses_by_size(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path / "cache"))  # this test's caches only
    folder = _folder(tmp_path / "images", 12, 10)
    memory = load_dataset(f"folder:{folder}[storage=memory]", "train")
    cached = load_dataset(f"folder:{folder}[storage=cache]", "train")
    assert torch.equal(memory.images, cached.images) and torch.equal(memory.labels, cached.labels)
    caches = sorted(Path(os.environ["GENMODELS_CACHE"]).glob("images-*.npy"))
    assert len(caches) == 1 and caches[0].stat().st_size > memory.images.numel()
    assert _mapped_file(cached.images) == str(caches[0])  # the pixels are the mapped file, not a copy
    assert _mapped_file(memory.images) is None
    # "auto": in memory under the budget, the cache above it.
    assert _mapped_file(load_dataset(f"folder:{folder}", "train").images) is None
    monkeypatch.setenv("GENMODELS_IN_MEMORY_MAX_MB", "0.001")
    assert _mapped_file(load_dataset(f"folder:{folder}", "train").images) == str(caches[0])
    # A changed file is decoded again into a new cache, and the old pixels are not served.
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "class0" / "00000.png")
    changed = load_dataset(f"folder:{folder}[storage=cache]", "train")
    assert changed.images[0].sum() == 0 and len(list(caches[0].parent.glob("images-*.npy"))) == 2
    with pytest.raises(DataError, match="storage='disk'; choose one of auto, memory, cache"):
        load_dataset(f"folder:{folder}[storage=disk]", "train")


def test_a_resumed_run_on_the_cache_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "images", 40, 16, colour=False)
    data = f"folder:{folder}[storage=cache]"
    settings = {
        "config": {"channels": (4, 4), "features": 8},
        "batch_size": 8,
        "checkpoint_every": 3,
        "progress": False,
        "tensorboard": False,
        "num_samples": 0,
    }
    genmodels.train("classifier", data, steps=6, out=tmp_path / "whole", **settings)
    from genmodels.models.classifier import Classifier

    def stop_at_step_4(self, step):
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(Classifier, "on_step", stop_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        genmodels.train("classifier", data, steps=6, out=tmp_path / "broken", **settings)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "broken").name == "step_0000003"
    genmodels.resume(tmp_path / "broken")
    a, b = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("whole", "broken"))
    assert all(torch.equal(a[name], b[name]) for name in a)


CAPPED = """
import json, resource, sys
import genmodels, torch  # what the imports take is the baseline the cap adds to
storage, folder, out, margin = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
baseline = int(status["VmData"].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_DATA, (baseline + margin * 2**20, resource.RLIM_INFINITY))
try:
    result = genmodels.train(
        "classifier", f"folder:{folder}[storage={storage}]", config={"channels": (2, 2), "features": 8},
        steps=4, batch_size=2, checkpoint_every=2, out=out, progress=False, tensorboard=False, num_samples=0,
    )
except MemoryError:
    print(json.dumps({"outcome": "MemoryError"}))
else:
    print(json.dumps({"outcome": "trained", "steps": result.steps, "baseline_mb": baseline / 2**20}))
"""


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_DATA"), reason="needs RLIMIT_DATA (Linux)")
def test_training_on_a_folder_several_times_larger_than_the_memory_cap(tmp_path):
    # 3,000 colour images of 256x256: 590 MB of pixels. The child may use 150 MB above what its
    # imports took (about 175 MB): the pixels are 3.9 times that margin and 1.8 times the whole cap.
    folder = _folder(tmp_path / "images", 3000, 256)
    margin_mb, pixels = 150, 3000 * 3 * 256 * 256
    assert pixels > 3.5 * margin_mb * 2**20
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    outcomes = {}
    for storage in ("memory", "auto"):
        env = {**environment, "GENMODELS_IN_MEMORY_MAX_MB": str(margin_mb // 2)}  # what "auto" may hold
        command = [
            sys.executable,
            "-c",
            CAPPED,
            storage,
            str(folder),
            str(tmp_path / storage),
            str(margin_mb),
        ]
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-3000:]
        outcomes[storage] = json.loads(finished.stdout.strip().splitlines()[-1])
    assert outcomes["memory"] == {"outcome": "MemoryError"}  # the cap bites: the pixels do not fit
    assert outcomes["auto"]["outcome"] == "trained" and outcomes["auto"]["steps"] == 4
    assert pixels > 1.5 * (outcomes["auto"]["baseline_mb"] + margin_mb) * 2**20
    assert latest_checkpoint(tmp_path / "auto").name == "step_0000004"
