"""The engine against mod_callcenter on the same real FreeSWITCH (issue 12 §8).

One private FreeSWITCH (the test lab of ``tests/freeswitch_lab.py``: FreeSWITCH 1.10.12 on
free loopback ports) serves the same callers and the same agents, per measure once through
mod_callcenter (queue ``support@lab``, longest-idle-agent; agents and tiers set up here
with ``callcenter_config``, wrap-up and every delay 0) and once through the engine
(``acd.app.build``/``start`` in a process of its own, as ``acd run`` runs, a private Redis,
queue ``bench`` with wrap-up 0, no whisper and no announcements, agents logged in by an
``AgentCommand``). Callers are loopback channels (lab extension 8000: ``answer`` +
``callcenter support@lab``; 8001: ``acd_queue=bench``, ``answer`` + ``park``; the
originating half runs ``echo`` so that what the caller is played never stalls). Agents
are SIP phones (sipp, registered as lab users 1001..; ``user/<id>``), answering at once:
mod_callcenter refuses a loopback agent that is not bridged on to a real channel.

Every time is the **arrival time of an event on one Event Socket connection of the
bench's own** (``time.perf_counter()`` right after ``recv``, in a single-threaded
``select`` loop), for both systems alike. FreeSWITCH's ``Event-Date-Timestamp`` advances
in 20 ms steps on this build, too coarse; and mod_event_socket sends queued events only
when its listener thread wakes: on bytes from the client or after a 20 ms ``poll``. So
the observer writes a bare line feed (ignored by FreeSWITCH) every millisecond, which
makes its own view ~1 ms fine. The engine as shipped does the same on its own connection
when it has been quiet for 2 ms (``esl.wakeup_interval``, the configuration's default);
``--engine-wakeup MS`` adds the bench's own poke on top (a diagnostic). Commands go on a
second connection.

* **arrival**: agents free, a caller queues -> that caller's agent leg
  ``CHANNEL_ORIGINATE``. The start is mod_callcenter's ``CUSTOM callcenter::info``
  ``member-queue-start`` or the engine's trigger, the caller's ``CHANNEL_PARK``; the
  agent leg is the one later bridged to that caller (``CHANNEL_BRIDGE``). Callers arrive
  every 0.5-1.5 x ``--interval`` s (random, never in step with mod_callcenter's 100 ms
  poll) and talk 0.2 s: far fewer calls at once than agents. The first caller of each
  run is served but not measured (mod_callcenter's first takes ~500 ms).
* **agent freed**: every agent talking and ``--backlog`` callers kept waiting, wrap-up 0
  in both; the bench hangs each call up a random 0.2-1.2 s after its bridge (by killing
  the agent's leg) -> from that leg's ``CHANNEL_HANGUP_COMPLETE`` to the next
  ``CHANNEL_ORIGINATE`` of a leg to the same agent; only while a caller waits. The engine
  acts on the earlier ``CHANNEL_HANGUP``, so its originate often precedes the old leg's
  ``CHANNEL_HANGUP_COMPLETE`` (a negative latency, no ratio). The same interval from
  ``CHANNEL_HANGUP`` is therefore measured too, for both systems alike, and the RESULT
  line's ``freed_*`` values use it: the stricter view for the engine.

Both include FreeSWITCH's own work on either side (raising the event; the originate up to
the new channel's ``CHANNEL_ORIGINATE``). **Lost**: a caller the bench originated that
was not bridged to an agent (each run ends once every caller has been served and gone).

Last line: ``RESULT modcc_p50_ms=… engine_p50_ms=… ratio_p50=… modcc_p99_ms=…
engine_p99_ms=… ratio_p99=… freed_modcc_p50_ms=… freed_engine_p50_ms=… freed_ratio_p50=…
freed_ratio_p99=… lost=…`` (ratio = mod_callcenter / engine). Run ``python
bench/vs_modcc.py [--quick]`` (full: 200 arrivals and 200 freed events per system, about
3.5 minutes; quick: 40). Where FreeSWITCH, sipp, espeak-ng or sox is missing it says so
and exits 0.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--engine" in sys.argv:
    # The engine process runs as ``acd run`` does: every socket wait cooperative.
    from gevent import monkey

    monkey.patch_all()

import argparse
import heapq
import itertools
import json
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from freeswitch.messages import ApiResponse, AuthRequest, CommandReply, Event, Message  # noqa: E402
from freeswitch.parser import Parser  # noqa: E402

System = Literal["modcc", "engine", "floor"]
SYSTEMS: tuple[System, ...] = ("modcc", "engine")
MODCC_QUEUE = "support@lab"
ENGINE_QUEUE = "bench"
CALLER_EXTENSION: dict[System, str] = {"modcc": "8000", "engine": "8001", "floor": "8001"}
OBSERVED = (
    "CHANNEL_ORIGINATE CHANNEL_PARK CHANNEL_BRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE"
    " CUSTOM callcenter::info"
)
#: Seconds between the observer's wake-ups of its Event Socket listener (see Loop.pump).
POKE_INTERVAL = 0.001
#: Callers at the start of each arrival run that are served but not measured (the first
#: call into a freshly configured mod_callcenter queue waits ~500 ms).
WARMUP = 1
#: Seconds an arrival-phase call lasts once bridged (then the bench hangs the agent up).
TALK = 0.2


# ---------------------------------------------------------------------------- engine side


def run_engine(config_path: str, wakeup: float = 0.0) -> int:
    """The engine process: start, log every agent in, print READY, serve until SIGTERM,
    then print one JSON line with the engine's counters.

    ``wakeup`` > 0 (seconds; a diagnostic, not the engine as shipped): write a bare line
    feed on the engine's Event Socket connection that often, so FreeSWITCH's listener
    thread sends queued events at once instead of after its 20 ms poll."""
    import gevent  # noqa: PLC0415 - after monkey.patch_all
    import gevent.event  # noqa: PLC0415

    from bench.engine_process import start_logged_in  # noqa: PLC0415

    app, facts, handling = start_logged_in(config_path, "warning", _time_dispatch, 30.0)

    def wake() -> None:
        while True:
            conn = app.client._conn
            if conn is not None:
                with conn._write_lock:
                    conn._sock.sendall(b"\n")
            gevent.sleep(wakeup)

    if wakeup > 0:
        gevent.spawn(wake)
    stopping = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    print(f"READY logged_in={facts['agent_login']}", flush=True)
    stopping.wait()
    report = {"facts": dict(facts), "runner": dict(app.runner.counters), "handling": handling}
    print(json.dumps(report), flush=True)
    app.stop()
    return 0


def _time_dispatch(app: Any) -> dict[str, list[list[Any]]]:
    """Time the engine's own part (call before ``start``): for each ``CHANNEL_PARK``
    that leads to a ``bgapi originate`` on the same greenlet, ``[caller uuid, handler
    entered, originate handed to the client]`` in ``time.perf_counter()`` seconds
    (CLOCK_MONOTONIC on Linux: the bench's process reads the same clock). An agent freed
    leads to an originate on the next caller's lane: not timed here."""
    import gevent  # noqa: PLC0415

    runner, client = app.runner, app.client
    on_event = runner._on_event
    parks: list[list[Any]] = []
    entered: dict[object, tuple[str, float]] = {}

    def timed_event(event: Any) -> None:
        if event.name == "CHANNEL_PARK":
            entered[gevent.getcurrent()] = (event.uuid or "", time.perf_counter())
        try:
            on_event(event)
        finally:
            entered.pop(gevent.getcurrent(), None)

    submit = client.submit_batch

    def timed_submit(batch: Any) -> Any:
        # The runner writes a call's commands in one batch; one with a bgapi is the originate.
        if batch.jobs:
            started = entered.pop(gevent.getcurrent(), None)
            if started is not None:
                parks.append([started[0], started[1], time.perf_counter()])
        return submit(batch)

    runner._on_event = timed_event
    client.submit_batch = timed_submit
    return {"parks": parks}


def engine_config(agents: Sequence[str], esl_port: int, esl_password: str, redis_url: str) -> str:
    """Queue ``bench`` as mod_callcenter's queue is set up: wrap-up 0, nothing played but
    hold music (no whisper, no announcements); ``agents`` on ``loopback/<agent>/lab``."""
    lines = [
        f"tenant: bench{uuidlib.uuid4().hex[:8]}",
        f"esl: {{host: 127.0.0.1, port: {esl_port}, password: '{esl_password}'}}",
        f"redis: {{url: '{redis_url}'}}",
        "http: {port: 0}",
        "language: sv",
        "languages: [sv]",
        "queues:",
        f"  {ENGINE_QUEUE}:",
        "    code: 1",
        "    wrap_up_seconds: 0",
        "    ring_timeout: 20",
        "    whisper: null",
        "    announcements: {position: false, ewt: false, repeat: []}",
        "agents:",
    ]
    for agent in agents:
        lines.append(
            f"  '{agent}': {{pin: '1234', contact: user/{agent}, queues: [{ENGINE_QUEUE}]}}"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- Event Socket


class Connection:
    """One blocking Event Socket connection (authenticated), read through the project's
    parser."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = Parser(max_frame_bytes=16 * 1024 * 1024)
        self.pending: list[Message] = []
        if not isinstance(self.next(), AuthRequest):
            raise RuntimeError("event socket: no auth/request")
        self.sock.sendall(f"auth {password}\n\n".encode())
        reply = self.next()
        if not isinstance(reply, CommandReply) or not reply.ok:
            raise RuntimeError("event socket refused the password")

    def next(self) -> Message:
        while not self.pending:
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("event socket closed")
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    def command(self, line: str) -> CommandReply:
        self.sock.sendall(f"{line}\n\n".encode())
        reply = self.next()
        if not isinstance(reply, CommandReply):
            raise RuntimeError(f"{line}: unexpected {reply.content_type}")
        return reply

    def api(self, command: str) -> str:
        """Synchronous ``api`` (setup only: nothing else is read meanwhile)."""
        self.sock.sendall(f"api {command}\n\n".encode())
        answer = self.next()
        if not isinstance(answer, ApiResponse):
            raise RuntimeError(f"api {command}: unexpected {answer.content_type}")
        return answer.text

    def close(self) -> None:
        self.sock.close()


Handler = Callable[[float, Event], None]


class Loop:
    """The observer connection, the command connection and timers in one thread: every
    event is stamped with ``time.perf_counter()`` as soon as its bytes are read."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.observer = Connection(host, port, password)
        reply = self.observer.command(f"event plain {OBSERVED}")
        if not reply.ok:
            raise RuntimeError(f"event subscription refused: {reply.reply_text}")
        self.commands = Connection(host, port, password)
        self.handler: Handler | None = None
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.command_errors: list[str] = []
        self._sent: list[str] = []
        self._next_poke = 0.0

    def api(self, command: str) -> str:
        """A synchronous ``api`` on the command connection (setup, not while measuring)."""
        self._drain_commands()
        return self.commands.api(command)

    def bgapi(self, command: str) -> None:
        """Fire ``bgapi command``; its reply is read (and checked) by :meth:`pump`."""
        self.commands.sock.sendall(f"bgapi {command}\n\n".encode())
        self._sent.append(command)

    def _drain_commands(self) -> None:
        while self._sent:
            self._take_reply(self.commands.next())

    def _take_reply(self, message: Message) -> None:
        if isinstance(message, CommandReply):
            sent = self._sent.pop(0) if self._sent else "?"
            if not message.ok:
                self.command_errors.append(f"{sent}: {message.reply_text}")

    def later(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.perf_counter() + delay, next(self._seq), action))

    def pump(self, until: float) -> None:
        """Read and dispatch until ``until`` (perf_counter seconds), running due timers."""
        obs, cmd = self.observer.sock, self.commands.sock
        while True:
            now = time.perf_counter()
            while self._timers and self._timers[0][0] <= now:
                _, _, action = heapq.heappop(self._timers)
                action()
            if now >= until:
                return
            if now >= self._next_poke:
                # mod_event_socket sends queued events when its listener thread wakes: on
                # bytes from the client or after a 20 ms poll. A bare line feed wakes it
                # and is otherwise ignored, so the observer sees events within ~1 ms.
                obs.sendall(b"\n")
                self._next_poke = now + POKE_INTERVAL
            wake = min(until, self._next_poke, self._timers[0][0] if self._timers else until)
            ready, _, _ = select.select([obs, cmd], [], [], max(0.0, wake - now))
            if obs in ready:
                data = obs.recv(1 << 20)
                at = time.perf_counter()
                if not data:
                    raise RuntimeError("observer connection closed")
                for message in self.observer.parser.feed(data):
                    if isinstance(message, Event) and self.handler is not None:
                        self.handler(at, message)
            if cmd in ready:
                data = cmd.recv(1 << 16)
                if not data:
                    raise RuntimeError("command connection closed")
                for message in self.commands.parser.feed(data):
                    self._take_reply(message)

    def run_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() >= deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self.pump(min(deadline, time.perf_counter() + 0.05))

    def close(self) -> None:
        self.observer.close()
        self.commands.close()


# ---------------------------------------------------------------------------- one run


@dataclass
class Run:
    """What the observer saw of one system in one phase (perf_counter seconds)."""

    system: System
    agents: tuple[str, ...]
    originated: int = 0  # callers the bench originated
    queued: dict[str, float] = field(default_factory=dict)  # caller leg -> queued
    agent_of_leg: dict[str, str] = field(default_factory=dict)
    originate_at: dict[str, float] = field(default_factory=dict)  # agent leg -> at
    bridged: dict[str, str] = field(default_factory=dict)  # caller -> agent leg
    caller_of_leg: dict[str, str] = field(default_factory=dict)
    hangup_at: dict[str, float] = field(default_factory=dict)  # agent leg -> CHANNEL_HANGUP
    gone: dict[str, float] = field(default_factory=dict)  # agent leg/caller -> HANGUP_COMPLETE
    busy_at_queue: dict[str, int] = field(default_factory=dict)  # caller -> agent legs up
    anomalies: Counter[str] = field(default_factory=Counter)
    engine_report: dict[str, Any] = field(default_factory=dict)  # its last JSON line
    on_bridge: Callable[[str, str, float], None] | None = None  # (caller, leg, at)
    on_originate: Callable[[str, str, float], None] | None = None  # (agent, leg, at)
    on_leg_gone: Callable[[str, str, float], None] | None = None  # (agent, leg, at)
    on_queued: Callable[[str], None] | None = None  # (caller)
    on_agent_parked: Callable[[str], None] | None = None  # (agent leg)

    def settled(self) -> bool:
        """Every caller the bench originated has queued and left (bridged or not), and
        no agent leg is up."""
        return (
            len(self.queued) >= self.originated
            and all(caller in self.gone for caller in self.queued)
            and self.legs_up() == 0
        )

    def legs_up(self) -> int:
        return sum(1 for leg in self.agent_of_leg if leg not in self.gone)

    def waiting(self) -> int:
        """Callers queued and neither bridged nor gone."""
        return sum(1 for c in self.queued if c not in self.bridged and c not in self.gone)

    def handle(self, at: float, event: Event) -> None:
        name, uid = event.name, event.uuid or ""
        if name == "CHANNEL_ORIGINATE":
            agent = event.get("variable_dialed_user") or ""
            if agent in self.agents:
                self.agent_of_leg[uid] = agent
                self.originate_at[uid] = at
                if self.on_originate is not None:
                    self.on_originate(agent, uid, at)
        elif name == "CUSTOM":
            if (
                self.system == "modcc"
                and event.get("CC-Action") == "member-queue-start"
                and event.get("CC-Queue") == MODCC_QUEUE
            ):
                caller = event.get("CC-Member-Session-UUID") or uid
                self._queued(caller, at)
        elif name == "CHANNEL_PARK":
            if self.system == "modcc" or event.get("variable_acd_queue") != ENGINE_QUEUE:
                return
            if event.get("variable_acd_role") != "agent":
                self._queued(uid, at)
                if self.on_queued is not None:
                    self.on_queued(uid)
            elif self.on_agent_parked is not None:
                self.on_agent_parked(uid)
        elif name == "CHANNEL_BRIDGE":
            a, b = event.get("Bridge-A-Unique-ID") or uid, event.get("Bridge-B-Unique-ID") or ""
            leg, caller = (a, b) if a in self.agent_of_leg else (b, a)
            if leg not in self.agent_of_leg or caller not in self.queued:
                self.anomalies["bridge_unknown"] += 1
                return
            if caller in self.bridged:
                self.anomalies["caller_bridged_twice"] += 1
                return
            self.bridged[caller] = leg
            self.caller_of_leg[leg] = caller
            if self.on_bridge is not None:
                self.on_bridge(caller, leg, at)
        elif name == "CHANNEL_HANGUP":
            if uid in self.agent_of_leg:
                self.hangup_at.setdefault(uid, at)
        elif name == "CHANNEL_HANGUP_COMPLETE":
            if uid in self.agent_of_leg or uid in self.queued:
                self.gone.setdefault(uid, at)
            if uid in self.agent_of_leg and self.on_leg_gone is not None:
                self.on_leg_gone(self.agent_of_leg[uid], uid, at)

    def _queued(self, caller: str, at: float) -> None:
        if caller in self.queued:
            self.anomalies["queued_twice"] += 1
            return
        self.queued[caller] = at
        self.busy_at_queue[caller] = self.legs_up()

    def arrival_latencies(self) -> list[float]:
        """Queued -> agent leg originate, per caller bridged, leaving out the first
        ``WARMUP`` callers and any that queued while every agent had a leg up."""
        warm = set(list(self.queued)[WARMUP:])
        return [
            self.originate_at[leg] - self.queued[caller]
            for caller, leg in self.bridged.items()
            if caller in warm and self.busy_at_queue[caller] < len(self.agents)
        ]

    def lost(self) -> int:
        return self.originated - len(self.bridged)


class Bench:
    """The lab, the observer loop and the two systems' set-up."""

    def __init__(
        self, lab: Any, redis_url: str, workdir: Path, seed: int, engine_wakeup: float = 0.0
    ) -> None:
        self.lab = lab
        self.redis_url = redis_url
        self.workdir = workdir
        self.loop = Loop(lab.esl.host, lab.esl.port, lab.esl.password)
        self.numbers = itertools.count(1)
        self.random = random.Random(seed)
        self.engine_wakeup = engine_wakeup

    # -- callers and agents -----------------------------------------------------------------

    def call(self, run: Run) -> None:
        """Originate one caller into ``run``'s system (a loopback pair; its ``-b`` leg runs
        the lab dialplan and is the one that queues)."""
        run.originated += 1
        number = f"0701{next(self.numbers):06d}"
        self.loop.bgapi(
            "originate {loopback_bowout=false,origination_caller_id_number="
            f"{number},origination_caller_id_name=Bench}}"
            f"loopback/{CALLER_EXTENSION[run.system]}/lab &echo()"
        )

    def hang_up(self, leg: str) -> None:
        self.loop.bgapi(f"uuid_kill {leg} NORMAL_CLEARING")

    def clear(self) -> None:
        """Hang up everything and wait until FreeSWITCH has no channel."""
        self.loop.api("hupall NORMAL_CLEARING")
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            self.loop.pump(time.perf_counter() + 0.1)
            if self.lab.channel_count() == 0:
                return
        raise TimeoutError(f"channels left after hupall:\n{self.loop.api('show channels')}")

    def modcc_agents(self, agents: Sequence[str], available: bool) -> None:
        """Create (once) and log in or out mod_callcenter agents on ``support@lab``."""
        for agent in agents:
            if available:
                existing = self.loop.api(f"callcenter_config agent get status {agent}")
                if "Invalid" in existing or "-ERR" in existing or not existing.strip():
                    self._cc(f"agent add {agent} callback")
                    self._cc(f"tier add {MODCC_QUEUE} {agent} 1 1")
                for setting, value in (
                    ("contact", f"user/{agent}"),
                    ("wrap_up_time", "0"),
                    ("max_no_answer", "0"),
                    ("ready_time", "0"),
                    ("reject_delay_time", "0"),
                    ("busy_delay_time", "0"),
                    ("no_answer_delay_time", "0"),
                    ("state", "Waiting"),
                    ("status", "Available"),
                ):
                    self._cc(f"agent set {setting} {agent} '{value}'")
            else:
                self._cc(f"agent set status {agent} 'Logged Out'")

    def _cc(self, command: str) -> None:
        reply = self.loop.api(f"callcenter_config {command}")
        if not reply.startswith("+OK"):
            raise RuntimeError(f"callcenter_config {command}: {reply.strip()}")

    def start_engine(self, agents: Sequence[str]) -> subprocess.Popen[bytes]:
        config = self.workdir / f"acd-{len(agents)}.yaml"
        config.write_text(
            engine_config(agents, self.lab.esl.port, self.lab.esl.password, self.redis_url)
        )
        log = (self.workdir / "engine.log").open("ab")
        engine = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--engine",
                str(config),
                "--engine-wakeup",
                str(self.engine_wakeup),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert engine.stdout is not None
        ready = engine.stdout.readline().decode()
        if not ready.startswith(f"READY logged_in={len(agents)}"):
            engine.kill()
            engine.wait()
            log_tail = (self.workdir / "engine.log").read_text()[-3000:]
            raise RuntimeError(f"engine did not start: {ready!r}\n{log_tail}")
        return engine

    @staticmethod
    def stop_engine(engine: subprocess.Popen[bytes]) -> dict[str, Any]:
        engine.send_signal(signal.SIGTERM)
        report: dict[str, Any] = {}
        try:
            out, _ = engine.communicate(timeout=30)
            lines = out.decode().strip().splitlines()
            report = json.loads(lines[-1]) if lines else {}
        except subprocess.TimeoutExpired:
            engine.kill()
            engine.wait()
        return report

    def with_system(
        self, system: System, agents: tuple[str, ...], body: Callable[[Run], None]
    ) -> Run:
        """Set ``system`` up with ``agents``, run ``body`` on a fresh :class:`Run`, take it
        down again (every channel hung up)."""
        run = Run(system, agents)
        self.loop.handler = run.handle
        engine = None
        if system == "modcc":
            self.modcc_agents(agents, available=True)
        elif system == "engine":
            engine = self.start_engine(agents)
        try:
            body(run)
        except BaseException as exc:
            print(f"{system}: {exc!r}", file=sys.stderr)
            raise
        finally:
            if engine is not None:
                report = self.stop_engine(engine)
                run.engine_report = report
                runner = report.get("runner", {})
                if runner.get("engine_errors") or runner.get("command_errors"):
                    run.anomalies["engine_errors"] += int(runner.get("engine_errors", 0))
                    run.anomalies["engine_command_errors"] += int(runner.get("command_errors", 0))
            elif system == "modcc":
                self.modcc_agents(agents, available=False)
            self.clear()
            self.loop.handler = None
        return run

    # -- the two measures -------------------------------------------------------------------

    def floor(self, run: Run) -> None:
        """The zero-time ACD (system ``floor``): the bench itself writes the engine's own
        ``bgapi originate`` (same builder, same variables, to the agent with no leg up
        that was used least recently) the moment it reads the caller's ``CHANNEL_PARK``,
        and ``uuid_bridge`` when the agent leg parks. No routing, no Redis, no process in
        between: what is left is FreeSWITCH's own work and the Event Socket, the least
        any ACD on this FreeSWITCH can take."""
        from freeswitch import commands  # noqa: PLC0415

        idle = list(run.agents)
        caller_of: dict[str, str] = {}

        def queued(caller: str) -> None:
            busy = {run.agent_of_leg[leg] for leg in run.agent_of_leg if leg not in run.gone}
            free = [agent for agent in idle if agent not in busy]
            if not free:
                run.anomalies["floor_no_free_agent"] += 1
                return
            agent = free[0]
            idle.remove(agent)
            idle.append(agent)
            leg = str(uuidlib.uuid4())
            caller_of[leg] = caller
            command = commands.originate(
                f"user/{agent}",
                uuid=leg,
                timeout=20,
                ignore_early_media=True,
                caller_id_name="Bench",
                caller_id_number="0701000000",
                variables={
                    "acd_role": "agent",
                    "acd_contact": caller,
                    "acd_agent": agent,
                    "acd_reservation": "floor",
                    "acd_queue": ENGINE_QUEUE,
                    "default_language": "sv",
                },
            )
            self.loop.bgapi(str(command))

        def agent_parked(leg: str) -> None:
            caller = caller_of.pop(leg, None)
            if caller is not None:
                self.loop.bgapi(str(commands.uuid_bridge(caller, leg)))

        run.on_queued = queued
        run.on_agent_parked = agent_parked

    def arrival(
        self, system: System, agents: tuple[str, ...], samples: int, interval: float
    ) -> Run:
        """``samples`` callers, one every ``interval`` s, each hung up ``TALK`` s after its
        bridge (by its agent's leg): far fewer calls at once than agents."""

        def body(run: Run) -> None:
            if system == "floor":
                self.floor(run)
            run.on_bridge = lambda caller, leg, at: self.loop.later(TALK, lambda: self.hang_up(leg))
            at = 0.0
            for _ in range(samples + WARMUP):
                # Uniform around ``interval``: arrivals at every phase of mod_callcenter's
                # 100 ms poll, never in step with it.
                at += self.random.uniform(0.5 * interval, 1.5 * interval)
                self.loop.later(at, lambda: self.call(run))
            self.loop.run_until(
                lambda: run.originated >= samples + WARMUP and run.settled(),
                samples * interval + 30.0,
                f"{system}: {samples} arrivals served",
            )

        return self.with_system(system, agents, body)

    def freed(
        self, system: System, agents: tuple[str, ...], samples: int, backlog: int
    ) -> tuple[Run, list[float], list[float]]:
        """Every agent talking and ``backlog`` callers (at least as many as agents) kept
        waiting; each agent's call is hung up by the bench a random 0.2-1.2 s after its
        bridge (random, so hang-ups fall at every phase of mod_callcenter's timers). A
        hang-up counts only while a caller waits. Returns the run and the latencies from the
        leg's ``CHANNEL_HANGUP_COMPLETE`` and from its ``CHANNEL_HANGUP`` (seconds)."""
        from_complete: list[float] = []
        from_hangup: list[float] = []
        freed_at: dict[str, tuple[str, float]] = {}  # agent -> (old leg, HANGUP_COMPLETE)
        early: dict[str, tuple[str, float]] = {}  # agent -> (new leg, originate) before it
        done = [False]

        def body(run: Run) -> None:
            def record(old_leg: str, complete: float, originate: float) -> None:
                from_complete.append(originate - complete)
                from_hangup.append(originate - run.hangup_at.get(old_leg, complete))
                if len(from_complete) >= samples:
                    done[0] = True

            def originated(agent: str, leg: str, at: float) -> None:
                if agent in freed_at:
                    old_leg, complete = freed_at.pop(agent)
                    record(old_leg, complete, at)
                elif any(
                    run.agent_of_leg[old] == agent and old not in run.gone
                    for old in run.caller_of_leg
                ):
                    # The engine acts on CHANNEL_HANGUP: its originate may come before the
                    # old leg's CHANNEL_HANGUP_COMPLETE (a negative latency from that one).
                    early[agent] = (leg, at)

            def leg_gone(agent: str, leg: str, at: float) -> None:
                if leg not in run.caller_of_leg or done[0]:
                    return
                if run.waiting() == 0:
                    run.anomalies["freed_without_waiting_caller"] += 1
                    return
                if agent in early:
                    _, originate = early.pop(agent)
                    record(leg, at, originate)
                else:
                    freed_at[agent] = (leg, at)

            def bridged(caller: str, leg: str, at: float) -> None:
                talk = TALK if done[0] else self.random.uniform(0.2, 1.2)
                self.loop.later(talk, lambda: self.hang_up(leg))
                if not done[0]:
                    self.call(run)  # keep the backlog

            run.on_originate = originated
            run.on_leg_gone = leg_gone
            run.on_bridge = bridged
            for index in range(len(agents) + backlog):
                self.loop.later(index * 0.02, lambda: self.call(run))
            self.loop.run_until(
                lambda: done[0], samples * 3.0 + 30.0, f"{system}: {samples} agents freed"
            )
            # No more callers: everyone waiting is served, each call lasting TALK s.
            self.loop.run_until(run.settled, 30.0, f"{system}: backlog served")

        run = self.with_system(system, agents, body)
        return run, from_complete, from_hangup


# ---------------------------------------------------------------------------- report


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def _ratio(modcc: float, engine: float) -> str:
    return f"{modcc / engine:.1f}" if engine > 0 else "nan"


@dataclass
class Measure:
    """One measure of one system: latencies in seconds."""

    values: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.values, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.values, 0.99)

    def row(self, label: str) -> str:
        v = self.values
        return (
            f"  {label:30s} n={len(v):4d}  p50={_ms(self.p50):>8s}"
            f"  p90={_ms(percentile(v, 0.9)):>8s}  p99={_ms(self.p99):>8s}"
            f"  max={_ms(max(v) if v else float('nan')):>8s}  ms"
        )


