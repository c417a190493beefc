"""The wallboard's figures: what a supervisor sees per queue and per agent, the colour of
each figure from its thresholds (R-WALLBOARD), and the protocol of the sources that
compute them (the engine directly, or Prometheus).

Units: waits and times in seconds, times of day in epoch seconds, service level as a share
0..1. This package knows nothing of the engine's configuration: ``acd`` builds a
:class:`BoardSettings` from it.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, Protocol
from zoneinfo import ZoneInfo

import structlog

from acd.errors import ACDError
from wallboard.service_level import DEFAULT_TARGET_SECONDS, ratio

Colour = Literal["green", "amber", "red"]
#: An agent's state on the board. ``passive``: a passive agent (R-PASSIVE) logged in,
#: idle and not paused, who gets calls only past a queue's passive thresholds, so is not
#: counted ``free`` for the callers waiting.
AgentState = Literal["free", "passive", "busy", "wrap_up", "paused"]
AGENT_STATES: tuple[AgentState, ...] = ("free", "passive", "busy", "wrap_up", "paused")
_RANK: Mapping[Colour, int] = {"green": 0, "amber": 1, "red": 2}
#: The supervision time zone when the configuration names none: the product is
#: Swedish-first, and "today" must not depend on the machine an engine runs on.
DEFAULT_TIME_ZONE: Final = "Europe/Stockholm"
_DEFAULT_ZONE: Final = ZoneInfo(DEFAULT_TIME_ZONE)
_log = structlog.get_logger("wallboard")


class SourceUnavailableError(ACDError):
    """The figures cannot be computed now: Redis or Prometheus failed or answered
    something unreadable. The page keeps its last figures and says they are stale."""

    slug = "wallboard-source-unavailable"


@dataclass(frozen=True, slots=True)
class Band:
    """An amber and a red threshold of one figure (their meaning depends on the figure:
    see :func:`wait_colour`, :func:`agents_colour`, :func:`service_level_colour`)."""

    amber: float
    red: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Colour thresholds of one queue: waits in seconds (at or above), agents logged in
    (at or below), service level as a share (below)."""

    longest_wait: Band = Band(60.0, 120.0)
    agents_logged_in: Band = Band(2, 0)
    service_level: Band = Band(0.8, 0.6)


@dataclass(frozen=True, slots=True)
class QueueSetup:
    """A queue on the board: its thresholds, its service-level target (seconds) and
    goal (share 0..1, drawn as the chart's dashed line)."""

    name: str
    thresholds: Thresholds = Thresholds()
    target_seconds: float = DEFAULT_TARGET_SECONDS
    goal: float = 0.8


