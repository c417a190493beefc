"""``acd.app`` end to end: the shipped example configuration, pointed at the simulator and
a private Redis, wired by ``build``/``start`` as ``acd run`` does; the engine's facts land
in the events stream with the documented schema."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import msgpack
import pytest
import redis
import yaml

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


def test_acd_run_on_a_busy_http_port_fails_in_one_line_before_touching_freeswitch(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path, tenant: str
) -> None:
    """`acd run` with its HTTP port taken: exit 2 with one line naming the port, no
    traceback, and neither FreeSWITCH (the Event Socket) nor routing in Redis touched:
    the port is claimed before anything else."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    event_socket = socket.socket()  # stands for FreeSWITCH: counts who connects
    event_socket.bind(("127.0.0.1", 0))
    event_socket.listen(1)
    event_socket.setblocking(False)
    try:
        config = {
            "tenant": tenant,
            "esl": {"host": "127.0.0.1", "port": event_socket.getsockname()[1]},
            "redis": {"url": redis_server.url},
            "http": {"host": "127.0.0.1", "port": busy.getsockname()[1]},
            "skills": {"billing": "Invoices"},
            "queues": {"support": {"code": 1}},
        }
        path = tmp_path / "acd.yaml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from acd.cli import main; sys.exit(main())",
                "run",
                "--config",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert "http-port-busy" in lines[0] and str(busy.getsockname()[1]) in lines[0]
        assert "Traceback" not in done.stderr
        with pytest.raises(BlockingIOError):
            event_socket.accept()  # nobody ever connected to "FreeSWITCH"
        assert redis_client.keys(f"*{tenant}*") == []  # routing untouched
    finally:
        busy.close()
        event_socket.close()
