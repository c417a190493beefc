"""Welcome and menus (R-WELCOME, R-DTMF): a caller of an entry number hears the entry's
welcome, then its menu, keys a choice without '#', and ends in a queue, another menu, a
message or a transfer.

The dialplan parks the caller with ``acd_entry`` (an entry's name) or
``acd_entry_number`` (its number, looked up in the configuration); the engine answers if
needed and runs the menu with ``sendmsg`` applications queued on the channel:

- the welcome and every prompt marked not interruptible play with ``playback`` while
  ``playback_terminators=none`` (set once per call), so a digit pressed meanwhile is
  consumed and forgotten (mod_dptools' ``on_dtmf`` ignores it);
- digits are taken with ``play_and_get_digits`` (terminators ``none``, 1..``digits``
  digits: complete on length or after the inter-digit timeout). An interruptible prompt
  is its prompt, so a digit stops it and counts; a not-interruptible prompt has been
  played before. The collection's prompt goes on with hold music while it waits for the
  first digit (:func:`collect_prompt`, R-NOSILENCE). One try per
  collection: the engine counts the retries itself, because no input and invalid input
  have prompts of their own;
- each collection carries its own ``Event-UUID``; a completion of another one (a
  previous process's, a collection cut by a restart) is ignored.

An entry's ``rules`` are tried once before the welcome (R-RULES): a ``queue`` rule skips
the welcome and the menu, ``message`` plays before the welcome, ``forward``,
``voicemail`` and ``hangup`` take the caller away (:mod:`acd.engine.rule_flow`'s actions).

The caller's record (``state="menu"``) holds the entry, the current menu, the tries so
far and the pending collection, so an engine that restarts restarts that menu
(reconciliation sets the ``menu_restart`` timer). Choice targets come from the validated
configuration only: the caller's digits select a choice and never reach a command.
"""

from __future__ import annotations

import math
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import structlog

from acd.engine.callerid import ANONYMOUS_NAME, ANONYMOUS_NUMBER
from acd.engine.effects import Api, CancelTimers, Effect, Fact, Send, SetTimer
from acd.engine.events import CallerParked, DigitsCollected, EntryCall
from acd.engine.records import CallRecord
from acd.engine.rules import (
    Forward,
    Hangup,
    Message,
    QueueAction,
    Rule,
    Situation,
    Voicemail,
    first_match,
)
from acd.engine.states import call_transition
from freeswitch import commands
from freeswitch.arguments import HangupCause
from freeswitch.errors import InvalidArgument
from freeswitch.media import Phrase, Playable, Silence, SoundFile

if TYPE_CHECKING:
    from acd.engine.engine import Engine

_log = structlog.get_logger("acd.menus")

MENU_DIGITS_VARIABLE = "acd_menu_digits"
"""The channel variable a menu's ``play_and_get_digits`` fills."""

LEAVING = "leaving"
"""``record.menu_app`` once the caller is being let go (message then hang-up)."""

MENU_WAIT_CLIP = "acd/menu-wait.wav"
"""The hold-music clip played while a menu waits for its first key (R-NOSILENCE), below
the language's sound prefix (``freeswitch/prompts/generate.py`` writes it)."""
MENU_WAIT_SECONDS = 2.56
"""The clip's length in seconds (``generate.MENU_WAIT_NOTES`` notes)."""
LAST_WAIT_MS = 1000
"""play_and_get_digits' no-input timeout once its prompt (with the music) has ended:
FreeSWITCH's least (it raises anything shorter to 1000 ms)."""
_SHIPPED_MACRO = "acd_prompt"  # phrase:acd_prompt:<id> plays acd/<id>.wav of the language

_QUIET = Silence(100)
# What play_and_get_digits plays as its own prompt after a not-interruptible prompt, and
# as its "invalid" file (FreeSWITCH plays that after every failed try, the last too).
_GUARD_MARGIN = 60.0  # seconds for the prompts themselves, whose length the engine cannot know

PromptResolver = Callable[[str, str], Playable]
"""``(prompt id, language) -> what to play``; raises ``LookupError`` for an unknown id
(:meth:`acd.prompts.PromptCatalogue.playable`)."""


def shipped_prompt(prompt_id: str, language: str) -> Playable:
    """The shipped prompt ``prompt_id`` (``phrase:acd_prompt:<id>``, in the channel's
    language): the resolver when no prompt catalogue is wired."""
    del language  # the phrase macro follows the channel's default_language
    return Phrase("acd_prompt", prompt_id)


@dataclass(frozen=True, slots=True)
class QueueTarget:
    """Enqueue as a dialplan ``acd_queue`` park would, with these variables."""

    queue: str
    case_type: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0


