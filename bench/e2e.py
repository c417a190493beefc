"""The engine end to end under load: dispatch latency, engine CPU, calls lost (issue 12 §8).

Three processes, all on loopback, in real time (the simulator's ``time_scale`` is 1.0, so
call rates and durations are the honest ones):

* this process: the FreeSWITCH simulator with the shipped dialplan, the callers (Poisson
  arrivals on 7000 support / 7001 sales, patience, talk time) and the agent phones
  ``user/1001``.. (answer after 0.5-1.5 s), plus the measurement;
* the engine: ``python bench/e2e.py --engine CONFIG`` — ``acd.app.build``/``start`` as
  ``acd run`` does (gevent-patched), every configured agent logged in at start;
* a private Redis (:class:`acd.dev.redis_server.RedisServer`).

**Dispatch latency** is measured in the simulator's process, on its side of the one Event
Socket connection: from the moment the trigger event's bytes are handed to the socket to
the moment the ``bgapi originate`` for that caller (it carries ``acd_contact=<caller>``)
has been read from it. The trigger is whichever came last of: the caller's
``CHANNEL_PARK`` ("arrival": an agent was already free) and the first hang-up of the
chosen agent's previous call ("freed": the caller was already waiting). It includes two
loopback hops, the engine's parsing, its Redis round trips (routing is a Lua call) and
the simulator's own scheduling delay. The floor measured in the same run: the engine
times ``api status`` on the same connection (engine -> simulator -> engine) 20 times a
second.

**Engine CPU** is the engine process's user+system time over the traffic window divided
by the wall time, in % of one core (``/proc``); Redis's and the simulator's are shown too.

**Lost**: a caller that ended neither bridged to an agent nor by its own choice
(patience), or one that waited more than ``STARVED_AFTER`` seconds without an agent
being called while an agent phone had been idle that long (every agent can serve every
caller here). Callers still waiting at the end are not lost unless starved.

Last line: ``RESULT calls=… lost=… p50_ms=… p99_ms=… engine_cpu_pct=…``.
Run: ``python bench/e2e.py [--quick]`` (full: 2,000 agents, 100 calls/s for 120 s;
quick: 200 agents, 20 calls/s for 15 s).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--engine" in sys.argv:
    # The engine process runs as ``acd run`` does: every socket wait cooperative.
    from gevent import monkey

    monkey.patch_all()

import argparse
import gc
import json
import os
import re
import signal
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.subprocess  # noqa: E402

from acd.dev.redis_server import RedisServer  # noqa: E402
from freeswitch.sim import server as sim_server  # noqa: E402
from freeswitch.sim.dialplan import SHIPPED_EXTENSIONS, Dialplan  # noqa: E402
from freeswitch.sim.events import SimEvent  # noqa: E402
from freeswitch.sim.simulator import Simulator  # noqa: E402
from freeswitch.sim.traffic import Distribution, TrafficGenerator, TrafficProfile  # noqa: E402

FIRST_AGENT = 1001
#: Seconds a caller may wait with an idle agent phone before it counts as lost.
STARVED_AFTER = 2.0
#: Seconds of an agent's call beyond the talk time: answer delay, whisper, set-up.
CALL_OVERHEAD = 2.5

_CONTACT_RE = re.compile(r"acd_contact=([^,}\s]+)")
_LEG_RE = re.compile(r"origination_uuid=([^,}\s]+)")
_DIAL_RE = re.compile(r"\}(\S+)")


# ---------------------------------------------------------------------------- engine side


def run_engine(config_path: str) -> int:
    """The engine process: start, log every agent in, say READY, serve until SIGTERM, then
    print one JSON line (the ``api status`` floor and the engine's counters)."""
    from bench.engine_process import start_logged_in  # noqa: PLC0415 - after patch_all

    app, facts, handling = start_logged_in(config_path, "info", _instrument, 60.0)
    floor: list[float] = []

    def probe() -> None:
        while True:
            gevent.sleep(0.05)
            started = time.perf_counter()
            app.client.api("status")
            floor.append(time.perf_counter() - started)

    stopping = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    print(f"READY logged_in={facts['agent_login']}", flush=True)
    prober = gevent.spawn(probe)
    stopping.wait()
    prober.kill()
    report = {
        "floor": floor,
        "facts": dict(facts),
        "handling": handling,
        "runner": dict(app.runner.counters),
        "dispatch": {kind: list(values) for kind, values in app.runner.dispatch.items()},
        "client": {k: v for k, v in app.client.counters().items() if isinstance(v, int)},
    }
    print(json.dumps(report), flush=True)
    app.stop()
    return 0


def _instrument(app: Any) -> dict[str, Any]:
    """Time the engine's own part (call before ``attach``).

    - ``events``: per event name, [seconds its handler ran, count]; a handler's time
      includes its waits for Redis and FreeSWITCH replies and the greenlets run meanwhile;
    - ``park_to_bgapi``: a ``CHANNEL_PARK`` that dispatches on its own lane, handler entry
      -> ``bgapi`` called; ``park_redis``: the Redis commands on that path (each one a
      sequential round trip), and ``park_redis_kinds`` the commands of the last one;
    - ``redis_commands``: every Redis command of the engine, by name;
    - ``gc``: per generation, the cyclic garbage collector's pauses in seconds (each one
      stops every lane)."""
    runner, client, execute = app.runner, app.client, app.redis.execute_command
    on_event, submit = runner._on_event, client.submit_batch
    events: dict[str, list[float]] = {}
    every: Counter[str] = Counter()
    handling: dict[str, Any] = {
        "events": events,
        "park_to_bgapi": [],
        "park_redis": [],
        "redis_commands": every,
    }
    pauses = _GcPauses()
    handling["gc"] = pauses.pauses
    handling["gc_full_collected"] = pauses.full_collected
    gc.callbacks.append(pauses)
    parks: dict[object, tuple[float, Counter[str]]] = {}  # greenlet -> (entry, commands)

    def timed_event(event: Any) -> None:
        started = time.perf_counter()
        me = gevent.getcurrent()
        if event.name == "CHANNEL_PARK":
            parks[me] = (started, Counter())
        try:
            on_event(event)
        finally:
            parks.pop(me, None)
            entry = events.setdefault(event.name or "?", [0.0, 0])
            entry[0] += time.perf_counter() - started
            entry[1] += 1

    def timed_submit(batch: Any) -> Any:
        if batch.jobs:  # the batch holds a bgapi originate
            park = parks.pop(gevent.getcurrent(), None)
            if park is not None:
                handling["park_to_bgapi"].append(time.perf_counter() - park[0])
                handling["park_redis"].append(sum(park[1].values()))
                handling["park_redis_kinds"] = dict(park[1])
        return submit(batch)

    def counted_execute(*args: Any, **options: Any) -> Any:
        every[str(args[0])] += 1
        park = parks.get(gevent.getcurrent())
        if park is not None:
            park[1][str(args[0])] += 1
        return execute(*args, **options)

    runner._on_event = timed_event
    client.submit_batch = timed_submit
    app.redis.execute_command = counted_execute
    return handling


# ---------------------------------------------------------------------------- simulator side


@dataclass
class Probe:
    """What the simulator's side saw, stamped with ``time.perf_counter()`` seconds."""

    parked: dict[str, float] = field(default_factory=dict)  # caller -> CHANNEL_PARK written
    agent_of_leg: dict[str, str] = field(default_factory=dict)  # agent leg -> dial string
    agent_of_job: dict[str, str] = field(default_factory=dict)  # originate Job-UUID -> agent
    call_of_agent: dict[str, tuple[str, str]] = field(default_factory=dict)  # (caller, leg)
    freed: dict[str, float] = field(default_factory=dict)  # agent -> first hang-up written
    idle_since: dict[str, float] = field(default_factory=dict)  # agents with no call
    ringing: dict[str, str] = field(default_factory=dict)  # caller -> agent, originate seen
    bridged: set[str] = field(default_factory=set)
    by_choice: set[str] = field(default_factory=set)
    ended: dict[str, str] = field(default_factory=dict)  # caller -> outcome
    ended_at: dict[str, float] = field(default_factory=dict)  # caller -> perf_counter
    called_at: dict[str, float] = field(default_factory=dict)  # caller -> first originate
    starved: set[str] = field(default_factory=set)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"arrival": [], "freed": []})
    anomalies: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    originates: int = 0
    _pending: list[SimEvent] = field(default_factory=list)

    def encoded(self, event: SimEvent) -> None:
        self._pending.append(event)

    def sending(self) -> None:
        """The frames encoded since the last send are about to be written: stamp them."""
        if not self._pending:
            return
        now = time.perf_counter()
        for event in self._pending:
            self._written(event, now)
        self._pending.clear()

    def _written(self, event: SimEvent, now: float) -> None:
        name, uuid = event.name, event.unique_id or ""
        if name == "CHANNEL_PARK":
            # Agent legs park too (``&park()``): the engine's originate marks them.
            if (
                event.get("variable_acd_queue")
                and event.get("variable_acd_role") != "agent"
                and uuid not in self.parked
                and uuid not in self.agent_of_leg
            ):
                self.parked[uuid] = now
        elif name == "CHANNEL_HANGUP":
            agent = self.agent_of_leg.get(uuid)
            if agent is None:
                ringing = self.ringing.get(uuid)
                agent = ringing if ringing is not None else None
            if agent is not None and agent not in self.freed:
                self.freed[agent] = now
                self.idle_since[agent] = now
            if uuid in self.parked and uuid not in self.ended:
                self._caller_ended(uuid)
        elif name == "BACKGROUND_JOB":
            # An originate that failed before any channel hung up (busy, rejected...)
            # frees its agent with the job's result.
            agent = self.agent_of_job.pop(event.get("Job-UUID") or "", None)
            if agent is not None and event.body.startswith("-ERR") and agent not in self.freed:
                self.freed[agent] = now
                self.idle_since[agent] = now
        elif name == "CHANNEL_BRIDGE":
            for header in ("Bridge-A-Unique-ID", "Bridge-B-Unique-ID"):
                other = event.get(header) or ""
                if other in self.parked:
                    self.bridged.add(other)

    def _caller_ended(self, uuid: str) -> None:
        self.ended_at.setdefault(uuid, time.perf_counter())
        if uuid in self.bridged:
            self.ended[uuid] = "answered"
        elif uuid in self.by_choice:
            self.ended[uuid] = "abandoned"
        else:
            self.ended[uuid] = "lost"

    def received(self, line: str, job: str | None) -> None:
        """A command (its first line and Job-UUID) was read from the engine's socket."""
        if not line.startswith("bgapi originate"):
            return
        now = time.perf_counter()
        contact, leg, dial = (
            _CONTACT_RE.search(line),
            _LEG_RE.search(line),
            _DIAL_RE.search(line),
        )
        if contact is None or leg is None or dial is None:
            self.anomalies["unreadable_originate"] += 1
            return
        caller, agent = contact.group(1), dial.group(1)
        self.originates += 1
        parked = self.parked.get(caller)
        if parked is None:
            self.anomalies["originate_for_unknown_caller"] += 1
            return
        busy_with = self.call_of_agent.get(agent)
        if busy_with is not None and agent not in self.freed:
            self.anomalies["agent_called_while_busy"] += 1
            if len(self.samples) < 5:
                before = busy_with[0]
                self.samples.append(
                    f"{agent} called for {caller} while its call with {before}"
                    f" (leg {busy_with[1]}) had no hang-up written; that caller:"
                    f" bridged={before in self.bridged} ended={self.ended.get(before)}"
                    f" parked {now - self.parked.get(before, now):.1f} s ago"
                )
        freed = self.freed.pop(agent, None)
        trigger, start = (
            ("freed", freed)
            if freed is not None and freed > parked
            else (
                "arrival",
                parked,
            )
        )
        self.latencies[trigger].append(now - start)
        self.called_at.setdefault(caller, now)
        if caller in self.ended:
            # The caller hung up before its originate arrived: the engine frees the agent
            # on that hang-up, which the simulator wrote already.
            self.anomalies["originate_after_caller_left"] += 1
            self.freed[agent] = now
            self.idle_since[agent] = now
            return
        self.agent_of_leg[leg.group(1)] = agent
        if job is not None:
            self.agent_of_job[job] = agent
        self.call_of_agent[agent] = (caller, leg.group(1))
        self.ringing[caller] = agent
        self.idle_since.pop(agent, None)

    def check_starved(self, now: float) -> None:
        """Mark callers waiting (parked, no agent called yet, not ended) longer than
        STARVED_AFTER while an agent phone has been idle that long. A marked caller who
        gets an agent called later is slow, not lost (see :meth:`lost_starved`)."""
        idle = any(now - since > STARVED_AFTER for since in self.idle_since.values())
        if not idle:
            return
        for caller, parked in self.parked.items():
            if (
                now - parked > STARVED_AFTER
                and caller not in self.ended
                and caller not in self.ringing
                and caller not in self.starved
            ):
                self.starved.add(caller)

    def lost_starved(self) -> set[str]:
        """Callers marked by :meth:`check_starved` that never got an agent called."""
        return {caller for caller in self.starved if caller not in self.ringing}


