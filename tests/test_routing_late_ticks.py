"""Late ticks, on both routers: a timer takes effect at its due time, in due order, however
late ``tick`` runs it (docs/ROUTING.md, "Late ticks"; issue 11, part 4).

Each case is worked out by hand from the spec: what would have happened had the tick come
exactly at each due time. Several also say what the old behaviour (everything at the
tick's time) gave instead, which is what the case guards against.
"""

from __future__ import annotations

from routing.api import (
    AgentProfile,
    Contact,
    EscalationStep,
    LogEntry,
    QueueConfig,
    Reservation,
    Router,
    Target,
)
from tests.test_routing_contract import agent, call, pairs, queue, serve


def wrap_up_world(router: Router) -> None:
    """The issue's set-up: zed, bob, amy log in at 1, 2, 3, take one call each (arrive
    10+i, confirm 11+i) and complete at 100, 101, 102; wrap-up 30 s ends at 130, 131, 132."""
    router.put_queue(QueueConfig("q1", wrap_up_seconds=30.0), 0.0)
    for i, name in enumerate(("zed", "bob", "amy")):
        router.put_agent(AgentProfile(name, {}, ("en",)), 1.0 + i)
        router.login(name, ["q1"], 1.0 + i)
    for i in range(3):
        made = router.arrive(Contact(f"c{i}", "voice", "q1", 10.0 + i), 10.0 + i)
        router.confirm(made[0].id, 11.0 + i)
    for i in range(3):
        assert router.complete(f"c{i}", 100.0 + i, 89.0) == []


def idle(router: Router, *names: str) -> list[float]:
    agents = router.snapshot().agents
    return [agents[name].idle_since for name in names]


def entries(router: Router, count: int, kinds: tuple[str, ...]) -> list[tuple[str, str, float]]:
    return [(e.kind, e.agent or e.contact, e.at) for e in router.log_tail(count) if e.kind in kinds]


def test_wrap_up_ends_at_its_due_time_not_the_tick(router: Router) -> None:
    """The issue's case (R-LIDLE, R-WRAP): after one tick at 135 the next caller goes to
    zed, free since 130 — not to amy, the first by name among three "free since 135"."""
    wrap_up_world(router)
    assert router.tick(135.0) == []
    assert idle(router, "zed", "bob", "amy") == [130.0, 131.0, 132.0]
    assert router.log_tail(3) == [
        LogEntry("ready", "zed", "", "", 130.0),
        LogEntry("ready", "bob", "", "", 131.0),
        LogEntry("ready", "amy", "", "", 132.0),
    ]
    assert router.arrive(Contact("n1", "voice", "q1", 140.0), 140.0)[0].agent_id == "zed"
    assert router.arrive(Contact("n2", "voice", "q1", 141.0), 141.0)[0].agent_id == "bob"


def test_tick_limit_leaves_later_timers_at_their_own_due_time(router: Router) -> None:
    """R-LIDLE, R-WRAP: a tick that may run fewer timers than are due runs the earliest;
    the next tick runs the rest, still each at its due time."""
    wrap_up_world(router)
    router.tick(135.0, limit=1)
    assert [a.presence for a in router.snapshot().agents.values()] == [
        "wrap_up",  # amy
        "wrap_up",  # bob
        "ready",  # zed
    ]
    assert router.arrive(Contact("n1", "voice", "q1", 136.0), 136.0)[0].agent_id == "zed"
    router.tick(150.0, limit=1)
    router.tick(150.0, limit=5)
    assert idle(router, "zed", "bob", "amy") == [130.0, 131.0, 132.0]
    assert entries(router, 4, ("ready",)) == [("ready", "bob", 131.0), ("ready", "amy", 132.0)]
    assert router.arrive(Contact("n2", "voice", "q1", 151.0), 151.0)[0].agent_id == "bob"


