"""One contract suite, run against both routers (like dramatiq's parametrised conftest).

Every test drives ``ReferenceRouter`` and ``RedisRouter`` through the public API only; the
expected values are worked out by hand from docs/ROUTING.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from routing.api import (
    AgentProfile,
    Contact,
    EscalationStep,
    QueueConfig,
    Reservation,
    Router,
    Target,
)
from routing.errors import AgentBusyError, AgentUnavailableError


def pairs(made: Sequence[Reservation]) -> list[tuple[str, str]]:
    return [(r.agent_id, r.contact_id) for r in made]


def queue(router: Router, name: str = "q", **options: object) -> None:
    router.put_queue(QueueConfig(name, **options), 0.0)  # type: ignore[arg-type]


def agent(
    router: Router,
    agent_id: str,
    now: float,
    queues: Sequence[str] = ("q",),
    skills: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("en",),
    **options: object,
) -> list[Reservation]:
    profile = AgentProfile(agent_id, skills or {}, languages, **options)  # type: ignore[arg-type]
    router.put_agent(profile, now)
    return router.login(agent_id, queues, now)


def call(
    router: Router, cid: str, now: float, queue_name: str = "q", **options: object
) -> list[Reservation]:
    contact = Contact(cid, options.pop("channel", "voice"), queue_name, now, **options)  # type: ignore[arg-type]
    return router.arrive(contact, now)


def serve(router: Router, made: Sequence[Reservation], now: float) -> None:
    for reservation in made:
        router.confirm(reservation.id, now)


# ------------------------------------------------------------------ skills, idle


def test_skill_levels_and_language_decide_eligibility(router: Router) -> None:
    """R-SKILL: "billing >= 3" and the caller's language."""
    queue(router, skills={"billing": 3})
    agent(router, "a1", 1.0, skills={"billing": 2})
    agent(router, "a2", 2.0, skills={"billing": 3}, languages=("sv",))
    agent(router, "a3", 3.0, skills={"billing": 4})
    assert pairs(call(router, "c1", 10.0, language="en")) == [("a3", "c1")]
    assert call(router, "c2", 11.0, skills={"billing": 5}) == []
    assert pairs(call(router, "c3", 12.0, language="sv")) == [("a2", "c3")]


def test_longest_idle_agent_wins(router: Router) -> None:
    """R-LIDLE: the agent free the longest, ties by agent id."""
    queue(router)
    agent(router, "b", 1.0)
    agent(router, "a", 2.0)
    agent(router, "d", 3.0)
    agent(router, "c", 3.0)
    assert [pairs(call(router, f"c{i}", 10.0 + i)) for i in range(4)] == [
        [("b", "c0")],
        [("a", "c1")],
        [("c", "c2")],
        [("d", "c3")],
    ]


def test_idle_tie_across_queues_goes_to_lower_id(router: Router) -> None:
    """R-LIDLE across the queue set of an escalated contact: (idle_since, id) decides."""
    queue(router, "q2")
    queue(router, "q1", escalation=(EscalationStep(0.0, add_queues=("q2",)),))
    agent(router, "z", 1.0, queues=("q1",))
    agent(router, "y", 1.0, queues=("q2",))
    assert pairs(call(router, "c", 5.0, "q1")) == [("y", "c")]


def test_freed_agent_takes_priority_then_earliest(router: Router) -> None:
    """R-PRIO: higher priority first (call-backs boosted by config), then arrival, then id."""
    queue(router, channel_priority={"callback": 5})
    agent(router, "a", 0.0)
    router.pause("a", "lunch", 0.5)
    call(router, "c1", 1.0, priority=0)
    call(router, "c2", 2.0, priority=3)
    call(router, "c3", 3.0, priority=0, channel="callback")
    call(router, "c4", 1.5, priority=3)
    order = []
    made = router.unpause("a", 10.0)
    for step in range(4):
        order.append(made[0].contact_id)
        serve(router, made, 11.0 + step)
        made = router.complete(made[0].contact_id, 12.0 + step, 30.0)
    assert order == ["c3", "c4", "c2", "c1"]


def test_same_arrival_ties_by_contact_id_and_callback_keeps_place(router: Router) -> None:
    """FIFO within a priority; R-CB-PLACE: a call-back's original arrival is its place."""
    queue(router)
    agent(router, "a", 0.0)
    router.pause("a", "lunch", 0.0)
    router.arrive(Contact("cb", "voice", "q", 5.0), 5.0)
    router.arrive(Contact("ca", "voice", "q", 5.0), 5.0)
    router.arrive(Contact("back", "callback", "q", 1.0), 9.0)
    assert router.snapshot().waiting["q"] == ("back", "ca", "cb")


