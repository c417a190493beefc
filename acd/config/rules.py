"""Rules on queues and entries (R-RULES, R-OVERFLOW): ordered, the first that holds fires.

One rule in YAML::

    - name: lunch overflow          # optional, for people
      after: 120                    # seconds of waiting before it applies (default 0)
      when:                         # every condition given must hold; none: always
        time: ["12:00-13:00"]       # wall clock of `timezone`; "22:00-06:00" runs over midnight
        weekdays: [mon, tue, wed, thu, fri]
        timezone: Europe/Stockholm  # the default
        calendar: office            # default: the queue's own calendar
        calendar_state: [closed, holiday]
        queue_length: "> 10"        # also ewt, longest_wait (seconds), agents_logged_in,
        agents_available: 0         #   agents_available; a bare number means "="
        case_type: [invoice]
        channel: [voice]
        caller: {numbers: ["+46701234567"], prefixes: ["+4670"], patterns: ["0709[0-9]{6}"]}
        called: {numbers: ["7000"]}
      then:                         # exactly one action
        overflow: billing           # or a group [billing, sales]; keeps the caller's place
        message: busy               # with overflow only: a prompt played after the move

Other actions: ``queue: {case_type, skills, priority}`` (``queue:`` names the queue on an
entry's rule), ``message: <prompt id>`` (play, keep waiting), ``forward: "+46812345678"``,
``voicemail: "2000"`` (a voicemail box), ``hangup: <prompt id>`` (play, then hang up) or
``hangup: true`` (no message).

:func:`rule_problems` checks what spans sections (queues, skills, calendars exist);
:func:`compile_rules` turns the settings into the engine's :class:`acd.engine.rules.Rule`.
"""

from __future__ import annotations

import hashlib
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator, model_validator

from acd.config.calendars import weekday_range
from acd.config.problems import CrossCheckError, Loc
from acd.config.types import (
    DAY,
    Frozen,
    FrozenMap,
    List,
    Name,
    Priority,
    PromptId,
    QuotedNumber,
    text_check,
)
from acd.config.types import Level as SkillLevel
from acd.engine.rules import (
    FIGURES,
    FORWARD_NUMBER,
    OPS,
    VOICEMAIL_EXTENSION,
    Action,
    Compare,
    Conditions,
    Forward,
    Hangup,
    Message,
    NumberMatch,
    Op,
    Overflow,
    PromptResolver,
    QueueAction,
    Rule,
    RuleBook,
    TimeWindow,
    Voicemail,
)
from routing.api import Channel

if TYPE_CHECKING:
    from acd.config.model import Config

DEFAULT_TIMEZONE = "Europe/Stockholm"
MAX_PATTERN = 200
_NUMBER = re.compile(r"\+?[0-9]{1,32}")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")


def _comparison(value: object) -> tuple[Op, float]:
    # "> 10", ">=2.5", "= 0", "!= 0" or a bare number (equality).
    if isinstance(value, bool):
        raise ValueError("a comparison like '> 10', '<= 2' or a number, not true/false")
    if isinstance(value, int | float):
        number, op = float(value), "="
    elif isinstance(value, str):
        text = value.strip()
        found = next((o for o in OPS if text.startswith(o)), None)
        if found is None:
            raise ValueError(f"{value!r}: expected '<', '<=', '>', '>=', '=' or '!=' and a number")
        try:
            number = float(text[len(found) :].strip())
        except ValueError:
            raise ValueError(f"{value!r}: expected a number after {found!r}") from None
        op = found
    else:
        raise ValueError(f"a comparison like '> 10' or a number, not {type(value).__name__}")
    if math.isnan(number) or abs(number) > 30 * DAY:  # beyond any queue figure
        raise ValueError(f"{value!r}: the number must be within ±{30 * DAY:g}")
    return op, number  # type: ignore[return-value]


def _comparison_text(value: tuple[str, float]) -> str:
    return f"{value[0]} {value[1]:g}"


