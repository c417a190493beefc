"""Event Socket events -> engine events, validating everything that comes from outside.

``acd_*`` variables are set by the dialplan, but a caller can influence channel data
(display name, dialled digits) and FreeSWITCH does not promise UTF-8: every value is
checked here, and a bad one is logged and replaced by its safe default so the caller is
still served (a bad ``acd_skills`` falls back to the queue's own requirements).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol, overload

import structlog

from acd.engine.callerid import safe_name, safe_number
from acd.engine.events import (
    AdminFeatureCall,
    AgentAction,
    CallerParked,
    DigitsCollected,
    DtmfPressed,
    EngineEvent,
    EntryCall,
    FeatureCodeCall,
    LegAnswered,
    LegBridged,
    LegHungUp,
    PlaybackStarted,
    PlaybackStopped,
)
from acd.engine.keypad import DIGITS_VARIABLE
from acd.engine.menus import MENU_DIGITS_VARIABLE
from freeswitch.messages import Event
from routing.validation import MAX_LEVEL, MAX_PRIORITY, NAME_PATTERN

_log = structlog.get_logger("acd.translate")

#: The events the engine subscribes to (BACKGROUND_JOB is added by the client).
ENGINE_EVENTS: tuple[str, ...] = (
    "CHANNEL_PARK",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_BRIDGE",
    "CHANNEL_EXECUTE_COMPLETE",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "DTMF",
)

#: The events that bring a caller or free an agent: their handling starts first among what
#: one read of the socket brought (``ClientSettings.urgent_events``), so an agent is rung
#: without waiting behind prompts and answers of other calls.
ENGINE_URGENT: tuple[str, ...] = ("CHANNEL_PARK", "CHANNEL_HANGUP")

#: Filters that narrow CHANNEL_EXECUTE_COMPLETE (the most frequent event of a call, one per
#: application run) to the ones the engine reads, while every other subscribed event
#: passes by its name. mod_event_socket passes an event that matches any filter.
ENGINE_FILTERS: tuple[tuple[str, str], ...] = (
    *(("Event-Name", name) for name in ENGINE_EVENTS if name != "CHANNEL_EXECUTE_COMPLETE"),
    ("Application", "play_and_get_digits"),
    ("Application", "phrase"),
    ("Application", "say"),
)

_ACTIONS: Mapping[str, AgentAction] = {
    "login": "login",
    "logout": "logout",
    "pause": "pause",
    "unpause": "unpause",
}
_MEDIA_APPS = frozenset({"playback", "phrase", "say"})
_DIGIT_RE = re.compile(r"[0-9*#]\Z")
_DIGITS_RE = re.compile(r"[0-9]{0,16}\Z")
_KEYS_RE = re.compile(r"[0-9*#]{0,16}\Z")  # a menu choice may use * and #
_ENTRY_NUMBER_RE = re.compile(r"[0-9*#+]{1,32}\Z")
_PHONE_RE = re.compile(r"[A-Za-z0-9_.+-]{1,64}\Z")
_UUID_RE = re.compile(r"[0-9A-Za-z-]{1,64}\Z")


def _name(value: str | None, what: str, uuid: str) -> str | None:
    if value is None or value == "":
        return None
    if NAME_PATTERN.fullmatch(value) is None:
        _log.warning("acd.bad_variable", uuid=uuid, variable=what, value=repr(value)[:80])
        return None
    return value


def parse_skills(text: str | None, uuid: str = "") -> dict[str, int]:
    """``billing:3,invoice:1`` -> ``{"billing": 3, "invoice": 1}``; anything malformed
    gives ``{}`` (logged): the queue's own requirements then apply."""
    if not text:
        return {}
    skills: dict[str, int] = {}
    for item in text.split(","):
        name, sep, level = item.strip().partition(":")
        ok = NAME_PATTERN.fullmatch(name) is not None and (
            not sep or (level.isdigit() and 1 <= int(level) <= MAX_LEVEL)
        )
        if not ok or name in skills:
            _log.warning("acd.bad_variable", uuid=uuid, variable="acd_skills", value=text[:80])
            return {}
        skills[name] = int(level) if sep else 1
    return skills


def parse_priority(text: str | None, uuid: str = "") -> int:
    if not text:
        return 0
    if text.isdigit() and int(text) <= MAX_PRIORITY:
        return int(text)
    _log.warning("acd.bad_variable", uuid=uuid, variable="acd_priority", value=text[:80])
    return 0


class Headers(Protocol):
    """What :func:`parked` reads: one header by name, None when absent. An
    :class:`~freeswitch.messages.Event` (each header found on its own, without decoding
    the other ~150 of a CHANNEL_PARK: the arrival's dispatch path) or a decoded mapping
    (``uuid_dump`` on adoption)."""

    def get(self, name: str, /) -> str | None: ...


