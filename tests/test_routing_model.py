"""Unit tests of each rule on the reference model, including what only the model shows
directly (timers, scores, statistics). The contract suite checks the public behaviour on
both routers; the state machine checks that they agree."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.api import AgentProfile, Contact, EscalationStep, QueueConfig, Target
from routing.model import ReferenceRouter
from routing.model_state import ContactRec, apply_steps, contact_score, over_threshold
from routing.validation import MAX_TIME


def world(**queue_options: object) -> ReferenceRouter:
    router = ReferenceRouter()
    router.put_queue(QueueConfig("q", **queue_options), 0.0)  # type: ignore[arg-type]
    return router


def staff(router: ReferenceRouter, agent_id: str, now: float, **options: object) -> None:
    router.put_agent(AgentProfile(agent_id, languages=("en",), **options), now)  # type: ignore[arg-type]
    router.login(agent_id, ["q"], now)


def rec(arrival: float, queues: list[str], steps: tuple[EscalationStep, ...]) -> ContactRec:
    return ContactRec("c", "voice", queues[0], list(queues), {"x": 3}, "sv", 0, arrival, 0, steps)


times = st.floats(0.0, MAX_TIME, exclude_max=True, allow_nan=False)


@given(st.integers(0, 1000), times, st.integers(0, 1000), times)
def test_score_orders_priority_then_arrival(p1: int, t1: float, p2: int, t2: float) -> None:
    """R-PRIO: one float per contact sorts by priority (desc), then arrival in ms (asc)."""
    s1, s2 = contact_score(p1, t1), contact_score(p2, t2)
    k1 = (-p1, math.floor(t1 * 1000 + 0.5))
    k2 = (-p2, math.floor(t2 * 1000 + 0.5))
    assert (s1 < s2) == (k1 < k2)
    assert 0 <= s1 < 2**53  # exact as a double, in Lua and in a Redis score


def test_escalation_steps_apply_cumulatively_and_skip_unknown_queues() -> None:
    steps = (
        EscalationStep(5.0, levels={"x": 1, "y": 2}),
        EscalationStep(5.0, add_queues=("nowhere", "q2")),
        EscalationStep(9.0, levels={"x": 0}, drop_language=True),
    )
    contact = rec(10.0, ["q"], steps)
    assert apply_steps(contact, 14.9, {"q", "q2"}) == (False, [])
    assert apply_steps(contact, 15.0, {"q", "q2"}) == (True, ["q2"])
    assert (contact.req, contact.queues, contact.applied) == ({"x": 1, "y": 2}, ["q", "q2"], 2)
    assert apply_steps(contact, 19.0, {"q", "q2"}) == (True, [])
    assert (contact.req, contact.language) == ({"y": 2}, None)


def test_passive_thresholds_count_or_longest_wait() -> None:
    """R-PASSIVE: over at N waiting, or at T seconds of the oldest wait; else never."""
    waiting = [rec(10.0, ["q"], ()), rec(20.0, ["q"], ())]
    assert over_threshold(QueueConfig("q", passive_waiting=2), waiting, 0.0)
    assert not over_threshold(QueueConfig("q", passive_waiting=3), waiting, 0.0)
    assert not over_threshold(QueueConfig("q", passive_wait_seconds=5.0), waiting, 14.9)
    assert over_threshold(QueueConfig("q", passive_wait_seconds=5.0), waiting, 15.0)
    assert not over_threshold(QueueConfig("q"), waiting, 1e6)
    assert not over_threshold(QueueConfig("q", passive_waiting=1), [], 0.0)
    assert not over_threshold(None, waiting, 0.0)


def test_timers_follow_the_contact_and_the_agent() -> None:
    router = world(
        escalation=(EscalationStep(10.0, levels={"x": 1}),),
        reservation_timeout=20.0,
        wrap_up_seconds=7.0,
    )
    staff(router, "mine", 0.0)
    router.pause("mine", "lunch", 0.0)
    router.arrive(Contact("c", "voice", "q", 1.0, target=Target("mine", "private", 30.0)), 2.0)
    assert router.timers == {"e|c": 11.0, "x|c": 31.0}
    router.unpause("mine", 3.0)
    assert router.timers == {"e|c": 11.0, "x|c": 31.0, "r|c": 23.0}
    router.confirm("c#1", 4.0)
    assert router.timers == {}
    router.complete("c", 5.0, 1.0)
    assert router.timers == {"w|mine": 12.0}
    assert router.agents["mine"].presence == "wrap_up"


def test_passive_timer_tracks_the_oldest_waiting_contact() -> None:
    router = world(passive_wait_seconds=30.0)
    router.arrive(Contact("c1", "voice", "q", 10.0), 10.0)
    router.arrive(Contact("c0", "callback", "q", 5.0), 11.0)
    assert router.timers == {"p|q": 35.0}
    router.abandon("c0", 12.0)
    assert router.timers == {"p|q": 40.0}
    router.abandon("c1", 13.0)
    assert router.timers == {}


def test_arrival_applies_steps_already_due_for_an_old_callback() -> None:
    """R-CB-PLACE: a call-back keeps its original arrival, escalation included."""
    router = world(skills={"x": 3}, escalation=(EscalationStep(60.0, levels={"x": 1}),))
    staff(router, "a", 0.0, skills={"x": 1})
    made = router.arrive(Contact("cb", "callback", "q", 100.0), 200.0)
    assert [r.agent_id for r in made] == ["a"]
    assert router.contacts["cb"].applied == 1
    assert "e|cb" not in router.timers


def test_channel_priority_is_added_and_capped() -> None:
    router = world(channel_priority={"callback": 10})
    router.arrive(Contact("a", "callback", "q", 1.0, priority=995), 1.0)
    router.arrive(Contact("b", "callback", "q", 1.0, priority=3), 1.0)
    assert (router.contacts["a"].priority, router.contacts["b"].priority) == (1000, 13)


def test_sticky_needs_the_target_in_one_of_the_contacts_queues() -> None:
    """R-STICKY: logged in elsewhere is not enough."""
    router = world()
    router.put_queue(QueueConfig("other"), 0.0)
    router.put_agent(AgentProfile("t"), 0.0)
    router.login("t", ["other"], 0.0)
    router.pause("t", "lunch", 0.0)
    router.arrive(Contact("s", "voice", "q", 1.0, target=Target("t", "sticky", 99.0)), 1.0)
    assert router.contacts["s"].restriction is None
    assert router.contacts["s"].target == "t"


def test_private_contact_ignores_skills_and_passive_flag() -> None:
    """R-PRIVQ: it is the agent's own queue."""
    router = world(skills={"x": 5})
    router.put_queue(QueueConfig("elsewhere"), 0.0)
    router.put_agent(AgentProfile("coach", passive=True), 0.0)
    router.login("coach", ["elsewhere"], 0.0)
    made = router.arrive(Contact("f", "voice", "q", 1.0, target=Target("coach", "private", 9)), 1)
    assert [(r.agent_id, r.contact_id) for r in made] == [("coach", "f")]


