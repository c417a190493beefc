"""Rules and overflow (R-RULES, R-OVERFLOW): what a rule says, and whether it holds.

Pure: a :class:`Situation` in (epoch seconds, the caller's numbers and case type, the
queue's figures behind a lazy :class:`Figures` reader), a yes/no or the first matching
rule out. The engine's hooks (:mod:`acd.engine.rule_flow`) build the situation and carry
out the action; the configuration (:mod:`acd.config.rules`) builds these values.

A rule holds when every condition it names holds (an absent condition is no constraint).
Rules are tried in order; the first that holds fires (at most once per caller). A rule
with ``after`` applies from that many seconds after the caller's effective arrival (an
overflowed caller keeps its arrival, so the clock keeps running).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from freeswitch.media import Phrase, Playable

Figure = Literal["queue_length", "ewt", "longest_wait", "agents_logged_in", "agents_available"]
"""A number read from routing: waiting callers of the queue (this one included once it
waits), the caller's expected wait (seconds), the longest wait of the queue's waiting
callers (seconds), the queue's logged-in agents (paused included) and its free agents."""

FIGURES: tuple[Figure, ...] = (
    "queue_length",
    "ewt",
    "longest_wait",
    "agents_logged_in",
    "agents_available",
)
#: The figures one routing read of the queue gives (the rest need the caller's position).
LOAD_FIGURES: frozenset[str] = frozenset(
    {"queue_length", "longest_wait", "agents_logged_in", "agents_available"}
)
#: Figures in seconds (the others are counts).
SECONDS_FIGURES: frozenset[str] = frozenset({"ewt", "longest_wait"})

Op = Literal["<", "<=", ">", ">=", "=", "!="]
OPS: tuple[Op, ...] = ("<=", ">=", "!=", "<", ">", "=")  # longest first, for parsing

CalendarState = Literal["open", "closed", "holiday"]
CALENDAR_STATES: tuple[CalendarState, ...] = ("open", "closed", "holiday")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: The shipped dialplan context (freeswitch/conf/dialplan/acd.xml) and its extensions a
#: forward or a voicemail transfers a caller to: ``acd-forward-<number>``,
#: ``acd-voicemail-<extension>``.
DIALPLAN_CONTEXT = "acd"
FORWARD_PREFIX = "acd-forward-"
VOICEMAIL_PREFIX = "acd-voicemail-"
FORWARD_NUMBER = re.compile(r"\+?[0-9]{2,20}")
VOICEMAIL_EXTENSION = re.compile(r"[0-9]{1,16}")

RECHECK_SECONDS = 10.0
"""Seconds between evaluations of a waiting caller's rules whose conditions can change
while it waits (figures, time of day, weekday, calendar)."""

PromptResolver = Callable[[str, str], Playable]
"""``(prompt id, language) -> what to play``; raises ``LookupError`` for an unknown id."""

SHIPPED_PROMPT_MACRO = "acd_prompt"


def shipped_prompt(prompt_id: str, language: str) -> Playable:
    """The shipped prompt ``prompt_id`` (``phrase:acd_prompt:<id>``, played in the
    channel's language): the resolver when no prompt catalogue is wired."""
    del language  # the phrase macro follows the channel's default_language
    return Phrase(SHIPPED_PROMPT_MACRO, prompt_id)


class CalendarStates(Protocol):
    """The calendars' interface (:class:`acd.engine.calendar.Calendars`): the state of
    ``calendar`` at epoch second ``at``. Raises ``KeyError`` for an unknown calendar."""

    def state(self, calendar: str, at: float) -> CalendarState: ...