@dataclass(frozen=True, slots=True)
class MenuTarget:
    menu: str


@dataclass(frozen=True, slots=True)
class MessageTarget:
    """Play the prompt ``message`` (an id), then hang up (``then="hangup"``), ask the
    same menu again (``"repeat"``) or go to menu ``menu`` (``"menu"``)."""

    message: str
    then: Literal["hangup", "repeat", "menu"] = "hangup"
    menu: str = ""


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """``uuid_transfer`` to ``extension`` in dialplan ``context`` (both validated)."""

    extension: str
    context: str = "acd"


Target = QueueTarget | MenuTarget | MessageTarget | TransferTarget


@dataclass(frozen=True, slots=True)
class MenuPlan:
    """One menu. Times in seconds; ``digits`` is the longest choice; prompts are ids."""

    name: str
    prompt: str
    choices: Mapping[str, Target]
    default: Target
    interruptible: bool = True
    digits: int = 1
    inter_digit_timeout: float = 3.0
    timeout: float = 5.0
    retries: int = 2
    no_input: str | None = None
    invalid: str | None = None

    def guard(self) -> float:
        """Seconds after a collection starts until the engine stops waiting for it (the
        wait's music may run up to a clip longer than ``timeout``)."""
        wait = self.timeout + MENU_WAIT_SECONDS + LAST_WAIT_MS / 1000
        return wait + self.digits * self.inter_digit_timeout + _GUARD_MARGIN


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """An entry; ``rules`` are tried in order once, when a caller arrives (R-RULES)."""

    name: str
    number: str
    menu: str
    language: str | None = None
    welcome: str | None = None  # a prompt id
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class MenuBook:
    """Entries by name and menus by name; ``by_number`` maps an entry number to its name;
    ``prompt`` resolves prompt ids, in the call's language or else ``language``."""

    entries: Mapping[str, EntryPlan] = field(default_factory=dict)
    menus: Mapping[str, MenuPlan] = field(default_factory=dict)
    by_number: Mapping[str, str] = field(default_factory=dict)
    prompt: PromptResolver = shipped_prompt
    language: str = "sv"

    def media(self, prompt_id: str, language: str | None) -> Playable | None:
        """What to play for ``prompt_id``; None (logged) if it cannot be played."""
        lang = language or self.language
        try:
            return self.prompt(prompt_id, lang)
        except (LookupError, InvalidArgument) as exc:
            _log.error("acd.prompt_missing", prompt=prompt_id, language=lang, error=str(exc))
            return None

    def entry_for(self, name: str | None, number: str | None) -> EntryPlan | None:
        if name is not None:
            return self.entries.get(name)
        if number:
            key = self.by_number.get(number)
            return self.entries.get(key) if key is not None else None
        return None


# ---------------------------------------------------------------------------- arrival


def entry_call(engine: Engine, event: EntryCall) -> list[Effect]:
    """A caller parked on an entry: the entry's rules (the first that holds may queue,
    forward, send to voicemail or hang up instead, or add a message), then the welcome,
    then the entry's menu."""
    if engine.store.get_call(event.uuid) is not None:
        return []  # parked again (a transfer back to park): already ours
    book = engine.settings.menus
    entry = book.entry_for(event.entry, event.number)
    if entry is None or entry.menu not in book.menus:
        _log.warning("acd.unknown_entry", uuid=event.uuid, entry=event.entry, number=event.number)
        return [
            Fact("caller_refused", {"contact": event.uuid, "reason": "unknown-entry"}),
            Send(commands.hangup(event.uuid, HangupCause.UNALLOCATED_NUMBER)),
        ]
    language = entry.language or event.language
    record = CallRecord(
        contact=event.uuid,
        kind="caller",
        state="menu",
        parked_at=event.at,
        arrival=event.arrival,
        answered=event.answered,
        language=language,
        caller_number=event.caller_number or ANONYMOUS_NUMBER,
        caller_name=event.caller_name or ANONYMOUS_NAME,
        called_number=event.called_number,
        entry=entry.name,
        menu=entry.menu,
    )
    effects: list[Effect] = []
    rule = _entry_rule(engine, entry, event) if entry.rules else None
    if rule is not None:
        from acd.engine.rule_flow import leave_effects  # noqa: PLC0415 - see _entry_rule

        fact = _rule_fact(entry, rule, event.uuid)
        match rule.action:
            case QueueAction(queue=str(queue)):
                target = QueueTarget(
                    queue,
                    rule.action.case_type,
                    rule.action.skills or {},
                    rule.action.priority or 0,
                )
                return [fact, *_enqueue(engine, record, target, event.at)]
            case Forward() | Voicemail():
                return [
                    fact,
                    *leave_effects(event.uuid, rule, engine, language, event.answered),
                ]
            case Hangup():
                # The prompt speaks the entry's language and no digit cuts it short.
                leaving = leave_effects(event.uuid, rule, engine, language, event.answered)
                return [fact, *_call_setup(record), *leaving]
            case Message():
                effects.append(fact)  # played below, before the welcome
            case _:  # overflow or a queue action without a queue: refused by the config
                _log.error("acd.entry_rule_unusable", entry=entry.name, rule=rule.id)
                rule = None
    if not record.answered:
        effects.append(Api(commands.uuid_answer(event.uuid)))
        record.answered = True
    effects += _call_setup(record)
    if rule is not None and isinstance(rule.action, Message):
        message = book.media(rule.action.prompt, language)
        if message is not None:
            effects.append(Send(commands.play(record.contact, message)))
    welcome = book.media(entry.welcome, language) if entry.welcome is not None else None
    if welcome is not None:
        effects.append(Send(commands.play(record.contact, welcome)))
    effects.append(Fact("menu_entered", {"contact": record.contact, "entry": entry.name}))
    effects += _ask(engine, record, event.at)
    return effects


