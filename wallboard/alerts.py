"""Prometheus alerting rules for the wallboard's colour thresholds (R-WALLBOARD).

The same thresholds that turn a wallboard figure amber or red raise an alert: amber is
``severity: warning``, red is ``severity: critical`` (a warning stops when its queue turns
red, so one alert per queue and figure is active). Per queue, with the metrics of
:mod:`wallboard.metrics` aggregated over every engine:

* ``AcdLongestWait``: ``max(acd_queue_longest_wait_seconds)`` at or above the limit (s);
* ``AcdFewAgents``: agents logged in (the sum of ``acd_queue_agents`` over its states, max
  over engines) at or below the limit;
* ``AcdServiceLevelLow``: the service level of :mod:`wallboard.service_level` (answered
  within target / (answered + abandoned - short abandons)) over the last ``window``, from
  the counters (exact for several engines), below the limit; no alert while the window
  holds nothing to count.

And, once for all queues (``severity: critical``): without an engine there is no figure to
turn red, so its absence is an alert of its own:

* ``AcdEngineDown``: ``up{job="<job>"} == 0`` for 1m: Prometheus cannot scrape an engine
  (one of several, named by its ``instance`` label). ``job`` is the ``job_name`` of the
  engines' scrape job in ``prometheus.yml``: ``acd`` unless ``acd alert-rules --job``
  says otherwise.
* ``AcdNoEngine``: ``absent(acd_queue_agents)`` for 2m: no engine reports queue figures
  at all, whatever the job is called (every engine down or unable to read Redis, or the
  scrape job missing). ``acd_queue_agents`` is read from Redis at every scrape and has a
  sample per configured queue and state from the engine's start, calls or not.

``wallboard/prometheus/acd-alerts.yml`` is generated from ``examples/acd.yaml`` by
``acd alert-rules --config examples/acd.yaml`` (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from wallboard.service_level import promql

GROUP = "acd-wallboard"
#: The default ``job_name`` of the engines' scrape job (``up{job=...}``).
DEFAULT_JOB = "acd"


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """One queue's thresholds, as amber and red values: waits in seconds (at or above),
    agents logged in (at or below), service level as a share 0..1 (below)."""

    queue: str
    wait_amber: float
    wait_red: float
    agents_amber: int
    agents_red: int
    service_level_amber: float
    service_level_red: float


def _num(value: float) -> str:
    return f"{value:g}"


def _agents_text(limit: int) -> str:
    if limit <= 0:
        return "no agent logged in"
    return f"at most {limit} agent{'s' if limit != 1 else ''} logged in"


def queue_rules(limits: QueueLimits, window: str = "1h") -> list[dict[str, Any]]:
    """The six rules (3 figures x warning, critical) of one queue, as Prometheus rule
    mappings. ``window`` is a PromQL duration for the service level."""
    q = limits.queue
    sel = f'{{queue="{q}"}}'
    wait = f"max by (queue) (acd_queue_longest_wait_seconds{sel})"
    agents = f"sum by (queue) (max by (queue, state) (acd_queue_agents{sel}))"
    level = promql(window, sel)
    wa, wr = _num(limits.wait_amber), _num(limits.wait_red)
    aa, ar = _num(limits.agents_amber), _num(limits.agents_red)
    sa, sr = _num(limits.service_level_amber), _num(limits.service_level_red)
    # (alert, expression, severity, for, summary): a warning ends where critical begins.
    table = (
        ("AcdLongestWait", f"{wait} >= {wa} < {wr}", "warning", "0s", f"waited {wa} s or more"),
        ("AcdLongestWait", f"{wait} >= {wr}", "critical", "0s", f"waited {wr} s or more"),
        (
            "AcdFewAgents",
            f"{agents} <= {aa} > {ar}",
            "warning",
            "1m",
            _agents_text(limits.agents_amber),
        ),
        ("AcdFewAgents", f"{agents} <= {ar}", "critical", "1m", _agents_text(limits.agents_red)),
        (
            "AcdServiceLevelLow",
            f"({level}) < {sa} >= {sr}",
            "warning",
            "5m",
            f"service level over {window} below {sa}",
        ),
        (
            "AcdServiceLevelLow",
            f"({level}) < {sr}",
            "critical",
            "5m",
            f"service level over {window} below {sr}",
        ),
    )
    return [
        {
            "alert": name,
            "expr": expr,
            "for": duration,
            "labels": {"severity": severity, "queue": q},
            "annotations": {
                "summary": f"Queue {q}: {summary}",
                "description": f"Queue {q}: {{{{ $value }}}} ({severity}).",
            },
        }
        for name, expr, severity, duration, summary in table
    ]


def engine_rules(job: str = DEFAULT_JOB) -> list[dict[str, Any]]:
    """The two engine-down rules (see the module docstring); ``job`` is the scrape job's
    ``job_name``. Raises ``ValueError`` for a job name PromQL could not quote plainly."""
    if not job or any(c in job for c in '"\\\n'):
        raise ValueError(f"not a plain scrape job name: {job!r}")
    return [
        {
            "alert": "AcdEngineDown",
            "expr": f'up{{job="{job}"}} == 0',
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "ACD engine {{ $labels.instance }} is down (not scraped)",
                "description": f"Prometheus cannot scrape {{{{ $labels.instance }}}} of job {job}.",
            },
        },
        {
            "alert": "AcdNoEngine",
            "expr": "absent(acd_queue_agents)",
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "No ACD engine reports queue figures",
                "description": (
                    "acd_queue_agents is absent: every engine is down or cannot read Redis,"
                    " or Prometheus does not scrape them."
                ),
            },
        },
    ]


def alert_rules(
    queues: Iterable[QueueLimits], window: str = "1h", job: str = DEFAULT_JOB
) -> dict[str, Any]:
    """A Prometheus rule file (``groups:``): the engine-down rules, then every queue's
    rules, queues in the given order. Raises ``ValueError`` for a bad ``job``."""
    rules = engine_rules(job) + [rule for limits in queues for rule in queue_rules(limits, window)]
    return {"groups": [{"name": GROUP, "rules": rules}]}


def alert_rules_yaml(
    queues: Iterable[QueueLimits], window: str = "1h", job: str = DEFAULT_JOB
) -> str:
    """:func:`alert_rules` as YAML text, with a header saying it is generated."""
    header = (
        "# Prometheus alerting rules for the ACD wallboard's thresholds (R-WALLBOARD).\n"
        "# Generated: acd alert-rules --config examples/acd.yaml "
        "> wallboard/prometheus/acd-alerts.yml\n"
        "# amber = severity warning, red = severity critical; see wallboard/alerts.py.\n"
        f"# AcdEngineDown expects the engines' scrape job_name {job!r} (acd alert-rules --job).\n"
    )
    body = yaml.safe_dump(alert_rules(queues, window, job), sort_keys=False, width=200)
    return header + body
