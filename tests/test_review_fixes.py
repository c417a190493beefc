"""Fixes from an administrator's review of the issue-13 call flows: check-config warnings,
phone numbers in YAML, closed-hours targets (R-OVERFLOW, R-CALENDAR, R-RULES, R-LIVECONF)."""

from __future__ import annotations

import pytest

from acd.config import parse_config
from acd.config.check import summary
from acd.config.model import Config
from acd.config.warnings import warning_lines

BASE = """\
esl: {host: 127.0.0.1, port: 8021, password: ClueCon}
redis: null
skills: {billing: Invoices}
calendars:
  office:
    timezone: Europe/Stockholm
    hours: {mon-fri: ["08:00-16:00"]}
queues:
  support: {code: 1, language: sv}
  sales: {code: 2, language: en}
menus:
  main:
    prompt: menu_main
    default: {queue: support}
    choices:
      "1": {queue: support}
"""


def config(text: str) -> Config:
    return parse_config(text, "test.yaml")


def test_check_config_warns_when_an_overflow_target_has_a_calendar_r_overflow() -> None:
    text = BASE.replace(
        "  sales: {code: 2, language: en}",
        "  sales: {code: 2, language: en, calendar: office}\n"
        "  billing: {code: 3, language: sv}",
    ).replace(
        "  support: {code: 1, language: sv}",
        "  support:\n    code: 1\n    rules:\n      - {after: 60, then: {overflow: [billing, sales]}}",
    )
    warnings = warning_lines(config(text))
    closed = [line for line in warnings if "overflows to" in line]
    assert len(closed) == 1, warnings
    assert closed[0].startswith("rule support #1 overflows to sales, which has calendar office")
    assert any("warning: rule support #1 overflows to sales" in s for s in summary(config(text), "f"))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("7150", None),
        ("7000", "shipped dialplan's extension of queue support"),
        ("7200", "outside 7100-7199"),
        ("+4612345", "outside 7100-7199"),
    ],
)
def test_check_config_warns_about_entry_numbers_the_dialplan_does_not_route_r_welcome(
    number: str, expected: str | None
) -> None:
    text = BASE + f'entries:\n  kommun: {{number: "{number}", menu: main}}\n'
    found = [line for line in warning_lines(config(text)) if line.startswith("entry kommun")]
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
        assert "acd_entry=kommun" in found[0] or "queue" in found[0]