def test_scans_step_over_many_ineligible_agents_and_contacts(router: Router) -> None:
    """The fast path scans in batches: more than one batch of ineligible entries ahead."""
    queue(router)
    for i in range(70):
        agent(router, f"n{i:02d}", float(i), languages=("fi",))
    agent(router, "speaker", 100.0)
    assert pairs(call(router, "c", 200.0, language="en")) == [("speaker", "c")]
    router.confirm("c#1", 200.0)
    for i in range(70):
        router.pause(f"n{i:02d}", "lunch", 201.0)
    for i in range(70):
        call(router, f"w{i:02d}", 210.0 + i, language="de")
    call(router, "mine", 300.0, language="en")
    assert pairs(router.complete("c", 301.0, 5.0)) == [("speaker", "mine")]


# ------------------------------------------------------------------ membership


def test_agent_logs_in_and_out_of_queues_one_by_one(router: Router) -> None:
    """R-MULTI: memberships are per queue; out of all queues means logged out."""
    queue(router, "q1")
    queue(router, "q2")
    agent(router, "a", 0.0, queues=("q1", "q2"))
    router.logout("a", ["q2"], 1.0)
    assert call(router, "c2", 2.0, "q2") == []
    assert router.snapshot().agents["a"].queues == ("q1",)
    assert pairs(router.login("a", ["q2"], 3.0)) == [("a", "c2")]
    router.logout("a", None, 4.0)
    view = router.snapshot().agents["a"]
    assert (view.presence, view.queues) == ("logged_out", ())
    # the pending offer was released and the contact waits again
    assert router.snapshot().contacts["c2"].state == "waiting"


# ------------------------------------------------------------------ passive agents


def test_passive_agent_helps_only_over_waiting_count(router: Router) -> None:
    """R-PASSIVE: at N waiting the passive agent takes the oldest contact."""
    queue(router, passive_waiting=2)
    agent(router, "p", 0.0, passive=True)
    assert call(router, "c1", 1.0) == []
    assert pairs(call(router, "c2", 2.0)) == [("p", "c1")]


def test_waiting_time_threshold_timer_follows_the_config(router: Router) -> None:
    """R-PASSIVE, R-LIVECONF: removing T removes the queue's pending activation."""
    queue(router, passive_wait_seconds=10.0)
    call(router, "c1", 1.0)
    assert router.snapshot().timers == ((11.0, "p|q"),)
    queue(router)
    assert router.snapshot().timers == ()


def test_passive_agent_helps_after_longest_wait(router: Router) -> None:
    """R-PASSIVE by waiting time: a timer at oldest arrival + T."""
    queue(router, passive_wait_seconds=10.0)
    agent(router, "p", 0.0, passive=True)
    assert call(router, "c1", 1.0) == []
    assert router.tick(10.9) == []
    assert pairs(router.tick(11.0)) == [("p", "c1")]


# ------------------------------------------------------------------ targets


def test_private_contact_waits_for_its_agent_then_falls_back(router: Router) -> None:
    """R-PRIVQ: only the named agent until the maximum wait, then the general queue."""
    queue(router, skills={"x": 1})
    agent(router, "mine", 0.0)  # lacks skill x: the private queue does not need it
    router.pause("mine", "meeting", 0.0)
    agent(router, "other", 1.0, skills={"x": 1})
    router.pause("other", "lunch", 1.0)
    call(router, "later", 3.0)
    made = call(router, "c", 2.0, target=Target("mine", "private", 30.0))
    assert made == []
    assert router.snapshot().targeted == {"mine": ("c",)}
    router.unpause("other", 4.0)  # takes the general contact, not the private one
    assert router.snapshot().contacts["later"].agent == "other"
    assert pairs(router.unpause("mine", 5.0)) == [("mine", "c")]


def test_private_contact_expires_to_its_original_place(router: Router) -> None:
    """R-PRIVQ: an agent who is off sick must not strand the contact."""
    queue(router)
    agent(router, "sick", 0.0)
    router.logout("sick", None, 0.0)
    agent(router, "b", 0.0)
    router.pause("b", "lunch", 0.0)
    call(router, "c", 1.0, target=Target("sick", "private", 20.0))
    call(router, "d", 2.0)
    assert router.tick(20.0) == []
    assert router.snapshot().waiting["q"] == ("d",)
    router.tick(21.0)
    assert router.snapshot().waiting["q"] == ("c", "d")
    assert router.snapshot().targeted == {}
    assert pairs(router.unpause("b", 22.0)) == [("b", "c")]


