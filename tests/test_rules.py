"""Rules, pure: configuration, each condition, the evaluator, the schedule of re-checks,
the one-line explanations and the never-fires findings (R-RULES, R-OVERFLOW, R-EWT).

The engine end to end (through the simulator) is in tests/test_rules_sim.py."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from acd.config import parse_config
from acd.config.check import summary
from acd.config.rules import Rules, compile_rules
from acd.config.rules_explain import explain, never_fires, rule_lines
from acd.engine.rules import (
    Compare,
    Conditions,
    Figure,
    Forward,
    Hangup,
    Message,
    NumberMatch,
    Overflow,
    QueueAction,
    Rule,
    Situation,
    Voicemail,
    first_match,
    holds,
    in_window,
    next_check,
)
from acd.errors import ConfigError

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
RULES = TypeAdapter(Rules)


def at(text: str) -> float:
    """Epoch seconds of a Stockholm wall-clock time ``YYYY-MM-DD HH:MM``."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=STOCKHOLM).timestamp()


MONDAY_NOON = at("2026-11-30 12:00")  # a Monday


class StubCalendars:
    """The calendars' interface (``state(calendar, at)``) with fixed answers."""

    def __init__(self, states: Mapping[str, str]) -> None:
        self.states = states
        self.asked: list[tuple[str, float]] = []

    def state(self, calendar: str, at: float) -> Any:
        self.asked.append((calendar, at))
        return self.states[calendar]


class StubFigures:
    def __init__(self, **values: float | None) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, figure: Figure) -> float | None:
        self.asked.append(figure)
        return self.values.get(figure)


def compiled(
    owner: str, rules: list[dict[str, Any]], calendar: str | None = None
) -> tuple[Rule, ...]:
    return compile_rules(owner, RULES.validate_python(rules), calendar=calendar)


def one(when: dict[str, Any], then: dict[str, Any] | None = None) -> Rule:
    return compiled("support", [{"when": when, "then": then or {"message": "m"}}])[0]


def situation(**changes: Any) -> Situation:
    base: dict[str, Any] = {"at": MONDAY_NOON, "caller": "0701234567", "called": "7000"}
    base.update(changes)
    return Situation(**base)


# ------------------------------------------------------------------ each condition (R-RULES)


@pytest.mark.parametrize(
    ("window", "time", "inside"),
    [
        ("08:00-17:00", "2026-11-30 12:00", True),
        ("08:00-17:00", "2026-11-30 17:00", False),  # the end is outside
        ("08:00-17:00", "2026-11-30 08:00", True),
        ("22:00-06:00", "2026-11-30 23:30", True),  # over midnight
        ("22:00-06:00", "2026-11-30 05:59", True),
        ("22:00-06:00", "2026-11-30 12:00", False),
        ("00:00-24:00", "2026-11-30 23:59", True),
    ],
)
def test_time_of_day_window_on_the_wall_clock_r_rules(window: str, time: str, inside: bool) -> None:
    rule = one({"time": [window]})
    assert holds(rule.conditions, situation(at=at(time))) is inside


def test_time_window_follows_the_time_zone_across_dst_r_rules() -> None:
    """08:00-09:00 Stockholm is 07:00 UTC in winter and 06:00 UTC in summer."""
    rule = one({"time": ["08:00-09:00"]})
    winter = dt.datetime(2026, 1, 15, 7, 30, tzinfo=dt.UTC).timestamp()
    summer = dt.datetime(2026, 7, 15, 6, 30, tzinfo=dt.UTC).timestamp()
    summer_late = dt.datetime(2026, 7, 15, 7, 30, tzinfo=dt.UTC).timestamp()
    assert holds(rule.conditions, situation(at=winter))
    assert holds(rule.conditions, situation(at=summer))
    assert not holds(rule.conditions, situation(at=summer_late))


@given(
    start=st.integers(0, 1439),
    end=st.integers(0, 1440),
    minute=st.integers(0, 1439),
)
def test_time_window_matches_its_definition_r_rules(start: int, end: int, minute: int) -> None:
    """A window holds the minutes from start (included) to end (excluded), wrapping over
    midnight when end < start; start == end is empty."""
    if start < end:
        expected = start <= minute < end
    elif start > end:
        expected = minute >= start or minute < end
    else:
        expected = False
    assert in_window(minute, (start, end)) is expected


