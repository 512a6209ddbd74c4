"""Hardening (issue 7): hostile or broken files are refused with clear errors, never run or crash.

- model folders and run checkpoints carrying pickle payloads are refused, and the payload never runs;
- corrupt safetensors and config.json files give errors that name the file;
- a run killed with SIGKILL while writing a checkpoint resumes from its last good one, exactly;
- fuzzed IDX files, images, captions files and configs raise only the library's own errors.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import shlex
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import genmodels
from genmodels.api import resume
from genmodels.config import ConfigError, config_from_dict
from genmodels.data import DataError, load_dataset
from genmodels.io import ModelFolderError, load_model, save_model
from genmodels.registry import model_classes
from genmodels.training.checkpoint import latest_checkpoint
from genmodels.training.run_folder import LOCK_FILE
from tests.conftest import TINY_VAE

QUIET = {"progress": False, "tensorboard": False, "num_samples": 0, "log_every": 5}
ROOT = Path(__file__).resolve().parents[1]
# GENMODELS_FUZZ_EXAMPLES=2000 fuzzes harder than the quick default.
FUZZ = settings(
    max_examples=int(os.environ.get("GENMODELS_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ----------------------------------------------------------------------------------------------
# Pickle payloads


class _Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps({"weight": _Payload(marker)}, protocol=2)


def _torch_payload(path: Path, marker: Path) -> None:
    """A trainer_state.pt in torch's own zip format whose unpickling would run code."""
    torch.save({"step": 10, "seconds": 0.0, "evil": _Payload(marker)}, path)


def test_the_payloads_are_live(tmp_path):
    """The payloads below really run code when unpickled without protection: the refusals mean something."""
    marker = tmp_path / "ran"
    pickle.loads(_pickle_bytes(marker))
    assert marker.exists()
    marker.unlink()
    _torch_payload(tmp_path / "state.pt", marker)
    torch.load(tmp_path / "state.pt", weights_only=False)
    assert marker.exists()