Comparison = Annotated[
    tuple[str, float],
    PlainValidator(_comparison),
    PlainSerializer(_comparison_text, return_type=str),
]
"""``"> 10"`` etc. as ``(op, number)``; a bare number means ``=``."""


def _window(value: str) -> TimeWindow:
    start_text, sep, end_text = value.strip().partition("-")
    start, end = _HHMM.fullmatch(start_text.strip()), _HHMM.fullmatch(end_text.strip())
    if not sep or start is None or end is None:
        raise ValueError(f"{value!r}: expected 'HH:MM-HH:MM' (00:00..24:00)")
    minutes = []
    for text in (start_text.strip(), end_text.strip()):
        hours, minute = text.split(":")
        minutes.append(int(hours) * 60 + int(minute))
    if minutes[0] == 1440:
        raise ValueError(f"{value!r}: a window cannot start at 24:00")
    return minutes[0], minutes[1]


def _check_window(value: str) -> str:
    _window(value)
    return value


TimeWindowText = Annotated[str, AfterValidator(_check_window)]


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Stockholm)") from None
    return value


def _number(value: str) -> str:
    if _NUMBER.fullmatch(value) is None:
        raise ValueError(f"{value!r}: a number is digits with an optional leading '+'")
    return value


def _pattern(value: str) -> str:
    if len(value) > MAX_PATTERN:
        raise ValueError(f"a pattern is at most {MAX_PATTERN} characters")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


Number = Annotated[str, QuotedNumber, AfterValidator(_number)]
Pattern = Annotated[str, AfterValidator(_pattern)]
TimeZone = Annotated[str, AfterValidator(_timezone)]


def _weekday_range(value: str) -> str:
    weekday_range(value)  # raises ValueError naming the weekdays and the range form
    return value


WeekdayRange = Annotated[str, AfterValidator(_weekday_range)]
"""``mon`` or a range ``mon-fri`` (as in a calendar's ``hours``)."""
CalendarStateName = Literal["open", "closed", "holiday"]


class NumberSettings(Frozen):
    """Matches a number that is one of ``numbers``, starts with one of ``prefixes`` or
    fully matches one of ``patterns`` (regular expressions)."""

    numbers: List[Number] = ()
    prefixes: List[Number] = ()
    patterns: List[Pattern] = ()

    def compile(self) -> NumberMatch:
        return NumberMatch(
            frozenset(self.numbers),
            tuple(self.prefixes),
            tuple(re.compile(p) for p in self.patterns),
        )


class ConditionSettings(Frozen):
    """Everything given must hold (see the module's example)."""

    time: List[TimeWindowText] | None = None
    weekdays: List[WeekdayRange] | None = None
    """Weekdays or ranges, as calendars name them: ``[mon-fri]``, ``[mon, wed-thu]``."""
    timezone: TimeZone = DEFAULT_TIMEZONE
    calendar: Name | None = None
    calendar_state: List[CalendarStateName] | None = None
    queue_length: Comparison | None = None
    ewt: Comparison | None = None
    longest_wait: Comparison | None = None
    agents_logged_in: Comparison | None = None
    agents_available: Comparison | None = None
    case_type: List[Name] | None = None
    channel: List[Channel] | None = None
    caller: NumberSettings | None = None
    called: NumberSettings | None = None

    def compile(self, calendar: str | None) -> Conditions:
        figures = tuple(
            Compare(figure, op, value)
            for figure in FIGURES
            if (given := getattr(self, figure)) is not None
            for op, value in (given,)
        )
        return Conditions(
            windows=None if self.time is None else tuple(_window(w) for w in self.time),
            weekdays=None
            if self.weekdays is None
            else frozenset(day for key in self.weekdays for day in weekday_range(key)),
            timezone=self.timezone,
            calendar=self.calendar or calendar,
            calendar_states=None if self.calendar_state is None else frozenset(self.calendar_state),
            case_types=None if self.case_type is None else frozenset(self.case_type),
            channels=None if self.channel is None else frozenset(self.channel),
            caller=None if self.caller is None else self.caller.compile(),
            called=None if self.called is None else self.called.compile(),
            figures=figures,
        )


