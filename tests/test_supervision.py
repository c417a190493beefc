"""The supervision view (routing/supervision.py) read from Redis by its Lua script agrees
exactly with the view computed from the full routing state, after random operations
(R-WALLBOARD); and the engine's shared cached read (acd/adapters/supervision.py)."""

from __future__ import annotations

import gevent
import pytest
import redis
from gevent.event import Event
from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, run_state_machine_as_test
from prometheus_client import generate_latest

from acd.adapters.supervision import SharedRead
from routing.api import AgentProfile, Contact, QueueConfig, Target
from routing.errors import StoreError
from routing.store import RedisRouter
from routing.store_snapshot import read_agent, read_contact
from routing.supervision import (
    AgentSupervision,
    QueueSupervision,
    SupervisionReader,
    SupervisionView,
    read_view,
    view_from_state,
)
from tests.test_routing_state_machine import RoutingMachine
from wallboard import metrics as metrics_module
from wallboard.metrics import AcdMetrics


def _queues(client: redis.Redis, router: RedisRouter) -> list[str]:
    return sorted(
        q.decode() if isinstance(q, bytes) else q for q in client.smembers(router.keys.queues())
    )


def test_view_from_redis_agrees_with_the_full_state_r_wallboard(
    redis_client: redis.Redis,
) -> None:
    """After every step of the routing state machine (both routers in lockstep), the view
    the script reads (in pages of one agent, to cross pages) equals the view of the full
    snapshot, and the reference model's."""

    class Machine(RoutingMachine):
        def __init__(self) -> None:
            super().__init__(redis_client)
            self.reader = SupervisionReader(redis_client, "sm", page=1)

        @invariant()
        def view_agrees(self) -> None:
            queues = _queues(redis_client, self.store)
            expected = view_from_state(self.store.snapshot(), queues)
            assert self.reader.read() == expected
            assert view_from_state(self.model.snapshot(), queues) == expected

        @invariant()
        def single_reads_agree(self) -> None:
            """The API's narrow reads (one agent, one contact, one queue's waiting line)
            equal the same records of the full snapshot."""
            state = self.store.snapshot()
            keys = self.store.keys
            for aid, agent in state.agents.items():
                assert read_agent(redis_client, keys, aid) == agent
            for cid, contact in state.contacts.items():
                assert read_contact(redis_client, keys, cid) == contact
            assert read_agent(redis_client, keys, "nobody") is None
            assert read_contact(redis_client, keys, "nothing") is None
            for queue in _queues(redis_client, self.store):
                expected = sorted(
                    (
                        c
                        for c in state.contacts.values()
                        if c.state == "waiting" and queue in c.queues
                    ),
                    key=lambda c: (c.score, c.id),
                )
                assert self.reader.waiting(queue) == tuple(expected)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_view_fields_of_a_hand_made_state_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    """Figures checked by hand: a ringing offer counts as waiting in its home queue (and
    as ringing), a private contact waiting for its agent counts, a contact in a call does
    not; the queue's waiting line lists the private one but not the ringing one."""
    router = RedisRouter(redis_client, tenant)
    for name in ("support", "sales", "idle"):
        router.put_queue(QueueConfig(name=name), 100.0)
    router.put_agent(AgentProfile("a1", languages=("en",)), 100.0)
    router.put_agent(AgentProfile("a2", languages=("en",)), 100.0)
    router.login("a1", ["support"], 100.0)
    router.login("a2", ["support", "sales"], 101.0)
    router.pause("a2", "lunch", 102.0)
    (offer,) = router.arrive(Contact("c1", "voice", "support", 103.0), 103.0)  # a1 rings
    router.arrive(Contact("c2", "voice", "support", 104.5), 105.0)  # waits
    router.arrive(
        Contact("c3", "voice", "sales", 90.25, target=Target("a2", "private", 60.0)), 106.0
    )
    view = read_view(redis_client, tenant)
    assert view.queues == {
        "support": QueueSupervision(2, 103.0, ringing=1),
        "sales": QueueSupervision(1, 90.25, ringing=0),
        "idle": QueueSupervision(0, None, ringing=0),
    }
    assert view.agents["a1"] == AgentSupervision(
        "a1", "ready", None, None, 100.0, ("support",), assigned=1, voice_load=1, contacts=("c1",)
    )
    reader = SupervisionReader(redis_client, tenant)
    assert [c.id for c in reader.waiting("support")] == ["c2"]
    assert [c.id for c in reader.waiting("sales")] == ["c3"]
    assert reader.waiting("idle") == ()
    assert view.agents["a2"].presence == "paused"
    assert view.agents["a2"].pause_reason == "lunch"
    assert view.agents["a2"].queues == ("sales", "support")
    router.confirm(offer.id, 107.0)  # c1 answered: no longer waiting
    assert read_view(redis_client, tenant).queues["support"] == QueueSupervision(1, 104.5)


