"""The simulator's channel model: callers, agent legs, prompts, bridges, hang-ups.

Event orders asserted here are the recorded ones (s03, s05, s06, s08); names of the
recordings are given per test. Time runs 100x fast (time_scale 0.01); nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from freeswitch.sim import AgentPhone, Simulator, SimulatorError
from freeswitch.sim.probe import Frame, Probe

pytestmark = pytest.mark.timeout(60)

ENGINE_EVENTS = {
    "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_ANSWER", "CHANNEL_PARK",
    "CHANNEL_UNPARK", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
    "PLAYBACK_START", "PLAYBACK_STOP", "DTMF", "BACKGROUND_JOB", "PRIVATE_COMMAND",
}  # fmt: skip


@pytest.fixture
def probe(sim: Simulator) -> Iterator[Probe]:
    client = Probe("127.0.0.1", sim.port)
    client.login()
    client.command("event plain ALL")
    yield client
    client.close()


def trail(frames: list[Frame], uuid: str | None = None) -> list[str]:
    """Engine-relevant event names (for one channel, if given), with the app if any."""
    out = []
    for frame in frames:
        if frame.name not in ENGINE_EVENTS:
            continue
        if uuid is not None and frame.get("Unique-ID") != uuid:
            continue
        extra = frame.get("Application") if frame.name.startswith("CHANNEL_EXECUTE") else None
        out.append(f"{frame.name}({extra})" if extra else frame.name)
    return out


def test_caller_arrives_through_the_dialplan(sim: Simulator, probe: Probe) -> None:
    """s03: CREATE, set x6, answer, park; variable_acd_* on CHANNEL_PARK."""
    uuid = sim.place_call("0701234567", "7000")
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    sets = ["CHANNEL_EXECUTE(set)", "CHANNEL_EXECUTE_COMPLETE(set)"] * 6
    assert trail(probe.events(), uuid) == [
        "CHANNEL_CREATE", *sets, "CHANNEL_EXECUTE(answer)", "CHANNEL_ANSWER",
        "CHANNEL_EXECUTE_COMPLETE(answer)", "CHANNEL_EXECUTE(park)", "CHANNEL_PARK",
    ]  # fmt: skip
    assert park.get("Answer-State") == "answered"
    assert park.get("Call-Direction") == "inbound"
    assert park.get("Caller-Caller-ID-Number") == "0701234567"
    assert park.get("Caller-Destination-Number") == "7000"
    assert park.get("variable_acd_skills") == "billing:3,invoice:1"
    states = [f.get("Channel-State") for f in probe.events() if f.name == "CHANNEL_STATE"]
    assert states == ["CS_NEW", "CS_INIT", "CS_ROUTING", "CS_EXECUTE"]
    assert sim.channels[uuid].parked


def test_explicit_variables_and_unanswered_park(sim: Simulator, probe: Probe) -> None:
    uuid = sim.place_call(
        "0709999999", "1234", {"acd_queue": "vip", "acd_priority": "5"}, answered=False
    )
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    assert park.get("Answer-State") == "ringing"
    assert park.get("variable_acd_priority") == "5"
    assert "CHANNEL_ANSWER" not in trail(probe.events(), uuid)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"caller_number": "07 01"}, "caller number"),
        ({"destination": "70\n00"}, "destination"),
        ({"variables": {"bad name": "x"}}, "variable name"),
        ({"variables": {"acd_queue": "a\nb"}}, "value"),
        ({"uuid": "has space"}, "uuid"),
    ],
)
def test_bad_call_input_is_refused_and_changes_nothing(
    sim: Simulator, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SimulatorError, match=message):
        sim.place_call(**kwargs)  # type: ignore[arg-type]
    assert not sim.channels
    with pytest.raises(SimulatorError):
        sim.add_agent_phone(AgentPhone("user/1001", behaviour="maybe"))  # type: ignore[arg-type]
    with pytest.raises(SimulatorError):
        sim.hangup("no-such-uuid")


def test_unknown_destination_hangs_up_no_route(sim: Simulator, probe: Probe) -> None:
    uuid = sim.place_call("0701234567", "9999")
    hangup = probe.wait_event("CHANNEL_HANGUP", Unique_ID=uuid)
    assert hangup.get("Hangup-Cause") == "NO_ROUTE_DESTINATION"
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=uuid)


def test_agent_leg_answers_background_job_between_answer_and_park(
    sim: Simulator, probe: Probe
) -> None:
    """s03/s05: BACKGROUND_JOB +OK comes after the leg's CHANNEL_ANSWER, before its PARK."""
    sim.add_agent_phone(AgentPhone("sofia/internal/sip:agent1@127.0.0.1:5070", answer_after=1.5))
    leg = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"
    command = (
        f"bgapi originate {{origination_uuid={leg},ignore_early_media=true,originate_timeout=20,"
        "acd_role=agent}sofia/internal/sip:agent1@127.0.0.1:5070 &park()"
    )
    job = probe.command(command).headers["Job-UUID"]
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=leg)
    order = [
        f.name for f in probe.events() if f.get("Unique-ID") == leg or f.name == "BACKGROUND_JOB"
    ]
    order = [n for n in order if n in ENGINE_EVENTS]
    assert order == [
        "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_ANSWER",
        "BACKGROUND_JOB", "CHANNEL_EXECUTE", "CHANNEL_PARK",
    ]  # fmt: skip
    done = probe.wait_event("BACKGROUND_JOB", Job_UUID=job)
    assert done.event_body == f"+OK {leg}\n"
    assert park.get("Call-Direction") == "outbound"
    assert park.get("variable_acd_role") == "agent"
    assert park.get("Channel-Name") == "sofia/internal/agent1@127.0.0.1:5070"