def test_released_private_contact_waits_while_its_agent_takes_a_better_one(
    router: Router,
) -> None:
    """R-NOANSWER with R-PRIVQ: back in the private line; the agent takes the best it may."""
    queue(router)
    agent(router, "a", 0.0)
    assert pairs(call(router, "p", 1.0, target=Target("a", "private", 60.0))) == [("a", "p")]
    assert call(router, "vip", 2.0, priority=5) == []
    assert pairs(router.release("p#1", 3.0)) == [("a", "vip")]
    assert router.snapshot().targeted == {"a": ("p",)}


def test_sticky_prefers_last_agent_only_while_logged_in(router: Router) -> None:
    """R-STICKY: decided at arrival; dropped at once, on logout, or after the window."""
    queue(router)
    agent(router, "last", 0.0)
    router.pause("last", "lunch", 0.0)
    agent(router, "b", 1.0)
    assert call(router, "s1", 2.0, target=Target("last", "sticky", 60.0)) == []
    assert pairs(router.logout("last", None, 3.0)) == [("b", "s1")]
    router.confirm("s1#1", 3.0)
    # target not logged in: the preference is dropped at once
    assert call(router, "s2", 4.0, target=Target("last", "sticky", 60.0)) == []
    assert router.snapshot().contacts["s2"].restriction is None
    assert pairs(router.complete("s1", 5.0, 10.0)) == [("b", "s2")]
    router.confirm("s2#1", 5.0)
    agent(router, "last", 6.0)
    router.pause("last", "lunch", 6.0)
    assert call(router, "s3", 7.0, target=Target("last", "sticky", 5.0)) == []
    assert router.complete("s2", 8.0, 10.0) == []  # b is free, but s3 waits for "last"
    assert router.tick(11.9) == []
    assert pairs(router.tick(12.0)) == [("b", "s3")]


# ------------------------------------------------------------------ offers


def test_no_answer_offers_the_next_agent_at_once(router: Router) -> None:
    """R-NOANSWER: the contact keeps its place; the agent goes to the back or pauses."""
    queue(router)
    agent(router, "a", 1.0)
    agent(router, "b", 2.0)
    assert pairs(call(router, "c", 5.0)) == [("a", "c")]
    assert pairs(router.release("c#1", 6.0)) == [("b", "c")]
    assert router.snapshot().agents["a"].idle_since == 6.0
    assert pairs(router.release("c#2", 7.0, "paused")) == [("a", "c")]
    view = router.snapshot().agents["b"]
    assert (view.presence, view.pause_reason) == ("paused", "no-answer")


def test_reservation_expires_by_tick(router: Router) -> None:
    """R-NOANSWER with the queue's no_answer_state and reservation_timeout."""
    queue(router, reservation_timeout=10.0, no_answer_state="paused")
    agent(router, "a", 1.0)
    agent(router, "b", 2.0)
    made = call(router, "c", 5.0)
    assert made == [Reservation("c#1", "a", "c", 15.0)]
    assert router.tick(14.9) == []
    assert pairs(router.tick(15.0)) == [("b", "c")]
    assert router.snapshot().agents["a"].pause_reason == "no-answer"


def test_abandoned_offer_frees_the_agent_for_the_next_contact(router: Router) -> None:
    queue(router)
    agent(router, "a", 1.0)
    call(router, "c1", 2.0)
    call(router, "c2", 3.0)
    assert pairs(router.abandon("c1", 4.0)) == [("a", "c2")]
    assert "c1" not in router.snapshot().contacts
    assert router.snapshot().agents["a"].idle_since == 1.0


def test_wrap_up_after_voice_only(router: Router) -> None:
    """R-WRAP: no new contact during wrap-up after a voice-class contact."""
    queue(router, wrap_up_seconds=10.0)
    agent(router, "a", 1.0)
    serve(router, call(router, "v", 2.0), 2.0)
    assert router.complete("v", 20.0, 18.0) == []
    assert router.snapshot().agents["a"].presence == "wrap_up"
    assert call(router, "next", 25.0) == []
    assert pairs(router.tick(30.0)) == [("a", "next")]
    serve(router, [Reservation("next#1", "a", "next", 0.0)], 30.0)
    router.complete("next", 31.0, 1.0)
    router.tick(41.0)
    serve(router, call(router, "chat", 50.0, channel="chat"), 50.0)
    router.complete("chat", 51.0, 1.0)
    assert router.snapshot().agents["a"].presence == "ready"