def test_released_private_contact_goes_back_to_its_agent() -> None:
    router = world()
    staff(router, "mine", 0.0)
    staff(router, "other", 0.0)
    router.arrive(Contact("f", "voice", "q", 1.0, target=Target("mine", "private", 60.0)), 1.0)
    made = router.release("f#1", 2.0, "paused")
    assert made == []
    assert router.snapshot().targeted == {"mine": ("f",)}


def test_pause_releases_pending_offers_in_contact_order() -> None:
    router = world()
    staff(router, "a", 0.0, chat_capacity=3)
    for cid in ("z", "m", "b"):
        router.arrive(Contact(cid, "chat", "q", 1.0), 1.0)
    staff(router, "b2", 2.0, chat_capacity=3)
    made = router.pause("a", "meeting", 3.0)
    assert [r.contact_id for r in made] == ["b", "m", "z"]
    assert all(r.agent_id == "b2" for r in made)


def test_partial_logout_keeps_pending_offers() -> None:
    router = world()
    router.put_queue(QueueConfig("q2"), 0.0)
    staff(router, "a", 0.0)
    router.login("a", ["q2"], 0.0)
    router.arrive(Contact("c", "voice", "q", 1.0), 1.0)
    router.logout("a", ["q"], 2.0)
    assert router.contacts["c"].state == "reserved"
    router.logout("a", ["q2"], 3.0)
    assert router.contacts["c"].state == "waiting"
    assert router.agents["a"].presence == "logged_out"


def test_handle_time_statistics_are_welford() -> None:
    """R-EWT: running mean and M2 per queue."""
    router = world()
    staff(router, "a", 0.0)
    handles = [30.0, 45.5, 300.25, 12.0]
    for i, handle in enumerate(handles):
        made = router.arrive(Contact(f"c{i}", "chat", "q", float(i)), float(i))
        router.confirm(made[0].id, float(i))
        router.complete(f"c{i}", float(i) + 0.5, handle)
    count, mean, m2 = router.stats["q"]
    assert count == 4
    assert mean == pytest.approx(statistics.fmean(handles))
    assert m2 / (count - 1) == pytest.approx(statistics.variance(handles))


def test_tick_runs_due_timers_in_order_up_to_the_limit() -> None:
    router = world(escalation=(EscalationStep(5.0, levels={}),))
    for cid, arrival in (("b", 1.0), ("a", 1.0), ("c", 0.5)):
        router.arrive(Contact(cid, "voice", "q", arrival), 2.0)
    assert sorted(router.timers.items()) == [("e|a", 6.0), ("e|b", 6.0), ("e|c", 5.5)]
    router.tick(10.0, limit=2)
    assert router.timers == {"e|b": 6.0}
    assert [e.contact for e in router.log_tail(2)] == ["c", "a"]


def test_log_records_the_cascade_in_order() -> None:
    router = world()
    staff(router, "a", 1.0)
    staff(router, "b", 2.0)
    router.arrive(Contact("c", "voice", "q", 3.0), 3.0)
    router.release("c#1", 4.0)
    kinds = [(e.kind, e.agent, e.contact) for e in router.log_tail(4)]
    assert kinds == [
        ("arrive", "", "c"),
        ("reserve", "a", "c"),
        ("release", "a", "c"),
        ("reserve", "b", "c"),
    ]