@pytest.mark.parametrize(
    ("phone", "timeout", "cause"),
    [
        (AgentPhone("user/1002", behaviour="no_answer"), 3, "NO_ANSWER"),
        (AgentPhone("user/1002", answer_after=5), 3, "NO_ANSWER"),
        (AgentPhone("user/1002", behaviour="busy"), 10, "USER_BUSY"),
        (AgentPhone("user/1002", behaviour="reject"), 10, "CALL_REJECTED"),
        (AgentPhone("user/1002", behaviour="fail"), 10, "NORMAL_TEMPORARY_FAILURE"),
    ],
)
def test_agent_leg_failures_as_recorded(
    sim: Simulator, probe: Probe, phone: AgentPhone, timeout: int, cause: str
) -> None:
    """s05: HANGUP -> (HANGUP_COMPLETE) -> BACKGROUND_JOB -ERR <cause> -> DESTROY."""
    sim.add_agent_phone(phone)
    leg = f"leg-{cause.lower()}"
    job = probe.command(
        f"bgapi originate {{origination_uuid={leg},originate_timeout={timeout}}}user/1002 &park()"
    )
    done = probe.wait_event("BACKGROUND_JOB", Job_UUID=job.headers["Job-UUID"])
    assert done.event_body == f"-ERR {cause}\n"
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=leg)
    order = [
        f.name for f in probe.events() if f.get("Unique-ID") == leg or f.name == "BACKGROUND_JOB"
    ]
    tail = [n for n in order if n in ENGINE_EVENTS][-4:]
    if cause == "NO_ANSWER":
        assert tail == [
            "CHANNEL_HANGUP",
            "BACKGROUND_JOB",
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_DESTROY",
        ]
    else:
        assert tail == [
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
            "BACKGROUND_JOB",
            "CHANNEL_DESTROY",
        ]
    assert leg not in sim.channels


