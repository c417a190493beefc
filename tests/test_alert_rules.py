"""The shipped Prometheus alerting rules and Grafana dashboard: generated from the example
configuration's thresholds, valid for promtool, firing amber (warning) and red (critical)
where the wallboard turns amber and red (R-WALLBOARD, R-STATS)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from acd.adapters.metrics import alert_rules_text, queue_limits
from acd.cli import main
from acd.config import load_config
from wallboard.alerts import QueueLimits, alert_rules_yaml
from wallboard.metrics import AcdMetrics

ROOT = Path(__file__).parent.parent
RULES = ROOT / "wallboard/prometheus/acd-alerts.yml"
DASHBOARD = ROOT / "wallboard/grafana/acd-dashboard.json"
EXAMPLE = ROOT / "examples/acd.yaml"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="needs promtool (Debian package `prometheus`)",
)


def test_shipped_rules_are_generated_from_the_example_thresholds_r_wallboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = load_config(EXAMPLE)
    assert RULES.read_text() == alert_rules_text(config), (
        "regenerate: acd alert-rules --config examples/acd.yaml > " + str(RULES.relative_to(ROOT))
    )
    # The queues' own thresholds win over wallboard.thresholds (support: 45/90 s here).
    for limits in queue_limits(config):
        merged = config.queue_thresholds(limits.queue)
        assert limits.wait_amber == merged.longest_wait_seconds.amber
        assert limits.wait_red == merged.longest_wait_seconds.red
        assert limits.agents_red == merged.agents_logged_in.red
        assert limits.service_level_amber == merged.service_level.amber
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    waits = {
        (r["labels"]["queue"], r["labels"]["severity"]): r["expr"]
        for r in rules
        if r["alert"] == "AcdLongestWait"
    }
    wait = config.queue_thresholds("support").longest_wait_seconds
    assert waits[("support", "critical")].endswith(f">= {wait.red:g}")
    # Six per queue, and the two engine-down rules once.
    assert len(rules) == 6 * len(config.queues) + 2
    assert [r["alert"] for r in rules[:2]] == ["AcdEngineDown", "AcdNoEngine"]
    assert main(["alert-rules", "--config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == RULES.read_text()


def test_engine_down_rule_names_the_scrape_job_r_wallboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``up == 0`` needs the job's name: ``--job`` sets it; a name PromQL could not quote
    plainly is refused (exit 2, nothing written)."""
    assert main(["alert-rules", "--config", str(EXAMPLE), "--job", "acd-engines"]) == 0
    rules = yaml.safe_load(capsys.readouterr().out)["groups"][0]["rules"]
    assert rules[0]["expr"] == 'up{job="acd-engines"} == 0'
    assert main(["alert-rules", "--config", str(EXAMPLE), "--job", 'x"y']) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--job" in captured.err


@needs_promtool
def test_promtool_accepts_the_shipped_rules_r_wallboard() -> None:
    done = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


SUMMARIES = {
    ("AcdLongestWait", "warning"): "waited 60 s or more",
    ("AcdLongestWait", "critical"): "waited 120 s or more",
    ("AcdFewAgents", "warning"): "at most 2 agents logged in",
    ("AcdFewAgents", "critical"): "no agent logged in",
    ("AcdServiceLevelLow", "warning"): "service level over 1h below 0.8",
    ("AcdServiceLevelLow", "critical"): "service level over 1h below 0.6",
}


def test_few_agents_summaries_read_as_english() -> None:
    """No "0 or fewer agents": the red summary of 0 says none is logged in."""
    limits = QueueLimits("q", 60.0, 120.0, 1, 0, 0.8, 0.6)
    rules = yaml.safe_load(alert_rules_yaml([limits]))["groups"][0]["rules"]
    summaries = [r["annotations"]["summary"] for r in rules if r["alert"] == "AcdFewAgents"]
    assert summaries == ["Queue q: at most 1 agent logged in", "Queue q: no agent logged in"]


