"""Field types shared by the configuration models.

Every check that also guards an Event Socket command or a routing call is the project's
own (``freeswitch.arguments``, ``freeswitch.commands``, ``freeswitch.media``,
``routing.validation``): these types only adapt them to pydantic, so a value the engine
would refuse later is refused here, when the file is read.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializerFunctionWrapHandler,
    WrapSerializer,
)

from freeswitch.arguments import check_printable, check_value
from freeswitch.commands import check_dial_string
from freeswitch.errors import InvalidArgument
from freeswitch.media import Phrase, Playable, Say, parse_playable
from routing.validation import MAX_LEVEL, MAX_PRIORITY, check_name

K = TypeVar("K")
V = TypeVar("V")

Loc = tuple[str | int, ...]

DAY = 86_400.0
"""Seconds in a day."""


class Frozen(BaseModel):
    """Base of every configuration object: immutable, no unknown keys, no coercion
    (``"5"`` is not a number, ``1`` is not ``true``), no NaN or infinity."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        validate_default=False,
    )


def _freeze(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


def _serialize_mapping(value: Mapping[Any, Any], handler: SerializerFunctionWrapHandler) -> Any:
    return handler(dict(value))


FrozenMap = Annotated[Mapping[K, V], AfterValidator(_freeze), WrapSerializer(_serialize_mapping)]
"""A read-only mapping (a ``MappingProxyType``), in the file's order."""

List = Annotated[tuple[V, ...], Field(strict=False)]
"""A YAML list, kept as a tuple (strict mode alone would refuse a list for a tuple)."""


def _routing_name(value: str) -> str:
    return check_name(value, "a name")


Name = Annotated[str, AfterValidator(_routing_name)]
"""A routing name: 1-64 of ``A-Z a-z 0-9 _ . @ + -`` (queues, skills, reasons, tenant)."""


def check_language(value: str) -> str:
    """``value`` if it is a language code; raises ``ValueError`` otherwise."""
    check_name(value, "a language")
    try:
        # The language goes into say/phrase commands: Say owns that rule.
        Say.number(value, 1)
    except InvalidArgument:
        raise ValueError(f"a language code is 2-3 lowercase letters (sv, en): {value!r}") from None
    return value


Language = Annotated[str, AfterValidator(check_language)]
"""A language code as FreeSWITCH's say modules name them: ``sv``, ``en``."""


def _int_to_text(value: object) -> object:
    # YAML reads an unquoted 1001 as a number; digits are text here. A leading zero is
    # kept by the loader (0123 stays the text "0123", see yamlfile.py).
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


TextDigits = BeforeValidator(_int_to_text)
"""Put before a digits check: an unquoted YAML number is taken as its digits."""


def _quoted_number(value: object) -> object:
    # YAML reads an unquoted +46812345678 as the integer 46812345678: the '+' is gone
    # before any check could see it, so a phone number must be text from the start.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(
            f"{value!r} was read as a number, which loses a leading '+': write phone"
            f' numbers and extensions in quotes, e.g. "+46812345678" or "{value!r}"'
        )
    return value


QuotedNumber = BeforeValidator(_quoted_number)
"""Put before a phone number or extension check: an unquoted YAML number is refused
with a message saying to quote it (YAML drops a leading '+')."""


def digits_check(low: int, high: int, what: str) -> AfterValidator:
    """A check for ``low``..``high`` decimal digits; ``what`` names the field in the
    message, the value is never echoed (PINs are secrets)."""
    pattern = re.compile(rf"[0-9]{{{low},{high}}}")
    span = f"{low}" if low == high else f"{low}-{high}"

    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise ValueError(f"{what} must be {span} digits (0-9)")
        return value

    return AfterValidator(check)