def test_killing_a_ringing_leg_reports_the_cause(sim: Simulator, probe: Probe) -> None:
    """s05: uuid_kill <leg> ORIGINATOR_CANCEL while it rings -> -ERR ORIGINATOR_CANCEL."""
    sim.add_agent_phone(AgentPhone("user/1003", behaviour="no_answer"))
    job = probe.command(
        "bgapi originate {origination_uuid=ring-1,originate_timeout=600}user/1003 &park()"
    )
    probe.wait_event("CHANNEL_PROGRESS", Unique_ID="ring-1")
    assert probe.command("api uuid_kill ring-1 ORIGINATOR_CANCEL").text == "+OK\n"
    done = probe.wait_event("BACKGROUND_JOB", Job_UUID=job.headers["Job-UUID"])
    assert done.event_body == "-ERR ORIGINATOR_CANCEL\n"


def test_api_originate_blocks_the_connection(sim: Simulator, probe: Probe) -> None:
    """A plain `api originate` answers when the leg is up; its events follow the reply."""
    sim.add_agent_phone(AgentPhone("user/1004", answer_after=2))
    probe.frames.clear()
    reply = probe.command("api originate {origination_uuid=sync-1}user/1004 &park()")
    assert reply.text == "+OK sync-1\n"
    probe.wait_event("CHANNEL_PARK", Unique_ID="sync-1")
    first_event = next(i for i, f in enumerate(probe.frames) if f.get("Unique-ID") == "sync-1")
    assert probe.frames.index(reply) < first_event


def bridged_pair(sim: Simulator, probe: Probe) -> tuple[str, str]:
    sim.add_agent_phone(AgentPhone("user/1005", answer_after=0.5))
    caller = sim.place_call()
    probe.command(f"api uuid_broadcast {caller} local_stream://moh aleg")
    probe.wait_event("PLAYBACK_START", Unique_ID=caller)
    probe.command("api originate {origination_uuid=agent-leg}user/1005 &park()")
    probe.wait_event("CHANNEL_PARK", Unique_ID="agent-leg")
    assert probe.command(f"api uuid_bridge {caller} agent-leg").text == "+OK agent-leg\n"
    bridge = probe.wait_event("CHANNEL_BRIDGE")
    assert bridge.get("Bridge-A-Unique-ID") == caller
    assert bridge.get("Bridge-B-Unique-ID") == "agent-leg"
    assert bridge.get("Other-Leg-Unique-ID") == "agent-leg"
    return caller, "agent-leg"


def test_uuid_bridge_stops_hold_music_and_unparks_both(sim: Simulator, probe: Probe) -> None:
    """s03: PLAYBACK_STOP, UNPARK + EXECUTE_COMPLETE(park) on both legs, one CHANNEL_BRIDGE."""
    caller, agent = bridged_pair(sim, probe)
    events = [f for f in probe.events() if f.get("Event-Sequence")]
    after = events[next(i for i, f in enumerate(events) if f.name == "PLAYBACK_STOP") :]
    names = [
        (f.name, f.get("Unique-ID"), f.get("Application")) for f in after if f.name in ENGINE_EVENTS
    ]
    assert names == [
        ("PLAYBACK_STOP", caller, None),
        ("CHANNEL_EXECUTE_COMPLETE", caller, "playback"),
        ("PRIVATE_COMMAND", caller, None),
        ("CHANNEL_UNPARK", caller, None),
        ("CHANNEL_EXECUTE_COMPLETE", caller, "park"),
        ("CHANNEL_UNPARK", agent, None),
        ("CHANNEL_EXECUTE_COMPLETE", agent, "park"),
        ("CHANNEL_EXECUTE", caller, "uuid_bridge"),
        ("CHANNEL_EXECUTE", agent, "uuid_bridge"),
        ("CHANNEL_BRIDGE", caller, None),
    ]
    assert probe.command(f"api uuid_bridge {caller} nothing").text == "-ERR Invalid uuid\n"


