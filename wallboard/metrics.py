"""Prometheus metrics of the ACD (R-WALLBOARD, R-STATS), on a registry of their own.

:class:`AcdMetrics` owns a :class:`prometheus_client.CollectorRegistry` (never the global
one, so tests and several engines in one process do not clash). Two kinds of figures:

* **Counted from engine facts** (:meth:`AcdMetrics.observe` with a fact's kind, data and
  epoch seconds; each engine process counts the calls it handled, so several engines are
  summed in PromQL):

  ====================================================  ==========================================
  ``acd_queue_offered_total{queue}``                    calls entering the queue (``queued``,
                                                        ``transferred`` into it, ``adopted`` only
                                                        when new to the queue: wallboard.facts)
  ``acd_queue_answered_total{queue}``                   calls bridged to an agent (``bridged``)
  ``acd_queue_abandoned_total{queue}``                  callers who hung up waiting (``abandoned``)
  ``acd_queue_abandoned_short_total{queue}``            of those, short abandons (wait <= the
                                                        queue's ``short_abandon_seconds``)
  ``acd_queue_overflowed_total{queue}``                 ``overflowed`` facts (a rule's overflow:
                                                        {contact, queue left, to}), in ``queue``
  ``acd_queue_callback_requested_total{queue}``         ``callback_requested`` facts (none: the
                                                        product has no call-back yet; stays 0)
  ``acd_queue_answered_within_target_total{queue}``     bridged with wait <= the queue's target
  ``acd_queue_answered_wait_seconds{queue}``            histogram: wait of answered calls
  ``acd_queue_abandoned_wait_seconds{queue}``           histogram: wait of abandoned calls
  ``acd_queue_talk_seconds{queue}``                     histogram: talk time (``completed``)
  ``acd_queue_latest_wait_seconds{queue}``              gauge: wait of the latest answered call
  ``acd_queue_service_level_ratio{queue}``              gauge: rolling service level (below)
  ``acd_metrics_errors_total{stage}``                   facts (``stage="fact"``) or scrapes
                                                        (``stage="scrape"``) that failed
  ====================================================  ==========================================

* **Read from Redis at scrape time** through ``state_provider`` (a callable returning the
  routing's :class:`routing.supervision.SupervisionView`, or a full
  :class:`routing.api.RouterState`), so every engine process reports the same values
  (aggregate them with ``max``); queues: the configured ones, every queue routing knows
  and every queue an agent is logged in to:

  ====================================================  ==========================================
  ``acd_queue_waiting_contacts{queue}``                 contacts of the queue not yet answered
                                                        (waiting, or offered to a ringing agent)
  ``acd_queue_longest_wait_seconds{queue}``             now - the oldest of those arrivals (0 if
                                                        none)
  ``acd_queue_agents{queue,state}``                     the queue's members logged in (agents
                                                        logged in to it) by state; their sum is
                                                        "logged in"
  ``acd_agent_state{agent,state}``                      1 for the agent's current state (one
                                                        series per agent; the other states have
                                                        none: select with ``== 1``)
  ``acd_agent_state_seconds{agent}``                    seconds in the current state (when known)
  ====================================================  ==========================================

Agent states (:func:`agent_state`): ``busy`` if routing has any contact assigned to the
agent (offered or in a call: a pause asked for during a call shows after it), else
``paused``, ``wrap_up`` or ``free`` from the agent's presence, except that an idle passive
agent (R-PASSIVE, who gets calls only past a queue's passive thresholds) is ``passive``,
not ``free``; ``logged_out`` agents appear only in ``acd_agent_state``.

The exposition leaves out prometheus-client's ``*_created`` series (one per labelled
child: a third of the lines, that no query of this project uses), for this registry only;
:meth:`AcdMetrics.text` keeps the text it built for ``text_max_age`` seconds, so several
scrapers hitting one engine share one build.

**Service level** (``acd_queue_service_level_ratio``): over the last ``window`` seconds
(default 3600), *answered within target / (answered + abandoned - short abandons)*, the
one definition of :mod:`wallboard.service_level` (the wallboard, alert rules and reports
use it too), with each queue's ``target_seconds`` and ``short_abandon_seconds``
(``queues.<name>.service_level``, default 20 and 5). NaN while the window holds nothing to
count. The same ratio from the counters in PromQL, exact for several engines
(:func:`wallboard.service_level.promql`)::

    sum by (queue) (increase(acd_queue_answered_within_target_total[1h]))
    / (sum by (queue) (increase(acd_queue_answered_total[1h]))
       + sum by (queue) (increase(acd_queue_abandoned_total[1h]))
       - sum by (queue) (increase(acd_queue_abandoned_short_total[1h])))

A metrics failure never raises into the caller: bad fact data or a failing
``state_provider`` (Redis down during a scrape) is logged and counted in
``acd_metrics_errors_total``; the scrape then lacks the Redis-read families.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from routing.api import AgentView, RouterState
from routing.supervision import AgentSupervision, SupervisionView, as_view
from wallboard.facts import FactFold, text
from wallboard.service_level import DEFAULT_RULE, RollingTally, ServiceLevelTarget, ratio

_log = structlog.get_logger("wallboard.metrics")

#: Seconds: the buckets of the wait histograms (answered, abandoned).
WAIT_BUCKETS: Final = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
#: Seconds: the buckets of the handle-time histogram.
HANDLE_BUCKETS: Final = (
    30.0,
    60.0,
    120.0,
    180.0,
    300.0,
    450.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    2700.0,
    3600.0,
)
AGENT_STATES: Final = ("free", "passive", "busy", "wrap_up", "paused")
#: Every value of ``acd_agent_state``'s ``state`` label.
ALL_AGENT_STATES: Final = (*AGENT_STATES, "logged_out")
DEFAULT_WINDOW: Final = 3600.0

StateProvider = Callable[[], RouterState | SupervisionView]
#: Called now and then while a scrape converts thousands of agents (e.g. a short ``gevent.sleep``
#: so a cooperative engine's calls run in between).
Pause = Callable[[], None]
#: Agents (or samples) handled between two checks of the time spent.
PAUSE_EVERY: Final = 100
#: Seconds of work after which a check calls ``Pause``.
PAUSE_AFTER: Final = 0.002
#: agent id -> (state as :func:`agent_state` names it, since epoch seconds).
SinceProvider = Callable[[], Mapping[str, tuple[str, float]]]


def agent_state(view: AgentView | AgentSupervision, passive: Collection[str] = frozenset()) -> str:
    """``free``, ``passive``, ``busy``, ``wrap_up``, ``paused`` or ``logged_out`` for a
    routing agent; ``passive``: the ids of passive agents (rules in the module docstring)."""
    if view.presence == "logged_out":
        return "logged_out"
    if view.assigned:
        return "busy"
    if view.presence == "paused":
        return "paused"
    if view.presence == "wrap_up":
        return "wrap_up"
    return "passive" if view.id in passive else "free"


class Pacer:
    """For long conversions in a cooperative engine: :meth:`check` (call it every
    ``PAUSE_EVERY`` items) calls ``pause`` when ``PAUSE_AFTER`` seconds of work passed
    since the last pause (or the start)."""

    def __init__(self, pause: Pause) -> None:
        self.pause = pause
        self.since = time.perf_counter()

    def check(self) -> None:
        if time.perf_counter() - self.since > PAUSE_AFTER:
            self.pause()
            self.since = time.perf_counter()


class _PacedSamples(list[Sample]):
    """A family's samples that check the pacer every ``PAUSE_EVERY`` while iterated:
    prometheus-client's exposition formats a family's samples in one loop over them
    (``for s in metric.samples``), 10,000 lines for 2,000 agents."""

    def __init__(self, samples: Iterable[Sample], pacer: Pacer) -> None:
        super().__init__(samples)
        self.pacer = pacer

    def __iter__(self) -> Iterator[Sample]:
        for index, sample in enumerate(super().__iter__(), 1):
            if index % PAUSE_EVERY == 0:
                self.pacer.check()
            yield sample


class _ExposedRegistry(Collector):
    """``registry``'s metrics as exposed, for ``generate_latest``: without the
    ``*_created`` samples (prometheus-client's ``disable_created_metrics()`` would drop
    them from every registry of the process; this drops them from this one), and with
    paced samples (:class:`_PacedSamples`) when ``pacer`` is given."""

    def __init__(self, registry: CollectorRegistry, pacer: Pacer | None) -> None:
        self.registry = registry
        self.pacer = pacer

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            if metric.type in _WITH_CREATED:
                metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            if self.pacer is not None:
                # Per family too: most families are small and never reach PAUSE_EVERY.
                self.pacer.check()
                metric.samples = _PacedSamples(metric.samples, self.pacer)
            yield metric


# Metric types whose prometheus-client children add a ``_created`` sample.
_WITH_CREATED: Final = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


@dataclass(frozen=True, slots=True)
class _Ended:
    """An answered or abandoned call in the service-level window."""

    at: float
    queue: str
    answered: bool
    within: bool  # answered within the target
    short: bool  # a short abandon


class AcdMetrics:
    """The ACD's metrics (names and meanings in the module docstring).

    ``queues``: queue names whose series exist from the start (at 0), so ``increase()``
    sees the first call; other queues appear with their first fact. ``targets``: queue ->
    its service-level rule (``default_target`` for the others). ``window`` in seconds
    (rolling service level). ``clock`` gives epoch seconds (the rolling window and time in
    state). ``state_provider`` (optional) is called at each
    scrape for the Redis-read gauges; ``since_provider`` (optional) gives each agent's
    current state and since when, for ``acd_agent_state_seconds`` (without it, or when it
    disagrees with routing, a free agent's ``idle_since`` is used and other states have no
    time). ``pause`` (optional) is called every few hundred agents once a scrape has
    run for ~2 ms (a cooperative engine yields there). Raises ``ValueError`` for a
    negative or non-finite window.
    """

    def __init__(
        self,
        queues: Iterable[str] = (),
        *,
        targets: Mapping[str, ServiceLevelTarget] | None = None,
        default_target: ServiceLevelTarget = DEFAULT_RULE,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.time,
        state_provider: StateProvider | None = None,
        since_provider: SinceProvider | None = None,
        pause: Pause | None = None,
        passive: Collection[str] = (),
        text_max_age: float = 0.0,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise ValueError(f"window must be a number of seconds, got {window!r}")
        if not math.isfinite(window) or window < 0:
            raise ValueError(f"window must be finite and >= 0 seconds, got {window!r}")
        if isinstance(text_max_age, bool) or not isinstance(text_max_age, int | float):
            raise ValueError(f"text_max_age must be a number of seconds, got {text_max_age!r}")
        if not 0 <= text_max_age < math.inf:
            raise ValueError(f"text_max_age must be finite and >= 0, got {text_max_age!r}")
        self.facts = FactFold(targets, default_target)
        self.passive = frozenset(passive)
        self.text_max_age = float(text_max_age)
        self.builds = 0  # expositions built (the others came from the kept text)
        self._text: tuple[float, bytes] | None = None  # (monotonic time, text)
        self.window = float(window)
        self.clock = clock
        self.queues = list(dict.fromkeys(queues))
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._rolling = RollingTally()  # the rolling service level's window
        self._seen: set[str] = set()
        reg = self.registry
        self.offered = Counter(
            "acd_queue_offered", "Calls entering the queue.", ["queue"], registry=reg
        )
        self.answered = Counter(
            "acd_queue_answered", "Calls bridged to an agent.", ["queue"], registry=reg
        )
        self.abandoned = Counter(
            "acd_queue_abandoned", "Callers who hung up while waiting.", ["queue"], registry=reg
        )
        self.overflowed = Counter(
            "acd_queue_overflowed", "Calls sent on to another queue.", ["queue"], registry=reg
        )
        self.callback_requested = Counter(
            "acd_queue_callback_requested",
            "Callers who asked to be called back.",
            ["queue"],
            registry=reg,
        )
        self.abandoned_short = Counter(
            "acd_queue_abandoned_short",
            "Short abandons: callers who hung up within the queue's short-abandon seconds.",
            ["queue"],
            registry=reg,
        )
        self.within_target = Counter(
            "acd_queue_answered_within_target",
            "Calls answered within the queue's service-level target.",
            ["queue"],
            registry=reg,
        )
        self.answered_wait = Histogram(
            "acd_queue_answered_wait_seconds",
            "Wait of answered calls, arrival to bridge.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=reg,
        )
        self.abandoned_wait = Histogram(
            "acd_queue_abandoned_wait_seconds",
            "Wait of abandoned calls, arrival to hang-up.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=reg,
        )
        self.handle = Histogram(
            "acd_queue_talk_seconds",
            "Talk time of answered calls, bridge to hang-up (AHT, with wrap-up: acd report).",
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=reg,
        )
        self.latest_wait = Gauge(
            "acd_queue_latest_wait_seconds",
            "Wait of the latest call answered by this engine.",
            ["queue"],
            registry=reg,
        )
        self.errors = Counter(
            "acd_metrics_errors",
            "Facts or scrapes the metrics could not use (logged).",
            ["stage"],
            registry=reg,
        )
        for stage in ("fact", "scrape"):
            self.errors.labels(stage=stage)
        for queue in self.queues:
            self._touch(queue)
        reg.register(_ServiceLevelCollector(self))
        if state_provider is not None:
            reg.register(_StateCollector(self, state_provider, since_provider, pause))
        self.pause = pause

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric (``generate_latest``) without
        the ``*_created`` series; the text built less than ``text_max_age`` seconds ago
        if any (shared by every scraper). With ``pause``, the formatting of thousands of
        samples pauses now and then too."""
        kept = self._text
        if kept is not None and time.monotonic() - kept[0] < self.text_max_age:
            return kept[1]
        started = time.monotonic()
        self.builds += 1
        pacer = None if self.pause is None else Pacer(self.pause)
        built = generate_latest(_ExposedRegistry(self.registry, pacer))
        self._text = (started, built)
        return built

    def target(self, queue: str) -> ServiceLevelTarget:
        """The queue's service-level rule."""
        return self.facts.target(queue)

    def _touch(self, queue: str) -> None:
        if queue in self._seen:
            return
        self._seen.add(queue)
        for family in (
            self.offered,
            self.answered,
            self.abandoned,
            self.abandoned_short,
            self.overflowed,
            self.callback_requested,
            self.within_target,
            self.answered_wait,
            self.abandoned_wait,
            self.handle,
        ):
            family.labels(queue=queue)

    # ------------------------------------------------------------------ facts

    def observe(self, kind: str, data: Mapping[str, object], at: float) -> None:
        """Count one engine fact (``kind`` and ``data`` as in ``acd.engine.effects.Fact``,
        ``at`` epoch seconds). Kinds without a metric are ignored. Never raises: bad data
        is logged and counted (``acd_metrics_errors_total{stage="fact"}``)."""
        try:
            self._observe(kind, data, at)
        except Exception as exc:  # noqa: BLE001 - metrics must never break call handling
            self.errors.labels(stage="fact").inc()
            _log.warning("wallboard.metrics_fact_failed", kind=kind, error=str(exc))

    def _observe(self, kind: str, data: Mapping[str, object], at: float) -> None:
        if kind in ("overflowed", "callback_requested"):
            queue = text(data, "queue")
            self._touch(queue)
            family = self.overflowed if kind == "overflowed" else self.callback_requested
            family.labels(queue=queue).inc()
            return
        counted = self.facts.count(kind, data)
        if counted is None:
            return
        queue, wait = counted.queue, counted.wait
        self._touch(queue)
        if counted.kind == "offered":
            self.offered.labels(queue=queue).inc()
        elif counted.kind == "answered":
            self.answered.labels(queue=queue).inc()
            self.answered_wait.labels(queue=queue).observe(wait)
            self.latest_wait.labels(queue=queue).set(wait)
            if counted.within_target:
                self.within_target.labels(queue=queue).inc()
            self._remember(_Ended(float(at), queue, True, counted.within_target, False))
        elif counted.kind == "abandoned":
            self.abandoned.labels(queue=queue).inc()
            self.abandoned_wait.labels(queue=queue).observe(wait)
            if counted.short:
                self.abandoned_short.labels(queue=queue).inc()
            self._remember(_Ended(float(at), queue, False, False, counted.short))
        else:  # completed
            self.handle.labels(queue=queue).observe(counted.handle)

    def _remember(self, ended: _Ended) -> None:
        if not math.isfinite(ended.at):
            raise ValueError(f"fact time is not finite: {ended.at!r}")
        with self._lock:
            self._rolling.add(
                ended.at,
                ended.queue,
                answered=ended.answered,
                within=ended.within,
                short=ended.short,
            )

    # ------------------------------------------------------------------ service level

    def service_levels(self, now: float | None = None) -> dict[str, float]:
        """queue -> rolling service level (0..1, NaN with no call in the window) at ``now``
        (epoch seconds, default the clock), for every queue seen."""
        now = self.clock() if now is None else now
        counts: dict[str, list[int]] = {q: [0, 0, 0, 0] for q in self._seen}
        with self._lock:
            counts.update(self._rolling.tallies(now, self.window))
        levels = {q: ratio(*tally) for q, tally in counts.items()}
        return {q: math.nan if level is None else level for q, level in levels.items()}