def install_probe(probe: Probe) -> Callable[[], None]:
    """Hook the simulator's Event Socket writer and reader; returns the undo."""
    listener = sim_server.Listener
    original_send = listener._send
    original_encode = SimEvent.encode
    original_split = sim_server.split_commands

    def send(self: sim_server.Listener, data: bytes) -> None:
        probe.sending()
        original_send(self, data)

    def encode(self: SimEvent, fmt: str) -> bytes:
        probe.encoded(self)
        return original_encode(self, fmt)

    def split(buffer: bytearray) -> list[sim_server.Command]:
        commands = original_split(buffer)
        for command in commands:
            probe.received(command.line, command.header("job-uuid"))
        return commands

    listener._send = send  # type: ignore[method-assign]
    SimEvent.encode = encode  # type: ignore[method-assign]
    sim_server.split_commands = split

    def undo() -> None:
        listener._send = original_send  # type: ignore[method-assign]
        SimEvent.encode = original_encode  # type: ignore[method-assign]
        sim_server.split_commands = original_split

    return undo


class BenchTraffic(TrafficGenerator):
    """The simulator's traffic, remembering which callers gave up by their own choice."""

    def __init__(self, sim: Simulator, profile: TrafficProfile, probe: Probe, seed: int) -> None:
        super().__init__(sim, profile, seed=seed)
        self.probe = probe

    def _give_up(self, uuid: str, patience: float) -> None:
        self.sim.core.sleep(patience)
        ch = self.sim.core.find(uuid)
        if ch is None or not ch.is_up or ch.bridged or ch.other_leg:
            return
        self.probe.by_choice.add(uuid)
        self.stats["abandoned"] += 1
        self.sim.core.hangup(ch, "NORMAL_CLEARING" if ch.answered_us else "ORIGINATOR_CANCEL")

    def stop_arrivals(self) -> None:
        if self._arrivals is not None:
            self._arrivals.kill(block=False)