def test_channels_and_capacities(router: Router) -> None:
    """R-CHANNELS: voice-class is exclusive; chat and e-mail up to their capacities."""
    queue(router)
    agent(router, "a", 1.0, chat_capacity=2, email_capacity=0)
    assert pairs(call(router, "ch1", 2.0, channel="chat")) == [("a", "ch1")]
    assert pairs(call(router, "ch2", 3.0, channel="chat")) == [("a", "ch2")]
    assert call(router, "ch3", 4.0, channel="chat") == []
    assert call(router, "v", 5.0) == []
    assert call(router, "em", 6.0, channel="email") == []
    serve(router, [Reservation("ch1#1", "a", "ch1", 0.0)], 6.0)
    assert pairs(router.complete("ch1", 7.0, 5.0)) == [("a", "ch3")]
    assert router.snapshot().agents["a"].load == (0, 2, 0)


def test_agent_with_spare_chat_capacity_takes_several_at_login(router: Router) -> None:
    queue(router)
    call(router, "ch1", 1.0, channel="chat")
    call(router, "ch2", 2.0, channel="chat")
    call(router, "ch3", 3.0, channel="chat")
    assert pairs(agent(router, "a", 4.0, chat_capacity=2)) == [("a", "ch1"), ("a", "ch2")]


# ------------------------------------------------------------------ escalation


def test_escalation_relaxes_levels_and_widens_queues(router: Router) -> None:
    """Escalation steps: relax a level, drop the language, add an overflow queue."""
    queue(router, "overflow")
    steps = (
        EscalationStep(10.0, levels={"billing": 1}),
        EscalationStep(20.0, drop_language=True),
        EscalationStep(30.0, add_queues=("overflow",)),
    )
    queue(router, skills={"billing": 3}, escalation=steps)
    agent(router, "junior", 0.0, skills={"billing": 1})
    agent(router, "swede", 0.0, skills={"billing": 5}, languages=("sv",))
    agent(router, "helper", 0.0, queues=("overflow",), skills={"billing": 5})
    assert call(router, "c1", 1.0, language="fi") == []
    assert call(router, "c2", 2.0, language="en") == []
    assert router.tick(11.5) == []
    assert pairs(router.tick(12.0)) == [("junior", "c2")]
    assert pairs(router.tick(21.0)) == [("swede", "c1")]
    router.release("c1#1", 22.0, "paused")
    assert router.snapshot().contacts["c1"].queues == ("q",)
    assert pairs(router.tick(31.0)) == [("helper", "c1")]


# ------------------------------------------------------------------ position, EWT


def test_position_counts_contacts_competing_for_the_same_agents(router: Router) -> None:
    """R-POSALL: three callers of one agent in two queues are 1, 2 and 3."""
    queue(router, "qx")
    queue(router, "qy")
    queue(router, "qz")
    agent(router, "a", 0.0, queues=("qx", "qy"))
    agent(router, "b", 0.0, queues=("qz",))
    router.pause("a", "lunch", 0.0)
    router.pause("b", "lunch", 0.0)
    call(router, "c1", 1.0, "qx")
    call(router, "c2", 2.0, "qy")
    call(router, "c3", 3.0, "qx")
    call(router, "d1", 0.5, "qz")
    positions = [router.position(c, 4.0).position for c in ("c1", "c2", "c3", "d1")]
    assert positions == [1, 2, 3, 1]


def test_announced_position_never_rises(router: Router) -> None:
    """R-POS: a later higher-priority caller may go ahead; the told number does not go up."""
    queue(router)
    agent(router, "a", 0.0)
    router.pause("a", "lunch", 0.0)
    call(router, "c1", 1.0)
    call(router, "c2", 2.0)
    call(router, "c3", 3.0)
    assert router.position("c3", 4.0).announced_position == 3
    call(router, "vip", 5.0, priority=9)
    info = router.position("c3", 6.0)
    assert (info.position, info.announced_position) == (4, 3)
    router.abandon("c1", 7.0)
    router.abandon("c2", 7.0)
    info = router.position("c3", 8.0)
    assert (info.position, info.announced_position) == (2, 2)


