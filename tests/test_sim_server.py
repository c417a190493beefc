"""The simulator's Event Socket protocol over real TCP: auth, subscriptions, replies.

Expected texts are the recorded ones (s01a, s01b, s02); the probe client is independent
of the project's client so a shared bug cannot make these pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freeswitch.errors import ConnectionLost, ESLTimeout
from freeswitch.sim import AgentPhone, Simulator
from freeswitch.sim.probe import Probe
from freeswitch.sim.server import split_commands

pytestmark = pytest.mark.timeout(60)

UNKNOWN = "00000000-1111-2222-3333-444444444444"


@pytest.fixture
def probe(sim: Simulator) -> Iterator[Probe]:
    client = Probe("127.0.0.1", sim.port)
    client.login()
    yield client
    client.close()


def test_preauth_commands_and_bad_password_as_recorded(sim: Simulator) -> None:
    """s01a: -ERR command not found keeps the connection; a bad password closes it."""
    with Probe("127.0.0.1", sim.port) as client:
        assert client.read().content_type == "auth/request"
        for command in ("event plain ALL", "api status"):
            reply = client.command(command)
            assert reply.headers["Reply-Text"] == "-ERR command not found"
        assert client.command("auth wrong-password").headers["Reply-Text"] == "-ERR invalid"
        notice = client.read()
        assert notice.content_type == "text/disconnect-notice"
        assert (
            notice.text == "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
        )
        with pytest.raises(ConnectionLost):
            client.read(timeout=2)
    assert sim.commands_received == ["event plain ALL", "api status", "auth ********"]


def test_exit_says_bye_then_notice_then_close(probe: Probe) -> None:
    """s01b."""
    assert probe.command("exit").headers["Reply-Text"] == "+OK bye"
    assert probe.read().content_type == "text/disconnect-notice"
    with pytest.raises(ConnectionLost):
        probe.read(timeout=2)


def test_replies_for_unknown_uuids_and_commands_as_recorded(probe: Probe) -> None:
    """s02: the per-command texts for the same fault."""
    expected = {
        f"api uuid_getvar {UNKNOWN} foo": "-ERR No such channel!\n",
        f"api uuid_exists {UNKNOWN}": "false",
        f"api uuid_kill {UNKNOWN}": "-ERR No such channel!\n",
        f"api uuid_bridge {UNKNOWN} {UNKNOWN[:-1]}5": "-ERR Invalid uuid\n",
        f"api uuid_break {UNKNOWN} all": "-ERR No such channel!\n",
        f"api uuid_broadcast {UNKNOWN} tone_stream://%(100,0,440) aleg": "-ERR invalid uuid\n",
        f"api uuid_setvar {UNKNOWN} acd_x 1": "-ERR No such channel!\n",
        f"api uuid_transfer {UNKNOWN} 7000 XML acd": "-ERR No such channel!\n",
        "api no_such_command": "-ERR no_such_command Command not found!\n",
        "api originate user/1001 &park()": "-ERR SUBSCRIBER_ABSENT\n",
        "api show channels as json": '{"row_count": 0}\n',
    }
    for command, text in expected.items():
        reply = probe.command(command)
        assert reply.content_type == "api/response"
        assert reply.text == text, command
    reply = probe.command(f"sendmsg {UNKNOWN}\ncall-command: execute\nexecute-app-name: playback")
    assert reply.headers["Reply-Text"] == f"-ERR invalid session id [{UNKNOWN}]"
    for command in ("linger", "nolinger"):
        assert probe.command(command).headers["Reply-Text"] == "-ERR not controlling a session"


def test_originate_to_unregistered_user_creates_no_channel(sim: Simulator, probe: Probe) -> None:
    """s02/s05: USER_NOT_REGISTERED comes with no channel event at all."""
    sim.add_agent_phone(AgentPhone("user/1001", registered=False))
    probe.command("event plain ALL")
    job = "e88428c5-d7f7-48ff-b22e-b99fc905daac"
    reply = probe.command(f"bgapi originate user/1001 &park()\nJob-UUID: {job}")
    assert reply.headers["Reply-Text"] == f"+OK Job-UUID: {job}"
    assert reply.headers["Job-UUID"] == job
    done = probe.wait_event("BACKGROUND_JOB", Job_UUID=job)
    assert done.event_body == "-ERR USER_NOT_REGISTERED\n"
    assert done.get("Job-Command") == "originate"
    assert done.get("Job-Command-Arg") == "user/1001 &park()"
    assert not [f for f in probe.events() if f.get("Unique-ID")]


def test_subscription_commands_answer_as_recorded(probe: Probe) -> None:
    """s02: event/nixevent/filter/filter delete/noevents/myevents replies."""
    expected = [
        (
            "event plain CHANNEL_PARK DTMF CUSTOM callcenter::info",
            "+OK event listener enabled plain",
        ),
        ("event plain CUSTOM sofia::register", "+OK event listener enabled plain"),
        ("nixevent DTMF", "+OK events nixed"),
        ("filter Event-Name CHANNEL_PARK", "+OK filter added. [Event-Name]=[CHANNEL_PARK]"),
        ("filter delete Event-Name CHANNEL_PARK", "+OK filter deleted. [Event-Name][CHANNEL_PARK]"),
        ("noevents", "+OK no longer listening for events"),
        ("noevents", "-ERR not listening for events"),
        (f"myevents {UNKNOWN}", "+OK Events Enabled"),
        (f"myevents {UNKNOWN}", "-ERR aready enabled."),
        ("event xml CHANNEL_PARK", "+OK event listener enabled xml"),
        ("event json BACKGROUND_JOB", "+OK event listener enabled json"),
        ("event json NO_SUCH_EVENT", "-ERR no keywords supplied"),
        ("filter onlyname", "-ERR invalid syntax"),
    ]
    for command, text in expected:
        assert probe.command(command).headers["Reply-Text"] == text, command


def test_myevents_on_unknown_uuid_drops_background_jobs(sim: Simulator, probe: Probe) -> None:
    """s02: after myevents <unknown>, a later bgapi's BACKGROUND_JOB never arrives."""
    fired: list[str] = []
    sim.on_event(lambda event: fired.append(event.name))
    probe.command(f"myevents {UNKNOWN}")
    probe.command("event json BACKGROUND_JOB")
    probe.command("bgapi uuid_exists 1\nJob-UUID: d4eff094-a659-43ec-b840-af2949d28952")
    assert sim.wait_for(lambda: "BACKGROUND_JOB" in fired)
    # The listener writes what is queued at the latest right after its next reply, so by the
    # second reply anything the job queued would have been read.
    probe.command("api status")
    probe.command("api status")
    assert not probe.events()


