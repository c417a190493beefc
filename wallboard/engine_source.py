"""Figures from the engine directly: live state from routing's supervision view
(:mod:`routing.supervision`), today's counts
accumulated from the engine's events stream ``acd:{tenant}:events`` (docs/ENGINE.md).

Every engine process writes the one stream, so every wallboard reading it counts the same:
on start a reader reads from local midnight (or an hour ago, if earlier), then only what
was added since its last entry (``XREAD`` from the last id). Counts restart at each local
midnight; the chart's service level is over the rolling hour.

The last-hour chart is sampled in the background (:class:`Sampler`, every
:data:`SAMPLE_SECONDS`), not only while a board polls, so it is full when a board opens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import redis
import structlog

from routing.api import AgentView, RouterState
from routing.errors import RoutingError
from routing.supervision import AgentSupervision, SupervisionView, as_view
from wallboard import metrics
from wallboard.facts import FactFold, decode_entry, events_key
from wallboard.figures import (
    AGENT_STATES,
    AgentCounts,
    AgentFigure,
    AgentState,
    Board,
    BoardSettings,
    History,
    Point,
    QueueFigures,
    SourceUnavailableError,
    Today,
    queue_figures,
)
from wallboard.service_level import RollingTally, ServiceLevelTarget, ratio

_log = structlog.get_logger("wallboard.engine_source")

#: Entries read per ``XREAD`` round trip.
BATCH = 500
#: Seconds between two background samples of the last-hour chart.
SAMPLE_SECONDS = 20.0
#: Seconds of the chart and of its rolling service level.
HOUR = 3600.0
_MAX_SEQ = 2**64 - 1
# Facts that change an agent's state: their time starts the agent's time in state.
_AGENT_FACTS = frozenset(
    {
        "agent_login",
        "agent_pause",
        "agent_unpause",
        "offered",
        "bridged",
        "completed",
        "agent_no_answer",
    }
)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class _Day:
    start: float
    end: float
    queues: dict[str, Today]
    agent_changed: dict[str, float]
    counter: FactFold


class EventsReader:
    """Today's per-queue counts from the events stream, read incrementally.

    ``targets`` gives each queue's service-level rule (target and short-abandon seconds);
    ``midnight(now)`` the epoch seconds of the local midnight starting ``now``'s day. A
    fact is counted in the day of its own time (field ``t``), as :mod:`wallboard.facts`
    counts it (offered, answered, abandoned); agent facts set when an agent's state last
    changed.
    """

    def __init__(
        self,
        client: redis.Redis,
        tenant: str,
        targets: Mapping[str, ServiceLevelTarget],
        midnight: Callable[[float], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.key = events_key(tenant)
        self.targets = dict(targets)
        self.midnight = midnight
        self.clock = clock
        now = clock()
        self._day = self._new_day(now)
        self._hour = RollingTally()  # the last hour's answered and abandoned calls
        # Exclusive start: everything from the first millisecond of the day (or of the
        # last hour, for the rolling service level just after midnight).
        first = min(self._day.start, now - HOUR)
        self._last_id = f"{int(first * 1000) - 1}-{_MAX_SEQ}"
        self._lock = threading.Lock()

    def _new_day(self, at: float) -> _Day:
        start = self.midnight(at)
        # The next midnight: a day is 23-25 hours where clocks change.
        end = self.midnight(start + 26 * 3600.0)
        if end <= start:  # pragma: no cover - a broken time zone function
            end = start + 86_400.0
        return _Day(start, end, {}, {}, FactFold(self.targets))

    def update(self, pause: Callable[[], None] | None = None) -> None:
        """Read what the stream gained since the last call. Raises
        :class:`SourceUnavailableError` when Redis fails (nothing read is lost: the next call
        reads from the same place)."""
        with self._lock:
            now = self.clock()
            if now >= self._day.end:
                self._day = self._new_day(now)
            while True:
                try:
                    answer: Any = self.client.xread({self.key: self._last_id}, count=BATCH)
                except redis.RedisError as exc:
                    raise SourceUnavailableError(f"reading {self.key}: {exc}") from None
                entries: list[Any] = answer[0][1] if answer else []
                for entry_id, fields in entries:
                    self._apply(fields)
                    self._last_id = _text(entry_id)
                if len(entries) < BATCH:
                    return
                if pause is not None:
                    pause()  # a day's backlog is read in slices: calls run in between

    def _apply(self, fields: Mapping[Any, Any]) -> None:
        fact = decode_entry(fields)
        if fact is None:
            return  # not an entry this reader understands: skip it, count the rest
        kind, at, data = fact.kind, fact.at, fact.data
        if at >= self._day.end:
            self._day = self._new_day(at)
        if at >= self._day.start:
            agent = data.get("agent")
            if kind in _AGENT_FACTS and isinstance(agent, str):
                self._day.agent_changed[agent] = max(at, self._day.agent_changed.get(agent, 0.0))
        try:
            # Before the day (the rolling hour's part in yesterday) the fold still notes
            # each offer's queue, so its duplicate today is not counted.
            counted = self._day.counter.count(kind, data)
        except ValueError:
            return  # a fact without the fields it needs: skip it, count the rest
        if counted is None:
            return
        if counted.kind in ("answered", "abandoned"):
            answered = counted.kind == "answered"
            self._hour.add(
                at,
                counted.queue,
                answered=answered,
                within=counted.within_target,
                short=counted.short,
            )
        if at < self._day.start:
            return
        today = self._day.queues.get(counted.queue, Today())
        if counted.kind == "offered":
            today = replace(today, offered=today.offered + 1)
        elif counted.kind == "answered":
            today = replace(
                today,
                answered=today.answered + 1,
                answered_within=today.answered_within + counted.within_target,
                wait_total=today.wait_total + counted.wait,
                latest_wait=counted.wait,
            )
        elif counted.kind == "abandoned":
            today = replace(
                today,
                abandoned=today.abandoned + 1,
                abandoned_short=today.abandoned_short + counted.short,
            )
        else:
            return
        self._day.queues[counted.queue] = today

    def today(self, queue: str) -> Today:
        """``queue``'s counts since local midnight (as of the last :meth:`update`)."""
        if self.clock() >= self._day.end:
            return Today()
        return self._day.queues.get(queue, Today())

    def hour_service_levels(self, now: float) -> dict[str, float | None]:
        """queue -> its service level over the hour before ``now`` (epoch seconds; as of
        the last :meth:`update`), :func:`wallboard.service_level.ratio`; a queue missing,
        or None, when that hour holds no call to count."""
        with self._lock:
            tallies = self._hour.tallies(now, HOUR)
        return {queue: ratio(*tally) for queue, tally in tallies.items()}

    def agent_changed(self, agent: str) -> float | None:
        """Epoch seconds of the agent's last state-changing fact today, or None."""
        return self._day.agent_changed.get(agent)


