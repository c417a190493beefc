"""Prometheus metrics (wallboard.metrics and its engine glue): facts -> counters,
histograms and the rolling service level with an injected clock; the scrape-time gauges
from a real Redis routing state; failures that must not reach the engine (R-WALLBOARD,
R-STATS)."""

from __future__ import annotations

import math
import socket
import time
import urllib.request
from collections.abc import Iterator

import gevent
import pytest
import redis
from flask import Flask
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from acd.adapters.metrics import EngineMetrics, phone_states
from acd.adapters.redis_store import RedisCallStore
from acd.app import App
from acd.dev.redis_server import RedisServer
from acd.engine.effects import Fact
from acd.engine.events import AgentCommand
from acd.engine.records import AgentRecord
from freeswitch.sim import AgentPhone, Simulator
from routing.api import AgentProfile, Contact, QueueConfig, RouterState
from routing.errors import StoreError
from routing.store import RedisRouter
from tests.engine_harness import Start, run_example
from tests.test_rules_sim import start_with_rules
from wallboard.metrics import AcdMetrics
from wallboard.service_level import ServiceLevelTarget


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def value(metrics: AcdMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_facts_count_offered_answered_abandoned_and_waits_r_stats() -> None:
    metrics = AcdMetrics(["support", "sales"], clock=Clock())
    # Series of configured queues exist at 0 before any call, so increase() sees the first.
    assert value(metrics, "acd_queue_offered_total", queue="sales") == 0.0
    for contact in ("c1", "c2", "c3"):
        metrics.observe("queued", {"contact": contact, "queue": "support"}, 1000.0)
    metrics.observe("transferred", {"contact": "c3", "queue": "sales"}, 1001.0)
    for wait in (3.0, 20.0, 25.0):
        metrics.observe("bridged", {"queue": "support", "wait": wait, "agent": "a"}, 1002.0)
    metrics.observe("abandoned", {"queue": "sales", "wait": 40.0, "cause": "X"}, 1003.0)
    metrics.observe("completed", {"queue": "support", "handle": 95.5}, 1004.0)
    metrics.observe("offered", {"contact": "c1", "agent": "a", "leg": "l"}, 1002.0)  # no metric

    assert value(metrics, "acd_queue_offered_total", queue="support") == 3.0
    assert value(metrics, "acd_queue_offered_total", queue="sales") == 1.0
    assert value(metrics, "acd_queue_answered_total", queue="support") == 3.0
    # 20 s target, inclusive: 3 and 20 are within, 25 is not.
    assert value(metrics, "acd_queue_answered_within_target_total", queue="support") == 2.0
    assert value(metrics, "acd_queue_abandoned_total", queue="sales") == 1.0
    assert value(metrics, "acd_queue_abandoned_total", queue="support") == 0.0
    assert value(metrics, "acd_queue_latest_wait_seconds", queue="support") == 25.0
    waits = "acd_queue_answered_wait_seconds"
    assert value(metrics, waits + "_count", queue="support") == 3.0
    assert value(metrics, waits + "_sum", queue="support") == 48.0
    assert value(metrics, waits + "_bucket", queue="support", le="5.0") == 1.0
    assert value(metrics, waits + "_bucket", queue="support", le="20.0") == 2.0
    assert value(metrics, waits + "_bucket", queue="support", le="30.0") == 3.0
    abandoned = "acd_queue_abandoned_wait_seconds"
    assert value(metrics, abandoned + "_bucket", queue="sales", le="30.0") == 0.0
    assert value(metrics, abandoned + "_bucket", queue="sales", le="45.0") == 1.0
    handle = "acd_queue_talk_seconds"
    assert value(metrics, handle + "_sum", queue="support") == 95.5
    assert value(metrics, handle + "_bucket", queue="support", le="60.0") == 0.0
    assert value(metrics, handle + "_bucket", queue="support", le="120.0") == 1.0
    # Queues not configured appear with their first fact; unknown kinds change nothing.
    metrics.observe("overflowed", {"queue": "extra"}, 1005.0)
    metrics.observe("callback_requested", {"queue": "extra"}, 1005.0)
    assert value(metrics, "acd_queue_overflowed_total", queue="extra") == 1.0
    assert value(metrics, "acd_queue_callback_requested_total", queue="extra") == 1.0
    assert value(metrics, "acd_queue_answered_total", queue="extra") == 0.0
    assert value(metrics, "acd_metrics_errors_total", stage="fact") == 0.0


def test_service_level_per_queue_target_and_rolling_window_r_stats() -> None:
    clock = Clock(1000.0)
    metrics = AcdMetrics(
        ["support", "sales"], targets={"sales": ServiceLevelTarget(10.0)}, clock=clock
    )
    sl = "acd_queue_service_level_ratio"
    assert math.isnan(value(metrics, sl, queue="support") or 0.0)  # nothing yet: NaN
    metrics.observe("bridged", {"queue": "sales", "wait": 15.0}, 1000.0)  # > 10: late
    metrics.observe("bridged", {"queue": "support", "wait": 15.0}, 1000.0)  # <= 20
    assert value(metrics, "acd_queue_answered_within_target_total", queue="sales") == 0.0
    assert value(metrics, "acd_queue_answered_within_target_total", queue="support") == 1.0
    clock.now = 2000.0
    metrics.observe("bridged", {"queue": "support", "wait": 21.0}, 2000.0)
    metrics.observe("abandoned", {"queue": "support", "wait": 0.0}, 2000.0)  # short (<= 5)
    metrics.observe("abandoned", {"queue": "support", "wait": 30.0}, 2000.0)
    # within 1 / (answered 2 + abandoned 2 - short 1)
    assert value(metrics, sl, queue="support") == pytest.approx(1 / 3)
    assert value(metrics, sl, queue="sales") == 0.0
    clock.now = 4700.0  # the calls at 1000 left the one-hour window, those at 2000 remain
    assert value(metrics, sl, queue="support") == 0.0
    assert math.isnan(value(metrics, sl, queue="sales") or 0.0)
    clock.now = 5700.0
    assert math.isnan(value(metrics, sl, queue="support") or 0.0)
    # The counters are not windowed: PromQL's increase() does that.
    assert value(metrics, "acd_queue_answered_total", queue="support") == 2.0


def test_service_level_leaves_short_abandons_out_per_queue_r_stats() -> None:
    """Short abandons (wait <= the queue's short_abandon_seconds, default 5) are in
    neither part of the ratio and have their own counter for PromQL."""
    rules = {"sales": ServiceLevelTarget(20.0, short_abandon_seconds=0.0)}
    metrics = AcdMetrics(["support", "sales"], targets=rules, clock=Clock(1000.0))
    for queue in ("support", "sales"):
        metrics.observe("bridged", {"queue": queue, "wait": 10.0}, 1000.0)
        metrics.observe("abandoned", {"queue": queue, "wait": 4.0}, 1000.0)
        metrics.observe("abandoned", {"queue": queue, "wait": 5.0}, 1000.0)
        metrics.observe("abandoned", {"queue": queue, "wait": 5.5}, 1000.0)
    sl, short = "acd_queue_service_level_ratio", "acd_queue_abandoned_short_total"
    # support: 4 and 5 s are short: 1 / (1 + 3 - 2)
    assert value(metrics, sl, queue="support") == 0.5
    assert value(metrics, short, queue="support") == 2.0
    assert value(metrics, "acd_queue_abandoned_total", queue="support") == 3.0
    # sales counts every abandon: 1 / (1 + 3)
    assert value(metrics, sl, queue="sales") == 0.25
    assert value(metrics, short, queue="sales") == 0.0


def test_adopted_counts_as_offered_only_when_new_to_the_queue_r_stats() -> None:
    metrics = AcdMetrics(["support", "sales"], clock=Clock())
    # Adopted by a restarted engine, then its queued: one call entering the queue.
    metrics.observe("adopted", {"contact": "c1", "queue": "support"}, 1000.0)
    metrics.observe("queued", {"contact": "c1", "queue": "support"}, 1000.0)
    # Transferred to sales and back: it entered each queue again.
    metrics.observe("transferred", {"contact": "c1", "queue": "sales"}, 1001.0)
    metrics.observe("transferred", {"contact": "c1", "queue": "support"}, 1002.0)
    assert value(metrics, "acd_queue_offered_total", queue="support") == 2.0
    assert value(metrics, "acd_queue_offered_total", queue="sales") == 1.0


@pytest.mark.parametrize(
    "data",
    [
        {"queue": 5, "wait": 1.0},
        {"wait": 1.0},
        {"queue": "", "wait": 1.0},
        {"queue": "support", "wait": "soon"},
        {"queue": "support", "wait": math.nan},
        {"queue": "support", "wait": True},
        {"queue": "support"},
    ],
)
def test_bad_fact_data_is_counted_never_raised_r_wallboard(data: dict[str, object]) -> None:
    metrics = AcdMetrics(["support"], clock=Clock())
    metrics.observe("bridged", data, 1000.0)
    assert value(metrics, "acd_metrics_errors_total", stage="fact") == 1.0
    assert value(metrics, "acd_queue_answered_total", queue="support") == 0.0
    assert math.isnan(value(metrics, "acd_queue_service_level_ratio", queue="support") or 0.0)


@pytest.mark.parametrize("window", [math.inf, -1.0, "3600"])
def test_bad_window_raises_value_error(window: object) -> None:
    with pytest.raises(ValueError, match="window"):
        AcdMetrics(["support"], window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"target_seconds": -1.0}, {"short_abandon_seconds": math.nan}, {"target_seconds": "20"}],
)
def test_bad_service_level_rule_raises_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="seconds"):
        ServiceLevelTarget(**kwargs)  # type: ignore[arg-type]