def test_only_subscribed_events_and_custom_subclasses_arrive(sim: Simulator, probe: Probe) -> None:
    probe.command("event plain CHANNEL_PARK CUSTOM acd::test")
    sim.inject_event([("Event-Name", "CUSTOM"), ("Event-Subclass", "other::thing")])
    sim.inject_event([("Event-Name", "CUSTOM"), ("Event-Subclass", "acd::test"), ("N", "1")])
    uuid = sim.place_call("0701234567", "7000")
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    assert park.get("variable_acd_queue") == "support"
    names = [(f.name, f.get("Event-Subclass")) for f in probe.events()]
    assert names == [("CUSTOM", "acd::test"), ("CHANNEL_PARK", None)]


def test_json_format_and_nixevent(sim: Simulator, probe: Probe) -> None:
    probe.command("event json ALL")
    probe.command("nixevent CHANNEL_STATE CHANNEL_CALLSTATE")
    uuid = sim.place_call("0701234567", "7001")
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    assert park.content_type == "text/event-json"
    assert park.get("Answer-State") == "ringing"
    assert park.get("variable_acd_queue") == "sales"
    names = {f.name for f in probe.events()}
    assert "CHANNEL_CREATE" in names
    assert not names & {"CHANNEL_STATE", "CHANNEL_CALLSTATE"}


def test_filters_positive_negative_and_regex(sim: Simulator, probe: Probe) -> None:
    probe.command("event plain ALL")
    probe.command("filter Event-Name /^CHANNEL_(PARK|CREATE)$/")
    probe.command("filter Caller-Destination-Number -7001")
    sim.place_call("0701111111", "7001")
    kept = sim.place_call("0702222222", "7000")
    probe.wait_event("CHANNEL_PARK", Unique_ID=kept)
    names = [(f.name, f.get("Caller-Destination-Number")) for f in probe.events()]
    assert names == [("CHANNEL_CREATE", "7000"), ("CHANNEL_PARK", "7000")]