def test_reader_refuses_a_bad_page_and_reports_redis_down() -> None:
    down = redis.Redis(port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    with pytest.raises(ValueError, match="page"):
        SupervisionReader(down, "t", page=0)
    with pytest.raises(StoreError, match="supervision view"):
        SupervisionReader(down, "t").read()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_shared_read_reads_once_per_max_age_for_every_caller() -> None:
    """Callers within ``max_age`` share one read; concurrent callers wait for the read in
    progress instead of starting another."""
    clock = _Clock()
    release = Event()
    calls: list[float] = []

    def read() -> float:
        calls.append(clock.now)
        release.wait()
        return clock.now

    shared = SharedRead(read, name="test", max_age=1.0, clock=clock)
    callers = [gevent.spawn(shared) for _ in range(5)]
    gevent.sleep(0)  # every caller is now waiting on the one read
    assert len(calls) == 1
    release.set()
    assert [g.get(timeout=5) for g in callers] == [0.0] * 5
    clock.now = 0.5
    assert shared() == 0.0 and len(calls) == 1  # still fresh
    clock.now = 1.5
    assert shared() == 1.5 and len(calls) == 2  # stale: read again
    assert (shared.reads, shared.errors) == (2, 0)


def test_shared_read_failure_goes_to_every_waiting_caller_and_is_counted() -> None:
    release = Event()
    failures = [RuntimeError("redis down")]

    def read() -> int:
        release.wait()
        if failures:
            raise failures.pop()
        return 7

    shared = SharedRead(read, name="test", max_age=1.0, clock=_Clock())
    callers = [gevent.spawn(shared) for _ in range(3)]
    gevent.sleep(0)
    release.set()
    gevent.joinall(callers, timeout=5)
    assert all(isinstance(g.exception, RuntimeError) for g in callers)
    assert (shared.reads, shared.errors) == (1, 1)
    assert shared() == 7  # a failure is not kept: the next call reads again


def test_shared_read_refuses_a_bad_max_age() -> None:
    for bad in (-1.0, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="max_age"):
            SharedRead(lambda: 1, name="x", max_age=bad)  # type: ignore[arg-type]


def test_paced_exposition_is_the_plain_one_and_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """R-WALLBOARD: a scrape of many agents with ``pause`` (here every check pauses) gives
    the same text as the library's plain exposition, and pauses while building and
    formatting the samples."""
    agents = {
        f"a{i:04d}": AgentSupervision(
            f"a{i:04d}",
            "ready" if i % 3 else "paused",
            None if i % 3 else "lunch",
            None,
            100.0 + i,
            ("q1", "q2")[: 1 + i % 2],
            i % 5 == 0,
            i % 5 == 0,
        )
        for i in range(450)
    }
    view = SupervisionView(agents, {"q1": QueueSupervision(3, 90.0)})
    monkeypatch.setattr(metrics_module, "PAUSE_AFTER", -1.0)
    pauses: list[int] = []
    metrics = AcdMetrics(
        ["q1"], clock=lambda: 200.0, state_provider=lambda: view, pause=lambda: pauses.append(1)
    )
    plain = generate_latest(metrics.registry).splitlines(keepends=True)
    # The exposition leaves out only the ``*_created`` series (R-WALLBOARD metrics cost).
    assert metrics.text() == b"".join(line for line in plain if b"_created" not in line)
    building = len(agents) // metrics_module.PAUSE_EVERY
    formatting = len(agents) // metrics_module.PAUSE_EVERY  # acd_agent_state alone
    assert len(pauses) >= 2 * building + formatting  # two collections: text() and plain
    assert b'acd_agent_state{agent="a0003",state="paused"} 1.0' in metrics.text()
