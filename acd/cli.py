"""The ``acd`` command line.

``acd sim``   a FreeSWITCH stand-in on the Event Socket port, with optional traffic;
``acd watch`` connect to FreeSWITCH (or the simulator) and log the events the engine uses;
``acd demo``  simulated FreeSWITCH + caller traffic + the event log, on embedded defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acd.errors import ACDError
from acd.logs import configure_logging


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-json", action="store_true", help="JSON log lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser(
        "sim", help="run the FreeSWITCH simulator", add_help=False, prefix_chars="\0"
    )
    sim.add_argument("args", nargs=argparse.REMAINDER)

    watch = commands.add_parser("watch", help="log the events the engine would see")
    watch.add_argument("--host", default="127.0.0.1")
    watch.add_argument("--port", type=int, default=8021)
    watch.add_argument("--password", default="ClueCon")
    watch.add_argument("--format", choices=("plain", "json"), default="plain")
    watch.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until ^C")
    _add_common(watch)

    demo = commands.add_parser(
        "demo", help="simulated FreeSWITCH + caller traffic + the event log, on embedded defaults"
    )
    demo.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until ^C")
    demo.add_argument("--calls-per-minute", type=float, default=30.0)
    demo.add_argument("--agents", type=int, default=6)
    _add_common(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sim":
            from freeswitch.sim.__main__ import main as sim_main  # noqa: PLC0415

            return sim_main(list(args.args))
        configure_logging(args.log_level, args.log_json)
        if args.command == "watch":
            from acd.watch import watch  # noqa: PLC0415

            return watch(args.host, args.port, args.password, args.format, args.duration)
        if args.command == "demo":
            from acd.demo import run_demo  # noqa: PLC0415

            return run_demo(args.duration, args.calls_per_minute, args.agents)
    except ACDError as error:
        print(f"acd: {error.slug}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
