"""``make demo``: a simulated FreeSWITCH with caller traffic, watched over the Event Socket.

Everything runs on embedded defaults in one process: the simulator listens on a free
loopback port, a traffic generator places callers on the queue extensions of the shipped
dialplan, and the project's ESL client connects over TCP, subscribes to the events the engine
uses and logs each one. The demo grows with the engine: routing, announcements and the
wallboard join it as they land.
"""

from __future__ import annotations

import signal
import time

import gevent
import gevent.event
import structlog

from acd.watch import ENGINE_EVENTS, IDLE_TIMEOUT, attach_logger
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.sim.simulator import Simulator
from freeswitch.sim.traffic import Distribution, TrafficGenerator, TrafficProfile

_log = structlog.get_logger("acd.demo")


def run_demo(duration: float, calls_per_minute: float, agents: int) -> int:
    sim = Simulator(port=0, seed=7).start()
    profile = TrafficProfile(
        arrival_rate=calls_per_minute / 60.0,
        patience=Distribution.parse("exponential:40"),
        talk_time=Distribution.parse("exponential:30"),
        destinations={"7000": 0.7, "7001": 0.3},
        agents=agents,
    )
    traffic = TrafficGenerator(sim, profile, seed=7)
    client = ESLClient(
        ClientSettings(
            "127.0.0.1", sim.port, sim.password, events=ENGINE_EVENTS, idle_timeout=IDLE_TIMEOUT
        )
    )
    attach_logger(client)
    client.connect()
    _log.info(
        "demo.started",
        esl=f"127.0.0.1:{sim.port}",
        calls_per_minute=calls_per_minute,
        agent_phones=agents,
        hint="Ctrl-C stops",
    )
    traffic.start()
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGINT, stop.set)
    gevent.signal_handler(signal.SIGTERM, stop.set)
    started = time.monotonic()
    try:
        while True:
            left = duration - (time.monotonic() - started) if duration > 0 else 10.0
            if left <= 0 or stop.wait(min(10.0, left)):
                break
            _log.info("demo.traffic", **traffic.summary(), **client.counters())
    finally:
        traffic.stop()
        client.stop()
        sim.stop()
    _log.info("demo.stopped", **traffic.summary())
    return 0


def main() -> int:
    from acd.cli import main as cli_main  # noqa: PLC0415

    return cli_main(["demo"])


if __name__ == "__main__":
    raise SystemExit(main())