def test_weekdays_r_rules() -> None:
    weekdays = one({"weekdays": ["mon", "tue"]})
    assert holds(weekdays.conditions, situation(at=MONDAY_NOON))
    assert not holds(weekdays.conditions, situation(at=at("2026-12-02 12:00")))  # Wednesday
    weekend = one({"weekdays": ["sat", "sun"], "time": ["10:00-14:00"]})
    assert holds(weekend.conditions, situation(at=at("2026-12-05 12:00")))
    assert not holds(weekend.conditions, situation(at=at("2026-12-05 15:00")))


@pytest.mark.parametrize(
    ("state", "expected"), [("closed", True), ("holiday", True), ("open", False)]
)
def test_calendar_state_through_the_calendars_interface_r_rules(state: str, expected: bool) -> None:
    rule = compiled(
        "support",
        [{"when": {"calendar_state": ["closed", "holiday"]}, "then": {"message": "m"}}],
        calendar="office",
    )[0]
    calendars = StubCalendars({"office": state})
    assert holds(rule.conditions, situation(calendars=calendars)) is expected
    assert calendars.asked == [("office", MONDAY_NOON)]  # the queue's calendar, at this moment


def test_calendar_condition_without_calendars_or_unknown_calendar_does_not_hold() -> None:
    rule = one({"calendar": "office", "calendar_state": ["open"]})
    assert not holds(rule.conditions, situation())
    assert not holds(rule.conditions, situation(calendars=StubCalendars({})))  # KeyError


@pytest.mark.parametrize(
    ("figure", "comparison", "value", "expected"),
    [
        ("queue_length", "> 10", 11, True),
        ("queue_length", "> 10", 10, False),
        ("ewt", ">= 300", 300, True),
        ("ewt", "< 300", 300, False),
        ("longest_wait", "<= 60", 59.5, True),
        ("agents_logged_in", 0, 0, True),
        ("agents_logged_in", 0, 1, False),
        ("agents_available", "!= 0", 2, True),
        ("agents_available", "= 0", 2, False),
    ],
)
def test_queue_figures_r_rules(
    figure: str, comparison: object, value: float, expected: bool
) -> None:
    rule = one({figure: comparison})
    figures = StubFigures(**{figure: value})
    assert holds(rule.conditions, situation(figures=figures)) is expected


def test_figures_unknown_or_unreadable_do_not_hold() -> None:
    rule = one({"queue_length": "> 1"})
    assert not holds(rule.conditions, situation())  # before routing knows the caller
    assert not holds(rule.conditions, situation(figures=StubFigures(queue_length=None)))


def test_figures_are_read_last_and_only_when_the_rest_holds() -> None:
    """A queue read costs a routing round trip: never for a rule already false."""
    rule = one({"case_type": ["invoice"], "ewt": "> 1"})
    figures = StubFigures(ewt=5.0)
    assert not holds(rule.conditions, situation(figures=figures, case_type="other"))
    assert figures.asked == []
    assert holds(rule.conditions, situation(figures=figures, case_type="invoice"))
    assert figures.asked == ["ewt"]


def test_case_type_and_channel_r_rules() -> None:
    rule = one({"case_type": ["invoice", "vat"], "channel": ["voice"]})
    assert holds(rule.conditions, situation(case_type="vat"))
    assert not holds(rule.conditions, situation(case_type=None))
    assert not holds(rule.conditions, situation(case_type="vat", channel="callback"))


def test_caller_number_exact_prefix_and_pattern_r_rules() -> None:
    rule = one(
        {"caller": {"numbers": ["0701111111"], "prefixes": ["+4670"], "patterns": ["0709[0-9]{6}"]}}
    )
    for number, expected in [
        ("0701111111", True),
        ("0701111112", False),
        ("+46701234567", True),
        ("0709123456", True),
        ("07091234567", False),  # patterns match the whole number
        ("anonymous", False),
    ]:
        assert holds(rule.conditions, situation(caller=number)) is expected, number