def agent_state(
    view: AgentView | AgentSupervision, passive: frozenset[str] = frozenset()
) -> AgentState | None:
    """The board's state of a routing agent (:func:`wallboard.metrics.agent_state`, the
    metrics' rule; ``passive``: the ids of passive agents); None when logged out."""
    found = metrics.agent_state(view, passive)
    for state in AGENT_STATES:
        if found == state:
            return state
    return None


class EngineSource:
    """:class:`wallboard.figures.FiguresSource` over the engine: ``snapshot`` returns
    routing's supervision view (a shared cached reader in the engine:
    ``acd.adapters.supervision``; a full ``RouterState`` is accepted too), ``events``
    today's counts. ``pause`` (optional, e.g. a short ``gevent.sleep``) is called every
    few hundred agents once a refresh has worked ~2 ms, so thousands of agents do not
    hold a cooperative engine."""

    name = "engine"

    def __init__(
        self,
        settings: BoardSettings,
        snapshot: Callable[[], RouterState | SupervisionView],
        events: EventsReader,
        clock: Callable[[], float] = time.time,
        history: History | None = None,
        *,
        pause: metrics.Pause | None = None,
    ) -> None:
        self.settings = settings
        self.pause = pause
        self.snapshot = snapshot
        self.events = events
        self.clock = clock
        self.history = history or History()
        self._seen: dict[str, tuple[AgentState, float]] = {}

    def _read(self) -> SupervisionView:
        try:
            state = as_view(self.snapshot())
        except (RoutingError, redis.RedisError) as exc:
            raise SourceUnavailableError(f"routing state: {exc}") from None
        self.events.update(self.pause)
        return state

    def board(self) -> Board:
        state = self._read()
        now = self.clock()
        pacer = None if self.pause is None else metrics.Pacer(self.pause)
        agents = self._agents(state, now, pacer)
        queues = self._queues(state, now, pacer)
        return Board(now, self.name, queues, agents, series_step=self.history.step)

    def sample(self) -> None:
        """Add a sample of every queue to the last-hour chart (the background sampler's
        work: one shared supervision read and the events read since the last call).
        Raises :class:`SourceUnavailableError`."""
        state = self._read()
        now = self.clock()
        levels = self.events.hour_service_levels(now)
        for setup in self.settings.queues:
            load = state.queues.get(setup.name)
            waiting = 0 if load is None else load.waiting
            self.history.add(setup.name, Point(now, waiting, levels.get(setup.name)))

    def _queues(
        self, state: SupervisionView, now: float, pacer: metrics.Pacer | None
    ) -> tuple[QueueFigures, ...]:
        out: list[QueueFigures] = []
        counts = {q.name: dict.fromkeys(AGENT_STATES, 0) for q in self.settings.queues}
        passive = self.settings.passive
        for done, view in enumerate(state.agents.values(), 1):
            found = agent_state(view, passive)
            if found is not None:
                for queue in view.queues:
                    if queue in counts:
                        counts[queue][found] += 1
            if pacer is not None and done % metrics.PAUSE_EVERY == 0:
                pacer.check()
        levels = self.events.hour_service_levels(now)
        for setup in self.settings.queues:
            # A caller waits until an agent answers: an offer still ringing counts.
            load = state.queues.get(setup.name)
            waiting = 0 if load is None else load.waiting
            oldest = None if load is None else load.oldest
            today = self.events.today(setup.name)
            series = self.history.add(setup.name, Point(now, waiting, levels.get(setup.name)))
            out.append(
                queue_figures(
                    setup,
                    waiting=waiting,
                    longest_wait=None if oldest is None else max(0.0, now - oldest),
                    today=today,
                    agents=AgentCounts(**counts[setup.name]),
                    series=series,
                )
            )
        return tuple(out)

    def _agents(
        self, state: SupervisionView, now: float, pacer: metrics.Pacer | None
    ) -> tuple[AgentFigure, ...]:
        shown = {q.name for q in self.settings.queues}
        out: list[AgentFigure] = []
        for done, agent_id in enumerate(sorted(state.agents), 1):
            if pacer is not None and done % metrics.PAUSE_EVERY == 0:
                pacer.check()
            view = state.agents[agent_id]
            found = agent_state(view, self.settings.passive)
            if found is None or not shown.intersection(view.queues):
                self._seen.pop(agent_id, None)
                continue
            out.append(
                AgentFigure(
                    agent_id,
                    self.settings.agent_names.get(agent_id, ""),
                    found,
                    self._seconds(agent_id, view, found, now),
                    view.pause_reason if found == "paused" else None,
                    view.queues,
                )
            )
        return tuple(out)

    def _seconds(self, agent: str, view: AgentSupervision, found: AgentState, now: float) -> float:
        """Time in state: a free agent has been idle since ``idle_since``; otherwise since
        the agent's last state-changing fact, or since this board first saw the state."""
        previous = self._seen.get(agent)
        first_seen = previous[1] if previous is not None and previous[0] == found else now
        self._seen[agent] = (found, first_seen)
        if found == "free":
            since = view.idle_since
        else:
            changed = self.events.agent_changed(agent)
            since = changed if changed is not None and changed <= now else first_seen
        return max(0.0, now - since)