def test_two_instances_keep_their_own_registries() -> None:
    one, two = AcdMetrics(["support"]), AcdMetrics(["support"])
    one.observe("queued", {"contact": "c1", "queue": "support"}, 1.0)
    assert value(one, "acd_queue_offered_total", queue="support") == 1.0
    assert value(two, "acd_queue_offered_total", queue="support") == 0.0


def _routing_state(router: RedisRouter) -> None:
    """support (wrap-up 30 s) and sales; a1 in both, a2 paused in support, a4 free in
    sales, a3 logged out; c1 answered by a1 at 103, c2 waiting in support since 110."""
    router.put_queue(QueueConfig("support", wrap_up_seconds=30.0), 90.0)
    router.put_queue(QueueConfig("sales"), 90.0)
    for agent in ("a1", "a2", "a3", "a4"):
        router.put_agent(AgentProfile(agent), 90.0)
    router.login("a1", ["support", "sales"], 100.0)
    router.login("a2", ["support"], 100.0)
    router.login("a4", ["sales"], 100.5)
    router.pause("a2", "lunch", 101.0)
    (offer,) = router.arrive(Contact("c1", "voice", "support", 102.0), 102.0)
    assert offer.agent_id == "a1"
    router.confirm(offer.id, 103.0)
    assert router.arrive(Contact("c2", "voice", "support", 110.0), 110.0) == []


