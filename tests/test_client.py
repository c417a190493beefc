"""ESLClient behaviour against a scripted fake FreeSWITCH over real TCP: reconnects,
correlation under load, per-call ordering, timeouts, backlog overflow, stop."""

from __future__ import annotations

import random
import uuid

import gevent
import gevent.event
import pytest

from freeswitch import commands, wire
from freeswitch.client import ESLClient
from freeswitch.errors import (
    ConnectionLost,
)
from freeswitch.messages import Event
from tests.fake_esl_server import FakeFreeSwitch, channel_event, make_client, wait_until

pytestmark = pytest.mark.timeout(60)


# --- reconnect ------------------------------------------------------------------------


def test_drop_mid_command_fails_fast_then_reconnects_and_resubscribes(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """R-SLA / contract 2: an in-flight command fails with ConnectionLost (not a timeout),
    waiting bgapi jobs fail too, the client reconnects, replays `filter` (the user's and
    its own BACKGROUND_JOB one) before `event`, and fires on_reconnected and
    on_resync_needed."""
    client = make_client(clients, fake.port, events=("CHANNEL_PARK",), command_timeout=30.0)
    client.add_filter("Event-Name", "CHANNEL_PARK")
    reconnected = gevent.event.Event()
    reasons: list[str] = []
    client.on_reconnected(reconnected.set)
    client.on_resync_needed(reasons.append)
    client.connect()
    fake.job_delay = lambda cmd: 60.0
    job = client.bgapi("status")

    fake.reply_delay = 30.0
    in_flight = gevent.spawn(client.api, "status")
    wait_until(lambda: fake.received[-1] == "api status", message="command not sent")
    fake.reply_delay = 0.0
    fake.drop_connections()

    with pytest.raises(ConnectionLost):
        in_flight.get(timeout=5)
    with pytest.raises(ConnectionLost):
        job.wait(5)
    assert reconnected.wait(5)
    wait_until(lambda: reasons == ["reconnected"])
    assert client.reconnects == 1
    assert client.connected
    subscriptions = [c for c in fake.received if c.startswith(("event ", "filter "))]
    assert subscriptions == [
        "filter Event-Name BACKGROUND_JOB",
        "filter Event-Name CHANNEL_PARK",
        "event plain CHANNEL_PARK",
        "event plain BACKGROUND_JOB",
        "filter Event-Name BACKGROUND_JOB",
        "filter Event-Name CHANNEL_PARK",
        "event plain CHANNEL_PARK BACKGROUND_JOB",
    ]
    assert client.api("status").ok
    assert client.pending_jobs == 0


def test_reconnect_backs_off_exponentially_with_jitter(clients: list[ESLClient]) -> None:
    """While FreeSWITCH is down, attempts are spaced min, 2*min, ... up to max, each
    shortened by a random 0-50 % (jitter); the engine sees reconnected once it is back."""
    fake = FakeFreeSwitch().start()
    port = fake.port
    delays: list[float] = []
    back = gevent.event.Event()

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 6:
            back.set()
        gevent.sleep(0)

    client = make_client(clients, port, sleep=sleep, reconnect_min=0.1, reconnect_max=0.8)
    reconnected = gevent.event.Event()
    client.on_reconnected(reconnected.set)
    client.connect()
    fake.stop()  # drops the client; the port now refuses connections
    assert back.wait(5)
    revived = FakeFreeSwitch(port=port).start()
    try:
        assert reconnected.wait(5)
    finally:
        client.stop()
        revived.stop()
    bases = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8]
    for delay, base in zip(delays, bases, strict=False):
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered, not identical
    assert client.reconnects == 1


