"""The routing port: value types and the :class:`Router` protocol.

Two adapters implement :class:`Router` and must agree bit for bit:
``routing.model.ReferenceRouter`` (pure Python, the specification) and
``routing.store.RedisRouter`` (Lua scripts, the fast path). The rules are in
``docs/ROUTING.md``. Every value type validates itself on construction, so bad input
raises :class:`acd.errors.ValidationError` before either router sees it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

from acd.errors import ValidationError
from routing.validation import (
    MAX_CAPACITY,
    MAX_PRIORITY,
    check_bool,
    check_int,
    check_levels,
    check_name,
    check_names,
    check_number,
    check_time,
)

Channel = Literal["voice", "callback", "email", "chat"]
ChannelClass = Literal["voice", "chat", "email"]
Presence = Literal["logged_out", "ready", "paused", "wrap_up"]
ContactState = Literal["waiting", "reserved", "busy"]
TargetKind = Literal["private", "sticky"]
NoAnswerState = Literal["available", "paused"]

CHANNELS: tuple[Channel, ...] = ("voice", "callback", "email", "chat")
# voice and callback share the agent's phone, so they are one exclusive class.
CHANNEL_CLASS: Mapping[str, ChannelClass] = MappingProxyType(
    {"voice": "voice", "callback": "voice", "chat": "chat", "email": "email"}
)
CLASSES: tuple[ChannelClass, ...] = ("voice", "chat", "email")
NO_ANSWER_REASON = "no-answer"


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Applied once ``after`` seconds have passed since the contact's effective arrival.

    ``levels`` sets a skill's minimum (0 drops the requirement); ``drop_language`` drops
    the language requirement; ``add_queues`` widens the contact to more queues (overflow).
    """

    after: float
    levels: Mapping[str, int] = field(default_factory=dict)
    drop_language: bool = False
    add_queues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "after", check_number(self.after, "escalation after", 0.0))
        _set(self, "levels", check_levels(self.levels, "escalation levels", 0))
        check_bool(self.drop_language, "drop_language")
        if isinstance(self.add_queues, str):
            raise ValidationError(f"add_queues must be a sequence: {self.add_queues!r}")
        added: list[str] = []
        for name in self.add_queues:
            if check_name(name, "add_queues") not in added:
                added.append(name)
        _set(self, "add_queues", tuple(added))


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue's rules. Requirements and escalation are copied into a contact at arrival;
    the rest is read live at each decision (R-LIVECONF)."""

    name: str
    skills: Mapping[str, int] = field(default_factory=dict)
    escalation: tuple[EscalationStep, ...] = ()
    passive_waiting: int | None = None
    passive_wait_seconds: float | None = None
    channel_priority: Mapping[str, int] = field(default_factory=dict)
    wrap_up_seconds: float = 0.0
    reservation_timeout: float = 30.0
    no_answer_state: NoAnswerState = "available"
    initial_aht: float = 180.0
    min_samples: int = 10
    max_cv: float = 1.0
    max_ewt: float = 3600.0

    def __post_init__(self) -> None:
        check_name(self.name, "queue name")
        _set(self, "skills", check_levels(self.skills, "queue skills", 1))
        steps = tuple(self.escalation)
        for step in steps:
            if not isinstance(step, EscalationStep):
                raise ValidationError(f"escalation steps must be EscalationStep: {step!r}")
        if any(a.after > b.after for a, b in itertools.pairwise(steps)):
            raise ValidationError("escalation steps must be ordered by 'after'")
        _set(self, "escalation", steps)
        if self.passive_waiting is not None:
            check_int(self.passive_waiting, "passive_waiting", 1, 1_000_000)
        if self.passive_wait_seconds is not None:
            _set(self, "passive_wait_seconds", check_number(self.passive_wait_seconds, "T", 0.0))
        if not isinstance(self.channel_priority, Mapping):
            raise ValidationError("channel_priority must map channel to boost")
        boosts: dict[str, int] = {}
        for channel in sorted(self.channel_priority, key=str):
            if channel not in CHANNEL_CLASS:
                raise ValidationError(f"unknown channel in channel_priority: {channel!r}")
            boosts[channel] = check_int(
                self.channel_priority[channel], "channel boost", 0, MAX_PRIORITY
            )
        _set(self, "channel_priority", MappingProxyType(boosts))
        _set(self, "wrap_up_seconds", check_number(self.wrap_up_seconds, "wrap_up_seconds", 0.0))
        timeout = check_number(self.reservation_timeout, "reservation_timeout", 0.0)
        if timeout <= 0.0:
            raise ValidationError("reservation_timeout must be > 0")
        _set(self, "reservation_timeout", timeout)
        if self.no_answer_state not in ("available", "paused"):
            raise ValidationError(
                f"no_answer_state must be available|paused: {self.no_answer_state!r}"
            )
        aht = check_number(self.initial_aht, "initial_aht", 0.0)
        if aht <= 0.0:
            raise ValidationError("initial_aht must be > 0")
        _set(self, "initial_aht", aht)
        check_int(self.min_samples, "min_samples", 1, 1_000_000)
        _set(self, "max_cv", check_number(self.max_cv, "max_cv", 0.0))
        max_ewt = check_number(self.max_ewt, "max_ewt", 0.0)
        if max_ewt <= 0.0:
            raise ValidationError("max_ewt must be > 0")
        _set(self, "max_ewt", max_ewt)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """Who an agent is (R-SKILL, R-PASSIVE, R-CHANNELS); presence is separate state."""

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    passive: bool = False
    chat_capacity: int = 1
    email_capacity: int = 1

    def __post_init__(self) -> None:
        check_name(self.id, "agent id")
        _set(self, "skills", check_levels(self.skills, "agent skills", 1))
        _set(self, "languages", check_names(self.languages, "language"))
        check_bool(self.passive, "passive")
        check_int(self.chat_capacity, "chat_capacity", 0, MAX_CAPACITY)
        check_int(self.email_capacity, "email_capacity", 0, MAX_CAPACITY)


@dataclass(frozen=True, slots=True)
class Target:
    """A named agent for the contact: ``private`` (R-PRIVQ, waits at most ``seconds`` for
    that agent) or ``sticky`` (R-STICKY, prefers that agent for ``seconds``)."""

    agent_id: str
    kind: TargetKind
    seconds: float

    def __post_init__(self) -> None:
        check_name(self.agent_id, "target agent")
        if self.kind not in ("private", "sticky"):
            raise ValidationError(f"target kind must be private|sticky: {self.kind!r}")
        seconds = check_number(self.seconds, "target seconds", 0.0)
        if seconds <= 0.0:
            raise ValidationError("target seconds must be > 0")
        _set(self, "seconds", seconds)


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact to route. ``arrival`` is the effective arrival: a call-back passes the
    caller's original arrival to keep its place (R-CB-PLACE)."""

    id: str
    channel: Channel
    queue: str
    arrival: float
    skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    priority: int = 0
    target: Target | None = None

    def __post_init__(self) -> None:
        check_name(self.id, "contact id")
        if self.channel not in CHANNEL_CLASS:
            raise ValidationError(f"unknown channel: {self.channel!r}")
        check_name(self.queue, "queue name")
        _set(self, "arrival", check_time(self.arrival, "arrival"))
        _set(self, "skills", check_levels(self.skills, "contact skills", 1))
        if self.language is not None:
            check_name(self.language, "language")
        check_int(self.priority, "priority", 0, MAX_PRIORITY)
        if self.target is not None and not isinstance(self.target, Target):
            raise ValidationError(f"target must be a Target: {self.target!r}")