class _GcPauses:
    """A ``gc.callbacks`` entry: the collector's pauses (seconds) of this process, per
    generation."""

    def __init__(self) -> None:
        self.pauses: dict[str, list[float]] = {"0": [], "1": [], "2": []}
        #: Full collections: garbage objects found by each (what is not freed without them).
        self.full_collected: list[int] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[str(info["generation"])].append(time.perf_counter() - self._started)
            if info["generation"] == 2:
                self.full_collected.append(info["collected"])


def config_yaml(agents: int, esl_port: int, redis_url: str) -> str:
    """Two queues, wrap-up 0, ``agents`` agents who serve both queues in both languages."""
    lines = [
        "tenant: bench",
        f"esl: {{host: 127.0.0.1, port: {esl_port}, password: ClueCon}}",
        f"redis: {{url: '{redis_url}'}}",
        "http: {port: 0}",
        "language: sv",
        "languages: [sv, en]",
        "skills: {billing: Invoices, products: Products}",
        "queues:",
        "  support: {code: 1, language: sv, skills: {billing: 1}, wrap_up_seconds: 0}",
        "  sales: {code: 2, language: en, skills: {products: 1}, wrap_up_seconds: 0}",
        "agents:",
    ]
    for number in range(FIRST_AGENT, FIRST_AGENT + agents):
        lines.append(
            f"  '{number}': {{pin: '1234', contact: user/{number}, queues: [support, sales],"
            " skills: {billing: 1, products: 1}, languages: [sv, en]}"
        )
    return "\n".join(lines) + "\n"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``); 0 if None."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Workload:
    agents: int
    rate: float  # calls per second
    seconds: float
    load: float  # offered load / agents (1.0: the agents are just busy enough)
    patience: float  # mean seconds

    @property
    def talk(self) -> float:
        return max(1.0, self.load * self.agents / self.rate - CALL_OVERHEAD)