@given(
    prefix=st.from_regex(r"\+?[0-9]{1,6}", fullmatch=True),
    rest=st.from_regex(r"[0-9]{0,8}", fullmatch=True),
)
def test_number_prefix_and_pattern_agree_r_rules(prefix: str, rest: str) -> None:
    """A prefix list and the equivalent escaped pattern say the same for any number."""
    by_prefix = NumberMatch(prefixes=(prefix,))
    by_pattern = NumberMatch(patterns=(re.compile(re.escape(prefix) + "[0-9]*"),))
    number = prefix + rest
    assert by_prefix.matches(number) and by_pattern.matches(number)
    other = ("9" if not prefix.startswith("9") else "8") + rest
    assert by_prefix.matches(other) == by_pattern.matches(other)


def test_called_number_r_rules() -> None:
    rule = one({"called": {"numbers": ["7002"]}})
    assert holds(rule.conditions, situation(called="7002"))
    assert not holds(rule.conditions, situation(called="7000"))


def test_all_conditions_must_hold() -> None:
    rule = one({"weekdays": ["mon"], "case_type": ["vip"], "queue_length": "> 0"})
    figures = StubFigures(queue_length=3)
    assert holds(rule.conditions, situation(case_type="vip", figures=figures))
    assert not holds(
        rule.conditions, situation(case_type="vip", figures=StubFigures(queue_length=0))
    )


# ------------------------------------------------------------------ actions and order


def test_each_action_compiles() -> None:
    rules = compiled(
        "support",
        [
            {"then": {"queue": {"case_type": "vip", "skills": {"billing": 2}, "priority": 50}}},
            {"then": {"overflow": "sales", "message": "moved"}},
            {"then": {"overflow": ["sales", "billing"]}},
            {"then": {"message": "lunch"}},
            {"then": {"forward": "+46812345678"}},
            {"then": {"voicemail": "2000"}},
            {"then": {"hangup": "closed"}},
            {"then": {"hangup": True}},
        ],
    )
    assert [r.action for r in rules] == [
        QueueAction("vip", {"billing": 2}, 50),
        Overflow(("sales",)),
        Overflow(("sales", "billing")),
        Message("lunch"),
        Forward("+46812345678"),
        Voicemail("2000"),
        Hangup("closed"),
        Hangup(None),
    ]
    assert rules[1].message == "moved"
    assert [r.id for r in rules[:2]] == ["support#1", "support#2"]


def test_first_match_in_order_once_per_caller_and_after_r_rules() -> None:
    rules = compiled(
        "support",
        [
            {"after": 60, "then": {"overflow": "sales"}},
            {"when": {"case_type": ["vip"]}, "then": {"message": "vip"}},
            {"then": {"message": "everyone"}},
        ],
    )
    assert first_match(rules, situation(case_type="vip")) is rules[1]
    assert first_match(rules, situation(case_type="vip"), fired=[rules[1].key]) is rules[2]
    assert first_match(rules, situation(waited=59.9)) is rules[2]
    assert first_match(rules, situation(waited=60.0)) is rules[0]
    assert first_match(rules, situation(waited=61), fired=[r.key for r in rules]) is None


def test_next_check_at_each_after_and_while_live_r_rules() -> None:
    rules = compiled(
        "support",
        [
            {"after": 120, "when": {"caller": {"numbers": ["1"]}}, "then": {"hangup": True}},
            {"when": {"ewt": "> 600"}, "then": {"overflow": "sales"}},
            {"when": {"case_type": ["x"]}, "then": {"message": "m"}},
        ],
    )
    arrival = 1000.0
    second = [rules[1].key]
    # ewt can change: checked again after the re-check interval; #1 at its after.
    assert next_check(rules, arrival, arrival, [], 10.0) == arrival + 10.0
    assert next_check(rules, arrival, arrival, second, 10.0) == arrival + 120.0
    # #1 and #3 do not depend on time: evaluated once, never again...
    assert next_check(rules, arrival, arrival + 130, second, 10.0) is None
    # ...unless another rule fired instead of them (one rule per evaluation).
    assert next_check(rules, arrival, arrival + 130, second, 10.0, fired_now=True) == (
        arrival + 140
    )


# ------------------------------------------------------------------ validation


def _config(rules: list[dict[str, Any]], **queue: Any) -> str:
    """A configuration file's text (JSON is YAML) with ``rules`` on queue support."""
    return json.dumps(
        {
            "skills": {"billing": "Billing"},
            "queues": {
                "support": {"code": 1, "rules": rules, **queue},
                "sales": {"code": 2},
            },
        }
    )


