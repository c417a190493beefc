"""Figures from Prometheus's HTTP query API (PromQL), for a wallboard "fed by Prometheus".

The metric names are the project's contract (``acd_`` prefix, see the README's metrics
section). Gauges read from Redis at scrape time carry the same value in every engine
process, so they are combined with ``max``; counters count each process's own facts, so
they are summed.

Today's counts (offered, answered, abandoned, waits, today's service level, latest wait)
come from the engine's events stream when an :class:`~wallboard.engine_source.EventsReader`
is given (as the engine does): exact, and the same for every engine. ``increase()`` over
"since midnight" only sees what Prometheus scraped (a restart of Prometheus or of an engine
loses counts), so it is the fallback without a reader. Prometheus gives the live gauges
(waiting, longest wait, agents) and the last-hour chart (``query_range``), whose service
level is :func:`wallboard.service_level.promql` over a rolling hour, the same definition as
the engine source's, the reports' and the alert rules'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from wallboard.engine_source import EventsReader
from wallboard.figures import (
    AGENT_STATES,
    AgentCounts,
    AgentFigure,
    AgentState,
    Board,
    BoardSettings,
    Point,
    QueueFigures,
    SourceUnavailableError,
    Today,
    queue_figures,
)
from wallboard.service_level import promql

#: Seconds to connect to and to hear from Prometheus.
TIMEOUT = (2.0, 5.0)
#: Step of the last-hour chart, seconds.
SERIES_STEP = 60


def queries(today_seconds: int) -> dict[str, str]:
    """The instant PromQL queries of one board, by figure; ``today_seconds`` is the range
    from local midnight (at least 1)."""
    day = f"[{max(1, today_seconds)}s]"

    def summed(counter: str) -> str:
        return f"sum by (queue) (increase({counter}{day}))"

    return {
        "waiting": "max by (queue) (acd_queue_waiting_contacts)",
        "longest_wait": "max by (queue) (acd_queue_longest_wait_seconds)",
        "latest_wait": "max by (queue) (acd_queue_latest_wait_seconds)",
        "agents": "max by (queue, state) (acd_queue_agents)",
        "offered": summed("acd_queue_offered_total"),
        "answered": summed("acd_queue_answered_total"),
        "answered_within": summed("acd_queue_answered_within_target_total"),
        "abandoned": summed("acd_queue_abandoned_total"),
        "abandoned_short": summed("acd_queue_abandoned_short_total"),
        "wait_sum": summed("acd_queue_answered_wait_seconds_sum"),
        "agent_state": "max by (agent, state) (acd_agent_state) == 1",
        "agent_seconds": "max by (agent) (acd_agent_state_seconds)",
    }


#: The queries of :func:`queries` that an events reader answers instead (today's counts).
TODAY_QUERIES = frozenset(
    {
        "offered",
        "answered",
        "answered_within",
        "abandoned",
        "abandoned_short",
        "wait_sum",
        "latest_wait",
    }
)

SERIES_QUERIES: Mapping[str, str] = {
    "waiting": "max by (queue) (acd_queue_waiting_contacts)",
    # The counters summed over engines (exact for several), not each engine's gauge.
    "service_level": promql("1h"),
}


def _number(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class PrometheusSource:
    """:class:`wallboard.figures.FiguresSource` over Prometheus at ``url``
    (``http://host:9090``); ``session`` is a ``requests.Session`` (injectable for tests);
    ``events``: today's counts from the events stream (else from PromQL ``increase``, see
    the module docstring). Errors name the URL: log them, never show them to a viewer."""

    name = "prometheus"

    def __init__(
        self,
        settings: BoardSettings,
        url: str,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        events: EventsReader | None = None,
    ) -> None:
        self.settings = settings
        self.url = url.rstrip("/")
        self.clock = clock
        self.session = session or requests.Session()
        self.events = events

    def _get(self, path: str, params: Mapping[str, str | float]) -> list[dict[str, Any]]:
        try:
            reply = self.session.get(f"{self.url}{path}", params=params, timeout=TIMEOUT)
            body = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise SourceUnavailableError(f"prometheus {self.url}{path}: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceUnavailableError(f"prometheus {path}: {error or reply.status_code}")
        result = body.get("data", {}).get("result")
        if not isinstance(result, list):
            raise SourceUnavailableError(f"prometheus {path}: no result list")
        return [r for r in result if isinstance(r, dict) and isinstance(r.get("metric"), dict)]

    def query(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        """An instant query at ``at`` (epoch seconds): (labels, value) of each series
        with a finite value. Raises :class:`SourceUnavailableError`."""
        out: list[tuple[dict[str, str], float]] = []
        for row in self._get("/api/v1/query", {"query": promql, "time": at}):
            value = row.get("value")
            number = _number(value[1]) if isinstance(value, list) and len(value) == 2 else None
            if number is not None:
                out.append((row["metric"], number))
        return out

    def query_range(
        self, promql: str, start: float, end: float, step: int
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query: (labels, [(epoch seconds, value)]) per series. Raises
        :class:`SourceUnavailableError`."""
        params: dict[str, str | float] = {
            "query": promql,
            "start": start,
            "end": end,
            "step": step,
        }
        out: list[tuple[dict[str, str], list[tuple[float, float]]]] = []
        for row in self._get("/api/v1/query_range", params):
            points: list[tuple[float, float]] = []
            for pair in row.get("values") or []:
                at = _number(pair[0]) if isinstance(pair, list) and len(pair) == 2 else None
                value = _number(pair[1]) if at is not None else None
                if at is not None and value is not None:
                    points.append((at, value))
            out.append((row["metric"], points))
        return out

    def board(self) -> Board:
        now = self.clock()
        wanted = queries(int(now - self.settings.midnight(now)))
        found = {
            name: self.query(promql, now)
            for name, promql in wanted.items()
            if self.events is None or name not in TODAY_QUERIES
        }

        def by_queue(name: str) -> dict[str, float]:
            return {labels.get("queue", ""): v for labels, v in found.get(name, [])}

        series = {
            name: {
                labels.get("queue", ""): dict(points)
                for labels, points in self.query_range(promql, now - 3600, now, SERIES_STEP)
            }
            for name, promql in SERIES_QUERIES.items()
        }
        if self.events is not None:
            self.events.update()
        queues = self._queues(by_queue, found, series, now)
        return Board(now, self.name, queues, self._agents(found), series_step=SERIES_STEP)

    def _queues(
        self,
        by_queue: Callable[[str], dict[str, float]],
        found: Mapping[str, list[tuple[dict[str, str], float]]],
        series: Mapping[str, Mapping[str, dict[float, float]]],
        now: float,
    ) -> tuple[QueueFigures, ...]:
        waiting, longest, latest = (
            by_queue("waiting"),
            by_queue("longest_wait"),
            by_queue("latest_wait"),
        )
        answered, within = by_queue("answered"), by_queue("answered_within")
        abandoned, wait_sum = by_queue("abandoned"), by_queue("wait_sum")
        offered, short = by_queue("offered"), by_queue("abandoned_short")
        agents: dict[str, dict[str, int]] = {}
        for labels, value in found["agents"]:
            state = labels.get("state", "")
            if state in AGENT_STATES:
                agents.setdefault(labels.get("queue", ""), {})[state] = round(value)
        out: list[QueueFigures] = []
        for setup in self.settings.queues:
            name = setup.name
            count = round(answered.get(name, 0.0))
            # increase() extrapolates: the sum of waits is scaled to the rounded count.
            raw_count = answered.get(name, 0.0)
            wait_total = wait_sum.get(name, 0.0) * (count / raw_count) if raw_count else 0.0
            lost = round(abandoned.get(name, 0.0))
            today = (
                self.events.today(name)
                if self.events is not None
                else Today(
                    answered=count,
                    answered_within=min(count, round(within.get(name, 0.0))),
                    abandoned=lost,
                    wait_total=wait_total,
                    latest_wait=latest.get(name),
                    offered=round(offered.get(name, 0.0)),
                    abandoned_short=min(lost, round(short.get(name, 0.0))),
                )
            )
            points = series["waiting"].get(name, {})
            levels = series["service_level"].get(name, {})
            line = tuple(Point(at, value, levels.get(at)) for at, value in sorted(points.items()))
            queue_waiting = round(waiting.get(name, 0.0))
            out.append(
                queue_figures(
                    setup,
                    waiting=queue_waiting,
                    longest_wait=longest.get(name) if queue_waiting else None,
                    today=today,
                    agents=AgentCounts(**agents.get(name, {})),
                    series=line,
                )
            )
        return tuple(out)

    def _agents(
        self, found: Mapping[str, list[tuple[dict[str, str], float]]]
    ) -> tuple[AgentFigure, ...]:
        seconds = {labels.get("agent", ""): v for labels, v in found["agent_seconds"]}
        states: dict[str, AgentState] = {}
        for labels, _value in found["agent_state"]:
            state = labels.get("state", "")
            for known in AGENT_STATES:
                if state == known:
                    states[labels.get("agent", "")] = known
        return tuple(
            AgentFigure(
                agent, self.settings.agent_names.get(agent, ""), states[agent], seconds.get(agent)
            )
            for agent in sorted(states)
            if agent
        )