class QueueActionSettings(Frozen):
    """``then: {queue: ...}``: what to change before queueing (null: unchanged)."""

    queue: Name | None = None
    """Entries only: the queue to join."""
    case_type: Name | None = None
    skills: FrozenMap[Name, SkillLevel] | None = None
    priority: Priority | None = None


class ActionSettings(Frozen):
    """Exactly one action; ``message`` alone plays and keeps waiting, and with
    ``overflow`` plays after the move."""

    queue: QueueActionSettings | None = None
    overflow: Annotated[Name | List[Name], Field(union_mode="left_to_right")] | None = None
    message: PromptId | None = None
    forward: Annotated[str, QuotedNumber] | None = None
    """A number to dial, 2-20 digits with an optional leading '+' (quote it in YAML)."""
    voicemail: Annotated[str, QuotedNumber] | None = None
    """A voicemail box, 1-16 digits."""
    hangup: Literal[True] | PromptId | None = None

    @model_validator(mode="after")
    def _one(self) -> ActionSettings:
        chosen = [
            name
            for name in ("queue", "overflow", "forward", "voicemail", "hangup")
            if getattr(self, name) is not None
        ]
        problems: list[tuple[Loc, str]] = []
        if len(chosen) > 1:
            problems.append(((), f"one action only, not {' and '.join(chosen)}"))
        elif not chosen and self.message is None:
            problems.append(
                ((), "an action: queue, overflow, message, forward, voicemail or hangup")
            )
        elif chosen and chosen[0] != "overflow" and self.message is not None:
            problems.append(
                (
                    ("message",),
                    f"a message goes with overflow only (hangup: <prompt> for {chosen[0]})",
                )
            )
        if self.forward is not None and FORWARD_NUMBER.fullmatch(self.forward) is None:
            problems.append((("forward",), "a number to dial: 2-20 digits, optional leading '+'"))
        if self.voicemail is not None and VOICEMAIL_EXTENSION.fullmatch(self.voicemail) is None:
            problems.append((("voicemail",), "a voicemail box: 1-16 digits"))
        if isinstance(self.overflow, tuple) and not self.overflow:
            problems.append((("overflow",), "name at least one queue"))
        if problems:
            raise CrossCheckError(problems)
        return self

    def overflow_queues(self) -> tuple[str, ...]:
        if self.overflow is None:
            return ()
        return (self.overflow,) if isinstance(self.overflow, str) else tuple(self.overflow)

    def compile(self) -> Action:
        if self.queue is not None:
            q = self.queue
            return QueueAction(q.case_type, q.skills, q.priority, q.queue)
        if self.overflow is not None:
            return Overflow(self.overflow_queues())
        if self.forward is not None:
            return Forward(self.forward)
        if self.voicemail is not None:
            return Voicemail(self.voicemail)
        if self.hangup is not None:
            return Hangup(None if self.hangup is True else str(self.hangup))
        assert self.message is not None
        return Message(str(self.message))


class RuleSettings(Frozen):
    """One rule: ``when`` (conditions), ``then`` (the action), ``after`` (seconds)."""

    name: Annotated[str, text_check(80)] | None = None
    after: Annotated[float, Field(ge=0.0, le=DAY)] = 0.0
    """Seconds after the caller's arrival before the rule applies (at most a day)."""
    when: ConditionSettings = ConditionSettings()
    then: ActionSettings

    @model_validator(mode="after")
    def _queue_at_arrival(self) -> RuleSettings:
        # Case type, skills and priority are given to routing at arrival, before the
        # queue's figures exist for this caller.
        if self.then.queue is None:
            return self
        problems: list[tuple[Loc, str]] = []
        if self.after > 0:
            problems.append((("after",), "a queue action applies at arrival only (after: 0)"))
        for figure in FIGURES:
            if getattr(self.when, figure) is not None:
                reason = "a queue action applies before the queue's figures are known"
                problems.append((("when", figure), reason))
        if problems:
            raise CrossCheckError(problems)
        return self