def test_scrape_gauges_from_redis_routing_state_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    router = RedisRouter(redis_client, tenant)
    _routing_state(router)
    clock = Clock(130.0)
    since = {"a1": ("busy", 103.0), "a2": ("free", 50.0)}  # a2's record disagrees: unused
    metrics = AcdMetrics(
        ["support", "sales", "empty"],
        clock=clock,
        state_provider=router.snapshot,
        since_provider=lambda: since,
    )
    assert value(metrics, "acd_queue_waiting_contacts", queue="support") == 1.0
    assert value(metrics, "acd_queue_longest_wait_seconds", queue="support") == 20.0
    assert value(metrics, "acd_queue_waiting_contacts", queue="empty") == 0.0
    assert value(metrics, "acd_queue_longest_wait_seconds", queue="empty") == 0.0
    agents = {
        (q, s): value(metrics, "acd_queue_agents", queue=q, state=s)
        for q in ("support", "sales")
        for s in ("free", "busy", "wrap_up", "paused")
    }
    assert agents == {
        ("support", "free"): 0.0,
        ("support", "busy"): 1.0,
        ("support", "wrap_up"): 0.0,
        ("support", "paused"): 1.0,
        ("sales", "free"): 1.0,
        ("sales", "busy"): 1.0,
        ("sales", "wrap_up"): 0.0,
        ("sales", "paused"): 0.0,
    }
    states = {"a1": "busy", "a2": "paused", "a3": "logged_out", "a4": "free"}
    for agent, state in states.items():
        for name in ("free", "passive", "busy", "wrap_up", "paused", "logged_out"):
            # One series per agent: its state's (the others have none, not a 0).
            expected = 1.0 if name == state else None
            assert value(metrics, "acd_agent_state", agent=agent, state=name) == expected
    assert value(metrics, "acd_agent_state_seconds", agent="a1") == 27.0  # since provider
    assert value(metrics, "acd_agent_state_seconds", agent="a4") == 29.5  # idle_since
    assert value(metrics, "acd_agent_state_seconds", agent="a2") is None  # unknown
    assert value(metrics, "acd_agent_state_seconds", agent="a3") is None  # logged out

    # c1 ends: a1 goes to wrap-up; c2 still waits (a1 in wrap-up, a2 paused).
    router.complete("c1", 140.0, 37.0)
    clock.now = 141.0
    assert value(metrics, "acd_queue_agents", queue="support", state="wrap_up") == 1.0
    assert value(metrics, "acd_queue_agents", queue="support", state="busy") == 0.0
    assert value(metrics, "acd_agent_state", agent="a1", state="wrap_up") == 1.0
    assert value(metrics, "acd_queue_longest_wait_seconds", queue="support") == 31.0
    assert value(metrics, "acd_metrics_errors_total", stage="scrape") == 0.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_redis_down_during_scrape_is_counted_not_raised_r_wallboard() -> None:
    down = redis.Redis(port=_closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    router = RedisRouter(down, "t")
    with pytest.raises(StoreError):
        router.snapshot()
    glue = EngineMetrics(["support"], router.snapshot, client=down, tenant="t")
    glue(Fact("queued", {"contact": "c1", "queue": "support"}))
    text = glue.text().decode()  # no exception: the Redis-read families are missing
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "acd_queue_offered" in names and "acd_queue_waiting_contacts" not in names
    assert (
        glue.metrics.registry.get_sample_value("acd_metrics_errors_total", {"stage": "scrape"})
        == 1.0
    )
    assert (
        glue.metrics.registry.get_sample_value("acd_queue_offered_total", {"queue": "support"})
        == 1.0
    )


def test_metrics_endpoint_and_phone_states_from_redis_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    router = RedisRouter(redis_client, tenant)
    _routing_state(router)
    store = RedisCallStore(redis_client, tenant)
    store.put_agent(AgentRecord("a1", "in_call", 103.0, contact="c1"))
    store.put_agent(AgentRecord("a4", "available", 100.5))
    store.flush()
    phones = f"acd:{{{tenant}}}:phones"
    redis_client.hset(phones, "bad", b"\xc1")  # not msgpack: skipped
    redis_client.hset(phones, "list", b"\x91\x01")  # msgpack, not a record: skipped
    assert phone_states(redis_client, tenant) == {
        "a1": ("busy", 103.0),
        "a4": ("free", 100.5),
    }
    glue = EngineMetrics(
        ["support", "sales"],
        router.snapshot,
        client=redis_client,
        tenant=tenant,
        clock=lambda: 133.0,
    )
    glue(Fact("bridged", {"queue": "support", "wait": 1.0, "agent": "a1", "contact": "c1"}))
    app = Flask("t")
    app.register_blueprint(glue.blueprint())
    reply = app.test_client().get("/metrics")  # no token: an exporter is unauthenticated
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.get_data(as_text=True))
        for s in family.samples
    }
    assert samples[("acd_queue_answered_total", (("queue", "support"),))] == 1.0
    assert samples[("acd_queue_waiting_contacts", (("queue", "support"),))] == 1.0
    assert samples[("acd_agent_state_seconds", (("agent", "a1"),))] == 30.0
    assert generate_latest(glue.metrics.registry).startswith(b"# HELP")


