"""Name -> trainer class. ``@register_trainer("name")`` adds one; unknown names are an error."""
from __future__ import annotations

_TRAINERS: dict[str, type] = {}


def register_trainer(name: str):
    """Class decorator: makes the trainer available as ``--algo name``."""

    def decorate(cls):
        if name in _TRAINERS and _TRAINERS[name] is not cls:
            raise ValueError(f"trainer '{name}' is registered twice")
        cls.name = name
        _TRAINERS[name] = cls
        return cls

    return decorate


def available_trainers() -> list[str]:
    return sorted(_TRAINERS)


def get_trainer(name: str) -> type:
    """The trainer class registered as ``name``; raises ValueError listing the known names."""
    try:
        return _TRAINERS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm '{name}'; known: {', '.join(available_trainers())}") from None
