"""Checks for every value that enters the routing layer from outside.

A refused value raises :class:`acd.errors.ValidationError` before anything changes, in
both routers alike (they share these functions).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from acd.errors import ValidationError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
# Contact scores put the arrival in milliseconds below 2**43 (see docs/ROUTING.md), so
# every time must stay below 2**43 ms (year 2248) for the score to stay exact.
MAX_TIME = 2.0**43 / 1000.0
MAX_PRIORITY = 1000
MAX_LEVEL = 10
MAX_CAPACITY = 100
RESERVATION_ID = re.compile(r"([A-Za-z0-9_.@+-]{1,64})#([1-9][0-9]{0,8})")


def check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise ValidationError(f"{what} must match {NAME_PATTERN.pattern}: {value!r}")
    return value


def check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{what} must be an integer in {low}..{high}: {value!r}")
    return value


def check_number(value: object, what: str, low: float, high: float = MAX_TIME) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number: {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number < high:
        raise ValidationError(f"{what} must be finite, >= {low} and < {high}: {value!r}")
    return number


def check_time(value: object, what: str = "now") -> float:
    return check_number(value, what, 0.0)


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be a bool: {value!r}")
    return value


def check_levels(value: object, what: str, low: int) -> Mapping[str, int]:
    """A read-only {skill: level} copy, sorted by skill; levels in low..10."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a mapping of skill to level: {value!r}")
    items: dict[str, int] = {}
    for skill in sorted(value, key=str):
        items[check_name(skill, f"{what} skill")] = check_int(
            value[skill], f"{what}[{skill}]", low, MAX_LEVEL
        )
    return MappingProxyType(items)


def check_names(value: object, what: str) -> tuple[str, ...]:
    """Sorted, de-duplicated names from any iterable of strings (not a bare string)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValidationError(f"{what} must be a collection of names: {value!r}")
    items: Any = value
    return tuple(sorted({check_name(item, what) for item in items}))


def check_queue_list(value: object, what: str) -> tuple[str, ...]:
    names = check_names(value, what)
    if not names:
        raise ValidationError(f"{what} must name at least one queue")
    return names


def parse_reservation_id(value: object) -> tuple[str, int]:
    """``"<contact id>#<attempt>"`` -> (contact id, attempt)."""
    match = RESERVATION_ID.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(f"reservation id must be '<contact>#<n>': {value!r}")
    return match.group(1), int(match.group(2))