def run_bench(
    work: Workload, seed: int, log_path: str | None = None, profile: str | None = None
) -> int:
    probe = Probe()
    undo = install_probe(probe)
    me = os.getpid()
    with tempfile.TemporaryDirectory(prefix="acd-e2e-") as tmp, RedisServer() as redis_server:
        sim = Simulator(
            port=0, time_scale=1.0, dialplan=Dialplan(SHIPPED_EXTENSIONS), seed=seed
        ).start()
        people = TrafficProfile(
            arrival_rate=work.rate,
            patience=Distribution("exponential", work.patience),
            talk_time=Distribution("exponential", work.talk),
            destinations={"7000": 0.6, "7001": 0.4},
            agents=work.agents,
            agent_answer=Distribution("uniform", 1.0, 0.5, 1.5),
            first_agent=FIRST_AGENT,
        )
        traffic = BenchTraffic(sim, people, probe, seed)
        for contact in traffic.register_agents():
            probe.idle_since[contact] = time.perf_counter()
        config = Path(tmp) / "acd.yaml"
        config.write_text(config_yaml(work.agents, sim.port, redis_server.url))
        engine_log = Path(log_path) if log_path else Path(tmp) / "engine.log"
        with engine_log.open("wb") as log:
            engine = gevent.subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--engine",
                    str(config),
                    *(["--profile", profile] if profile else []),
                ],
                stdout=gevent.subprocess.PIPE,
                stderr=log,
            )
        assert engine.stdout is not None
        with gevent.Timeout(120, False):
            ready = engine.stdout.readline().decode()
        if not ready.startswith("READY"):
            engine.kill()
            print(f"engine did not start: {ready!r}\n{engine_log.read_text()[-3000:]}")
            return 2
        engine_pid = engine.pid
        redis_pid = _redis_pid(redis_server.port)
        print(
            f"e2e: {work.agents} agents ({ready.strip()}), {work.rate:g} calls/s for "
            f"{work.seconds:g} s, talk exp({work.talk:.1f} s), patience exp({work.patience:g} s),"
            f" offered load {work.load:.2f}",
            flush=True,
        )
        # The simulator stands in for FreeSWITCH, which has no collector: a full collection
        # of this process's heap (2,000 phones, every channel and its history) held its
        # events back for ~200 ms, several times a minute, and handed them to the engine in
        # one burst. So no full collection runs here during the window (garbage cycles wait
        # until it ends); the pauses left are printed.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], 1_000_000)
        sim_pauses = _GcPauses()
        gc.callbacks.append(sim_pauses)
        before = {"engine": _cpu(engine_pid), "redis": _cpu(redis_pid), "sim": _cpu(me)}
        started = time.perf_counter()
        traffic.start()
        while time.perf_counter() - started < work.seconds:
            gevent.sleep(0.5)
            probe.check_starved(time.perf_counter())
        wall = time.perf_counter() - started
        cpu = {
            "engine": _cpu(engine_pid) - before["engine"],
            "redis": _cpu(redis_pid) - before["redis"],
            "sim": _cpu(me) - before["sim"],
        }
        gc.callbacks.remove(sim_pauses)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        traffic.stop_arrivals()
        # Let the last arrivals be parked and dispatched, then judge who is left.
        gevent.sleep(2.0)
        probe.check_starved(time.perf_counter())
        _explain_starved(probe, redis_server.url, started)
        load_avg = os.getloadavg()
        engine.send_signal(signal.SIGTERM)
        report: dict[str, Any] = {}
        with gevent.Timeout(60, False):
            line = engine.stdout.readline().decode()
            report = json.loads(line) if line.strip() else {}
        if not report:
            print("the engine did not report within 60 s of SIGTERM (overloaded?): killed")
        with gevent.Timeout(30, False):
            engine.wait()
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        engine.stdout.close()
        traffic.stop()
        sim.stop()
        log_text = engine_log.read_text()
        errors = log_text.count("[error")
        if errors:
            tail = log_text[log_text.index("[error") - 40 :].splitlines()
            # The log line and the exception's last line, not rich's traceback boxes.
            first = [tail[0], *[x for x in tail[1:40] if x[:1] not in "│╭╰ " and x][:3]]
            print(f"first engine error (of {errors}):", *first, sep="\n  ")
    undo()
    report["sim_gc"] = sim_pauses.pauses
    return _print_results(work, probe, traffic, cpu, wall, report, load_avg, errors)