def test_caller_hangs_up_a_bridged_call(sim: Simulator, probe: Probe) -> None:
    """s03: A HANGUP, B HANGUP, A UNBRIDGE, B COMPLETE+DESTROY, A COMPLETE+DESTROY."""
    caller, agent = bridged_pair(sim, probe)
    probe.frames.clear()
    sim.hangup(caller)
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=caller)
    names = [(f.name, f.get("Unique-ID")) for f in probe.events() if f.name in ENGINE_EVENTS]
    assert names == [
        ("CHANNEL_HANGUP", caller), ("CHANNEL_HANGUP", agent), ("CHANNEL_UNBRIDGE", caller),
        ("CHANNEL_HANGUP_COMPLETE", agent), ("CHANNEL_DESTROY", agent),
        ("CHANNEL_HANGUP_COMPLETE", caller), ("CHANNEL_DESTROY", caller),
    ]  # fmt: skip
    assert not sim.channels


def test_agent_hangs_up_a_bridged_call(sim: Simulator, probe: Probe) -> None:
    """s08: B HANGUP, A UNBRIDGE, A HANGUP, A COMPLETE, B COMPLETE, B DESTROY, A DESTROY."""
    caller, agent = bridged_pair(sim, probe)
    probe.frames.clear()
    probe.command(f"api uuid_kill {agent}")
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=caller)
    names = [(f.name, f.get("Unique-ID")) for f in probe.events() if f.name in ENGINE_EVENTS]
    assert names == [
        ("CHANNEL_HANGUP", agent), ("CHANNEL_UNBRIDGE", caller), ("CHANNEL_HANGUP", caller),
        ("CHANNEL_HANGUP_COMPLETE", caller), ("CHANNEL_HANGUP_COMPLETE", agent),
        ("CHANNEL_DESTROY", agent), ("CHANNEL_DESTROY", caller),
    ]  # fmt: skip


def test_agent_phone_hangs_up_after_talking(sim: Simulator, probe: Probe) -> None:
    sim.add_agent_phone(AgentPhone("user/1006", answer_after=0.2, hangup_after=1.0))
    probe.command("bgapi originate {origination_uuid=talker}user/1006 &park()")
    hangup = probe.wait_event("CHANNEL_HANGUP", Unique_ID="talker")
    assert hangup.get("Hangup-Cause") == "NORMAL_CLEARING"


