"""Rules and overflow in the caller's journey (R-RULES, R-OVERFLOW, R-EWT).

The engine calls in here from small hooks, and only for a queue that has rules (a queue
without rules costs one dictionary lookup: no routing read, no command):

- :func:`before_arrival`, before routing hears of the caller: the rules due at arrival
  are tried in order up to the first one that needs the queue's figures. A ``queue``
  rule changes the caller's case type, skills or priority; an ``overflow`` rule sends it
  to the other queue instead; ``message`` plays once it is queued; ``forward``,
  ``voicemail`` and ``hangup`` take the caller away before it is ever queued.
- :func:`after_arrival`, once queued: the rest is tried with the figures (when a rule
  needing them was reached and none fired), and the ``rules`` timer is set.
- :func:`timer_due` (timer kind ``rules``): the waiting caller's rules are tried again:
  at each rule's ``after`` and every :attr:`RuleBook.recheck` seconds while a rule that
  can change its answer (figures, time, calendar) has not fired.

An overflow while waiting is the engine's priority transfer (``Engine._transfer``) with
the caller's own priority: it keeps its effective arrival, so it is ahead of everyone
who arrived later in the new queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import structlog

from acd.engine import hours as hours_flow
from acd.engine.effects import Api, CancelTimers, Effect, Fact, Send, SetTimer
from acd.engine.events import CallerParked, TransferRequest
from acd.engine.records import CallRecord
from acd.engine.rules import (
    DIALPLAN_CONTEXT,
    FORWARD_PREFIX,
    LOAD_FIGURES,
    VOICEMAIL_PREFIX,
    CalendarStates,
    Figure,
    Forward,
    Hangup,
    Message,
    Overflow,
    QueueAction,
    Rule,
    Situation,
    Voicemail,
    due,
    first_match,
    holds,
    next_check,
    waiting_rules,
)
from acd.errors import ValidationError
from freeswitch import commands
from freeswitch.errors import InvalidArgument
from freeswitch.media import Playable
from routing.errors import RoutingError

if TYPE_CHECKING:
    from acd.engine.engine import Engine

_log = structlog.get_logger("acd.rules")

MEDIA_SETTLE = 1.0
"""Seconds after a caller's waiting sound starts before a rule's message may break it."""


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """One read of a queue in routing: waiting callers, the longest wait (seconds, 0
    when nobody waits), logged-in agents (paused included) and free agents."""

    waiting: int
    longest_wait: float
    logged_in: int
    available: int


class LoadReader(Protocol):
    """Reads a queue's load at epoch second ``now``; raises ``RoutingError`` when
    routing fails."""

    def load(self, queue: str, now: float) -> QueueLoad: ...


class SnapshotLoad:
    """The default :class:`LoadReader`: routing's snapshot (O(everything): for tests and
    the reference router). :mod:`acd.adapters.queue_load` reads four keys of the Redis
    store in one round trip instead."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, queue: str, now: float) -> QueueLoad:
        state = self.engine.router.snapshot()
        waiting = [
            state.contacts[c].arrival for c in state.waiting.get(queue, ()) if c in state.contacts
        ]
        members = [a for a in state.agents.values() if queue in a.queues]
        logged_in = [a for a in members if a.presence != "logged_out"]
        free = [a for a in logged_in if a.presence == "ready" and not a.assigned and not a.passive]
        longest = max(0.0, now - min(waiting)) if waiting else 0.0
        return QueueLoad(len(waiting), longest, len(logged_in), len(free))


class _LiveFigures:
    """The figures of one evaluation, each read at most once, and only when asked."""

    def __init__(self, engine: Engine, queue: str, contact: str, now: float) -> None:
        self.engine, self.queue, self.contact, self.now = engine, queue, contact, now
        self._load: QueueLoad | None = None
        self._ewt: float | None = None
        self._read: set[str] = set()

    def get(self, figure: Figure) -> float | None:
        try:
            if figure in LOAD_FIGURES:
                if "load" not in self._read:
                    self._read.add("load")
                    self._load = self.engine.queue_load.load(self.queue, self.now)
                load = self._load
                if load is None:
                    return None
                return {
                    "queue_length": float(load.waiting),
                    "longest_wait": load.longest_wait,
                    "agents_logged_in": float(load.logged_in),
                    "agents_available": float(load.available),
                }[figure]
            if "ewt" not in self._read:
                self._read.add("ewt")
                self._ewt = self.engine.router.position(self.contact, self.now).ewt_seconds
            return self._ewt
        except RoutingError as exc:
            _log.warning("acd.rule_figures_failed", queue=self.queue, error=str(exc))
            return None