def _sha256_hex(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be 64 lowercase hex digits (SHA-256 of the PIN)")
    return value


PinSha256 = Annotated[str, AfterValidator(_sha256_hex)]
"""A PIN's SHA-256 as 64 lowercase hex digits (``acd.engine.policy.hash_pin``)."""


def text_check(max_length: int) -> AfterValidator:
    """A check for free text meant for people: printable, not blank, not too long."""

    def check(value: str) -> str:
        try:
            check_printable(value, "text", max_length)
        except InvalidArgument as error:
            raise ValueError(str(error).removeprefix("text: ")) from None
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    return AfterValidator(check)


def _dial_string(value: str) -> str:
    # check_value refuses control characters (a newline ends an ESL command), quotes and
    # '$'; check_dial_string accepts only the endpoint forms originate may carry.
    check_value(value, "dial string")
    return check_dial_string(value)


DialString = Annotated[str, AfterValidator(_dial_string)]
"""A FreeSWITCH endpoint for ``originate``: ``user/1001``, ``user/1001@domain``,
``sofia/<profile>/<uri>``, ``sofia/gateway/<gw>/<number>`` or ``loopback/<ext>``."""


def _sound(value: object) -> Playable:
    if isinstance(value, Playable):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {type(value).__name__}")
    return parse_playable(value)


Sound = Annotated[Playable, PlainValidator(_sound), PlainSerializer(str, return_type=str)]
"""Something to play, parsed by :func:`freeswitch.media.parse_playable`:
``local_stream://moh``, ``tone_stream://%(2000,4000,440,480);loops=-1``,
``silence_stream://1000``, ``phrase:<macro>[:<data>]`` or a sound file path."""

_MACRO_ONLY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _prompt(value: object) -> Playable:
    if isinstance(value, str) and _MACRO_ONLY.fullmatch(value):
        return Phrase(value)
    return _sound(value)


Prompt = Annotated[Playable, PlainValidator(_prompt), PlainSerializer(str, return_type=str)]
"""A prompt: a bare name is a phrase macro (``acd_whisper`` -> ``phrase:acd_whisper``,
played in the call's language); anything else is read as a :data:`Sound`."""

_PROMPT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class PromptRef(str):
    """A validated prompt id (see :data:`PromptId`); a ``str`` subclass so that
    :func:`prompt_refs` finds every prompt a configuration names, in any section."""

    __slots__ = ()


def check_prompt_id(value: str) -> PromptRef:
    """``value`` as a :class:`PromptRef`; raises ``ValueError`` unless it is 1-64 ASCII
    letters, digits, '-' or '_' starting with a letter or digit (it becomes a file name)."""
    if not isinstance(value, str) or _PROMPT_ID.fullmatch(value) is None:
        raise ValueError(
            "a prompt id is 1-64 ASCII letters, digits, '-' or '_' (e.g. welcome, night-sv)"
        )
    return PromptRef(value)


PromptId = Annotated[str, AfterValidator(check_prompt_id)]
"""The id of a prompt of the prompt catalogue (:mod:`acd.prompts`): the shipped set
(``freeswitch/prompts/manifest.toml``) or the customer's own, played in the call's
language. Use this type for every configured prompt id: ``acd check-config`` then lists
the ones missing in some language (R-PROMPTS)."""


def _names_prompt(annotation: object) -> bool:
    # True if a field's type is PromptId or holds one (PromptId | None, List[PromptId], ...).
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, AfterValidator) and meta.func is check_prompt_id:
            return True
    return any(_names_prompt(arg) for arg in get_args(annotation))


def _strings(value: object, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, str(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def prompt_refs(value: object, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """Every prompt id inside ``value`` (a configuration model, mapping, tuple) held by a
    field typed :data:`PromptId` (alone, optional or in a list), defaults included, as
    ``(place, prompt id)`` in the file's order."""
    found: list[tuple[Loc, str]] = []
    if isinstance(value, PromptRef):
        found.append((loc, str(value)))
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            if _names_prompt(info.annotation) or any(
                isinstance(m, AfterValidator) and m.func is check_prompt_id for m in info.metadata
            ):
                found.extend(_strings(item, (*loc, name)))
            else:
                found.extend(prompt_refs(item, (*loc, name)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(prompt_refs(item, (*loc, str(key))))
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            found.extend(prompt_refs(item, (*loc, index)))
    return found


Seconds = Annotated[float, Field(ge=0.0, le=30 * DAY)]
"""A duration in seconds, 0 .. 30 days."""

PositiveSeconds = Annotated[float, Field(gt=0.0, le=30 * DAY)]
"""A duration in seconds, > 0 and at most 30 days."""

Level = Annotated[int, Field(ge=1, le=MAX_LEVEL)]
"""A skill level (proficiency), 1..10."""

LevelOrZero = Annotated[int, Field(ge=0, le=MAX_LEVEL)]
"""A skill level in an escalation step; 0 drops the requirement."""

Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY)]
"""A contact priority boost, 0..1000."""


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Stockholm)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name (``Europe/Stockholm``), checked against the zone database."""
