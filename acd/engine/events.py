"""What the engine reacts to: typed, validated events.

The adapters turn Event Socket events, timers and API calls into these; nothing else
reaches the engine. Every time is epoch seconds (``at``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from acd.engine.calendar import CalendarException

AgentAction = Literal["login", "logout", "pause", "unpause"]


@dataclass(frozen=True, slots=True)
class CallerParked:
    """A caller parked by a queue entry of the dialplan (``acd_queue`` set).

    ``skills``/``language``/``priority``/``case_type`` are the validated ``acd_*``
    variables; ``caller_number``/``caller_name`` are what the caller sent, already
    reduced to values safe for a command (see :mod:`acd.engine.callerid`).
    ``arrival`` is the effective arrival (a re-adopted caller keeps its place).
    """

    uuid: str
    queue: str
    at: float
    answered: bool
    arrival: float
    skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    priority: int = 0
    case_type: str | None = None
    caller_number: str = ""
    caller_name: str = ""
    agent: str | None = None  # private queue target (R-PRIVQ), from acd_agent
    called_number: str = ""  # the number dialled (B), for rules (R-RULES)
    greeted: bool = False  # came through an entry's menu: the emergency message played there


@dataclass(frozen=True, slots=True)
class EntryCall:
    """A caller parked on an entry of the dialplan (R-WELCOME): ``acd_entry`` (the
    entry's name) or ``acd_entry_number`` (its number), both validated names/digits; the
    engine looks the entry up in its configuration (:mod:`acd.engine.menus`)."""

    uuid: str
    entry: str | None
    number: str | None
    at: float
    answered: bool
    arrival: float
    language: str | None = None
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""  # the number dialled (B), for an entry's rules (R-RULES)


@dataclass(frozen=True, slots=True)
class FeatureCodeCall:
    """An agent's phone called a feature code (``acd_action``): R-PHONELOGIN, R-PAUSE."""

    uuid: str
    action: AgentAction
    arg: str
    phone: str
    at: float
    language: str | None = None


@dataclass(frozen=True, slots=True)
class LegAnswered:
    uuid: str
    at: float


@dataclass(frozen=True, slots=True)
class LegHungUp:
    uuid: str
    cause: str
    at: float


@dataclass(frozen=True, slots=True)
class LegBridged:
    a_uuid: str
    b_uuid: str
    at: float


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    uuid: str
    path: str
    at: float


@dataclass(frozen=True, slots=True)
class PlaybackStopped:
    uuid: str
    path: str
    at: float


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    """``play_and_get_digits`` finished (``CHANNEL_EXECUTE_COMPLETE``); ``digits`` may be
    empty (no input). Digits are checked to be ``[0-9*#]`` by the adapter."""

    uuid: str
    variable: str
    digits: str
    at: float
    application: str = ""  # its Application-UUID (the Event-UUID it was sent with)


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    """One DTMF digit (``0-9*#``) on a channel: the agent's in-call features."""

    uuid: str
    digit: str
    at: float


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    """The agent leg of ``contact`` could not be set up (``-ERR <cause>`` of the job, or
    the command could not be sent)."""

    contact: str
    leg: str
    cause: str
    at: float


TimerKind = Literal[
    "announce", "announce_check", "whisper", "digits", "menu", "menu_restart", "rules"
]


@dataclass(frozen=True, slots=True)
class TimerDue:
    """A timer set by a :class:`acd.engine.effects.SetTimer` effect came due."""

    contact: str
    kind: TimerKind
    at: float


@dataclass(frozen=True, slots=True)
class Offer:
    """A reservation made while handling another call, delivered to its contact's lane."""

    reservation_id: str
    agent_id: str
    contact: str
    at: float
    # What caused the offer, for the dispatch-latency measure: time.perf_counter() when
    # the triggering event was read, and "arrival" (a caller parked) or "freed" (an agent
    # became free). Not part of the decision.
    trigger: float | None = None
    trigger_kind: str = ""


@dataclass(frozen=True, slots=True)
class RouterTick:
    """Time passed: due routing timers (wrap-up ends, expiries, escalation) apply."""

    at: float


@dataclass(frozen=True, slots=True)
class AgentCommand:
    """An agent action from the admin API (R-MULTI: an administrator logs agents in and
    out). ``queues`` None means all of the agent's own queues."""

    agent: str
    action: AgentAction
    at: float
    queues: tuple[str, ...] | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Priority transfer (R-PRIO): move the caller ``contact`` to ``queue`` at that
    queue's transfer priority, keeping its original arrival, e.g. when an agent finds the
    caller chose the wrong menu option. A talking caller leaves its agent (who goes to
    wrap-up) and waits again."""

    contact: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True)
class AdminFeatureCall:
    """A phone dialled an admin feature code (``acd_admin``: ``emergency_on`` or
    ``emergency_off``, R-TIMEDMSG); the engine asks for the admin PIN."""

    uuid: str
    action: str
    at: float
    language: str | None = None
    phone: str = ""  # the caller id of the phone, for the log of who switched what


@dataclass(frozen=True, slots=True)
class HoursChanged:
    """The emergency message (prompt id, None: off) or the admin API's calendar
    exceptions changed in Redis (R-CALENDAR, R-TIMEDMSG); posted by acd.adapters.hours."""

    emergency: str | None
    exceptions: Mapping[str, tuple[CalendarException, ...]]
    at: float
    since: float | None = None  # epoch seconds the emergency message was switched on


EngineEvent = (
    CallerParked
    | EntryCall
    | FeatureCodeCall
    | LegAnswered
    | LegHungUp
    | LegBridged
    | PlaybackStarted
    | PlaybackStopped
    | DigitsCollected
    | DtmfPressed
    | OriginateFailed
    | TimerDue
    | Offer
    | RouterTick
    | AgentCommand
    | TransferRequest
    | AdminFeatureCall
    | HoursChanged
)