@dataclass(slots=True)
class ArrivalPlan:
    """What the rules made of an arrival: the (maybe changed) event, effects for after
    queueing (a message), ``final`` effects when the caller is not queued at all, the
    rules fired, and whether figures are needed right after routing's ``arrive``."""

    event: CallerParked
    effects: list[Effect] = field(default_factory=list)
    final: list[Effect] | None = None
    fired: list[str] = field(default_factory=list)
    deferred: bool = False
    moved: bool = False  # overflowed to another queue, whose rules are tried once queued


def _calendars(engine: Engine) -> CalendarStates | None:
    return hours_flow.calendars(engine)  # the calendars' owner (API exceptions merged)


def _fact(rule: Rule, contact: str, queue: str) -> Fact:
    kind = type(rule.action).__name__.lower()
    return Fact("rule_fired", {"contact": contact, "queue": queue, "rule": rule.id, "action": kind})


def _media(engine: Engine, prompt: str, language: str | None) -> Playable | None:
    lang = language or "sv"
    try:
        return engine.settings.rules.prompt(prompt, lang)
    except (LookupError, InvalidArgument) as exc:
        _log.error("acd.prompt_missing", prompt=prompt, language=lang, error=str(exc))
        return None


def _open(engine: Engine, queue: str, now: float) -> bool:
    """Whether ``queue`` takes callers at ``now``: no calendar, or its calendar open."""
    hours = engine.settings.hours
    spec = None if hours is None else hours.queues.get(queue)
    if spec is None:
        return True
    merged = _calendars(engine)
    return merged is None or merged.state(spec.calendar, now) == "open"


def _overflow_target(engine: Engine, action: Overflow, own: str, now: float) -> str | None:
    """The queue to overflow to: of a group, the one with the most free agents, then the
    fewest waiting, then the first listed; a queue whose calendar is closed (or a
    holiday) is skipped (R-OVERFLOW, R-CALENDAR: an overflow never strands a caller in a
    closed queue); None when none is usable (the rule does not fire)."""
    known = [q for q in action.queues if q != own and q in engine.settings.queues]
    candidates = [q for q in known if _open(engine, q, now)]
    if len(candidates) < len(known):
        _log.info(
            "acd.overflow_target_closed",
            queue=own,
            closed=[q for q in known if q not in candidates],
            chosen_from=candidates,
        )
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    best: tuple[int, int, int] | None = None
    chosen = candidates[0]
    for index, queue in enumerate(candidates):
        try:
            load = engine.queue_load.load(queue, now)
        except RoutingError:
            continue
        key = (-load.available, load.waiting, index)
        if best is None or key < best:
            best, chosen = key, queue
    return chosen


def leave_effects(
    uuid: str, rule: Rule, engine: Engine, language: str | None, answered: bool
) -> list[Effect]:
    """The commands that take a caller away: forward, voicemail, or message + hangup
    (also for an entry's rules, :mod:`acd.engine.menus`)."""
    action = rule.action
    if isinstance(action, Forward):
        return [Api(commands.uuid_transfer(uuid, FORWARD_PREFIX + action.number, DIALPLAN_CONTEXT))]
    if isinstance(action, Voicemail):
        target = VOICEMAIL_PREFIX + action.extension
        return [Api(commands.uuid_transfer(uuid, target, DIALPLAN_CONTEXT))]
    assert isinstance(action, Hangup)
    effects: list[Effect] = []
    media = None if action.prompt is None else _media(engine, action.prompt, language)
    if media is not None:
        if not answered:
            effects.append(Api(commands.uuid_answer(uuid)))  # a message needs media
        # sendmsg executes queue on the channel: the hangup waits for the prompt's end.
        effects.append(Send(commands.play(uuid, media)))
    effects.append(Send(commands.execute(uuid, "hangup", "NORMAL_CLEARING")))
    return effects