@pytest.mark.parametrize(
    ("rule", "where", "reason"),
    [
        (
            {"when": {"caller": {"patterns": ["(x"]}}, "then": {"hangup": True}},
            "patterns[0]",
            "regular expression",
        ),
        (
            {"when": {"queue_length": "~ 3"}, "then": {"hangup": True}},
            "queue_length",
            "expected '<'",
        ),
        ({"when": {"ewt": "> lots"}, "then": {"hangup": True}}, "ewt", "a number"),
        ({"when": {"time": ["25:00-26:00"]}, "then": {"hangup": True}}, "time[0]", "HH:MM"),
        ({"when": {"timezone": "Mars/Base"}, "then": {"hangup": True}}, "timezone", "time zone"),
        ({"when": {"weekdays": ["funday"]}, "then": {"hangup": True}}, "weekdays[0]", "mon-fri"),
        (
            {"when": {"caller": {"numbers": ["07-01"]}}, "then": {"hangup": True}},
            "numbers[0]",
            "digits",
        ),
        ({"then": {"forward": "12a"}}, "then.forward", "a number to dial"),
        ({"then": {"forward": "1"}}, "then.forward", "a number to dial"),
        ({"then": {"voicemail": "vm"}}, "then.voicemail", "voicemail box"),
        ({"then": {"forward": "123", "voicemail": "1"}}, "then", "one action only"),
        ({"then": {}}, "then", "an action"),
        ({"then": {"hangup": True, "message": "m"}}, "then.message", "overflow only"),
        ({"then": {"overflow": "nowhere"}}, "then.overflow", "no queue named 'nowhere'"),
        ({"then": {"overflow": ["sales", "gone"]}}, "then.overflow[1]", "no queue named 'gone'"),
        ({"then": {"overflow": []}}, "then.overflow", "at least one"),
        ({"after": 30, "then": {"queue": {"priority": 5}}}, "after", "at arrival only"),
        ({"when": {"ewt": "> 1"}, "then": {"queue": {"priority": 5}}}, "when.ewt", "figures"),
        ({"then": {"queue": {"skills": {"nosuch": 2}}}}, "skills.nosuch", "not declared"),
        ({"then": {"queue": {"queue": "sales"}}}, "then.queue.queue", "use overflow"),
        (
            {"when": {"calendar_state": ["open"]}, "then": {"hangup": True}},
            "calendar_state",
            "needs a calendar",
        ),
        (
            {"when": {"calendar": "x", "calendar_state": ["open"]}, "then": {"hangup": True}},
            "when.calendar",
            "no calendar",
        ),
        ({"after": -1, "then": {"hangup": True}}, "after", "must be >= 0"),
        ({"when": {"bogus": 1}, "then": {"hangup": True}}, "when.bogus", "unknown key"),
    ],
)
def test_bad_rules_are_refused_with_place_and_reason_r_rules(
    rule: dict[str, Any], where: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config([rule]))
    text = str(info.value)
    assert "queues.support.rules #1" in text and where in text and reason in text, text


def test_good_rules_are_taken() -> None:
    config = parse_config(
        _config(
            [
                {"when": {"caller": {"prefixes": ["+4670"]}}, "then": {"queue": {"priority": 5}}},
                {"after": 120, "when": {"agents_available": 0}, "then": {"overflow": "sales"}},
            ]
        )
    )
    assert len(config.queues["support"].rules) == 2


# ------------------------------------------------------------------ check-config


