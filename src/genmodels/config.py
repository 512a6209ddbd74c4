"""Dataclass configs to and from JSON and `key=value` strings, with errors that say what is wrong.

One mechanism serves model Configs (saved as config.json) and the training config (train.json):
values are checked against the field's type hint, lists become tuples where the field is a tuple,
and an unknown key is an error rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is not valid for its config class."""


def config_to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError("; ".join(errors))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        variadic = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        if variadic and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]  # `--set hidden=32` means one layer of 32
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], where) for v in value]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
            items = [_coerce(v, a, where) for v, a in zip(value, args, strict=True)]
        else:
            items = [_coerce(v, args[0], where) if args else v for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer beyond float's range
                raise ConfigError(
                    f"{where}: a {len(str(abs(value)))}-digit integer is too large for a number"
                ) from None
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def config_from_dict(cls: type[T], data: dict[str, Any], *, context: str = "") -> T:
    """Build `cls` from a mapping, checking every key and value against the dataclass fields."""
    if not isinstance(data, dict):
        raise ConfigError(f"{context or cls.__name__}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(key) for key in set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{context or cls.__name__}: unknown setting(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(fields))}"
        )
    values = {
        key: _coerce(value, hints[key], f"{context or cls.__name__}.{key}") for key, value in data.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{context or cls.__name__}: {error}") from error


def parse_value(text: str) -> Any:
    """A command-line value: JSON where it parses (3, 0.5, true, [1, 2], null), else a bare string.

    Comma-separated numbers (`512,256`) are read as a list, the usual way to give layer sizes.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [parse_value(part.strip()) for part in text.split(",") if part.strip()]
    return text


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`["latent_dim=32", "hidden=512,512"]` -> `{"latent_dim": 32, "hidden": [512, 512]}`."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected key=value, got {pair!r}")
        overrides[key.strip()] = parse_value(value.strip())
    return overrides