def _train_tiny_vae(run, steps):
    """A tiny VAE on the digits with EMA and a checkpoint every 5 steps."""
    genmodels.train(
        "vae",
        "digits",
        preset=None,
        config=TINY_VAE,
        out=run,
        steps=steps,
        batch_size=20,
        checkpoint_every=5,
        ema_decay=0.9,
        **QUIET,
    )
    return run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished tiny VAE run with EMA and two checkpoints (steps 5 and 10)."""
    return _train_tiny_vae(tmp_path_factory.mktemp("run") / "vae", steps=10)


@pytest.fixture
def run_copy(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


@pytest.mark.parametrize("file", ["model.safetensors", "ema.safetensors"])
def test_pickle_in_a_model_folder_is_refused_without_running(run_copy, tmp_path, file):
    marker = tmp_path / "ran"
    (run_copy / file).unlink()  # a hard link to the checkpoint's copy: replace it, do not write through
    (run_copy / file).write_bytes(_pickle_bytes(marker))
    with pytest.raises(ModelFolderError, match=rf"{file}: not a readable safetensors file"):
        genmodels.load(run_copy, use_ema=file == "ema.safetensors")
    if file == "model.safetensors":
        with pytest.raises(ModelFolderError, match=rf"{file}"):
            resume(run_copy)
    assert not marker.exists()


@pytest.mark.parametrize("file", ["model.safetensors", "ema.safetensors", "trainer_state.pt"])
def test_pickle_in_a_checkpoint_is_refused_without_running(run_copy, tmp_path, file):
    marker = tmp_path / "ran"
    checkpoint = latest_checkpoint(run_copy)
    assert checkpoint is not None and checkpoint.name == "step_0000010"
    (checkpoint / file).unlink()
    if file.endswith(".pt"):
        _torch_payload(checkpoint / file, marker)
    else:
        (checkpoint / file).write_bytes(_pickle_bytes(marker))
    with pytest.raises(ModelFolderError, match=rf"step_0000010/{file}: "):
        resume(run_copy, steps=15)
    assert not marker.exists()


def test_a_trainer_state_that_is_not_torch_format_is_refused(run_copy):
    state = latest_checkpoint(run_copy) / "trainer_state.pt"
    for content in (b"", b"\x00garbage" * 10, state.read_bytes()[:100]):
        state.unlink()
        state.write_bytes(content)
        with pytest.raises(ModelFolderError, match=r"trainer_state.pt: not a readable trainer state"):
            resume(run_copy, steps=15)


# ----------------------------------------------------------------------------------------------
# Corrupt model folders


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "model"
    save_model(genmodels.create("vae", image_shape=(1, 8, 8), **TINY_VAE), folder)
    shutil.copyfile(folder / "config.json", folder / "config.json.good")  # examples overwrite the original
    return folder


def test_corrupt_weights_name_the_file(model_folder):
    weights = model_folder / "model.safetensors"
    good = weights.read_bytes()
    for content in (good[: len(good) // 2], good[:7], b"", os.urandom(4096), b"\xff" * 8 + b"{}"):
        weights.write_bytes(content)
        with pytest.raises(ModelFolderError, match=r"model.safetensors: not a readable safetensors file"):
            genmodels.load(model_folder)


def _set_config(folder: Path, document) -> None:
    text = document if isinstance(document, (str, bytes)) else json.dumps(document)
    (folder / "config.json").write_bytes(text.encode() if isinstance(text, str) else text)


def test_corrupt_config_names_the_file(model_folder):
    good = json.loads((model_folder / "config.json").read_text())
    cases = {
        "not JSON": ("{broken", "not valid JSON"),
        "not UTF-8": (b"\xff\xfe{", "not valid JSON"),
        "a list": ([1, 2], "expected an object with 'model' and 'config'"),
        "no model": ({"config": good["config"]}, "expected an object with 'model' and 'config'"),
        "no config": ({"model": "vae"}, "expected an object with 'model' and 'config'"),
        "unknown model": ({**good, "model": "nope"}, "unknown model 'nope'"),
        "model not a name": ({**good, "model": ["vae"]}, "unknown model"),
        "unknown key": ({**good, "config": {**good["config"], "warp": 9}}, "unknown setting.*warp"),
        "config not an object": ({**good, "config": [1]}, "expected a JSON object"),
        "wrong type": ({**good, "config": {**good["config"], "latent_dim": "four"}}, "latent_dim"),
        "impossible value": ({**good, "config": {**good["config"], "latent_dim": -4}}, "vae config"),
        "fields missing": ({**good, "config": {"latent_dim": 4}}, "weights do not fit"),
        "huge integer": ('{"model": "vae", "config": {"lr": 1' + "0" * 400 + "}}", "config.json"),
    }
    for name, (document, message) in cases.items():
        _set_config(model_folder, document)
        with pytest.raises(ModelFolderError, match=message) as caught:
            genmodels.load(model_folder)
        # Missing settings take their defaults; the weights then say they were saved with other ones.
        file = "model.safetensors" if name == "fields missing" else "config.json"
        assert str(caught.value).startswith(str(model_folder / file)), name


# ----------------------------------------------------------------------------------------------
# SIGKILL while a checkpoint is written

_KILLER = """
import os, signal, sys
from pathlib import Path

import torch

import genmodels
import genmodels.io as gio
import genmodels.training.checkpoint as checkpoint

torch.set_num_threads(1)
where, run = sys.argv[1], Path(sys.argv[2])
calls = {"save_tensors": 0}


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def half_written(path, tensors):
    # The second checkpoint (step 10): write half of the weights file in place, then die.
    calls["save_tensors"] += 1
    if calls["save_tensors"] == 3:  # model + ema of step 5, then model of step 10
        full = Path(str(path) + ".full")
        real_save_tensors(full, tensors)
        Path(path).write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        die()
    real_save_tensors(path, tensors)


def before_pointer(path, write):
    # The step 10 folder is complete and renamed into place, but `latest` still names step 5.
    if Path(path).name == "latest" and (Path(path).parent / "step_0000010").exists():
        die()
    real_atomic_write(path, write)


def mid_link(source, target):
    # The checkpoint is complete and named; the run folder's copy of the weights is not yet replaced.
    if "step_0000010" in str(source):
        die()
    real_link(source, target)


