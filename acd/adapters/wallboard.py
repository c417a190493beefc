"""Glue between the configuration and the wallboard package (which knows neither):
thresholds, the source (engine or Prometheus) and the token check of ``/wallboard``."""

from __future__ import annotations

import hmac
import time
import zoneinfo
from collections.abc import Callable

import redis
from flask import Blueprint

from acd.adapters.live import LiveConfig
from acd.adapters.metrics import service_level_targets
from acd.config import Config
from acd.config.supervision import Thresholds as ConfigThresholds
from routing.api import RouterState
from routing.supervision import SupervisionView
from wallboard.engine_source import EngineSource, EventsReader
from wallboard.figures import Band, BoardSettings, FiguresSource, QueueSetup, Thresholds
from wallboard.prometheus_source import PrometheusSource
from wallboard.web import Wallboard, blueprint


def _thresholds(given: ConfigThresholds) -> Thresholds:
    wait, agents, level = given.longest_wait_seconds, given.agents_logged_in, given.service_level
    return Thresholds(
        longest_wait=Band(wait.amber, wait.red),
        agents_logged_in=Band(agents.amber, agents.red),
        service_level=Band(level.amber, level.red),
    )


def board_settings(config: Config) -> BoardSettings:
    """The wallboard's view of ``config``: every queue in file order."""
    board = config.wallboard
    return BoardSettings(
        queues=tuple(
            QueueSetup(
                name,
                _thresholds(config.queue_thresholds(name)),
                queue.service_level.target_seconds,
            )
            for name, queue in config.queues.items()
        ),
        language=board.language,
        refresh_seconds=board.refresh_seconds,
        time_zone=zoneinfo.ZoneInfo(board.time_zone),
        agent_names={k: a.name or "" for k, a in config.agents.items()},
    )


def wallboard_blueprint(
    config: Config | LiveConfig,
    client: redis.Redis,
    snapshot: Callable[[], RouterState | SupervisionView],
    clock: Callable[[], float] = time.time,
    pause: Callable[[], None] | None = None,
) -> Blueprint:
    """``/wallboard`` for the engine's HTTP server (``AdminApi.app.register_blueprint``).

    Figures come from Prometheus when ``wallboard.prometheus_url`` is set, else from
    ``snapshot`` (routing's supervision view: the engine's shared cached read,
    :class:`acd.adapters.supervision.Supervision`) and the events stream in ``client``;
    ``pause`` is the engine's yield for long conversions (``Supervision.pause``).
    The figures need one of ``http.tokens`` (any role), as a Bearer header or ``?token=``. Given a
    :class:`LiveConfig`, the queues, thresholds and tokens follow its reloads (R-LIVECONF)."""
    live = config if isinstance(config, LiveConfig) else LiveConfig(config)

    def parts(current: Config) -> tuple[BoardSettings, FiguresSource]:
        settings = board_settings(current)
        if current.wallboard.prometheus_url is not None:
            return settings, PrometheusSource(settings, current.wallboard.prometheus_url, clock)
        targets = service_level_targets(current)
        events = EventsReader(client, current.tenant, targets, settings.midnight, clock)
        return settings, EngineSource(settings, snapshot, events, clock, pause=pause)

    board = Wallboard(*parts(live.config))

    def follow(current: Config) -> None:
        board.settings, board.source = parts(current)

    live.follow(follow)

    def check_token(given: str) -> bool:
        raw = given.encode("utf-8", "surrogateescape")
        secrets = [t.token.encode() for t in live.config.http.tokens]
        # Every token compared in constant time: no early exit leaks a prefix.
        return sum(hmac.compare_digest(s, raw) for s in secrets) > 0

    return blueprint(board, check_token)
