"""Shared fixtures: a private Redis server for the whole session, a clean keyspace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from acd.dev.redis_server import RedisServer
from freeswitch.client import ESLClient
from freeswitch.sim import Simulator
from routing.api import Router
from routing.model import ReferenceRouter
from routing.store import RedisRouter
from tests.engine_harness import Start, starter
from tests.fake_esl_server import FakeFreeSwitch
from tests.freeswitch_lab import freeswitch_lab, lab  # noqa: F401 - real-FreeSWITCH fixtures


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on the private server, emptied before each test for isolation."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def tenant() -> str:
    """A tenant name unique to this test, so keys never collide across tests."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulated FreeSWITCH on a free loopback port, 100x faster than real time, with no
    heartbeat events (they would interleave with what a test counts)."""
    simulator = Simulator(port=0, time_scale=0.01, heartbeat_interval=None).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def fake() -> Iterator[FakeFreeSwitch]:
    """A scripted Event Socket server for client tests that need exact control of bytes."""
    server = FakeFreeSwitch().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clients() -> Iterator[list[ESLClient]]:
    """Clients a test makes (``make_client(clients, ...)``), all stopped afterwards."""
    made: list[ESLClient] = []
    yield made
    for client in made:
        client.stop()


@pytest.fixture(params=["model", "redis"])
def router(request: pytest.FixtureRequest) -> Iterator[Router]:
    """Both routing adapters, so one contract suite runs against the reference model and
    the Redis fast path alike."""
    if request.param == "model":
        yield ReferenceRouter()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisRouter(client, request.getfixturevalue("tenant"))


@pytest.fixture
def start(redis_client: redis.Redis, tenant: str) -> Iterator[Start]:
    """Engines on the simulator, as many as a test starts (tests/engine_harness.py)."""
    yield from starter(redis_client, tenant)