def before_arrival(engine: Engine, event: CallerParked) -> ArrivalPlan:
    """Try the queue's rules due at arrival that need no figures, in order; the first
    that holds fires (those needing figures wait for :func:`after_arrival`)."""
    plan = ArrivalPlan(event)
    rules = engine.settings.rules.queues.get(event.queue, ())
    situation = Situation(
        at=event.at,
        waited=max(0.0, event.at - event.arrival),
        case_type=event.case_type,
        caller=event.caller_number,
        called=event.called_number,
        calendars=_calendars(engine),
    )
    for rule in rules:
        if not due(rule, situation.waited):
            continue
        if rule.needs_figures():
            plan.deferred = True  # tried once routing knows the caller (after_arrival)
            continue
        if holds(rule.conditions, situation):
            target = None
            if isinstance(rule.action, Overflow):
                target = _overflow_target(engine, rule.action, event.queue, event.at)
                if target is None:
                    _not_fired(event.uuid, event.queue, rule)
                    continue
            _fire_at_arrival(engine, plan, rule, target)
            return plan
    return plan


def _not_fired(contact: str, queue: str, rule: Rule) -> None:
    _log.info(
        "acd.rule_not_fired",
        contact=contact,
        queue=queue,
        rule=rule.id,
        reason="no overflow target is open",
    )


def _fire_at_arrival(engine: Engine, plan: ArrivalPlan, rule: Rule, target: str | None) -> None:
    event = plan.event
    action = rule.action
    uuid = event.uuid
    plan.fired.append(rule.key)
    _log.info("acd.rule_fired", contact=uuid, queue=event.queue, rule=rule.id)
    if isinstance(action, (Forward, Voicemail, Hangup)):
        plan.final = [
            _fact(rule, uuid, event.queue),
            *leave_effects(uuid, rule, engine, event.language, event.answered),
        ]
        return
    plan.effects.append(_fact(rule, uuid, event.queue))
    if isinstance(action, QueueAction):
        plan.event = replace(
            event,
            case_type=action.case_type if action.case_type is not None else event.case_type,
            skills=action.skills if action.skills is not None else event.skills,
            priority=action.priority if action.priority is not None else event.priority,
        )
        return
    prompt = action.prompt if isinstance(action, Message) else rule.message
    if isinstance(action, Overflow) and target is not None:
        plan.effects.append(
            Fact("overflowed", {"contact": uuid, "queue": event.queue, "to": target})
        )
        plan.event = replace(event, queue=target)
        plan.moved = True
    if prompt is not None:
        media = _media(engine, prompt, event.language)
        if media is not None:
            if not event.answered:
                plan.effects.append(Api(commands.uuid_answer(uuid)))
                plan.event = replace(plan.event, answered=True)
            plan.effects.append(Api(commands.uuid_broadcast(uuid, media, "aleg")))


def after_arrival(
    engine: Engine, record: CallRecord, now: float, plan: ArrivalPlan
) -> list[Effect]:
    """Once queued: try the rules now when one needs figures (and none fired) or the
    caller was overflowed to another queue (that queue's rules); else set the timer."""
    if (plan.moved or (plan.deferred and not plan.fired)) and record.state == "queued":
        return evaluate(engine, record, now, settled=False)
    return schedule(engine, record, now, fired_now=bool(plan.fired))


def schedule(
    engine: Engine, record: CallRecord, now: float, *, fired_now: bool = False
) -> list[Effect]:
    """The ``rules`` timer for the caller's next evaluation, if any."""
    rules = waiting_rules(engine.settings.rules.queues.get(record.queue, ()))
    if not rules:
        return []
    book = engine.settings.rules
    when = next_check(
        rules, record.arrival, now, record.rules_fired, book.recheck, fired_now=fired_now
    )
    return [] if when is None else [SetTimer(record.contact, "rules", when)]