def _alerts(name: str, at: str, severity: str | None = None, value: str = "") -> dict[str, Any]:
    """promtool's expectation: alert ``name`` of queue q at ``at`` with ``severity`` (and
    the figure ``value`` in its description), or none when ``severity`` is None."""
    expected = []
    if severity is not None:
        expected.append(
            {
                "exp_labels": {"severity": severity, "queue": "q"},
                "exp_annotations": {
                    "summary": "Queue q: " + SUMMARIES[(name, severity)],
                    "description": f"Queue q: {value} ({severity}).",
                },
            }
        )
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


@needs_promtool
def test_rules_fire_amber_then_red_at_the_thresholds_r_wallboard(tmp_path: Path) -> None:
    """promtool's rule unit tests on synthetic series, one sample a minute."""
    limits = QueueLimits("q", 60.0, 120.0, 2, 0, 0.8, 0.6)
    (tmp_path / "rules.yml").write_text(alert_rules_yaml([limits]))
    agents = 'acd_queue_agents{{queue="q",state="{}",instance="{}"}}'
    series = [
        # longest wait: 30 (green), 60 (amber: at the limit), 119, 120 (red), 0 again
        {"series": 'acd_queue_longest_wait_seconds{queue="q"}', "values": "30 60 119 120 0"},
        # agents logged in: 3 free, then 2 (amber) from minute 5, 0 (red) from minute 10;
        # two engines report the same figures (max over engines, not the sum).
        {"series": agents.format("free", "a"), "values": "3x4 2x4 0x4"},
        {"series": agents.format("free", "b"), "values": "3x4 2x4 0x4"},
        {"series": agents.format("busy", "a"), "values": "0x14"},
        # service level over the hour: 7 of 10 (amber) from minute 1, 10 of 20 from minute
        # 30; half the abandons are short ones, in neither part of the ratio
        {
            "series": 'acd_queue_answered_within_target_total{queue="q"}',
            "values": "0 7x29 10x30",
        },
        {"series": 'acd_queue_answered_total{queue="q"}', "values": "0 9x29 18x30"},
        {"series": 'acd_queue_abandoned_total{queue="q"}', "values": "0 2x29 4x30"},
        {"series": 'acd_queue_abandoned_short_total{queue="q"}', "values": "0 1x29 2x30"},
        # engine b cannot be scraped from minute 5 (up 0); a's figures end at minute 14
        {"series": 'up{job="acd",instance="a"}', "values": "1x60"},
        {"series": 'up{job="acd",instance="b"}', "values": "1x4 0x55"},
    ]
    down = {
        "exp_labels": {"severity": "critical", "job": "acd", "instance": "b"},
        "exp_annotations": {
            "summary": "ACD engine b is down (not scraped)",
            "description": "Prometheus cannot scrape b of job acd.",
        },
    }
    none = {
        "exp_labels": {"severity": "critical"},
        "exp_annotations": {
            "summary": "No ACD engine reports queue figures",
            "description": (
                "acd_queue_agents is absent: every engine is down or cannot read Redis,"
                " or Prometheus does not scrape them."
            ),
        },
    }
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                _alerts("AcdLongestWait", "0m"),
                _alerts("AcdLongestWait", "1m", "warning", "60"),
                _alerts("AcdLongestWait", "2m", "warning", "119"),
                _alerts("AcdLongestWait", "3m", "critical", "120"),
                _alerts("AcdLongestWait", "4m"),
                _alerts("AcdFewAgents", "4m"),
                _alerts("AcdFewAgents", "5m"),  # pending: its "for" is 1m
                _alerts("AcdFewAgents", "7m", "warning", "2"),
                _alerts("AcdFewAgents", "12m", "critical", "0"),
                _alerts("AcdServiceLevelLow", "20m", "warning", "0.7"),
                _alerts("AcdServiceLevelLow", "40m", "critical", "0.5"),
                {"eval_time": "4m", "alertname": "AcdEngineDown", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "AcdEngineDown", "exp_alerts": []},  # for 1m
                {"eval_time": "7m", "alertname": "AcdEngineDown", "exp_alerts": [down]},
                # acd_queue_agents present (0 agents is a figure, not an absence)...
                {"eval_time": "14m", "alertname": "AcdNoEngine", "exp_alerts": []},
                # ...then gone (stale 5m after its last sample at 14m), for 2m: fires.
                {"eval_time": "25m", "alertname": "AcdNoEngine", "exp_alerts": [none]},
            ],
        }
    ]
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_exprs() -> list[str]:
    """Every PromQL expression of the shipped Grafana dashboard (panels and variables)."""
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"])
    return exprs


