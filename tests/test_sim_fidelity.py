"""Fidelity: replay recorded conversations against the simulator and compare.

For each recording the simulator models — s01a, s01b, s02, s03, s04, s05, s06, s07, s09 and
s09b — the client's commands (the "out" turns of the .jsonl) are sent again, in order,
to a fresh simulator over TCP. What FreeSWITCH did on its own is triggered from the
recording at the same point: a caller arriving (first event of an inbound caller
channel), a caller hanging up (a CHANNEL_HANGUP no command of that step asked for), DTMF
(the API event of ``uuid_recv_dtmf`` sent by another client) and a shutdown (SHUTDOWN).
Before each trigger and after each step the replay waits until the simulator has sent
as many events per channel as the recording shows up to that point, so causality is
the recorded one while time runs 50x faster.

Compared: every reply text (a few normalised, see ``_normalise``); per channel, the
sequence of engine-relevant event names; for each pair of events the headers the
engine reads (``HEADERS`` plus every ``variable_acd_*``); BACKGROUND_JOB results by job.

Deliberate differences (documented, not compared):

- Loopback far-end ``-b`` legs of agents (s05, s07) and channels other clients created
  (s06's loopback ``-a`` leg, s09b's test call) are not modelled.
- ``callcenter_config`` (mod_callcenter, s02) is not implemented.
- s03/s04: the hold music stopped by ``uuid_bridge`` right after ``uuid_break all``
  reports ``Playback-Status: done`` in the recording (the transfer won a race inside
  FreeSWITCH's media loop); the simulator handles ``uuid_break`` at once: ``break``.
- ``status``/``show``/``uuid_dump`` bodies are compared field by field, not byte by byte
  (uptime, timestamps and codec details differ by nature).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from freeswitch.errors import ESLTimeout
from freeswitch.messages import Event
from freeswitch.parser import Parser
from freeswitch.sim import AgentPhone, Simulator
from freeswitch.sim.probe import Frame, Probe, decode_json, decode_plain
from freeswitch.sim.sounds import PhraseStep, SoundLibrary
from tests.captures import load_conversation

pytestmark = pytest.mark.timeout(120)

TIME_SCALE = 0.02
ENGINE_EVENTS = frozenset(
    {
        "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "PLAYBACK_START", "PLAYBACK_STOP", "DTMF",
        "BACKGROUND_JOB", "PRIVATE_COMMAND",
    }
)  # fmt: skip
HEADERS = (
    "Event-Name", "Unique-ID", "Caller-Caller-ID-Number", "Caller-Destination-Number",
    "Answer-State", "Channel-State", "Call-Direction", "Hangup-Cause", "Application",
    "Application-Data", "Playback-Status", "Playback-File-Path", "Other-Leg-Unique-ID",
    "Bridge-A-Unique-ID", "Bridge-B-Unique-ID", "DTMF-Digit",
)  # fmt: skip
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The s03/s04 hold music: uuid_break then uuid_bridge. FreeSWITCH stopped the music by the
# bridge's transfer (status done, Other-Leg already set); the simulator breaks at once.
_RACE = {
    ("PLAYBACK_STOP", 12): {"Playback-Status", "Other-Leg-Unique-ID"},
    ("CHANNEL_EXECUTE_COMPLETE", 15): {"Other-Leg-Unique-ID"},
    ("PRIVATE_COMMAND", 8): {"Other-Leg-Unique-ID"},
}
# (recording, channel, event name, occurrence) -> headers that deliberately differ.
KNOWN_DIFFERENCES: dict[tuple[str, str, str, int], set[str]] = {
    (key, caller, name, n): headers
    for key, caller in (
        ("s03", "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"),
        ("s04", "a5418bec-ff96-4767-857c-8b7e610d2390"),
    )
    for (name, n), headers in _RACE.items()
}  # fmt: skip


@dataclass
class Recorded:
    """One frame FreeSWITCH sent, with the event decoded."""

    content_type: str
    headers: dict[str, str]
    body: str
    event: list[tuple[str, str]] = field(default_factory=list)
    event_body: str = ""

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.event if k == name), None)

    @property
    def name(self) -> str | None:
        return self.get("Event-Name")


@dataclass
class Step:
    command: str | None
    frames: list[Recorded] = field(default_factory=list)


def load_steps(name: str) -> list[Step]:
    """Split the conversation at each client write; each frame goes to its step."""
    steps = [Step(None)]
    buffer = b""
    for turn in load_conversation(name):
        if turn["dir"] == "out":
            for command in turn["data"].split("\n\n"):
                if command.strip():
                    steps.append(Step(command))
            continue
        buffer += turn["data"].encode()
        while (end := buffer.find(b"\n\n")) >= 0:
            head = dict(line.split(": ", 1) for line in buffer[:end].decode().split("\n"))
            length = int(head.get("Content-Length", "0"))
            if len(buffer) < end + 2 + length:
                break
            body = buffer[end + 2 : end + 2 + length]
            buffer = buffer[end + 2 + length :]
            frame = Recorded(head.get("Content-Type", ""), head, body.decode())
            if frame.content_type == "text/event-plain":
                frame.event, frame.event_body = decode_plain(body)
            elif frame.content_type == "text/event-json":
                frame.event, frame.event_body = decode_json(body)
            steps[-1].frames.append(frame)
    return steps


@dataclass
class Scenario:
    name: str
    phones: list[AgentPhone] = field(default_factory=list)
    setup: Callable[[Simulator], None] | None = None
    compare_events: bool = True
    # Slower where the replay must act inside a recorded time window (a ringing leg to
    # kill, digits to press before a collection times out), so a busy machine keeps up.
    time_scale: float = TIME_SCALE


def _s07_setup(sim: Simulator) -> None:
    """s07 starts with channels already up: two parked callers, an agent, a ringing leg."""
    sim.place_call("0701234567", "7000", uuid="b5224928-efce-4af0-aea5-b5f115a9c0eb")
    sim.place_call("0701234567", "7001", uuid="3d74f467-c6b9-4d18-8396-6af959cfdd0b")
    with Probe("127.0.0.1", sim.port) as helper:
        helper.login()
        agent = "8a7604a9-9f3e-4ebf-aa58-656046a6fff6"
        helper.command(f"api originate {{origination_uuid={agent}}}{AGENT2} &park()")
        ringing = "7dc4372e-95f6-40d6-8802-04570cc22bf9"
        helper.command(
            f"bgapi originate {{origination_uuid={ringing},originate_timeout=600}}user/1003 &park()"
        )
    assert sim.wait_for(lambda: ringing in sim.channels and sim.channels[ringing].progress_us > 0)
    sim.commands_received.clear()


# Channels the simulator does not model: s07's loopback far end of the ringing agent.
UNMODELLED = {"62f61d47-1a3f-4e51-812d-26fd4aacd770"}
AGENT1 = "sofia/internal/sip:agent1@127.0.0.1:5070"
AGENT2 = "sofia/internal/sip:agent2@127.0.0.1:5072"
# The recording lab's directory sends these users to loopback extensions (s05, s07).
RING, BUSY = "loopback/agent_ring/agents", "loopback/agent_busy/agents"

SCENARIOS = {
    "s01a": Scenario("s01a_preauth_and_bad_password"),
    "s01b": Scenario("s01b_auth_ok_exit"),
    "s02": Scenario(
        "s02_commands_and_errors",
        [
            AgentPhone("user/1001", registered=False),
            AgentPhone("user/1004", behaviour="busy", cause="NORMAL_CLEARING", dial_string=BUSY),
            AgentPhone("loopback/agent_reject/agents", behaviour="reject"),
        ],
    ),
    "s03": Scenario("s03_caller_journey_plain", [AgentPhone(AGENT1, answer_after=0.8)]),
    "s04": Scenario("s04_caller_journey_json", [AgentPhone(AGENT1, answer_after=0.8)]),
    "s05": Scenario(
        "s05_agent_leg_failures",
        [
            AgentPhone("sofia/internal/sip:agent@127.0.0.1:5074", behaviour="no_answer"),
            AgentPhone("sofia/internal/sip:agent@127.0.0.1:5076", behaviour="busy"),
            AgentPhone("sofia/internal/sip:agent@127.0.0.1:5078", answer_after=1.5),
            AgentPhone("user/1001", registered=False),
            AgentPhone("user/1003", behaviour="no_answer", dial_string=RING),
            AgentPhone("user/1004", behaviour="busy", cause="NORMAL_CLEARING", dial_string=BUSY),
            AgentPhone("loopback/agent_reject/agents", behaviour="reject"),
            AgentPhone("loopback/agent_ans_after_1500/agents", answer_after=1.5),
        ],
        time_scale=0.1,
    ),
    "s06": Scenario("s06_dtmf_digits_and_hangups", time_scale=0.2),
    "s07": Scenario(
        "s07_reconcile_snapshot",
        [
            AgentPhone(AGENT2, answer_after=0.1),
            AgentPhone("user/1003", behaviour="no_answer", dial_string=RING),
        ],
        setup=_s07_setup,
    ),
    "s09": Scenario("s09_freeswitch_shutdown"),
}  # fmt: skip


def _normalise(command: str, text: str) -> object:
    """What of a reply body is compared: exact text, or the stable fields."""
    name = command.split(" ")[1] if command.startswith(("api ", "bgapi ")) else ""
    if name == "status":
        if not text.startswith("UP "):
            return text
        numbers = [re.sub(r"\d+", "N", line) for line in text.split("\n")]
        return [re.sub(r"(N [a-z]+?)s\b", r"\1", line) for line in numbers]
    if name == "show" and text.startswith("{") and text != '{"row_count": 0}\n':
        return sorted(
            (
                r["uuid"],
                r["direction"],
                r.get("application", ""),
                r["callstate"],
                r.get("b_uuid", ""),
            )
            for r in json.loads(text)["rows"]
            if r["uuid"] not in UNMODELLED
        )
    if name == "uuid_dump":
        dump = json.loads(text)
        keep = (
            "Event-Name",
            "Unique-ID",
            "Caller-Destination-Number",
            "Call-Direction",
            "Answer-State",
        )
        return {k: v for k, v in dump.items() if k in keep or k.startswith("variable_acd_")}
    if name == "global_getvar":
        return "uuid" if UUID.fullmatch(text) else text
    return UUID.sub("<uuid>", text) if "Job-UUID" in text else text


class Replay:
    def __init__(self, scenario: Scenario, sim: Simulator, key: str) -> None:
        self.scenario = scenario
        self.key = key
        self.sim = sim
        self.probe: Probe | None = None
        self.expected: dict[str, list[Recorded]] = defaultdict(list)
        self.jobs: dict[str, str] = {}
        self.callers: set[str] = set()
        self.originated: set[str] = set()
        self.reply_pairs: list[tuple[str, object, object]] = []

    def channel_key(self, frame: Recorded | Frame, recorded: bool) -> str | None:
        if frame.name not in ENGINE_EVENTS:
            return None
        if frame.name == "BACKGROUND_JOB":
            job = frame.get("Job-UUID") or ""
            if recorded and job not in self.jobs:
                return None  # another client's job (s06: the loopback test call)
            return "job:" + (self.jobs[job] if recorded else job)
        uuid = frame.get("Unique-ID")
        if uuid is None or (recorded and uuid not in self.callers | self.originated):
            return None
        return uuid

    def counts(self) -> Counter[str]:
        assert self.probe is not None
        return Counter(k for f in self.probe.events() if (k := self.channel_key(f, False)))

    def catch_up(self) -> None:
        """Read until the simulator has sent every event the recording shows so far."""
        assert self.probe is not None
        want = Counter({k: len(v) for k, v in self.expected.items()})
        while not all(self.counts()[k] >= n for k, n in want.items()):
            try:
                self.probe.read(timeout=5)
            except ESLTimeout:
                have = self.counts()
                short = {k: (n, have[k]) for k, n in want.items() if have[k] < n}
                sent = [f for f in self.probe.events() if f.name in ENGINE_EVENTS]
                detail = {
                    k: (
                        [f.name for f in self.expected[k]],
                        [f.name for f in sent if self.channel_key(f, False) == k],
                    )
                    for k in short
                }
                pytest.fail(f"simulator fell short (recorded, sent): {short}\n{detail}")

    def trigger(self, step: Step, frame: Recorded) -> None:
        uuid = frame.get("Unique-ID")
        if frame.name == "SHUTDOWN":
            self.catch_up()
            self.sim.shutdown()
        elif frame.name == "API" and frame.get("API-Command") == "uuid_recv_dtmf":
            target, digits = (frame.get("API-Command-Argument") or "").split(" ")
            self.catch_up()
            self.sim.press_dtmf(target, digits)
        elif (
            uuid
            and uuid not in self.callers | self.originated
            and frame.get("Call-Direction") == "inbound"
        ):
            if frame.get("Caller-Context") != "acd":
                return  # a loopback agent's far end: not modelled
            self.callers.add(uuid)
            number = frame.get("Caller-Caller-ID-Number") or ""
            self.sim.place_call(number, frame.get("Caller-Destination-Number") or "", uuid=uuid)
        elif frame.name == "CHANNEL_HANGUP" and uuid in self.callers:
            cause = frame.get("Hangup-Cause") or "NORMAL_CLEARING"
            command = step.command or ""
            kills = ("uuid_kill" in command or "hangup" in command) and uuid in command
            asked = kills or "hupall" in command
            ch = self.sim.channels.get(uuid or "")
            partner_first = ch is not None and not ch.is_up
            if not asked and not partner_first and cause != "SYSTEM_SHUTDOWN":
                self.catch_up()
                self.sim.hangup(uuid or "", cause)

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            if step.command is not None:
                self.originated.update(
                    UUID.findall(step.command) if "originate" in step.command else []
                )
                if self.probe is None:
                    self.probe = Probe("127.0.0.1", self.sim.port)
                    assert self.probe.read().content_type == "auth/request"
                self.probe.send(step.command)
            for frame in step.frames:
                self.frame(step, frame)
            if self.scenario.compare_events:
                self.catch_up()
            if step.command and step.command.startswith("api uuid_bridge"):
                a = step.command.split(" ")[2]
                assert self.sim.wait_for(functools.partial(self._bridged_or_gone, a))

    def _bridged_or_gone(self, uuid: str) -> bool:
        ch = self.sim.channels.get(uuid)
        return ch is None or ch.bridged

    def frame(self, step: Step, frame: Recorded) -> None:
        if frame.content_type == "auth/request":
            self.probe = Probe("127.0.0.1", self.sim.port)
            assert self.probe.read().content_type == "auth/request"
            return
        assert self.probe is not None
        if frame.content_type in ("command/reply", "api/response", "text/disconnect-notice"):
            ours = self.probe.next_reply(timeout=10)
            command = step.command or ""
            recorded_text = frame.headers.get("Reply-Text", frame.body)
            our_text = ours.headers.get("Reply-Text", ours.text)
            if "Job-UUID" in recorded_text:
                self.jobs[frame.headers["Job-UUID"]] = ours.headers["Job-UUID"]
            if "callcenter_config" not in command:
                expected = _normalise(command, recorded_text)
                self.reply_pairs.append((command, expected, _normalise(command, our_text)))
            return
        if not frame.event or not self.scenario.compare_events:
            return
        self.trigger(step, frame)
        key = self.channel_key(frame, True)
        if key is not None:
            self.expected[key].append(frame)


def _compare_events(key: str, replay: Replay) -> list[str]:
    assert replay.probe is not None
    ours: dict[str, list[Frame]] = defaultdict(list)
    for frame in replay.probe.events():
        if (channel := replay.channel_key(frame, False)) is not None:
            ours[channel].append(frame)
    problems = []
    for channel, recorded in replay.expected.items():
        got = ours.get(channel, [])
        want_names = [f.name for f in recorded]
        got_names = [f.name for f in got]
        if want_names != got_names:
            problems.append(f"{channel}: events\n  recorded {want_names}\n  simulated {got_names}")
            continue
        seen: Counter[str] = Counter()
        for rec, sim in zip(recorded, got, strict=True):
            seen[rec.name or ""] += 1
            names = set(HEADERS) | {k for k, _ in rec.event if k.startswith("variable_acd_")}
            for header in sorted(names):
                want, have = rec.get(header), sim.get(header)
                if rec.name == "BACKGROUND_JOB" or want == have:
                    continue
                known = KNOWN_DIFFERENCES.get((key, channel, rec.name or "", seen[rec.name or ""]))
                if known is not None and header in known:
                    continue
                problems.append(
                    f"{channel} {rec.name}#{seen[rec.name or '']} {header}: {want!r} != {have!r}"
                )
        if recorded and recorded[0].name == "BACKGROUND_JOB":
            want_body = UUID.sub("<uuid>", recorded[0].event_body)
            have_body = UUID.sub("<uuid>", got[0].event_body)
            both_status = want_body.startswith("UP ") and have_body.startswith("UP ")
            if want_body != have_body and not both_status:
                problems.append(f"{channel} job body {want_body!r} != {have_body!r}")
    return problems


@pytest.fixture
def replays() -> Iterator[list[tuple[Simulator, Replay]]]:
    made: list[tuple[Simulator, Replay]] = []
    yield made
    for sim, replay in made:
        if replay.probe is not None:
            replay.probe.close()
        sim.stop()


def recorded_sounds() -> SoundLibrary:
    """The recordings' FreeSWITCH said ``acd_agents`` as the number alone (README)."""
    sounds = SoundLibrary()
    sounds.define_macro(
        "sv", "acd_agents", r"^(\d+)$", [PhraseStep("say", "sv NUMBER PRONOUNCED UTRUM $1")]
    )
    return sounds