def test_position_leaves_passive_agents_out(router: Router) -> None:
    """R-POSALL with R-PASSIVE: a passive agent is nobody else's server."""
    queue(router)
    agent(router, "worker", 0.0)
    router.pause("worker", "lunch", 0.0)
    agent(router, "coach", 0.0, passive=True)
    call(router, "d", 1.0)
    call(router, "c", 2.0, target=Target("coach", "sticky", 100.0))
    info = router.position("c", 3.0)
    assert (info.position, info.staffed_agents) == (1, 1)
    info = router.position("d", 3.0)
    assert (info.position, info.staffed_agents, info.available_agents) == (1, 0, 0)


def test_expected_wait_and_when_it_is_too_uncertain(router: Router) -> None:
    """R-EWT, R-AGENTS: position x AHT / staffed; uncertain without samples, when too
    variable, too long, or nobody staffed."""
    queue(router, initial_aht=100.0, min_samples=2, max_cv=0.5, max_ewt=100.0)
    agent(router, "a", 0.0)
    agent(router, "b", 0.0)
    serve(router, call(router, "c1", 1.0), 1.0)
    serve(router, call(router, "c2", 1.0), 1.0)
    call(router, "c3", 2.0)
    call(router, "c4", 3.0)
    info = router.position("c3", 4.0)
    assert (info.position, info.ewt_seconds, info.ewt_uncertain) == (1, 50.0, True)
    assert (info.staffed_agents, info.available_agents) == (2, 0)
    serve(router, router.complete("c1", 5.0, 100.0), 5.0)
    serve(router, router.complete("c2", 6.0, 120.0), 6.0)
    call(router, "c5", 7.0)
    info = router.position("c5", 8.0)
    assert (info.ewt_seconds, info.ewt_uncertain) == (55.0, False)
    router.pause("a", "lunch", 9.0)
    info = router.position("c5", 9.0)
    assert (info.ewt_seconds, info.ewt_uncertain, info.staffed_agents) == (110.0, True, 1)
    router.pause("b", "lunch", 9.0)
    assert router.position("c5", 9.0).ewt_uncertain


def test_expected_wait_is_uncertain_when_handle_times_vary(router: Router) -> None:
    """R-EWT: the coefficient of variation over max_cv turns announcements off."""
    queue(router, initial_aht=100.0, min_samples=2, max_cv=0.5)
    agent(router, "a", 0.0)
    for i, handle in enumerate((10.0, 200.0)):
        serve(router, call(router, f"c{i}", float(i)), float(i))
        router.complete(f"c{i}", float(i) + 0.5, handle)
    serve(router, call(router, "busy", 3.0), 3.0)
    call(router, "w", 4.0)
    info = router.position("w", 5.0)
    assert (info.ewt_seconds, info.ewt_uncertain, info.staffed_agents) == (105.0, True, 1)
    queue(router, initial_aht=100.0, min_samples=2, max_cv=1.5)
    assert not router.position("w", 6.0).ewt_uncertain


# ------------------------------------------------------------------ log
def test_every_state_change_is_logged(router: Router) -> None:
    queue(router)
    agent(router, "a", 1.0)
    serve(router, call(router, "c", 2.0), 3.0)
    router.complete("c", 4.0, 1.0)
    kinds = [(e.kind, e.agent, e.contact, e.at) for e in router.log_tail(5)]
    assert kinds == [
        ("login", "a", "", 1.0),
        ("arrive", "", "c", 2.0),
        ("reserve", "a", "c", 2.0),
        ("confirm", "a", "c", 3.0),
        ("complete", "a", "c", 4.0),
    ]


# ------------------------------------------------------------------ telephonist pick


def test_pick_takes_a_later_contact_out_of_turn(router: Router) -> None:
    """R-PICK: the second waiting contact goes to the telephonist, who is not even in the
    queue; the first keeps waiting; the log says ``pick`` before the ``reserve``."""
    queue(router, reservation_timeout=20.0)
    queue(router, "desk")
    agent(router, "t", 1.0, queues=("desk",))
    call(router, "c1", 2.0)
    call(router, "c2", 3.0)
    assert router.pick("c2", "t", 5.0) == Reservation("c2#1", "t", "c2", 25.0)
    state = router.snapshot()
    assert state.waiting == {"q": ("c1",)}
    assert (state.contacts["c2"].state, state.contacts["c2"].agent) == ("reserved", "t")
    assert [(e.kind, e.agent, e.contact, e.queue, e.at) for e in router.log_tail(2)] == [
        ("pick", "t", "c2", "q", 5.0),
        ("reserve", "t", "c2", "", 5.0),
    ]