class Figures(Protocol):
    """A queue's figures for one evaluation, read lazily (a figure no rule needs costs no
    routing read). ``None``: could not be read (a condition on it does not hold)."""

    def get(self, figure: Figure) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Compare:
    """``<figure> <op> <value>``, e.g. ``queue_length > 10`` (seconds for ewt and
    longest_wait)."""

    figure: Figure
    op: Op
    value: float

    def holds(self, actual: float) -> bool:
        match self.op:
            case "<":
                return actual < self.value
            case "<=":
                return actual <= self.value
            case ">":
                return actual > self.value
            case ">=":
                return actual >= self.value
            case "=":
                return actual == self.value
            case "!=":
                return actual != self.value

    def impossible(self) -> bool:
        """True when no figure can satisfy it (figures are never negative)."""
        return (self.op == "<" and self.value <= 0) or (self.op in ("<=", "=") and self.value < 0)

    def __str__(self) -> str:
        return f"{self.figure} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class NumberMatch:
    """A caller (A) or called (B) number matches when it is one of ``numbers``, starts
    with one of ``prefixes`` or fully matches one of ``patterns`` (regular expressions).
    Nothing given matches nothing."""

    numbers: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()

    def matches(self, number: str) -> bool:
        if number in self.numbers:
            return True
        if any(number.startswith(prefix) for prefix in self.prefixes):
            return True
        return any(pattern.fullmatch(number) is not None for pattern in self.patterns)

    def empty(self) -> bool:
        return not (self.numbers or self.prefixes or self.patterns)


TimeWindow = tuple[int, int]
"""``(start, end)`` minutes after local midnight; ``start > end`` runs over midnight,
``start == end`` is empty."""


def in_window(minute: int, window: TimeWindow) -> bool:
    start, end = window
    if start < end:
        return start <= minute < end
    if start > end:
        return minute >= start or minute < end
    return False


@dataclass(frozen=True, slots=True)
class Conditions:
    """What must hold, all of it; ``None`` (or no figures) means no constraint.

    ``windows``/``weekdays`` (0 = Monday) are read on the wall clock of ``timezone``;
    ``calendar_states`` asks the state of ``calendar``."""

    windows: tuple[TimeWindow, ...] | None = None
    weekdays: frozenset[int] | None = None
    timezone: str = "Europe/Stockholm"
    calendar: str | None = None
    calendar_states: frozenset[str] | None = None
    case_types: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    caller: NumberMatch | None = None
    called: NumberMatch | None = None
    figures: tuple[Compare, ...] = ()

    def needs_figures(self) -> bool:
        return bool(self.figures)

    def live(self) -> bool:
        """True if the answer can change while a caller waits."""
        return bool(
            self.figures
            or self.windows is not None
            or self.weekdays is not None
            or self.calendar_states is not None
        )

    def unconditional(self) -> bool:
        # A calendar without calendar_states (the owner's, filled in) constrains nothing.
        return self == Conditions(timezone=self.timezone, calendar=self.calendar)


@dataclass(frozen=True, slots=True)
class QueueAction:
    """Queue the caller with these (None: unchanged): case type, skills ``{skill:
    minimum level}`` (replacing the caller's own), priority; ``queue`` (entries only:
    the queue to join)."""

    case_type: str | None = None
    skills: Mapping[str, int] | None = None
    priority: int | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Overflow:
    """Move the caller to ``queues[0]``, or for a group to the one with the most free
    agents (then the fewest waiting, then the list's order), keeping its arrival."""

    queues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """Play the prompt, then keep waiting (the waiting sound resumes, R-NOSILENCE)."""

    prompt: str


@dataclass(frozen=True, slots=True)
class Forward:
    """Transfer the caller to ``number`` (``acd-forward-<number>`` in the shipped
    dialplan)."""

    number: str


@dataclass(frozen=True, slots=True)
class Voicemail:
    """Transfer the caller to voicemail box ``extension`` (``acd-voicemail-<ext>``)."""

    extension: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """Play the prompt (None: none), then hang up."""

    prompt: str | None = None


Action = QueueAction | Overflow | Message | Forward | Voicemail | Hangup


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``id`` names it for people (``support#2``: the second rule of queue
    support); ``after``: seconds of waiting before it applies (0: from arrival on);
    ``message``: a prompt played after an overflow; ``fingerprint``: a digest of its
    settings (see :attr:`key`)."""

    id: str
    conditions: Conditions
    action: Action
    after: float = 0.0
    message: str | None = None
    name: str = ""
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """What a caller's fired list holds: the id and a fingerprint of the rule's
        content, so a reload that reorders or edits rules never mistakes one for another."""
        return f"{self.id}:{self.fingerprint}" if self.fingerprint else self.id

    def needs_figures(self) -> bool:
        return self.conditions.needs_figures()

    def live(self) -> bool:
        return self.conditions.live()


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every queue's rules (queues without rules are left out: they cost nothing), the
    prompt resolver and the re-check interval (seconds)."""

    queues: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    prompt: PromptResolver = shipped_prompt
    recheck: float = RECHECK_SECONDS