def test_myevents_on_a_live_uuid_keeps_only_that_channel(sim: Simulator, probe: Probe) -> None:
    mine = sim.place_call("0701111111", "7000")
    assert probe.command(f"myevents {mine}").headers["Reply-Text"] == "+OK Events Enabled"
    sim.place_call("0702222222", "7000")
    sim.hangup(mine)
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=mine)
    assert {f.get("Unique-ID") for f in probe.events()} == {mine}


def test_bgapi_with_own_job_uuid_and_a_generated_one(probe: Probe) -> None:
    probe.command("event plain BACKGROUND_JOB")
    job = "96f50793-d516-4b37-b39d-be914f2cebf4"
    assert probe.command(f"bgapi status\nJob-UUID: {job}").headers["Job-UUID"] == job
    done = probe.wait_event("BACKGROUND_JOB", Job_UUID=job)
    assert done.get("Job-Command") == "status"
    assert done.get("Job-Command-Arg") is None
    assert "is ready" in done.event_body
    generated = probe.command("bgapi uuid_exists nothing").headers["Job-UUID"]
    assert probe.wait_event("BACKGROUND_JOB", Job_UUID=generated).event_body == "false"


def test_reply_delay_holds_every_reply(sim: Simulator, probe: Probe) -> None:
    """Control: delay replies (for the engine's timeout tests)."""
    sim.reply_delay = 1.0
    probe.send("api uuid_exists x")
    with pytest.raises(ESLTimeout):
        probe.read(timeout=0.1)
    assert probe.read(timeout=10).text == "false"


def test_drop_connections_closes_without_notice(sim: Simulator, probe: Probe) -> None:
    sim.drop_connections()
    with pytest.raises(ConnectionLost):
        frame = probe.read(timeout=5)
        pytest.fail(f"got {frame.content_type} instead of a silent close")


def test_listener_is_cut_off_after_max_missed_events() -> None:
    """mod_event_socket MAX_QUEUE_LEN/MAX_MISSED, with small limits."""
    sim = Simulator(time_scale=0.01, heartbeat_interval=None, max_queue_len=5, max_missed=3).start()
    try:
        with Probe("127.0.0.1", sim.port) as client:
            client.login()
            client.command("event plain CUSTOM")
            for n in range(20):  # fired back to back: the listener cannot drain in between
                sim.inject_event([("Event-Name", "CUSTOM"), ("N", str(n))])
            with pytest.raises(ConnectionLost):
                while True:
                    assert client.read(timeout=5).content_type != "text/disconnect-notice"
    finally:
        sim.stop()


def test_rude_rejection_instead_of_auth_request(sim: Simulator) -> None:
    sim.rude_rejection = True
    with Probe("127.0.0.1", sim.port) as client:
        frame = client.read()
        assert frame.content_type == "text/rude-rejection"
        assert frame.text == "Access Denied, go away.\n"


def test_sendevent_and_command_log(sim: Simulator, probe: Probe) -> None:
    probe.command("event plain CUSTOM acd::ping")
    reply = probe.command("sendevent CUSTOM\nEvent-Subclass: acd::ping\nX-Test: 1")
    assert reply.headers["Reply-Text"].startswith("+OK ")
    event = probe.wait_event("CUSTOM")
    assert event.get("X-Test") == "1"
    assert sim.commands_received[-1] == "sendevent CUSTOM"
    assert sim.requests[-1]["headers"] == [["Event-Subclass", "acd::ping"], ["X-Test", "1"]]


def test_split_commands_handles_partial_frames_bodies_and_crlf() -> None:
    buffer = bytearray(b"\n\r\napi status\n\nsendmsg u\r\ncontent-length: 5\r\n\r\nhel")
    first = split_commands(buffer)
    assert [c.line for c in first] == ["api status"]
    buffer.extend(b"lo")
    (second,) = split_commands(buffer)
    assert second.line == "sendmsg u" and second.body == "hello" and not buffer
