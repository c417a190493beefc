"""The Grafana dashboard of the ACD metrics, generated from the configuration's wallboard
thresholds like the alert rules (:mod:`wallboard.alerts`), so the colours of Grafana, the
wallboard and the alerts are the same numbers (R-WALLBOARD).

``wallboard/grafana/acd-dashboard.json`` is generated from ``examples/acd.yaml`` by
``acd grafana-dashboard --config examples/acd.yaml`` (a test keeps them equal).

What is coloured, and how (each queue by its own thresholds, as a Grafana field override
on the series named after the queue; a queue the file does not know is not coloured):

* longest wait now: amber at ``wait_amber`` seconds or more, red at ``wait_red``;
* agents logged in: amber at ``agents_amber`` or fewer, red at ``agents_red`` or fewer;
* service level (over ``window``, from the counters): amber below ``service_level_amber``,
  red below ``service_level_red``.

"Waiting now" has no threshold in the configuration and so no colour. The queue picker
reads ``acd_queue_waiting_contacts``, a gauge every engine reports for every configured
queue from its start, calls or not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wallboard.alerts import QueueLimits
from wallboard.service_level import promql

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SELECTOR = '{queue=~"$queue"}'
Steps = list[dict[str, Any]]


def _steps(base: str, *marks: tuple[str, float]) -> dict[str, Any]:
    """Grafana absolute thresholds: ``base`` colour below the first mark; each mark
    ``(colour, value)`` applies at ``value`` and above."""
    steps: Steps = [{"color": base, "value": None}]
    steps += [{"color": colour, "value": value} for colour, value in marks]
    return {"mode": "absolute", "steps": steps}


def wait_steps(limits: QueueLimits) -> dict[str, Any]:
    """Longest wait: green, amber at ``wait_amber`` s, red at ``wait_red`` s (at or above)."""
    return _steps("green", ("orange", limits.wait_amber), ("red", limits.wait_red))


def agents_steps(limits: QueueLimits) -> dict[str, Any]:
    """Agents logged in (whole numbers): red at ``agents_red`` or fewer, amber at
    ``agents_amber`` or fewer, green above."""
    red, amber = limits.agents_red, limits.agents_amber
    return _steps("red", ("orange", red + 1), ("green", amber + 1))


def level_steps(limits: QueueLimits) -> dict[str, Any]:
    """Service level: red below ``service_level_red``, amber below
    ``service_level_amber``, green from there."""
    return _steps(
        "red", ("orange", limits.service_level_red), ("green", limits.service_level_amber)
    )


def _target(expr: str, legend: str, ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "refId": ref, "expr": expr, "legendFormat": legend, **extra}


def _panel(
    panel_id: int,
    kind: str,
    title: str,
    grid: tuple[int, int, int, int],
    targets: list[dict[str, Any]],
    **rest: Any,
) -> dict[str, Any]:
    """A panel of ``kind`` at ``grid`` (x, y, w, h), its keys in Grafana's own order."""
    x, y, w, h = grid
    return {
        "id": panel_id,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        **rest,
    }


def _overrides(
    queues: Sequence[QueueLimits], steps: Any, name: str = "{queue}"
) -> list[dict[str, Any]]:
    """A thresholds override per queue on the series named ``name`` (``{queue}`` is the
    queue's name)."""
    return [
        {
            "matcher": {"id": "byName", "options": name.format(queue=limits.queue)},
            "properties": [{"id": "thresholds", "value": steps(limits)}],
        }
        for limits in queues
    ]


def _stat(
    panel_id: int,
    title: str,
    x: int,
    expr: str,
    *,
    unit: str,
    overrides: list[dict[str, Any]],
    **defaults: Any,
) -> dict[str, Any]:
    return _panel(
        panel_id,
        "stat",
        title,
        (x, 0, 6, 5),
        [_target(expr, "{{queue}}")],
        # One neutral step by default (else Grafana would apply its own, red at 80): a
        # figure is coloured only by its queue's configured thresholds.
        fieldConfig={
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": _steps("text"),
                **defaults,
            },
            "overrides": overrides,
        },
        options={
            "reduceOptions": {"calcs": ["lastNotNull"]},
            "colorMode": "background" if overrides else "none",
            "textMode": "value_and_name",
        },
    )


