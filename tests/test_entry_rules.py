"""Rules per entry (R-RULES): tried once when an entry's caller arrives, before the welcome
and the menu, with the queue rules' evaluator and actions. Configuration checks, the
check-config lines, and callers through the simulator with the shipped dialplan (entry
numbers 71xx), a real Redis and the engine over TCP."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import TypeAdapter

from acd.config import InvalidConfigError, parse_config
from acd.config.entries import entry_rule_owner, menu_book
from acd.config.model import Config
from acd.config.rules import Rules, compile_rules
from acd.config.rules_explain import rule_lines
from acd.engine.calendar import Calendars, CalendarSpec, weekly_from
from acd.engine.hours import HoursSettings
from acd.engine.menus import MenuBook
from acd.engine.rules import RuleBook
from freeswitch.media import Playable, SoundFile
from freeswitch.sim.events import SimEvent
from tests.engine_harness import Harness, Start, default_settings

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
ENTRY = """\
entries:
  kommun:
    number: "7100"
    language: sv
    welcome: welcome
    menu: main
    calendar: office
    rules:
"""
RULES = TypeAdapter(Rules)
KOMMUN = "7100"
FORETAG = "7101"


def _config(rules: str) -> Config:
    return parse_config(BASE + ENTRY + rules, "test.yaml")


def _problems(rules: str) -> str:
    with pytest.raises(InvalidConfigError) as caught:
        _config(rules)
    return str(caught.value)


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("rule", "place", "reason"),
    [
        (
            "{then: {overflow: sales}}",
            "entries.kommun.rules #1.then.overflow",
            "in no queue yet, so there is no place to keep",
        ),
        (
            "{after: 10, then: {hangup: true}}",
            "entries.kommun.rules #1.after",
            "tried once, when the caller arrives",
        ),
        (
            "{when: {queue_length: '> 10'}, then: {voicemail: '2000'}}",
            "entries.kommun.rules #1.when.queue_length",
            "conditions on a queue's figures go in that queue's rules",
        ),
        (
            "{then: {queue: {priority: 3}}}",
            "entries.kommun.rules #1.then.queue",
            "names the queue to join",
        ),
        (
            "{then: {queue: {queue: nowhere}}}",
            "entries.kommun.rules #1.then.queue.queue",
            "no queue named 'nowhere'",
        ),
        (
            "{when: {calendar: nowhere, calendar_state: [closed]}, then: {hangup: night}}",
            "entries.kommun.rules #1.when.calendar",
            "no calendar named 'nowhere'",
        ),
    ],
)
def test_what_an_entry_rule_cannot_do_is_refused_with_its_place_r_rules(
    rule: str, place: str, reason: str
) -> None:
    message = _problems(f"      - {rule}\n")
    assert place in message and reason in message


def test_entry_rules_compile_with_the_entrys_calendar_and_explain_in_one_line_r_rules() -> None:
    """R-RULES: `acd check-config` explains each entry rule in one line; a calendar state
    with no calendar named uses the entry's own calendar."""
    config = _config(
        "      - {name: VIP, when: {caller: {numbers: ['0701000001']}},"
        " then: {queue: {queue: sales, case_type: vip, priority: 9}}}\n"
        "      - {when: {calendar_state: [closed, holiday]}, then: {hangup: night}}\n"
        "      - {when: {called: {prefixes: ['7101']}}, then: {forward: '+46812345678'}}\n"
    )
    rules = menu_book(config).entries["kommun"].rules
    assert [r.id for r in rules] == ["entry:kommun#1", "entry:kommun#2", "entry:kommun#3"]
    assert rules[1].conditions.calendar == "office"
    lines = [line for line in rule_lines(config) if "entries.kommun" in line]
    assert lines == [
        'rule entries.kommun.rules #1 "VIP": when a caller arrives, before the welcome, if caller'
        " number is 0701000001, queue with sales, case type vip, priority 9",
        "rule entries.kommun.rules #2: when a caller arrives, before the welcome, if calendar"
        " office"
        " is closed or holiday, play night, then hang up",
        "rule entries.kommun.rules #3: when a caller arrives, before the welcome, if called number"
        " starts with 7101, forward to +46812345678",
    ]