def _replay(key: str, made: list[tuple[Simulator, Replay]]) -> Replay:
    scenario = SCENARIOS[key]
    sim = Simulator(
        time_scale=scenario.time_scale, heartbeat_interval=None, sounds=recorded_sounds()
    ).start()
    for phone in scenario.phones:
        sim.add_agent_phone(phone)
    if scenario.setup is not None:
        scenario.setup(sim)
    replay = Replay(scenario, sim, key)
    made.append((sim, replay))
    replay.run(load_steps(scenario.name))
    return replay


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_recorded_conversation_replays_the_same(
    key: str, replays: list[tuple[Simulator, Replay]]
) -> None:
    """R-ESL: same replies, same events per channel, same engine-read headers."""
    replay = _replay(key, replays)
    mismatched = [(c, e, g) for c, e, g in replay.reply_pairs if e != g]
    assert not mismatched, "\n".join(
        f"{c!r}: recorded {e!r}, simulated {g!r}" for c, e, g in mismatched
    )
    assert replay.reply_pairs, "nothing was compared"
    if SCENARIOS[key].compare_events:
        problems = _compare_events(key, replay)
        assert not problems, "\n".join(problems)


def test_after_restart_as_in_s09b(replays: list[tuple[Simulator, Replay]]) -> None:
    """s09 then s09b: a new Core-UUID and no channels on the first connection after a restart.

    s09b's own events (a test call to 9196 by another client) are not replayed.
    """
    first = _replay("s09", replays)
    sim = first.sim
    old_core = sim.core.factory.core_uuid
    sim.restart()
    replay = Replay(Scenario("s09b_after_restart", compare_events=False), sim, "s09b")
    replay.run(load_steps("s09b_after_restart"))
    assert replay.probe is not None
    mismatched = [(c, e, g) for c, e, g in replay.reply_pairs if e != g]
    assert not mismatched
    assert sim.core.factory.core_uuid != old_core
    replay.probe.close()


def test_simulated_stream_parses_with_the_project_parser(
    replays: list[tuple[Simulator, Replay]],
) -> None:
    """Everything the simulator wrote in the s03 replay is valid for freeswitch.parser."""
    replay = _replay("s03", replays)
    assert replay.probe is not None
    raw = b"".join(frame.raw for frame in replay.probe.frames)
    messages = Parser().feed(raw)
    assert len(messages) == len(replay.probe.frames)
    names = [m.name for m in messages if isinstance(m, Event)]
    assert names.count("CHANNEL_BRIDGE") == 1
