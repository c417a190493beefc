"""The warnings of ``acd check-config`` (and of a reload's report, R-LIVECONF): things a
valid file says that will not do what its author likely meant. Each is one line for
people; none stops the file from loading."""

from __future__ import annotations

from acd.config.model import Config
from acd.config.rules_explain import rule_lines
from acd.prompts import missing_lines

ENTRY_RANGE = (7100, 7199)
"""The entry numbers the shipped dialplan routes (freeswitch/conf/dialplan/acd.xml,
extension ``acd_entries``)."""

SHIPPED_QUEUE_EXTENSIONS = {"7000": "support", "7001": "sales", "7002": "support"}
"""The shipped dialplan's queue extensions (number -> queue)."""


def overflow_lines(config: Config) -> list[str]:
    """A queue rule overflowing to a queue with a calendar: while that calendar is closed
    the queue is skipped (and the rule does not fire when no target is open)."""
    lines: list[str] = []
    for name, queue in config.queues.items():
        for index, rule in enumerate(queue.rules, start=1):
            for target in rule.then.overflow_queues():
                other = config.queues.get(target)
                if other is not None and other.calendar is not None:
                    lines.append(
                        f"rule queues.{name}.rules #{index} overflows to {target}, which has"
                        f" calendar {other.calendar}: while it is closed {target} is skipped,"
                        " and the rule does not fire when no target is open"
                    )
    return lines


def entry_number_lines(config: Config) -> list[str]:
    """Entry numbers the shipped dialplan does not send to the entry flow."""
    lines: list[str] = []
    low, high = ENTRY_RANGE
    for name, entry in config.entries.items():
        number = entry.number
        queue = SHIPPED_QUEUE_EXTENSIONS.get(number)
        if queue is not None:
            lines.append(
                f"entry {name}: number {number} is the shipped dialplan's extension of queue"
                f" {queue}: callers dialling it reach the queue, not this entry"
            )
        elif not (number.isdigit() and low <= int(number) <= high):
            lines.append(
                f"entry {name}: number {number} is outside {low}-{high}, the entry numbers"
                " the shipped dialplan routes: give it a dialplan extension of its own that"
                f" sets acd_entry={name}, answers and parks"
            )
    return lines


def warning_lines(config: Config) -> list[str]:
    """Every warning about a valid ``config``, one line each (without ``warning:``)."""
    lines = [
        line.removeprefix("warning: ") for line in rule_lines(config) if line.startswith("warning:")
    ]
    lines += overflow_lines(config)
    lines += entry_number_lines(config)
    lines += missing_lines(config)  # R-PROMPTS
    return lines
