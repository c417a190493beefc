"""R-LIVECONF: the configuration file reloaded into a running engine (SIGHUP, ``POST
/api/admin/reload``), through ``acd.app.build``/``start`` on a YAML file against the
simulator and a private Redis, as ``acd run`` wires it."""

from __future__ import annotations

import copy
import datetime as dt
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest
import redis
import yaml

from acd.adapters.live import SwapGate
from acd.adapters.reload import ReloadReport, reload
from acd.app import App, build, start
from acd.config import load_config
from acd.dev.redis_server import RedisServer
from acd.engine.calendar import CalendarException
from acd.engine.effects import Fact
from acd.engine.events import AgentCommand
from freeswitch.sim import AgentPhone, Simulator
from freeswitch.sim.dialplan import SHIPPED_EXTENSIONS, Dialplan
from tests.http_api import validate_answer
from tests.test_engine_restart import EngineProcess, wait_until, write_config

ADMIN = "reload-test-admin-token-0123"
VIEWER = "reload-test-viewer-token-0123"
#: Real seconds per simulated second: a phone answering after 150 s answers after 3 s.
TIME_SCALE = 0.02


def base_config(esl_port: int, redis_url: str, tenant: str) -> dict[str, Any]:
    support = {
        "code": 1,
        "wrap_up_seconds": 0,
        "ring_timeout": 300,
        "whisper": None,
        "no_answer": {"state": "available"},
        "announcements": {"first_after": 0, "every": 60},
    }
    return {
        "tenant": tenant,
        "esl": {"host": "127.0.0.1", "port": esl_port, "password": "ClueCon"},
        "redis": {"url": redis_url},
        "http": {
            "host": "127.0.0.1",
            "port": 0,
            "tokens": [
                {"token": ADMIN, "role": "admin", "name": "ops"},
                {"token": VIEWER, "role": "viewer", "name": "board"},
            ],
        },
        "languages": ["sv", "en"],
        "skills": {"billing": "Invoices"},
        "queues": {
            "support": support,
            "sales": {**copy.deepcopy(support), "code": 2, "language": "en"},
        },
        "agents": {
            agent: {
                "pin": agent * 2,
                "contact": f"user/{agent}",
                "skills": {"billing": 2},
                "languages": ["sv", "en"],
                "queues": ["support", "sales"],
            }
            for agent in ("1001", "1002")
        },
    }


class Live:
    """A running engine built from a file, the simulator, and the engine's facts."""

    def __init__(self, app: App, sim: Simulator, path: Path, data: dict[str, Any]) -> None:
        self.app, self.sim, self.path, self.data = app, sim, path, data
        self.facts: list[Fact] = []
        app.runner.observers.append(self.facts.append)

    def write(self, data: dict[str, Any]) -> None:
        self.path.write_text(yaml.safe_dump(data))

    def reload(self, data: dict[str, Any]) -> ReloadReport:
        self.write(data)
        return reload(self.app, str(self.path))

    def wait(self, predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            gevent.sleep(0.01)

    def fact(self, kind: str, **match: object) -> Fact:
        def found() -> list[Fact]:
            return [
                f
                for f in self.facts
                if f.kind == kind and all(f.data.get(k) == v for k, v in match.items())
            ]

        self.wait(found, f"{kind} {match}")
        return found()[0]

    def login(self, agent: str, queues: tuple[str, ...]) -> None:
        self.app.runner.post(agent, AgentCommand(agent, "login", time.time(), queues))
        self.fact("agent_login", agent=agent)

    def http(self, token: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.app.http_port}/api/admin/reload",
            data=b"",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )

        def send() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    return int(reply.status), reply.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        # On a native thread: the engine and the simulator in this process keep running.
        status, content = gevent.get_hub().threadpool.apply(send)
        validate_answer("POST", "/api/admin/reload", None, status, content)  # the OpenAPI doc
        return status, json.loads(content)


@pytest.fixture
def live(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str, tmp_path: Path
) -> Iterator[Live]:
    sim = Simulator(
        port=0,
        time_scale=TIME_SCALE,
        heartbeat_interval=None,
        dialplan=Dialplan(SHIPPED_EXTENSIONS),
    ).start()
    data = base_config(sim.port, redis_server.url, tenant)
    path = tmp_path / "acd.yaml"
    path.write_text(yaml.safe_dump(data))
    app = build(load_config(path))
    app.config_path = str(path)
    start(app, connect_deadline=5.0)
    try:
        yield Live(app, sim, path, data)
    finally:
        app.stop()
        sim.stop()
    assert app.runner.counters["engine_errors"] == 0


