"""ESLClient and the command builders against the FreeSWITCH simulator over TCP."""

from __future__ import annotations

import uuid

import gevent
import gevent.event
import pytest

from freeswitch import commands
from freeswitch.channel_rows import parse_show_channels
from freeswitch.client import ESLClient
from freeswitch.errors import ConnectionLost, ESLTimeout
from freeswitch.media import UTRUM, LocalStream, Phrase, Say
from freeswitch.messages import Event
from freeswitch.sim import AgentPhone, SimEvent, Simulator
from tests.fake_esl_server import make_client, wait_until

pytestmark = pytest.mark.timeout(90)


def test_drop_mid_command_reconnects_and_resubscribes(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    """Contract 2: the in-flight command fails fast with ConnectionLost, the client
    reconnects with back-off, replays its subscription and fires the signals."""
    events = ("CHANNEL_PARK", "CHANNEL_HANGUP", "callcenter::info")
    client = make_client(clients, sim.port, events=events, command_timeout=30.0)
    reconnected = gevent.event.Event()
    resyncs: list[str] = []
    client.on_reconnected(reconnected.set)
    client.on_resync_needed(resyncs.append)
    client.connect()
    subscription = "event plain CHANNEL_PARK CHANNEL_HANGUP CUSTOM callcenter::info"
    assert sim.commands_received[-1] == subscription

    sim.reply_delay = 30.0
    in_flight = gevent.spawn(client.api, "status")
    wait_until(lambda: sim.commands_received[-1] == "api status")
    sim.reply_delay = 0.0
    sim.drop_connections()
    with pytest.raises(ConnectionLost):
        in_flight.get(timeout=5)

    assert reconnected.wait(5)
    wait_until(lambda: resyncs == ["reconnected"])
    assert sim.commands_received.count(subscription) == 2
    assert client.reconnects == 1
    parked: list[str | None] = []
    client.register_handle("CHANNEL_PARK", lambda e: parked.append(e.uuid))
    caller = sim.place_call(variables={"acd_queue": "support"})
    wait_until(lambda: parked == [caller])


def test_freeswitch_restart_is_survived(sim: Simulator, clients: list[ESLClient]) -> None:
    """s09/s09b in the simulator: the disconnect-notice ends the connection, the client
    retries while FreeSWITCH refuses, then reconnects to a new Core-UUID with no
    channels. (The SHUTDOWN events before the notice are checked byte for byte against
    the real recording in test_client_replay.py.)"""
    client = make_client(clients, sim.port, events=("CHANNEL_HANGUP", "SHUTDOWN"))
    notices: list[str] = []
    client.register_handle("DISCONNECT", lambda notice: notices.append(notice.text))
    reconnected = gevent.event.Event()
    client.on_reconnected(reconnected.set)
    client.connect()
    before = client.api(commands.core_uuid()).text
    sim.place_call()
    sim.shutdown()
    wait_until(lambda: notices == ["The system is being shut down.\n"])
    wait_until(lambda: not client.connected)
    with pytest.raises(ConnectionLost):
        client.api("status")
    refused = sim.commands_received.count("auth ********")
    sim.restart()
    assert reconnected.wait(5)
    assert refused == 1  # nothing got in while FreeSWITCH was down
    assert client.api(commands.core_uuid()).text != before
    assert parse_show_channels(client.api(commands.show_channels()).text) == []


def test_many_concurrent_bgapi_originates_correlate(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    """1,000 agent legs by bgapi originate at once, answered after random delays:
    each waiter gets `+OK <its own origination_uuid>`."""
    count = 1000
    for n in range(count):
        sim.add_agent_phone(
            AgentPhone(f"user/{2000 + n}", answer_after=(n % 7) * 0.5, hangup_after=None)
        )
    client = make_client(clients, sim.port, events=("CHANNEL_ANSWER",), command_timeout=30.0)
    client.connect()

    def originate_one(n: int) -> tuple[str, str]:
        leg = str(uuid.uuid4())
        cmd = commands.originate(f"user/{2000 + n}", uuid=leg, ignore_early_media=True, timeout=20)
        return leg, client.bgapi(cmd).wait(30)

    workers = [gevent.spawn(originate_one, n) for n in range(count)]
    gevent.joinall(workers, timeout=60, raise_error=True)
    for worker in workers:
        leg, text = worker.value
        assert text == f"+OK {leg}\n"
    assert client.pending_jobs == 0
    assert len(parse_show_channels(client.api(commands.show_channels()).text)) == count


def test_per_call_event_order_with_a_stuck_handler(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    """Many calls' events interleaved: each call's handler sees them in FreeSWITCH's
    order, and one call's stuck handler does not hold the others back."""
    client = make_client(clients, sim.port, backlog=100_000)
    release = gevent.event.Event()
    stuck: list[str] = []
    seen: dict[str, list[tuple[int, str]]] = {}

    def handle(event: Event) -> None:
        assert event.uuid is not None and event.sequence is not None and event.name
        if stuck and event.uuid == stuck[0]:
            release.wait()
        seen.setdefault(event.uuid, []).append((event.sequence, event.name))
        gevent.sleep(0)

    fired: dict[str, list[tuple[int, str]]] = {}

    def record_fired(event: SimEvent) -> None:
        sequence = event.get("Event-Sequence")
        if event.unique_id and sequence:
            fired.setdefault(event.unique_id, []).append((int(sequence), event.name))

    sim.on_event(record_fired)
    client.register_handle("*", handle)
    client.connect()
    stuck.append(sim.place_call(caller_number="0700000000"))
    callers = [sim.place_call(caller_number=f"07011{n:05d}") for n in range(40)]
    for caller in callers:
        sim.hangup(caller)

    def destroyed(call: str) -> bool:
        return any(name == "CHANNEL_DESTROY" for _, name in seen.get(call, []))

    wait_until(lambda: all(destroyed(c) for c in callers), message="other calls were held back")
    assert not destroyed(stuck[0])
    release.set()
    sim.hangup(stuck[0])
    wait_until(lambda: destroyed(stuck[0]))
    wait_until(lambda: seen[stuck[0]] == fired[stuck[0]])
    assert seen == fired  # every call: exactly FreeSWITCH's events, in FreeSWITCH's order


def test_reply_delay_times_out_and_connection_survives(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    client = make_client(clients, sim.port)
    client.connect()
    sim.reply_delay = 0.5
    with pytest.raises(ESLTimeout):
        client.api("status", timeout=0.05)
    sim.reply_delay = 0.0
    assert client.api(commands.show_channels()).text.startswith("{")
    assert client.command_timeouts == 1


def test_backlog_overflow_with_simulated_calls(sim: Simulator, clients: list[ESLClient]) -> None:
    client = make_client(clients, sim.port, backlog=20)
    release = gevent.event.Event()
    resyncs: list[str] = []
    client.register_handle("*", lambda e: release.wait())
    client.on_resync_needed(resyncs.append)
    client.connect()
    for n in range(10):
        sim.place_call(caller_number=f"07022{n:05d}")
    wait_until(lambda: client.events_dropped > 0)
    assert client.api("status").text.startswith("UP ")  # the reader still reads
    release.set()
    assert client.wait_idle(5)
    wait_until(lambda: resyncs == ["events_dropped"])


def test_builders_drive_a_simulated_call(sim: Simulator, clients: list[ESLClient]) -> None:
    """The builders' output is accepted end to end: music, say with UTRUM, a phrase,
    an agent leg, bridge, variables, hang-up with a cause."""
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    client = make_client(clients, sim.port)
    playbacks: list[str | None] = []
    bridged = gevent.event.Event()
    client.register_handle("PLAYBACK_START", lambda e: playbacks.append(e.playback_file))
    client.register_handle("CHANNEL_BRIDGE", lambda e: bridged.set())
    client.connect()
    caller = sim.place_call(variables={"acd_queue": "support"})

    assert client.api(commands.uuid_broadcast(caller, LocalStream("moh"))).ok
    assert client.api(commands.uuid_break(caller)).ok
    assert client.api(commands.uuid_broadcast(caller, Say.number("sv", 1, gender=UTRUM))).ok
    assert client.api(commands.uuid_broadcast(caller, Phrase("acd_position", "3"))).ok
    assert client.api(commands.uuid_setvar(caller, "acd_note", "Anna Berg, IT")).ok
    note = client.api(commands.uuid_getvar(caller, "acd_note")).text
    assert commands.parse_getvar(note) == "Anna Berg, IT"

    agent = str(uuid.uuid4())
    job = client.bgapi(
        commands.originate(
            "user/1001",
            uuid=agent,
            timeout=20,
            caller_id_name="Anna Berg, IT",
            variables={"acd_caller": caller},
        )
    )
    result = commands.parse_originate_result(job.wait(10))
    assert result.ok and result.uuid == agent
    assert sim.channels[agent].variables.get("acd_caller") == caller
    assert client.api(commands.uuid_bridge(caller, agent), check=True).text == f"+OK {agent}\n"
    assert bridged.wait(5)  # uuid_bridge answers first and bridges a moment later
    assert client.api(commands.uuid_kill(agent, "NORMAL_CLEARING")).ok
    wait_until(lambda: caller not in sim.channels and agent not in sim.channels)
    assert playbacks  # something really played (PLAYBACK_START), not just +OK
