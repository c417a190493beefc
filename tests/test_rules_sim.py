"""Rules and overflow end to end: simulator with the shipped dialplan, real Redis, the
engine over TCP (R-RULES, R-OVERFLOW, R-EWT). Pure evaluator tests: tests/test_rules.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import redis
from pydantic import TypeAdapter

from acd.adapters.queue_load import RedisQueueLoad
from acd.config.rules import Rules, compile_rules
from acd.engine.calendar import Calendars, CalendarSpec, weekly_from
from acd.engine.hours import HoursSettings, QueueHours
from acd.engine.rule_flow import QueueLoad, SnapshotLoad
from acd.engine.rules import RuleBook
from freeswitch.media import Playable, SoundFile
from freeswitch.sim import AgentPhone
from routing.api import AgentProfile, Contact, QueueConfig
from routing.store import RedisRouter
from tests.engine_harness import Harness, Start, default_settings

SUPPORT = "7000"  # shipped dialplan: queue support, sv, answered
SALES = "7001"  # queue sales, en, unanswered (ringback)
RULES = TypeAdapter(Rules)


def prompt_file(prompt_id: str, language: str) -> Playable:
    return SoundFile(f"/srv/prompts/{language}/{prompt_id}.wav")


@dataclass
class CountingLoad:
    """Counts the queue reads the rules make (the hot path must make none)."""

    inner: Any
    queues: list[str] = field(default_factory=list)

    def load(self, queue: str, now: float) -> QueueLoad:
        self.queues.append(queue)
        result: QueueLoad = self.inner.load(queue, now)
        return result


def start_with_rules(
    start: Start, rules: dict[str, list[dict[str, Any]]], recheck: float = 10.0, **kw: Any
) -> tuple[Harness, CountingLoad]:
    book = RuleBook(
        {q: compile_rules(q, RULES.validate_python(r)) for q, r in rules.items()},
        prompt_file,
        recheck,
    )
    settings = replace(kw.pop("settings", default_settings()), rules=book)
    acd = start(settings=settings, **kw)
    counting = CountingLoad(RedisQueueLoad(acd.router.client, acd.router.keys.tenant))
    acd.engine.queue_load = counting
    return acd, counting


def phones(acd: Harness, *agents: str) -> None:
    for agent in agents:
        acd.sim.add_agent_phone(AgentPhone(f"user/{agent}", answer_after=0.1))


def waiting_in(acd: Harness, contact: str) -> str | None:
    view = acd.router.snapshot().contacts.get(contact)
    return None if view is None else view.queue


def test_overflow_after_n_seconds_keeps_the_callers_place_r_overflow(start: Start) -> None:
    """R-OVERFLOW: nobody logged in to support; after 0.5 s its caller moves to sales with
    its own arrival, so it is served before a sales caller who arrived after it."""
    acd, load = start_with_rules(
        start,
        {
            "support": [
                {"after": 0.5, "when": {"agents_logged_in": 0}, "then": {"overflow": "sales"}}
            ]
        },
    )
    phones(acd, "1001")
    early = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=early)
    late = acd.sim.place_call("0701000002", SALES)
    acd.wait_fact("queued", contact=late)
    moved = acd.wait_fact("overflowed", contact=early)
    assert moved.data == {"contact": early, "queue": "support", "to": "sales"}
    assert waiting_in(acd, early) == "sales"
    assert load.queues == ["support"]  # one read, when the rule came due
    arrival = acd.store.get_call(early)
    assert arrival is not None and arrival.priority == 0  # an overflow is no priority transfer
    acd.login("1001", ("sales",))
    first = acd.wait_fact("bridged")
    assert first.data["contact"] == early
    assert waiting_in(acd, late) == "sales"
    assert [f.data["rule"] for f in acd.kinds("rule_fired")] == ["support#1"]


def test_no_overflow_while_the_condition_does_not_hold_r_overflow(start: Start) -> None:
    """The same rule with an agent logged in to support (busy): the caller stays."""
    acd, load = start_with_rules(
        start,
        {
            "support": [
                {"after": 0.3, "when": {"agents_logged_in": 0}, "then": {"overflow": "sales"}}
            ]
        },
        recheck=0.1,
    )
    phones(acd, "1001")
    acd.login("1001", ("support",))
    busy = acd.sim.place_call("0701000009", SUPPORT)
    acd.wait_fact("bridged", contact=busy)
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=caller)
    # Two reads: the first evaluation (at 0.3 s) is over once the re-check has started.
    assert acd.wait(lambda: len(load.queues) >= 2), (load.queues, acd.store.get_call(caller))
    assert acd.kinds("overflowed") == [] and acd.kinds("rule_fired") == []
    assert waiting_in(acd, caller) == "support"


def test_overflow_when_the_expected_wait_passes_m_r_overflow(start: Start) -> None:
    """R-OVERFLOW on a threshold: EWT = position x 30 s (one agent, initial AHT 30 s);
    the rule overflows callers whose expected wait is over 70 s: the third and fourth."""
    acd, _ = start_with_rules(
        start,
        {"support": [{"when": {"ewt": "> 70"}, "then": {"overflow": "sales"}}]},
        queue_options={"initial_aht": 30.0},
    )
    callers = []
    for n in range(1, 5):
        caller = acd.sim.place_call(f"070100000{n}", SUPPORT)
        acd.wait_fact("queued", contact=caller)
        callers.append(caller)
    acd.wait_fact("overflowed", count=1, contact=callers[2])
    assert [waiting_in(acd, c) for c in callers[:2]] == ["support", "support"]
    # The third left, so the fourth is third again (ewt 90 s > 70 s): it overflows too.
    acd.wait_fact("overflowed", contact=callers[3])
    assert waiting_in(acd, callers[3]) == "sales"


def test_rule_rechecked_while_waiting_on_a_figure_r_rules(start: Start) -> None:
    """A waiting caller's figures are read again every re-check: the longest wait passes
    0.4 s while it waits and the rule then fires."""
    acd, load = start_with_rules(
        start,
        {"support": [{"when": {"longest_wait": "> 0.4"}, "then": {"overflow": "sales"}}]},
        recheck=0.1,
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    queued = acd.wait_fact("queued", contact=caller)
    moved = acd.wait_fact("overflowed", contact=caller)
    assert acd.stamp(moved) - acd.stamp(queued) >= 0.4
    assert len(load.queues) >= 2  # read at arrival and at least once while waiting


def test_forward_transfers_to_the_shipped_dialplan_target_r_rules(start: Start) -> None:
    """R-RULES: a listed caller number is forwarded before it is ever queued (uuid_transfer
    to acd-forward-<number> in context acd); another caller is queued as usual."""
    acd, load = start_with_rules(
        start,
        {
            "support": [
                {
                    "when": {"caller": {"numbers": ["0701000099"]}},
                    "then": {"forward": "+46812345678"},
                }
            ]
        },
    )
    forwarded = acd.sim.place_call("0701000099", SUPPORT)
    fired = acd.wait_fact("rule_fired", contact=forwarded)
    assert fired.data["action"] == "forward"
    assert acd.wait(
        lambda: (
            f"api uuid_transfer {forwarded} acd-forward-+46812345678 XML acd"
            in acd.commands("api uuid_transfer")
        )
    )
    channel = acd.sim.channels[forwarded]
    assert acd.wait(lambda: not channel.parked)
    assert channel.variables.get("acd_queue") == "support"  # unset is the real FreeSWITCH's
    assert acd.kinds("queued") == [] and acd.store.get_call(forwarded) is None
    other = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=other)
    assert load.queues == []  # caller-number rules read no figures


def test_voicemail_while_waiting_leaves_routing_r_rules(start: Start) -> None:
    """After 0.3 s of waiting the caller goes to voicemail box 2000 (the shipped extension
    answers, runs voicemail and hangs up); routing and the store forget it."""
    acd, _ = start_with_rules(start, {"support": [{"after": 0.3, "then": {"voicemail": "2000"}}]})
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=caller)
    assert acd.wait_fact("rule_fired", contact=caller).data["action"] == "voicemail"
    assert acd.wait(lambda: caller not in acd.sim.channels)
    assert f"api uuid_transfer {caller} acd-voicemail-2000 XML acd" in acd.commands("api")
    assert waiting_in(acd, caller) is None and acd.store.get_call(caller) is None
    assert acd.kinds("abandoned") == []


def test_hangup_with_a_message_plays_then_hangs_up_r_rules(start: Start) -> None:
    """Play the prompt (queued sendmsg execute), then hang up: in that order."""
    acd, _ = start_with_rules(start, {"support": [{"after": 0.2, "then": {"hangup": "closed"}}]})
    played: list[str] = []
    acd.sim.on_event(
        lambda e: (
            played.append(e.get("Playback-File-Path") or "") if e.name == "PLAYBACK_START" else None
        )
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=caller)
    acd.wait_fact("rule_fired", contact=caller)
    assert acd.wait(lambda: caller not in acd.sim.channels)
    sent = acd.requests_to(caller)
    play = next(i for i, s in enumerate(sent) if "/srv/prompts/sv/closed.wav" in s)
    hang = next(i for i, s in enumerate(sent) if "execute-app-name: hangup" in s)
    assert play < hang
    assert "/srv/prompts/sv/closed.wav" in played
    assert waiting_in(acd, caller) is None


def test_message_plays_then_the_caller_keeps_waiting_r_rules(start: Start) -> None:
    """A message breaks the hold music, plays, and the music resumes (R-NOSILENCE); the
    caller keeps its place and is served later."""
    acd, _ = start_with_rules(start, {"support": [{"after": 0.2, "then": {"message": "lunch"}}]})
    phones(acd, "1001")
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=caller)
    acd.wait_fact("rule_fired", contact=caller)
    assert acd.wait(
        lambda: any(
            "/srv/prompts/sv/lunch.wav" in c for c in acd.commands(f"api uuid_broadcast {caller}")
        )
    )
    broadcasts = acd.commands(f"api uuid_broadcast {caller}")
    lunch = next(i for i, c in enumerate(broadcasts) if "lunch.wav" in c)
    assert "local_stream://moh" in broadcasts[lunch + 1]
    assert waiting_in(acd, caller) == "support"
    acd.login("1001", ("support",))
    acd.wait_fact("bridged", contact=caller)
    assert len(acd.kinds("rule_fired")) == 1  # once per caller


def test_queue_action_sets_case_type_priority_and_inhibits_ewt_r_ewt(start: Start) -> None:
    """A caller-number rule gives case type vip and priority 50: it is served before an
    earlier caller, and (R-EWT) no expected wait is told for case type vip."""
    settings = default_settings(ewt_inhibit_case_types=frozenset({"vip"}))
    acd, _ = start_with_rules(
        start,
        {
            "support": [
                {
                    "when": {"caller": {"prefixes": ["0709"]}},
                    "then": {"queue": {"case_type": "vip", "priority": 50}},
                }
            ]
        },
        settings=settings,
        queue_options={"initial_aht": 30.0, "min_samples": 1},
    )
    phones(acd, "1001")
    acd.login("1001", ("support",))
    done = acd.sim.place_call("0701000000", SUPPORT)  # one handled call: ewt is certain
    acd.wait_fact("bridged", contact=done)
    acd.sim.hangup(done)
    acd.wait_fact("completed", contact=done)
    busy = acd.sim.place_call("0701000008", SUPPORT)
    acd.wait_fact("bridged", contact=busy)
    plain = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("announced", contact=plain)
    vip = acd.sim.place_call("0709000001", SUPPORT)
    acd.wait_fact("announced", contact=vip)
    record = acd.store.get_call(vip)
    assert record is not None and (record.case_type, record.priority) == ("vip", 50)
    assert any("acd_ewt" in c for c in acd.commands(f"api uuid_broadcast {plain}"))
    assert not any("acd_ewt" in c for c in acd.commands(f"api uuid_broadcast {vip}"))
    acd.sim.hangup(busy)
    assert acd.wait_fact("bridged", count=3).data["contact"] == vip


def test_a_queue_without_rules_costs_nothing_extra_r_rules(start: Start) -> None:
    """The hot path: with rules only on sales, a support caller's arrival reads no queue
    figures and sets no rules timer."""
    acd, load = start_with_rules(
        start, {"sales": [{"when": {"queue_length": "> 100"}, "then": {"hangup": True}}]}
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("announced", contact=caller)
    assert load.queues == []
    sales = acd.sim.place_call("0701000002", SALES)
    acd.wait_fact("queued", contact=sales)
    assert acd.wait(lambda: load.queues == ["sales"])


@pytest.mark.parametrize("waiting", [0, 3])
def test_redis_queue_load_agrees_with_the_snapshot(
    redis_client: redis.Redis, tenant: str, waiting: int
) -> None:
    """The one-round-trip Redis read gives the same figures as routing's snapshot."""
    router = RedisRouter(redis_client, tenant)
    now = 1_800_000_000.0
    router.put_queue(QueueConfig("support", reservation_timeout=30.0), now)
    for agent in ("1001", "1002", "1003"):
        router.put_agent(AgentProfile(agent, {}, ("sv",)), now)
    router.login("1001", ["support"], now)
    router.login("1002", ["support"], now)
    router.pause("1002", "lunch", now)
    for n in range(waiting):
        router.arrive(Contact(f"c{n}", "voice", "support", now + n), now + n)
    later = now + 10

    class Bare:
        pass

    engine: Any = Bare()
    engine.router = router
    expected = SnapshotLoad(engine).load("support", later)
    assert RedisQueueLoad(redis_client, tenant).load("support", later) == expected
    assert expected.logged_in == 2 and expected.waiting == max(0, waiting - 1)