real_save_tensors, real_atomic_write = checkpoint.save_tensors, checkpoint.atomic_write
import genmodels.training.trainer as trainer

real_link = trainer.link_or_copy
if where == "weights":
    checkpoint.save_tensors = half_written
elif where == "pointer":
    checkpoint.atomic_write = before_pointer
elif where == "link":
    trainer.link_or_copy = mid_link
genmodels.train(
    "vae", "digits", preset=None, config={"hidden": [32], "latent_dim": 4, "iw_samples": 20},
    out=run, steps=15, batch_size=20, checkpoint_every=5, ema_decay=0.9,
    progress=False, tensorboard=False, num_samples=0, log_every=5,
)
"""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return _train_tiny_vae(tmp_path_factory.mktemp("whole") / "vae", steps=15)


@pytest.mark.parametrize(
    ("where", "survivor"),
    [("weights", "step_0000005"), ("pointer", "step_0000005"), ("link", "step_0000010")],
)
def test_a_run_killed_while_checkpointing_resumes_from_the_last_good_one(
    tmp_path, uninterrupted, where, survivor
):
    script, run = tmp_path / "killer.py", tmp_path / "run"
    script.write_text(_KILLER)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.run(
        [sys.executable, str(script), where, str(run)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    assert latest_checkpoint(run).name == survivor
    assert (run / LOCK_FILE).is_file()  # the dead run's lock file stays, and holds nobody back
    genmodels.load(run)  # the run folder is a loadable model folder at every moment
    assert resume(run).steps == 15

    from safetensors.torch import load_file

    for weights in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(str(uninterrupted / weights)), load_file(str(run / weights))
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), (weights, name)
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers


# ----------------------------------------------------------------------------------------------
# Fuzzing the readers

_IDX_HEADER = st.sampled_from([b"", b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x0d\x03"])


def _idx_bytes(count: int, rows: int, cols: int, body: bytes) -> bytes:
    return b"\x00\x00\x08\x03" + np.array([count, rows, cols], ">u4").tobytes() + body


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.builds(lambda h, b: h + b, _IDX_HEADER, st.binary(max_size=64)),
        st.builds(
            _idx_bytes,
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.binary(max_size=64),
        ),
        st.builds(
            _idx_bytes, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.binary(max_size=40)
        ),
    ),
    labels=st.one_of(st.none(), st.binary(max_size=24)),
    gz=st.booleans(),
)
# Found by this test: no images, but other sizes so large that numpy could not shape the empty array.
@example(data=b"\x00\x00\x08\x03\x00\x00\x00\x00\xa8\x00\x00\x00\xc3\x0c1\x00", labels=None, gz=False)
def test_fuzzed_idx_files_give_data_errors(tmp_path, data, labels, gz):
    folder = tmp_path / "idx"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    suffix = ".gz" if gz else ""
    (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(data[::-1] if gz else data)
    if labels is not None:
        (folder / "train-labels-idx1-ubyte").write_bytes(labels)
    try:
        images = load_dataset(f"idx:{folder}", "train")
    except DataError as error:
        assert str(folder) in str(error)
    else:
        assert images.images.dtype == torch.uint8


def _png_bytes(size=(4, 3), mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 7).save(buffer, format="PNG")
    return buffer.getvalue()


_PNG = _png_bytes()
_OTHER_HEADERS = [b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"RIFF\x10\x00\x00\x00WEBPVP8 "]


@st.composite
def _mutated_png(draw) -> bytes:
    data = bytearray(_PNG)
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=128),
        st.builds(lambda b: b"\x89PNG\r\n\x1a\n" + b, st.binary()),
        _mutated_png(),
        st.builds(lambda h, b: h + b, st.sampled_from(_OTHER_HEADERS), st.binary(max_size=128)),
    ),
    extension=st.sampled_from([".png", ".gif", ".bmp", ".tif", ".jpg", ".webp"]),
)
def test_fuzzed_images_in_a_folder_give_data_errors(tmp_path, data, extension):
    folder = tmp_path / "images"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "a.png").write_bytes(_PNG)
    (folder / f"b{extension}").write_bytes(data)
    try:
        images = load_dataset(f"folder:{folder}", "train")
    except DataError as error:
        assert str(folder / f"b{extension}") in str(error)
    else:
        assert images.images.shape[0] == 2


def test_an_image_bomb_header_is_a_data_error(tmp_path):
    """A PNG whose header claims a gigantic size: refused by name, never decoded into memory."""
    data = bytearray(_png_bytes((1, 1)))
    data[16:24] = np.array([2**30, 2**30], ">u4").tobytes()  # IHDR width and height
    data[29:33] = np.array([zlib.crc32(bytes(data[12:29]))], ">u4").tobytes()  # a valid IHDR checksum
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bomb\.png"):
        load_dataset(f"folder:{tmp_path}", "train")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_ROW = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(["a.png", "missing.png", "", ".", "bad.png"]) | _JSON,
        "text": st.text(max_size=120) | _JSON,
        "split": st.sampled_from(["train", "test", "all"]) | _JSON,
        "label": st.integers() | _JSON,
    },
)
_LINE = st.one_of(
    _ROW.map(json.dumps),
    st.text(max_size=40),
    _JSON.map(json.dumps),
    st.just('{"image": "a.png", "text": "x", "label": 1' + "0" * 5000 + "}"),
    st.just("[" * 5000),
)


@FUZZ
@given(lines=st.lists(_LINE, max_size=5), raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_fuzzed_captions_files_give_data_errors(tmp_path, lines, raw):
    file = tmp_path / "captions.jsonl"
    (tmp_path / "a.png").write_bytes(_PNG)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    file.write_bytes(raw if raw is not None else "\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        data = load_dataset(f"captions:{file}", "train")
    except DataError as error:
        assert str(file) in str(error)
    else:
        assert len(data) == data.fields["text"].shape[0]


@FUZZ
@given(name=st.sampled_from(sorted(model_classes())), data=st.data())
def test_fuzzed_configs_give_config_errors(name, data):
    cls = model_classes()[name].Config
    fields = [f.name for f in dataclasses.fields(cls)]
    values = data.draw(
        st.dictionaries(st.sampled_from(fields) | st.text(max_size=6), _JSON | st.integers(), max_size=4)
    )
    try:
        config_from_dict(cls, values, context=f"{name} config")
    except ConfigError as error:
        assert f"{name} config" in str(error)


_CONFIG_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 40) | st.floats(-2, 2) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)


@FUZZ
@given(data=st.data())
def test_fuzzed_config_json_gives_model_folder_errors(model_folder, data):
    good = json.loads((model_folder / "config.json.good").read_text())
    fields = list(good["config"])
    changes = data.draw(
        st.dictionaries(st.sampled_from(fields) | st.text(max_size=6), _CONFIG_VALUES, max_size=3)
    )
    config = data.draw(st.sampled_from([{**good["config"], **changes}, changes]) | _JSON)
    document = data.draw(
        st.fixed_dictionaries(
            {}, optional={"model": st.sampled_from(["vae", "gan", "nope"]) | _JSON, "config": st.just(config)}
        )
        | _JSON
    )
    _set_config(model_folder, document)
    try:
        load_model(model_folder)
    except ModelFolderError as error:
        assert str(model_folder) in str(error)


def test_a_broken_train_json_is_named_when_resuming(run_copy):
    description = json.loads((run_copy / "train.json").read_text())
    cases = {
        "{broken": "not valid JSON",
        "[]": "expected an object with 'train' and 'data'",
        json.dumps({**description, "data": {**description["data"], "view": {"warp": 1}}}): "data.view",
        json.dumps({**description, "train": {**description["train"], "lr": "fast"}}): "train.json",
    }
    for text, message in cases.items():
        (run_copy / "train.json").write_text(text)
        with pytest.raises(ValueError, match=message) as caught:
            resume(run_copy)
        assert str(run_copy / "train.json") in str(caught.value)
    (run_copy / "train.json").unlink()
    with pytest.raises(ModelFolderError, match=r"train.json: missing"):
        resume(run_copy)
