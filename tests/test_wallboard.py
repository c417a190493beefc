"""The wallboard's figures and colours (R-WALLBOARD): thresholds at their edges, figures
from hand-made routing state, today's counts from the events stream with an injected
clock, the Prometheus source against a tiny fake Prometheus, the HTTP endpoints, and the
configuration of thresholds."""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.parse
import zoneinfo
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from acd.adapters.metrics import service_level_targets
from acd.adapters.redis_store import RedisCallStore
from acd.adapters.wallboard import Sampler, board_settings, wallboard_blueprint
from acd.app import build
from acd.config import InvalidConfigError, parse_config
from acd.dev.redis_server import RedisServer
from routing.api import AgentView, ContactState, ContactView, Presence, RouterState
from tests.http_api import validate_answer
from wallboard.engine_source import BATCH, EngineSource, EventsReader
from wallboard.figures import (
    Band,
    Board,
    BoardSettings,
    FallbackSource,
    QueueSetup,
    SourceUnavailableError,
    Thresholds,
    Today,
    agents_colour,
    service_level_colour,
    wait_colour,
)
from wallboard.prometheus_source import PrometheusSource, queries
from wallboard.service_level import ServiceLevelTarget
from wallboard.web import Wallboard, blueprint

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acd.yaml"


def _at(text: str) -> float:
    """Epoch seconds of a Stockholm wall-clock time ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ colours


@pytest.mark.parametrize(
    ("seconds", "colour"),
    [
        (None, "green"),
        (0.0, "green"),
        (59.99, "green"),
        (60.0, "amber"),
        (119.9, "amber"),
        (120.0, "red"),
        (5000.0, "red"),
    ],
)
def test_wait_colour_at_or_above_r_wallboard(seconds: float | None, colour: str) -> None:
    assert wait_colour(seconds, Band(60.0, 120.0)) == colour


@pytest.mark.parametrize(
    ("count", "colour"), [(0, "red"), (1, "amber"), (2, "amber"), (3, "green"), (40, "green")]
)
def test_agents_colour_at_or_below_r_wallboard(count: int, colour: str) -> None:
    assert agents_colour(count, Band(2, 0)) == colour


@pytest.mark.parametrize(
    ("ratio", "colour"),
    [
        (None, "green"),
        (1.0, "green"),
        (0.8, "green"),
        (0.7999, "amber"),
        (0.6, "amber"),
        (0.5999, "red"),
        (0.0, "red"),
    ],
)
def test_service_level_colour_below_r_wallboard(ratio: float | None, colour: str) -> None:
    assert service_level_colour(ratio, Band(0.8, 0.6)) == colour


def test_today_service_level_counts_abandoned_calls_but_not_short_ones() -> None:
    today = Today(answered=3, answered_within=2, abandoned=1, wait_total=30.0)
    assert today.service_level == 2 / 4
    assert Today(answered=3, answered_within=2, abandoned=3, abandoned_short=2).service_level == (
        2 / 4
    )
    assert Today(abandoned=1, abandoned_short=1).service_level is None  # nothing to judge
    assert today.average_wait == 10.0
    assert Today().service_level is None and Today().average_wait is None


def test_midnight_follows_the_time_zone_across_a_clock_change() -> None:
    settings = BoardSettings((), time_zone=STOCKHOLM)
    # 29 March 2026: clocks go forward at 02:00, the day has 23 hours.
    assert settings.midnight(_at("2026-03-29 15:00:00")) == _at("2026-03-29 00:00:00")
    assert _at("2026-03-30 00:00:00") - _at("2026-03-29 00:00:00") == 23 * 3600
    assert settings.midnight(_at("2026-03-30 00:00:00")) == _at("2026-03-30 00:00:00")


# ------------------------------------------------------------------ engine source


def agent(
    agent_id: str,
    queues: tuple[str, ...],
    presence: Presence = "ready",
    *,
    busy_with: str | None = None,
    idle_since: float = 0.0,
    reason: str | None = None,
) -> AgentView:
    assigned: tuple[tuple[str, ContactState], ...] = (
        ((busy_with, "busy"),) if busy_with is not None else ()
    )
    return AgentView(
        agent_id,
        (),
        ("sv",),
        False,
        1,
        1,
        presence,
        reason,
        None,
        idle_since,
        queues,
        (len(assigned), 0, 0),
        assigned,
    )


def contact(contact_id: str, queue: str, arrival: float, state: ContactState) -> ContactView:
    return ContactView(
        contact_id,
        "voice",
        queue,
        (queue,),
        (),
        "sv",
        0,
        arrival,
        0,
        state,
        None,
        None,
        None,
        0,
        1 if state != "waiting" else 0,
        None,
        None,
        None,
        0,
    )


def router_state(agents: list[AgentView], contacts: list[ContactView]) -> RouterState:
    return RouterState(
        agents={a.id: a for a in agents},
        contacts={c.id: c for c in contacts},
        waiting={},
        targeted={},
        reservations={},
        timers=(),
        stats={},
    )


SUPPORT = QueueSetup("support", Thresholds(Band(30, 60), Band(2, 0), Band(0.8, 0.6)), 20.0)
SALES = QueueSetup("sales", Thresholds(Band(10, 20), Band(1, 0), Band(0.9, 0.5)), 10.0)


@pytest.fixture
def store(redis_client: redis.Redis, tenant: str) -> RedisCallStore:
    return RedisCallStore(redis_client, tenant)


def reader(
    redis_client: redis.Redis, tenant: str, clock: Clock, settings: BoardSettings
) -> EventsReader:
    targets = {q.name: ServiceLevelTarget(q.target_seconds) for q in settings.queues}
    return EventsReader(redis_client, tenant, targets, settings.midnight, clock)


def test_figures_and_colours_from_routing_state_r_wallboard(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    now = _at("2026-06-10 10:00:00")
    clock = Clock(now)
    settings = BoardSettings((SUPPORT, SALES), time_zone=STOCKHOLM, agent_names={"1": "Anna"})
    state = router_state(
        [
            agent("1", ("sales", "support"), busy_with="c9", idle_since=now - 500),
            agent("2", ("support",), idle_since=now - 42.0),
            agent("3", ("support",), "paused", reason="lunch"),
            agent("4", ("support",), "wrap_up"),
            agent("5", ("support",), "logged_out"),
            agent("6", ("other",), idle_since=now - 1.0),  # not on this board
        ],
        [
            contact("c1", "support", now - 75.0, "waiting"),  # longest: red at 60
            contact("c2", "support", now - 5.0, "reserved"),  # still waiting: ringing
            contact("c9", "support", now - 300.0, "busy"),  # talking: not waiting
            contact("c3", "sales", now - 12.0, "waiting"),  # amber at 10
        ],
    )
    store.log_fact("agent_pause", {"agent": "3", "reason": "lunch"}, now - 90.0)
    store.log_fact(
        "bridged", {"contact": "c9", "agent": "1", "queue": "support", "wait": 8.0}, now - 60
    )
    store.flush()
    source = EngineSource(
        settings, lambda: state, reader(redis_client, tenant, clock, settings), clock
    )
    board = source.board()
    support, sales = board.queues
    assert (support.waiting, support.longest_wait) == (2, 75.0)
    assert (support.agents.free, support.agents.busy) == (1, 1)
    assert (support.agents.paused, support.agents.wrap_up, support.agents.logged_in) == (1, 1, 4)
    assert support.colours == {
        "longest_wait": "red",
        "latest_wait": "green",
        "average_wait": "green",
        "agents_logged_in": "green",
        "service_level": "green",
    }
    assert support.colour == "red"
    assert (support.today.answered, support.today.latest_wait) == (1, 8.0)
    assert (sales.waiting, sales.longest_wait, sales.agents.logged_in) == (1, 12.0, 1)
    assert (sales.colours["longest_wait"], sales.colours["agents_logged_in"]) == ("amber", "amber")
    agents = {a.id: a for a in board.agents}
    assert sorted(agents) == ["1", "2", "3", "4"]
    assert (agents["1"].state, agents["1"].name, agents["1"].seconds) == ("busy", "Anna", 60.0)
    assert (agents["2"].state, agents["2"].seconds) == ("free", 42.0)
    assert (agents["3"].state, agents["3"].reason, agents["3"].seconds) == ("paused", "lunch", 90.0)
    assert (agents["4"].state, agents["4"].seconds) == ("wrap_up", 0.0)  # no fact: first seen
    clock.now += 7.0
    assert {a.id: a.seconds for a in source.board().agents}["4"] == 7.0
    payload = board.as_json(settings)
    assert payload["queues"][0]["agents"]["logged_in"] == 4
    assert payload["queues"][0]["colour"] == "red"
    # Plain JSON all the way down, as the OpenAPI document says GET /wallboard/data answers.
    validate_answer("GET", "/wallboard/data", None, 200, json.dumps(payload).encode())


def test_no_agent_and_nobody_waiting_turns_only_agents_red_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    clock = Clock(_at("2026-06-10 10:00:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    source = EngineSource(
        settings, lambda: router_state([], []), reader(redis_client, tenant, clock, settings), clock
    )
    (support,) = source.board().queues
    assert (support.waiting, support.longest_wait, support.agents.logged_in) == (0, None, 0)
    assert support.colours["agents_logged_in"] == "red"
    assert [k for k, v in support.colours.items() if v != "green"] == ["agents_logged_in"]


def test_events_accumulate_incrementally_from_midnight_r_wallboard(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    clock = Clock(_at("2026-06-10 23:50:00"))
    settings = BoardSettings((SUPPORT, SALES), time_zone=STOCKHOLM)
    # Yesterday's answer is not today's.
    store.log_fact(
        "bridged", {"queue": "support", "agent": "1", "wait": 3.0}, _at("2026-06-09 23:59:59")
    )
    store.log_fact(
        "bridged", {"queue": "support", "agent": "1", "wait": 20.0}, _at("2026-06-10 08:00:00")
    )
    store.log_fact(
        "bridged", {"queue": "support", "agent": "2", "wait": 20.5}, _at("2026-06-10 09:00:00")
    )
    store.log_fact(
        "abandoned", {"queue": "support", "wait": 4.0, "cause": "x"}, _at("2026-06-10 09:30:00")
    )
    store.log_fact("queued", {"queue": "support", "contact": "c"}, _at("2026-06-10 09:31:00"))
    # A restarted engine adopts c: the same arrival, offered once; a transfer into sales
    # and back enters each queue again.
    store.log_fact("adopted", {"queue": "support", "contact": "c"}, _at("2026-06-10 09:32:00"))
    store.log_fact("transferred", {"queue": "sales", "contact": "c"}, _at("2026-06-10 09:33:00"))
    store.log_fact("transferred", {"queue": "support", "contact": "c"}, _at("2026-06-10 09:34:00"))
    store.flush()
    events = reader(redis_client, tenant, clock, settings)
    events.update()
    first = events.today("support")
    # 20 s is within a 20 s target, 20.5 s is not; the abandon after 4 s is a short one
    # (<= 5 s), in neither part of the service level: 1 / (2 + 1 - 1).
    assert (first.answered, first.answered_within, first.abandoned) == (2, 1, 1)
    assert (first.abandoned_short, first.offered, events.today("sales").offered) == (1, 2, 1)
    assert (first.wait_total, first.latest_wait, first.service_level) == (40.5, 20.5, 0.5)
    events.update()  # nothing new: nothing counted twice
    assert events.today("support") == first
    store.log_fact(
        "bridged", {"queue": "sales", "agent": "2", "wait": 2.0}, _at("2026-06-10 23:55:00")
    )
    store.flush()
    events.update()
    assert events.today("sales").answered == 1 and events.today("support") == first
    assert events.agent_changed("2") == _at("2026-06-10 23:55:00")
    # After midnight the day starts again, from the facts of the new day only.
    clock.now = _at("2026-06-11 00:10:00")
    store.log_fact("abandoned", {"queue": "sales", "wait": 1.0}, _at("2026-06-11 00:05:00"))
    store.flush()
    events.update()
    assert events.today("support") == Today()
    assert (events.today("sales").answered, events.today("sales").abandoned) == (0, 1)


def test_a_new_reader_starts_at_local_midnight_r_wallboard(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    """Every engine process writes one stream, so a reader started later counts the same
    as one that read all day."""
    clock = Clock(_at("2026-06-10 12:00:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    early = reader(redis_client, tenant, clock, settings)
    early.update()
    for minute, wait in enumerate([5.0, 25.0, 1.0]):
        at = _at(f"2026-06-10 11:0{minute}:00")
        store.log_fact("bridged", {"queue": "support", "agent": "1", "wait": wait}, at)
        store.flush()
        early.update()
    late = reader(redis_client, tenant, clock, settings)
    late.update()
    assert late.today("support") == early.today("support")
    assert early.today("support").answered_within == 2


def test_unreadable_stream_entries_are_skipped(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    clock = Clock(_at("2026-06-10 12:00:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    redis_client.xadd(f"acd:{{{tenant}}}:events", {"k": "bridged", "t": "soon", "d": b"\xc1"})
    redis_client.xadd(f"acd:{{{tenant}}}:events", {"k": "bridged", "t": "1.0", "d": b"\xc1"})
    store.log_fact("abandoned", {"queue": "support", "wait": 1.0}, _at("2026-06-10 11:00:00"))
    store.flush()
    events = reader(redis_client, tenant, clock, settings)
    events.update()
    assert events.today("support") == Today(abandoned=1, abandoned_short=1)


def test_redis_down_is_source_unavailable(tenant: str) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.5)
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    clock = Clock(_at("2026-06-10 12:00:00"))
    events = EventsReader(dead, tenant, {}, settings.midnight, clock)
    with pytest.raises(SourceUnavailableError):
        events.update()


# ------------------------------------------------------------------ Prometheus source


class FakePrometheus:
    """Answers /api/v1/query and /api/v1/query_range with ``answer(path, params)`` (the
    result list); records every request's parameters."""

    def __init__(self, answer: Callable[[str, dict[str, str]], list[dict[str, Any]]]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                fake.requests.append((url.path, params))
                if fake.fail:
                    body: dict[str, Any] = {"status": "error", "error": "query timed out"}
                else:
                    kind = "matrix" if url.path.endswith("query_range") else "vector"
                    result = fake.answer(url.path, params)
                    body = {"status": "success", "data": {"resultType": kind, "result": result}}
                raw = json.dumps(body).encode()
                self.send_response(422 if fake.fail else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _vector(rows: list[tuple[dict[str, str], str]]) -> list[dict[str, Any]]:
    return [{"metric": labels, "value": [0, value]} for labels, value in rows]


def test_prometheus_source_figures_from_promql_r_wallboard() -> None:
    now = _at("2026-06-10 10:00:00")
    settings = BoardSettings((SUPPORT, SALES), time_zone=STOCKHOLM, agent_names={"1001": "Anna"})
    promql = queries(10 * 3600)
    answers = {
        promql["waiting"]: _vector([({"queue": "support"}, "3"), ({"queue": "sales"}, "0")]),
        promql["longest_wait"]: _vector(
            [({"queue": "support"}, "61.5"), ({"queue": "sales"}, "9")]
        ),
        promql["latest_wait"]: _vector([({"queue": "support"}, "12")]),
        promql["agents"]: _vector(
            [
                ({"queue": "support", "state": "free"}, "1"),
                ({"queue": "support", "state": "busy"}, "2"),
                ({"queue": "support", "state": "paused"}, "1"),
                ({"queue": "sales", "state": "busy"}, "1"),
            ]
        ),
        # increase() extrapolates: counts come back a little off whole numbers.
        promql["answered"]: _vector([({"queue": "support"}, "10.2")]),
        promql["answered_within"]: _vector([({"queue": "support"}, "7.9")]),
        promql["abandoned"]: _vector([({"queue": "support"}, "2.1"), ({"queue": "sales"}, "NaN")]),
        promql["abandoned_short"]: _vector([({"queue": "support"}, "0.9")]),
        promql["offered"]: _vector([({"queue": "support"}, "14.2")]),
        promql["wait_sum"]: _vector([({"queue": "support"}, "153")]),
        promql["agent_state"]: _vector(
            [({"agent": "1001", "state": "busy"}, "1"), ({"agent": "1002", "state": "free"}, "1")]
        ),
        promql["agent_seconds"]: _vector([({"agent": "1001"}, "75"), ({"agent": "1002"}, "4")]),
    }
    series = [{"metric": {"queue": "support"}, "values": [[now - 120, "1"], [now - 60, "3"]]}]
    levels = [{"metric": {"queue": "support"}, "values": [[now - 120, "0.75"], [now - 60, "0.7"]]}]

    def answer(path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        if path.endswith("query_range"):
            assert float(params["end"]) - float(params["start"]) == 3600
            return series if "waiting" in params["query"] else levels
        return answers.get(params["query"], [])

    with FakePrometheus(answer) as fake:
        board = PrometheusSource(settings, fake.url, Clock(now)).board()
    assert board.source == "prometheus"
    payload = json.dumps(board.as_json(settings)).encode()
    validate_answer("GET", "/wallboard/data", None, 200, payload)  # the OpenAPI document's
    support, sales = board.queues
    assert (support.waiting, support.longest_wait, support.today.latest_wait) == (3, 61.5, 12.0)
    assert (support.today.answered, support.today.answered_within, support.today.abandoned) == (
        10,
        8,
        2,
    )
    assert (support.today.offered, support.today.abandoned_short) == (14, 1)
    # The one service-level definition: 8 within / (10 answered + 2 abandoned - 1 short).
    assert support.today.service_level == pytest.approx(8 / 11)
    assert support.today.average_wait == pytest.approx(153 / 10.2)
    assert (support.agents.free, support.agents.busy, support.agents.paused) == (1, 2, 1)
    assert support.colours["longest_wait"] == "red" and support.colours["service_level"] == "amber"
    assert [(p.waiting, p.service_level) for p in support.series] == [(1, 0.75), (3, 0.7)]
    # Nobody waiting: a stale longest-wait gauge does not colour the queue.
    assert (sales.waiting, sales.longest_wait, sales.today.abandoned) == (0, None, 0)
    assert [(a.id, a.name, a.state, a.seconds) for a in board.agents] == [
        ("1001", "Anna", "busy", 75.0),
        ("1002", "", "free", 4.0),
    ]
    instant = [p for path, p in fake.requests if path == "/api/v1/query"]
    assert {p["query"] for p in instant} == set(promql.values())
    assert all(float(p["time"]) == now for p in instant)
    # "Today" is the range from local midnight: 10 hours.
    assert "[36000s]" in promql["answered"]


def test_prometheus_errors_are_source_unavailable() -> None:
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    with FakePrometheus(lambda path, params: []) as fake:
        fake.fail = True
        with pytest.raises(SourceUnavailableError, match="query timed out"):
            PrometheusSource(settings, fake.url).board()
    with pytest.raises(SourceUnavailableError):
        PrometheusSource(settings, "http://127.0.0.1:1").board()


# ------------------------------------------------------------------ HTTP


class CountingSource:
    name = "fake"

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def board(self) -> Board:
        self.calls += 1
        if self.fail:
            raise SourceUnavailableError("redis 10.1.2.3:6379: connection refused")
        return Board(1.0, self.name, (), ())


@pytest.fixture
def web() -> Iterator[tuple[Flask, CountingSource, Clock]]:
    source = CountingSource()
    clock = Clock(100.0)
    settings = BoardSettings((), language="en", refresh_seconds=2.0)
    app = Flask("test")
    app.register_blueprint(blueprint(Wallboard(settings, source, clock), "s3cret".__eq__))
    yield app, source, clock


def test_page_is_served_and_data_needs_a_token(web: tuple[Flask, CountingSource, Clock]) -> None:
    app, source, clock = web
    client = app.test_client()
    for path in ("/wallboard", "/wallboard/static/wallboard.js", "/wallboard/static/wallboard.css"):
        with client.get(path) as reply:
            assert reply.status_code == 200
            if path == "/wallboard":
                assert b"/wallboard/static/wallboard.js" in reply.data
    assert client.get("/wallboard/data").status_code == 401
    assert client.get("/wallboard/data?token=wrong").status_code == 401
    assert source.calls == 0
    by_query = client.get("/wallboard/data?token=s3cret")
    assert by_query.status_code == 200 and by_query.json == {
        "at": 1.0,
        "source": "fake",
        "fallback": None,
        "series_step": 20.0,
        "time_zone": "Europe/Stockholm",
        "language": "en",
        "refresh_seconds": 2.0,
        "queues": [],
        "agents": [],
    }
    by_header = client.get("/wallboard/data", headers={"Authorization": "Bearer s3cret"})
    assert by_header.status_code == 200
    assert source.calls == 1  # within max_age: computed once for every screen
    clock.now += 1.0
    source.fail = True
    down = client.get("/wallboard/data?token=s3cret")
    assert down.status_code == 503 and down.json is not None
    assert down.json["error"] == "wallboard-source-unavailable"
    # R-WALLBOARD: a viewer never learns an internal address from an error.
    assert "10.1.2.3" not in down.get_data(as_text=True)


def test_without_a_token_check_the_figures_are_open() -> None:
    app = Flask("test")
    settings = BoardSettings(())
    app.register_blueprint(blueprint(Wallboard(settings, CountingSource()), None))
    assert app.test_client().get("/wallboard/data").status_code == 200


def test_engine_glue_accepts_any_api_token(redis_client: redis.Redis) -> None:
    config = parse_config(EXAMPLE.read_text())
    app = Flask("test")
    app.register_blueprint(wallboard_blueprint(config, redis_client, lambda: router_state([], [])))
    client = app.test_client()
    viewer = next(t.token for t in config.http.tokens if t.role == "viewer")
    assert client.get("/wallboard/data").status_code == 401
    answer = client.get(f"/wallboard/data?token={viewer}")
    assert answer.status_code == 200 and answer.json is not None
    validate_answer("GET", f"/wallboard/data?token={viewer}", None, 200, answer.data)
    assert [q["name"] for q in answer.json["queues"]] == list(config.queues)
    assert answer.json["source"] == "engine" and answer.json["language"] == "sv"


def test_the_engine_serves_the_wallboard_r_wallboard(redis_server: RedisServer) -> None:
    """``acd.app.build`` registers the wallboard on the HTTP API's server."""
    config = parse_config(EXAMPLE.read_text())
    app = build(config, redis_url=redis_server.url)
    try:
        assert app.sampler is not None
        app.sampler.sample()
        client = app.http.app.test_client()
        viewer = next(t.token for t in config.http.tokens if t.role == "viewer")
        answer = client.get("/wallboard/data", headers={"Authorization": f"Bearer {viewer}"})
        assert answer.status_code == 200 and answer.json is not None
        validate_answer("GET", "/wallboard/data", None, 200, answer.data)
        support = answer.json["queues"][0]
        assert (support["name"], support["waiting"], support["colour"]) == ("support", 0, "red")
        assert support["colours"]["agents_logged_in"] == "red"  # nobody logged in
        # The chart's background sampler (acd.app.start starts it) sampled before any
        # board asked: the series has its sample and the board's own point.
        assert len(support["series"]) == 2
    finally:
        app.redis.close()


# ------------------------------------------------------------------ configuration


def test_example_thresholds_override_per_queue_r_wallboard() -> None:
    config = parse_config(EXAMPLE.read_text())
    settings = board_settings(config)
    support, sales = settings.queues
    assert support.thresholds.longest_wait == Band(45, 90)  # the queue's own
    assert support.thresholds.agents_logged_in == Band(2, 0)  # from wallboard.thresholds
    assert sales.thresholds.longest_wait == Band(60, 120)
    assert (support.target_seconds, sales.target_seconds) == (20.0, 30.0)


def test_supervision_time_zone_and_short_abandons_default_r_wallboard() -> None:
    """Without ``wallboard.time_zone`` "today" is Stockholm's, whatever the machine's zone;
    a queue without ``short_abandon_seconds`` leaves abandons of 5 s or less out."""
    text = EXAMPLE.read_text()
    assert "\n  time_zone:" not in text  # the example leaves it to the default
    config = parse_config(text)
    assert board_settings(config).time_zone == STOCKHOLM
    rules = service_level_targets(config)
    assert rules["support"] == ServiceLevelTarget(20.0, 5.0)
    assert rules["sales"] == ServiceLevelTarget(30.0, 5.0)
    other = parse_config(_with(wallboard="wallboard:\n  time_zone: America/New_York"))
    assert board_settings(other).time_zone == zoneinfo.ZoneInfo("America/New_York")


def _problems(text: str) -> list[str]:
    with pytest.raises(InvalidConfigError) as info:
        parse_config(text)
    return [f"{p.path}: {p.reason}" for p in info.value.problems]


def _with(queue_lines: str = "", wallboard: str = "") -> str:
    text = EXAMPLE.read_text()
    anchor = "    priority_transfer_priority: 100\n"
    text = text.replace(anchor, anchor + queue_lines)
    if wallboard:
        start = text.index("wallboard:\n")
        end = text.index("\n\n", start)
        text = text[:start] + wallboard + text[end:]
    return text


@pytest.mark.parametrize(
    ("wallboard", "path", "reason"),
    [
        ("wallboard:\n  colour: red", "wallboard.colour", "unknown key"),
        ("wallboard:\n  language: de", "wallboard.language", "'sv' or 'en'"),
        ("wallboard:\n  refresh_seconds: 0", "wallboard.refresh_seconds", ">= 0.5"),
        ("wallboard:\n  prometheus_url: ftp://x", "wallboard.prometheus_url", "http://"),
        ("wallboard:\n  time_zone: Mars/Base", "wallboard.time_zone", "unknown time zone"),
        (
            "wallboard:\n  thresholds:\n    longest_wait_seconds: {amber: 90, red: 30}",
            "wallboard.thresholds.longest_wait_seconds.red",
            "must be >= amber (90 s)",
        ),
        (
            "wallboard:\n  thresholds:\n    agents_logged_in: {amber: 1, red: 2}",
            "wallboard.thresholds.agents_logged_in.red",
            "must be <= amber (1)",
        ),
        (
            "wallboard:\n  thresholds:\n    service_level: {amber: 1.5}",
            "wallboard.thresholds.service_level.amber",
            "<= 1",
        ),
        (
            "wallboard:\n  thresholds:\n    service_level: {amber: 0.5, red: 0.7}",
            "wallboard.thresholds.service_level.red",
            "must be <= amber (0.5)",
        ),
    ],
)
def test_bad_wallboard_settings_are_refused(wallboard: str, path: str, reason: str) -> None:
    problems = _problems(_with(wallboard=wallboard))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ") and reason in problems[0], problems


@pytest.mark.parametrize(
    ("lines", "path", "reason"),
    [
        (
            "    thresholds:\n      longest_wait_seconds: {red: 10}\n",
            "queues.support.thresholds.longest_wait_seconds",
            "red (10 s) must be >= amber (60 s): a wait turns amber first (amber from "
            "wallboard.thresholds)",
        ),
        (
            "    thresholds:\n      agents_logged_in: {amber: 1, red: 3}\n",
            "queues.support.thresholds.agents_logged_in",
            "red (3) must be <= amber (1)",
        ),
        (
            "    thresholds:\n      service_level: {blue: 1}\n",
            "queues.support.thresholds.service_level.blue",
            "unknown key",
        ),
        (
            "    service_level: {target_seconds: 0}\n",
            "queues.support.service_level.target_seconds",
            "> 0",
        ),
        ("    service_level: {goal: 80}\n", "queues.support.service_level.goal", "<= 1"),
        (
            "    service_level: {short_abandon_seconds: -1}\n",
            "queues.support.service_level.short_abandon_seconds",
            ">= 0",
        ),
    ],
)
def test_bad_queue_thresholds_are_refused(lines: str, path: str, reason: str) -> None:
    # The example's support queue sets both: replace them with these lines.
    text = _with(lines)
    start = text.index("    service_level:           # the goal")
    last = "      longest_wait_seconds: {amber: 45, red: 90}\n"
    end = text.index(last) + len(last)
    text = text[:start] + text[end:]
    problems = _problems(text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}") and reason in problems[0], problems


# ------------------------------------------------------------------ review fixes


def test_prometheus_unreachable_falls_back_to_the_engine_r_wallboard(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """R-WALLBOARD: with ``prometheus_url`` set and Prometheus down the board shows the
    engine's own figures and says so; Prometheus's internal address is never sent to a
    viewer."""
    url = "http://127.0.0.1:1"
    config = parse_config(_with(wallboard=f"wallboard:\n  prometheus_url: {url}"))
    app = Flask("test")
    app.register_blueprint(wallboard_blueprint(config, redis_client, lambda: router_state([], [])))
    viewer = next(t.token for t in config.http.tokens if t.role == "viewer")
    answer = app.test_client().get(f"/wallboard/data?token={viewer}")
    assert answer.status_code == 200 and answer.json is not None
    validate_answer("GET", "/wallboard/data", None, 200, answer.data)
    assert answer.json["source"] == "engine"
    assert answer.json["fallback"] == "prometheus-unreachable"
    assert [q["name"] for q in answer.json["queues"]] == list(config.queues)
    assert "127.0.0.1:1" not in answer.get_data(as_text=True)


def test_fallback_source_prefers_prometheus_when_it_answers() -> None:
    primary, fallback = CountingSource(), CountingSource()
    primary.name = "prometheus"
    source = FallbackSource(primary, fallback)
    assert source.board().fallback is None and (primary.calls, fallback.calls) == (1, 0)
    primary.fail = True
    assert source.board().fallback == "prometheus-unreachable" and fallback.calls == 1
    fallback.fail = True
    with pytest.raises(SourceUnavailableError):
        source.board()


def test_prometheus_mode_counts_today_from_the_events_stream_r_stats(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    """R-STATS: with an events reader the Prometheus source's counts of today are the
    stream's (exact, whatever Prometheus scraped); PromQL is asked only for the live
    figures and the chart."""
    now = _at("2026-06-10 10:00:00")
    clock = Clock(now)
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    for minute, wait in enumerate([5.0, 25.0, 12.0]):
        at = _at(f"2026-06-10 09:0{minute}:00")
        store.log_fact("bridged", {"queue": "support", "agent": "1", "wait": wait}, at)
    store.log_fact("abandoned", {"queue": "support", "wait": 40.0}, _at("2026-06-10 09:10:00"))
    store.flush()
    promql = queries(10 * 3600)
    # What an undercounting Prometheus would say: ignored when the stream is read.
    answers = {promql["answered"]: _vector([({"queue": "support"}, "1")])}

    def answer(path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [] if path.endswith("query_range") else answers.get(params["query"], [])

    events = reader(redis_client, tenant, clock, settings)
    with FakePrometheus(answer) as fake:
        board = PrometheusSource(settings, fake.url, clock, events=events).board()
    (support,) = board.queues
    assert (support.today.answered, support.today.answered_within) == (3, 2)
    assert (support.today.abandoned, support.today.latest_wait) == (1, 12.0)
    assert support.today.service_level == pytest.approx(2 / 4)
    asked = {p["query"] for path, p in fake.requests if path == "/api/v1/query"}
    assert promql["answered"] not in asked and promql["waiting"] in asked


def test_chart_service_level_is_the_rolling_hour_r_wallboard(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    """R-WALLBOARD: the chart's service level covers the hour before each sample (across
    midnight too), while the tile's stays today's."""
    clock = Clock(_at("2026-06-11 00:20:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    facts = [
        ("2026-06-10 23:10:00", 50.0),  # over an hour ago: out of the rolling hour
        ("2026-06-10 23:30:00", 50.0),  # yesterday, but within the last hour
        ("2026-06-11 00:10:00", 5.0),
    ]
    for when, wait in facts:
        store.log_fact("bridged", {"queue": "support", "agent": "1", "wait": wait}, _at(when))
    store.flush()
    events = reader(redis_client, tenant, clock, settings)
    source = EngineSource(settings, lambda: router_state([], []), events, clock)
    (support,) = source.board().queues
    assert support.today.answered == 1 and support.today.service_level == 1.0
    assert support.series[-1].service_level == pytest.approx(1 / 2)
    clock.now = _at("2026-06-11 00:40:00")  # 23:30 has left the hour
    assert source.board().queues[0].series[-1].service_level == 1.0


def test_chart_is_sampled_without_a_board_polling_r_wallboard(
    redis_client: redis.Redis, tenant: str
) -> None:
    """R-WALLBOARD: the engine samples the chart in the background, so a board opened
    later shows the past; a failed sample leaves a gap (the board says its step)."""
    clock = Clock(_at("2026-06-10 10:00:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM)
    waiting = {"n": 0}

    def state() -> RouterState:
        if waiting["n"] < 0:
            raise redis.ConnectionError("down")
        return router_state(
            [], [contact(f"c{i}", "support", clock.now, "waiting") for i in range(waiting["n"])]
        )

    source = EngineSource(settings, state, reader(redis_client, tenant, clock, settings), clock)
    board = Wallboard(settings, source)
    sampler = Sampler(board)
    for minute, count in enumerate([2, 5, -1, 1]):
        clock.now = _at(f"2026-06-10 10:0{minute}:00")
        waiting["n"] = count
        sampler.sample()  # never raises, even while Redis is down
    clock.now = _at("2026-06-10 10:04:00")
    waiting["n"] = 0
    payload = board.data()
    series = payload["queues"][0]["series"]
    assert [p["waiting"] for p in series] == [2, 5, 1, 0]
    assert [p["at"] - series[0]["at"] for p in series] == [0, 60, 180, 240]
    assert payload["series_step"] == 20.0


def test_passive_agents_are_not_free_r_wallboard(redis_client: redis.Redis, tenant: str) -> None:
    """R-WALLBOARD, R-PASSIVE: an idle passive agent is counted ``passive``, apart from
    the free agents who take the waiting callers; still one of the logged-in members."""
    clock = Clock(_at("2026-06-10 10:00:00"))
    settings = BoardSettings((SUPPORT,), time_zone=STOCKHOLM, passive=frozenset({"7", "8"}))
    state = router_state(
        [
            agent("1", ("support",)),
            agent("7", ("support",)),
            agent("8", ("support",), busy_with="c1"),
        ],
        [contact("c1", "support", clock.now - 30.0, "busy")],
    )
    board = EngineSource(
        settings, lambda: state, reader(redis_client, tenant, clock, settings), clock
    ).board()
    (support,) = board.queues
    counts = support.agents
    assert (counts.free, counts.passive, counts.busy, counts.logged_in) == (1, 1, 1, 3)
    assert {a.id: a.state for a in board.agents} == {"1": "free", "7": "passive", "8": "busy"}
    validate_answer(
        "GET", "/wallboard/data", None, 200, json.dumps(board.as_json(settings)).encode()
    )


def test_board_settings_carry_passive_agents_goal_and_clock_zone() -> None:
    config = parse_config(EXAMPLE.read_text())
    settings = board_settings(config)
    assert settings.passive == {k for k, a in config.agents.items() if a.passive}
    assert settings.passive  # the example has a passive coach
    assert settings.queues[0].goal == config.queues["support"].service_level.goal
    assert settings.time_zone_name == "Europe/Stockholm"


def test_a_long_backlog_is_read_in_slices_with_pauses_r_wallboard(
    redis_client: redis.Redis, tenant: str, store: RedisCallStore
) -> None:
    """A day's stream is read in slices of ``BATCH`` entries and the pause given (the
    engine's: a short gevent sleep) runs between them, so calls are handled meanwhile;
    nothing is skipped or counted twice."""
    now = time.time()
    for i in range(2 * BATCH + 7):
        store.log_fact("bridged", {"queue": "support", "agent": "1", "wait": 1.0}, now - 1.0)
        if i % 200 == 0:
            store.flush()
    store.flush()
    settings = BoardSettings((SUPPORT, SALES), time_zone=STOCKHOLM)
    events = reader(redis_client, tenant, Clock(now), settings)
    pauses: list[int] = []
    events.update(lambda: pauses.append(events.today("support").answered))
    assert pauses == [BATCH, 2 * BATCH]
    assert events.today("support").answered == 2 * BATCH + 7