def test_disconnect_notice_without_linger_reconnects(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    notices: list[str] = []
    client.register_handle("DISCONNECT", lambda notice: notices.append(notice.text))
    reconnected = gevent.event.Event()
    client.on_reconnected(reconnected.set)
    client.connect()
    fake.push(wire.encode_disconnect_notice(wire.DISCONNECT_SHUTDOWN))
    assert reconnected.wait(5)
    assert client.wait_idle(2)
    assert notices == [wire.DISCONNECT_SHUTDOWN]


def test_linger_notice_keeps_the_connection(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    client = make_client(clients, fake.port)
    client.connect()
    linger = (
        b"Content-Type: text/disconnect-notice\nContent-Disposition: linger\n"
        b"Content-Length: 3\n\nbye"
    )
    fake.push(linger)
    assert client.api("status").ok
    assert client.reconnects == 0
    assert fake.connections == 1


def test_protocol_error_rebuilds_the_connection(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """A malformed frame cannot be skipped: the connection is dropped and rebuilt."""
    client = make_client(clients, fake.port)
    reconnected = gevent.event.Event()
    client.on_reconnected(reconnected.set)
    client.connect()
    fake.push(b"Content-Length: twelve\nContent-Type: text/event-plain\n\n")
    assert reconnected.wait(5)
    assert client.api("status").ok


# --- bgapi correlation ---------------------------------------------------------------


def test_thousand_concurrent_bgapi_originates_each_get_their_own_result(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """1,000 bgapi originates in parallel, BACKGROUND_JOBs answered in random order:
    every waiter gets the result of its own command (Job-UUID correlation)."""
    rng = random.Random(3)
    fake.bgapi_handler = lambda line: f"+OK {line.split('origination_uuid=')[1].split(',')[0]}\n"
    fake.job_delay = lambda line: rng.random() * 0.05
    client = make_client(clients, fake.port, events=("CHANNEL_ANSWER",), command_timeout=20.0)
    client.connect()

    def originate_one(n: int) -> tuple[str, str]:
        leg = str(uuid.uuid4())
        cmd = commands.originate(f"loopback/agent_{n}/agents", uuid=leg, timeout=20)
        return leg, client.bgapi(cmd).wait(20)

    workers = [gevent.spawn(originate_one, n) for n in range(1000)]
    gevent.joinall(workers, timeout=30, raise_error=True)
    results = [w.value for w in workers]
    assert len(results) == 1000
    for leg, text in results:
        assert text == f"+OK {leg}\n"
    assert len({leg for leg, _ in results}) == 1000
    assert client.pending_jobs == 0
    assert fake.received.count("event plain BACKGROUND_JOB") == 1


def test_background_job_event_also_reaches_handlers(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    seen: list[str | None] = []
    client.register_handle("BACKGROUND_JOB", lambda event: seen.append(event.job_uuid))
    client.connect()
    job = client.bgapi("status")
    assert job.wait(5) == "+OK\n"
    wait_until(lambda: seen == [job.job_uuid])


# --- per-call ordering and isolation --------------------------------------------------


def test_per_call_order_under_load_and_a_slow_call_does_not_block_others(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """Events of 50 calls interleaved: each call's handler sees its events in order, and a
    handler stuck on one call leaves every other call's events flowing."""
    client = make_client(clients, fake.port, backlog=100_000)
    calls = [str(uuid.uuid4()) for _ in range(50)]
    slow = calls[0]
    release = gevent.event.Event()
    seen: dict[str, list[int]] = {c: [] for c in calls}

    def handle(event: Event) -> None:
        assert event.uuid is not None
        if event.uuid == slow:
            release.wait()
        seen[event.uuid].append(int(event.get("Event-Sequence") or -1))
        gevent.sleep(0)  # yield inside the handler so lanes really interleave

    client.register_handle("CHANNEL_EXECUTE", handle)
    client.connect()
    per_call = 40
    frames = [
        channel_event("CHANNEL_EXECUTE", call, n * len(calls) + i)
        for n in range(per_call)
        for i, call in enumerate(calls)
    ]
    for start in range(0, len(frames), 100):
        fake.push(b"".join(frames[start : start + 100]))

    others = calls[1:]
    wait_until(lambda: all(len(seen[c]) == per_call for c in others), message="others stalled")
    assert seen[slow] == []  # still stuck, and nobody else waited for it
    release.set()
    assert client.wait_idle(5)
    for i, call in enumerate(calls):
        assert seen[call] == [n * len(calls) + i for n in range(per_call)]
    assert client.events_received == len(frames)
    assert client.events_dropped == 0


def test_failing_handler_does_not_stop_its_lane(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    seen: list[int] = []

    def handle(event: Event) -> None:
        sequence = int(event.get("Event-Sequence") or 0)
        if sequence == 1:
            raise RuntimeError("handler bug")
        seen.append(sequence)

    client.register_handle("CHANNEL_PARK", handle)
    client.connect()
    call = str(uuid.uuid4())
    fake.push(b"".join(channel_event("CHANNEL_PARK", call, n) for n in (1, 2, 3)))
    wait_until(lambda: seen == [2, 3])
    assert client.handler_errors == 1


def test_star_handler_is_only_a_fallback(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    client = make_client(clients, fake.port)
    parks: list[str | None] = []
    others: list[str | None] = []
    client.register_handle("CHANNEL_PARK", lambda e: parks.append(e.name))
    client.register_handle("*", lambda e: others.append(e.name))
    client.connect()
    call = str(uuid.uuid4())
    fake.push(channel_event("CHANNEL_PARK", call, 1) + channel_event("DTMF", call, 2))
    wait_until(lambda: parks == ["CHANNEL_PARK"] and others == ["DTMF"])


def test_unregister_handle(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    client = make_client(clients, fake.port)
    first: list[int] = []
    second: list[int] = []

    def count_first(event: Event) -> None:
        first.append(1)

    client.register_handle("CHANNEL_PARK", count_first)
    client.register_handle("CHANNEL_PARK", lambda e: second.append(1))
    client.connect()
    call = str(uuid.uuid4())
    fake.push(channel_event("CHANNEL_PARK", call, 1))
    wait_until(lambda: first == [1] and second == [1])
    client.unregister_handle("CHANNEL_PARK", count_first)
    fake.push(channel_event("CHANNEL_PARK", call, 2))
    wait_until(lambda: second == [1, 1])
    assert client.wait_idle(2)
    assert first == [1]


def test_json_events(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    client = make_client(clients, fake.port, event_format="json")
    seen: list[tuple[str, str | None]] = []
    client.register_handle("CHANNEL_ANSWER", lambda e: seen.append((e.format, e.uuid)))
    client.connect()
    call = str(uuid.uuid4())
    fake.push(wire.encode_event_json([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", call)]))
    wait_until(lambda: seen == [("json", call)])
    assert "event json ALL" in fake.received
