"""ESLClient limits against the scripted fake FreeSWITCH: backlog overflow, every
timeout, refused input, stop()."""

from __future__ import annotations

import uuid

import gevent.event
import pytest

from acd.errors import ConfigError
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.errors import AuthFailed, ConnectionLost, ESLTimeout, InvalidArgument
from freeswitch.jobs import BackgroundJob, JobRegistry
from freeswitch.messages import Event
from tests.fake_esl_server import (
    FakeFreeSwitch,
    channel_event,
    free_port,
    make_client,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)


# --- backlog ------------------------------------------------------------------------------


def test_backlog_overflow_drops_newest_counts_and_asks_for_resync(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """The reader never waits: with handlers stuck and the backlog full, new events are
    dropped and counted; once drained, on_resync_needed('events_dropped') fires."""
    client = make_client(clients, fake.port, backlog=10)
    release = gevent.event.Event()
    handled: list[int] = []
    reasons: list[str] = []

    def handle(event: Event) -> None:
        release.wait()
        handled.append(int(event.get("Event-Sequence") or 0))

    client.register_handle("CHANNEL_PARK", handle)
    client.on_resync_needed(reasons.append)
    client.connect()
    call = str(uuid.uuid4())
    fake.push(b"".join(channel_event("CHANNEL_PARK", call, n) for n in range(30)))
    wait_until(lambda: client.events_received == 30)
    assert client.api("status").ok  # the reader kept reading while handlers were stuck
    dropped = client.events_dropped
    assert dropped >= 19
    assert client.backlog == 30 - dropped - 1  # the rest wait; one is in the stuck handler
    release.set()
    assert client.wait_idle(5)
    assert len(handled) + dropped == 30
    assert handled == sorted(handled)
    assert handled[: len(handled)] == list(range(len(handled)))  # newest were dropped
    wait_until(lambda: reasons == ["events_dropped"])
    assert client.counters()["events_dropped"] == dropped


def test_urgent_events_start_first_and_each_lane_keeps_its_order(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """What one read brings: an urgent event's lane (an ACD's caller parked, leg hung up)
    runs before the lanes opened ahead of it in that read, and before the reader routes
    the rest; a lane's own events stay in order, also when an urgent event follows a
    non-urgent one of the same call."""
    client = make_client(clients, fake.port, urgent_events=("CHANNEL_PARK",))
    started: list[str] = []

    def handle(event: Event) -> None:
        started.append(f"{event.name}:{event.get('Event-Sequence')}")

    for name in ("CHANNEL_PARK", "CHANNEL_ANSWER", "PLAYBACK_START"):
        client.register_handle(name, handle)
    client.connect()
    calls = [str(uuid.uuid4()) for _ in range(6)]
    frames = [
        channel_event("PLAYBACK_START", calls[0], 1),
        channel_event("CHANNEL_ANSWER", calls[1], 2),
        channel_event("CHANNEL_PARK", calls[2], 3),
        channel_event("PLAYBACK_START", calls[3], 4),
        channel_event("CHANNEL_PARK", calls[4], 5),
        channel_event("CHANNEL_ANSWER", calls[5], 6),
        channel_event("CHANNEL_PARK", calls[5], 7),  # after its own call's answer
    ]
    fake.push(b"".join(frames))
    wait_until(lambda: client.events_received == len(frames))
    assert client.wait_idle(5)
    first = started.index
    assert started[0] == "CHANNEL_PARK:3"  # before the two lanes opened ahead of it
    assert first("CHANNEL_PARK:3") < first("PLAYBACK_START:1") < first("CHANNEL_ANSWER:2")
    assert first("CHANNEL_PARK:5") < first("PLAYBACK_START:4")
    assert first("CHANNEL_ANSWER:6") < first("CHANNEL_PARK:7")
    assert sorted(started) == sorted(
        f"{name}:{n}"
        for name, n in [
            ("PLAYBACK_START", 1), ("CHANNEL_ANSWER", 2), ("CHANNEL_PARK", 3),
            ("PLAYBACK_START", 4), ("CHANNEL_PARK", 5), ("CHANNEL_ANSWER", 6),
            ("CHANNEL_PARK", 7),
        ]
    )  # fmt: skip


# --- timeouts -----------------------------------------------------------------------------


def test_connect_timeout_when_no_auth_request(clients: list[ESLClient]) -> None:
    silent = FakeFreeSwitch()
    silent.greet = False
    silent.start()
    try:
        client = make_client(clients, silent.port, connect_timeout=0.1)
        with pytest.raises(ESLTimeout, match="auth/request"):
            client.connect()
        assert not client.connected
    finally:
        silent.stop()


def test_connection_refused_is_connection_lost(clients: list[ESLClient]) -> None:
    client = make_client(clients, free_port())
    with pytest.raises(ConnectionLost, match="cannot connect"):
        client.connect()


def test_wrong_password(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    settings = ClientSettings("127.0.0.1", fake.port, "nope", connect_timeout=2)
    client = ESLClient(settings)
    clients.append(client)
    with pytest.raises(AuthFailed):
        client.connect()


def test_command_timeout_then_replies_stay_matched(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """A reply that comes after its command timed out still takes its FIFO slot, so the
    next command gets its own reply, not the late one."""
    fake.api_handler = lambda cmd: f"+OK {cmd}\n"
    client = make_client(clients, fake.port)
    client.connect()
    fake.reply_delay = 0.3
    with pytest.raises(ESLTimeout):
        client.api("first", timeout=0.05)
    assert client.command_timeouts == 1
    fake.reply_delay = 0.0
    assert client.api("second").text == "+OK second\n"
    assert client.connected


def test_background_job_wait_times_out(fake: FakeFreeSwitch, clients: list[ESLClient]) -> None:
    fake.job_delay = lambda line: 30.0
    client = make_client(clients, fake.port)
    client.connect()
    job = client.bgapi("status")
    with pytest.raises(ESLTimeout, match="BACKGROUND_JOB"):
        job.wait(0.05)
    assert not job.ready()


def test_job_registry_expires_old_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("freeswitch.jobs.time.monotonic", lambda: now[0])
    registry = JobRegistry(ttl=60)
    old = BackgroundJob("a", "status")
    registry.add(old)
    now[0] += 61
    registry.add(BackgroundJob("b", "status"))
    assert len(registry) == 1
    with pytest.raises(ESLTimeout):
        old.wait(0)


# --- input checks and stop ---------------------------------------------------------------


def test_injection_attempts_are_refused_before_sending(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    client.connect()
    before = list(fake.received)
    for attempt in (
        lambda: client.api("status\n\napi shutdown"),
        lambda: client.bgapi("status\n\nexit"),
        lambda: client.send("myevents x\n\napi shutdown"),
        lambda: client.send("api status"),
        lambda: client.send("exit"),
        lambda: client.add_filter("Unique-ID", "x\ny"),
        lambda: client.subscribe("CHANNEL_PARK\napi shutdown"),
    ):
        with pytest.raises(InvalidArgument):
            attempt()
    assert fake.received == before


def test_stop_says_exit_and_later_commands_fail(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    client.connect()
    client.stop()
    assert fake.received[-1] == "exit"
    assert not client.connected
    with pytest.raises(ConnectionLost):
        client.api("status")
    with pytest.raises(ConnectionLost):
        client.connect()
    wait_until(lambda: fake.clients == 0)
    assert fake.connections == 1


def test_stop_when_freeswitch_does_not_answer_exit(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port, stop_timeout=0.1)
    client.connect()
    fake.reply_delay = 3600.0  # never, as far as this test goes: the timeout must end it
    client.stop()
    assert not client.connected


def test_malformed_event_header_is_counted_not_fatal(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    seen: list[str | None] = []
    client.register_handle("CHANNEL_PARK", lambda e: seen.append(e.uuid))
    client.connect()
    """An event whose own header block is broken is skipped and counted; one whose values
    are not UTF-8 is not malformed at all (FreeSWITCH does not promise UTF-8)."""
    frames = b""
    for body in (
        b"Event-Name: CHANNEL_PARK\nContent-Length: 99\n\nshort",  # inner length is wrong
        b"Event-Name: CHANNEL_PARK\nUnique-ID: %FF\n\n",  # not UTF-8 once decoded
    ):
        frames += b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body
    call = str(uuid.uuid4())
    fake.push(frames + channel_event("CHANNEL_PARK", call, 2))
    wait_until(lambda: seen == ["\udcff", call])
    assert client.events_received == 3
    assert client.events_malformed == 1
    assert client.reconnects == 0


def test_connect_while_reconnecting_does_not_open_a_second_connection(
    clients: list[ESLClient],
) -> None:
    fake = FakeFreeSwitch().start()
    client = make_client(clients, fake.port, connect_timeout=0.1)
    client.connect()
    fake.stop()
    wait_until(lambda: not client.connected)
    with pytest.raises(ESLTimeout, match="reconnect in progress"):
        client.connect()
    assert fake.connections == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"port": 0},
        {"port": 70000},
        {"host": "evil host"},
        {"password": "two words"},
        {"password": "x\napi shutdown"},
        {"events": ("CHANNEL_PARK", "ALL")},
        {"events": ("CUSTOM",)},
        {"events": ("channel_park",)},
        {"events": "SOME"},
        {"event_format": "xml"},
        {"command_timeout": 0},
        {"reconnect_min": 1.0, "reconnect_max": 0.5},
        {"backlog": 0},
        {"filters": (("Unique-ID", "a\nb"),)},
        {"urgent_events": ("channel_park",)},
        {"urgent_events": "CHANNEL_PARK"},
    ],
)
def test_settings_refuse_bad_values(overrides: dict[str, object]) -> None:
    values: dict[str, object] = {"host": "127.0.0.1", "port": 8021, "password": "ClueCon"}
    values.update(overrides)
    with pytest.raises(ConfigError):
        ClientSettings(**values)  # type: ignore[arg-type]


def test_settings_accept_lists_from_config() -> None:
    settings = ClientSettings(
        "127.0.0.1",
        8021,
        "ClueCon",
        events=["CHANNEL_PARK", "callcenter::info"],  # type: ignore[arg-type]
        filters=[["Event-Name", "CHANNEL_PARK"]],  # type: ignore[arg-type]
    )
    assert settings.events == ("CHANNEL_PARK", "callcenter::info")
    assert settings.filters == (("Event-Name", "CHANNEL_PARK"),)


def test_a_silent_freeswitch_is_treated_as_a_drop_with_idle_timeout(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """Every wait has a timeout, the reader's too: a FreeSWITCH that hangs with its socket
    open sends no HEARTBEAT, so after idle_timeout the client drops the connection,
    reconnects and asks for a resync."""
    client = make_client(clients, fake.port, events=("CHANNEL_PARK",), idle_timeout=0.2)
    reasons: list[str] = []
    client.on_resync_needed(reasons.append)
    client.connect()
    assert "event plain CHANNEL_PARK HEARTBEAT" in fake.received
    wait_until(lambda: client.reconnects >= 1, message="silent connection never dropped")
    wait_until(lambda: "reconnected" in reasons)


def test_events_keep_an_idle_timeout_connection_alive(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """The watchdog counts silence, not age: a connection that hears from FreeSWITCH more
    often than idle_timeout stays up."""
    client = make_client(clients, fake.port, events=("CHANNEL_PARK",), idle_timeout=1.0)
    seen: list[Event] = []
    client.register_handle("CHANNEL_PARK", seen.append)
    client.connect()
    for sequence in range(1, 21):  # 2 s in all, twice the idle_timeout
        fake.push(channel_event("CHANNEL_PARK", f"call-{sequence}", sequence))
        wait_until(lambda: len(seen) == sequence, message="event not handled")  # noqa: B023
        gevent.sleep(0.1)  # the scenario itself: short silences between events
    assert client.reconnects == 0
