"""Model folders: `config.json` (registered name, Config, library version) + `model.safetensors`.

No pickle anywhere: loading a folder someone else wrote reads JSON and raw tensors, never code.
Every file is written atomically (a temporary file in the same folder, then a rename), so a run
killed mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from genmodels.config import ConfigError, config_from_dict, config_to_dict

if TYPE_CHECKING:
    from genmodels.models.base import GenerativeModel

CONFIG_FILE, WEIGHTS_FILE, EMA_FILE = "config.json", "model.safetensors", "ema.safetensors"
FORMAT_VERSION = 1


class ModelFolderError(ValueError):
    """A model folder is missing, incomplete or corrupt; the message names the file."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(temporary_path)`, then move the result onto `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """Make `target` the same file as `source`, atomically: a hard link, or a copy where links fail."""

    def place(temporary: Path) -> None:
        temporary.unlink()
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)

    atomic_write(target, place)


def write_json(path: str | Path, data: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def save_tensors(path: str | Path, tensors: dict[str, Tensor]) -> None:
    from safetensors.torch import save_file

    # safetensors refuses tensors that share memory (tied weights, views): store independent copies.
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    atomic_write(path, lambda p: save_file(plain, str(p)))


def load_tensors(path: str | Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({error})") from error


def save_model(model: GenerativeModel, folder: str | Path, *, ema: dict[str, Tensor] | None = None) -> Path:
    """Write `model` as a folder that `load_model` rebuilds through the registry."""
    save_model_config(model, folder)
    save_tensors(Path(folder) / WEIGHTS_FILE, model.state_dict())
    if ema is not None:
        save_tensors(Path(folder) / EMA_FILE, ema)
    return Path(folder)


def save_model_config(model: GenerativeModel, folder: str | Path) -> None:
    from genmodels import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(
        folder / CONFIG_FILE,
        {
            "model": model.name,
            "config": config_to_dict(model.config),
            "genmodels_version": __version__,
            "format": FORMAT_VERSION,
        },
    )


def read_model_config(folder: str | Path) -> tuple[str, dict[str, Any]]:
    path = Path(folder) / CONFIG_FILE
    if not Path(folder).is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing; a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        document = json.loads(path.read_text())
    # JSONDecodeError and UnicodeDecodeError are ValueErrors, as is a number over Python's digit limit;
    # nesting deeper than the parser's recursion limit is a RecursionError.
    except (ValueError, RecursionError) as error:
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or "model" not in document or "config" not in document:
        raise ModelFolderError(f"{path}: expected an object with 'model' and 'config'")
    if not isinstance(document["model"], str):
        raise ModelFolderError(f"{path}: unknown model {document['model']!r}; 'model' must be a model name")
    return document["model"], document["config"]


def load_model(
    folder: str | Path, *, use_ema: bool = False, map_location: str | torch.device = "cpu"
) -> GenerativeModel:
    """Rebuild a saved model: its class from the registry, its Config from JSON, its weights."""
    from genmodels.registry import UnknownModelError, get_model_class

    name, config = read_model_config(folder)
    try:
        cls = get_model_class(name)
    except UnknownModelError as error:
        raise ModelFolderError(f"{Path(folder) / CONFIG_FILE}: {error}") from error
    try:
        model_config = config_from_dict(cls.Config, config, context=f"{name} config")
    except ConfigError as error:
        raise ModelFolderError(f"{Path(folder) / CONFIG_FILE}: {error}") from error
    try:
        model = cls(model_config)
    # Values of the right type that no model can be built from (a negative size): torch's own errors.
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError) as error:
        raise ModelFolderError(
            f"{Path(folder) / CONFIG_FILE}: {name} config cannot build a model ({error})"
        ) from error
    weights_path = Path(folder) / (EMA_FILE if use_ema else WEIGHTS_FILE)
    if use_ema and not weights_path.is_file():
        raise ModelFolderError(
            f"{weights_path}: weights file not found; the run kept no averaged weights "
            "(train it with --ema-decay)"
        )
    state = load_tensors(weights_path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFolderError(f"{weights_path}: weights do not fit the {name} config ({error})") from error
    return model.to(map_location).eval()