class _ServiceLevelCollector(Collector):
    def __init__(self, metrics: AcdMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "acd_queue_service_level_ratio",
            "Answered within target / (answered + abandoned - short abandons) over the "
            "rolling window; NaN with nothing to count.",
            labels=["queue"],
        )

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            for queue, ratio in sorted(self.metrics.service_levels().items()):
                family.add_metric([queue], ratio)
        except Exception as exc:  # noqa: BLE001 - a scrape must never fail the engine
            self.metrics.errors.labels(stage="scrape").inc()
            _log.warning("wallboard.metrics_service_level_failed", error=str(exc))
            return []
        return [family]


class _StateCollector(Collector):
    """The Redis-read gauges, computed from one supervision view per scrape."""

    def __init__(
        self,
        metrics: AcdMetrics,
        state: StateProvider,
        since: SinceProvider | None,
        pause: Pause | None = None,
    ) -> None:
        self.metrics = metrics
        self.state = state
        self.since = since
        self.pause = pause

    def describe(self) -> Iterable[Metric]:
        return list(_state_families(self.metrics.queues))

    def collect(self) -> Iterable[Metric]:
        try:
            view = as_view(self.state())
            since = self.since() if self.since is not None else {}
            now = self.metrics.clock()
            families = _state_families(
                self.metrics.queues, view, since, now, self.pause, passive=self.metrics.passive
            )
            return list(families)
        except Exception as exc:  # noqa: BLE001 - Redis down during a scrape: log, count
            self.metrics.errors.labels(stage="scrape").inc()
            _log.warning("wallboard.metrics_scrape_failed", error=str(exc))
            return []


