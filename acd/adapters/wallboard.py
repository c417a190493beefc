"""Glue between the configuration and the wallboard package (which knows neither):
thresholds, the source (engine or Prometheus, falling back to the engine while Prometheus
is unreachable), the background sampler of the last-hour chart and the token check of
``/wallboard``."""

from __future__ import annotations

import hmac
import time
import zoneinfo
from collections.abc import Callable

import gevent
import redis
import structlog
from flask import Blueprint

from acd.adapters.live import LiveConfig
from acd.adapters.metrics import passive_agents, service_level_targets
from acd.config import Config
from acd.config.supervision import Thresholds as ConfigThresholds
from routing.api import RouterState
from routing.supervision import SupervisionView
from wallboard.engine_source import SAMPLE_SECONDS, EngineSource, EventsReader
from wallboard.figures import (
    Band,
    BoardSettings,
    FallbackSource,
    FiguresSource,
    QueueSetup,
    SourceUnavailableError,
    Thresholds,
)
from wallboard.prometheus_source import PrometheusSource
from wallboard.web import Wallboard, blueprint

_log = structlog.get_logger("acd.wallboard")


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
                queue.service_level.goal,
            )
            for name, queue in config.queues.items()
        ),
        language=board.language,
        refresh_seconds=board.refresh_seconds,
        time_zone=zoneinfo.ZoneInfo(board.time_zone),
        agent_names={k: a.name or "" for k, a in config.agents.items()},
        passive=passive_agents(config),
    )


class Sampler:
    """Samples the last-hour chart of ``board``'s engine source every ``every`` seconds
    in a greenlet of the engine (:meth:`start`, :meth:`stop`), so the chart is full when a
    board opens. Each sample is one shared, cached supervision read and the events read
    since the last one; a failure is logged and the next sample tries again (the chart
    shows the gap)."""

    def __init__(self, board: Wallboard, every: float = SAMPLE_SECONDS) -> None:
        self.board = board
        self.every = every
        self._greenlet: gevent.Greenlet[[], None] | None = None

    def sample(self) -> None:
        """One sample now (nothing when the board has no engine source). Never raises."""
        source = self.board.source
        engine = source.fallback if isinstance(source, FallbackSource) else source
        if not isinstance(engine, EngineSource):
            return
        try:
            engine.sample()
        except SourceUnavailableError as exc:
            _log.warning("acd.wallboard_sample_failed", error=str(exc))

    def _run(self) -> None:
        while True:
            self.sample()
            gevent.sleep(self.every)

    def start(self) -> None:
        """Sample in the background until :meth:`stop`."""
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None


def wallboard_blueprint(
    config: Config | LiveConfig,
    client: redis.Redis,
    snapshot: Callable[[], RouterState | SupervisionView],
    clock: Callable[[], float] = time.time,
    pause: Callable[[], None] | None = None,
) -> Blueprint:
    """The Blueprint of :func:`wallboard_parts` (without the background sampler)."""
    return wallboard_parts(config, client, snapshot, clock, pause)[0]


def wallboard_parts(
    config: Config | LiveConfig,
    client: redis.Redis,
    snapshot: Callable[[], RouterState | SupervisionView],
    clock: Callable[[], float] = time.time,
    pause: Callable[[], None] | None = None,
) -> tuple[Blueprint, Sampler]:
    """``/wallboard`` for the engine's HTTP server (``AdminApi.app.register_blueprint``)
    and its chart's :class:`Sampler` (the engine starts and stops it).

    Figures come from ``snapshot`` (routing's supervision view: the engine's shared cached
    read, :class:`acd.adapters.supervision.Supervision`) and the events stream in
    ``client`` (today's counts, exact and the same in every engine); when
    ``wallboard.prometheus_url`` is set, the live figures and the chart come from
    Prometheus, and from the engine while Prometheus is unreachable (the board says so;
    the error, with Prometheus's address, is logged, never shown). ``pause`` is the
    engine's yield for long conversions (``Supervision.pause``). The figures need one of
    ``http.tokens`` (any role), as a Bearer header or ``?token=``. Given a
    :class:`LiveConfig`, the queues, thresholds and tokens follow its reloads (R-LIVECONF)."""
    live = config if isinstance(config, LiveConfig) else LiveConfig(config)

    def parts(current: Config) -> tuple[BoardSettings, FiguresSource]:
        settings = board_settings(current)
        targets = service_level_targets(current)
        events = EventsReader(client, current.tenant, targets, settings.midnight, clock)
        engine = EngineSource(settings, snapshot, events, clock, pause=pause)
        url = current.wallboard.prometheus_url
        if url is None:
            return settings, engine
        prometheus = PrometheusSource(settings, url, clock, events=events)
        return settings, FallbackSource(prometheus, engine)

    board = Wallboard(*parts(live.config))

    def follow(current: Config) -> None:
        board.settings, board.source = parts(current)

    live.follow(follow)

    def check_token(given: str) -> bool:
        raw = given.encode("utf-8", "surrogateescape")
        secrets = [t.token.encode() for t in live.config.http.tokens]
        # Every token compared in constant time: no early exit leaks a prefix.
        return sum(hmac.compare_digest(s, raw) for s in secrets) > 0

    return blueprint(board, check_token), Sampler(board)