def test_sendmsg_hangup_and_variables(sim: Simulator, probe: Probe) -> None:
    """s06: setvar/getvar/_undef_, then sendmsg hangup: HANGUP, PRIVATE_COMMAND, UNPARK ..."""
    uuid = sim.place_call()
    assert probe.command(f"api uuid_setvar {uuid} acd_cb_confirmed true").text == "+OK\n"
    assert probe.command(f"api uuid_getvar {uuid} acd_cb_confirmed").text == "true"
    assert probe.command(f"api uuid_getvar {uuid} nothing_here").text == "_undef_"
    assert probe.command(f"api uuid_exists {uuid}").text == "true"
    probe.frames.clear()
    probe.command(f"sendmsg {uuid}\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=uuid)
    assert trail(probe.events(), uuid) == [
        "CHANNEL_HANGUP", "PRIVATE_COMMAND", "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE(park)",
        "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
    ]  # fmt: skip
    assert probe.command(f"api uuid_exists {uuid}").text == "false"


def test_show_channels_and_uuid_dump(sim: Simulator, probe: Probe) -> None:
    """s07 layout: row_count/rows; uuid_dump json is one CHANNEL_DATA object."""
    uuid = sim.place_call("0701234567", "7001")
    rows = json.loads(probe.command("api show channels as json").text)
    assert rows["row_count"] == 1
    (row,) = rows["rows"]
    assert (row["uuid"], row["dest"], row["application"], row["callstate"]) == (
        uuid,
        "7001",
        "park",
        "RINGING",
    )
    calls = json.loads(probe.command("api show calls as json").text)
    assert calls["rows"][0]["b_uuid"] == ""
    dump = json.loads(probe.command(f"api uuid_dump {uuid} json").text)
    assert dump["Event-Name"] == "CHANNEL_DATA"
    assert dump["variable_acd_queue"] == "sales"


def test_shutdown_and_restart(sim: Simulator, probe: Probe) -> None:
    """s09/s09b: SHUTDOWN, SYSTEM_SHUTDOWN hang-ups, shutdown notice; then a new Core-UUID."""
    old_core = probe.command("api global_getvar core_uuid").text
    uuid = sim.place_call()
    sim.shutdown()
    probe.wait_event("SHUTDOWN")
    assert (
        probe.wait_event("CHANNEL_HANGUP", Unique_ID=uuid).get("Hangup-Cause") == "SYSTEM_SHUTDOWN"
    )
    notice = probe.next_reply()
    assert notice.text == "The system is being shut down.\n"
    sim.restart()
    with Probe("127.0.0.1", sim.port) as again:
        again.login()
        assert again.command("api global_getvar core_uuid").text not in ("", old_core)
        sim.place_call()
        assert again.command("api show channels as json").text.startswith('{"row_count":1')


def test_uuid_transfer_runs_the_dialplan_again(sim: Simulator, probe: Probe) -> None:
    uuid = sim.place_call("0701234567", "7001")
    probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    assert probe.command(f"api uuid_transfer {uuid} 7000 XML acd").text == "+OK\n"
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    assert park.get("variable_acd_queue") == "support"
    assert park.get("Caller-Destination-Number") == "7000"
    assert park.get("Answer-State") == "answered"
    names = trail(probe.events(), uuid)
    first_park = names.index("CHANNEL_PARK")
    assert names[first_park + 1 : first_park + 3] == [
        "CHANNEL_UNPARK",
        "CHANNEL_EXECUTE_COMPLETE(park)",
    ]


def test_uuid_park_takes_a_caller_back_from_a_bridge(sim: Simulator, probe: Probe) -> None:
    caller, agent = bridged_pair(sim, probe)
    assert probe.command(f"api uuid_park {caller}").text == "+OK\n"
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=agent)
    park = probe.wait_event("CHANNEL_PARK", Unique_ID=caller)
    assert park.get("Answer-State") == "answered"
    assert sim.channels[caller].parked and not sim.channels[caller].bridged
    assert probe.command("api hupall NORMAL_CLEARING").text == (
        "+OK hangup all channels with cause NORMAL_CLEARING\n"
    )
    probe.wait_event("CHANNEL_DESTROY", Unique_ID=caller)


def test_answer_a_ringing_caller_and_plain_show(sim: Simulator, probe: Probe) -> None:
    uuid = sim.place_call("0701234567", "7001")
    assert probe.command(f"api uuid_answer {uuid}").text == "+OK\n"
    assert probe.wait_event("CHANNEL_ANSWER", Unique_ID=uuid).get("Answer-State") == "answered"
    table = probe.command("api show channels").text
    header, row = table.split("\n")[:2]
    assert header.startswith("uuid,direction,created,")
    assert row.startswith(f"{uuid},inbound,")
    assert table.endswith("\n\n1 total.\n")
    assert probe.command("api show channels count").text == "\n1 total.\n"


def test_heartbeat_events_when_enabled() -> None:
    sim = Simulator(time_scale=0.01, heartbeat_interval=0.05).start()
    try:
        with Probe("127.0.0.1", sim.port) as client:
            client.login()
            client.command("event plain HEARTBEAT")
            beat = client.wait_event("HEARTBEAT", timeout=5)
            assert beat.get("Event-Info") == "System Ready"
            assert (beat.get("FreeSWITCH-Version") or "").startswith("1.10.12")
    finally:
        sim.stop()


def test_originate_to_an_extension_runs_the_dialplan(sim: Simulator, probe: Probe) -> None:
    sim.add_agent_phone(AgentPhone("user/1007", answer_after=0.1))
    assert (
        probe.command("api originate {origination_uuid=ext-1}user/1007 7000").text == "+OK ext-1\n"
    )
    park = probe.wait_event("CHANNEL_PARK", Unique_ID="ext-1")
    assert park.get("variable_acd_queue") == "support"
    assert park.get("Caller-Destination-Number") == "7000"