def _entry_rule(engine: Engine, entry: EntryPlan, event: EntryCall) -> Rule | None:
    """The first of the entry's rules that holds for this caller (no figures: an entry's
    caller is in no queue; the configuration refuses conditions on them), or None."""
    # Imported here: hours and rule_flow import the policy, which imports this module.
    from acd.engine import hours as hours_flow  # noqa: PLC0415

    situation = Situation(
        at=event.at,
        caller=event.caller_number,
        called=event.called_number,
        calendars=hours_flow.calendars(engine),
    )
    rule = first_match(entry.rules, situation)
    if rule is not None:
        _log.info("acd.rule_fired", contact=event.uuid, entry=entry.name, rule=rule.id)
    return rule


def _rule_fact(entry: EntryPlan, rule: Rule, contact: str) -> Fact:
    action = rule.action
    queue = action.queue or "" if isinstance(action, QueueAction) else ""
    kind = type(action).__name__.lower()
    return Fact(
        "rule_fired",
        {"contact": contact, "queue": queue, "entry": entry.name, "rule": rule.id, "action": kind},
    )


def _call_setup(record: CallRecord) -> list[Effect]:
    """Channel variables of a menu call: digits never cut a plain ``playback`` (the
    welcome, prompts not interruptible, messages), prompts speak the entry's language."""
    effects: list[Effect] = [
        Send(commands.execute(record.contact, "set", "playback_terminators=none")),
    ]
    if record.language:
        effects.append(
            Send(commands.execute(record.contact, "set", f"default_language={record.language}"))
        )
    return effects


@dataclass(frozen=True, slots=True)
class MenuWait(Playable):
    """``file_string://<prompt>!<clip>!<clip>...``: a collection's prompt (if it is
    interruptible), then hold music while the menu waits for the first key: digits are
    collected all along, and the no-input timeout starts when the music ends."""

    files: tuple[SoundFile, ...]

    def playback_path(self) -> str:
        return "file_string://" + "!".join(f.path for f in self.files)


def _as_file(media: Playable, language: str) -> SoundFile | None:
    """``media`` as one file of a ``file_string`` (which cannot hold a phrase): a sound
    file as it is, a shipped prompt (``phrase:acd_prompt:<id>``) as ``<language>/acd/<id>.wav``
    below the sounds directory; None for anything else."""
    if isinstance(media, SoundFile):
        return media
    if isinstance(media, Phrase) and media.macro == _SHIPPED_MACRO and media.data:
        try:
            return SoundFile(f"{language}/acd/{media.data}.wav")
        except InvalidArgument:
            return None
    return None


def collect_prompt(menu: MenuPlan, prompt: Playable | None, language: str) -> tuple[Playable, int]:
    """What a collection plays and its no-input timeout (ms) (R-NOSILENCE): the prompt
    (``prompt``: None when it played before, not interruptible) then the music clip, as
    often as it takes to fill the menu's ``timeout`` but the last second; FreeSWITCH then
    waits :data:`LAST_WAIT_MS`. A prompt that cannot be a file of a ``file_string`` (a
    phrase of another macro) plays alone, and the wait after it is silent."""
    timeout_ms = int(menu.timeout * 1000)
    try:
        clip = SoundFile(f"{language}/{MENU_WAIT_CLIP}")
    except InvalidArgument:  # pragma: no cover - languages are validated names
        return (prompt or _QUIET), timeout_ms
    first = None if prompt is None else _as_file(prompt, language)
    if prompt is not None and first is None:
        return prompt, timeout_ms
    clips = max(1, math.ceil((timeout_ms - LAST_WAIT_MS) / (MENU_WAIT_SECONDS * 1000)))
    files = (() if first is None else (first,)) + (clip,) * clips
    return MenuWait(files), LAST_WAIT_MS