@dataclass(frozen=True, slots=True)
class BoardSettings:
    """What the board shows and how: ``queues`` in display order, ``language`` of the
    labels (``sv``/``en``), ``refresh_seconds`` between updates, ``time_zone`` where
    "today" starts and the page's clock runs (default :data:`DEFAULT_TIME_ZONE`),
    ``agent_names`` by agent id, ``passive`` the ids of passive agents (R-PASSIVE)."""

    queues: tuple[QueueSetup, ...]
    language: str = "sv"
    refresh_seconds: float = 2.0
    time_zone: datetime.tzinfo = _DEFAULT_ZONE
    agent_names: Mapping[str, str] = field(default_factory=dict)
    passive: frozenset[str] = frozenset()

    @property
    def time_zone_name(self) -> str | None:
        """The IANA name of :attr:`time_zone` (for the page's clock), None if it has none."""
        key = getattr(self.time_zone, "key", None)
        return key if isinstance(key, str) else None

    def midnight(self, now: float) -> float:
        """Epoch seconds of the local midnight that starts the day of ``now``."""
        local = datetime.datetime.fromtimestamp(now, self.time_zone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp()


def wait_colour(seconds: float | None, band: Band) -> Colour:
    """Red at or above ``band.red`` seconds, amber at or above ``band.amber``; no wait
    (None) is green."""
    if seconds is None:
        return "green"
    if seconds >= band.red:
        return "red"
    if seconds >= band.amber:
        return "amber"
    return "green"


def agents_colour(count: int, band: Band) -> Colour:
    """Red at or below ``band.red`` agents, amber at or below ``band.amber``."""
    if count <= band.red:
        return "red"
    if count <= band.amber:
        return "amber"
    return "green"


def service_level_colour(ratio: float | None, band: Band) -> Colour:
    """Red below ``band.red``, amber below ``band.amber``; no call answered or abandoned
    yet (None) is green: nothing has missed the target."""
    if ratio is None:
        return "green"
    if ratio < band.red:
        return "red"
    if ratio < band.amber:
        return "amber"
    return "green"


def worst(colours: Iterable[Colour]) -> Colour:
    """The most severe of ``colours`` (green when empty)."""
    return max(colours, key=_RANK.__getitem__, default="green")


@dataclass(frozen=True, slots=True)
class Today:
    """One queue's counts since local midnight (definitions in :mod:`wallboard.facts` and
    :mod:`wallboard.service_level`): ``offered`` (calls entering the queue),
    ``answered`` (bridged to an agent), ``answered_within`` (of those, waited at most the
    target), ``abandoned``, ``abandoned_short`` (of those, short abandons),
    ``wait_total`` (seconds waited by the answered calls), ``latest_wait`` (seconds the
    last answered call waited; None before the first)."""

    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    wait_total: float = 0.0
    latest_wait: float | None = None
    offered: int = 0
    abandoned_short: int = 0

    @property
    def average_wait(self) -> float | None:
        return self.wait_total / self.answered if self.answered else None

    @property
    def service_level(self) -> float | None:
        """The service level (:func:`wallboard.service_level.ratio`); None before any
        call counts."""
        return ratio(self.answered_within, self.answered, self.abandoned, self.abandoned_short)


@dataclass(frozen=True, slots=True)
class AgentCounts:
    """A queue's members logged in (agents logged in to the queue, whatever their
    skills) by state (:data:`AgentState`); ``logged_in`` is their sum."""

    free: int = 0
    busy: int = 0
    wrap_up: int = 0
    paused: int = 0
    passive: int = 0

    @property
    def logged_in(self) -> int:
        return self.free + self.passive + self.busy + self.wrap_up + self.paused


@dataclass(frozen=True, slots=True)
class Point:
    """One sample of the last-hour chart: epoch seconds, callers waiting, service level
    of the hour before ``at`` (None while that hour holds no call to count)."""

    at: float
    waiting: float
    service_level: float | None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue on the board; ``colours`` names the colour of each coloured figure
    (``longest_wait``, ``latest_wait``, ``average_wait``, ``agents_logged_in``,
    ``service_level``) and ``colour`` is the worst of them. ``series`` is the last hour
    (oldest first); ``goal`` the queue's service-level goal (0..1)."""

    name: str
    waiting: int
    longest_wait: float | None
    today: Today
    agents: AgentCounts
    target_seconds: float
    colours: Mapping[str, Colour]
    series: tuple[Point, ...] = ()
    goal: float = 0.8

    @property
    def colour(self) -> Colour:
        return worst(self.colours.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "waiting": self.waiting,
            "longest_wait": self.longest_wait,
            "latest_wait": self.today.latest_wait,
            "average_wait": self.today.average_wait,
            "offered": self.today.offered,
            "answered": self.today.answered,
            "abandoned": self.today.abandoned,
            "abandoned_short": self.today.abandoned_short,
            "service_level": self.today.service_level,
            "target_seconds": self.target_seconds,
            "goal": self.goal,
            "agents": {**asdict(self.agents), "logged_in": self.agents.logged_in},
            "colours": dict(self.colours),
            "colour": self.colour,
            "series": [asdict(p) for p in self.series],
        }


def queue_figures(
    setup: QueueSetup,
    *,
    waiting: int,
    longest_wait: float | None,
    today: Today,
    agents: AgentCounts,
    series: tuple[Point, ...] = (),
) -> QueueFigures:
    """The figures of one queue with each figure's colour from ``setup.thresholds``."""
    limits = setup.thresholds
    colours: dict[str, Colour] = {
        "longest_wait": wait_colour(longest_wait, limits.longest_wait),
        "latest_wait": wait_colour(today.latest_wait, limits.longest_wait),
        "average_wait": wait_colour(today.average_wait, limits.longest_wait),
        "agents_logged_in": agents_colour(agents.logged_in, limits.agents_logged_in),
        "service_level": service_level_colour(today.service_level, limits.service_level),
    }
    return QueueFigures(
        setup.name,
        waiting,
        longest_wait,
        today,
        agents,
        setup.target_seconds,
        colours,
        series,
        setup.goal,
    )


@dataclass(frozen=True, slots=True)
class AgentFigure:
    """An agent logged in: ``state``, ``seconds`` in it (None when unknown), ``reason`` of
    a pause, the ``queues`` it serves."""

    id: str
    name: str
    state: AgentState
    seconds: float | None
    reason: str | None = None
    queues: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "queues": list(self.queues)}


