"""``make demo``: the engine serving simulated callers, one summary line a second.

Three processes on embedded defaults, nothing to configure:

- a private Redis (:class:`acd.dev.redis_server.RedisServer`) for routing and call records;
- the simulator in a process of its own (``python -m freeswitch.sim --traffic``) with the
  project's shipped dialplan: callers arrive on the queue extensions (7000 support,
  answered, hold music; 7001 sales, unanswered, ringback), some give up while waiting,
  agent phones ``user/1001``.. answer after a delay, some do not answer or are busy;
- the engine in this process, wired from :func:`acd.config.default_config` by
  :func:`acd.app.build` as ``acd run`` would, its agents logged in through the engine at
  start; now and then a free agent pauses and later unpauses.

Every second a line goes to stdout::

    t=12s waiting=3 longest=8.4s free=2 busy=6 wrap_up=1 paused=1 answered=14 abandoned=2

``waiting`` and ``longest`` (seconds since the oldest waiting caller arrived) and the agent
counts come from routing (``free``: ready with no contact; ``busy``: a contact reserved or
in a call); ``answered`` (callers bridged to an agent) and ``abandoned`` (callers who hung
up unserved) are counted from the engine's facts. Logs go to stderr. Ctrl-C stops.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import gevent
import gevent.event
import gevent.subprocess
import structlog

from acd.app import App, build, start
from acd.config import Config, default_config
from acd.dev.redis_server import RedisServer
from acd.engine.effects import Fact
from acd.engine.events import AgentCommand
from acd.errors import ACDError
from acd.logs import configure_logging
from routing.api import RouterState

_log = structlog.get_logger("acd.dev.demo")

#: Seconds the simulator gets to bind its port and say which one.
SIM_START_TIMEOUT = 15.0


class DemoError(ACDError):
    slug = "demo-failed"


@dataclass(frozen=True)
class Summary:
    """One line of the demo: counts now, and totals since the start."""

    waiting: int
    longest_wait: float  # seconds since the oldest waiting caller arrived; 0 when none
    free: int
    busy: int
    wrap_up: int
    paused: int
    answered: int
    abandoned: int

    def line(self, elapsed: float) -> str:
        return (
            f"t={elapsed:.0f}s waiting={self.waiting} longest={self.longest_wait:.1f}s"
            f" free={self.free} busy={self.busy} wrap_up={self.wrap_up} paused={self.paused}"
            f" answered={self.answered} abandoned={self.abandoned}"
        )


class FactCounter:
    """An observer of the engine's facts (runs on the lanes: counting only, never blocks)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, fact: Fact) -> None:
        self.counts[fact.kind] += 1


def summarize(state: RouterState, facts: Counter[str], now: float) -> Summary:
    """The summary of a routing snapshot taken at epoch second ``now``; ``facts`` counts
    the engine's facts by kind (``bridged`` = answered, ``abandoned``)."""
    waiting = [c for c in state.contacts.values() if c.state == "waiting"]
    longest = max((now - c.arrival for c in waiting), default=0.0)
    agents: Counter[str] = Counter()
    for agent in state.agents.values():
        if agent.presence == "logged_out":
            continue
        if agent.presence == "paused":
            agents["paused"] += 1
        elif agent.presence == "wrap_up":
            agents["wrap_up"] += 1
        elif agent.assigned:
            agents["busy"] += 1
        else:
            agents["free"] += 1
    return Summary(
        waiting=len(waiting),
        longest_wait=max(longest, 0.0),
        free=agents["free"],
        busy=agents["busy"],
        wrap_up=agents["wrap_up"],
        paused=agents["paused"],
        answered=facts["bridged"],
        abandoned=facts["abandoned"],
    )


def start_simulator(
    agents: Sequence[str], calls_per_minute: float, time_scale: float, seed: int
) -> tuple[gevent.subprocess.Popen[bytes], int]:
    """Start ``python -m freeswitch.sim`` with traffic; returns the process and its ESL port.

    Agent phones are ``user/<id>`` for the numeric ids in ``agents`` (consecutive).
    Raises :class:`DemoError` if it does not report its port in time."""
    numbers = sorted(int(agent) for agent in agents)
    command = [
        sys.executable,
        "-m",
        "freeswitch.sim",
        "--port=0",
        "--control-port=-1",
        "--dialplan=shipped",
        f"--time-scale={time_scale}",
        f"--seed={seed}",
        "--traffic",
        f"--rate={calls_per_minute / 60.0}",
        "--destinations=7000=0.6,7001=0.4",
        "--patience=40",
        "--talk-time=12",
        f"--agents={numbers[-1] - numbers[0] + 1}",
        f"--first-agent={numbers[0]}",
        "--agent-answer=uniform:1:4",
        "--agent-mix=answer=0.85,no_answer=0.1,busy=0.05",
        "--report=3600",
    ]
    proc = gevent.subprocess.Popen(command, stdout=gevent.subprocess.PIPE)
    assert proc.stdout is not None
    with gevent.Timeout(SIM_START_TIMEOUT, False):
        line = proc.stdout.readline().decode(errors="replace")
        if " on " in line:
            port = int(line.rsplit(":", 1)[1])
            gevent.spawn(_drain, proc.stdout)
            return proc, port
    proc.kill()
    proc.wait()
    raise DemoError(f"the simulator did not start (said {line!r})")


