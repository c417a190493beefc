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
        ("AcdFewAgents", f"{agents} <= {aa} > {ar}", "warning", "1m", f"{aa} or fewer agents"),
        ("AcdFewAgents", f"{agents} <= {ar}", "critical", "1m", f"{ar} or fewer agents"),
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


def alert_rules(queues: Iterable[QueueLimits], window: str = "1h") -> dict[str, Any]:
    """A Prometheus rule file (``groups:``) with every queue's rules, queues in the given
    order."""
    rules = [rule for limits in queues for rule in queue_rules(limits, window)]
    return {"groups": [{"name": GROUP, "rules": rules}]}


def alert_rules_yaml(queues: Iterable[QueueLimits], window: str = "1h") -> str:
    """:func:`alert_rules` as YAML text, with a header saying it is generated."""
    header = (
        "# Prometheus alerting rules for the ACD wallboard's thresholds (R-WALLBOARD).\n"
        "# Generated: acd alert-rules --config examples/acd.yaml "
        "> wallboard/prometheus/acd-alerts.yml\n"
        "# amber = severity warning, red = severity critical; see wallboard/alerts.py.\n"
    )
    body = yaml.safe_dump(alert_rules(queues, window), sort_keys=False, width=200)
    return header + body