_Rows = list[tuple[bytes, dict[bytes, bytes]]]  # a Redis stream read without decoding


def _explain_starved(probe: Probe, redis_url: str, started: float) -> None:
    """For the first callers counted lost as starved: what the bench saw of them and what
    routing's queue log and the engine's events stream say (times in s from the start)."""
    import msgpack  # noqa: PLC0415
    import redis  # noqa: PLC0415

    lost = sorted(probe.lost_starved())[:3]
    if not lost:
        return
    client = redis.Redis.from_url(redis_url)
    log: _Rows = client.xrange("acd:{bench}:log")  # type: ignore[assignment]
    facts: _Rows = client.xrange("acd:{bench}:events")  # type: ignore[assignment]
    epoch = started + time.time() - time.perf_counter()  # the start in epoch seconds

    def at(value: float | None) -> str:
        return "-" if value is None else f"{value - started:.3f}"

    print(f"(routing and fact times below: epoch seconds; the start was {epoch:.3f})")
    for caller in lost:
        print(
            f"starved {caller}: parked {at(probe.parked.get(caller))} called"
            f" {at(probe.called_at.get(caller))} ended {at(probe.ended_at.get(caller))}"
        )
        for _id, fields in log:
            if caller.encode() in b" ".join(fields.values()):
                print("  routing", {k.decode(): v.decode() for k, v in fields.items()})
        for _id, fields in facts:
            if caller.encode() in fields.get(b"d", b""):
                data = msgpack.unpackb(fields[b"d"], raw=False)
                print("  fact", fields[b"k"].decode(), fields[b"t"].decode(), data)


