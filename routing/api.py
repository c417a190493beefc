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
    """An offer: agent and contact held together until confirm, release or expiry.

    ``id`` is ``"<contact id>#<attempt>"`` (attempt counts the contact's offers from 1);
    ``expires_at`` is epoch seconds (the decision's ``now`` + the home queue's
    ``reservation_timeout``).
    """

    id: str
    agent_id: str
    contact_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """What may be told to a waiting caller (R-POS, R-POSALL, R-EWT, R-AGENTS).

    ``position`` counts from 1 across every queue that shares agents with the contact;
    ``announced_position`` is the lowest position ever reported (never rises);
    ``ewt_seconds`` is the expected wait in seconds, ``ewt_uncertain`` says not to announce
    it; ``available_agents`` and ``staffed_agents`` (not paused) count the agents that could
    serve the contact.
    """

    position: int
    announced_position: int
    ewt_seconds: float
    ewt_uncertain: bool
    available_agents: int
    staffed_agents: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One state change, as appended to the queue log (a Redis Stream in the store).

    ``kind`` is one of ``queue agent login logout pause unpause arrive abandon reserve
    confirm release complete ready wait untarget escalate pick`` (``pick``: a telephonist
    picked the contact for the agent, ``queue`` is the contact's home queue; the
    ``reserve`` entry of the same pair follows it); ``agent``, ``contact`` and
    ``queue`` are ``""`` when not concerned (``queue`` is comma-separated for ``login``,
    ``logout`` and ``escalate``); ``at`` is epoch seconds.
    """

    kind: str
    agent: str
    contact: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent in :meth:`Router.snapshot`. ``skills`` sorted by skill, ``languages`` and
    ``queues`` sorted, ``assigned`` (contact id, state) sorted by contact id; ``wrap_until``
    and ``idle_since`` are epoch seconds."""

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
    """A contact in :meth:`Router.snapshot`. ``queues`` is the home queue first, then those
    escalation added, in order; ``requirements`` sorted by skill; ``arrival``,
    ``restricted_until`` and ``expires_at`` are epoch seconds; ``announced`` is 0 until a
    position was reported."""

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
    """Everything a router holds, in a form two routers can be compared by ``==``.

    Mappings iterate in key order; ``waiting`` and ``targeted`` list contact ids best first
    (priority, then arrival, then id) and hold only non-empty lines; ``reservations`` are the
    pending offers by reservation id; ``timers`` are ``(due epoch seconds, member)`` sorted,
    members ``r|<contact>``, ``w|<agent>``, ``e|<contact>``, ``x|<contact>``, ``p|<queue>``;
    ``stats`` are handle times in seconds (``M2`` in seconds squared).
    """

    agents: Mapping[str, AgentView]
    contacts: Mapping[str, ContactView]
    waiting: Mapping[str, tuple[str, ...]]  # queue -> general waiting contacts, best first
    targeted: Mapping[str, tuple[str, ...]]  # agent -> restricted waiting contacts, best first
    reservations: Mapping[str, Reservation]
    timers: tuple[tuple[float, str], ...]
    stats: Mapping[str, tuple[int, float, float]]  # queue -> (count, mean, M2) handle time