@pytest.fixture
def example_app(
    redis_server: RedisServer, redis_client: redis.Redis
) -> Iterator[tuple[App, Simulator]]:
    """examples/acd.yaml on the simulator and the private Redis (emptied first by
    ``redis_client``), HTTP on a free port."""
    yield from run_example(redis_server.url)


def test_acd_run_wiring_serves_metrics_with_the_config_targets_r_wallboard(
    example_app: tuple[App, Simulator],
) -> None:
    """``build``/``start`` as ``acd run`` does: facts reach the metrics and ``GET /metrics``
    on the HTTP API's port answers without a token, with each queue's configured target."""
    wired, sim = example_app
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    wired.runner.post("1001", AgentCommand("1001", "login", time.time(), ("support",)))
    caller = sim.place_call("0701234567", "7000")

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        def get() -> str:
            url = f"http://127.0.0.1:{wired.http_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as reply:
                return str(reply.read().decode())

        text: str = gevent.get_hub().threadpool.apply(get)  # the hub keeps serving
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    answered = ("acd_queue_answered_total", (("queue", "support"),))
    busy = ("acd_queue_agents", (("queue", "support"), ("state", "busy")))
    deadline = time.monotonic() + 10.0
    # The Redis-read gauges come from a shared read kept up to 1 s (acd.adapters.supervision).
    samples = scrape()
    while (samples.get(answered), samples.get(busy)) != (1.0, 1.0):
        if time.monotonic() > deadline:
            break
        gevent.sleep(0.05)
        samples = scrape()
    assert samples[answered] == 1.0
    assert samples[("acd_queue_agents", (("queue", "support"), ("state", "busy")))] == 1.0
    assert samples[("acd_agent_state", (("agent", "1001"), ("state", "busy")))] == 1.0
    assert wired.config.queues["sales"].service_level.target_seconds == 30.0
    metrics = next(o for o in wired.runner.observers if isinstance(o, EngineMetrics)).metrics
    assert metrics.target("sales").target_seconds == 30.0
    assert metrics.target("support").target_seconds == 20.0
    sim.hangup(caller)