@dataclass(frozen=True, slots=True)
class Reservation:
    """An offer: agent and contact held together until confirm, release or expiry."""

    id: str
    agent_id: str
    contact_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """What may be told to a waiting caller (R-POS, R-POSALL, R-EWT, R-AGENTS)."""

    position: int
    announced_position: int
    ewt_seconds: float
    ewt_uncertain: bool
    available_agents: int
    staffed_agents: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One state change, as appended to the queue log (a Redis Stream in the store)."""

    kind: str
    agent: str
    contact: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    skills: tuple[tuple[str, int], ...]
    languages: tuple[str, ...]
    passive: bool
    chat_capacity: int
    email_capacity: int
    presence: Presence
    pause_reason: str | None
    wrap_until: float | None
    idle_since: float
    queues: tuple[str, ...]
    load: tuple[int, int, int]  # voice-class, chat, email
    assigned: tuple[tuple[str, ContactState], ...]


@dataclass(frozen=True, slots=True)
class ContactView:
    id: str
    channel: Channel
    queue: str
    queues: tuple[str, ...]
    requirements: tuple[tuple[str, int], ...]
    language: str | None
    priority: int
    arrival: float
    score: int
    state: ContactState
    restriction: TargetKind | None
    target: str | None
    restricted_until: float | None
    steps_applied: int
    attempt: int
    agent: str | None
    reservation: str | None
    expires_at: float | None
    announced: int


@dataclass(frozen=True, slots=True)
class RouterState:
    """Everything a router holds, in a form two routers can be compared by ``==``."""

    agents: Mapping[str, AgentView]
    contacts: Mapping[str, ContactView]
    waiting: Mapping[str, tuple[str, ...]]  # queue -> general waiting contacts, best first
    targeted: Mapping[str, tuple[str, ...]]  # agent -> restricted waiting contacts, best first
    reservations: Mapping[str, Reservation]
    timers: tuple[tuple[float, str], ...]
    stats: Mapping[str, tuple[int, float, float]]  # queue -> (count, mean, M2) handle time


class Router(Protocol):
    """The routing decisions. Each call is atomic; decisions return every reservation made,
    in the order made (one call may cascade)."""

    def put_queue(self, cfg: QueueConfig, now: float) -> list[Reservation]: ...
    def put_agent(self, profile: AgentProfile, now: float) -> list[Reservation]: ...
    def login(self, agent_id: str, queues: Sequence[str], now: float) -> list[Reservation]: ...
    def logout(
        self, agent_id: str, queues: Sequence[str] | None, now: float
    ) -> list[Reservation]: ...
    def pause(self, agent_id: str, reason: str, now: float) -> list[Reservation]: ...
    def unpause(self, agent_id: str, now: float) -> list[Reservation]: ...
    def arrive(self, contact: Contact, now: float) -> list[Reservation]: ...
    def abandon(self, contact_id: str, now: float) -> list[Reservation]: ...
    def confirm(self, reservation_id: str, now: float) -> None: ...
    def release(
        self, reservation_id: str, now: float, agent_state: NoAnswerState | None = None
    ) -> list[Reservation]: ...
    def complete(self, contact_id: str, now: float, handle_seconds: float) -> list[Reservation]: ...
    def tick(self, now: float, limit: int = 1000) -> list[Reservation]: ...
    def position(self, contact_id: str, now: float) -> PositionInfo: ...
    def snapshot(self) -> RouterState: ...
    def log_tail(self, count: int) -> list[LogEntry]: ...
