"""The ``acd`` command line.

``acd run``   the engine: ``acd run --config acd.yaml`` against FreeSWITCH;
``acd check-config FILE`` validate a configuration file and summarise it;
``acd sim``   a FreeSWITCH stand-in on the Event Socket port, with optional traffic;
``acd watch`` connect to FreeSWITCH (or the simulator) and log the events the engine uses;
``acd report`` statistics per queue and half hour from the events stream (CSV, JSON, HTML);
``acd alert-rules`` Prometheus alerting rules for the configuration's wallboard thresholds;
``acd grafana-dashboard`` the Grafana dashboard coloured by those thresholds;
``acd prompts import|list`` the customer's own prompts (WAV, MP3, OGG/Opus, FLAC);
``acd demo``  simulated FreeSWITCH + caller traffic + the event log, on embedded defaults.

Each subcommand is one row of :data:`SUBCOMMANDS`: its options are declared here (argparse
only, so ``acd --help`` starts fast and a broken optional part cannot break the others) and
its code is imported when it runs. To add one, write its ``_xxx_arguments`` and ``_xxx``
functions and add a row.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from acd.errors import ACDError, ValidationError
from acd.logs import configure_logging


@dataclass(frozen=True)
class Subcommand:
    """One ``acd`` subcommand.

    ``arguments`` adds its options to its parser (``--log-level`` and ``--log-json`` are added to
    every one, and logging is set up before ``run``); ``run`` imports what the subcommand needs
    and returns the process exit status. A ``passthrough`` subcommand hands its raw arguments
    (``args.args``, a list of str) to a program with a parser of its own, which sets up logging.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    passthrough: bool = False


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-json", action="store_true", help="JSON log lines")


def _passthrough_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs=argparse.REMAINDER)


def _sim(args: argparse.Namespace) -> int:
    from freeswitch.sim.__main__ import main  # noqa: PLC0415 - imported only when used

    return main(list(args.args))


def _watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8021)
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument("--format", choices=("plain", "json"), default="plain")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until ^C")


def _watch(args: argparse.Namespace) -> int:
    from acd.dev.watch import watch  # noqa: PLC0415 - imported only when used

    return watch(args.host, args.port, args.password, args.format, args.duration)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the YAML configuration file")


def _run(args: argparse.Namespace) -> int:
    # Before redis and socket users are imported, so every wait is cooperative.
    from gevent import monkey  # noqa: PLC0415

    monkey.patch_all()
    from acd.app import run  # noqa: PLC0415 - imported only when used
    from acd.config import load_config  # noqa: PLC0415

    return run(load_config(args.config), str(args.config))


def _check_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the YAML configuration file")


def _check_config(args: argparse.Namespace) -> int:
    from acd.config.check import main  # noqa: PLC0415 - imported only when used

    return main(args.file)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="the YAML configuration: Redis, tenant, targets")
    source.add_argument("--redis", help="Redis URL (without --config; needs --tenant)")
    parser.add_argument("--tenant", help="the tenant (default: the configuration's)")
    when = "ISO date (a whole local day) or date-time, e.g. 2026-11-27 or 2026-11-27T08:30"
    parser.add_argument("--from", dest="start", metavar="WHEN", required=True, help=when)
    parser.add_argument("--to", dest="end", metavar="WHEN", required=True, help=when)
    parser.add_argument("--queue", action="append", help="only this queue (repeatable)")
    parser.add_argument("--format", choices=("csv", "json", "html"), default="csv")
    parser.add_argument("--output", help="write to this file instead of stdout")
    parser.add_argument(
        "--tz",
        help="time zone of the days and half hours (default: the configuration's "
        "wallboard.time_zone, else Europe/Stockholm)",
    )
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=20.0,
        help="seconds; service-level target of queues without a configured one (default 20)",
    )
    parser.add_argument(
        "--short-abandon-seconds",
        type=float,
        default=5.0,
        help="seconds; short abandons of queues without a configured service level (default "
        "5): counted apart, outside the service level",
    )


def _report(args: argparse.Namespace) -> int:
    from acd.reporting import report  # noqa: PLC0415 - imported only when used

    return report(args)