@dataclass(frozen=True, slots=True)
class Situation:
    """A caller at one moment: ``at`` (epoch seconds), ``waited`` (seconds since its
    effective arrival), case type, channel, caller (A) and called (B) numbers, the
    queue's ``figures`` (None: not available, e.g. before routing knows the caller) and
    the ``calendars`` (None: none configured; a calendar condition then does not hold)."""

    at: float
    waited: float = 0.0
    case_type: str | None = None
    channel: str = "voice"
    caller: str = ""
    called: str = ""
    figures: Figures | None = None
    calendars: CalendarStates | None = None


def _local(at: float, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(timezone))


def holds(conditions: Conditions, situation: Situation) -> bool:
    """True if every condition holds in ``situation``. Cheap conditions are tried first,
    so figures are read only when everything else holds."""
    c = conditions
    if c.case_types is not None and (situation.case_type or "") not in c.case_types:
        return False
    if c.channels is not None and situation.channel not in c.channels:
        return False
    if c.caller is not None and not c.caller.matches(situation.caller):
        return False
    if c.called is not None and not c.called.matches(situation.called):
        return False
    if c.windows is not None or c.weekdays is not None:
        local = _local(situation.at, c.timezone)
        if c.weekdays is not None and local.weekday() not in c.weekdays:
            return False
        minute = local.hour * 60 + local.minute
        if c.windows is not None and not any(in_window(minute, w) for w in c.windows):
            return False
    if c.calendar_states is not None:
        if c.calendar is None or situation.calendars is None:
            return False
        try:
            state = situation.calendars.state(c.calendar, situation.at)
        except KeyError:
            return False
        if state not in c.calendar_states:
            return False
    if c.figures:
        if situation.figures is None:
            return False
        for compare in c.figures:
            actual = situation.figures.get(compare.figure)
            if actual is None or not compare.holds(actual):
                return False
    return True


DUE_SLACK = 0.001
"""Seconds of rounding allowed when a timer set for ``arrival + after`` comes due:
``(arrival + after) - arrival`` may come out a hair below ``after`` in floating point."""


def due(rule: Rule, waited: float) -> bool:
    """True once a caller who has waited ``waited`` seconds is in the rule's time."""
    return rule.after <= waited + DUE_SLACK


def first_match(
    rules: Sequence[Rule], situation: Situation, fired: Iterable[str] = ()
) -> Rule | None:
    """The first rule in order that is due, has not fired (``fired``: :attr:`Rule.key`
    values) and holds; None if none."""
    done = set(fired)
    for rule in rules:
        if (
            due(rule, situation.waited)
            and rule.key not in done
            and holds(rule.conditions, situation)
        ):
            return rule
    return None


def waiting_rules(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """The rules tried while a caller waits: all but ``queue`` actions (those set case
    type, skills and priority before routing hears of the caller, at arrival only)."""
    return tuple(rule for rule in rules if not isinstance(rule.action, QueueAction))


def next_check(
    rules: Sequence[Rule],
    arrival: float,
    now: float,
    fired: Iterable[str],
    recheck: float,
    *,
    fired_now: bool = False,
) -> float | None:
    """Epoch second of the next evaluation of a waiting caller's ``rules``, or None: the
    earliest ``arrival + after`` still ahead, or ``now + recheck`` if a due rule that has
    not fired may hold later: its conditions can change (:meth:`Conditions.live`), or
    another rule fired instead of it now (``fired_now``: one rule fires per evaluation)."""
    done = set(fired)
    waited = now - arrival
    times: list[float] = []
    for rule in rules:
        if rule.key in done:
            continue
        if not due(rule, waited):
            times.append(arrival + rule.after)
        elif rule.live() or fired_now:
            times.append(now + recheck)
    return min(times) if times else None