def _state_families(
    queues: Iterable[str],
    view: SupervisionView | None = None,
    since: Mapping[str, tuple[str, float]] | None = None,
    now: float = 0.0,
    pause: Pause | None = None,
    *,
    passive: Collection[str] = frozenset(),
) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "acd_queue_waiting_contacts",
        "Contacts of the queue not yet answered (waiting or ringing an agent).",
        labels=["queue"],
    )
    longest = GaugeMetricFamily(
        "acd_queue_longest_wait_seconds",
        "Seconds the longest-waiting unanswered contact of the queue has waited.",
        labels=["queue"],
    )
    by_state = GaugeMetricFamily(
        "acd_queue_agents",
        "Members of the queue logged in, by state (passive: idle passive agents).",
        labels=["queue", "state"],
    )
    agent_state_family = GaugeMetricFamily(
        "acd_agent_state", "1 for the agent's current state.", labels=["agent", "state"]
    )
    seconds = GaugeMetricFamily(
        "acd_agent_state_seconds", "Seconds the agent has been in its state.", labels=["agent"]
    )
    families = (waiting, longest, by_state, agent_state_family, seconds)
    if view is not None:
        # Thousands of agents must not hold a cooperative engine: with ``pause``, building
        # the samples pauses now and then (formatting them too: AcdMetrics.text).
        pacer = None if pause is None else Pacer(pause)
        names = set(queues) | set(view.queues)
        counts = {(q, s): 0 for q in names for s in AGENT_STATES}
        known = since or {}
        state_samples = agent_state_family.samples
        state_name = agent_state_family.name
        for done, agent in enumerate(view.agents.values(), 1):
            state = agent_state(agent, passive)
            # One sample per agent, its current state's: the 0s of the other states were
            # five of every six lines of a scrape (2,000 agents: 10,000 lines of zeros).
            state_samples.append(Sample(state_name, {"agent": agent.id, "state": state}, 1.0, None))
            if pacer is not None and done % PAUSE_EVERY == 0:
                pacer.check()
            if state == "logged_out":
                continue
            for queue in agent.queues:
                counts[(queue, state)] = counts.get((queue, state), 0) + 1
            started = known.get(agent.id)
            if started is not None and started[0] == state:
                seconds.add_metric([agent.id], max(0.0, now - started[1]))
            elif state == "free":
                seconds.add_metric([agent.id], max(0.0, now - agent.idle_since))
        for queue in sorted(names | {q for q, _ in counts}):
            load = view.queues.get(queue)
            oldest = None if load is None else load.oldest
            waiting.add_metric([queue], 0.0 if load is None else float(load.waiting))
            longest.add_metric([queue], 0.0 if oldest is None else max(0.0, now - oldest))
        for (queue, state), count in sorted(counts.items()):
            by_state.add_metric([queue, state], float(count))
    yield from families
