"""``python -m freeswitch.sim``: run the simulator standalone (demos, integration tests).

    python -m freeswitch.sim --port 8021 --password ClueCon --control-port 8022 \\
        --traffic --rate 2 --patience 60 --talk-time 90 --agents 10 \\
        --agent-answer uniform:1:4 --agent-mix answer=0.85,no_answer=0.1,busy=0.05

``--dialplan shipped`` routes callers through the project's shipped dialplan
(``freeswitch/conf/dialplan/acd.xml``) instead of the recordings' lab context;
``--first-agent 1001`` numbers the agent phones ``user/1001``.. to match a configuration.

Prints traffic counters every ``--report`` seconds; stops on Ctrl-C or after ``--duration``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

import gevent
import gevent.event

from freeswitch.sim.control import ControlServer
from freeswitch.sim.dialplan import DEFAULT_EXTENSIONS, SHIPPED_EXTENSIONS, Dialplan
from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.simulator import Simulator
from freeswitch.sim.traffic import Distribution, TrafficGenerator, TrafficProfile


def _weights(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, text.split(",")):
        name, _, weight = item.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise SimulatorError(f"weight in {item!r} is not a number") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m freeswitch.sim", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8021)
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiplies every simulated delay"
    )
    parser.add_argument("--control-port", type=int, default=8022, help="HTTP control; -1 disables")
    parser.add_argument(
        "--heartbeat", type=float, default=20.0, help="HEARTBEAT interval; 0 disables"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--traffic", action="store_true", help="generate callers")
    parser.add_argument("--rate", type=float, default=1.0, help="caller arrivals per second")
    parser.add_argument("--patience", default="60", help="seconds before a caller gives up")
    parser.add_argument("--talk-time", default="120", help="seconds of conversation once bridged")
    parser.add_argument("--destinations", default="7000=1", help="e.g. 7000=0.7,7001=0.3")
    parser.add_argument(
        "--dialplan",
        choices=("default", "shipped"),
        default="default",
        help="the recordings' lab context or the project's shipped dialplan",
    )
    parser.add_argument("--agents", type=int, default=0, help="register user/1000.. agent phones")
    parser.add_argument("--first-agent", type=int, default=1000, help="number of the first phone")
    parser.add_argument("--agent-answer", default="uniform:1:3", help="answer delay distribution")
    parser.add_argument("--agent-mix", default="answer=1", help="e.g. answer=0.8,no_answer=0.2")
    parser.add_argument("--agent-hangup-share", type=float, default=0.0)
    parser.add_argument("--max-calls", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--report", type=float, default=10.0, help="print counters every N s")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sim = Simulator(
            args.password,
            args.host,
            args.port,
            args.time_scale,
            heartbeat_interval=args.heartbeat or None,
            seed=args.seed,
            dialplan=Dialplan(
                SHIPPED_EXTENSIONS if args.dialplan == "shipped" else DEFAULT_EXTENSIONS
            ),
        )
        traffic = None
        if args.traffic or args.agents:
            profile = TrafficProfile(
                arrival_rate=args.rate,
                patience=Distribution.parse(args.patience),
                talk_time=Distribution.parse(args.talk_time),
                destinations=_weights(args.destinations),
                agents=args.agents,
                agent_answer=Distribution.parse(args.agent_answer),
                agent_mix=_weights(args.agent_mix),
                agent_hangup_share=args.agent_hangup_share,
                max_calls=args.max_calls,
                first_agent=args.first_agent,
            )
            traffic = TrafficGenerator(sim, profile, seed=args.seed)
    except SimulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sim.start()
    control = (
        ControlServer(sim, args.host, args.control_port).start() if args.control_port >= 0 else None
    )
    print(f"FreeSWITCH simulator on {args.host}:{sim.port}", flush=True)
    if control is not None:
        print(f"control endpoint on http://{args.host}:{control.port}/_requests", flush=True)
    if traffic is not None:
        if args.traffic:
            traffic.start()
        else:
            traffic.register_agents()
    stop = gevent.event.Event()
    handlers = [gevent.signal_handler(sig, stop.set) for sig in (signal.SIGINT, signal.SIGTERM)]
    started = time.monotonic()
    report = args.report if args.duration is None else min(args.report, args.duration)
    while not stop.wait(report):
        if traffic is not None:
            print(f"{time.monotonic() - started:8.1f}s {traffic.summary()}", flush=True)
        if args.duration is not None and time.monotonic() - started >= args.duration:
            break
    if traffic is not None:
        traffic.stop()
        print(f"final {traffic.summary()}", flush=True)
    if control is not None:
        control.stop()
    sim.stop()
    for handler in handlers:
        handler.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