def test_freed_agents_take_waiting_contacts_in_due_order_offered_from_the_tick(
    router: Router,
) -> None:
    """Agents freed by one late tick take the waiting contacts in the order they became
    free (R-PRIO first pick to the first freed); the offers run from the tick, so a
    timeout shorter than the lateness does not expire them at once (R-NOANSWER)."""
    queue(router, "q", wrap_up_seconds=30.0, reservation_timeout=5.0, no_answer_state="paused")
    agent(router, "zed", 1.0)
    agent(router, "amy", 2.0)
    for i in range(2):
        serve(router, call(router, f"c{i}", 10.0 + i), 11.0 + i)
    for i in range(2):
        router.complete(f"c{i}", 100.0 + i, 89.0)
    call(router, "low", 120.0)
    call(router, "high", 125.0, priority=5)
    made = router.tick(200.0)
    assert made == [
        Reservation("high#1", "zed", "high", 205.0),
        Reservation("low#1", "amy", "low", 205.0),
    ]
    assert entries(router, 4, ("ready", "reserve")) == [
        ("ready", "zed", 130.0),
        ("reserve", "zed", 200.0),
        ("ready", "amy", 131.0),
        ("reserve", "amy", 200.0),
    ]
    assert {a.presence for a in router.snapshot().agents.values()} == {"ready"}
    assert idle(router, "zed", "amy") == [130.0, 131.0]


def test_wrap_up_ends_across_queues_with_different_wrap_up(router: Router) -> None:
    """Several queues, each its own wrap-up: zed (q1, 30 s) is free at 130, amy (q2, 5 s)
    at 135, kim (q2) at 133. After one tick at 140, the first freed takes the contact
    waiting in q1, and the next callers of q2 go to the others in the order they became
    free. (All at 140, amy came before kim, by name.)"""
    queue(router, "q1", wrap_up_seconds=30.0)
    queue(router, "q2", wrap_up_seconds=5.0)
    agent(router, "zed", 1.0, queues=("q1", "q2"))
    agent(router, "kim", 2.0, queues=("q2",))
    agent(router, "amy", 3.0, queues=("q2",))
    serve(router, call(router, "a", 10.0, queue_name="q1"), 10.0)
    serve(router, call(router, "b", 11.0, queue_name="q2"), 11.0)
    serve(router, call(router, "c", 12.0, queue_name="q2"), 12.0)
    router.complete("a", 100.0, 90.0)
    router.complete("b", 128.0, 117.0)  # kim wraps up until 133
    router.complete("c", 130.0, 118.0)  # amy until 135
    call(router, "w", 136.0, queue_name="q1")
    assert pairs(router.tick(140.0)) == [("zed", "w")]
    assert idle(router, "zed", "kim", "amy") == [130.0, 133.0, 135.0]
    assert entries(router, 4, ("ready",)) == [
        ("ready", "zed", 130.0),
        ("ready", "kim", 133.0),
        ("ready", "amy", 135.0),
    ]
    assert pairs(call(router, "n1", 141.0, queue_name="q2")) == [("kim", "n1")]
    assert pairs(call(router, "n2", 142.0, queue_name="q2")) == [("amy", "n2")]


def test_expired_reservation_releases_the_agent_at_the_expiry(router: Router) -> None:
    """R-NOANSWER late: zoe's offer expires at 130, bob (free since 120) gets the contact,
    and zoe is at the back of the line from 130, ahead of amy, free at 140 by wrap-up.
    (All at 150, the next caller went to amy, first by name.)"""
    queue(router, "q", wrap_up_seconds=30.0, reservation_timeout=30.0)
    agent(router, "amy", 1.0)
    serve(router, call(router, "x", 5.0), 5.0)
    agent(router, "zoe", 50.0)
    assert pairs(call(router, "c", 100.0)) == [("zoe", "c")]
    router.complete("x", 110.0, 105.0)  # amy wraps up until 140
    agent(router, "bob", 120.0)
    assert router.tick(150.0) == [Reservation("c#2", "bob", "c", 180.0)]
    assert entries(router, 5, ("release", "reserve", "ready")) == [
        ("release", "zoe", 130.0),
        ("reserve", "bob", 150.0),
        ("ready", "amy", 140.0),
    ]
    assert idle(router, "zoe", "amy") == [130.0, 140.0]
    assert pairs(call(router, "n", 160.0)) == [("zoe", "n")]


def test_expired_reservation_pauses_at_the_expiry(router: Router) -> None:
    """R-NOANSWER with ``paused``: the pause and the release are dated at the expiry."""
    queue(router, "q", reservation_timeout=10.0, no_answer_state="paused")
    agent(router, "a", 1.0)
    call(router, "c", 5.0)
    assert router.tick(60.0) == []
    assert entries(router, 3, ("release", "pause", "wait")) == [
        ("release", "a", 15.0),
        ("pause", "a", 15.0),
        ("wait", "c", 15.0),
    ]


