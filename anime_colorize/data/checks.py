"""Argument checks shared by the data modules, with messages that name the argument."""
from __future__ import annotations

import operator
from typing import Any


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int (any integer type, not bool) of at least ``minimum``, else ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