def _drain(stream: IO[bytes]) -> None:
    # The simulator's own reports are not the demo's output; read them so it never blocks.
    while stream.readline():
        pass


def _demo_config(config: Config, esl_port: int) -> Config:
    # The simulator's port; the HTTP API on a free port so two demos (or a demo and a
    # test run) never collide on 8080.
    return config.model_copy(
        update={
            "esl": config.esl.model_copy(update={"port": esl_port}),
            "http": config.http.model_copy(update={"port": 0}),
        }
    )


def _pauser(app: App, latest: list[RouterState], rng: random.Random) -> None:
    """Every few seconds a free agent takes a break, and comes back a little later."""
    while True:
        gevent.sleep(rng.uniform(3.0, 6.0))
        if not latest:
            continue
        state = latest[0]
        free = [a.id for a in state.agents.values() if a.presence == "ready" and not a.assigned]
        if len(free) < 2:
            continue  # leave someone to take calls
        agent = rng.choice(free)
        app.runner.post(agent, AgentCommand(agent, "pause", time.time(), reason="coffee"))
        gevent.spawn_later(rng.uniform(4.0, 10.0), _unpause, app, agent)


def _unpause(app: App, agent: str) -> None:
    app.runner.post(agent, AgentCommand(agent, "unpause", time.time()))


def run_demo(
    duration: float, calls_per_minute: float, agents: int, time_scale: float, seed: int
) -> int:
    """Run until ``duration`` seconds have passed (0: until SIGINT/SIGTERM); exit status 0.

    ``agents``: how many of the default configuration's agents log in (all if larger).
    Raises :class:`acd.errors.ACDError` (Redis, simulator or engine failed to start)."""
    config = default_config()
    logged_in = list(config.agents)[: max(agents, 0)]
    stop = gevent.event.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.getsignal(signum) for signum in signals]
    handlers = [gevent.signal_handler(signum, stop.set) for signum in signals]
    facts = FactCounter()
    latest: list[RouterState] = []
    rng = random.Random(seed)
    try:
        with RedisServer() as redis_server:
            sim, port = start_simulator(list(config.agents), calls_per_minute, time_scale, seed)
            app: App | None = None
            pauser = None
            try:
                app = build(_demo_config(config, port), redis_url=redis_server.url)
                app.runner.observers.append(facts)
                start(app, connect_deadline=10.0)
                for agent in logged_in:
                    app.runner.post(agent, AgentCommand(agent, "login", time.time()))
                pauser = gevent.spawn(_pauser, app, latest, rng)
                _log.info(
                    "demo.started",
                    esl=f"127.0.0.1:{port}",
                    redis=redis_server.url,
                    calls_per_minute=calls_per_minute,
                    agents=len(logged_in),
                    hint="Ctrl-C stops",
                )
                _report(app, facts, latest, stop, duration)
            finally:
                if pauser is not None:
                    pauser.kill()
                if app is not None:
                    app.stop()
                sim.terminate()
                sim.wait(timeout=5)
                if sim.stdout is not None:
                    sim.stdout.close()
    finally:
        # Put the process's own handlers back (the demo also runs inside tests): cancelling
        # gevent's watcher alone leaves SIG_DFL, and Ctrl-C would kill instead of interrupt.
        for handler in handlers:
            handler.cancel()
        for signum, before in zip(signals, previous, strict=True):
            if before is not None:  # None: set outside Python, nothing to restore
                signal.signal(signum, before)
    _log.info("demo.stopped", answered=facts.counts["bridged"], abandoned=facts.counts["abandoned"])
    return 0


def _report(
    app: App,
    facts: FactCounter,
    latest: list[RouterState],
    stop: gevent.event.Event,
    duration: float,
) -> None:
    started = time.monotonic()
    next_line = started + 1.0
    while True:
        end = started + duration if duration > 0 else float("inf")
        if stop.wait(max(0.0, min(next_line, end) - time.monotonic())):
            return
        now = time.monotonic()
        if now >= end:
            return
        if now < next_line:
            continue
        next_line += 1.0
        state = app.router.snapshot()
        latest[:] = [state]
        summary = summarize(state, facts.counts, time.time())
        print(summary.line(now - started), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acd demo",
        description=(
            "the engine on embedded defaults serving simulated callers (own Redis, simulator "
            "in its own process); one summary line a second"
        ),
    )
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until ^C")
    parser.add_argument("--calls-per-minute", type=float, default=18.0)
    parser.add_argument(
        "--agents", type=int, default=10, help="how many of the 10 default agents log in"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="the simulator's: multiplies callers' and phones' delays (0.2 = five times faster)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-json", action="store_true", help="JSON log lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acd.dev.demo [options]`` and ``acd demo [options]``: the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_json)
    if not args.time_scale > 0 or args.calls_per_minute <= 0:
        print("acd demo: --time-scale and --calls-per-minute must be > 0", file=sys.stderr)
        return 2
    try:
        return run_demo(
            args.duration, args.calls_per_minute, args.agents, args.time_scale, args.seed
        )
    except ACDError as error:
        print(f"acd demo: {error.slug}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
