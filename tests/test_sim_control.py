"""The simulator's HTTP control endpoint, traffic generator and command line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from freeswitch.sim import AgentPhone, Simulator, SimulatorError
from freeswitch.sim.__main__ import main
from freeswitch.sim.control import ControlServer
from freeswitch.sim.events import SimEvent
from freeswitch.sim.probe import Probe
from freeswitch.sim.traffic import Distribution, TrafficGenerator, TrafficProfile

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(time_scale=0.001, heartbeat_interval=None, seed=7).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def control(sim: Simulator) -> Iterator[ControlServer]:
    server = ControlServer(sim).start()
    yield server
    server.stop()


def http(control: ControlServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request from a native thread, so the gevent hub keeps serving meanwhile."""

    def call() -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{control.port}{path}", data, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    return gevent.get_hub().threadpool.apply(call)  # type: ignore[no-any-return]


def test_place_call_and_read_the_command_log(sim: Simulator, control: ControlServer) -> None:
    status, body = http(
        control, "POST", "/_call", {"caller_number": "0701112222", "destination": "7001"}
    )
    assert status == 200
    uuid = body["uuid"]
    assert sim.channels[uuid].variables["acd_queue"] == "sales"
    with Probe("127.0.0.1", sim.port) as client:
        client.login()
        client.command(f"api uuid_getvar {uuid} acd_queue")
    status, body = http(control, "GET", "/_requests")
    assert [r["command"] for r in body["requests"]] == [
        "auth ********",
        f"api uuid_getvar {uuid} acd_queue",
    ]
    status, body = http(control, "GET", "/_channels")
    assert body["channels"][0]["variables"] == {"acd_queue": "sales", "acd_language": "en"}
    assert http(control, "POST", "/_hangup", {"uuid": uuid, "cause": "ORIGINATOR_CANCEL"})[0] == 200
    assert not sim.channels


def test_inject_event_dtmf_agent_delay_and_reset(sim: Simulator, control: ControlServer) -> None:
    with Probe("127.0.0.1", sim.port) as client:
        client.login()
        client.command("event plain DTMF CUSTOM acd::x")
        headers = [["Event-Name", "CUSTOM"], ["Event-Subclass", "acd::x"], ["Unique-ID", "u1"]]
        assert http(control, "POST", "/_event", {"headers": headers, "body": "hi"})[0] == 200
        event = client.wait_event("CUSTOM")
        assert event.get("Event-Subclass") == "acd::x" and event.event_body == "hi"
        uuid = http(control, "POST", "/_call", {})[1]["uuid"]
        assert http(control, "POST", "/_dtmf", {"uuid": uuid, "digits": "42"})[0] == 200
        assert client.wait_event("DTMF", DTMF_Digit="2").get("Unique-ID") == uuid
    body = {"contact": "user/1009", "answer_after": 2, "behaviour": "busy"}
    assert http(control, "POST", "/_agent", body)[0] == 200
    assert sim.phones["user/1009"].behaviour == "busy"
    assert http(control, "POST", "/_delay", {"seconds": 0.5})[0] == 200
    assert sim.reply_delay == 0.5
    assert http(control, "POST", "/_reset")[0] == 200
    assert sim.reply_delay == 0 and not sim.requests
    assert sim.wait_for(lambda: not sim.channels)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_call", {"caller_number": "not a number"}),
        ("/_call", {"variables": {"x y": "1"}}),
        ("/_hangup", {"uuid": "nope"}),
        ("/_hangup", {}),
        ("/_dtmf", {"uuid": "nope", "digits": "x"}),
        ("/_event", {"headers": [["No-Name", "x"]]}),
        ("/_agent", {"contact": "pstn/123"}),
        ("/_agent", {"contact": "user/1", "answer_after": "soon"}),
        ("/_delay", {"seconds": -1}),
    ],
)
def test_bad_control_input_is_400_and_changes_nothing(
    sim: Simulator, control: ControlServer, path: str, body: dict[str, Any]
) -> None:
    status, reply = http(control, "POST", path, body)
    assert status == 400
    assert reply["error"] == "sim-invalid-input"
    assert not sim.channels and not sim.phones and sim.reply_delay == 0