def test_a_rule_after_an_unconditional_queue_rule_never_fires_r_rules() -> None:
    config = _config("      - {then: {queue: {queue: sales}}}\n      - {then: {hangup: night}}\n")
    assert (
        "warning: rule entries.kommun.rules #2 never fires: entries.kommun.rules #1 always fires"
        " first" in (rule_lines(config))
    )


# ------------------------------------------------------------------ callers


def _prompt(prompt_id: str, language: str) -> Playable:
    return SoundFile(f"/srv/prompts/{language}/{prompt_id}.wav")


def _book(rules: list[dict[str, Any]], calendar: str | None = None) -> MenuBook:
    """Entries kommun (7100) and foretag (7101), both with ``rules``."""
    config = parse_config(
        BASE + 'entries:\n  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}\n'
        '  foretag: {number: "7101", language: sv, welcome: welcome, menu: main}\n',
        "test.yaml",
    )
    book = menu_book(config, _prompt)
    settings = RULES.validate_python(rules)
    entries = {
        name: replace(
            plan, rules=compile_rules(entry_rule_owner(name), settings, calendar=calendar)
        )
        for name, plan in book.entries.items()
    }
    return replace(book, entries=entries)


def _start(start: Start, rules: list[dict[str, Any]], **kw: Any) -> Harness:
    settings = kw.pop("settings", default_settings())
    # Rule prompts resolve like the menus' (the engine's RuleBook holds the resolver).
    return start(
        settings=replace(
            settings, menus=_book(rules, kw.pop("calendar", None)), rules=RuleBook({}, _prompt)
        ),
        **kw,
    )


def _played(acd: Harness) -> list[str]:
    paths: list[str] = []

    def seen(event: SimEvent) -> None:
        if event.name == "PLAYBACK_START":
            paths.append(event.get("Playback-File-Path") or "")

    acd.sim.on_event(seen)
    return paths


def _menu_asked(acd: Harness, caller: str) -> bool:
    return any("play_and_get_digits" in r for r in acd.requests_to(caller))


VIP = {
    "name": "VIP",
    "when": {"caller": {"numbers": ["0701000001", "0701000002"]}},
    "then": {"queue": {"queue": "sales", "case_type": "vip", "priority": 9}},
}


def test_caller_number_list_sends_vips_straight_to_a_queue_r_rules(start: Start) -> None:
    """R-RULES: a caller on the list skips the welcome and the menu: queued in sales with
    the rule's case type and priority; a caller not on it hears the welcome and the menu."""
    acd = _start(start, [VIP])
    vip = acd.sim.place_call("0701000002", KOMMUN)
    queued = acd.wait_fact("queued", contact=vip)
    assert queued.data["queue"] == "sales"
    fired = acd.wait_fact("rule_fired", contact=vip)
    assert fired.data == {
        "contact": vip,
        "queue": "sales",
        "entry": "kommun",
        "rule": "entry:kommun#1",
        "action": "queueaction",
    }
    view = acd.router.snapshot().contacts[vip]
    assert (view.queue, view.priority) == ("sales", 9)
    record = acd.store.get_call(vip)
    assert record is not None and record.case_type == "vip"
    assert not _menu_asked(acd, vip)
    assert not any("welcome.wav" in r for r in acd.requests_to(vip))

    other = acd.sim.place_call("0709999999", KOMMUN)
    acd.wait_fact("menu_entered", contact=other)
    assert acd.wait(lambda: _menu_asked(acd, other))
    assert not [f for f in acd.kinds("rule_fired") if f.data["contact"] == other]