def test_picked_contact_released_keeps_its_place(router: Router) -> None:
    """R-PICK, R-NOANSWER: an unanswered pick puts the caller back ahead of later ones."""
    queue(router)
    queue(router, "desk")
    agent(router, "t", 1.0, queues=("desk",))
    call(router, "c1", 2.0)
    call(router, "c2", 3.0)
    call(router, "c3", 4.0)
    router.pick("c2", "t", 5.0)
    assert router.release("c2#1", 6.0, "available") == []
    assert router.snapshot().waiting == {"q": ("c1", "c2", "c3")}
    assert router.snapshot().agents["t"].load == (0, 0, 0)


def test_picked_contact_expires_like_any_offer(router: Router) -> None:
    """The pick's reservation has the home queue's timeout and ``tick`` releases it."""
    queue(router, reservation_timeout=10.0, no_answer_state="paused")
    queue(router, "desk")
    agent(router, "t", 1.0, queues=("desk",))
    call(router, "c1", 2.0)
    router.pick("c1", "t", 3.0)
    assert router.tick(12.9) == []
    assert router.tick(13.0) == []
    state = router.snapshot()
    assert state.waiting == {"q": ("c1",)}
    assert (state.agents["t"].presence, state.agents["t"].pause_reason) == (
        "paused",
        "no-answer",
    )


def test_picked_call_is_served_and_counted_by_its_queue(router: Router) -> None:
    """Confirm and complete as for a routed offer: handle time goes to the home queue,
    wrap-up follows, during which the agent may not pick."""
    queue(router, wrap_up_seconds=30.0)
    queue(router, "desk")
    agent(router, "t", 1.0, queues=("desk",))
    call(router, "c1", 2.0)
    call(router, "c2", 2.5)
    router.pick("c1", "t", 3.0)
    router.confirm("c1#1", 4.0)
    assert router.complete("c1", 64.0, 60.0) == []
    assert router.snapshot().stats["q"] == (1, 60.0, 0.0)
    assert router.snapshot().agents["t"].presence == "wrap_up"
    with pytest.raises(AgentUnavailableError):
        router.pick("c2", "t", 65.0)
    router.tick(94.0)
    assert router.pick("c2", "t", 95.0).agent_id == "t"


@pytest.mark.parametrize("first", ["routed", "pick"])
def test_routed_offer_and_pick_never_give_an_agent_two_calls(router: Router, first: str) -> None:
    """R-TELEPHONIST: an agent in queue q is also a telephonist; whichever of a routed
    offer (a caller arriving in q) and a pick (a caller waiting in "desk") comes first
    wins, the other finds the agent busy."""
    queue(router)
    queue(router, "desk")
    agent(router, "a", 1.0)
    call(router, "d1", 2.0, "desk")
    if first == "routed":
        assert pairs(call(router, "c1", 3.0)) == [("a", "c1")]
        with pytest.raises(AgentBusyError):
            router.pick("d1", "a", 4.0)
        router.confirm("c1#1", 4.0)
        with pytest.raises(AgentBusyError):
            router.pick("d1", "a", 5.0)
    else:
        router.pick("d1", "a", 3.0)
        assert call(router, "c1", 4.0) == []
        router.confirm("d1#1", 4.0)
        assert call(router, "c2", 5.0) == []
    view = router.snapshot().agents["a"]
    assert view.load == (1, 0, 0) and len(view.assigned) == 1


def test_pick_of_a_chat_respects_capacity(router: Router) -> None:
    """R-CHANNELS: a chat may be picked beside another chat up to capacity, never beside
    a call, and a call never beside a chat."""
    queue(router)
    queue(router, "desk")
    agent(router, "t", 1.0, queues=("desk",), chat_capacity=2)
    for cid in ("ch1", "ch2", "ch3"):
        call(router, cid, 2.0, channel="chat")
    call(router, "v", 2.0)
    router.pick("ch1", "t", 3.0)
    router.confirm("ch1#1", 3.0)
    with pytest.raises(AgentBusyError):
        router.pick("v", "t", 4.0)
    router.pick("ch2", "t", 4.0)
    router.confirm("ch2#1", 4.0)
    with pytest.raises(AgentBusyError):
        router.pick("ch3", "t", 5.0)
