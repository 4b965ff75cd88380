"""Typed values out of stored JSON: manifests, config.json, configs saved as dicts.

A file on disk may hold anything JSON can: a string where a number was written, ``true``
where an integer was (Python counts it as 1), a number too big for any count, NaN, a list
where an object was. Each reader here takes only what the value was written as and raises
``ValueError`` naming the field and showing (the start of) what it found; the reader of each
kind of file turns that into its own error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

# what a stored count may reach: it still fits the job records' 64-bit integer columns
MAX_COUNT = 2**63 - 1
SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """``value`` for a message: its repr, cut short (a stored string may be megabytes long,
    and Python refuses to print an integer of more than a few thousand digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def is_integer(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A real number a float can hold: not a bool, not NaN, not infinite."""
    if not isinstance(value, Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def check_integer(name: str, value: Any, low: int = 0, high: int = MAX_COUNT) -> int:
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {shown(value)}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {shown(value)}")
    if value > high:
        raise ValueError(f"{name} must be <= {high}, got {shown(value)}")
    return int(value)


def check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if not is_finite(value):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}")
    number = float(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {shown(value)}")
    return number


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {shown(value)}")
    return value


def required(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise ValueError(f"no {key!r}")
    return data[key]


def integer(data: Mapping[str, Any], key: str, low: int = 0, high: int = MAX_COUNT) -> int:
    return check_integer(key, required(data, key), low, high)


def real(
    data: Mapping[str, Any], key: str, low: float = -math.inf, high: float = math.inf
) -> float:
    return check_real(key, required(data, key), low, high)


def flag(data: Mapping[str, Any], key: str) -> bool:
    return check_flag(key, required(data, key))


def text(data: Mapping[str, Any], key: str) -> str:
    value = required(data, key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {shown(value)}")
    return value


def mapping(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = required(data, key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be an object, got {shown(value)}")
    return dict(value)


def sha256_text(data: Mapping[str, Any], key: str) -> str:
    """A SHA-256 as written: 64 lowercase hexadecimal digits."""
    value = text(data, key)
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"{key} must be a SHA-256 in hexadecimal, got {shown(value)}")
    return value