def _redis_pid(port: int) -> int | None:
    """The pid of the redis-server listening on ``port`` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "redis-server" in cmdline and (f":{port}" in cmdline or f" {port} " in cmdline):
            return int(entry.name)
    return None


def _print_results(
    work: Workload,
    probe: Probe,
    traffic: BenchTraffic,
    cpu: dict[str, float],
    wall: float,
    report: dict[str, Any],
    load_avg: tuple[float, float, float],
    errors: int,
) -> int:
    both = probe.latencies["arrival"] + probe.latencies["freed"]
    outcomes = Counter(probe.ended.values())
    waiting = [c for c in probe.parked if c not in probe.ended]
    lost_ended = outcomes["lost"]
    starved = probe.lost_starved()
    lost = lost_ended + len(starved)
    floor = report.get("floor", [])

    def ms(values: Sequence[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.2f}"

    print(
        f"callers: parked={len(probe.parked)} answered={outcomes['answered']}"
        f" abandoned_by_choice={outcomes['abandoned']} lost_hung_up={lost_ended}"
        f" never_called_while_agents_idle={len(starved)} (may also be in abandoned)"
        f" (late: {len(probe.starved) - len(starved)})"
        f" still_up_at_end={len(waiting)}"
        f" originates={probe.originates} (offered by traffic: {traffic.stats['offered']})"
    )
    for name, values in (
        ("arrival", probe.latencies["arrival"]),
        ("freed", probe.latencies["freed"]),
        ("all", both),
    ):
        print(
            f"dispatch {name:7s}: n={len(values)} p50={ms(values, 0.5)} ms"
            f" p99={ms(values, 0.99)} ms max={ms(values, 1.0)} ms"
        )
    print(
        f"floor: api status round trip on the engine's connection: n={len(floor)}"
        f" p50={ms(floor, 0.5)} ms p99={ms(floor, 0.99)} ms"
    )
    print(
        "  (dispatch = trigger event written by the simulator -> bgapi originate read by it:"
        " two loopback hops, ESL parsing both ends, the engine, its Redis calls)"
    )
    print(
        f"cpu over {wall:.1f} s, % of one core: engine={100 * cpu['engine'] / wall:.1f}"
        f" redis={100 * cpu['redis'] / wall:.1f} simulator+bench={100 * cpu['sim'] / wall:.1f}"
        f"; load average {load_avg[0]:.2f} on {os.cpu_count()} cores"
    )
    runner = report.get("runner", {})
    print(
        f"engine: events={runner.get('events')} engine_errors={runner.get('engine_errors')}"
        f" command_errors={runner.get('command_errors')} originates={runner.get('originates')}"
        f" error_log_lines={errors} facts={report.get('facts')}"
    )
    handling = report.get("handling", {})
    park = handling.get("park_to_bgapi", [])
    print(
        f"engine part: CHANNEL_PARK handler entry -> bgapi called: n={len(park)}"
        f" p50={ms(park, 0.5)} ms p99={ms(park, 0.99)} ms"
    )
    calls = handling.get("park_redis", [])
    if calls:
        print(
            f"  Redis commands on that path (sequential round trips): median"
            f" {statistics.median(calls):g}, e.g. {handling.get('park_redis_kinds')}"
        )
    every = handling.get("redis_commands", {})
    if every:
        top = sorted(every.items(), key=lambda kv: -kv[1])[:8]
        print(
            f"  Redis commands in the whole run: {sum(every.values())}"
            f" ({sum(every.values()) / max(len(probe.parked), 1):.1f} per caller, logins"
            f" included): " + ", ".join(f"{k}={v}" for k, v in top)
        )
    busiest = sorted(handling.get("events", {}).items(), key=lambda kv: -kv[1][0])[:6]
    print(
        "engine handler time by event (s total / count / ms mean): "
        + ", ".join(f"{name} {t:.1f}/{n}/{1000 * t / max(n, 1):.2f}" for name, (t, n) in busiest)
    )
    for generation, pauses in sorted(handling.get("gc", {}).items()):
        print(
            f"engine gc generation {generation}: n={len(pauses)} p50={ms(pauses, 0.5)} ms"
            f" max={ms(pauses, 1.0)} ms total={sum(pauses):.2f} s"
        )
    found = handling.get("gc_full_collected", [])
    if found:
        print(f"  engine full collections found {found} garbage objects (in cycles)")
    for generation, pauses in sorted(report.get("sim_gc", {}).items()):
        print(
            f"simulator gc generation {generation}: n={len(pauses)} p50={ms(pauses, 0.5)} ms"
            f" max={ms(pauses, 1.0)} ms total={sum(pauses):.2f} s"
        )
    if probe.anomalies:
        print(f"anomalies: {dict(probe.anomalies)}", *probe.samples, sep="\n  ")
    dispatch = report.get("dispatch", {})
    engine_side = [*dispatch.get("arrival", []), *dispatch.get("freed", [])]
    for name, values in (
        ("arrival", dispatch.get("arrival", [])),
        ("freed", dispatch.get("freed", [])),
        ("all", engine_side),
    ):
        print(
            f"engine dispatch {name:7s}: n={len(values)} p50={ms(values, 0.5)} ms"
            f" p99={ms(values, 0.99)} ms max={ms(values, 1.0)} ms"
        )
    print(
        "  (engine dispatch = the engine's reader got the CHANNEL_PARK, or the event that"
        " freed the agent -> the originate written to its socket: the issue's measure;"
        " the simulator-side figures above add the simulator's own delays and both hops)"
    )
    print(
        f"RESULT calls={len(probe.parked)} lost={lost} p50_ms={ms(engine_side, 0.5)}"
        f" p99_ms={ms(engine_side, 0.99)} engine_cpu_pct={100 * cpu['engine'] / wall:.1f}"
        f" sim_side_p50_ms={ms(both, 0.5)} sim_side_p99_ms={ms(both, 0.99)}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 agents, 20 calls/s, 15 s")
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="calls per second")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--load", type=float, default=1.0, help="offered load per agent")
    parser.add_argument("--patience", type=float, default=30.0, help="mean, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine-log", help="keep the engine's log in this file")
    parser.add_argument("--profile", help="write a cProfile of the engine process to this file")
    parser.add_argument("--engine", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        if args.profile:
            # cProfile of the engine process (py-spy cannot read this interpreter here).
            import cProfile  # noqa: PLC0415

            profiler = cProfile.Profile()
            try:
                return int(profiler.runcall(run_engine, args.engine))
            finally:
                profiler.dump_stats(args.profile)
        return run_engine(args.engine)
    agents, rate, seconds = (200, 20.0, 15.0) if args.quick else (2000, 100.0, 120.0)
    work = Workload(
        agents=args.agents or agents,
        rate=args.rate or rate,
        seconds=args.seconds or seconds,
        load=args.load,
        patience=args.patience,
    )
    return run_bench(work, args.seed, args.engine_log, args.profile)


if __name__ == "__main__":
    sys.exit(main())