def timer_due(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    """The ``rules`` timer: try the rules of a waiting caller; while an agent rings,
    only look again later."""
    if record.kind != "caller":
        return []
    if record.state == "queued":
        return evaluate(engine, record, now)
    if record.state in ("offering", "whisper"):
        return schedule(engine, record, now)
    return []


def evaluate(
    engine: Engine, record: CallRecord, now: float, *, settled: bool = True
) -> list[Effect]:
    """Fire the first rule of the waiting caller's queue that is due and holds (with the
    queue's figures), then set the next ``rules`` timer. ``settled`` False: the waiting
    sound was sent just now, so a message waits :data:`MEDIA_SETTLE` seconds (a
    ``uuid_break`` that meets a broadcast still starting is lost, and the message would
    then wait behind the endless music)."""
    rules = waiting_rules(engine.settings.rules.queues.get(record.queue, ()))
    situation = Situation(
        at=now,
        waited=max(0.0, now - record.arrival),
        case_type=record.case_type,
        caller=record.caller_number,
        called=record.called_number,
        figures=_LiveFigures(engine, record.queue, record.contact, now),
        calendars=_calendars(engine),
    )
    skipped: list[str] = []
    while True:
        rule = first_match(rules, situation, [*record.rules_fired, *skipped])
        if rule is None:
            # A skipped overflow is tried again every recheck: its target may open.
            return schedule(engine, record, now, fired_now=bool(skipped))
        target = None
        if isinstance(rule.action, Overflow):
            target = _overflow_target(engine, rule.action, record.queue, now)
            if target is None:  # every target closed: not fired, tried again later
                _not_fired(record.contact, record.queue, rule)
                skipped.append(rule.key)
                continue
        break
    if isinstance(rule.action, Message) and not settled:
        return [SetTimer(record.contact, "rules", now + MEDIA_SETTLE)]
    _log.info("acd.rule_fired", contact=record.contact, queue=record.queue, rule=rule.id)
    record.rules_fired = [*record.rules_fired, rule.key]
    engine.store.put_call(record)
    fact = _fact(rule, record.contact, record.queue)
    action = rule.action
    if isinstance(action, (Forward, Voicemail, Hangup)):
        return [fact, *_leave_waiting(engine, record, rule, now)]
    if isinstance(action, Overflow):
        assert target is not None
        return [fact, *_overflow_waiting(engine, record, rule, target, now)]
    assert isinstance(action, Message)  # queue actions apply at arrival only
    effects: list[Effect] = [fact, *_play_message(engine, record, action.prompt)]
    return effects + schedule(engine, record, now, fired_now=True)


def _play_message(engine: Engine, record: CallRecord, prompt: str) -> list[Effect]:
    media = _media(engine, prompt, record.language)
    if media is None:
        return []
    effects: list[Effect] = []
    if not record.answered:
        effects.append(Api(commands.uuid_answer(record.contact)))
        record.answered = True
        engine.store.put_call(record)
    # Break the waiting sound, play, then the waiting sound again (R-NOSILENCE).
    effects += [
        Api(commands.uuid_break(record.contact)),
        Api(commands.uuid_broadcast(record.contact, media, "aleg")),
        Api(commands.uuid_broadcast(record.contact, engine.waiting_sound(record), "aleg")),
    ]
    return effects


def _overflow_waiting(
    engine: Engine, record: CallRecord, rule: Rule, target: str, now: float
) -> list[Effect]:
    try:
        effects = engine._transfer(TransferRequest(record.contact, target, now), overflow=True)
    except (ValidationError, RoutingError) as exc:
        _log.error("acd.overflow_failed", contact=record.contact, to=target, error=str(exc))
        return schedule(engine, record, now)
    moved = engine.store.get_call(record.contact)
    if moved is None:
        return effects
    if rule.message is not None:
        effects += _play_message(engine, moved, rule.message)
    return effects + schedule(engine, moved, now)


def _leave_waiting(engine: Engine, record: CallRecord, rule: Rule, now: float) -> list[Effect]:
    """Forward, voicemail or hangup of a waiting caller: out of routing and the store."""
    try:
        reservations = engine._drop_contact(record.contact, now)
    except RoutingError as exc:
        _log.error("acd.rule_leave_failed", contact=record.contact, error=str(exc))
        reservations = []
    engine.store.delete_call(record.contact)
    effects: list[Effect] = [CancelTimers(record.contact)]
    effects += engine.offers(reservations, now)
    if isinstance(rule.action, Hangup):
        effects.append(Api(commands.uuid_break(record.contact)))  # the endless music first
    effects += leave_effects(record.contact, rule, engine, record.language, record.answered)
    return effects
