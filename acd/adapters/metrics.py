"""The engine's side of :mod:`wallboard.metrics`: an observer of engine facts and the
``GET /metrics`` endpoint.

``GET /metrics`` answers the Prometheus text format (``generate_latest``) and is
**unauthenticated**, like any Prometheus exporter: it tells queue sizes, agent ids and
their states, nothing a caller sent. Serve the engine's HTTP port on a trusted network (or
behind a proxy that restricts ``/metrics``) if agent ids must stay private.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import msgpack
import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from acd.config import Config
from acd.engine.effects import Fact
from acd.engine.records import AgentRecord
from routing.api import RouterState
from routing.keys import prefix
from routing.supervision import SupervisionView
from wallboard.alerts import QueueLimits, alert_rules_yaml
from wallboard.metrics import PAUSE_EVERY, AcdMetrics, Pacer
from wallboard.service_level import ServiceLevelTarget

#: The engine's phone states (acd.engine.states) as the metrics name them.
PHONE_STATES: Mapping[str, str] = {
    "available": "free",
    "ringing": "busy",
    "in_call": "busy",
    "wrap_up": "wrap_up",
    "paused": "paused",
    "logged_out": "logged_out",
}


def service_level_targets(config: Config) -> dict[str, ServiceLevelTarget]:
    """queue -> its service-level rule (``queues.<name>.service_level``: target and
    short-abandon seconds), for the metrics, the wallboard and the reports."""
    return {
        name: ServiceLevelTarget(
            q.service_level.target_seconds, q.service_level.short_abandon_seconds
        )
        for name, q in config.queues.items()
    }


def passive_agents(config: Config) -> frozenset[str]:
    """The ids of the passive agents (``agents.<id>.passive``, R-PASSIVE)."""
    return frozenset(agent_id for agent_id, agent in config.agents.items() if agent.passive)


def queue_limits(config: Config) -> list[QueueLimits]:
    """Every queue's wallboard thresholds (its own over ``wallboard.thresholds``), in the
    file's order, for :func:`wallboard.alerts.alert_rules`."""
    out = []
    for name in config.queues:
        t = config.queue_thresholds(name)
        out.append(
            QueueLimits(
                name,
                t.longest_wait_seconds.amber,
                t.longest_wait_seconds.red,
                t.agents_logged_in.amber,
                t.agents_logged_in.red,
                t.service_level.amber,
                t.service_level.red,
            )
        )
    return out


def alert_rules_text(config: Config) -> str:
    """The Prometheus alerting rules (YAML) for ``config``'s thresholds
    (``acd alert-rules``; the shipped ``wallboard/prometheus/acd-alerts.yml``)."""
    return alert_rules_yaml(queue_limits(config))


def phone_states(
    client: redis.Redis, tenant: str, pause: Callable[[], None] | None = None
) -> dict[str, tuple[str, float]]:
    """agent id -> (metrics state, since epoch seconds), read from the engine's phone
    records in Redis (``acd:{tenant}:phones``, written by every engine process). ``pause``
    (e.g. a short ``gevent.sleep``) is called every few hundred records once decoding has taken
    ~2 ms, so thousands of records do not hold a cooperative engine. Raises
    ``redis.RedisError`` when Redis fails; unreadable records are skipped."""
    out: dict[str, tuple[str, float]] = {}
    pacer = None if pause is None else Pacer(pause)
    records = (client.hgetall(prefix(tenant) + "phones") or {}).values()
    for index, raw in enumerate(records, 1):
        if pacer is not None and index % PAUSE_EVERY == 0:
            pacer.check()
        if not isinstance(raw, bytes):
            continue  # a client with decode_responses: not the engine's
        try:
            record = AgentRecord.from_wire(msgpack.unpackb(raw, raw=False))
        except (ValueError, TypeError, AttributeError, msgpack.UnpackException):
            continue
        state = PHONE_STATES.get(record.state)
        if state is not None:
            out[record.id] = (state, float(record.since))
    return out


class EngineMetrics:
    """:class:`wallboard.metrics.AcdMetrics` fed by one engine.

    ``queues``: the configured queue names; ``snapshot``: routing's supervision view (the
    engine passes its shared cached read, :class:`acd.adapters.supervision.Supervision`;
    a ``RedisRouter.snapshot`` works too, at a far higher cost) called at each scrape;
    ``phones``: agent id -> (state, since), the shared cached read too, else read from
    ``client``/``tenant``: the Redis with the phone records (time in state; neither
    leaves it to routing's ``idle_since``); ``pause``: called now and then while a scrape
    converts thousands of agents (a short ``gevent.sleep`` in the engine);
    ``targets``: queue -> service-level rule (:func:`service_level_targets`; default 20 s
    target, 5 s short abandons); ``passive``: the passive agents' ids (an idle one is
    ``passive``, not ``free``); ``text_max_age``: seconds a built exposition is served
    again (pass the shared read's ``max_age``: several scrapers share one build);
    ``clock`` epoch seconds. The instance is the runner's observer
    (``Callable[[Fact], object]``)."""

    def __init__(
        self,
        queues: Iterable[str],
        snapshot: Callable[[], RouterState | SupervisionView],
        *,
        client: redis.Redis | None = None,
        tenant: str = "",
        phones: Callable[[], Mapping[str, tuple[str, float]]] | None = None,
        pause: Callable[[], None] | None = None,
        targets: Mapping[str, ServiceLevelTarget] | None = None,
        passive: Iterable[str] = (),
        text_max_age: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock

        def since() -> Mapping[str, tuple[str, float]]:
            if phones is not None:
                return phones()
            return {} if client is None else phone_states(client, tenant)

        self.metrics = AcdMetrics(
            queues,
            targets=targets,
            clock=clock,
            state_provider=snapshot,
            since_provider=since,
            pause=pause,
            passive=frozenset(passive),
            text_max_age=text_max_age,
        )

    def reconfigure(self, config: Config) -> None:
        """Follow a reloaded configuration (R-LIVECONF): its queues for the scrape-time
        gauges, its service-level targets and passive agents; a new queue's counters start
        at its first fact, a removed queue's stay (counters never go back)."""
        self.metrics.queues = list(config.queues)
        self.metrics.passive = passive_agents(config)
        self.metrics.facts.targets = service_level_targets(config)

    def __call__(self, fact: Fact) -> None:
        # Never raises (AcdMetrics.observe logs and counts): no call depends on metrics.
        self.metrics.observe(fact.kind, fact.data, self.clock())

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return self.metrics.text()

    def blueprint(self) -> Blueprint:
        """A Flask blueprint serving ``GET /metrics`` (unauthenticated, see the module)."""
        bp = Blueprint("metrics", __name__)

        @bp.get("/metrics")
        def metrics() -> Response:
            return Response(self.text(), status=200, content_type=CONTENT_TYPE_LATEST)

        return bp
