"""The client against recorded FreeSWITCH 1.10.12 conversations (esl-captures), replayed
byte for byte by a fake server that also checks every command the client sends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import gevent.event
import pytest

from freeswitch.channel_rows import parse_show_channels
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.commands import core_uuid, execute, parse_getvar, show_channels
from freeswitch.errors import AuthFailed, CommandFailed, ESLTimeout
from freeswitch.messages import Event
from freeswitch.parser import Parser
from tests.captures import load_conversation, load_in
from tests.fake_esl_server import (
    Expect,
    ReplayServer,
    Send,
    Step,
    recorded_steps,
    wait_until,
)

UNKNOWN = "00000000-1111-2222-3333-444444444444"


def settings(port: int, **overrides: object) -> ClientSettings:
    values: dict[str, object] = {
        "connect_timeout": 2.0,
        "command_timeout": 2.0,
        "events": (),
        "reconnect_min": 0.01,
        "reconnect_max": 0.05,
        "stop_timeout": 1.0,
    }
    values.update(overrides)
    return ClientSettings("127.0.0.1", port, "ClueCon", **values)  # type: ignore[arg-type]


@pytest.fixture
def servers() -> Iterator[list[ReplayServer]]:
    started: list[ReplayServer] = []
    yield started
    for server in started:
        server.stop()


def replay(servers: list[ReplayServer], *scripts: Sequence[Step]) -> ReplayServer:
    server = ReplayServer(scripts).start()
    servers.append(server)
    return server


def recorded_in(name: str, index: int) -> bytes:
    record = load_conversation(name)[index]
    assert record["dir"] == "in"
    return str(record["data"]).encode()


def test_s01b_auth_then_exit(servers: list[ReplayServer]) -> None:
    """auth → +OK accepted; stop() says exit → +OK bye, disconnect-notice, close; no reconnect."""
    server = replay(servers, recorded_steps("s01b_auth_ok_exit"))
    client = ESLClient(settings(server.port))
    client.connect()
    assert client.connected
    client.stop()
    assert server.finished[0].wait(2)
    assert server.errors == []
    assert server.received == ["auth ClueCon", "exit"]
    assert not client.connected
    assert server.connections == 1
    assert client.reconnects == 0


def test_s01a_wrong_password_raises_auth_failed(servers: list[ReplayServer]) -> None:
    """-ERR invalid, then disconnect-notice and close (s01a): AuthFailed, nothing left running."""
    script: list[Step] = [
        Send(recorded_in("s01a_preauth_and_bad_password", 0)),
        Expect("auth wrong-password"),
        Send(recorded_in("s01a_preauth_and_bad_password", 6)),
    ]
    server = replay(servers, script)
    client = ESLClient(
        ClientSettings("127.0.0.1", server.port, "wrong-password", connect_timeout=2)
    )
    with pytest.raises(AuthFailed, match="invalid"):
        client.connect()
    assert not client.connected
    client.stop()
    assert server.errors == []


def _filter_reply(command: str) -> bytes:
    """FreeSWITCH's reply to a filter command, worded as in s02."""
    words = command.split(" ")
    if words[1] == "delete":
        text = f"+OK filter deleted. [{words[2]}][{words[3]}]"
    else:
        text = f"+OK filter added. [{words[1]}]=[{words[2]}]"
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def with_own_filters(steps: list[Step]) -> list[Step]:
    """s02 as this client plays it: the recorded user filter, plus the client's own
    BACKGROUND_JOB filter, with the catch-all around going from no filter to one and back
    (replies worded as FreeSWITCH words the recorded ones)."""
    catch_all = "Event-Name /.*/"
    own = "Event-Name BACKGROUND_JOB"
    around = {
        "filter Event-Name CHANNEL_PARK": (
            [f"filter {catch_all}", f"filter {own}"],
            [f"filter delete {catch_all}"],
        ),
        "filter delete Event-Name CHANNEL_PARK": (
            [f"filter {catch_all}", f"filter delete {own}"],
            [f"filter delete {catch_all}"],
        ),
    }
    out: list[Step] = []
    pending: list[str] = []
    for step in steps:
        out.append(step)
        if isinstance(step, Expect) and step.command in around:
            before, pending = around[step.command]
            del out[-1]
            for command in before:
                out += [Expect(command), Send(_filter_reply(command))]
            out.append(step)
        elif isinstance(step, Send) and pending:
            for command in pending:
                out += [Expect(command), Send(_filter_reply(command))]
            pending = []
    return out


