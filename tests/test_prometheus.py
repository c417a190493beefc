"""A real Prometheus (Debian package ``prometheus``) scrapes the engine's ``/metrics``
while the simulator drives a known load; PromQL answers must equal what happened
(R-WALLBOARD, R-STATS)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gevent
import pytest

from acd.adapters.http import AdminApi
from acd.adapters.metrics import EngineMetrics
from freeswitch.sim import AgentPhone
from tests.engine_harness import Harness, Start
from tests.test_alert_rules import dashboard_exprs
from wallboard.service_level import promql as service_level_promql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="needs the prometheus binary (Debian package `prometheus`)",
    ),
]

DEADLINE = 60.0  # seconds for Prometheus to start, scrape and answer as expected


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Prometheus:
    base: str
    process: subprocess.Popen[bytes]

    def _get(self, path: str) -> object:
        def send() -> object:
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as reply:
                    return json.loads(reply.read())
            except OSError:
                return None  # not listening yet

        # On a native thread, so the engine's hub (serving /metrics) keeps running.
        return gevent.get_hub().threadpool.apply(send)

    def results(self, promql: str) -> int | None:
        """How many series ``promql`` gives now; None if Prometheus refuses it."""
        answer = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if not isinstance(answer, dict) or answer.get("status") != "success":
            return None
        return len(answer["data"]["result"])

    def query(self, promql: str) -> float | None:
        """The value of an instant query with one result; None if it has none."""
        answer = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if not isinstance(answer, dict) or answer.get("status") != "success":
            return None
        result = answer["data"]["result"]
        if len(result) != 1:
            return None
        return float(result[0]["value"][1])

    def wait_for(self, promql: str, expected: float) -> None:
        deadline = time.monotonic() + DEADLINE
        seen = self.query(promql)
        while seen != expected and time.monotonic() < deadline:
            assert self.process.poll() is None, "prometheus exited"
            gevent.sleep(0.2)  # polling interval, not a wait for an outcome
            seen = self.query(promql)
        assert seen == expected, f"{promql} = {seen}, expected {expected}"


@pytest.fixture
def engine(start: Start, tenant: str) -> Iterator[tuple[Harness, int]]:
    """The engine on the simulator with metrics on its HTTP API (free port)."""
    harness = start()
    metrics = EngineMetrics(
        harness.engine.settings.queues,
        harness.router.snapshot,
        client=harness.router.client,
        tenant=tenant,
    )
    harness.runner.observers.append(metrics)
    server = AdminApi(harness.runner, ())
    server.app.register_blueprint(metrics.blueprint())
    port = server.start("127.0.0.1", 0)
    try:
        yield harness, port
    finally:
        server.stop()


@pytest.fixture
def prometheus(engine: tuple[Harness, int], tmp_path: Path) -> Iterator[Prometheus]:
    _, engine_port = engine
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(Path(__file__).parent.parent / "wallboard/prometheus/acd-alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "acd",
                "scrape_interval": "1s",
                "scrape_timeout": "900ms",
                "static_configs": [{"targets": [f"127.0.0.1:{engine_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _count(harness: Harness, kind: str, where: Callable[[dict[str, object]], bool]) -> float:
    return float(sum(1 for fact in harness.kinds(kind) if where(dict(fact.data))))


def test_promql_answers_match_the_simulated_load_r_wallboard_r_stats(
    engine: tuple[Harness, int], prometheus: Prometheus
) -> None:
    harness, _ = engine
    sim = harness.sim
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    harness.login("1001", ("support",))
    prometheus.wait_for('max(acd_queue_agents{queue="support",state="free"})', 1.0)

    # 3 support callers answered by 1001 one after the other.
    for i in range(3):
        caller = sim.place_call(f"070000000{i}", "7000")
        harness.wait_fact("bridged", contact=caller, timeout=10.0)
        sim.hangup(caller)
        harness.wait_fact("completed", contact=caller, timeout=10.0)
    # 4 sales callers with nobody in sales: 2 hang up, 2 stay waiting.
    sales = [sim.place_call(f"070000001{i}", "7001") for i in range(4)]
    for caller in sales:
        harness.wait_fact("queued", contact=caller)
    for caller in sales[:2]:
        sim.hangup(caller)
        harness.wait_fact("abandoned", contact=caller)

    def queue_is(name: str) -> Callable[[dict[str, object]], bool]:
        return lambda data: data.get("queue") == name

    answered = _count(harness, "bridged", queue_is("support"))
    within = _count(
        harness,
        "bridged",
        lambda d: d.get("queue") == "support" and float(d["wait"]) <= 20.0,  # type: ignore[arg-type]
    )
    assert answered == 3.0 and within == 3.0
    expected = {
        'sum(acd_queue_offered_total{queue="support"})': _count(
            harness, "queued", queue_is("support")
        ),
        'sum(acd_queue_answered_total{queue="support"})': answered,
        'sum(acd_queue_answered_within_target_total{queue="support"})': within,
        'sum(acd_queue_answered_wait_seconds_count{queue="support"})': answered,
        'sum(acd_queue_talk_seconds_count{queue="support"})': _count(
            harness, "completed", queue_is("support")
        ),
        'sum(acd_queue_offered_total{queue="sales"})': _count(harness, "queued", queue_is("sales")),
        'sum(acd_queue_abandoned_total{queue="sales"})': _count(
            harness, "abandoned", queue_is("sales")
        ),
        # Short abandons: wait at or under the queue's 5 s (the default).
        'sum(acd_queue_abandoned_short_total{queue="sales"})': _count(
            harness,
            "abandoned",
            lambda d: d.get("queue") == "sales" and float(d["wait"]) <= 5.0,  # type: ignore[arg-type]
        ),
        # The one service-level PromQL (alert rules, dashboard, wallboard): 3 / 3.
        service_level_promql("10m", '{queue="support"}'): 1.0,
        'max(acd_queue_waiting_contacts{queue="sales"})': 2.0,
        'max(acd_queue_waiting_contacts{queue="support"})': 0.0,
        'max(acd_queue_agents{queue="support",state="free"})': 1.0,
        'max(acd_agent_state{agent="1001",state="free"})': 1.0,
        'sum(acd_metrics_errors_total{stage="fact"})': 0.0,
    }
    assert expected['sum(acd_queue_offered_total{queue="sales"})'] == 4.0
    assert expected['sum(acd_queue_abandoned_total{queue="sales"})'] == 2.0
    for promql, value in expected.items():
        prometheus.wait_for(promql, value)
    # The wait gauges are live: the waiting callers are counted as long as they wait.
    prometheus.wait_for('max(acd_queue_longest_wait_seconds{queue="sales"}) > bool 0', 1.0)
    for caller in sales[2:]:
        sim.hangup(caller)
    prometheus.wait_for('max(acd_queue_waiting_contacts{queue="sales"})', 0.0)
    prometheus.wait_for('sum(acd_queue_abandoned_total{queue="sales"})', 4.0)
    # The shipped rules loaded and evaluate on these series (promtool checks their syntax).
    prometheus.wait_for('count(ALERTS{alertname=~"Acd.*"}) > bool 0', 1.0)
    # Every query of the shipped Grafana dashboard is valid PromQL with data behind it.
    for expr in dashboard_exprs():
        promql = expr.replace("$queue", ".*").replace("$__rate_interval", "1m")
        if promql.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        assert prometheus.results(promql), promql
