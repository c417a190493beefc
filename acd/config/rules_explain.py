"""Rules in plain language, and the rules that can never fire (``acd check-config``).

:func:`explain` gives one line per rule, e.g. ``support #2: after 120 s of waiting, if
agents available = 0, overflow to billing keeping place``; :func:`never_fires` says why
a rule can never fire: an impossible condition (``queue_length < 0``, an empty time
window, an empty weekday set), an overflow only to its own queue, or an earlier rule that
always fires first and takes the caller away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acd.config.rules import compile_rules
from acd.engine.rules import (
    SECONDS_FIGURES,
    WEEKDAYS,
    Action,
    Conditions,
    Forward,
    Hangup,
    Message,
    NumberMatch,
    Overflow,
    QueueAction,
    Rule,
    TimeWindow,
    Voicemail,
)

if TYPE_CHECKING:
    from acd.config.model import Config


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _window(window: TimeWindow) -> str:
    return f"{_hhmm(window[0])}-{_hhmm(window[1])}"


def _either(items: Sequence[str]) -> str:
    return " or ".join(items) if items else "nothing"


def _numbers(what: str, match: NumberMatch) -> str:
    parts: list[str] = []
    if match.numbers:
        parts.append(f"is {_either(sorted(match.numbers))}")
    if match.prefixes:
        parts.append(f"starts with {_either(list(match.prefixes))}")
    if match.patterns:
        parts.append(f"matches {_either([p.pattern for p in match.patterns])}")
    return f"{what} number {_either(parts)}"


def _conditions(c: Conditions) -> list[str]:
    parts: list[str] = []
    if c.weekdays is not None:
        days = [WEEKDAYS[d] for d in sorted(c.weekdays)]
        parts.append(f"on {', '.join(days) if days else 'no day'}")
    if c.windows is not None:
        if c.weekdays is not None and any(start > end for start, end in c.windows):
            # The weekday is the day the clock shows: "fri 22:00-06:00" holds on Friday
            # evening and early Friday morning, never Saturday morning. Say exactly that.
            pieces = [
                piece
                for start, end in c.windows
                for piece in (
                    [_window((start, 1440)), _window((0, end))]
                    if start > end
                    else [_window((start, end))]
                )
            ]
            parts.append(
                f"at {_either(pieces)} ({c.timezone}) of those same days: a window over"
                " midnight does not run on into the next day"
            )
        else:
            parts.append(f"at {_either([_window(w) for w in c.windows])} ({c.timezone})")
    if c.calendar_states is not None:
        states = _either(sorted(c.calendar_states))
        parts.append(f"calendar {c.calendar or '(none)'} is {states}")
    if c.case_types is not None:
        parts.append(f"case type is {_either(sorted(c.case_types))}")
    if c.channels is not None:
        parts.append(f"channel is {_either(sorted(c.channels))}")
    if c.caller is not None:
        parts.append(_numbers("caller", c.caller))
    if c.called is not None:
        parts.append(_numbers("called", c.called))
    for compare in c.figures:
        unit = " s" if compare.figure in SECONDS_FIGURES else ""
        name = "expected wait" if compare.figure == "ewt" else compare.figure.replace("_", " ")
        parts.append(f"{name} {compare.op} {compare.value:g}{unit}")
    return parts


def _action(action: Action, message: str | None) -> str:
    match action:
        case QueueAction():
            changes = []
            if action.queue is not None:
                changes.append(action.queue)
            if action.case_type is not None:
                changes.append(f"case type {action.case_type}")
            if action.skills is not None:
                skills = ", ".join(f"{k}>={v}" for k, v in action.skills.items()) or "none"
                changes.append(f"skills {skills}")
            if action.priority is not None:
                changes.append(f"priority {action.priority}")
            return "queue with " + (", ".join(changes) if changes else "no change")
        case Overflow():
            where = (
                action.queues[0]
                if len(action.queues) == 1
                else f"the best of {', '.join(action.queues)}"
            )
            then = f", then play {message}" if message else ""
            return f"overflow to {where} keeping place{then}"
        case Message():
            return f"play {action.prompt}, then keep waiting"
        case Forward():
            return f"forward to {action.number}"
        case Voicemail():
            return f"send to voicemail {action.extension}"
        case Hangup():
            return f"play {action.prompt}, then hang up" if action.prompt else "hang up"


def rule_label(rule: Rule) -> str:
    """``queues.support.rules #2`` (with the rule's name, if any: ``... #2 "lunch"``);
    ``entries.kommun.rules #1`` for an entry's: numbered from 1, the place in the file as
    a configuration error names it (:func:`acd.config.problems.format_path`)."""
    owner, _, number = rule.id.rpartition("#")
    entry = owner.removeprefix("entry:")  # acd.config.entries.entry_rule_owner
    section = "queues" if entry == owner else "entries"
    label = f"{section}.{entry}.rules #{number}"
    return f'{label} "{rule.name}"' if rule.name else label


def explain(rule: Rule, *, entry: bool = False) -> str:
    """One line: when, if what, then what (``entry``: an entry's rule, tried once when
    the caller arrives, before the welcome)."""
    if entry:
        when = "when a caller arrives, before the welcome"
    elif rule.after > 0:
        when = f"after {rule.after:g} s of waiting"
    elif isinstance(rule.action, QueueAction):
        when = "on arrival"
    elif rule.live():
        when = "on arrival and while waiting"
    else:
        when = "on arrival"
    parts = _conditions(rule.conditions)
    condition = f", if {' and '.join(parts)}" if parts else ""
    return f"{rule_label(rule)}: {when}{condition}, {_action(rule.action, rule.message)}"


def _impossible(rule: Rule, owner: str) -> str | None:
    c = rule.conditions
    for compare in c.figures:
        if compare.impossible():
            return f"{compare} is impossible (never negative)"
    if c.windows is not None and all(start == end for start, end in c.windows):
        return "the time window is empty"
    if c.weekdays is not None and not c.weekdays:
        return "the weekday set is empty"
    if c.calendar_states is not None and not c.calendar_states:
        return "the calendar state set is empty"
    if c.case_types is not None and not c.case_types:
        return "the case type list is empty"
    if c.channels is not None and not c.channels:
        return "the channel list is empty"
    if c.caller is not None and c.caller.empty():
        return "the caller number condition lists nothing"
    if c.called is not None and c.called.empty():
        return "the called number condition lists nothing"
    if isinstance(rule.action, Overflow) and all(q == owner for q in rule.action.queues):
        return "it overflows to its own queue"
    return None


def _takes_away(rule: Rule, owner: str) -> bool:
    action = rule.action
    if isinstance(action, Overflow):
        return any(q != owner for q in action.queues)
    if isinstance(action, QueueAction):
        return action.queue is not None  # an entry's rule: to that queue, past the menu
    return isinstance(action, (Forward, Voicemail, Hangup))


def never_fires(owner: str, rules: Sequence[Rule]) -> list[tuple[Rule, str]]:
    """``(rule, why)`` for each of ``owner``'s rules that can never fire."""
    found: list[tuple[Rule, str]] = []
    for index, rule in enumerate(rules):
        why = _impossible(rule, owner)
        if why is None:
            for earlier in rules[:index]:
                if not earlier.conditions.unconditional() or _impossible(earlier, owner):
                    continue
                if earlier.after > rule.after:
                    continue
                queue_first = isinstance(rule.action, QueueAction) and earlier.after == 0
                if _takes_away(earlier, owner) or queue_first:
                    why = f"{rule_label(earlier)} always fires first"
                    break
        if why is not None:
            found.append((rule, why))
    return found


def rule_lines(config: Config) -> list[str]:
    """What ``acd check-config`` prints about rules: one line per rule of each queue and
    entry (``rule support #1: ...``), then a warning per rule that can never fire."""
    owners: list[tuple[str, tuple[Rule, ...]]] = [
        (name, compile_rules(name, queue.rules, calendar=queue.calendar))
        for name, queue in config.queues.items()
        if queue.rules
    ]
    lines = [f"rule {explain(rule)}" for _, rules in owners for rule in rules]
    entries: Mapping[str, Any] = getattr(config, "entries", {}) or {}
    for name, entry in entries.items():
        given = getattr(entry, "rules", ())
        if given:
            owner = f"entry:{name}"  # acd.config.entries.entry_rule_owner
            compiled = compile_rules(owner, given, calendar=entry.calendar)
            owners.append((owner, compiled))
            lines += [f"rule {explain(rule, entry=True)}" for rule in compiled]
    for owner, rules in owners:
        lines += [
            f"warning: rule {rule_label(rule)} never fires: {why}"
            for rule, why in never_fires(owner, rules)
        ]
    return lines