def test_bad_file_is_refused_with_reasons_and_nothing_changes_r_liveconf(live: Live) -> None:
    app = live.app
    settings, config, state = app.engine.settings, app.config, app.router.snapshot()
    bad = copy.deepcopy(live.data)
    bad["queues"]["support"]["wrap_up_seconds"] = -5
    bad["agents"]["1001"]["queues"] = ["support", "nowhere"]
    report = live.reload(bad)
    assert report.refused == "invalid" and report.status == 422
    assert any(r.startswith("queues.support.wrap_up_seconds") for r in report.reasons)
    assert app.engine.settings is settings and app.config is config
    assert app.router.snapshot() == state

    live.path.write_text("queues: [unclosed")
    assert reload(app, str(live.path)).refused == "invalid"
    assert app.engine.settings is settings


def test_what_cannot_change_live_is_refused_by_name_r_liveconf(live: Live) -> None:
    app = live.app
    settings = app.engine.settings
    moved = copy.deepcopy(live.data)
    moved["tenant"] = "elsewhere"
    moved["http"]["port"] = 18080
    moved["queues"]["support"]["wrap_up_seconds"] = 9
    report = live.reload(moved)
    assert report.refused == "not-live" and report.status == 409
    assert [r.split(":")[0] for r in report.reasons] == ["tenant", "http.port"]
    assert app.engine.settings is settings

    # A queue with a caller waiting cannot be removed; once empty it can.
    caller = live.sim.place_call("0701000001", "7001")  # sales
    live.fact("queued", contact=caller)
    without_sales = copy.deepcopy(live.data)
    del without_sales["queues"]["sales"]
    for agent in without_sales["agents"].values():
        agent["queues"] = ["support"]
    report = live.reload(without_sales)
    assert report.refused == "in-use"
    assert report.reasons[0].startswith("queues.sales: cannot be removed while 1 caller")
    assert "sales" in app.engine.settings.queues
    live.sim.hangup(caller)
    live.fact("abandoned", contact=caller)
    report = live.reload(without_sales)
    assert report.ok and report.queues_removed == ("sales",)
    assert "sales" not in app.engine.settings.queues