def _alert_rules_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the YAML configuration file")
    parser.add_argument(
        "--job",
        default="acd",
        help="job_name of the engines' Prometheus scrape job, for AcdEngineDown (default acd)",
    )


def _alert_rules(args: argparse.Namespace) -> int:
    from acd.adapters.metrics import queue_limits  # noqa: PLC0415 - imported only when used
    from acd.config import load_config  # noqa: PLC0415
    from wallboard.alerts import alert_rules_yaml  # noqa: PLC0415

    try:
        text = alert_rules_yaml(queue_limits(load_config(args.config)), job=args.job)
    except ValueError as exc:
        raise ValidationError(f"--job: {exc}") from None
    sys.stdout.write(text)
    return 0


def _grafana_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the YAML configuration file")


def _grafana(args: argparse.Namespace) -> int:
    from acd.adapters.metrics import queue_limits  # noqa: PLC0415 - imported only when used
    from acd.config import load_config  # noqa: PLC0415
    from wallboard.dashboard import dashboard_json  # noqa: PLC0415

    sys.stdout.write(dashboard_json(queue_limits(load_config(args.config))))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from acd.dev.demo import main  # noqa: PLC0415 - imported only when used

    return main(list(args.args))


def _prompts_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for action in ("import", "list"):
        sub = actions.add_parser(action)
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--config", help="the YAML configuration (prompts.directory, languages)")
        where.add_argument("--directory", help="default: /var/lib/acd/prompts")
        if action == "import":
            sub.add_argument("files", nargs="+", metavar="FILE", help="WAV, MP3, OGG/Opus, FLAC")
            sub.add_argument("--lang", required=True, help="the prompts' language (sv, en)")
            sub.add_argument("--id", help="the prompt id (one file; default: the file's name)")


def _prompts(args: argparse.Namespace) -> int:
    from acd.prompt_cli import main  # noqa: PLC0415 - imported only when used

    return main(args)


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("run", "run the engine against FreeSWITCH", _run_arguments, _run),
    Subcommand(
        "check-config",
        "validate a configuration file (exit 0: valid, 2: problems)",
        _check_config_arguments,
        _check_config,
    ),
    Subcommand("sim", "run the FreeSWITCH simulator", _passthrough_arguments, _sim, True),
    Subcommand("watch", "log the events the engine would see", _watch_arguments, _watch),
    Subcommand(
        "report", "statistics per queue and half hour (R-STATS)", _report_arguments, _report
    ),
    Subcommand(
        "alert-rules",
        "Prometheus alerting rules for the wallboard thresholds (YAML on stdout)",
        _alert_rules_arguments,
        _alert_rules,
    ),
    Subcommand(
        "grafana-dashboard",
        "the Grafana dashboard, coloured by the wallboard thresholds (JSON on stdout)",
        _grafana_arguments,
        _grafana,
    ),
    Subcommand(
        "prompts", "import or list your own prompts (R-PROMPTS)", _prompts_arguments, _prompts
    ),
    Subcommand(
        "demo",
        "simulated FreeSWITCH + caller traffic + the event log, on embedded defaults",
        _passthrough_arguments,
        _demo,
        True,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for subcommand in SUBCOMMANDS:
        if subcommand.passthrough:
            # No option of its own, not even -h: everything goes to the program's own parser.
            sub = commands.add_parser(
                subcommand.name, help=subcommand.help, add_help=False, prefix_chars="\0"
            )
            subcommand.arguments(sub)
        else:
            sub = commands.add_parser(subcommand.name, help=subcommand.help)
            subcommand.arguments(sub)
            _add_common(sub)
        sub.set_defaults(subcommand=subcommand)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the subcommand, return its exit status:
    2 for a usage error or an :class:`~acd.errors.ACDError` (printed as ``slug: message``),
    130 after Ctrl-C."""
    args = build_parser().parse_args(argv)
    subcommand: Subcommand = args.subcommand
    try:
        if not subcommand.passthrough:
            configure_logging(args.log_level, args.log_json)
        return subcommand.run(args)
    except ACDError as error:
        print(f"acd: {error.slug}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