def test_s02_commands_and_errors_conversation(servers: list[ReplayServer]) -> None:
    """The whole s02 conversation, driven through the client's public API: api replies
    and errors, bgapi with our own Job-UUID (correlated), subscriptions, filters,
    sendmsg to an unknown uuid, a BACKGROUND_JOB that never comes, linger, exit."""
    server = replay(servers, with_own_filters(recorded_steps("s02_commands_and_errors")))
    client = ESLClient(settings(server.port, events=("BACKGROUND_JOB",)))
    client.connect()

    status = client.api("status")
    assert status.text.startswith("UP 0 years")
    assert parse_show_channels(client.api(show_channels()).text) == []
    assert client.api("show calls as json").text == '{"row_count": 0}\n'
    with pytest.raises(CommandFailed, match="No such channel"):
        parse_getvar(client.api(f"uuid_getvar {UNKNOWN} foo").text)
    assert client.api(f"uuid_exists {UNKNOWN}").text == "false"
    assert not client.api(f"uuid_kill {UNKNOWN}").ok
    with pytest.raises(CommandFailed, match="Invalid uuid"):
        client.api(f"uuid_bridge {UNKNOWN} 00000000-1111-2222-3333-555555555555", check=True)
    for line in (
        f"uuid_break {UNKNOWN} all",
        f"uuid_broadcast {UNKNOWN} tone_stream://%(100,0,440) aleg",
        f"uuid_setvar {UNKNOWN} acd_x 1",
        f"uuid_transfer {UNKNOWN} 7000 XML acd",
        "no_such_command",
        "originate user/1001 &park()",
        "originate user/9999 &park()",
        "originate {originate_timeout=3}user/1004 &park()",
        "originate {originate_timeout=3}loopback/agent_reject/agents &park()",
        "originate {originate_timeout=3}loopback/nowhere/agents &park()",
    ):
        assert client.api(line).text.startswith("-ERR"), line
    assert client.api("callcenter_config queue list").text.endswith("+OK\n")

    job = client.bgapi("status")
    assert job.wait(2).startswith("UP 0 years, 0 days, 0 hours, 9 minutes, 33 seconds")
    failed = client.bgapi("originate user/1001 &park()")
    assert failed.wait(2) == "-ERR USER_NOT_REGISTERED\n"

    client.subscribe("CHANNEL_PARK", "DTMF", "callcenter::info")
    client.subscribe("sofia::register")
    assert client.send("nixevent DTMF").reply_text == "+OK events nixed"
    client.add_filter("Event-Name", "CHANNEL_PARK")
    client.delete_filter("Event-Name", "CHANNEL_PARK")
    assert client.send("noevents").ok
    assert client.send(f"myevents {UNKNOWN}").ok
    reply = client.send(execute(UNKNOWN, "playback", "silence_stream://100", event_lock=False))
    assert reply.reply_text == f"-ERR invalid session id [{UNKNOWN}]"
    client.send("event xml CHANNEL_PARK", check=True)
    client.send("event json BACKGROUND_JOB", check=True)
    lost = client.bgapi("uuid_exists 1")
    with pytest.raises(ESLTimeout):
        lost.wait(0.05)  # after myevents, FreeSWITCH never sent this BACKGROUND_JOB (README)
    with pytest.raises(CommandFailed, match="not controlling a session"):
        client.send("linger", check=True)
    assert not client.send("nolinger").ok
    client.stop()

    assert server.finished[0].wait(2)
    assert server.errors == []
    assert client.command_timeouts == 0
    assert lost.ready()  # stop() failed the job that never came, it did not leak