def test_idle_passive_agents_are_passive_not_free_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    """R-WALLBOARD, R-PASSIVE: an idle passive agent is ``passive`` in
    ``acd_queue_agents`` and ``acd_agent_state``, not free for the callers waiting."""
    router = RedisRouter(redis_client, tenant)
    _routing_state(router)
    metrics = AcdMetrics(
        ["support", "sales"], clock=Clock(130.0), state_provider=router.snapshot, passive={"a4"}
    )
    assert value(metrics, "acd_queue_agents", queue="sales", state="free") == 0.0
    assert value(metrics, "acd_queue_agents", queue="sales", state="passive") == 1.0
    assert value(metrics, "acd_agent_state", agent="a4", state="passive") == 1.0
    assert value(metrics, "acd_agent_state", agent="a4", state="free") is None
    assert value(metrics, "acd_agent_state", agent="a1", state="busy") == 1.0  # not idle


def test_exposition_is_shared_for_max_age_and_has_no_created_series_r_wallboard() -> None:
    """R-WALLBOARD (metrics cost): scrapes within ``text_max_age`` share one build; the
    ``*_created`` series are left out of this registry only."""
    now = [0.0]
    builds: list[int] = []

    def state() -> RouterState:
        builds.append(1)
        return RouterState({}, {}, {}, {}, {}, (), {})

    metrics = AcdMetrics(["support"], state_provider=state, text_max_age=3600.0)
    first = metrics.text()
    metrics.observe("queued", {"contact": "c", "queue": "support"}, now[0])
    assert metrics.text() is first and metrics.builds == 1 and len(builds) == 1
    metrics.text_max_age = 0.0
    assert b'acd_queue_offered_total{queue="support"} 1.0' in metrics.text()
    assert metrics.builds == 2
    assert b"_created" not in first
    # The library's own exposition (other registries) still has them.
    assert b"acd_queue_offered_created" in generate_latest(metrics.registry)


