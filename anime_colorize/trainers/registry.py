"""Name -> trainer class. ``@register_trainer("name")`` adds one; unknown names are an error.

Registering a trainer also registers its settings class (``settings_class``) with
:mod:`anime_colorize.config`, which is how ``train --help``, ``config.json`` and validation
learn the algorithm's settings without naming it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from anime_colorize import config as config_lib

if TYPE_CHECKING:  # the trainers import TensorFlow; this registry does not
    from anime_colorize.trainers.base import Trainer

TrainerT = TypeVar("TrainerT", bound="Trainer")

_TRAINERS: dict[str, type[Trainer]] = {}


def register_trainer(name: str, default: bool = False) -> Callable[[type[TrainerT]], type[TrainerT]]:
    """Class decorator: makes the trainer available as ``--algo name``, with the settings of
    its ``settings_class``; ``default``: the algorithm of runs that name none (one only).
    ValueError if the name is taken by another class, or if a setting would give a flag a
    second home (see :func:`anime_colorize.config.register_algorithm`)."""

    def decorate(cls: type[TrainerT]) -> type[TrainerT]:
        if name in _TRAINERS and _TRAINERS[name] is not cls:
            raise ValueError(f"trainer '{name}' is registered twice")
        config_lib.register_algorithm(name, cls.settings_class, default)
        cls.name = name
        _TRAINERS[name] = cls
        return cls

    return decorate


def unregister_trainer(name: str) -> None:
    """Forgets ``--algo name`` (for algorithms registered for a while, as in tests)."""
    _TRAINERS.pop(name, None)
    config_lib.unregister_algorithm(name)


def available_trainers() -> list[str]:
    return sorted(_TRAINERS)


def get_trainer(name: str) -> type[Trainer]:
    """The trainer class registered as ``name``; raises ValueError listing the known names."""
    if name not in _TRAINERS:
        config_lib.settings_class(name)  # raises the error that lists the known algorithms
        raise ValueError(f"algorithm '{name}' has settings but no trainer")
    return _TRAINERS[name]
