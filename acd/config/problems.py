"""Configuration problems and the error that lists them.

Every problem names where it is (the dotted path, e.g. ``queues.support.wrap_up_seconds``,
and the line when known) and why; :class:`InvalidConfigError` collects all of a file's
problems in one readable message.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from pydantic_core import ErrorDetails

from acd.errors import ConfigError

Loc = tuple[str | int, ...]
"""A place in the file: mapping keys and list indexes from the top."""

LineMap = Mapping[Loc, int]
"""Line (1-based) where the value at each place starts."""

# Values at these keys are secrets: a message never repeats them.
_SECRET_KEYS = frozenset({"pin", "pin_sha256", "token", "password", "url"})


def format_path(loc: Sequence[str | int]) -> str:
    """``('queues', 'q', 'escalation', 0, 'after')`` -> ``queues.q.escalation[0].after``;
    a rule is numbered from 1 as ``check-config`` explains it and the engine logs it:
    ``('queues', 'q', 'rules', 2, 'then')`` -> ``queues.q.rules #3.then``."""
    out = ""
    previous: str | int | None = None
    for part in loc:
        if part == "[key]":  # pydantic's marker for a mapping key that was refused
            out += " (key)"
        elif isinstance(part, int):
            out += f" #{part + 1}" if previous == "rules" else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong: ``path`` (dotted, empty for the whole file), ``line`` (1-based,
    None when unknown) and ``reason``."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(file)"
        if self.line is not None:
            where = f"{where} (line {self.line})" if self.path else f"line {self.line}"
        return f"{where}: {self.reason}"


class InvalidConfigError(ConfigError):
    """A configuration was refused. ``source`` is the file name (or ``<string>``),
    ``problems`` every problem found, in file order where known."""

    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''}:"]
        lines.extend(f"  {problem}" for problem in self.problems)
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[InvalidConfigError], tuple[str, tuple[ConfigProblem, ...]]]:
        # Exceptions pickle their args (the message); rebuild from source and problems.
        return (type(self), (self.source, self.problems))


class CrossCheckError(ValueError):
    """Raised inside validation by checks across sections, carrying each problem's place
    relative to the object being validated."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(f"{format_path(loc)}: {why}" for loc, why in problems))
        self.problems = tuple(problems)


def line_of(loc: Loc, lines: LineMap) -> int | None:
    """The line of ``loc``, or of its nearest enclosing value (a missing key has none)."""
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def problems_from(
    error: PydanticError, lines: LineMap, root: type[BaseModel]
) -> list[ConfigProblem]:
    """Readable problems from a pydantic error, sorted by line."""
    found: list[ConfigProblem] = []
    for detail in error.errors(include_url=False):
        loc: Loc = tuple(detail["loc"])
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, CrossCheckError):
            for sub, why in cause.problems:
                place = loc + sub
                found.append(ConfigProblem(format_path(place), why, line_of(place, lines)))
            continue
        found.append(
            ConfigProblem(format_path(loc), _reason(detail, loc, root), line_of(loc, lines))
        )
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda p: (p.line is None, p.line or 0))
    return unique


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping (key: value)",
    "mapping_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "finite_number": "must be a finite number",
    "none_required": "must be null",
}


_WORDY = (
    ("String should match pattern", "must match the pattern"),
    ("greater than or equal to", ">="),
    ("less than or equal to", "<="),
    ("greater than", ">"),
    ("less than", "<"),
)


def _reason(detail: ErrorDetails, loc: Loc, root: type[BaseModel]) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        reason = "unknown key"
        known = _known_keys(loc[:-1], root)
        if known and loc and isinstance(loc[-1], str):
            close = difflib.get_close_matches(loc[-1], known, n=1)
            reason += f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
        return reason
    if kind == "missing":
        return "required key missing"
    if kind == "value_error":
        return str(detail["msg"]).removeprefix("Value error, ")
    if kind == "too_short":
        least = (detail.get("ctx") or {}).get("min_length", 1)
        return f"must have at least {least} entr{'y' if least == 1 else 'ies'}"
    reason = _TYPE_WORDS.get(kind) or str(detail["msg"]).replace("Input should be", "must be")
    for long, short in _WORDY:
        reason = reason.replace(long, short)
    secret = any(isinstance(part, str) and part in _SECRET_KEYS for part in loc)
    if not secret and kind not in ("model_type", "dict_type", "mapping_type"):
        reason += f", got {_short(detail['input'])}"
    return reason


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _known_keys(loc: Loc, root: type[BaseModel]) -> list[str] | None:
    """The keys the model at ``loc`` accepts, by following the annotations from ``root``."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif origin is not None and issubclass(origin, Mapping):
            current = get_args(current)[1]
        elif origin is tuple:
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None