def test_called_number_rule_picks_the_queue_r_rules(start: Start) -> None:
    """R-RULES: the called number (B) of the entry's caller: 7101 goes to sales, 7100
    (the same rules) to the menu."""
    acd = _start(
        start,
        [{"when": {"called": {"numbers": [FORETAG]}}, "then": {"queue": {"queue": "sales"}}}],
    )
    business = acd.sim.place_call("0701000003", FORETAG)
    assert acd.wait_fact("queued", contact=business).data["queue"] == "sales"
    assert acd.wait_fact("rule_fired", contact=business).data["entry"] == "foretag"
    record = acd.store.get_call(business)
    assert record is not None and record.called_number == FORETAG
    citizen = acd.sim.place_call("0701000004", KOMMUN)
    acd.wait_fact("menu_entered", contact=citizen)
    assert acd.wait(lambda: _menu_asked(acd, citizen))


def test_closed_calendar_plays_the_night_message_and_hangs_up_r_rules_r_calendar(
    start: Start,
) -> None:
    """R-RULES, R-CALENDAR: the entry's calendar is closed: the night message plays, then
    the caller is hung up; no welcome, no menu, never queued."""
    never = CalendarSpec("never", weekly=weekly_from({}), holidays=None)
    hours = HoursSettings(calendars=Calendars({"never": never}), queues={}, prompt=_prompt)
    acd = _start(
        start,
        [{"when": {"calendar_state": ["closed", "holiday"]}, "then": {"hangup": "night"}}],
        calendar="never",
        settings=replace(default_settings(), hours=hours),
    )
    played = _played(acd)
    caller = acd.sim.place_call("0701000005", KOMMUN)
    assert acd.wait_fact("rule_fired", contact=caller).data["action"] == "hangup"
    assert acd.wait(lambda: caller not in acd.sim.channels)
    assert "/srv/prompts/sv/night.wav" in played
    sent = acd.requests_to(caller)
    night = next(i for i, s in enumerate(sent) if "night.wav" in s)
    hangup = next(i for i, s in enumerate(sent) if "execute-app-name: hangup" in s)
    assert night < hangup
    assert not _menu_asked(acd, caller) and not any("welcome.wav" in s for s in sent)
    assert acd.kinds("queued") == [] and acd.store.get_call(caller) is None


@pytest.mark.parametrize(
    ("action", "target"),
    [
        ({"forward": "+46812345678"}, "acd-forward-+46812345678"),
        ({"voicemail": "2000"}, "acd-voicemail-2000"),
    ],
)
def test_forward_and_voicemail_take_the_caller_before_the_welcome_r_rules(
    start: Start, action: dict[str, str], target: str
) -> None:
    acd = _start(start, [{"when": {"caller": {"prefixes": ["0701"]}}, "then": action}])
    caller = acd.sim.place_call("0701000006", KOMMUN)
    acd.wait_fact("rule_fired", contact=caller)
    assert acd.wait(
        lambda: f"api uuid_transfer {caller} {target} XML acd" in acd.commands("api uuid_transfer")
    )
    assert not _menu_asked(acd, caller)
    assert acd.kinds("menu_entered") == [] and acd.kinds("queued") == []
    assert acd.store.get_call(caller) is None


def test_message_plays_then_the_welcome_and_the_menu_r_rules(start: Start) -> None:
    """A message rule plays its prompt, then the caller goes on: welcome, menu."""
    acd = _start(
        start, [{"when": {"called": {"numbers": [KOMMUN]}}, "then": {"message": "strike"}}]
    )
    played = _played(acd)
    caller = acd.sim.place_call("0701000007", KOMMUN)
    acd.wait_fact("menu_entered", contact=caller)
    assert acd.wait(lambda: _menu_asked(acd, caller))
    assert acd.wait(lambda: "/srv/prompts/sv/welcome.wav" in played)
    assert played.index("/srv/prompts/sv/strike.wav") < played.index("/srv/prompts/sv/welcome.wav")
    assert acd.wait_fact("rule_fired", contact=caller).data["action"] == "message"
