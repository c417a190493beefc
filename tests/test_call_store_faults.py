"""The call store's write path under faults: what ``RedisCallStore.send`` promises
(nothing unread ever waits on the writer's socket; what was handed over is applied, in
the order made) where Redis refuses ``CLIENT REPLY``, where the engine stops while a
write is under way, and where Redis closed the writer's connection."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import redis

from acd.adapters.redis_pool import connection_pool, readable
from acd.adapters.redis_store import RedisCallStore
from acd.dev.redis_server import RedisServer
from acd.engine.records import CallRecord
from tests.test_call_store import legs_after_send_then_sigkill

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _record(contact: str) -> CallRecord:
    return CallRecord(contact=contact, kind="caller", state="queued", parked_at=1.0, queue="q")


@pytest.fixture
def acl_url(redis_server: RedisServer, redis_client: redis.Redis, tenant: str) -> Iterator[str]:
    """A URL for a user that may write keys but not use CLIENT (a hardened ACL, or a
    proxy / managed service that refuses CLIENT REPLY)."""
    user = f"w{tenant}"
    redis_client.execute_command("ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-client")  # type: ignore[no-untyped-call]
    try:
        yield f"redis://{user}:pw@127.0.0.1:{redis_server.port}/0"
    finally:
        redis_client.execute_command("ACL", "DELUSER", user)  # type: ignore[no-untyped-call]


def test_where_redis_refuses_reply_off_no_reply_is_left_unread(acl_url: str, tenant: str) -> None:
    """Redis refusing ``CLIENT REPLY OFF`` (an ACL without ``client``): send() reads
    every reply itself, so none waits unread on the writer's socket."""
    store = RedisCallStore(redis.Redis(connection_pool=connection_pool(acl_url)), tenant)
    store.put_call(_record("c1"))
    store.send()  # no StoreError: the refusal is not seen
    sock = store._writer._sock
    deadline = time.monotonic() + 2.0
    try:
        while not readable(sock) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not readable(sock), "replies wait unread on the writer's socket"
    finally:
        store.close()
        store.client.close()


def test_where_redis_refuses_reply_off_a_sigkill_after_send_loses_nothing(
    acl_url: str, redis_client: redis.Redis, tenant: str
) -> None:
    """The SIGKILL test of tests/test_call_store.py (20,000 writes) with a user that
    may not use CLIENT: replies stay on and are read, and every write arrives (before
    send() read them, 16,000-17,000 did)."""
    assert legs_after_send_then_sigkill(acl_url, tenant, 20000) == 20000


def test_runner_stop_while_the_flusher_writes_loses_nothing(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> None:
    """Runner.stop() while the flush-behind greenlet is inside send() (sendall waiting
    for room in the socket buffer): it is let finish, not killed with the batch it took,
    so the earlier writes and the later one are all applied."""
    script = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import sys, types
        import gevent, redis
        from acd.adapters.redis_pool import connection_pool
        from acd.adapters.redis_store import RedisCallStore
        from acd.adapters.runner import Runner
        from acd.engine.records import CallRecord
        url, tenant = sys.argv[1], sys.argv[2]
        store = RedisCallStore(redis.Redis(connection_pool=connection_pool(url)), tenant)
        store.put_call(CallRecord(contact="warm", kind="caller", state="queued",
                                  parked_at=1.0, queue="q"))
        store.flush()
        runner = Runner(types.SimpleNamespace(store=store), None)
        big = "x" * 2000
        for n in range(20000):  # ~40 MB: more than the socket buffers hold
            store.link_leg(f"leg{n}", big)
        runner._flush_wanted.set()  # what apply() does after a command-less event
        gevent.sleep(0.001)  # the flusher is now in sendall
        store.put_call(CallRecord(contact="after", kind="caller", state="queued",
                                  parked_at=1.0, queue="q"))
        runner.stop()
        print(runner.counters["store_errors"])
        """
    )
    command = [sys.executable, "-c", script, redis_server.url, tenant]
    done = subprocess.run(command, cwd=_ROOT, timeout=120, check=False, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"]  # stop() reported no store error
    assert redis_client.hexists(f"acd:{{{tenant}}}:calls", "after")  # the later write is in
    assert redis_client.hlen(f"acd:{{{tenant}}}:legs") == 20000  # and the earlier ones


def test_flush_after_redis_closed_an_idle_writer_is_no_error(tenant: str) -> None:
    """Redis closed the idle writer (``timeout``, CLIENT KILL, a restart) after every
    write was applied: flush() makes the connection anew instead of failing."""
    with RedisServer() as server:  # private: CLIENT KILL must not touch other tests
        check = redis.Redis.from_url(server.url)
        store = RedisCallStore(redis.Redis(connection_pool=connection_pool(server.url)), tenant)
        store.put_call(_record("c1"))
        store.flush()
        check.client_kill_filter(_type="normal")  # skips this client itself
        sock = store._writer._sock
        deadline = time.monotonic() + 5.0
        while not readable(sock) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert check.hexists(f"acd:{{{tenant}}}:calls", "c1")
        try:
            store.flush()  # nothing lost, nothing to send: must not raise
        finally:
            store.close()
            store.client.close()
            check.close()


def test_writes_of_a_lane_finishing_after_runner_stop_are_written_by_close(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> None:
    """App.stop() runs runner.stop(), then client.stop(), whose dispatcher lets running
    lanes finish, then store.close(). A lane that finishes a command-less event in
    between has its writes written by close()."""
    import types  # noqa: PLC0415

    from acd.adapters.runner import Runner  # noqa: PLC0415

    store = RedisCallStore(redis.Redis(connection_pool=connection_pool(redis_server.url)), tenant)
    client = types.SimpleNamespace(batch=lambda: types.SimpleNamespace(texts=[]))
    runner = Runner(types.SimpleNamespace(store=store), client)  # type: ignore[arg-type]
    runner.stop()  # App.stop(): the runner first
    store.put_call(_record("late"))  # a lane still handling, say, a caller's hang-up
    runner.apply([])  # its effects: no command for FreeSWITCH
    store.close()  # App.stop(): after client.stop() drained the lanes
    store.client.close()
    assert redis_client.hexists(f"acd:{{{tenant}}}:calls", "late")
