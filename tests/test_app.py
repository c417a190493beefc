"""``acd.app`` end to end: the shipped example configuration, pointed at the simulator and
a private Redis, wired by ``build``/``start`` as ``acd run`` does; the engine's facts land
in the events stream with the documented schema."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import msgpack
import pytest
import redis

from acd.app import App
from acd.dev.redis_server import RedisServer
from acd.engine.events import AgentCommand
from freeswitch.sim import AgentPhone, Simulator
from tests.engine_harness import run_example


@pytest.fixture
def app(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[tuple[App, Simulator]]:
    yield from run_example(redis_server.url)


def _wait(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        gevent.sleep(0.01)
    return bool(predicate())  # type: ignore[operator]


def test_example_config_serves_a_caller_and_logs_facts_to_the_events_stream(
    app: tuple[App, Simulator], redis_client: redis.Redis
) -> None:
    wired, sim = app
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    wired.runner.post("1001", AgentCommand("1001", "login", time.time(), ("support",)))
    caller = sim.place_call("0701234567", "7000")
    stream = f"acd:{{{wired.config.tenant}}}:events"

    def read(count: int | None = None) -> list[dict[bytes, bytes]]:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = redis_client.xrange(  # type: ignore[assignment]
            stream, count=count
        )
        return [fields for _, fields in entries]

    def kinds() -> list[str]:
        return [
            fields[b"k"].decode()
            for fields in read()
            if msgpack.unpackb(fields[b"d"]).get("contact") == caller
        ]

    assert _wait(lambda: "bridged" in kinds())
    sequence = kinds()
    assert sequence.index("queued") < sequence.index("offered") < sequence.index("bridged")
    first = read(1)[0]
    assert set(first) == {b"k", b"t", b"d"} and float(first[b"t"]) > 0
    sim.hangup(caller)
    assert _wait(lambda: "completed" in kinds())
    assert wired.store.get_call(caller) is None
