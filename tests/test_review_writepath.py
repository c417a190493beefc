"""Review of the call store's REPLY OFF write path (a575bc8): cases that break what
``RedisCallStore.send`` promises (nothing unread ever waits on the writer's socket; what
was handed over is applied, in the order made)."""

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

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _record(contact: str) -> CallRecord:
    return CallRecord(contact=contact, kind="caller", state="queued", parked_at=1.0, queue="q")


@pytest.fixture
def acl_url(redis_server: RedisServer, redis_client: redis.Redis, tenant: str) -> Iterator[str]:
    """A URL for a user that may write keys but not use CLIENT (a hardened ACL, or a
    proxy / managed service that refuses CLIENT REPLY)."""
    user = f"w{tenant}"
    redis_client.execute_command("ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-client")
    try:
        yield f"redis://{user}:pw@127.0.0.1:{redis_server.port}/0"
    finally:
        redis_client.execute_command("ACL", "DELUSER", user)


def test_review_reply_off_refused_leaves_replies_unread_on_the_writer(
    acl_url: str, tenant: str
) -> None:
    """send() never checks that CLIENT REPLY OFF took effect: when Redis refuses it, every
    write's reply (and the refusal) waits unread on the writer's socket, which is exactly
    what send()'s docstring says must never happen (a kill then resets the connection)."""
    store = RedisCallStore(redis.Redis(connection_pool=connection_pool(acl_url)), tenant)
    store.put_call(_record("c1"))
    store.send()  # no StoreError: the refusal is not seen
    sock = store._writer._sock
    deadline = time.monotonic() + 2.0
    while not readable(sock) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not readable(sock), "replies wait unread on the writer's socket"


def test_review_reply_off_refused_then_sigkill_loses_handed_over_writes(
    acl_url: str, redis_client: redis.Redis, tenant: str
) -> None:
    """The SIGKILL test of tests/test_call_store.py, with a user that may not use CLIENT:
    writes send() handed over are lost (each send also drops the previous connection
    with replies unread on it: a reset)."""
    script = textwrap.dedent(
        """
        import os, signal, sys, redis
        from acd.adapters.redis_pool import connection_pool
        from acd.adapters.redis_store import RedisCallStore
        from acd.engine.records import CallRecord
        url, tenant = sys.argv[1], sys.argv[2]
        store = RedisCallStore(redis.Redis(connection_pool=connection_pool(url)), tenant)
        for n in range(20000):
            store.put_call(CallRecord(contact=f"c{n}", kind="caller", state="queued",
                                      parked_at=1.0, queue="q"))
            store.link_leg(f"leg{n}", f"c{n}")
            if n % 5000 == 0:
                store.send()
        store.send()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    command = [sys.executable, "-c", script, acl_url, tenant]
    subprocess.run(command, cwd=_ROOT, timeout=60, check=False)
    key = f"acd:{{{tenant}}}:legs"
    deadline = time.monotonic() + 5
    while redis_client.hlen(key) < 20000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert redis_client.hlen(key) == 20000


def test_review_runner_stop_while_flusher_sends_loses_its_writes(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> None:
    """Runner.stop() kills the flush-behind greenlet (block=False) and then flushes. When
    the flusher is inside send() (sendall waiting for room in the socket buffer), the
    kill takes the batch it had swapped out of ``_pending`` with it; stop()'s flush then
    succeeds, and a later write is applied while earlier ones are missing."""
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
    assert redis_client.hlen(f"acd:{{{tenant}}}:legs") == 20000  # ...the earlier ones not