def _ask(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    """Play the current menu's prompt and collect digits (``record.menu`` is configured:
    callers check with :func:`_current` or name a validated target)."""
    book = engine.settings.menus
    menu = book.menus[record.menu]
    effects: list[Effect] = []
    if engine.hours_state.emergency is not None:
        from acd.engine import hours as hours_flow  # noqa: PLC0415 - see _entry_rule

        # Switched on while this caller was in the menu: before the next menu prompt.
        effects += [
            Send(commands.play(record.contact, m))
            for m in hours_flow.emergency_for_waiting(engine, record)
        ]
    media = book.media(menu.prompt, record.language)
    if media is not None and not menu.interruptible:
        effects.append(Send(commands.play(record.contact, media)))
        media = None
    played, timeout_ms = collect_prompt(menu, media, record.language or book.language)
    app = str(uuidlib.uuid4())
    effects.append(
        Send(
            commands.play_and_get_digits(
                record.contact,
                min_digits=1,
                max_digits=menu.digits,
                tries=1,
                timeout_ms=timeout_ms,
                terminators="none",
                prompt=played,
                invalid_prompt=_QUIET,
                variable=MENU_DIGITS_VARIABLE,
                digits_regex="[0-9*#]+",
                digit_timeout_ms=int(menu.inter_digit_timeout * 1000),
                event_uuid=app,
            )
        )
    )
    record.menu_app = app
    engine.store.put_call(record)
    effects.append(SetTimer(record.contact, "menu", now + menu.guard()))
    return effects


def _current(engine: Engine, record: CallRecord) -> MenuPlan | None:
    """The caller's menu; after a reload that removed it, its entry's menu from the
    start; None if neither is configured any more (the caller is let go)."""
    book = engine.settings.menus
    menu = book.menus.get(record.menu)
    if menu is not None:
        return menu
    entry = book.entries.get(record.entry)
    menu = book.menus.get(entry.menu) if entry is not None else None
    if menu is not None:
        _log.warning("acd.menu_gone", contact=record.contact, menu=record.menu)
        record.menu = menu.name
        record.tries = 0
    return menu


# ---------------------------------------------------------------------------- digits


def digits_collected(engine: Engine, event: DigitsCollected) -> list[Effect]:
    """A menu's collection finished: the choice, or a retry, or the default."""
    record = engine.store.get_call(event.uuid)
    if record is None or record.kind != "caller" or record.state != "menu":
        return []
    if not record.menu_app or record.menu_app == LEAVING:
        return []
    if event.application and event.application != record.menu_app:
        return []  # another collection's end (cut by a restart, or a previous process's)
    record.state = call_transition(record.state, "digits")
    record.menu_app = ""
    menu = _current(engine, record)
    if menu is None:
        return _leave(engine, record, None, event.at)
    if not event.digits:
        return _retry(engine, record, menu, "no_input", event.at)
    target = menu.choices.get(event.digits)
    if target is None:
        return _retry(engine, record, menu, "invalid", event.at)
    return _choose(engine, record, target, event.digits, event.at)


def _retry(
    engine: Engine, record: CallRecord, menu: MenuPlan, why: str, now: float
) -> list[Effect]:
    """No input (``why="no_input"``) or invalid input: its prompt and ask again, or the
    default once the retries are used up."""
    prompt_id = menu.no_input if why == "no_input" else menu.invalid
    record.tries += 1
    effects: list[Effect] = [
        Fact("menu_retry", {"contact": record.contact, "menu": menu.name, "why": why})
    ]
    if record.tries > menu.retries:
        return effects + _choose(engine, record, menu.default, "", now)
    media = engine.settings.menus.media(prompt_id, record.language) if prompt_id else None
    if media is not None:
        effects.append(Send(commands.play(record.contact, media)))
    return effects + _ask(engine, record, now)


def _choose(
    engine: Engine, record: CallRecord, target: Target, digits: str, now: float
) -> list[Effect]:
    fact = Fact(
        "menu_chosen",
        {
            "contact": record.contact,
            "entry": record.entry,
            "menu": record.menu,
            "digits": digits,
            "target": _describe(target),
        },
    )
    match target:
        case QueueTarget():
            return [fact, *_enqueue(engine, record, target, now)]
        case MenuTarget():
            return [fact, *_goto(engine, record, target.menu, now)]
        case MessageTarget():
            played: list[Effect] = [fact]
            media = engine.settings.menus.media(target.message, record.language)
            if media is not None:
                played.append(Send(commands.play(record.contact, media)))
            if target.then == "hangup":
                return played + _leave(engine, record, HangupCause.NORMAL_CLEARING, now)
            menu = record.menu if target.then == "repeat" else target.menu
            return played + _goto(engine, record, menu, now)
        case TransferTarget():
            return [fact, *_transfer(engine, record, target)]
    raise TypeError(f"not a menu target: {target!r}")  # pragma: no cover - typed


def _describe(target: Target) -> str:
    match target:
        case QueueTarget():
            return f"queue:{target.queue}"
        case MenuTarget():
            return f"menu:{target.menu}"
        case MessageTarget():
            return f"message:{target.then}"
        case TransferTarget():
            return f"transfer:{target.extension}"
    raise TypeError(f"not a menu target: {target!r}")  # pragma: no cover - typed


def _goto(engine: Engine, record: CallRecord, menu: str, now: float) -> list[Effect]:
    record.menu = menu
    record.tries = 0
    return _ask(engine, record, now)


def _enqueue(engine: Engine, record: CallRecord, target: QueueTarget, now: float) -> list[Effect]:
    """Into the queue exactly as a dialplan ``acd_queue`` park: the menu record goes, the
    queued caller's record comes (its wait counts from now)."""
    record.state = call_transition(record.state, "enqueue")
    engine.store.delete_call(record.contact)
    parked = CallerParked(
        uuid=record.contact,
        queue=target.queue,
        at=now,
        answered=record.answered,
        arrival=now,
        skills=dict(target.skills),
        language=record.language,
        priority=target.priority,
        case_type=target.case_type,
        caller_number=record.caller_number,
        caller_name=record.caller_name,
        called_number=record.called_number,
        greeted=not _emergency_due(engine, record),  # else it plays on arrival in the queue
    )
    return [CancelTimers(record.contact), *engine.handle(parked)]


def _emergency_due(engine: Engine, record: CallRecord) -> bool:
    if engine.hours_state.emergency is None:
        return False
    from acd.engine import hours as hours_flow  # noqa: PLC0415 - see _entry_rule

    return hours_flow.emergency_due(engine, record)


def _transfer(engine: Engine, record: CallRecord, target: TransferTarget) -> list[Effect]:
    """The call leaves the engine for a dialplan extension; if that parks it again (a
    queue or another entry) it arrives as a new call."""
    record.state = call_transition(record.state, "leave")
    engine.store.delete_call(record.contact)
    return [
        CancelTimers(record.contact),
        Api(commands.uuid_transfer(record.contact, target.extension, target.context)),
    ]


def _leave(
    engine: Engine, record: CallRecord, cause: HangupCause | None, now: float
) -> list[Effect]:
    """Hang up after what is queued on the channel (the record stays until the hang-up,
    so a restart meanwhile does not take the caller for a new arrival)."""
    record.menu_app = LEAVING
    engine.store.put_call(record)
    return [
        Send(commands.hangup(record.contact, cause or HangupCause.NORMAL_CLEARING)),
        SetTimer(record.contact, "menu", now + _GUARD_MARGIN),
    ]


# ---------------------------------------------------------------------------- timers


def timer_due(engine: Engine, record: CallRecord, kind: str, now: float) -> list[Effect]:
    """``menu``: a collection never finished (counts as no input; a caller being let go
    is hung up now); ``menu_restart``: a restarted engine adopts the caller: the current
    menu starts again."""
    if record.kind != "caller" or record.state != "menu":
        return []
    if record.menu_app == LEAVING:
        return [Api(commands.uuid_kill(record.contact, HangupCause.NORMAL_CLEARING))]
    menu = _current(engine, record)
    if menu is None:
        return _leave(engine, record, None, now)
    if kind == "menu_restart":
        # No uuid_break: with nothing left to stop it would cut the prompt sent next. A
        # collection of the old process still running ends first (and is ignored: its
        # Event-UUID is not the new one); the new prompt is queued behind it.
        record.tries = 0
        return _call_setup(record) + _ask(engine, record, now)
    # The collection is stuck (media lost?): stop it and what it queued, then count it
    # as no input.
    record.menu_app = ""
    return [
        Api(commands.uuid_break(record.contact)),
        *_retry(engine, record, menu, "no_input", now),
    ]