class _Variables:
    """``variable_<name>`` of ``headers`` read as ``<name>``, one at a time."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Headers) -> None:
        self._headers = headers

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._headers.get("variable_" + name)
        return default if value is None else value


def _answered(headers: Headers) -> bool:
    return (
        headers.get("Answer-State") == "answered" or headers.get("Channel-Call-State") == "ACTIVE"
    )


def variables_of(headers: Mapping[str, str]) -> dict[str, str]:
    """``variable_*`` headers without the prefix."""
    return {k[9:]: v for k, v in headers.items() if k.startswith("variable_")}


def parked(headers: Headers, now: float, *, arrival: float | None = None) -> EngineEvent | None:
    """The headers of a CHANNEL_PARK (or of a ``uuid_dump`` of a parked channel, on
    adoption) -> a caller or a feature-code call; None for other channels (e.g. the
    engine's own agent legs). ``arrival`` (epoch seconds) keeps an adopted caller's place."""
    uuid = headers.get("Unique-ID")
    if uuid is None or not _UUID_RE.match(uuid):
        return None
    variables = _Variables(headers)
    if variables.get("acd_role") == "agent":
        return None
    admin = variables.get("acd_admin")
    if admin:  # the emergency message's feature code (R-TIMEDMSG); the engine checks it
        language = _name(variables.get("default_language"), "default_language", uuid)
        phone = safe_number(headers.get("Caller-Caller-ID-Number"))  # who switched it: logged
        return AdminFeatureCall(uuid, admin[:32], now, language=language, phone=phone)
    action = variables.get("acd_action")
    if action:
        chosen = _ACTIONS.get(action)
        arg = variables.get("acd_action_arg", "")
        phone = variables.get("acd_phone", "")
        if chosen is None or not _DIGITS_RE.match(arg):
            _log.warning("acd.bad_feature_code", uuid=uuid, action=action[:32])
            return None
        return FeatureCodeCall(
            uuid,
            chosen,
            arg,
            phone if _PHONE_RE.match(phone) else "",
            now,
            language=_name(variables.get("default_language"), "default_language", uuid),
        )
    queue = variables.get("acd_queue")
    if not queue:
        entry = variables.get("acd_entry")
        number = variables.get("acd_entry_number")
        if not entry and not number:
            return None
        # R-WELCOME: an entry's caller; an unknown or malformed entry is refused by the
        # engine (it finds no entry of that name or number).
        return EntryCall(
            uuid=uuid,
            entry=_name(entry, "acd_entry", uuid) or ("" if entry else None),
            number=number if number and _ENTRY_NUMBER_RE.match(number) else None,
            at=now,
            answered=_answered(headers),
            arrival=now if arrival is None else arrival,
            language=_name(variables.get("acd_language"), "acd_language", uuid),
            caller_number=safe_number(headers.get("Caller-Caller-ID-Number")),
            caller_name=safe_name(headers.get("Caller-Caller-ID-Name")),
            called_number=safe_number(headers.get("Caller-Destination-Number")),
        )
    return CallerParked(
        uuid=uuid,
        queue=queue if NAME_PATTERN.fullmatch(queue) else "",
        at=now,
        answered=_answered(headers),
        arrival=now if arrival is None else arrival,
        skills=parse_skills(variables.get("acd_skills"), uuid),
        language=_name(variables.get("acd_language"), "acd_language", uuid),
        priority=parse_priority(variables.get("acd_priority"), uuid),
        case_type=_name(variables.get("acd_case_type"), "acd_case_type", uuid),
        caller_number=safe_number(headers.get("Caller-Caller-ID-Number")),
        caller_name=safe_name(headers.get("Caller-Caller-ID-Name")),
        agent=_name(variables.get("acd_agent"), "acd_agent", uuid),
        called_number=safe_number(headers.get("Caller-Destination-Number")),
    )


def translate(event: Event, now: float) -> EngineEvent | None:
    """One Event Socket event -> the engine event it means, or None if it means nothing
    to the engine. Never raises for content: a bad value is logged and defaulted."""
    name = event.name
    uuid = event.uuid
    if name == "CHANNEL_PARK":
        return parked(event, now)
    if uuid is None:
        return None
    if name == "CHANNEL_ANSWER":
        return LegAnswered(uuid, now)
    if name == "CHANNEL_HANGUP":
        return LegHungUp(uuid, event.get("Hangup-Cause") or "NONE", now)
    if name == "CHANNEL_BRIDGE":
        a = event.get("Bridge-A-Unique-ID") or uuid
        b = event.get("Bridge-B-Unique-ID") or event.get("Other-Leg-Unique-ID")
        return LegBridged(a, b, now) if b else None
    if name == "DTMF":
        digit = event.get("DTMF-Digit") or ""
        return DtmfPressed(uuid, digit, now) if _DIGIT_RE.match(digit) else None
    if name == "PLAYBACK_START":
        return PlaybackStarted(uuid, event.get("Playback-File-Path") or "", now)
    if name == "PLAYBACK_STOP":
        return PlaybackStopped(uuid, event.get("Playback-File-Path") or "", now)
    application = event.get("Application") if name == "CHANNEL_EXECUTE_COMPLETE" else None
    if application in _MEDIA_APPS:
        # A broadcast ran to its end, whether or not anything played: a missing prompt
        # gives no PLAYBACK_STOP, and the whisper must not wait for one.
        return PlaybackStopped(uuid, event.get("Application-Data") or "", now)
    if application == "play_and_get_digits":
        # The menu's collections name their own variable (8th word of the data).
        words = (event.get("Application-Data") or "").split(" ")
        if len(words) > 7 and words[7] == MENU_DIGITS_VARIABLE:
            keys = event.variables.get(MENU_DIGITS_VARIABLE, "")
            run = event.get("Application-UUID") or ""
            return DigitsCollected(
                uuid,
                MENU_DIGITS_VARIABLE,
                keys if _KEYS_RE.match(keys) else "",
                now,
                run if _UUID_RE.match(run) else "",
            )
        digits = event.variables.get(DIGITS_VARIABLE, "")
        if not _DIGITS_RE.match(digits):
            digits = ""
        return DigitsCollected(uuid, DIGITS_VARIABLE, digits, now)
    return None
