"""Bad calls: the same error from both routers, and nothing changed (DESIGN contract 3).

Also the Redis adapter's own promises: keys in one Cluster slot, scripts registered once,
infrastructure errors converted to routing errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from acd.errors import ACDError, ValidationError
from routing.api import AgentProfile, Contact, EscalationStep, QueueConfig, Router, Target
from routing.errors import (
    AgentBusyError,
    AgentUnavailableError,
    ContactNotWaitingError,
    DuplicateContactError,
    InvalidTransitionError,
    ReservationExpiredError,
    StoreError,
    UnknownAgentError,
    UnknownContactError,
    UnknownQueueError,
    UnknownReservationError,
)
from routing.store import SCRIPTS, RedisRouter, script_source


@pytest.fixture
def busy_world(router: Router) -> Router:
    """q with agents a (busy with c1), b (reserved for c2), p (paused), out (logged out),
    and c3 waiting."""
    router.put_queue(QueueConfig("q", reservation_timeout=10.0), 0.0)
    for agent_id in ("a", "b", "p", "out"):
        router.put_agent(AgentProfile(agent_id, languages=("en",)), 0.0)
    router.login("a", ["q"], 1.0)
    router.login("b", ["q"], 2.0)
    router.login("p", ["q"], 3.0)
    router.pause("p", "lunch", 3.0)
    router.arrive(Contact("c1", "voice", "q", 4.0), 4.0)
    router.confirm("c1#1", 4.5)
    router.arrive(Contact("c2", "voice", "q", 5.0), 5.0)
    router.arrive(Contact("c3", "voice", "q", 6.0), 6.0)
    return router


BAD_CALLS: list[tuple[str, type[ACDError], Callable[[Router], Any]]] = [
    ("login unknown agent", UnknownAgentError, lambda r: r.login("ghost", ["q"], 7.0)),
    ("login unknown queue", UnknownQueueError, lambda r: r.login("out", ["q", "zz"], 7.0)),
    ("logout unknown agent", UnknownAgentError, lambda r: r.logout("ghost", None, 7.0)),
    ("pause logged out", InvalidTransitionError, lambda r: r.pause("out", "lunch", 7.0)),
    ("unpause ready agent", InvalidTransitionError, lambda r: r.unpause("a", 7.0)),
    ("unpause unknown", UnknownAgentError, lambda r: r.unpause("ghost", 7.0)),
    (
        "arrive unknown queue",
        UnknownQueueError,
        lambda r: r.arrive(Contact("n", "voice", "zz", 7.0), 7.0),
    ),
    (
        "arrive duplicate",
        DuplicateContactError,
        lambda r: r.arrive(Contact("c3", "voice", "q", 7.0), 7.0),
    ),
    (
        "arrive unknown target",
        UnknownAgentError,
        lambda r: r.arrive(Contact("n", "voice", "q", 7.0, target=Target("zz", "private", 5)), 7),
    ),
    ("abandon unknown", UnknownContactError, lambda r: r.abandon("zz", 7.0)),
    ("abandon busy", InvalidTransitionError, lambda r: r.abandon("c1", 7.0)),
    ("confirm unknown", UnknownReservationError, lambda r: r.confirm("zz#1", 7.0)),
    ("confirm stale attempt", UnknownReservationError, lambda r: r.confirm("c2#2", 7.0)),
    ("confirm twice", UnknownReservationError, lambda r: r.confirm("c1#1", 7.0)),
    ("confirm expired", ReservationExpiredError, lambda r: r.confirm("c2#1", 15.0)),
    ("release unknown", UnknownReservationError, lambda r: r.release("c3#1", 7.0)),
    ("complete reserved", InvalidTransitionError, lambda r: r.complete("c2", 7.0, 1.0)),
    ("complete unknown", UnknownContactError, lambda r: r.complete("zz", 7.0, 1.0)),
    ("position busy", InvalidTransitionError, lambda r: r.position("c1", 7.0)),
    ("position unknown", UnknownContactError, lambda r: r.position("zz", 7.0)),
    ("pick unknown contact", UnknownContactError, lambda r: r.pick("zz", "out", 7.0)),
    ("pick offered contact", ContactNotWaitingError, lambda r: r.pick("c2", "ghost", 7.0)),
    ("pick busy contact", ContactNotWaitingError, lambda r: r.pick("c1", "b", 7.0)),
    ("pick for unknown agent", UnknownAgentError, lambda r: r.pick("c3", "ghost", 7.0)),
    ("pick for logged out", AgentUnavailableError, lambda r: r.pick("c3", "out", 7.0)),
    ("pick for paused", AgentUnavailableError, lambda r: r.pick("c3", "p", 7.0)),
    ("pick for agent in call", AgentBusyError, lambda r: r.pick("c3", "a", 7.0)),
    ("pick for offered agent", AgentBusyError, lambda r: r.pick("c3", "b", 7.0)),
    ("pick bad agent id", ValidationError, lambda r: r.pick("c3", "a b", 7.0)),
    ("bad agent id", ValidationError, lambda r: r.login("a b", ["q"], 7.0)),
    ("injection in id", ValidationError, lambda r: r.pause("a\nb", "lunch", 7.0)),
    ("no queues", ValidationError, lambda r: r.login("a", [], 7.0)),
    ("queues as string", ValidationError, lambda r: r.login("a", "q", 7.0)),
    ("now is NaN", ValidationError, lambda r: r.tick(math.nan)),
    ("now negative", ValidationError, lambda r: r.tick(-1.0)),
    ("now too far", ValidationError, lambda r: r.tick(1e10)),
    ("now is bool", ValidationError, lambda r: r.tick(True)),
    ("tick limit", ValidationError, lambda r: r.tick(7.0, 0)),
    ("bad reservation id", ValidationError, lambda r: r.confirm("c2", 7.0)),
    ("bad release state", ValidationError, lambda r: r.release("c2#1", 7.0, "gone")),  # type: ignore[arg-type]
    ("negative handle", ValidationError, lambda r: r.complete("c1", 7.0, -1.0)),
    ("bad reason", ValidationError, lambda r: r.pause("a", "", 7.0)),
    ("not a contact", ValidationError, lambda r: r.arrive("c9", 7.0)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "error", "bad"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_and_changes_nothing(
    busy_world: Router, name: str, error: type[ACDError], bad: Callable[[Router], Any]
) -> None:
    before = busy_world.snapshot()
    log_before = busy_world.log_tail(50)
    with pytest.raises(error):
        bad(busy_world)
    assert busy_world.snapshot() == before
    assert busy_world.log_tail(50) == log_before


@pytest.mark.parametrize(
    "build",
    [
        lambda: AgentProfile("a", {"x": 11}),
        lambda: AgentProfile("a", {"x": 0}),
        lambda: AgentProfile("a", {"x": True}),
        lambda: AgentProfile("a", {"bad skill": 1}),
        lambda: AgentProfile("a", chat_capacity=-1),
        lambda: AgentProfile("{tag}"),
        lambda: Contact("c", "fax", "q", 1.0),  # type: ignore[arg-type]
        lambda: Contact("c", "voice", "q", 1.0, priority=1001),
        lambda: Contact("c", "voice", "q", math.inf),
        lambda: Contact("c", "voice", "q", 1.0, language="en us"),
        lambda: Target("a", "private", 0.0),
        lambda: Target("a", "vip", 5.0),  # type: ignore[arg-type]
        lambda: QueueConfig("q", reservation_timeout=0.0),
        lambda: QueueConfig("q", channel_priority={"fax": 1}),
        lambda: QueueConfig("q", no_answer_state="gone"),  # type: ignore[arg-type]
        lambda: QueueConfig("q", escalation=(EscalationStep(5.0), EscalationStep(1.0))),
        lambda: QueueConfig("q", passive_waiting=0),
        lambda: EscalationStep(1.0, levels={"x": 11}),
        lambda: EscalationStep(1.0, add_queues="q"),  # type: ignore[arg-type]
    ],
)
def test_values_validate_themselves(build: Callable[[], object]) -> None:
    """Bad input is refused before any router sees it (ValidationError is a ValueError)."""
    with pytest.raises(ValidationError):
        build()


# ----------------------------------------------------------------- Redis adapter only


def test_every_key_of_a_tenant_hashes_to_one_cluster_slot(
    redis_client: redis.Redis, tenant: str
) -> None:
    router = RedisRouter(redis_client, tenant)
    router.put_queue(QueueConfig("q", passive_wait_seconds=5.0), 0.0)
    router.put_agent(AgentProfile("a", {"x": 1}, ("en",), chat_capacity=2), 0.0)
    router.put_agent(AgentProfile("p", {"x": 1}, ("en",), passive=True), 0.0)
    router.login("a", ["q"], 1.0)
    router.login("p", ["q"], 1.0)
    router.pause("p", "lunch", 1.0)
    router.arrive(Contact("c1", "chat", "q", 2.0), 2.0)
    router.arrive(Contact("c2", "voice", "q", 3.0), 3.0)
    router.arrive(Contact("c3", "voice", "q", 3.0, target=Target("a", "private", 9.0)), 3.0)
    router.position("c2", 4.0)
    keys = [k.decode() for k in redis_client.scan_iter(count=1000)]
    assert len(keys) > 10
    assert all(k.startswith(f"acd:{{{tenant}}}:") for k in keys)
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_scripts_are_registered_once_and_found_by_sha(
    redis_client: redis.Redis, tenant: str
) -> None:
    """One script holds every operation (a small Lua heap); it is loaded once and later
    routers find it by its sha."""
    router = RedisRouter(redis_client, tenant)
    router.put_queue(QueueConfig("q"), 0.0)
    assert redis_client.script_exists(router._script.sha) == [True]
    again = RedisRouter(redis_client, tenant)
    assert again._script.sha == router._script.sha
    source = script_source()
    assert source.startswith("-- Generated from routing/keys.py")
    assert "KEYS[1]" in source and "ARGV[2]" in source
    for name in SCRIPTS:
        assert f"if OPERATION == '{name}' then" in source
    with pytest.raises(StoreError, match="unknown operation"):
        router._run("no_such_operation", 1.0)


def test_store_refuses_a_decoding_client(redis_server: Any, tenant: str) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(ValidationError):
            RedisRouter(client, tenant)
    finally:
        client.close()


def test_tenant_names_cannot_break_the_hash_tag(redis_client: redis.Redis) -> None:
    with pytest.raises(ValidationError):
        RedisRouter(redis_client, "a}b")


def test_lost_redis_is_a_store_error(tenant: str) -> None:
    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    router = RedisRouter(client, tenant)
    with pytest.raises(StoreError):
        router.tick(1.0)
    with pytest.raises(StoreError):
        router.snapshot()


def test_log_stream_is_trimmed(redis_client: redis.Redis, tenant: str) -> None:
    router = RedisRouter(redis_client, tenant, log_maxlen=10)
    router.put_queue(QueueConfig("q"), 0.0)
    for i in range(300):
        router.put_queue(QueueConfig("q"), float(i))
    assert redis_client.xlen(router.keys.log()) < 300
    assert [e.at for e in router.log_tail(2)] == [298.0, 299.0]


def test_tenants_do_not_see_each_other(redis_client: redis.Redis) -> None:
    one, two = RedisRouter(redis_client, "one"), RedisRouter(redis_client, "two")
    one.put_queue(QueueConfig("q"), 0.0)
    one.put_agent(AgentProfile("a"), 0.0)
    with pytest.raises(UnknownAgentError):
        two.login("a", ["q"], 1.0)
    assert two.snapshot().agents == {}
