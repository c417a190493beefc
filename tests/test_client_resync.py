"""No input can make the client reconnect or resync in a loop (issue 11, part 1).

A fault that drops every new connection, or a resync handler whose own work overflows the
backlog, used to make the client reconnect or resync as fast as it could. Reconnects and
``on_resync_needed`` now share one policy (:class:`freeswitch.backoff.Backoff`): waits
double from ``reconnect_min`` up to ``reconnect_max``, jittered, and start over only after
a quiet period of ``reconnect_max`` seconds. The clock and sleep are injected: time here
is fake and only moves when the client sleeps, so the waits are checked exactly.
"""

from __future__ import annotations

import itertools
import random
import uuid

import gevent
import pytest

from freeswitch.backoff import Backoff
from freeswitch.client import ClientSettings, ESLClient
from tests.fake_esl_server import FakeFreeSwitch, channel_event, wait_until

pytestmark = pytest.mark.timeout(60)

MIN, MAX = 0.01, 0.08
BASES = [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]  # MIN doubling, capped at MAX


class FakeTime:
    """A monotonic clock that advances only by what the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[tuple[gevent.Greenlet | None, float]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        current = gevent.getcurrent()
        self.sleeps.append((current if isinstance(current, gevent.Greenlet) else None, seconds))
        self.now += seconds
        gevent.sleep(0)


def fake_time_client(
    clients: list[ESLClient], port: int, time: FakeTime, **extra: object
) -> ESLClient:
    values: dict[str, object] = {
        "connect_timeout": 2.0,
        "command_timeout": 2.0,
        "reconnect_min": MIN,
        "reconnect_max": MAX,
        "stop_timeout": 1.0,
    }
    values.update(extra)
    settings = ClientSettings("127.0.0.1", port, "ClueCon", **values)  # type: ignore[arg-type]
    client = ESLClient(settings, rng=random.Random(7), sleep=time.sleep, clock=time.clock)
    clients.append(client)
    return client


def assert_backs_off(waits: list[float], bases: list[float]) -> None:
    assert len(waits) >= len(bases), waits
    for wait, base in zip(waits, bases, strict=False):
        assert base / 2 <= wait <= base, (waits, bases)


def test_a_fault_that_drops_every_new_connection_is_retried_ever_more_slowly(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """The issue's loop: the resync handler's work breaks the connection (here it makes
    FreeSWITCH send a malformed frame), the client reconnects, resyncs, and again. The
    back-off is not forgotten when a connection that soon fails comes up."""
    time = FakeTime()
    client = fake_time_client(clients, fake.port, time)
    resyncs: list[float] = []

    def resync(reason: str) -> None:
        resyncs.append(time.now)
        if len(resyncs) <= len(BASES):
            fake.push(b"Content-Length: x\nContent-Type: text/event-plain\n\n")

    client.on_resync_needed(resync)
    client.connect()
    fake.drop_connections()
    wait_until(lambda: len(resyncs) == len(BASES) + 1 and client.connected)
    supervisor = client._supervisor  # its sleeps are reconnect waits
    waits = [seconds for greenlet, seconds in time.sleeps if greenlet is supervisor]
    assert_backs_off(waits, BASES)
    assert client.reconnects == len(BASES) + 1
    assert client.api("status").ok


def test_reconnect_back_off_starts_over_after_a_healthy_connection(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    time = FakeTime()
    client = fake_time_client(clients, fake.port, time)
    client.connect()
    fake.drop_connections()
    wait_until(lambda: client.reconnects == 1 and client.connected)
    fake.drop_connections()
    wait_until(lambda: client.reconnects == 2 and client.connected)
    time.now += 2 * MAX  # the connection stays up beyond reconnect_max: healthy
    fake.drop_connections()
    wait_until(lambda: client.reconnects == 3 and client.connected)
    supervisor = client._supervisor
    waits = [seconds for greenlet, seconds in time.sleeps if greenlet is supervisor]
    assert_backs_off(waits, [0.01, 0.02, 0.01])


def test_resync_signals_back_off_and_start_over_after_a_quiet_period(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """A resync handler whose work overflows the backlog again (a burst of events per
    resync): the signals it causes are paced like reconnects, merged while waiting, and
    after reconnect_max of quiet the next one comes at once."""
    time = FakeTime()
    client = fake_time_client(clients, fake.port, time, backlog=2)
    call = str(uuid.uuid4())
    burst = b"".join(channel_event("CHANNEL_PARK", call, n) for n in range(12))
    client.register_handle("CHANNEL_PARK", lambda event: None)
    resyncs: list[float] = []
    reasons: set[str] = set()
    limit = [len(BASES) + 1]

    def resync(reason: str) -> None:
        resyncs.append(time.now)
        reasons.add(reason)
        if len(resyncs) < limit[0]:
            fake.push(burst)

    client.on_resync_needed(resync)
    client.connect()
    fake.push(burst)
    wait_until(lambda: len(resyncs) == len(BASES) + 1)
    assert client.wait_idle(2)
    gaps = [b - a for a, b in itertools.pairwise(resyncs)]
    assert_backs_off(gaps, BASES)
    assert reasons == {"events_dropped"} and client.reconnects == 0

    time.now += 2 * MAX  # quiet for longer than reconnect_max
    limit[0] = len(resyncs) + 2
    before = len(resyncs)
    fake.push(burst)
    wait_until(lambda: len(resyncs) == before + 2)
    assert resyncs[before] == resyncs[before - 1] + 2 * MAX  # at once: no wait after quiet
    assert_backs_off([resyncs[before + 1] - resyncs[before]], [MIN])


# -- the policy itself ---------------------------------------------------------------------


def test_backoff_doubles_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 3.0, random.Random(1))
    waits = [backoff.next_delay() for _ in range(6)]
    assert_backs_off(waits, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0])
    assert len(set(waits)) == len(waits)  # jittered, not identical
    backoff.reset()
    assert backoff.base == 0.5
    assert_backs_off([backoff.next_delay()], [0.5])


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_backoff_refuses_bounds_out_of_order(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="back-off bounds"):
        Backoff(low, high, random.Random(1))
