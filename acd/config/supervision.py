"""Supervision settings: the wallboard (``wallboard:``), its colour thresholds, and each
queue's service-level target (``queues.<name>.service_level``, also used by the metrics).

Thresholds turn a wallboard figure amber or red (R-WALLBOARD):

* ``longest_wait_seconds``: amber/red when the wait is **at or above** the value (seconds);
* ``agents_logged_in``: amber/red when the count is **at or below** the value;
* ``service_level``: amber/red when the ratio (0..1) is **below** the value.

``wallboard.thresholds`` holds the defaults for every queue; ``queues.<name>.thresholds``
overrides any of its values for one queue (the rest come from the defaults). Red is never
reached before amber: a pair in the wrong order is refused, naming where each value came
from.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from acd.config.problems import CrossCheckError, Loc
from acd.config.types import DAY, Frozen, PositiveSeconds, TimeZoneName
from wallboard.figures import DEFAULT_TIME_ZONE
from wallboard.service_level import (
    DEFAULT_GOAL,
    DEFAULT_SHORT_ABANDON_SECONDS,
    DEFAULT_TARGET_SECONDS,
)

WaitLimit = Annotated[float, Field(ge=0.0, le=DAY)]
"""A wait in seconds, 0 .. one day."""
AgentCount = Annotated[int, Field(ge=0, le=100_000)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share, 0.0 .. 1.0 (0.8 = 80 %)."""

ThresholdKind = Literal["longest_wait_seconds", "agents_logged_in", "service_level"]


def order_problem(kind: ThresholdKind, amber: float, red: float) -> str | None:
    """Why ``amber``/``red`` of ``kind`` are in the wrong order, or None if they are fine."""
    if kind == "longest_wait_seconds" and red < amber:
        return f"red ({red:g} s) must be >= amber ({amber:g} s): a wait turns amber first"
    if kind == "agents_logged_in" and red > amber:
        return f"red ({red:g}) must be <= amber ({amber:g}): fewer agents turn amber first"
    if kind == "service_level" and red > amber:
        return f"red ({red:g}) must be <= amber ({amber:g}): a falling level turns amber first"
    return None


def _checked(kind: ThresholdKind, amber: float, red: float) -> None:
    reason = order_problem(kind, amber, red)
    if reason is not None:
        raise CrossCheckError([(("red",), reason)])


class WaitThresholds(Frozen):
    """Seconds; amber/red at or above."""

    amber: WaitLimit = 60.0
    red: WaitLimit = 120.0

    @model_validator(mode="after")
    def _order(self) -> WaitThresholds:
        _checked("longest_wait_seconds", self.amber, self.red)
        return self


class AgentThresholds(Frozen):
    """Agents logged in to the queue; amber/red at or below."""

    amber: AgentCount = 2
    red: AgentCount = 0

    @model_validator(mode="after")
    def _order(self) -> AgentThresholds:
        _checked("agents_logged_in", self.amber, self.red)
        return self


class ServiceLevelThresholds(Frozen):
    """Today's service level (0..1); amber/red below."""

    amber: Ratio = 0.8
    red: Ratio = 0.6

    @model_validator(mode="after")
    def _order(self) -> ServiceLevelThresholds:
        _checked("service_level", self.amber, self.red)
        return self


class Thresholds(Frozen):
    """The colour thresholds of one queue's figures (see the module docstring)."""

    longest_wait_seconds: WaitThresholds = WaitThresholds()
    agents_logged_in: AgentThresholds = AgentThresholds()
    service_level: ServiceLevelThresholds = ServiceLevelThresholds()


class WaitOverride(Frozen):
    amber: WaitLimit | None = None
    red: WaitLimit | None = None


class AgentOverride(Frozen):
    amber: AgentCount | None = None
    red: AgentCount | None = None


class ServiceLevelOverride(Frozen):
    amber: Ratio | None = None
    red: Ratio | None = None


class QueueThresholds(Frozen):
    """A queue's own thresholds: any value left out comes from ``wallboard.thresholds``."""

    longest_wait_seconds: WaitOverride = WaitOverride()
    agents_logged_in: AgentOverride = AgentOverride()
    service_level: ServiceLevelOverride = ServiceLevelOverride()

    def problems(self, defaults: Thresholds) -> list[tuple[Loc, str]]:
        """Pairs whose merged values are in the wrong order, as (path below the queue's
        ``thresholds``, reason)."""
        found: list[tuple[Loc, str]] = []
        for kind in ("longest_wait_seconds", "agents_logged_in", "service_level"):
            mine = getattr(self, kind)
            base = getattr(defaults, kind)
            amber = base.amber if mine.amber is None else mine.amber
            red = base.red if mine.red is None else mine.red
            reason = order_problem(kind, amber, red)
            if reason is not None:
                inherited = [k for k in ("amber", "red") if getattr(mine, k) is None]
                if inherited:
                    reason += f" ({' and '.join(inherited)} from wallboard.thresholds)"
                found.append(((kind,), reason))
        return found

    def resolve(self, defaults: Thresholds) -> Thresholds:
        """The merged thresholds. Raises ``CrossCheckError`` for a pair in the wrong order
        (the configuration's checks refuse such a file first)."""

        def merged(kind: ThresholdKind) -> dict[str, float | int]:
            mine, base = getattr(self, kind), getattr(defaults, kind)
            return {
                k: getattr(base if getattr(mine, k) is None else mine, k) for k in ("amber", "red")
            }

        return Thresholds(
            longest_wait_seconds=WaitThresholds(**merged("longest_wait_seconds")),
            agents_logged_in=AgentThresholds(**merged("agents_logged_in")),  # type: ignore[arg-type]
            service_level=ServiceLevelThresholds(**merged("service_level")),
        )


class ServiceLevelSettings(Frozen):
    """A queue's service-level target: ``goal`` of the calls answered within
    ``target_seconds`` (80/20 by default). The service level is the calls answered within
    the target over the calls answered or abandoned, short abandons (callers who hung up
    within ``short_abandon_seconds``) left out of both (wallboard/service_level.py)."""

    target_seconds: PositiveSeconds = DEFAULT_TARGET_SECONDS
    goal: Ratio = DEFAULT_GOAL
    short_abandon_seconds: WaitLimit = DEFAULT_SHORT_ABANDON_SECONDS
    """Seconds: an abandon at or under this wait counts in neither part of the ratio."""


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment (the wallboard adds /api/v1/...)")
    return value.rstrip("/")


class WallboardSettings(Frozen):
    """The wallboard at ``/wallboard`` (R-WALLBOARD)."""

    language: Literal["sv", "en"] = "sv"
    """Labels of the page; ``?lang=en`` in the URL overrides it."""
    prometheus_url: Annotated[str, AfterValidator(_http_url)] | None = None
    """When set (``http://prometheus:9090``), figures come from Prometheus's HTTP query
    API (PromQL); null: from the engine (routing state and the events stream)."""
    refresh_seconds: Annotated[float, Field(ge=0.5, le=300.0)] = 2.0
    """Seconds between two updates of the page."""
    time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    """The supervision time zone (an IANA name): where the wallboard's "today" starts
    (local midnight) and the half hours and days of ``acd report --config``; not the
    machine's zone, so every engine and report agrees."""
    thresholds: Thresholds = Thresholds()
    """Defaults for every queue; ``queues.<name>.thresholds`` overrides them."""