def test_unknown_route_is_404(control: ControlServer) -> None:
    assert http(control, "GET", "/nothing")[0] == 404


def test_drop_shutdown_and_restart_through_http(sim: Simulator, control: ControlServer) -> None:
    with Probe("127.0.0.1", sim.port) as client:
        client.login()
        assert http(control, "POST", "/_shutdown")[0] == 200
        assert client.next_reply().text == "The system is being shut down.\n"
    assert http(control, "POST", "/_restart")[0] == 200
    with Probe("127.0.0.1", sim.port) as client:
        client.login()
        assert http(control, "POST", "/_drop")[0] == 200
        with pytest.raises(Exception, match="closed"):
            client.read(timeout=5)


def test_distribution_parsing() -> None:
    assert Distribution.parse("30") == Distribution("exponential", 30.0)
    assert Distribution.parse("fixed:5").sample(__import__("random").Random(1)) == 5.0
    uniform = Distribution.parse("uniform:1:3")
    assert (uniform.low, uniform.high) == (1.0, 3.0)
    for bad in ("soon", "uniform:3:1", "gauss:2", "fixed:-1"):
        with pytest.raises(SimulatorError):
            Distribution.parse(bad)
    with pytest.raises(SimulatorError):
        TrafficProfile(arrival_rate=0)
    with pytest.raises(SimulatorError):
        TrafficProfile(agent_mix={"dance": 1.0})


def test_callers_abandon_when_nobody_answers(sim: Simulator) -> None:
    profile = TrafficProfile(arrival_rate=50.0, patience=Distribution("fixed", 2.0), max_calls=8)
    traffic = TrafficGenerator(sim, profile, seed=1)
    traffic.start()
    try:
        assert sim.wait_for(lambda: traffic.stats["ended"] == 8, timeout=20)
    finally:
        traffic.stop()
    assert traffic.summary() == {
        "offered": 8,
        "bridged": 0,
        "abandoned": 8,
        "completed": 0,
        "ended": 8,
    }


def test_bridged_callers_talk_and_hang_up(sim: Simulator) -> None:
    """A minimal stand-in engine: originate an agent for each parked caller and bridge."""
    profile = TrafficProfile(
        arrival_rate=20.0,
        patience=Distribution("fixed", 5000.0),
        talk_time=Distribution("uniform", 5.0, 1.0, 9.0),
        agents=3,
        agent_answer=Distribution("uniform", 1.0, 0.5, 1.5),
        max_calls=6,
    )
    traffic = TrafficGenerator(sim, profile, seed=2)
    agents = iter(range(10_000))

    def engine(event: SimEvent) -> None:
        if event.name == "CHANNEL_PARK" and event.get("Call-Direction") == "inbound":
            gevent.spawn(serve, event.unique_id or "")

    def serve(caller: str) -> None:
        leg = f"agent-{next(agents)}"
        text, then = sim.originator.originate(
            f"{{origination_uuid={leg}}}user/100{len(leg) % 3} &park()"
        )
        assert text == f"+OK {leg}\n"
        if then is not None:
            then()
        sim.api.execute("uuid_bridge", f"{caller} {leg}")

    unhook = sim.on_event(engine)
    traffic.start()
    try:
        assert sim.wait_for(lambda: traffic.stats["ended"] == 6, timeout=20)
    finally:
        traffic.stop()
        unhook()
    assert traffic.stats["bridged"] == 6 and traffic.stats["completed"] == 6
    assert traffic.stats["abandoned"] == 0
    assert sum(phone.calls for phone in sim.phones.values()) == 6
    assert isinstance(sim.phones["user/1000"], AgentPhone)


def test_command_line_runs_traffic_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--port", "0", "--control-port", "-1", "--heartbeat", "0", "--time-scale", "0.001",
        "--traffic", "--rate", "100", "--patience", "fixed:1", "--max-calls", "3",
        "--duration", "0.3", "--report", "0.1", "--seed", "3",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "FreeSWITCH simulator on 127.0.0.1:" in out
    assert "final {'offered': 3" in out
    assert main(["--rate", "0", "--traffic", "--port", "0"]) == 2