@pytest.mark.parametrize("max_age", [-1.0, math.inf, "1", True])
def test_bad_text_max_age_raises_value_error(max_age: object) -> None:
    with pytest.raises(ValueError, match="text_max_age"):
        AcdMetrics(text_max_age=max_age)  # type: ignore[arg-type]


def test_engine_overflow_facts_count_in_the_queue_left_r_stats(start: Start) -> None:
    """R-STATS, R-OVERFLOW: ``acd_queue_overflowed_total`` counts the engine's own
    ``overflowed`` facts {contact, queue (left), to} of a rule's overflow, in the queue
    the caller left; the caller is offered in the queue it entered."""
    acd, _load = start_with_rules(
        start,
        {
            "support": [
                {"after": 0.2, "when": {"agents_logged_in": 0}, "then": {"overflow": "sales"}}
            ]
        },
    )
    caller = acd.sim.place_call("0701000001", "7000")
    acd.wait_fact("overflowed", contact=caller)
    metrics = AcdMetrics(["support", "sales"])
    for fact in acd.facts:
        metrics.observe(fact.kind, fact.data, 0.0)
    assert value(metrics, "acd_queue_overflowed_total", queue="support") == 1.0
    assert value(metrics, "acd_queue_overflowed_total", queue="sales") == 0.0
    assert value(metrics, "acd_queue_offered_total", queue="support") == 1.0
    assert value(metrics, "acd_metrics_errors_total", stage="fact") == 0.0


def test_rolling_window_keeps_one_tally_per_second_not_per_call_r_stats() -> None:
    """Many calls in the same second are one bucket (memory and scrape cost bounded by the
    window's seconds, not its calls), late facts still count, and the figure equals the
    per-call arithmetic."""
    clock = Clock(10_000.0)
    metrics = AcdMetrics(["support"], clock=clock)
    for i in range(1000):
        # 600 within 20 s, 200 late answers, 150 long abandons, 50 short abandons
        if i < 600:
            metrics.observe("bridged", {"queue": "support", "wait": 5.0}, 9_990.0 + i % 3)
        elif i < 800:
            metrics.observe("bridged", {"queue": "support", "wait": 40.0}, 9_995.0)
        elif i < 950:
            metrics.observe("abandoned", {"queue": "support", "wait": 60.0}, 9_980.0)
        else:
            metrics.observe("abandoned", {"queue": "support", "wait": 2.0}, 9_999.0)
    assert len(metrics._rolling) == 6  # seconds 9980, 9990-9992, 9995, 9999
    # 600 / (800 answered + 200 abandoned - 50 short)
    assert value(metrics, "acd_queue_service_level_ratio", queue="support") == pytest.approx(
        600 / 950
    )
    clock.now = 9_980.0 + 3_600.5  # the long abandons at 9980 left the window
    # 600 / (800 answered + 50 abandoned - 50 short)
    assert value(metrics, "acd_queue_service_level_ratio", queue="support") == pytest.approx(
        600 / 800
    )
