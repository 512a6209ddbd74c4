"""Configs, the registry, and model folders: save then load gives the same model; no pickle."""

import json

import pytest
import torch

import genmodels
from genmodels.config import ConfigError, parse_overrides
from genmodels.io import ModelFolderError, load_model, save_model
from tests.conftest import TINY_VAE


def test_list_models_and_create():
    names = {m["name"]: m for m in genmodels.list_models()}
    assert names["vae"]["family"] == "latent"
    assert set(names["vae"]["capabilities"]) == {"sample", "density", "latent"}
    assert names["classifier"]["capabilities"] == []  # the evaluation network does not sample
    assert {"cpu", "paper"} <= set(names["vae"]["presets"])
    model = genmodels.create("vae", preset="paper")
    assert model.config.hidden == (200, 200) and model.config.latent_dim == 50


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match=r"unknown setting.*latent_size.*valid:.*latent_dim"):
        genmodels.create("vae", latent_size=3)
    with pytest.raises(ConfigError, match="latent_dim: expected an integer, got 'big'"):
        genmodels.create("vae", latent_dim="big")
    with pytest.raises(ConfigError, match="no preset 'gpu'"):
        genmodels.create("vae", preset="gpu")
    with pytest.raises(ConfigError, match=r"architecture.*'transformer' is not one of"):
        genmodels.create("vae", architecture="transformer")
    with pytest.raises(KeyError, match="unknown model 'vea'"):
        genmodels.create("vea")


def test_overrides_parse_like_a_user_types_them():
    parsed = parse_overrides(
        ["latent_dim=8", "hidden=64,32", "lr=3e-4", "architecture=conv", "image_shape=[1,8,8]"]
    )
    assert parsed == {
        "latent_dim": 8,
        "hidden": [64, 32],
        "lr": 3e-4,
        "architecture": "conv",
        "image_shape": [1, 8, 8],
    }
    model = genmodels.create("vae", **parsed, channels=(4, 4))
    assert model.config.hidden == (64, 32) and model.config.image_shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["latent_dim"])


def test_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = genmodels.create("vae", image_shape=(1, 8, 8), **TINY_VAE).eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    for fresh in (model, loaded):
        torch.manual_seed(1)
        fresh._out = (
            fresh.log_prob(x, k=10),
            fresh.decode(fresh.encode(x)),
            fresh.sample(4, generator=torch.Generator().manual_seed(2)),
        )
    for a, b in zip(model._out, loaded._out, strict=True):
        assert torch.equal(a, b)
    document = json.loads((tmp_path / "config.json").read_text())
    assert (
        document["model"] == "vae"
        and document["config"]["latent_dim"] == 4
        and "genmodels_version" in document
    )


def test_model_folder_errors(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelFolderError, match=r"config.json: missing"):
        load_model(tmp_path)
    model = genmodels.create("vae", image_shape=(1, 8, 8), **TINY_VAE)
    save_model(model, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04not safetensors at all")
    with pytest.raises(ModelFolderError, match=r"model.safetensors: not a readable safetensors file"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ModelFolderError, match=r"config.json: not valid JSON"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": "nope", "config": {}}))
    with pytest.raises(ModelFolderError, match="unknown model 'nope'"):
        load_model(tmp_path)
    save_model(model, tmp_path)
    other = genmodels.create("vae", image_shape=(1, 8, 8), hidden=(16,), latent_dim=4)
    save_model(other, tmp_path / "other")
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "other/model.safetensors").read_bytes())
    with pytest.raises(ModelFolderError, match="weights do not fit"):
        load_model(tmp_path)


def test_no_pickle_in_the_library():
    from pathlib import Path

    source = Path(genmodels.__file__).parent
    # Data files that are pickles (mnist-full's) are read by one module, whose unpickler rebuilds an
    # allow-list of globals only; nothing else imports pickle, and that module never calls its load.
    readers = {source / "data" / "safe_pickle.py"}
    for path in source.rglob("*.py"):
        text = path.read_text()
        if path in readers:
            assert "pickle.load" not in text and "def find_class" in text, path
            continue
        assert "import pickle" not in text and "pickle.load" not in text and "Unpickler" not in text, path
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, (path, line)