def _series(
    panel_id: int,
    title: str,
    grid: tuple[int, int],
    targets: list[dict[str, Any]],
    *,
    unit: str,
    overrides: list[dict[str, Any]] | None = None,
    **defaults: Any,
) -> dict[str, Any]:
    custom: dict[str, Any] = dict(defaults.pop("custom", {}))
    if overrides:
        custom["thresholdsStyle"] = {"mode": "line"}
    field: dict[str, Any] = {"unit": unit, "min": 0, **defaults}
    if overrides:
        field["thresholds"] = _steps("text")  # lines only where a queue has its own
    if custom:
        field["custom"] = custom
    return _panel(
        panel_id,
        "timeseries",
        title,
        (grid[0], grid[1], 12, 8),
        targets,
        fieldConfig={"defaults": field, "overrides": overrides or []},
    )


def _heatmap(panel_id: int, title: str, x: int, histogram: str) -> dict[str, Any]:
    expr = f"sum by (le) (increase({histogram}_bucket{SELECTOR}[$__rate_interval]))"
    return _panel(
        panel_id,
        "heatmap",
        title,
        (x, 29, 12, 8),
        [_target(expr, "{{le}}", format="heatmap")],
        options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1},
    )


def dashboard(queues: Sequence[QueueLimits], window: str = "1h") -> dict[str, Any]:
    """The Grafana dashboard (a JSON-ready mapping) coloured by ``queues``' thresholds;
    ``window`` is the PromQL duration of the service level (as the alert rules')."""
    waiting = f"max by (queue) (acd_queue_waiting_contacts{SELECTOR})"
    longest = f"max by (queue) (acd_queue_longest_wait_seconds{SELECTOR})"
    latest = f"max by (queue) (acd_queue_latest_wait_seconds{SELECTOR})"
    agents = f"sum by (queue) (max by (queue, state) (acd_queue_agents{SELECTOR}))"
    level = promql(window, SELECTOR)

    def rate(counter: str) -> str:
        return f"sum by (queue) (rate({counter}{SELECTOR}[5m])) * 60"

    def quantile(q: float, histogram: str, span: str = "5m") -> str:
        inner = f"sum by (queue, le) (rate({histogram}_bucket{SELECTOR}[{span}]))"
        return f"histogram_quantile({q:g}, {inner})"

    handle = "acd_queue_talk_seconds"
    mean_handle = (
        f"sum by (queue) (rate({handle}_sum{SELECTOR}[15m]))"
        f" / sum by (queue) (rate({handle}_count{SELECTOR}[15m]))"
    )
    percent = {"min": 0, "max": 1}
    panels = [
        _stat(1, "Waiting now", 0, waiting, unit="short", overrides=[]),
        _stat(
            2, "Longest wait now", 6, longest, unit="s", overrides=_overrides(queues, wait_steps)
        ),
        _stat(
            3,
            f"Service level (last {window})",
            12,
            level,
            unit="percentunit",
            overrides=_overrides(queues, level_steps),
            **percent,
        ),
        _stat(
            4,
            "Agents logged in",
            18,
            agents,
            unit="short",
            overrides=_overrides(queues, agents_steps),
        ),
        _series(5, "Waiting contacts", (0, 5), [_target(waiting, "{{queue}}")], unit="short"),
        _series(
            6,
            "Longest and latest wait",
            (12, 5),
            [
                _target(longest, "longest {{queue}}"),
                _target(latest, "latest answered {{queue}}", "B"),
            ],
            unit="s",
            overrides=_overrides(queues, wait_steps, "longest {queue}"),
        ),
        _series(
            7,
            f"Service level (rolling {window}, from counters)",
            (0, 13),
            [_target(level, "{{queue}}")],
            unit="percentunit",
            overrides=_overrides(queues, level_steps),
            **percent,
        ),
        _series(
            8,
            "Agents by state",
            (12, 13),
            [_target(f"max by (queue, state) (acd_queue_agents{SELECTOR})", "{{queue}} {{state}}")],
            unit="short",
            custom={"stacking": {"mode": "normal", "group": "A"}},
        ),
        _series(
            9,
            "Offered / answered / abandoned per minute",
            (0, 21),
            [
                _target(rate("acd_queue_offered_total"), "offered {{queue}}"),
                _target(rate("acd_queue_answered_total"), "answered {{queue}}", "B"),
                _target(rate("acd_queue_abandoned_total"), "abandoned {{queue}}", "C"),
            ],
            unit="short",
        ),
        _series(
            10,
            "Wait percentiles (answered, abandoned)",
            (12, 21),
            [
                _target(quantile(0.5, "acd_queue_answered_wait_seconds"), "answered p50 {{queue}}"),
                _target(
                    quantile(0.9, "acd_queue_answered_wait_seconds"),
                    "answered p90 {{queue}}",
                    "B",
                ),
                _target(
                    quantile(0.5, "acd_queue_abandoned_wait_seconds"),
                    "abandoned p50 {{queue}}",
                    "C",
                ),
            ],
            unit="s",
        ),
        _heatmap(11, "Answered wait distribution", 0, "acd_queue_answered_wait_seconds"),
        _heatmap(12, "Abandoned wait distribution", 12, "acd_queue_abandoned_wait_seconds"),
        _series(
            13,
            # The histogram observes the engine's "handle" (bridge to hang-up): talk time;
            # AHT (talk + wrap-up) is in the reports (wallboard/report.py).
            "Talk time per call (bridge to hang-up)",
            (0, 37),
            [
                _target(mean_handle, "average {{queue}}"),
                _target(quantile(0.9, handle, "15m"), "p90 {{queue}}", "B"),
            ],
            unit="s",
        ),
        {
            "id": 14,
            "type": "table",
            "title": "Agents: state and time in state",
            "datasource": DATASOURCE,
            "gridPos": {"x": 12, "y": 37, "w": 12, "h": 8},
            "targets": [
                _target("max by (agent, state) (acd_agent_state) == 1", "", format="table")
                | {"instant": True},
                _target("max by (agent) (acd_agent_state_seconds)", "", "B", format="table")
                | {"instant": True},
            ],
            "transformations": [
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True, "Value #A": True},
                        "renameByName": {"Value #B": "seconds in state"},
                    },
                },
            ],
            "fieldConfig": {
                "defaults": {},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "seconds in state"},
                        "properties": [{"id": "unit", "value": "s"}],
                    }
                ],
            },
        },
    ]
    picker = "label_values(acd_queue_waiting_contacts, queue)"
    return {
        "title": "ACD queues and agents",
        "uid": "acd-queues",
        "description": (
            "ACD engine metrics (README, Metrics): counters summed, Redis-read gauges max over"
            " engines. Colours: each queue's wallboard thresholds, generated by"
            " `acd grafana-dashboard --config FILE`."
        ),
        "tags": ["acd", "contact-centre"],
        "timezone": "browser",
        "schemaVersion": 38,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                },
                {
                    "name": "queue",
                    "label": "Queue",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "definition": picker,
                    "query": {"query": picker, "refId": "queues"},
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "current": {"text": "All", "value": "$__all"},
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": panels,
    }


def dashboard_json(queues: Sequence[QueueLimits], window: str = "1h") -> str:
    """:func:`dashboard` as JSON text (2-space indent, ending in a newline)."""
    return json.dumps(dashboard(queues, window), indent=2, ensure_ascii=False) + "\n"