def test_reload_under_load_disturbs_no_call_in_progress_r_liveconf(live: Live) -> None:
    """Callers waiting (announced), one agent ringing, one talking; the reload changes
    the queue's wrap-up, announcement cadence and ring timeout, adds an agent and a queue:
    no caller loses its place, nothing is sent to a call in progress (no announcement cut,
    no leg dropped), the ringing leg is bridged, the talking call goes on; the changes
    apply to what comes next."""
    app, sim = live.app, live.sim
    sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.5))
    live.login("1002", ("support",))
    talking = sim.place_call("0701000000", "7000")
    live.fact("bridged", contact=talking, agent="1002")
    waiting = [sim.place_call(f"070100000{i}", "7000") for i in range(1, 5)]
    for caller in waiting:
        live.fact("announced", contact=caller)
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=150))  # 3 s real
    live.login("1001", ("support",))
    ringing = waiting.pop(0)
    live.fact("offered", contact=ringing, agent="1001")

    before = app.router.snapshot()
    assert before.waiting["support"] == tuple(waiting)
    assert before.contacts[ringing].state == "reserved"
    announced = {c: before.contacts[c].announced for c in waiting}
    assert all(announced.values())
    mark = len(sim.commands_received)

    new = copy.deepcopy(live.data)
    support = new["queues"]["support"]
    support.update(wrap_up_seconds=30, ring_timeout=250)
    support["announcements"]["every"] = 7
    new["queues"]["billing"] = {"code": 3, "wrap_up_seconds": 0, "whisper": None}
    new["agents"]["1003"] = {
        "pin": "10031003",
        "contact": "user/1003",
        "skills": {"billing": 2},
        "queues": ["billing", "support"],
    }
    report = live.reload(new)

    sent = list(sim.commands_received)[mark:]
    assert report.ok, report.reasons
    assert report.queues_added == ("billing",) and report.queues_changed == ("support",)
    assert report.agents_added == ("1003",) and report.logouts == ()
    legs = [str(f.data["leg"]) for f in live.facts if f.kind == "offered"]
    in_progress = [talking, ringing, *waiting, *legs]
    assert [line for line in sent if any(uuid in line for uuid in in_progress)] == []
    after = app.router.snapshot()
    assert after.waiting["support"] == tuple(waiting)
    assert {c: after.contacts[c].announced for c in waiting} == announced
    assert after.contacts[ringing].reservation == before.contacts[ringing].reservation

    # The ringing leg answers and is bridged; the talking call is still up.
    live.fact("bridged", contact=ringing, agent="1001")
    assert talking in sim.core.channels
    assert not [f for f in live.facts if f.kind == "completed" and f.data["contact"] == talking]
    assert not [f for f in live.facts if f.kind in ("abandoned", "agent_no_answer")]

    # The new wrap-up: the talking agent rests 30 s after the call (0 s before: it would
    # have been offered the next caller at once).
    sim.hangup(talking)
    live.fact("completed", contact=talking)
    live.wait(lambda: app.router.snapshot().agents["1002"].presence == "wrap_up", "wrap-up")

    # The new cadence: the next caller's repeat is due 7 s after its first announcement.
    timers: list[tuple[str, str, float]] = []
    scheduler_set = app.runner.scheduler.set

    def spy(contact: str, kind: Any, at: float) -> None:
        timers.append((contact, kind, at - app.runner.clock()))
        scheduler_set(contact, kind, at)

    app.runner.scheduler.set = spy  # type: ignore[method-assign]
    later = sim.place_call("0701000009", "7000")
    live.fact("announced", contact=later)
    live.wait(lambda: [t for t in timers if t[0] == later and t[1] == "announce"], "a repeat")
    repeat = [t for t in timers if t[0] == later and t[1] == "announce"][-1]
    assert 5.0 < repeat[2] <= 7.0

    # The new agent serves the new queue, then rings with the new ring timeout.
    sim.add_agent_phone(AgentPhone("user/1003", answer_after=0.5))
    live.login("1003", ("billing",))
    billed = sim.place_call("0701000010", "7000", variables={"acd_queue": "billing"})
    live.fact("bridged", contact=billed, agent="1003")
    sim.hangup(billed)
    live.fact("completed", contact=billed)
    app.runner.post("1003", AgentCommand("1003", "login", time.time(), ("support",)))
    live.fact("offered", contact=waiting[0], agent="1003")
    originates = [line for line in sim.commands_received if "originate" in line]
    assert "originate_timeout=250" in originates[-1]


def test_removed_agent_on_a_call_is_logged_out_after_it_r_liveconf(live: Live) -> None:
    app, sim = live.app, live.sim
    sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.5))
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    live.login("1002", ("support", "sales"))
    live.login("1001", ("support", "sales"))
    caller = sim.place_call("0701000000", "7000")
    talking = str(live.fact("bridged", contact=caller).data["agent"])
    idle = "1001" if talking == "1002" else "1002"
    new = copy.deepcopy(live.data)
    del new["agents"][talking]
    new["agents"][idle]["queues"] = ["support"]
    report = live.reload(new)
    assert report.ok and report.agents_removed == (talking,)
    assert sorted(report.logouts) == sorted([talking, f"{idle}:sales"])
    live.wait(lambda: app.router.snapshot().agents[idle].queues == ("support",), "idle")
    agents = app.router.snapshot
    live.wait(lambda: agents().agents[talking].presence == "logged_out", "no new offers")
    assert caller in sim.core.channels  # the call goes on
    sim.hangup(caller)
    live.fact("completed", contact=caller)
    phone = app.engine.store.get_agent
    live.wait(lambda: (r := phone(talking)) is not None and r.state == "logged_out", "logout")


def test_admin_endpoint_reloads_and_answers_the_report_r_liveconf(live: Live) -> None:
    new = copy.deepcopy(live.data)
    new["queues"]["support"]["wrap_up_seconds"] = 12
    live.write(new)
    assert live.http(VIEWER)[0] == 403
    status, body = live.http(ADMIN)
    assert status == 200 and body["ok"] and body["queues_changed"] == ["support"]
    assert live.app.engine.settings.queues["support"].wrap_up_seconds == 12
    new["queues"]["support"]["ring_timeout"] = 1
    live.write(new)
    status, body = live.http(ADMIN)
    assert status == 422 and body["refused"] == "invalid"
    assert body["reasons"][0].startswith("queues.support.ring_timeout")