def test_escalation_steps_apply_one_by_one_at_their_due_times(router: Router) -> None:
    """R-ESC late: at 110 c only relaxes its level, so bob (Swedish, free at 112 after
    wrap-up) takes it before the step at 120 drops the language that would let ann
    (English, idle since 1) take it. (All at 125, both steps applied at once and ann
    got it.)"""
    steps = (EscalationStep(10.0, levels={"s": 1}), EscalationStep(20.0, drop_language=True))
    queue(router, "q", skills={"s": 3}, escalation=steps, wrap_up_seconds=10.0)
    agent(router, "ann", 1.0, skills={"s": 1}, languages=("en",))
    agent(router, "bob", 2.0, skills={"s": 3}, languages=("sv",))
    serve(router, call(router, "x", 50.0, language="sv"), 50.0)
    assert call(router, "c", 100.0, language="sv") == []
    router.complete("x", 102.0, 52.0)  # bob wraps up until 112
    assert pairs(router.tick(125.0)) == [("bob", "c")]
    assert entries(router, 6, ("escalate", "ready", "reserve")) == [
        ("escalate", "c", 110.0),
        ("ready", "bob", 112.0),
        ("reserve", "bob", 125.0),
        ("escalate", "c", 120.0),
    ]
    assert router.snapshot().contacts["c"].steps_applied == 2


def test_private_expiry_and_passive_threshold_at_their_due_times(router: Router) -> None:
    """R-PRIVQ and R-PASSIVE late: p (private to busy "mine") joins the general queue at
    110, when it has waited 10 s of the coach's 20; reg, free at 115 by wrap-up, takes it
    before the queue goes over at 120. (All at 125, the coach took it at once.)"""
    queue(router, "q", passive_wait_seconds=20.0, wrap_up_seconds=10.0)
    agent(router, "mine", 1.0)
    agent(router, "reg", 2.0)
    agent(router, "coach", 3.0, passive=True)
    serve(router, call(router, "m", 50.0), 50.0)  # mine, busy
    serve(router, call(router, "r", 51.0), 51.0)  # reg
    assert call(router, "p", 100.0, target=Target("mine", "private", 10.0)) == []
    router.complete("r", 105.0, 54.0)  # reg wraps up until 115
    assert pairs(router.tick(125.0)) == [("reg", "p")]
    assert entries(router, 5, ("untarget", "wait", "ready", "reserve")) == [
        ("untarget", "p", 110.0),
        ("wait", "p", 110.0),
        ("ready", "reg", 115.0),
        ("reserve", "reg", 125.0),
    ]
    assert router.snapshot().timers == ((155.0, "r|p"),)


def test_passive_agent_takes_over_at_the_threshold_time_when_nobody_else_came(
    router: Router,
) -> None:
    """The same without reg: the queue goes over at 120 and the coach takes p then."""
    queue(router, "q", passive_wait_seconds=20.0)
    agent(router, "mine", 1.0)
    agent(router, "coach", 3.0, passive=True)
    serve(router, call(router, "m", 50.0), 50.0)
    call(router, "p", 100.0, target=Target("mine", "private", 10.0))
    assert pairs(router.tick(125.0)) == [("coach", "p")]
    assert router.snapshot().contacts["p"].expires_at == 155.0


def test_sticky_expiry_at_its_due_time(router: Router) -> None:
    """R-STICKY late: the preference ends at 112 (dated so), and the contact goes to the
    agent free the longest."""
    queue(router, "q")
    agent(router, "last", 1.0)
    agent(router, "other", 2.0)
    serve(router, call(router, "busy", 3.0), 3.0)  # last
    serve(router, call(router, "busy2", 4.0), 4.0)  # other
    assert call(router, "s", 100.0, target=Target("last", "sticky", 12.0)) == []
    router.complete("busy2", 105.0, 101.0)  # other free at 105, takes nothing (s is sticky)
    assert pairs(router.tick(140.0)) == [("other", "s")]
    assert entries(router, 2, ("untarget", "reserve")) == [
        ("untarget", "s", 112.0),
        ("reserve", "other", 140.0),
    ]