def test_dashboard_uses_only_exported_metrics_r_wallboard() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    metrics = AcdMetrics(["q"])
    metrics.observe("bridged", {"queue": "q", "wait": 1.0}, 1.0)  # latest wait: after a call
    exported = set()
    for family in metrics.registry.collect():
        exported |= {sample.name for sample in family.samples}
    # The scrape-time families need a routing state; their names are the contract's.
    exported |= {
        "acd_queue_waiting_contacts",
        "acd_queue_longest_wait_seconds",
        "acd_queue_agents",
        "acd_agent_state",
        "acd_agent_state_seconds",
    }
    used = {name for expr in dashboard_exprs() for name in re.findall(r"\bacd_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
    titles = " ".join(panel["title"].lower() for panel in board["panels"])
    for figure in ("waiting", "longest", "service level", "agents", "abandoned", "wait"):
        assert figure in titles


def test_shipped_dashboard_is_generated_from_the_example_thresholds_r_wallboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Grafana dashboard colours each queue by its own configured thresholds (support
    45/90 s here, sales the wallboard's 60/120 s), invents none ("Waiting now" has no
    threshold in the configuration, so no colour), and picks queues from a gauge every
    engine reports from its start."""
    config = load_config(EXAMPLE)
    assert main(["grafana-dashboard", "--config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == DASHBOARD.read_text(), (
        "regenerate: acd grafana-dashboard --config examples/acd.yaml > "
        + str(DASHBOARD.relative_to(ROOT))
    )
    board = json.loads(DASHBOARD.read_text())
    panels = {panel["title"]: panel for panel in board["panels"]}

    def colours(title: str) -> dict[str, list[tuple[str, float | None]]]:
        field = panels[title]["fieldConfig"]
        # A queue the file does not know keeps the one neutral step: no invented colour.
        assert field["defaults"]["thresholds"]["steps"] == [{"color": "text", "value": None}]
        return {
            o["matcher"]["options"]: [
                (step["color"], step["value"]) for step in o["properties"][0]["value"]["steps"]
            ]
            for o in field["overrides"]
        }

    for limits in queue_limits(config):
        merged = config.queue_thresholds(limits.queue)
        wait, agents = merged.longest_wait_seconds, merged.agents_logged_in
        level = merged.service_level
        assert colours("Longest wait now")[limits.queue] == [
            ("green", None),
            ("orange", wait.amber),
            ("red", wait.red),
        ]
        assert colours("Agents logged in")[limits.queue] == [
            ("red", None),
            ("orange", agents.red + 1),
            ("green", agents.amber + 1),
        ]
        assert colours("Service level (last 1h)")[limits.queue] == [
            ("red", None),
            ("orange", level.red),
            ("green", level.amber),
        ]
    assert colours("Longest wait now")["support"][1:] == [("orange", 45), ("red", 90)]
    assert colours("Longest wait now")["sales"][1:] == [("orange", 60), ("red", 120)]
    assert colours("Waiting now") == {}
    assert panels["Waiting now"]["options"]["colorMode"] == "none"
    picker = next(v for v in board["templating"]["list"] if v["name"] == "queue")
    assert picker["definition"] == "label_values(acd_queue_waiting_contacts, queue)"
