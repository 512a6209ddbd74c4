"""Model names to classes. The CLI, `genmodels.create` and `genmodels.load` go through here, so
nothing in the library branches on a model's name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from genmodels.models.base import GenerativeModel

M = TypeVar("M", bound="type[GenerativeModel]")

_MODELS: dict[str, type[GenerativeModel]] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def register(name: str) -> Callable[[M], M]:
    """Class decorator: `@register("vae")` makes the model reachable by that name."""

    def decorate(cls: M) -> M:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_MODELS[name].__qualname__}")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return decorate


def _ensure_models_imported() -> None:
    import genmodels.models  # noqa: F401  (importing the package registers every model)


def get_model_class(name: str) -> type[GenerativeModel]:
    _ensure_models_imported()
    if name not in _MODELS:
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def model_classes() -> dict[str, type[GenerativeModel]]:
    _ensure_models_imported()
    return dict(sorted(_MODELS.items()))