def test_sighup_reloads_acd_run_r_liveconf(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> None:
    sim = Simulator(password="ClueCon", port=0, time_scale=TIME_SCALE).start()
    config = write_config(tmp_path / "acd.yaml", tenant, sim.port, redis_server.url)
    engine = EngineProcess(config, tmp_path / "acd.log")
    try:
        engine.start()
        data = yaml.safe_load(config.read_text())
        data["queues"]["support"]["wrap_up_seconds"] = 17
        config.write_text(yaml.safe_dump(data))
        mark = len(engine.text())
        assert engine.process is not None
        engine.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "acd.config_reloaded" in engine.text(mark), 20, "the reload")
        assert "queues_changed=['support']" in engine.text(mark)
        config.write_text("tenant: [")
        engine.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "acd.config_reload_refused" in engine.text(mark), 20, "a refusal")
        assert engine.process.poll() is None
    finally:
        engine.stop()
        sim.stop()


def test_swap_waits_for_handlers_running_and_holds_new_ones_r_liveconf() -> None:
    """A handler that yields mid-way (a Redis call) reads the same settings before and
    after; one that starts while the swap is pending reads only the new ones."""
    gate = SwapGate()
    current = ["old"]
    release = gevent.event.Event()
    reads: list[tuple[str, str]] = []

    def handler(block: bool) -> None:
        with gate:
            first = current[0]
            if block:
                release.wait()
            reads.append((first, current[0]))

    running = gevent.spawn(handler, True)
    gevent.idle()
    swap = gevent.spawn(gate.exclusive, lambda: current.__setitem__(0, "new"), 10.0)
    gevent.idle()
    late = gevent.spawn(handler, False)
    gevent.idle()
    assert current == ["old"] and reads == []  # the swap and the late handler wait
    release.set()
    gevent.joinall([running, swap, late], raise_error=True)
    assert swap.value is True
    assert reads == [("old", "old"), ("new", "new")]


def test_swap_gives_up_when_a_handler_never_finishes_r_liveconf() -> None:
    gate = SwapGate()
    stuck = gevent.event.Event()

    def handler() -> None:
        with gate:
            stuck.wait()

    running = gevent.spawn(handler)
    gevent.idle()
    changed: list[bool] = []
    assert gate.exclusive(lambda: changed.append(True), 0.05) is False
    assert changed == []
    stuck.set()
    running.join()
    assert gate.exclusive(lambda: changed.append(True), 0.05) is True and changed == [True]


def test_reload_report_carries_check_config_warnings_r_liveconf(live: Live) -> None:
    """R-LIVECONF: an administrator reloading learns what check-config would warn about:
    here a rule that can never fire (queue length < 0)."""
    new = copy.deepcopy(live.data)
    new["queues"]["support"]["rules"] = [
        {"when": {"queue_length": "< 0"}, "then": {"overflow": "sales"}}
    ]
    report = live.reload(new)
    assert report.ok, report
    assert any(w.startswith("rule queues.support.rules #1 never fires") for w in report.warnings), (
        report.warnings
    )
    assert report.as_json()["warnings"] == list(report.warnings)


def test_reload_warns_that_api_exceptions_of_a_renamed_calendar_no_longer_apply_r_liveconf(
    live: Live,
) -> None:
    """R-LIVECONF + R-CALENDAR: an exception entered through the admin API for calendar
    office; the file renames office to kontor: the report says the exception no longer
    applies, naming the calendar."""
    hours = {"timezone": "Europe/Stockholm", "hours": {"mon-fri": ["08:00-16:00"]}}
    first = copy.deepcopy(live.data)
    first["calendars"] = {"office": hours}
    first["queues"]["support"]["calendar"] = "office"
    assert live.reload(first).ok
    watcher = live.app.hours
    assert watcher is not None
    day = dt.date.today() + dt.timedelta(days=30)
    watcher.store.add_exception("office", CalendarException(day, day, (), "Staff day"))
    watcher.poll()
    live.wait(lambda: "office" in live.app.engine.hours_state.extra, "the exception")
    renamed = copy.deepcopy(first)
    renamed["calendars"] = {"kontor": hours}
    renamed["queues"]["support"]["calendar"] = "kontor"
    report = live.reload(renamed)
    assert report.ok, report
    stale = [w for w in report.warnings if w.startswith("calendar office")]
    assert len(stale) == 1 and "no longer apply" in stale[0], report.warnings
    assert live.reload(first).ok and not any(
        w.startswith("calendar office") for w in live.reload(first).warnings
    )