def test_overflow_at_arrival_to_the_best_of_a_group_r_overflow(start: Start) -> None:
    """A called-number rule sends the caller to a group before it is queued: of billing
    and sales, the one with a free agent (sales); the caller is queued there only."""
    settings = default_settings()
    billing = replace(settings.queues["sales"], name="billing")
    settings = replace(settings, queues={**settings.queues, "billing": billing})
    acd, load = start_with_rules(
        start,
        {
            "support": [
                {
                    "when": {"called": {"numbers": [SUPPORT]}},
                    "then": {"overflow": ["billing", "sales"]},
                }
            ]
        },
        settings=settings,
    )
    acd.sim.add_agent_phone(AgentPhone("user/1001", behaviour="no_answer"))
    acd.login("1001", ("sales",))
    caller = acd.sim.place_call("0701000001", SUPPORT)
    moved = acd.wait_fact("overflowed", contact=caller)
    assert moved.data == {"contact": caller, "queue": "support", "to": "sales"}
    assert acd.wait_fact("queued", contact=caller).data["queue"] == "sales"
    assert sorted(load.queues) == ["billing", "sales"]  # one read per queue of the group
    assert acd.wait_fact("offered", contact=caller).data["agent"] == "1001"


def test_message_on_a_figure_waits_for_the_music_then_breaks_it_r_rules(start: Start) -> None:
    """A message whose rule needs figures fires once queued, but only after the hold music
    has settled: break, the message, the music again (R-NOSILENCE)."""
    acd, _ = start_with_rules(
        start, {"support": [{"when": {"agents_logged_in": 0}, "then": {"message": "nobody"}}]}
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    queued = acd.wait_fact("queued", contact=caller)
    fired = acd.wait_fact("rule_fired", contact=caller)
    assert acd.stamp(fired) - acd.stamp(queued) >= 0.9

    def sent() -> list[str]:
        return [
            line
            for line in acd.commands("api uuid_")
            if caller in line and ("uuid_break" in line or "uuid_broadcast" in line)
        ]

    # The fact is observed as the effects are carried out, before their commands reach
    # the simulator: wait for the music after the message.
    assert acd.wait(lambda: any("nobody.wav" in line for line in sent()[:-1]))
    lines = sent()
    message = next(i for i, line in enumerate(lines) if "nobody.wav" in line)
    assert "uuid_break" in lines[message - 1]
    assert "local_stream://moh" in lines[message + 1]


def test_message_at_arrival_answers_an_unanswered_caller_first_r_rules(start: Start) -> None:
    """Sales parks its callers unanswered (ringback); a message needs media: the engine
    answers, plays the message, and the caller then hears hold music, not ringback."""
    acd, _ = start_with_rules(start, {"sales": [{"then": {"message": "hello"}}]})
    caller = acd.sim.place_call("0701000001", SALES)
    acd.wait_fact("queued", contact=caller)
    assert acd.wait_fact("rule_fired", contact=caller).data["action"] == "message"
    assert acd.wait(
        lambda: any("local_stream://moh" in c for c in acd.commands(f"api uuid_broadcast {caller}"))
    )
    sent = [c for c in acd.commands("api uuid_") if caller in c]
    answer = next(i for i, c in enumerate(sent) if c.startswith("api uuid_answer"))
    hello = next(i for i, c in enumerate(sent) if "/srv/prompts/en/hello.wav" in c)
    music = next(i for i, c in enumerate(sent) if "local_stream://moh" in c)
    assert answer < hello < music
    assert not any("tone_stream" in c for c in sent)  # no ringback once answered
    assert waiting_in(acd, caller) == "sales"


def test_hangup_at_arrival_on_weekdays_never_queues_r_rules(start: Start) -> None:
    """Every weekday listed (the time condition read live): the caller hears the prompt
    and is hung up without ever being queued."""
    week = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    acd, _ = start_with_rules(
        start, {"support": [{"when": {"weekdays": week}, "then": {"hangup": "closed"}}]}
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("rule_fired", contact=caller)
    assert acd.wait(lambda: caller not in acd.sim.channels)
    assert acd.kinds("queued") == [] and waiting_in(acd, caller) is None
    assert any("/srv/prompts/sv/closed.wav" in s for s in acd.requests_to(caller))


def test_calendar_state_condition_reads_the_engines_calendars_r_rules(start: Start) -> None:
    """Rule conditions ask the configured calendars (with the admin API's exceptions):
    "always" is open, so rule #1 does not fire; "never" is closed, so #2 sends the caller
    to voicemail. The queue itself has no calendar, so the closed-hours flow stays out."""
    always = CalendarSpec(
        "always", weekly=weekly_from({d: ((0, 1440),) for d in range(7)}), holidays=None
    )
    never = CalendarSpec("never", weekly=weekly_from({}), holidays=None)
    hours = HoursSettings(
        calendars=Calendars({"always": always, "never": never}), queues={}, prompt=prompt_file
    )
    acd, _ = start_with_rules(
        start,
        {
            "support": [
                {
                    "when": {"calendar": "always", "calendar_state": ["closed"]},
                    "then": {"hangup": True},
                },
                {
                    "when": {"calendar": "never", "calendar_state": ["closed", "holiday"]},
                    "then": {"voicemail": "4000"},
                },
            ]
        },
        settings=replace(default_settings(), hours=hours),
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    assert acd.wait_fact("rule_fired", contact=caller).data["rule"] == "support#2"
    assert acd.wait(
        lambda: f"api uuid_transfer {caller} acd-voicemail-4000 XML acd" in acd.commands("api")
    )
    assert acd.kinds("queued") == []


def test_overflow_at_arrival_then_the_new_queues_rules_apply_r_overflow(start: Start) -> None:
    """Overflowed at arrival from support to sales, the caller meets sales' rules at once
    (here: its number is sent to voicemail)."""
    acd, _ = start_with_rules(
        start,
        {
            "support": [{"then": {"overflow": "sales"}}],
            "sales": [
                {"when": {"caller": {"numbers": ["0701000001"]}}, "then": {"voicemail": "4000"}}
            ],
        },
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("overflowed", contact=caller)
    assert acd.wait_fact("rule_fired", 2, contact=caller).data["rule"] == "sales#1"
    assert acd.wait(lambda: caller not in acd.sim.channels)
    assert waiting_in(acd, caller) is None


def _closed_billing() -> Any:
    """Settings with a third queue, billing, whose calendar is always closed."""
    settings = default_settings()
    billing = replace(settings.queues["sales"], name="billing")
    never = CalendarSpec("never", weekly=weekly_from({}), holidays=None)
    hours = HoursSettings(
        calendars=Calendars({"never": never}),
        queues={"billing": QueueHours("never")},
        prompt=prompt_file,
    )
    return replace(settings, queues={**settings.queues, "billing": billing}, hours=hours)


def test_overflow_to_a_group_skips_a_closed_queue_r_overflow_r_calendar(start: Start) -> None:
    """R-OVERFLOW + R-CALENDAR: of billing and sales (equal figures, so the first listed,
    billing, would win) billing's calendar is closed: the caller goes to sales, as an
    overflow never strands a caller in a closed queue."""
    acd, _ = start_with_rules(
        start,
        {"support": [{"then": {"overflow": ["billing", "sales"]}}]},
        settings=_closed_billing(),
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    moved = acd.wait_fact("overflowed", contact=caller)
    assert moved.data["to"] == "sales"
    assert acd.wait_fact("queued", contact=caller).data["queue"] == "sales"


def test_overflow_whose_targets_are_all_closed_does_not_fire_r_overflow_r_calendar(
    start: Start,
) -> None:
    """R-OVERFLOW + R-CALENDAR: the only target (billing) is closed: the overflow rule does
    not fire, at arrival nor while waiting; the next rule (a message) does, and the caller
    keeps waiting in support."""
    acd, _ = start_with_rules(
        start,
        {
            "support": [
                {"then": {"overflow": "billing"}},
                {"after": 0.3, "then": {"message": "still"}},
            ]
        },
        recheck=0.1,
        settings=_closed_billing(),
    )
    caller = acd.sim.place_call("0701000001", SUPPORT)
    acd.wait_fact("queued", contact=caller)
    assert acd.wait_fact("rule_fired", contact=caller).data["rule"] == "support#2"
    assert acd.kinds("overflowed") == []
    assert [f.data["rule"] for f in acd.kinds("rule_fired")] == ["support#2"]
    assert waiting_in(acd, caller) == "support"