def arrival_breakdown(run: Run) -> dict[str, list[float]]:
    """The engine's arrival latency in three parts, per measured caller (seconds): the
    caller's CHANNEL_PARK on the observer -> the engine's handler entered (the Event
    Socket delivery to the engine's connection); -> originate handed to its client (the
    engine's own part, Redis included); -> the agent leg's CHANNEL_ORIGINATE on the
    observer (writing the bgapi, FreeSWITCH's originate, delivery to the observer)."""
    parks = {
        row[0]: (row[1], row[2]) for row in run.engine_report.get("handling", {}).get("parks", [])
    }
    measured = set(list(run.queued)[WARMUP:])
    parts: dict[str, list[float]] = {
        "  park -> engine handler": [],
        "  engine handler -> bgapi": [],
        "  bgapi -> CHANNEL_ORIGINATE": [],
    }
    for caller, leg in run.bridged.items():
        if caller not in measured or caller not in parks:
            continue
        entered, sent = parks[caller]
        parts["  park -> engine handler"].append(entered - run.queued[caller])
        parts["  engine handler -> bgapi"].append(sent - entered)
        parts["  bgapi -> CHANNEL_ORIGINATE"].append(run.originate_at[leg] - sent)
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="40 samples per measure")
    parser.add_argument("--samples", type=int, default=None, help="per measure and system")
    parser.add_argument("--agents", type=int, default=8, help="arrival phase (<= 10)")
    parser.add_argument("--freed-agents", type=int, default=5, help="agent-freed phase")
    parser.add_argument("--backlog", type=int, default=6, help="callers waiting, freed phase")
    parser.add_argument("--interval", type=float, default=0.25, help="s between arrivals")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="keep the lab's files (logs) in this directory")
    parser.add_argument(
        "--engine-wakeup",
        type=float,
        default=0.0,
        metavar="MS",
        help="diagnostic: the engine wakes FreeSWITCH's listener on its connection every MS ms",
    )
    parser.add_argument("--engine", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        return run_engine(args.engine, args.engine_wakeup)
    samples = args.samples or (40 if args.quick else 200)

    from tests.lab.support import find_binary  # noqa: PLC0415 - the bench needs only these

    binary = find_binary()
    if binary is None:
        print(
            "vs_modcc: skipped: no FreeSWITCH (set FREESWITCH=/path/to/bin/freeswitch, or install"
            " FreeSWITCH 1.10 under /usr/local/freeswitch: see README)"
        )
        return 0
    from freeswitch.prompts.generate import (  # noqa: PLC0415
        PromptError,
        ensure_prompts,
        missing_tools,
    )

    missing = missing_tools() + ([] if shutil.which("sipp") else ["sipp"])
    if missing:
        print(f"vs_modcc: skipped: missing {', '.join(missing)} (install them: see README)")
        return 0
    from acd.dev.redis_server import RedisServer  # noqa: PLC0415
    from tests.freeswitch_lab import PROMPT_CACHE, USERS, FreeSwitchLab  # noqa: PLC0415

    try:
        sounds = ensure_prompts(PROMPT_CACHE)
    except PromptError as exc:
        print(f"vs_modcc: cannot make the lab's prompts: {exc}")
        return 2
    users = sorted(USERS)
    if not 1 <= args.freed_agents <= args.agents <= len(users):
        parser.error(f"need 1 <= --freed-agents <= --agents <= {len(users)}")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="acd-vs-modcc-"))
    workdir.mkdir(parents=True, exist_ok=True)
    lab = FreeSwitchLab(binary, workdir / "fs", sounds)
    started = time.perf_counter()
    lab.start()
    try:
        with RedisServer() as redis_server:
            for user in users[: args.agents]:
                lab.agent_phone(user, answer_after=0.0)
            bench = Bench(lab, redis_server.url, workdir, args.seed, args.engine_wakeup / 1000)
            return report(bench, users, samples, args, started)
    finally:
        lab.stop(graceful=False)