class Router(Protocol):
    """The routing decisions: :class:`routing.model.ReferenceRouter` and
    :class:`routing.store.RedisRouter` implement it and agree bit for bit (docs/ROUTING.md).

    Common to every method:

    * ``now`` is the caller's clock in float epoch seconds (finite, ``0 <= now < 2**43 /
      1000``); durations (``handle_seconds``, timeouts) are seconds. Every time a method
      stores or returns (``expires_at``, ``idle_since``, ``LogEntry.at``…) is epoch seconds.
    * Each call is atomic: it checks everything first and either completes or raises with
      the state unchanged. Ids and names must match ``^[A-Za-z0-9_.@+-]{1,64}$``; a bad
      argument raises :class:`acd.errors.ValidationError`; a rule broken by the current
      state raises a :class:`routing.errors.RoutingError` subclass (listed per method, in
      the order checked); :class:`routing.errors.StoreError` (``RedisRouter`` only) means
      Redis failed or answered something unreadable, and whether the call took effect is
      then unknown.
    * A method that returns ``list[Reservation]`` returns every offer the call made, in the
      order made: one call may cascade (a release re-offers the contact, and the freed agent
      may take another). An empty list means nobody was offered anything.
    """

    def put_queue(self, cfg: QueueConfig, now: float) -> list[Reservation]:
        """Create or replace queue ``cfg.name``; live settings apply to later decisions
        (R-LIVECONF), requirements and escalation only to contacts arriving later.

        Offers: members who serve the queue now and did not before, then passive agents if
        the queue is over its threshold. Raises only ``ValidationError`` (not a QueueConfig).
        """

    def put_agent(self, profile: AgentProfile, now: float) -> list[Reservation]:
        """Create an agent (logged out) or replace its profile, keeping presence, queues and
        contacts; offers the agent what it may now take. Raises only ``ValidationError``."""

    def login(self, agent_id: str, queues: Sequence[str], now: float) -> list[Reservation]:
        """Add the agent to ``queues`` (at least one; duplicates ignored). From logged out it
        becomes ready with ``idle_since = now`` (a paused agent stays paused); a ready agent
        is then offered the best waiting contact it may take.

        Raises ``UnknownAgentError``, then ``UnknownQueueError`` (the first unknown queue in
        sorted order).
        """

    def logout(self, agent_id: str, queues: Sequence[str] | None, now: float) -> list[Reservation]:
        """Remove the agent from ``queues`` (``None``: all; queues it is not in are ignored).
        With no queue left it is logged out and its pending offers go back to their queues
        (re-offered, by contact id order); contacts it is busy with stay with it; sticky
        contacts waiting for it that it no longer serves go to the general queue.

        Raises ``UnknownAgentError``.
        """

    def pause(self, agent_id: str, reason: str, now: float) -> list[Reservation]:
        """Pause with ``reason`` (a name, e.g. ``"lunch"``); also ends a wrap-up. Pending
        offers are taken back and re-offered to others (by contact id order).

        Raises ``UnknownAgentError``, then ``InvalidTransitionError`` (logged out).
        """

    def unpause(self, agent_id: str, now: float) -> list[Reservation]:
        """Back to ready with ``idle_since = now``; offers the agent the best waiting contact.

        Raises ``UnknownAgentError``, then ``InvalidTransitionError`` (not paused).
        """

    def arrive(self, contact: Contact, now: float) -> list[Reservation]:
        """A new contact: requirements from its queue and itself, escalation steps already
        due applied, a private/sticky target honoured until ``arrival + target.seconds``;
        then offered to the longest-idle eligible agent, or it waits.

        Raises ``ValidationError`` (not a Contact), ``UnknownQueueError``,
        ``DuplicateContactError`` (the id is waiting, reserved or busy), then
        ``UnknownAgentError`` (the target agent).
        """

    def abandon(self, contact_id: str, now: float) -> list[Reservation]:
        """The contact left while waiting or offered: it is removed; an offered agent is
        freed (``idle_since`` unchanged) and offered the next contact.

        Raises ``UnknownContactError``, then ``InvalidTransitionError`` (busy: use
        :meth:`complete`).
        """

    def confirm(self, reservation_id: str, now: float) -> None:
        """The agent took the offer (``"<contact id>#<attempt>"``): the contact is busy with
        it and the contact's reservation, escalation and target timers stop.

        Raises ``ValidationError`` (malformed id), ``UnknownReservationError`` (no such
        pending offer: never made, already confirmed or released), then
        ``ReservationExpiredError`` (``expires_at <= now``; :meth:`tick` releases it).
        """

    def release(
        self, reservation_id: str, now: float, agent_state: NoAnswerState | None = None
    ) -> list[Reservation]:
        """The agent did not take the offer (R-NOANSWER). ``agent_state``: ``"paused"`` pauses
        the agent with reason ``no-answer``; ``"available"`` puts it at the back of the line
        (``idle_since = now``); ``None`` uses the home queue's ``no_answer_state``. The
        contact keeps its place and is offered to the next agent at once (not this one).

        Raises ``ValidationError`` (malformed id or state), then ``UnknownReservationError``
        (an expired offer may still be released).
        """

    def complete(self, contact_id: str, now: float, handle_seconds: float) -> list[Reservation]:
        """A busy contact ended after ``handle_seconds`` (seconds, >= 0, fed to the queue's
        handle-time statistics). A ready agent enters wrap-up for the queue's
        ``wrap_up_seconds`` after a voice-class contact (R-WRAP), else is free at once
        (``idle_since = now``) and offered the next contact.

        Raises ``UnknownContactError``, then ``InvalidTransitionError`` (not busy).
        """

    def tick(self, now: float, limit: int = 1000) -> list[Reservation]:
        """Run the timers due at ``now`` (reservation expiry, wrap-up end, escalation,
        private/sticky expiry, passive threshold by waiting time) in ``(due, member)``
        order, at most ``limit`` (1..1,000,000) of them; the rest stay due for the next call.
        Which moment a late timer's changes are dated is in docs/ROUTING.md (``tick``).

        Raises only ``ValidationError``.
        """

    def position(self, contact_id: str, now: float) -> PositionInfo:
        """What may be told to the waiting contact now (R-POS, R-POSALL, R-EWT, R-AGENTS).
        Records the announced position, which never rises between calls; everything else is
        read only.

        Raises ``UnknownContactError``, then ``InvalidTransitionError`` (not waiting).
        """

    def pick(self, contact_id: str, agent_id: str, now: float) -> Reservation:
        """R-PICK, R-TELEPHONIST: offer the waiting contact to this agent, out of turn and
        whatever the agent's queues, skills, languages and passive flag. The offer is an
        ordinary reservation (confirm, release, expiry and complete as for any offer; a
        release puts the contact back at its place). Only a ready agent may pick: a paused one
        said "no calls now" (unpause first) and one in wrap-up is still finishing the last
        call, exactly as routing would not offer either of them a call.

        Raises ``UnknownContactError``, ``ContactNotWaitingError`` (reserved or busy), then
        ``UnknownAgentError``, ``AgentUnavailableError`` (not ready),
        ``AgentBusyError`` (a pending offer, or no room for the contact's channel class:
        for a call, any contact at all, so no agent ever gets two calls).
        """

    def snapshot(self) -> RouterState:
        """All state, comparable between routers with ``==`` (orderings: see
        :class:`RouterState`). Reads only; for tests and diagnostics, O(everything)."""

    def log_tail(self, count: int) -> list[LogEntry]:
        """The last ``count`` (1..1,000,000) queue-log entries, oldest first; fewer if the
        log holds fewer (it keeps about the router's log size). Raises only
        ``ValidationError`` (and ``StoreError``)."""
