"""Closed hours, timed messages and the emergency message in the caller's journey
(R-CALENDAR, R-TIMEDMSG).

The engine calls in here from small hooks: a caller's arrival (:func:`on_arrival`: the
emergency message first, then, for a queue whose calendar is not open, the night message
and the configured action instead of queueing), an entry's caller (:func:`emergency_effects`,
before the welcome), each announcement (:func:`timed_prompts`) and the admin feature code
(:func:`admin_feature_call`, :func:`admin_digits`). For a queue without a calendar and the
emergency message off, a hook is an attribute test and a dict lookup: no Redis round trip,
no Event Socket command.

The emergency state is the engine's :class:`HoursState`, set only by the
:class:`~acd.engine.events.HoursChanged` event the adapter posts when Redis changes
(:mod:`acd.adapters.hours`): every engine process sees the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import structlog

from acd.engine import keypad
from acd.engine.calendar import CalendarException, Calendars
from acd.engine.effects import Api, Effect, Fact, Send
from acd.engine.events import (
    AdminFeatureCall,
    CallerParked,
    DigitsCollected,
    EntryCall,
    HoursChanged,
)
from acd.engine.policy import pin_matches
from acd.engine.records import CallRecord
from acd.engine.rules import DIALPLAN_CONTEXT, FORWARD_PREFIX, VOICEMAIL_PREFIX
from freeswitch import commands
from freeswitch.errors import InvalidArgument
from freeswitch.media import Phrase, Playable

if TYPE_CHECKING:
    from acd.engine.engine import Engine

_log = structlog.get_logger("acd.hours")

PromptResolver = Callable[[str, str], Playable]
"""``(prompt id, language) -> what to play``; raises ``LookupError`` for an unknown id."""

ClosedThen = Literal["hangup", "voicemail", "forward"]

#: ``acd_admin`` values of the dialplan's admin feature codes.
ADMIN_ACTIONS: frozenset[str] = frozenset({"emergency_on", "emergency_off"})


@dataclass(frozen=True, slots=True)
class ClosedAction:
    """What a caller of a closed queue gets: ``message`` (a prompt id; None: none), then
    ``then``: ``hangup``, or the same dialplan targets as a rule's actions (R-RULES):
    ``voicemail`` -> extension ``acd-voicemail-<target>`` (a voicemail box),
    ``forward`` -> ``acd-forward-<target>`` (a number), both in the ``acd`` context."""

    message: str | None = "night"
    then: ClosedThen = "hangup"
    target: str | None = None

    def extension(self) -> str | None:
        """The extension of the ``acd`` context to transfer to; None for ``hangup``."""
        if self.then == "hangup" or self.target is None:
            return None
        prefix = VOICEMAIL_PREFIX if self.then == "voicemail" else FORWARD_PREFIX
        return prefix + self.target


@dataclass(frozen=True, slots=True)
class QueueHours:
    calendar: str
    closed: ClosedAction = ClosedAction()


@dataclass(frozen=True, slots=True)
class HoursSettings:
    """``queues``: the queues with a calendar; ``prompt`` resolves prompt ids;
    ``language``: used when the call has none; ``admin_pin_sha256``: the admin feature
    code's PIN (SHA-256 hex) or None (feature code off); ``emergency_prompt``: the
    prompt the feature code switches on."""

    calendars: Calendars
    queues: Mapping[str, QueueHours]
    prompt: PromptResolver
    language: str = "sv"
    admin_pin_sha256: str | None = None
    emergency_prompt: str = "emergency"
    pin_digits: tuple[int, int] = (4, 8)
    languages: tuple[str, ...] = ()
    """Every language callers may be served in (the file's ``languages``); () means just
    ``language``. The emergency API refuses a prompt missing in one of them."""


@dataclass(slots=True)
class HoursState:
    """What changes at run time (from Redis, through :class:`HoursChanged`): the
    emergency prompt id (None: off) and the API-entered calendar exceptions."""

    emergency: str | None = None
    emergency_since: float = 0.0  # epoch seconds it was switched on (Redis' ``since``)
    extra: Mapping[str, tuple[CalendarException, ...]] = field(default_factory=dict)
    calendars: Calendars | None = None  # base calendars with ``extra`` merged, cached
    base: Calendars | None = None  # what ``calendars`` was merged from (a reload changes it)


def hours_changed(engine: Engine, event: HoursChanged) -> list[Effect]:
    """Take the new emergency state and API exceptions (posted by the adapter)."""
    state = engine.hours_state
    if event.emergency != state.emergency:
        _log.info("acd.emergency", prompt=event.emergency)
        state.emergency_since = event.since if event.since is not None else event.at
    elif event.emergency is not None and event.since is not None:
        state.emergency_since = event.since  # switched on again with the same prompt
    state.emergency = event.emergency
    state.extra = dict(event.exceptions)
    state.calendars = None
    return []


def calendars(engine: Engine) -> Calendars | None:
    """The configured calendars with the API's exceptions merged (None: none configured)."""
    hours = engine.settings.hours
    if hours is None:
        return None
    state = engine.hours_state
    if state.calendars is None or state.base is not hours.calendars:
        merged = state.base = hours.calendars
        for name, extra in state.extra.items():
            if name in merged:
                merged = merged.with_extra(name, extra)
        state.calendars = merged
    return state.calendars


def _play(engine: Engine, prompt: str, language: str | None) -> Playable | None:
    hours = engine.settings.hours
    lang = language or (hours.language if hours is not None else "sv")
    try:
        if hours is None:
            return Phrase(prompt)  # the emergency message without calendars configured
        return hours.prompt(prompt, lang)
    except (LookupError, InvalidArgument) as exc:
        _log.error("acd.prompt_missing", prompt=prompt, language=lang, error=str(exc))
        return None


def _emergency(engine: Engine, uuid: str, language: str | None) -> list[Effect]:
    assert engine.hours_state.emergency is not None
    media = _play(engine, engine.hours_state.emergency, language)
    if media is None:
        return []
    return [Api(commands.uuid_broadcast(uuid, media, "aleg"))]


def emergency_effects(engine: Engine, event: EntryCall) -> list[Effect]:
    """The emergency message for a new caller of an entry (before its welcome), or [],
    in the entry's language: the dialplan's entry extension sets none (one extension
    serves every entry), so the channel's ``default_language``, which a shipped prompt's
    phrase macro speaks, is set first (``uuid_setvar`` runs at once, before the
    broadcast's application reads it)."""
    uuid = event.uuid
    if engine.hours_state.emergency is None or engine.store.get_call(uuid) is not None:
        return []
    entry = engine.settings.menus.entry_for(event.entry, event.number)
    language = entry.language if entry is not None and entry.language else event.language
    effects = _emergency(engine, uuid, language)
    if effects and language:
        effects.insert(0, Api(commands.uuid_setvar(uuid, "default_language", language)))
    return effects


def on_arrival(engine: Engine, event: CallerParked) -> tuple[list[Effect], bool]:
    """``(effects, handled)`` for a new caller of a known queue: the emergency message
    (R-TIMEDMSG) first when on; when the queue's calendar is closed or a holiday, the
    night message and the closed action, and ``handled`` True (never queued)."""
    effects: list[Effect] = []
    if engine.hours_state.emergency is not None and not event.greeted:
        effects += _emergency(engine, event.uuid, event.language)
    hours = engine.settings.hours
    if hours is None:
        return effects, False
    queue = hours.queues.get(event.queue)
    if queue is None:
        return effects, False
    merged = calendars(engine)
    assert merged is not None
    state = merged.state(queue.calendar, event.at)
    if state == "open":
        return effects, False
    closed = queue.closed
    # Not ``caller_refused``: that one makes the runner retry an adoption (Redis failing);
    # this caller is not to be queued at all.
    effects.append(
        Fact(
            "closed_hours",
            {"contact": event.uuid, "queue": event.queue, "state": state, "then": closed.then},
        )
    )
    if closed.message is not None:
        media = _play(engine, closed.message, event.language)
        if media is not None:
            effects.append(Send(commands.play(event.uuid, media)))
    extension = closed.extension()
    if extension is None:
        effects.append(Send(commands.execute(event.uuid, "hangup", "NORMAL_CLEARING")))
    else:
        # After the night message (sendmsg queues on the channel), to the extension a
        # rule's voicemail/forward uses: one path to voicemail, one to the outside.
        target = f"{extension} XML {DIALPLAN_CONTEXT}"
        effects.append(Send(commands.execute(event.uuid, "transfer", target)))
    return effects, True


def _emergency_mark(state: HoursState) -> str:
    return f"!emergency@{state.emergency_since!r}"


def emergency_due(engine: Engine, record: CallRecord) -> bool:
    """Whether ``record``'s caller has yet to hear the emergency message now on: it was
    already in the engine (``parked_at``) when the message was switched on, and has not
    heard it since (R-TIMEDMSG: "played to every caller")."""
    state = engine.hours_state
    return (
        state.emergency is not None
        and record.parked_at < state.emergency_since
        and _emergency_mark(state) not in record.timed_heard
    )


def emergency_for_waiting(engine: Engine, record: CallRecord) -> list[Playable]:
    """The emergency message for a caller already waiting (in a queue or a menu) when it
    was switched on, once: [] when not due. Marks it heard on ``record`` (the caller
    stores it)."""
    if not emergency_due(engine, record):
        return []
    state = engine.hours_state
    assert state.emergency is not None
    record.timed_heard = [*record.timed_heard, _emergency_mark(state)]
    media = _play(engine, state.emergency, record.language)
    return [] if media is None else [media]


def timed_prompts(engine: Engine, record: CallRecord, now: float) -> list[Playable]:
    """What plays before the position announcement: the emergency message if this caller
    was already waiting when it was switched on and has not heard it
    (:func:`emergency_for_waiting`), then the timed messages active now for ``record``'s
    queue (R-TIMEDMSG) that this caller has not heard yet (each once per caller: a caller
    already waiting when a window opens hears it at its next announcement; none without a
    calendar). Marks them heard on ``record`` (the caller stores it)."""
    first = emergency_for_waiting(engine, record) if engine.hours_state.emergency else []
    return first + _timed(engine, record, now)


def _timed(engine: Engine, record: CallRecord, now: float) -> list[Playable]:
    hours = engine.settings.hours
    if hours is None:
        return []
    queue = hours.queues.get(record.queue)
    if queue is None:
        return []
    merged = calendars(engine)
    assert merged is not None
    due = [p for p in merged.timed_messages(queue.calendar, now) if p not in record.timed_heard]
    if not due:
        return []
    # A new list: the store's in-memory copy may share the old one.
    record.timed_heard = [*record.timed_heard, *due]
    found = [_play(engine, p, record.language) for p in due]
    return [media for media in found if media is not None]


# ---------------------------------------------------------------------- admin feature code


def admin_feature_call(engine: Engine, event: AdminFeatureCall) -> list[Effect]:
    """A phone dialled an admin feature code (``acd_admin`` = ``emergency_on`` or
    ``emergency_off``): ask for the admin PIN; without an admin PIN configured, refuse."""
    uuid = event.uuid
    if engine.store.get_call(uuid) is not None:
        return []
    hours = engine.settings.hours
    if event.action not in ADMIN_ACTIONS or hours is None or hours.admin_pin_sha256 is None:
        return keypad.refuse(uuid)
    record = keypad.open_call(engine, event, "admin_pin", event.action, phone=event.phone)
    return _ask_pin(engine, record, event.at)


def _ask_pin(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    hours = engine.settings.hours
    assert hours is not None
    return keypad.ask(engine, record.contact, "acd_enter_pin", hours.pin_digits, now)


def is_admin_call(record: CallRecord | None) -> bool:
    return record is not None and record.kind == "feature" and record.step == "admin_pin"


def admin_digits(engine: Engine, record: CallRecord, event: DigitsCollected) -> list[Effect]:
    """The admin PIN was keyed: a right PIN yields the ``emergency`` fact (the adapter
    writes it to Redis; every engine then hears of it) and a confirmation; a wrong one is
    asked again up to ``max_tries``."""
    hours = engine.settings.hours
    assert hours is not None and hours.admin_pin_sha256 is not None
    if pin_matches(event.digits, hours.admin_pin_sha256):
        prompt = hours.emergency_prompt if record.action == "emergency_on" else None
        by = f"feature-code:{record.phone}" if record.phone else "feature-code"
        _log.info("acd.emergency_switched", prompt=prompt, phone=record.phone, by=by)
        facts: list[Effect] = [Fact("emergency", {"prompt": prompt, "by": by})]
        confirm = "acd_login_ok" if prompt is not None else "acd_logout_ok"
        return facts + keypad.finish(engine, record, confirm)
    return keypad.wrong_pin(engine, record, lambda: _ask_pin(engine, record, event.at))


def admin_timeout(engine: Engine, record: CallRecord) -> list[Effect]:
    return keypad.finish(engine, record, keypad.FAILED_PROMPT)