def report(
    bench: Bench, users: list[str], samples: int, args: argparse.Namespace, started: float
) -> int:
    arrival_agents = tuple(users[: args.agents])
    freed_agents = tuple(users[: args.freed_agents])
    version = re.search(r"Version (\S+)", bench.loop.api("version"))
    print(
        f"vs_modcc: FreeSWITCH {version.group(1) if version else '?'}; SIP agent phones"
        f" (sipp, answer at once); loopback callers; {samples} samples per measure and system",
        flush=True,
    )
    runs: dict[tuple[str, System], Run] = {}
    measures: dict[tuple[str, System], Measure] = {}
    from_hangup: dict[System, Measure] = {}
    for system in SYSTEMS:
        run = bench.arrival(system, arrival_agents, samples, args.interval)
        runs["arrival", system] = run
        measures["arrival", system] = Measure(run.arrival_latencies())
        print(measures["arrival", system].row(f"arrival {system}"), flush=True)
    floor_run = bench.arrival("floor", arrival_agents, samples, args.interval)
    floor = Measure(floor_run.arrival_latencies())
    print(floor.row("arrival floor (zero-time ACD)"), flush=True)
    for system in SYSTEMS:
        run, complete, hangup = bench.freed(system, freed_agents, samples, args.backlog)
        runs["freed", system] = run
        measures["freed", system] = Measure(complete)
        from_hangup[system] = Measure(hangup)
        print(measures["freed", system].row(f"agent freed {system}"), flush=True)
    lost = sum(run.lost() for run in runs.values())
    a_m, a_e = measures["arrival", "modcc"], measures["arrival", "engine"]
    f_m, f_e = measures["freed", "modcc"], measures["freed", "engine"]
    h_m, h_e = from_hangup["modcc"], from_hangup["engine"]  # the RESULT's freed measure
    print()
    print(f"{'':34s}{'mod_callcenter':>16s}{'engine':>12s}{'ratio':>9s}")
    for label, m, e in (
        ("arrival p50 (ms)", a_m.p50, a_e.p50),
        ("arrival p99 (ms)", a_m.p99, a_e.p99),
        ("agent freed p50 (ms)", f_m.p50, f_e.p50),
        ("agent freed p99 (ms)", f_m.p99, f_e.p99),
        ("  from CHANNEL_HANGUP p50 (ms)", from_hangup["modcc"].p50, from_hangup["engine"].p50),
        ("  from CHANNEL_HANGUP p99 (ms)", from_hangup["modcc"].p99, from_hangup["engine"].p99),
    ):
        print(f"  {label:32s}{_ms(m):>16s}{_ms(e):>12s}{_ratio(m, e):>9s}")
    print(
        "  floor: the bench writes the same originate itself on reading CHANNEL_PARK"
        f" (Bench.floor): p50 {_ms(floor.p50)} ms, p99 {_ms(floor.p99)} ms; best ratio any"
        f" ACD could reach here: p50 {_ratio(a_m.p50, floor.p50)}, p99"
        f" {_ratio(a_m.p99, floor.p99)}; the engine's own share: p50"
        f" {_ms(a_e.p50 - floor.p50)} ms"
    )
    print("  engine arrival in parts (its handler and bgapi timed in its process):")
    for label, values in arrival_breakdown(runs["arrival", "engine"]).items():
        print(Measure(values).row(label))
    for (phase, system), run in [*runs.items(), (("arrival", "floor"), floor_run)]:
        print(
            f"  {phase:8s} {system:7s} callers={run.originated} queued={len(run.queued)}"
            f" bridged={len(run.bridged)} lost={run.lost()}"
            + (f" anomalies={dict(run.anomalies)}" if run.anomalies else "")
            + (
                f" not_bridged={[c for c in run.queued if c not in run.bridged][:5]}"
                if run.lost()
                else ""
            )
        )
    if bench.loop.command_errors:
        print(f"  command errors: {bench.loop.command_errors[:5]}")
    print(f"  wall time {time.perf_counter() - started:.0f} s")
    print(
        f"RESULT modcc_p50_ms={_ms(a_m.p50)} engine_p50_ms={_ms(a_e.p50)}"
        f" ratio_p50={_ratio(a_m.p50, a_e.p50)} modcc_p99_ms={_ms(a_m.p99)}"
        f" engine_p99_ms={_ms(a_e.p99)} ratio_p99={_ratio(a_m.p99, a_e.p99)}"
        f" freed_modcc_p50_ms={_ms(h_m.p50)} freed_engine_p50_ms={_ms(h_e.p50)}"
        f" freed_ratio_p50={_ratio(h_m.p50, h_e.p50)} freed_ratio_p99={_ratio(h_m.p99, h_e.p99)}"
        f" lost={lost} floor_p50_ms={_ms(floor.p50)} floor_ratio_p50={_ratio(a_m.p50, floor.p50)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