def test_s09_shutdown_then_reconnect_to_restarted_freeswitch(servers: list[ReplayServer]) -> None:
    """s09: events, SYSTEM_SHUTDOWN hang-up, disconnect-notice, close → the client
    reconnects with back-off to the restarted FreeSWITCH (s09b), re-subscribes, fires
    reconnected, and sees the new Core-UUID and an empty channel list."""
    subscription = (
        "event plain CHANNEL_PARK CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE SHUTDOWN HEARTBEAT"
    )
    restarted: list[Step] = [
        Send(recorded_in("s09b_after_restart", 0)),
        Expect("auth ClueCon"),
        Send(recorded_in("s09b_after_restart", 2)),
        Expect(subscription),
        Send(recorded_in("s09_freeswitch_shutdown", 4)),
        Expect("api global_getvar core_uuid"),
        Send(recorded_in("s09b_after_restart", 4)),
        Expect("api show channels as json"),
        Send(recorded_in("s09b_after_restart", 6)),
        Expect("exit"),
        Send(recorded_in("s01b_auth_ok_exit", 4)),
    ]
    server = replay(servers, recorded_steps("s09_freeswitch_shutdown"), [], [], restarted)
    names = ("CHANNEL_PARK", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "SHUTDOWN", "HEARTBEAT")
    client = ESLClient(settings(server.port, events=names))
    seen: list[tuple[str | None, str | None]] = []
    notices: list[str] = []
    reconnected = gevent.event.Event()
    for name in ("CHANNEL_PARK", "SHUTDOWN", "CHANNEL_HANGUP"):
        client.register_handle(name, lambda e: seen.append((e.name, e.hangup_cause)))
    client.register_handle("DISCONNECT", lambda m: notices.append(m.text))
    client.on_reconnected(reconnected.set)
    client.connect()

    assert reconnected.wait(5), server.errors
    assert server.connections == 4  # two attempts closed at once in between: back-off retried
    assert client.reconnects == 1
    assert client.wait_idle(2)
    # SHUTDOWN has no Unique-ID, so it runs on its own lane: only the call's own
    # events are ordered relative to each other.
    assert sorted(seen, key=str) == sorted(
        [("CHANNEL_PARK", None), ("SHUTDOWN", None), ("CHANNEL_HANGUP", "SYSTEM_SHUTDOWN")], key=str
    )
    assert seen.index(("CHANNEL_PARK", None)) < seen.index(("CHANNEL_HANGUP", "SYSTEM_SHUTDOWN"))
    assert notices == ["The system is being shut down.\n"]
    assert client.api(core_uuid()).text == "276a26b0-163b-4c11-aad2-c7e57d1df228"
    assert parse_show_channels(client.api(show_channels()).text) == []
    client.stop()
    assert server.finished[3].wait(2)
    assert server.errors == []


def test_s03_caller_journey_events_in_order(servers: list[ReplayServer]) -> None:
    """R-POS/R-NUMBERS journey of s03: every event of the recording reaches the '*'
    handler, one call's events in recorded order, and the agent leg's bgapi originate
    is answered by its BACKGROUND_JOB (+OK <uuid>)."""
    name = "s03_caller_journey_plain"
    steps = recorded_steps(name)
    server = replay(servers, steps)
    client = ESLClient(settings(server.port, events="ALL", command_timeout=5.0))
    per_call: dict[str, list[int]] = {}
    all_events: list[Event] = []

    def record(event: Event) -> None:
        all_events.append(event)
        if event.uuid and event.sequence is not None:
            per_call.setdefault(event.uuid, []).append(event.sequence)

    client.register_handle("*", record)
    client.connect()
    for step in steps[4:]:
        if not isinstance(step, Expect) or step.command is None:
            continue
        command = step.command
        if command.startswith("api "):
            assert client.api(command.removeprefix("api ")).text
        elif command.startswith("bgapi "):
            job = client.bgapi(command.removeprefix("bgapi ").split("\n")[0])
            assert job.wait(5) == "+OK fef5c6a8-de2a-4d47-bb52-d6c67a68997f\n"
        else:
            assert client.send(command).ok
    assert server.finished[0].wait(5)
    recorded_events = load_in(name).count(b"Content-Type: text/event-plain")
    wait_until(lambda: client.events_received == recorded_events, message="events missing")
    assert client.wait_idle(2)
    client.stop()
    assert server.errors == []
    assert len(all_events) == recorded_events
    assert client.events_dropped == 0
    # Event-Sequence is not monotonic within a call even on the wire (FreeSWITCH numbers
    # events before its dispatch threads deliver them), so compare with stream order.
    expected: dict[str, list[int]] = {}
    for message in Parser().feed(load_in(name)):
        if isinstance(message, Event) and message.uuid and message.sequence is not None:
            expected.setdefault(message.uuid, []).append(message.sequence)
    assert len(expected) >= 2
    assert per_call == expected
