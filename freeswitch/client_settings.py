"""Settings of the Event Socket client, validated when built (a bad value raises
:class:`~acd.errors.ConfigError` naming the setting)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from acd.errors import ConfigError
from freeswitch.arguments import check_header_name, check_printable
from freeswitch.errors import ESLError, InvalidArgument

_EVENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}\Z")
_SUBCLASS_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}::[A-Za-z0-9_.:-]{1,64}\Z")


def check_event_names(
    names: Iterable[str], error: type[ConfigError | InvalidArgument] = InvalidArgument
) -> tuple[str, ...]:
    checked = []
    for name in names:
        if not isinstance(name, str) or not (
            (_EVENT_NAME_RE.match(name) and name not in ("ALL", "CUSTOM"))
            or _SUBCLASS_RE.match(name)
        ):
            raise error(
                f"event subscription: {name!r} is neither an event name (CHANNEL_PARK)"
                " nor a CUSTOM subclass (callcenter::info)"
            )
        checked.append(name)
    return tuple(checked)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where to connect and how patiently. ``events``: the names to subscribe to (CUSTOM
    subclasses as ``owner::name``) or ``"ALL"``; ``BACKGROUND_JOB`` is added by the first
    ``bgapi`` if missing (and then replayed on every reconnect like the others)."""

    host: str
    port: int
    password: str
    connect_timeout: float = 5.0
    command_timeout: float = 5.0
    events: tuple[str, ...] | Literal["ALL"] = "ALL"
    event_format: Literal["plain", "json"] = "plain"
    backlog: int = 10_000
    reconnect_min: float = 0.1
    reconnect_max: float = 10.0
    filters: tuple[tuple[str, str], ...] = ()
    stop_timeout: float = 2.0
    job_ttl: float = 3600.0
    max_frame_bytes: int = 8 * 1024 * 1024
    # A FreeSWITCH that hangs with its socket open sends nothing and never closes: with
    # idle_timeout > 0 the client subscribes to HEARTBEAT (every 20 s by default) and treats
    # that long a silence as a dropped connection. 0 turns the watchdog off.
    idle_timeout: float = 0.0

    def __post_init__(self) -> None:
        # Config files give lists; the frozen settings keep tuples.
        if isinstance(self.events, list):
            object.__setattr__(self, "events", tuple(self.events))
        if isinstance(self.filters, list):
            object.__setattr__(self, "filters", tuple(tuple(pair) for pair in self.filters))
        if not isinstance(self.host, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,253}", self.host):
            raise ConfigError(f"esl host: {self.host!r}")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"esl port: {self.port!r}")
        if not isinstance(self.password, str) or not re.fullmatch(r"\S{1,128}", self.password):
            raise ConfigError("esl password: 1-128 characters without whitespace")
        for name in (
            "connect_timeout",
            "command_timeout",
            "reconnect_min",
            "stop_timeout",
            "job_ttl",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 86_400:
                raise ConfigError(f"esl {name}: must be a positive number of seconds: {value!r}")
        if (
            not isinstance(self.reconnect_max, int | float)
            or self.reconnect_max < self.reconnect_min
        ):
            raise ConfigError("esl reconnect_max: must be at least reconnect_min")
        if self.event_format not in ("plain", "json"):
            raise ConfigError(f"esl event_format: plain or json, not {self.event_format!r}")
        if self.events != "ALL":
            if not isinstance(self.events, tuple):
                raise ConfigError("esl events: a tuple of names or 'ALL'")
            check_event_names(self.events, ConfigError)
        if not isinstance(self.max_frame_bytes, int) or self.max_frame_bytes < 1024:
            raise ConfigError(f"esl max_frame_bytes: at least 1024: {self.max_frame_bytes!r}")
        if not isinstance(self.idle_timeout, int | float) or not 0 <= self.idle_timeout <= 86_400:
            raise ConfigError(f"esl idle_timeout: 0 (off) or seconds: {self.idle_timeout!r}")
        if not isinstance(self.backlog, int) or self.backlog < 1:
            raise ConfigError(f"esl backlog: must be a positive int: {self.backlog!r}")
        for header, value in self.filters:
            try:
                check_header_name(header, "filter header")
                check_printable(value, "filter value", max_length=256)
            except ESLError as exc:
                raise ConfigError(f"esl filters: {exc}") from None
