"""Settings of the Event Socket client, validated when built (a bad value raises
:class:`~acd.errors.ConfigError` naming the setting)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from acd.errors import ConfigError
from freeswitch.errors import InvalidArgument
from freeswitch.filters import check_filter

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
    """Where to connect and how patiently. Frozen; every value is checked when built and a
    bad one raises :class:`~acd.errors.ConfigError` naming the setting (lists from a config
    file are accepted and kept as tuples).

    Times are seconds (floats allowed); ``connect_timeout``, ``command_timeout``,
    ``reconnect_min``, ``stop_timeout`` and ``job_ttl`` must be in (0, 86400].

    * ``host`` (name or address, ``[A-Za-z0-9_.:-]``, up to 253), ``port`` (1..65535),
      ``password`` (1..128 characters, no whitespace): the Event Socket to log in to.
    * ``connect_timeout``: for the TCP connect and for the auth exchange; also how long
      ``connect()`` waits for a reconnect already under way.
    * ``command_timeout``: default wait for the reply to each command (``api``, ``bgapi``,
      ``sendmsg``, subscriptions); a late reply raises :class:`~freeswitch.errors.ESLTimeout`.
    * ``events``: the event names to subscribe to (CUSTOM subclasses as ``owner::name``), or
      ``"ALL"``; ``BACKGROUND_JOB`` is added by the first ``bgapi`` if missing, ``HEARTBEAT``
      when ``idle_timeout`` is on; all are replayed on every reconnect. ``event_format``:
      ``"plain"`` or ``"json"`` events on the wire.
    * ``backlog``: events queued for the handlers, over all lanes (>= 1); when full the
      newest event is dropped and counted, and a resync is signalled once it has drained
      to half.
    * ``reconnect_min`` .. ``reconnect_max``: the reconnect back-off, doubling after each
      failed attempt up to the maximum (>= the minimum); each wait is a random 50-100 % of it.
      It starts over only after a connection stayed up ``reconnect_max`` seconds, and paces
      ``on_resync_needed`` the same way (see :mod:`freeswitch.client`).
    * ``filters``: ``(header, value)`` pairs sent as ``filter <header> <value>`` before the
      subscription, in order, after the client's own (``Event-Name BACKGROUND_JOB``, and
      ``HEARTBEAT`` with ``idle_timeout``), and again on every reconnect. Negative values
      (``-...``) and the names ``add``/``delete``/``all`` are refused (:mod:`freeswitch.filters`).
    * ``stop_timeout``: how long ``stop()`` waits for each step of a clean shutdown.
    * ``job_ttl``: a ``bgapi`` job whose ``BACKGROUND_JOB`` never came fails with
      :class:`~freeswitch.errors.ESLTimeout` after this long.
    * ``max_frame_bytes``: the largest frame accepted (>= 1024); a larger one is a protocol
      error that drops the connection (and the client reconnects).
    * ``idle_timeout``: 0 (off) or the silence, in seconds (<= 86400), after which the
      connection counts as dropped (see the comment on the field).
    * ``wakeup_interval``: 0 (off) or seconds (0.0005..1): write a bare newline when the
      connection has been quiet this long. mod_event_socket's listener writes the events
      it has queued only when the client sends something or its poll of about 20 ms
      expires (measured by ``bench/vs_modcc.py``: a median 9.5 ms between FreeSWITCH
      queueing CHANNEL_PARK and the client reading it); a newline between commands is
      skipped by ``read_packet`` like the leading newlines of any command.
    * ``urgent_events``: event names whose handling starts first among what one read of
      the socket brought (see :mod:`freeswitch.dispatch`); each lane's order is kept.
    """

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
    wakeup_interval: float = 0.0
    urgent_events: tuple[str, ...] = ()

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
        if not isinstance(self.wakeup_interval, int | float) or not (
            self.wakeup_interval == 0 or 0.0005 <= self.wakeup_interval <= 1.0
        ):
            raise ConfigError(
                f"esl wakeup_interval: 0 (off) or 0.0005..1 seconds: {self.wakeup_interval!r}"
            )
        if isinstance(self.urgent_events, list):
            object.__setattr__(self, "urgent_events", tuple(self.urgent_events))
        if not isinstance(self.urgent_events, tuple):
            raise ConfigError("esl urgent_events: a tuple of event names")
        check_event_names(self.urgent_events, ConfigError)
        if not isinstance(self.backlog, int) or self.backlog < 1:
            raise ConfigError(f"esl backlog: must be a positive int: {self.backlog!r}")
        for pair in self.filters:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigError(f"esl filters: (header, value) pairs, not {pair!r}")
            try:
                check_filter(*pair, error=ConfigError)
            except ConfigError as exc:
                raise ConfigError(f"esl filters: {exc}") from None
