"""``acd report``: the glue between the configuration and :mod:`wallboard.report`.

Finds the Redis URL, tenant, time zone and service-level rules (``--config`` file, or
``--redis`` and ``--tenant``), checks every input before reading anything, reads and counts the
events stream, and writes the result to stdout or, only once it is complete, to
``--output`` (written beside it and renamed, so a failure leaves no partial file).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import redis

from acd.adapters.metrics import service_level_targets
from acd.config import load_config
from acd.errors import ValidationError
from wallboard.figures import DEFAULT_TIME_ZONE
from wallboard.report import ReportOptions, make_report, parse_period, time_zone
from wallboard.report_formats import render
from wallboard.service_level import ServiceLevelTarget


def options_from(args: argparse.Namespace) -> tuple[str, str, ReportOptions]:
    """``(redis_url, tenant, options)`` from ``acd report``'s arguments. Raises
    :class:`~acd.errors.ValidationError` (bad period, time zone, seconds or queue) or
    :class:`~acd.errors.ConfigError` (bad configuration file).

    The time zone is ``--tz``, else the configuration's ``wallboard.time_zone`` (the
    wallboard's "today" too), else Europe/Stockholm; each configured queue has its own
    service-level rule, ``--target-seconds``/``--short-abandon-seconds`` apply to the
    others. With ``--config`` every configured queue gets rows (zeros too) and its
    ``wrap_up_seconds`` tells a wrap-up cut short by a pause or logout."""
    try:
        default = ServiceLevelTarget(args.target_seconds, args.short_abandon_seconds)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    queues = frozenset(args.queue) if args.queue else None
    targets: dict[str, ServiceLevelTarget] = {}
    known: frozenset[str] = frozenset()
    wrap_up: dict[str, float] = {}
    zone_name = DEFAULT_TIME_ZONE
    if args.config is not None:
        config = load_config(args.config)
        if config.redis is None:
            raise ValidationError(f"{args.config}: no redis.url configured")
        url, tenant = config.redis.url, args.tenant or config.tenant
        targets = service_level_targets(config)
        known = frozenset(config.queues)  # every configured queue has rows, zeros too
        wrap_up = {name: queue.wrap_up_seconds for name, queue in config.queues.items()}
        zone_name = config.wallboard.time_zone
        unknown = sorted((queues or frozenset()) - set(config.queues))
        if unknown:
            raise ValidationError(f"unknown queue(s) in {args.config}: {', '.join(unknown)}")
    elif args.redis is not None and args.tenant is not None:
        url, tenant = args.redis, args.tenant
    else:
        raise ValidationError("give --config FILE, or --redis URL and --tenant NAME")
    zone = time_zone(args.tz or zone_name)
    start, end = parse_period(args.start, args.end, zone)
    options = ReportOptions(
        start,
        end,
        zone,
        queues=queues,
        targets=targets,
        default_target=default,
        known_queues=known,
        wrap_up=wrap_up,
    )
    return url, tenant, options


def _client(url: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(url, socket_timeout=30.0, socket_connect_timeout=5.0)
    except ValueError as exc:
        raise ValidationError(f"bad --redis URL: {exc}") from None


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(output)
    if target.is_dir():
        raise ValidationError(f"--output {output!r} is a directory")
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, then renamed
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
        )
    except OSError as exc:
        raise ValidationError(f"cannot write --output {output!r}: {exc.strerror}") from None
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, target)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise ValidationError(f"cannot write --output {output!r}: {exc.strerror}") from None


def report(args: argparse.Namespace) -> int:
    """Run ``acd report``; returns 0. Raises :class:`~acd.errors.ACDError` subclasses
    (the CLI prints them) with nothing written."""
    url, tenant, options = options_from(args)
    client = _client(url)
    try:
        text = render(make_report(client, tenant, options), args.format)
    finally:
        client.close()
    _write(text, args.output)
    return 0