@dataclass(frozen=True, slots=True)
class Board:
    """Everything the page shows at ``at`` (epoch seconds), from ``source``
    (``engine`` or ``prometheus``). ``series_step``: seconds between two chart samples (a
    longer gap is drawn as a gap). ``fallback``: why the figures come from the engine
    though Prometheus is configured (``prometheus-unreachable``), else None."""

    at: float
    source: str
    queues: tuple[QueueFigures, ...]
    agents: tuple[AgentFigure, ...]
    series_step: float = 20.0
    fallback: str | None = None

    def as_json(self, settings: BoardSettings) -> dict[str, Any]:
        """The JSON of ``GET /wallboard/data``."""
        return {
            "at": self.at,
            "source": self.source,
            "fallback": self.fallback,
            "series_step": self.series_step,
            "time_zone": settings.time_zone_name,
            "language": settings.language,
            "refresh_seconds": settings.refresh_seconds,
            "queues": [q.as_json() for q in self.queues],
            "agents": [a.as_json() for a in self.agents],
        }


class FiguresSource(Protocol):
    """Where the figures come from. ``board()`` raises :class:`SourceUnavailableError` when
    they cannot be computed now."""

    name: str

    def board(self) -> Board: ...


class History:
    """The last-hour series per queue: at most one sample per ``step`` seconds, samples
    older than ``span`` seconds dropped."""

    def __init__(self, step: float = 20.0, span: float = 3600.0) -> None:
        self.step = step
        self.span = span
        self._points: dict[str, collections.deque[Point]] = {}

    def add(self, queue: str, point: Point) -> tuple[Point, ...]:
        """Record ``point`` unless the last sample is under ``step`` old; returns the
        series, oldest first, ending with ``point`` (the current figures)."""
        line = self._points.setdefault(queue, collections.deque())
        while line and line[0].at < point.at - self.span:
            line.popleft()
        if not line or point.at - line[-1].at >= self.step:
            line.append(point)
            return tuple(line)
        return (*line, point)


class FallbackSource:
    """``primary``'s figures (Prometheus), or ``fallback``'s (the engine's own) while the
    primary is unavailable: the board never blanks because Prometheus is down. The
    primary's error (which may name an internal address) goes to the log, never to the
    page; the board says ``fallback="prometheus-unreachable"``."""

    def __init__(
        self,
        primary: FiguresSource,
        fallback: FiguresSource,
        reason: str = "prometheus-unreachable",
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.reason = reason
        self.name = primary.name

    def board(self) -> Board:
        try:
            return self.primary.board()
        except SourceUnavailableError as exc:
            _log.warning("wallboard.source_fallback", source=self.primary.name, error=str(exc))
        return dataclasses.replace(self.fallback.board(), fallback=self.reason)