def test_each_rule_explained_in_one_line_r_rules() -> None:
    rules = compiled(
        "support",
        [
            {"after": 120, "when": {"agents_available": 0}, "then": {"overflow": "billing"}},
            {
                "name": "vip",
                "when": {"caller": {"prefixes": ["+4670"]}},
                "then": {"queue": {"case_type": "vip", "priority": 50}},
            },
            {
                "when": {"ewt": "> 600", "weekdays": ["mon", "fri"], "time": ["08:00-12:00"]},
                "then": {"overflow": ["a", "b"], "message": "moved"},
            },
            {"when": {"calendar_state": ["closed", "holiday"]}, "then": {"voicemail": "2000"}},
            {"when": {"called": {"numbers": ["7002"]}}, "then": {"forward": "+468123"}},
            {"then": {"hangup": "closed"}},
        ],
        calendar="office",
    )
    assert [explain(r) for r in rules] == [
        "queues.support.rules #1: after 120 s of waiting, if agents available = 0, overflow to"
        " billing"
        " keeping place",
        'queues.support.rules #2 "vip": on arrival, if caller number starts with +4670, queue'
        " with case type"
        " vip,"
        " priority 50",
        "queues.support.rules #3: on arrival and while waiting, if on mon, fri and at 08:00-12:00"
        " (Europe/Stockholm) and expected wait > 600 s, overflow to the best of a, b keeping"
        " place, then play moved",
        "queues.support.rules #4: on arrival and while waiting, if calendar office is closed or"
        " holiday,"
        " send to voicemail 2000",
        "queues.support.rules #5: on arrival, if called number is 7002, forward to +468123",
        "queues.support.rules #6: on arrival, play closed, then hang up",
    ]


@pytest.mark.parametrize(
    ("rules", "never"),
    [
        ([{"when": {"queue_length": "< 0"}, "then": {"message": "m"}}], ["support#1"]),
        ([{"when": {"agents_available": "<= -1"}, "then": {"message": "m"}}], ["support#1"]),
        ([{"when": {"queue_length": "<= 0"}, "then": {"message": "m"}}], []),
        ([{"when": {"time": ["10:00-10:00"]}, "then": {"message": "m"}}], ["support#1"]),
        ([{"when": {"weekdays": []}, "then": {"message": "m"}}], ["support#1"]),
        ([{"when": {"caller": {}}, "then": {"message": "m"}}], ["support#1"]),
        ([{"then": {"overflow": "support"}}], ["support#1"]),
        # An earlier rule that always fires and takes the caller away shadows the rest...
        (
            [{"then": {"voicemail": "1"}}, {"when": {"ewt": "> 1"}, "then": {"overflow": "sales"}}],
            ["support#2"],
        ),
        (
            [{"after": 60, "then": {"overflow": "sales"}}, {"after": 90, "then": {"hangup": True}}],
            ["support#2"],
        ),
        # ...but not one that fires later, one with a condition, or a message (the caller stays).
        (
            [{"after": 90, "then": {"overflow": "sales"}}, {"after": 60, "then": {"hangup": True}}],
            [],
        ),
        (
            [{"when": {"case_type": ["x"]}, "then": {"hangup": True}}, {"then": {"message": "m"}}],
            [],
        ),
        ([{"then": {"message": "m"}}, {"after": 30, "then": {"hangup": True}}], []),
        # At arrival one rule fires: an unconditional one there shadows a later queue action.
        (
            [
                {"then": {"message": "m"}},
                {"when": {"case_type": ["x"]}, "then": {"queue": {"priority": 1}}},
            ],
            ["support#2"],
        ),
    ],
)
def test_rules_that_can_never_fire_are_found_r_rules(
    rules: list[dict[str, Any]], never: list[str]
) -> None:
    compiled_rules = compiled("support", rules)
    assert [rule.id for rule, _ in never_fires("support", compiled_rules)] == never


def test_check_config_prints_rules_and_warnings_r_rules() -> None:
    config = parse_config(
        _config(
            [
                {"after": 120, "when": {"agents_available": 0}, "then": {"overflow": "sales"}},
                {"when": {"queue_length": "< 0"}, "then": {"overflow": "sales"}},
            ]
        )
    )
    assert rule_lines(config) == [
        "rule queues.support.rules #1: after 120 s of waiting, if agents available = 0, overflow"
        " to sales"
        " keeping place",
        "rule queues.support.rules #2: on arrival and while waiting, if queue length < 0,"
        " overflow to sales"
        " keeping place",
        "warning: rule queues.support.rules #2 never fires: queue_length < 0 is impossible (never"
        " negative)",
    ]


def test_compare_impossible_matches_brute_force() -> None:
    for op in ("<", "<=", ">", ">=", "=", "!="):
        for value in (-2.0, -0.5, 0.0, 0.5, 3.0):
            compare = Compare("queue_length", op, value)
            some = any(compare.holds(x / 2) for x in range(0, 20))
            assert compare.impossible() is (not some), (op, value)