Rules = List[RuleSettings]
"""An ordered list of rules: the type of ``rules:`` on queues and entries."""


def rule_problems(
    config: Config,
    loc: Loc,
    rules: Sequence[RuleSettings],
    *,
    queue: str | None,
    calendar: str | None = None,
) -> list[tuple[Loc, str]]:
    """What is wrong across sections in ``rules`` found at ``loc``: unknown queues,
    skills or calendars; a queue rule naming a queue (``overflow`` is the way there);
    a calendar state with no calendar. ``queue``: the owning queue (None: an entry,
    whose own calendar is ``calendar``)."""
    problems: list[tuple[Loc, str]] = []
    calendars: Mapping[str, Any] = getattr(config, "calendars", {}) or {}
    own_calendar = calendar if queue is None else config.queues[queue].calendar
    for index, rule in enumerate(rules):
        here: Loc = (*loc, index)
        when = rule.when
        if when.calendar is not None and when.calendar not in calendars:
            problems.append(((*here, "when", "calendar"), f"no calendar named {when.calendar!r}"))
        if when.calendar_state is not None and when.calendar is None and own_calendar is None:
            owner = "queue" if queue is not None else "entry"
            reason = f"needs a calendar: name one here or give the {owner} a calendar"
            problems.append(((*here, "when", "calendar_state"), reason))
        then = rule.then
        for position, name in enumerate(then.overflow_queues()):
            if name not in config.queues:
                at: Loc = (*here, "then", "overflow")
                if isinstance(then.overflow, tuple):
                    at = (*at, position)
                problems.append((at, f"no queue named {name!r}"))
        if then.queue is not None:
            action = then.queue
            if action.queue is not None:
                if queue is not None:
                    problems.append(
                        (
                            (*here, "then", "queue", "queue"),
                            "a queue's rule cannot name a queue: use overflow",
                        )
                    )
                elif action.queue not in config.queues:
                    problems.append(
                        ((*here, "then", "queue", "queue"), f"no queue named {action.queue!r}")
                    )
            for skill in action.skills or {}:
                if skill not in config.skills:
                    problems.append(
                        (
                            (*here, "then", "queue", "skills", skill),
                            f"skill {skill!r} is not declared under skills",
                        )
                    )
    return problems


def compile_rules(
    owner: str, rules: Sequence[RuleSettings], *, calendar: str | None = None
) -> tuple[Rule, ...]:
    """The engine's rules for ``owner`` (a queue or entry name), ids ``owner#1``, ...;
    ``calendar``: the owner's calendar, for conditions that name none."""
    return tuple(
        Rule(
            id=f"{owner}#{index}",
            conditions=rule.when.compile(calendar),
            action=rule.then.compile(),
            after=rule.after,
            message=None
            if rule.then.message is None or rule.then.overflow is None
            else str(rule.then.message),
            name=rule.name or "",
            fingerprint=hashlib.sha256(rule.model_dump_json().encode()).hexdigest()[:12],
        )
        for index, rule in enumerate(rules, start=1)
    )


def rule_book(config: Config, prompt: PromptResolver | None = None) -> RuleBook:
    """The engine's :class:`RuleBook`: every queue's compiled rules (queues without rules
    left out, so they cost nothing) and the prompt resolver (None: the shipped prompts)."""
    queues = {
        name: compile_rules(name, queue.rules, calendar=queue.calendar)
        for name, queue in config.queues.items()
        if queue.rules
    }
    return RuleBook(queues, prompt) if prompt is not None else RuleBook(queues)
