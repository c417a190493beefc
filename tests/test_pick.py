"""A telephonist picks a specific waiting call out of a specific queue to their phone
(R-PICK), while also logged in to queues as an agent (R-TELEPHONIST): end to end over HTTP
(simulator, Redis, the engine over TCP), plus the routing race on Redis itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import gevent
import pytest
import redis

from freeswitch.sim import AgentPhone
from routing.api import AgentProfile, Contact, QueueConfig
from routing.errors import AgentBusyError
from routing.store import RedisRouter
from tests.engine_harness import Start, default_settings
from tests.http_api import (
    ADMIN,
    AGENT_1001,
    AGENT_1002,
    SUPERVISOR,
    VIEWER,
    Api,
    api_fixture,
)


@pytest.fixture
def api(start: Start) -> Iterator[Api]:
    yield from api_fixture(start)


@pytest.fixture
def slow_ring_api(start: Start) -> Iterator[Api]:
    """Agent legs ring for 3,000 simulated seconds (30 s here): an offer stays put."""
    yield from api_fixture(start, settings=default_settings(ring_timeout=3000))


def _two_waiting(api: Api) -> tuple[str, str]:
    """Two callers waiting in support, where nobody is logged in."""
    first = api.harness.sim.place_call("0701111111", "7000")
    api.harness.wait_fact("queued", contact=first)
    second = api.harness.sim.place_call("0702222222", "7000")
    api.harness.wait_fact("queued", contact=second)
    return first, second


def test_telephonist_picks_the_second_caller_r_pick(api: Api) -> None:
    """R-PICK, R-TELEPHONIST: 1001 is logged in to sales as an agent and is a telephonist;
    it sees support's load, picks the SECOND caller, and that caller is bridged to 1001's
    phone while the first keeps waiting at the head of the line."""
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    assert api.post("/api/agents/1001/login", AGENT_1001, {"queues": ["sales"]}).status == 200
    first, second = _two_waiting(api)
    load = {q["name"]: q for q in api.get("/api/queues", AGENT_1001).body["queues"]}
    assert load["support"]["waiting"] == 2
    listed = api.get("/api/queues/support/contacts", AGENT_1001).body["contacts"]
    assert [(c["contact"], c["position"]) for c in listed] == [(first, 1), (second, 2)]

    picked = api.post(f"/api/queues/support/contacts/{second}/pick", AGENT_1001)
    assert picked.status == 200, picked.body
    assert picked.body == {
        "contact": second,
        "queue": "support",
        "agent": "1001",
        "reservation": f"{second}#1",
    }
    assert acd.wait_fact("bridged", contact=second).data["agent"] == "1001"
    leg = acd.wait_fact("offered", contact=second).data["leg"]
    channel = acd.sim.channels[second]
    assert acd.wait(lambda: channel.bridged)  # the fact may come before the simulator's event
    assert {channel.bridge_a, channel.bridge_b} == {second, leg}
    state = api.state()
    assert state.waiting["support"] == (first,)
    assert state.contacts[second].state == "busy" and state.contacts[second].agent == "1001"
    assert [f for f in acd.kinds("offered") if f.data["contact"] == first] == []
    after = api.get("/api/queues/support/contacts").body["contacts"]
    assert [(c["contact"], c["position"]) for c in after] == [(first, 1)]
    assert [e.kind for e in acd.router.log_tail(40) if e.contact == second][:3] == [
        "arrive",
        "wait",
        "pick",
    ]


def test_pick_of_an_offered_caller_is_409_and_changes_nothing(slow_ring_api: Api) -> None:
    """R-PICK: a caller already ringing an agent cannot be picked; nothing changes."""
    api = slow_ring_api
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone("user/1002", behaviour="no_answer"))
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    assert api.post("/api/agents/1001/login", body={"queues": ["sales"]}).status == 200
    assert api.post("/api/agents/1002/login", body={"queues": ["support"]}).status == 200
    caller = acd.sim.place_call("0701111111", "7000")
    acd.wait_fact("offered", contact=caller, agent="1002")
    before = api.state()
    answer = api.post(f"/api/queues/support/contacts/{caller}/pick", AGENT_1001)
    assert (answer.status, answer.body["error"]) == (409, "contact-not-waiting")
    assert api.state() == before
    assert acd.kinds("offered") == [f for f in acd.kinds("offered") if f.data["agent"] == "1002"]


def test_unanswered_pick_keeps_the_callers_place_r_noanswer(api: Api) -> None:
    """A supervisor picks the second caller for 1003, whose phone rejects it: the caller
    goes back to its place, behind the first and ahead of a later one (R-NOANSWER)."""
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone("user/1003", behaviour="reject"))
    assert api.post("/api/agents/1003/login", body={"queues": ["sales"]}).status == 200
    first, second = _two_waiting(api)
    picked = api.post(f"/api/queues/support/contacts/{second}/pick", SUPERVISOR, {"agent": "1003"})
    assert picked.status == 200, picked.body
    later = acd.sim.place_call("0703333333", "7000")
    acd.wait_fact("queued", contact=later)
    acd.wait_fact("agent_no_answer", contact=second, agent="1003")
    assert acd.wait(lambda: api.state().waiting.get("support") == (first, second, later))
    assert acd.kinds("bridged") == []


@pytest.mark.parametrize(
    ("token", "body", "status", "slug"),
    [
        (None, None, 401, "unauthorized"),
        (VIEWER, None, 403, "forbidden"),
        (AGENT_1002, None, 403, "not-telephonist"),  # 1002 is no telephonist
        (AGENT_1001, {"agent": "1002"}, 403, "forbidden"),  # a telephonist picks for itself
        (SUPERVISOR, None, 400, "invalid-input"),  # the supervisor's token is no agent
        (SUPERVISOR, {"agent": 1001}, 400, "invalid-input"),
        (SUPERVISOR, {"agent": "1001", "queue": "x"}, 400, "invalid-input"),
        (SUPERVISOR, b"{nope", 400, "invalid-json"),
        (SUPERVISOR, {"agent": "9999"}, 404, "unknown-agent"),
        (ADMIN, {"agent": "1003"}, 409, "agent-unavailable"),  # logged out
        (ADMIN, {"agent": "1005"}, 409, "agent-unavailable"),  # paused
        # Only telephonists take picked calls, whoever asks (not a 409: no state helps).
        (SUPERVISOR, {"agent": "1002"}, 403, "not-telephonist"),
        (ADMIN, {"agent": "1004"}, 403, "not-telephonist"),
    ],
)
def test_pick_refusals_change_nothing(
    api: Api, token: str | None, body: object, status: int, slug: str
) -> None:
    """Role checks (viewer < agent < supervisor < admin; an agent token only as a
    telephonist and for itself), bad bodies, unknown ids and agents that may not take a
    call: each answers its documented error and the state is unchanged."""
    assert api.post("/api/agents/1005/login").status == 200
    assert api.post("/api/agents/1005/pause", body={"reason": "lunch"}).status == 200
    _first, second = _two_waiting(api)
    before = api.state()
    answer = api.post(f"/api/queues/support/contacts/{second}/pick", token, body)
    assert (answer.status, answer.body["error"]) == (status, slug), answer.body
    assert answer.body["message"]
    assert api.state() == before


def test_pick_of_unknown_queue_or_contact_is_404(api: Api) -> None:
    first, _second = _two_waiting(api)
    before = api.state()
    for path, slug in [
        (f"/api/queues/nosuch/contacts/{first}/pick", "unknown-queue"),
        (f"/api/queues/sales/contacts/{first}/pick", "unknown-contact"),  # not in sales
        ("/api/queues/support/contacts/no-such-call/pick", "unknown-contact"),
    ]:
        answer = api.post(path, SUPERVISOR, {"agent": "1001"})
        assert (answer.status, answer.body["error"]) == (404, slug)
    assert api.state() == before


def test_routed_offer_and_pick_race_for_one_agent_r_telephonist(api: Api) -> None:
    """R-TELEPHONIST: 1001 is logged in to support as an agent and picks a sales caller
    just as a support caller arrives. Whichever routing runs first wins; 1001 never rings
    for two calls, and the other caller is served later or keeps waiting."""
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    assert api.post("/api/agents/1001/login", AGENT_1001, {"queues": ["support"]}).status == 200
    waiting = acd.sim.place_call("0701111111", "7001")  # sales: nobody there
    acd.wait_fact("queued", contact=waiting)
    pick = gevent.spawn(api.post, f"/api/queues/sales/contacts/{waiting}/pick", AGENT_1001)
    routed = acd.sim.place_call("0702222222", "7000")
    answer = pick.get(timeout=10)
    acd.wait_fact("queued", contact=routed)
    offered = acd.wait_fact("offered", agent="1001")
    acd.wait_fact("bridged", agent="1001")  # in a call now: nothing more is offered
    if answer.status == 200:
        assert offered.data["contact"] == waiting
    else:
        assert (answer.status, answer.body["error"]) == (409, "agent-busy")
        assert offered.data["contact"] == routed
    view = api.state().agents["1001"]
    assert view.load == (1, 0, 0) and len(view.assigned) == 1
    assert [f.data["contact"] for f in acd.kinds("offered") if f.data["agent"] == "1001"] == [
        offered.data["contact"]
    ]


def test_routed_offers_and_picks_race_on_redis_r_telephonist(
    redis_client: redis.Redis, tenant: str
) -> None:
    """R-TELEPHONIST on the routing itself: two threads, one arriving callers that
    routing offers to agent "a", one picking waiting callers for "a", on one Redis at
    once. Every round, exactly one of them gives "a" a call and "a" never holds two."""
    routers = [RedisRouter(redis_client, tenant) for _ in range(2)]
    router = routers[0]
    router.put_queue(QueueConfig("q"), 0.0)
    router.put_queue(QueueConfig("desk"), 0.0)
    router.put_agent(AgentProfile("a", languages=("en",)), 0.0)
    router.login("a", ["q"], 0.0)
    outcomes = []
    for round_ in range(40):
        now = 10.0 * (round_ + 1)
        router.arrive(Contact(f"d{round_}", "voice", "desk", now), now)
        routed_won, picked = _race(routers, f"c{round_}", f"d{round_}", now)
        view = router.snapshot().agents["a"]
        assert view.load == (1, 0, 0) and len(view.assigned) == 1
        assert routed_won != picked
        outcomes.append(picked)
        # Free "a" for the next round: the loser's caller is taken away too.
        router.abandon(view.assigned[0][0], now + 1)
        for cid in (f"c{round_}", f"d{round_}"):
            if cid in router.snapshot().contacts:
                router.abandon(cid, now + 1)
    assert len(outcomes) == 40


def _race(routers: list[RedisRouter], routed: str, waiting: str, now: float) -> tuple[bool, bool]:
    """Caller ``routed`` arrives in q (routing offers it to "a" if free) while ``waiting``
    is picked for "a", each on its own thread and router, released together; returns
    (the arrival made an offer, the pick succeeded)."""
    gate = threading.Barrier(2)
    results: dict[str, bool] = {}

    def arrive() -> None:
        gate.wait()
        results["routed"] = bool(routers[0].arrive(Contact(routed, "voice", "q", now), now))

    def pick() -> None:
        gate.wait()
        try:
            routers[1].pick(waiting, "a", now)
            results["picked"] = True
        except AgentBusyError:
            results["picked"] = False

    threads = [threading.Thread(target=arrive), threading.Thread(target=pick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results["routed"], results["picked"]