def test_conditions_unconditional_and_live() -> None:
    assert Conditions().unconditional() and not Conditions().live()
    assert not Conditions(case_types=frozenset({"x"})).unconditional()
    assert Conditions(windows=((0, 60),)).live()
    assert not Conditions(caller=NumberMatch(numbers=frozenset({"1"}))).live()


def test_a_rule_is_due_at_its_timer_despite_float_rounding_r_rules() -> None:
    """The timer set for ``arrival + after`` comes due with ``now - arrival`` a hair
    below ``after``: the rule fires then, and no timer is set for that same moment again
    (which would spin)."""
    rules = compiled("support", [{"after": 0.3, "when": {"ewt": "> 1"}, "then": {"hangup": True}}])
    arrival = 1795978212.6386473
    now = arrival + 0.3
    assert now - arrival < 0.3  # the rounding this guards against
    assert (
        first_match(rules, situation(waited=now - arrival, figures=StubFigures(ewt=5))) is rules[0]
    )
    assert next_check(rules, arrival, now, [], 10.0) == now + 10.0


def test_rules_survive_a_dump_and_a_parse() -> None:
    """A reload compares dumped configurations: a rule dumps to what parses back the same."""
    text = _config(
        [
            {
                "when": {"queue_length": "> 10", "ewt": 5, "time": ["22:00-06:00"]},
                "then": {"overflow": ["sales"]},
            },
            {"when": {"caller": {"patterns": ["0709[0-9]+"]}}, "then": {"hangup": True}},
        ]
    )
    config = parse_config(text)
    again = parse_config(json.dumps(config.model_dump(mode="json", exclude_none=True)))
    assert again.queues["support"].rules == config.queues["support"].rules


def test_check_config_says_for_which_case_types_the_wait_is_not_told_r_ewt() -> None:
    text = json.dumps(
        {
            "queues": {
                "support": {"code": 1, "announcements": {"ewt_inhibit_case_types": ["invoice"]}},
            }
        }
    )
    lines = summary(parse_config(text), "f.yaml")
    assert "announcements every 30 s: position+ewt (not for case type invoice)," in lines[1]


def test_a_fired_rule_is_known_by_its_content_across_a_reload_r_liveconf() -> None:
    """The fired list holds id and content: after a reload that changes rule #1, the new
    #1 has not fired for a waiting caller; an unchanged rule keeps its key."""
    before = compiled("support", [{"then": {"message": "a"}}, {"then": {"message": "b"}}])
    after = compiled("support", [{"then": {"message": "c"}}, {"then": {"message": "b"}}])
    assert before[0].id == after[0].id and before[0].key != after[0].key
    assert before[1].key == after[1].key
    assert first_match(after, situation(), fired=[before[0].key]) is after[0]


def test_weekday_ranges_as_in_calendars_r_rules() -> None:
    """R-RULES: `mon-wed` and `fri` as a calendar's hours name them; a backward range is
    refused like there."""
    rule = one({"weekdays": ["mon-wed", "fri"]})
    assert rule.conditions.weekdays == frozenset({0, 1, 2, 4})
    friday = at("2026-12-04 12:00")
    thursday = at("2026-12-03 12:00")
    assert holds(rule.conditions, situation(at=friday))
    assert not holds(rule.conditions, situation(at=thursday))
    with pytest.raises(ValueError, match="runs forward"):
        one({"weekdays": ["fri-mon"]})


def test_an_overnight_window_with_weekdays_is_explained_as_it_behaves_r_rules() -> None:
    """`fri` + `22:00-06:00`: the weekday is the day the clock shows, so the rule holds on
    Friday 22:00-24:00 and Friday 00:00-06:00 (not Saturday morning); the explanation says
    exactly that."""
    rule = one({"weekdays": ["fri"], "time": ["22:00-06:00"]})
    text = explain(rule)
    assert "on fri" in text and "22:00-24:00 or 00:00-06:00" in text, text
    assert "does not run on into the next day" in text, text
    assert holds(rule.conditions, situation(at=at("2026-12-04 23:00")))  # Friday evening
    assert holds(rule.conditions, situation(at=at("2026-12-04 03:00")))  # Friday early
    assert not holds(rule.conditions, situation(at=at("2026-12-05 03:00")))  # Saturday
