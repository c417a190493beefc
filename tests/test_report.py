"""R-STATS: ``acd report`` against a hand-computed scenario written to a real Redis stream,
and end to end after calls driven through the engine and the simulator.

The scenario's facts are written by the engine's own writer
(:meth:`RedisCallStore.log_fact`), so the stream's schema cannot drift from the engine's.
Each entry's stream id is its fact time plus 1.5 s, as when a write waits for its
event's pipeline. Times below are UTC; the report is in Europe/Stockholm (CET = UTC+1 in
November; on 2026-10-25 the clocks go back from 03:00 CEST (+2) to 02:00 CET (+1) at
01:00Z). Expected figures are worked out by hand in the comments.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from acd.adapters.redis_store import RedisCallStore
from acd.cli import main
from acd.dev.redis_server import RedisServer
from acd.engine.effects import Fact
from acd.errors import ValidationError
from freeswitch.sim import AgentPhone
from tests.engine_harness import Start
from wallboard.facts import FactEntry, events_key
from wallboard.report import (
    ReportOptions,
    build_report,
    half_hour_of,
    nearest_rank,
    parse_period,
    read_facts,
    time_zone,
)
from wallboard.report_formats import FORMATS, render

STOCKHOLM = time_zone("Europe/Stockholm")
ID_DELAY = 1.5  # seconds between a fact's time and its stream id


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


Entry = tuple[str, str, dict[str, Any]]  # (UTC time, kind, data)


def entered(when: str, contact: str, queue: str, kind: str = "queued") -> Entry:
    return when, kind, {"contact": contact, "queue": queue, "wait_from": 0.0}


def bridged(when: str, contact: str, agent: str, queue: str, wait: float) -> Entry:
    return when, "bridged", {"contact": contact, "agent": agent, "queue": queue, "wait": wait}


def abandoned(when: str, contact: str, queue: str, wait: float) -> Entry:
    data = {"contact": contact, "queue": queue, "wait": wait, "cause": "NORMAL_CLEARING"}
    return when, "abandoned", data


def completed(when: str, contact: str, agent: str, queue: str, handle: float) -> Entry:
    data = {"contact": contact, "agent": agent, "queue": queue, "handle": handle}
    return when, "completed", data


# Written in time order whatever the order here; each test says which targets it uses.
SCENARIO: list[Entry] = [
    # the day before in Stockholm (23:59:59 local on the 26th): never in the 27th
    entered("2026-11-26T22:59:59", "c0", "support"),
    ("2026-11-27T07:59:00", "agent_login", {"agent": "1001", "queues": ["support"], "phone": "x"}),
    # sales, 09:00-09:30 local
    entered("2026-11-27T08:05:00", "s1", "sales"),
    ("2026-11-27T08:05:20", "offered", {"contact": "s1", "agent": "1001", "leg": "l1"}),
    ("2026-11-27T08:05:24", "answered", {"contact": "s1", "agent": "1001"}),
    bridged("2026-11-27T08:05:25", "s1", "1001", "sales", 25.0),
    entered("2026-11-27T08:06:00", "s2", "sales"),
    abandoned("2026-11-27T08:06:10", "s2", "sales", 10.0),
    completed("2026-11-27T08:07:25", "s1", "1001", "sales", 120.0),
    # s3 adopted by a restarted engine, then its queued: one arrival, offered once
    entered("2026-11-27T08:08:00", "s3", "sales", "adopted"),
    entered("2026-11-27T08:08:00.5", "s3", "sales"),
    bridged("2026-11-27T08:08:35", "s3", "1002", "sales", 75.0),
    completed("2026-11-27T08:10:35", "s3", "1002", "sales", 120.0),
    # support, 09:00-09:30 local
    entered("2026-11-27T08:10:00", "c1", "support"),
    bridged("2026-11-27T08:10:10", "c1", "1001", "support", 10.0),
    entered("2026-11-27T08:12:00", "c2", "support"),
    bridged("2026-11-27T08:12:30", "c2", "1002", "support", 30.0),
    completed("2026-11-27T08:14:00", "c2", "1002", "support", 90.0),
    completed("2026-11-27T08:15:10", "c1", "1001", "support", 300.0),
    entered("2026-11-27T08:20:00", "c3", "support"),
    abandoned("2026-11-27T08:20:03", "c3", "support", 3.0),
    entered("2026-11-27T08:21:00", "c4", "support"),
    abandoned("2026-11-27T08:21:05", "c4", "support", 5.0),
    entered("2026-11-27T08:22:00", "c5", "support"),
    abandoned("2026-11-27T08:22:40", "c5", "support", 40.0),
    entered("2026-11-27T08:25:00", "c6", "support"),
    bridged("2026-11-27T08:25:20", "c6", "1001", "support", 20.0),
    # c8 waits in support, is transferred to sales and answered there (wait since arrival)
    entered("2026-11-27T08:26:00", "c8", "support"),
    ("2026-11-27T08:27:00", "transferred", {"contact": "c8", "queue": "sales"}),
    bridged("2026-11-27T08:27:20", "c8", "1001", "sales", 80.0),
    completed("2026-11-27T08:29:20", "c8", "1001", "sales", 120.0),
    # c7 queued in the 09:00 half hour, answered in the 09:30 one
    entered("2026-11-27T08:29:50", "c7", "support"),
    bridged("2026-11-27T08:30:05", "c7", "1002", "support", 15.0),
    completed("2026-11-27T08:31:00", "c6", "1001", "support", 340.0),
    completed("2026-11-27T08:32:05", "c7", "1002", "support", 120.0),
    # across midnight in Stockholm (23:00Z): queued on the 27th, answered/abandoned on the 28th
    entered("2026-11-27T22:59:50", "c9", "support"),
    # c12's stream id (23:00:01Z) falls on the 28th; its time, on the 27th, decides
    entered("2026-11-27T22:59:59.5", "c12", "support"),
    abandoned("2026-11-27T23:00:04.5", "c12", "support", 5.0),
    bridged("2026-11-27T23:00:05", "c9", "1002", "support", 15.0),
    completed("2026-11-27T23:02:05", "c9", "1002", "support", 120.0),
    # the day the clocks go back: 02:05 CEST, 02:50 CEST, then 02:10 CET
    entered("2026-10-25T00:05:00", "d1", "support"),
    abandoned("2026-10-25T00:05:30", "d1", "support", 30.0),
    entered("2026-10-25T00:50:00", "d2", "support"),
    bridged("2026-10-25T01:10:00", "d2", "1001", "support", 1200.0),
    completed("2026-10-25T01:12:00", "d2", "1001", "support", 120.0),
]


@pytest.fixture
def scenario(redis_client: redis.Redis, tenant: str) -> str:
    """Writes :data:`SCENARIO` to ``tenant``'s events stream in time order; returns the
    tenant."""
    store = RedisCallStore(redis_client, tenant)
    last = (-1, -1)
    for when, kind, data in sorted(SCENARIO, key=lambda entry: utc(entry[0])):
        at = utc(when)
        millis = round((at + ID_DELAY) * 1000)
        last = (millis, last[1] + 1 if millis == last[0] else 0)
        store.log_fact(kind, data, at, entry_id=f"{last[0]}-{last[1]}")
    store.flush()
    return tenant


def run_report(redis_server: RedisServer, tenant: str, out: Path, *args: str) -> tuple[int, str]:
    status = main(
        ["report", "--redis", redis_server.url, "--tenant", tenant, "--output", str(out), *args]
    )
    return status, out.read_text(encoding="utf-8") if out.exists() else ""


def report_json(redis_server: RedisServer, tenant: str, out: Path, *args: str) -> Any:
    status, text = run_report(redis_server, tenant, out, "--format", "json", *args)
    assert status == 0
    return json.loads(text)


def half_hours(report: Any, queue: str) -> dict[str, dict[str, Any]]:
    return {row["start"]: row for row in report["queues"][queue]["half_hours"]}


def figures(
    offered: int = 0,
    answered: int = 0,
    within: int = 0,
    abandoned: int = 0,
    short: int = 0,
    service_level: float | None = None,
    average_wait: float | None = None,
    p90_wait: float | None = None,
    completed: int = 0,
    average_talk: float | None = None,
    transferred_in: int = 0,
    in_progress: int = 0,
    handle_known: int = 0,
    average_handle: float | None = None,
) -> dict[str, Any]:
    return {
        "offered": offered,
        "transferred_in": transferred_in,
        "answered": answered,
        "answered_within_target": within,
        "abandoned": abandoned,
        "abandoned_short": short,
        "in_progress": in_progress,
        "service_level": service_level,
        "average_wait_seconds": average_wait,
        "p90_wait_seconds": p90_wait,
        "completed": completed,
        "average_talk_seconds": average_talk,
        "handle_known": handle_known,
        "average_handle_seconds": average_handle,
    }


def agent(
    answered: int,
    completed: int,
    talk: float,
    average: float | None,
    in_progress: int = 0,
    wrap_up: float = 0.0,
    handle_known: int = 0,
    average_handle: float | None = None,
) -> dict[str, Any]:
    return {
        "answered": answered,
        "completed": completed,
        "in_progress": in_progress,
        "talk_seconds": talk,
        "wrap_up_seconds": wrap_up,
        "average_talk_seconds": average,
        "handle_known": handle_known,
        "average_handle_seconds": average_handle,
    }


def busy_rows(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows with something counted (every other row must be all zeros)."""
    return {start: row for start, row in rows.items() if without_span(row) != figures()}


def without_span(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("start", "end")}


def test_r_stats_one_day_per_queue_per_half_hour_matches_hand_count(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """R-STATS: the 27th (local day = 2026-11-26T23:00Z .. 2026-11-27T23:00Z)."""
    report = report_json(
        redis_server,
        scenario,
        tmp_path / "day.json",
        "--from=2026-11-27",
        "--to=2026-11-27",
        "--target-seconds=20",
    )
    assert report["from"] == "2026-11-27T00:00:00+01:00"
    assert report["to"] == "2026-11-28T00:00:00+01:00"
    assert report["queues"]["support"]["short_abandon_seconds"] == 5.0
    assert report["percentile"] == "p90 nearest-rank"
    all_rows = half_hours(report, "support")
    # Every half hour of the day has a row, zeros included: a table or plot has no holes.
    assert len(all_rows) == 48 and len(half_hours(report, "sales")) == 48
    assert min(all_rows) == "2026-11-27T00:00:00+01:00"
    assert max(all_rows) == "2026-11-27T23:30:00+01:00"
    support = busy_rows(all_rows)
    assert sorted(support) == [
        "2026-11-27T09:00:00+01:00",
        "2026-11-27T09:30:00+01:00",
        "2026-11-27T23:30:00+01:00",
    ]  # c0 (23:59:59 on the 26th) is not in
    # 09:00: offered c1..c8 = 8; answered c1 (10 s), c2 (30 s), c6 (20 s) = 3, within 20 s:
    # c1, c6 = 2; abandoned c3 (3 s), c4 (5 s), c5 (40 s) = 3, short (<= 5 s): c3, c4 = 2;
    # SL = 2 / (3 + 3 - 2) = 0.5; avg wait = (10 + 30 + 20) / 3 = 20; p90 = rank
    # ceil(0.9 * 3) = 3 of [10, 20, 30] = 30; completed c2 (90), c1 (300): avg 195.
    assert without_span(support["2026-11-27T09:00:00+01:00"]) == figures(
        offered=8, answered=3, within=2, abandoned=3, short=2, service_level=0.5,
        average_wait=20.0, p90_wait=30.0, completed=2, average_talk=195.0,
    )  # fmt: skip
    assert support["2026-11-27T09:00:00+01:00"]["end"] == "2026-11-27T09:30:00+01:00"
    # 09:30: c7 answered after 15 s (within) -> SL 1 / 1; completed c6 (340), c7 (120):
    # avg (340 + 120) / 2 = 230.
    assert without_span(support["2026-11-27T09:30:00+01:00"]) == figures(
        answered=1, within=1, service_level=1.0, average_wait=15.0, p90_wait=15.0,
        completed=2, average_talk=230.0,
    )  # fmt: skip
    # 23:30: c9 and c12 queued (c12 at 23:59:59.5 local, its id after midnight); nothing
    # answered or abandoned before midnight: no service level, no averages.
    assert without_span(support["2026-11-27T23:30:00+01:00"]) == figures(offered=2)
    # support, whole day: offered 8 + 2 = 10; answered 3 + 1 = 4, within 2 + 1 = 3;
    # abandoned 3, short 2: SL = 3 / (4 + 3 - 2) = 0.6; avg wait (10+30+20+15)/4 = 18.75;
    # p90 = rank ceil(3.6) = 4 of [10, 15, 20, 30] = 30; handles 90+300+340+120 = 850 / 4.
    assert report["queues"]["support"]["total"] == figures(
        offered=10, answered=4, within=3, abandoned=3, short=2, service_level=0.6,
        average_wait=18.75, p90_wait=30.0, completed=4, average_talk=212.5,
    )  # fmt: skip
    assert report["queues"]["support"]["target_seconds"] == 20.0
    # sales 09:00 (target 20 s here): offered s1, s2, s3 (adopted + queued = once), c8
    # (transferred in) = 4; answered s1 (25), s3 (75), c8 (80): within 20 s none;
    # abandoned s2 (10 s, not short): SL = 0 / (3 + 1) = 0; avg (25+75+80)/3 = 60;
    # p90 = rank 3 = 80; completed s1, s3, c8, 120 each.
    sales = figures(
        offered=4, transferred_in=1, answered=3, within=0, abandoned=1, service_level=0.0,
        average_wait=60.0, p90_wait=80.0, completed=3, average_talk=120.0,
    )  # fmt: skip
    assert [without_span(r) for r in busy_rows(half_hours(report, "sales")).values()] == [sales]
    assert report["queues"]["sales"]["total"] == sales
    # all: offered 10 + 4 = 14; answered 7, within 3; abandoned 4, short 2:
    # SL = 3 / (7 + 4 - 2) = 1/3 = 0.333333; avg wait (75 + 180) / 7 = 36.428571...;
    # p90 = rank ceil(6.3) = 7 of 7 = 80; handles (850 + 360) / 7 = 172.857142...
    assert report["total"] == figures(
        offered=14, transferred_in=1, answered=7, within=3, abandoned=4, short=2,
        service_level=0.333333, average_wait=36.429, p90_wait=80.0, completed=7,
        average_talk=172.857,
    )  # fmt: skip
    # 1001: c1, c6, s1, c8 answered = 4; talk 300 + 340 + 120 + 120 = 880.
    # 1002: c2, c7, s3 = 3; talk 90 + 120 + 120 = 330 (c9 is answered on the 28th).
    assert report["agents"] == {
        "1001": agent(answered=4, completed=4, talk=880.0, average=220.0),
        "1002": agent(answered=3, completed=3, talk=330.0, average=110.0),
    }
    assert report["skipped_entries"] == 0


def test_r_stats_per_queue_targets_and_queue_filter(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """R-STATS: sales alone with a 30 s target; only its calls count for the agents."""
    report = report_json(
        redis_server, scenario, tmp_path / "sales.json",
        "--from=2026-11-27T00:00", "--to=2026-11-28T00:00", "--queue=sales",
        "--target-seconds=30",
    )  # fmt: skip
    assert list(report["queues"]) == ["sales"]
    # within 30 s: s1 (25) only -> SL = 1 / (3 + 1) = 0.25
    sales = figures(
        offered=4, transferred_in=1, answered=3, within=1, abandoned=1, service_level=0.25,
        average_wait=60.0, p90_wait=80.0, completed=3, average_talk=120.0,
    )  # fmt: skip
    assert report["queues"]["sales"]["total"] == sales
    assert report["total"] == sales
    # 1001: s1, c8 = 2, talk 240; 1002: s3 = 1, talk 120
    assert report["agents"] == {
        "1001": agent(answered=2, completed=2, talk=240.0, average=120.0),
        "1002": agent(answered=1, completed=1, talk=120.0, average=120.0),
    }


def test_r_stats_after_midnight_counts_what_happened_after_midnight(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """R-STATS: the 28th holds c9's answer and c12's abandon, not their arrivals."""
    report = report_json(
        redis_server, scenario, tmp_path / "next.json", "--from=2026-11-28", "--to=2026-11-28"
    )
    # 00:00 local = 23:00Z on the 27th: c9 answered after 15 s (within 20), c12 abandoned
    # after 5.0 s (short): SL = 1 / (1 + 1 - 1) = 1.0; c9 completed, 120 s.
    assert busy_rows(half_hours(report, "support")) == {
        "2026-11-28T00:00:00+01:00": {
            "start": "2026-11-28T00:00:00+01:00",
            "end": "2026-11-28T00:30:00+01:00",
            **figures(
                answered=1, within=1, abandoned=1, short=1, service_level=1.0,
                average_wait=15.0, p90_wait=15.0, completed=1, average_talk=120.0,
            ),
        }
    }  # fmt: skip
    assert report["agents"] == {"1002": agent(answered=1, completed=1, talk=120.0, average=120.0)}


def test_r_stats_the_hour_the_clocks_go_back_is_two_half_hour_rows(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """R-STATS across a DST change: 2026-10-25 in Stockholm is 25 hours long and its
    02:00-03:00 happens twice; each half hour is its own row."""
    report = report_json(
        redis_server, scenario, tmp_path / "dst.json", "--from=2026-10-25", "--to=2026-10-25"
    )
    assert (report["from"], report["to"]) == (
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    )
    rows = half_hours(report, "support")
    # 25 hours, 50 half hours: the repeated hour's two have their own rows
    assert len(rows) == 50
    rows = busy_rows(rows) | {"2026-10-25T02:30:00+02:00": rows["2026-10-25T02:30:00+02:00"]}
    # 00:05Z = 02:05 CEST: d1 offered and abandoned after 30 s -> SL 0 / 1
    assert without_span(rows["2026-10-25T02:00:00+02:00"]) == figures(
        offered=1, abandoned=1, service_level=0.0
    )
    # 00:50Z = 02:50 CEST: d2 offered
    assert without_span(rows["2026-10-25T02:30:00+02:00"]) == figures(offered=1)
    # 01:10Z = 02:10 CET: d2 answered after 1200 s (not within 20) -> SL 0 / 1; handle 120
    assert without_span(rows["2026-10-25T02:00:00+01:00"]) == figures(
        answered=1, service_level=0.0, average_wait=1200.0, p90_wait=1200.0, completed=1,
        average_talk=120.0,
    )  # fmt: skip
    assert rows["2026-10-25T02:30:00+02:00"]["end"] == "2026-10-25T02:00:00+01:00"
    assert len(rows) == 3


def test_r_stats_csv_parses_with_the_csv_module(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    status, text = run_report(
        redis_server, scenario, tmp_path / "day.csv", "--from=2026-11-27", "--to=2026-11-27"
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    kinds = [row["row"] for row in rows]
    assert kinds == ["half_hour"] * 96 + ["queue_total"] * 2 + ["total"] + ["agent"] * 2
    first = next(r for r in rows if r["answered"] not in ("", "0"))  # sales sorts first
    assert (first["queue"], first["start"], first["offered"], first["answered"]) == (
        "sales",
        "2026-11-27T09:00:00+01:00",
        "4",
        "3",
    )
    late = next(
        r for r in rows if r["start"] == "2026-11-27T23:30:00+01:00" and r["queue"] == "support"
    )
    assert (late["offered"], late["service_level"], late["average_wait_seconds"]) == ("2", "", "")
    total = next(r for r in rows if r["row"] == "total")
    assert (total["offered"], total["abandoned_short"], total["p90_wait_seconds"]) == (
        "14",
        "2",
        "80.0",
    )
    agent = next(r for r in rows if r["agent"] == "1001")
    assert (agent["answered"], agent["talk_seconds"], agent["queue"]) == ("4", "880.0", "")


def test_r_stats_html_is_one_page_with_svg_plots(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    status, text = run_report(
        redis_server, scenario, tmp_path / "day.html", "--from=2026-11-27", "--to=2026-11-27",
        "--format=html",
    )  # fmt: skip
    assert status == 0
    assert text.startswith("<!DOCTYPE html>")
    svgs = [text[i : text.index("</svg>", i) + 6] for i in _find_all(text, "<svg")]
    assert len(svgs) == 2
    for svg in svgs:
        ET.fromstring(svg)  # well-formed SVG
    assert "Calls per half hour" in svgs[0] and "Service level per half hour" in svgs[1]
    assert "<path" in svgs[0]  # bars were drawn
    for fetching in ("<script", "<link", " src=", 'href="http', "<img"):
        assert fetching not in text  # self-contained: nothing loaded from elsewhere
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page
    assert "support" in text and "1001" in text and "33.3 %" in text


def _find_all(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def test_r_stats_reading_in_pages_sees_every_fact_once(
    redis_client: redis.Redis, scenario: str
) -> None:
    start, end = parse_period("2026-11-27", "2026-11-27", STOCKHOLM)
    whole = list(read_facts(redis_client, scenario, start, end, page=1000))
    paged = list(read_facts(redis_client, scenario, start, end, page=2))
    assert paged == whole
    # every scenario entry with a time on the local 27th (2026-11-26T23:00Z ..), in order
    expected = sorted((utc(w), k) for w, k, _ in SCENARIO if start <= utc(w) < end)
    assert [(fact.at, fact.kind) for fact in whole] == expected
    assert ("queued", "c0") not in [(f.kind, f.data.get("contact")) for f in whole]


def test_r_stats_entries_not_in_the_schema_are_skipped_and_counted(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str, tmp_path: Path
) -> None:
    at = utc("2026-11-27T08:00:00")
    key = events_key(tenant)
    redis_client.xadd(key, {"k": "bridged", "t": "soon", "d": b"\x80"}, id=f"{int(at * 1000)}-0")
    redis_client.xadd(key, {"k": "bridged"}, id=f"{int(at * 1000)}-1")
    store = RedisCallStore(redis_client, tenant)
    store.log_fact("bridged", {"contact": "x", "queue": "q"}, at, entry_id=f"{int(at * 1000)}-2")
    store.flush()  # a bridged fact without its wait: skipped too
    report = report_json(
        redis_server, tenant, tmp_path / "r.json", "--from=2026-11-27", "--to=2026-11-27"
    )
    assert report["skipped_entries"] == 3
    assert report["total"]["answered"] == 0


def test_r_stats_every_format_renders_an_empty_period_and_odd_queue_names() -> None:
    start, end = parse_period("2026-11-27", "2026-11-27", STOCKHOLM)
    options = ReportOptions(start, end, STOCKHOLM)
    assert build_report([], options).total().figures()["service_level"] is None
    for form in FORMATS:
        assert render(build_report([], options), form)
    odd = "<b>$x_1$</b>"  # markup for HTML, math text for matplotlib
    facts = [
        FactEntry("queued", start + 60, {"contact": "a", "queue": odd}),
        FactEntry("abandoned", start + 90, {"contact": "a", "queue": odd, "wait": 30.0}),
    ]
    page = render(build_report(facts, options), "html")
    assert odd not in page and html.escape(odd) in page
    rows = list(csv.DictReader(io.StringIO(render(build_report(facts, options), "csv"))))
    assert (rows[0]["queue"], rows[0]["abandoned"], rows[0]["service_level"]) == (odd, "1", "0.0")


def test_r_stats_writes_to_stdout_without_output(
    redis_server: RedisServer, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--redis", redis_server.url, "--tenant", scenario, "--format=json"]
    assert main(["report", *args, "--from=2026-11-28", "--to=2026-11-28"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["answered"] == 1  # c9


def test_nearest_rank_p90_is_an_observed_value() -> None:
    """The p90 method: rank ceil(0.9 * 10) = 9 of 1..10 is 9 (linear interpolation would
    give 9.1); of one value, that value; of none, None."""
    assert nearest_rank([float(v) for v in range(10, 0, -1)], 90) == 9.0
    assert nearest_rank([7.0], 90) == 7.0
    assert nearest_rank([], 90) is None


def test_half_hours_are_local_and_the_repeated_hour_is_kept_apart() -> None:
    # 00:10Z and 01:10Z on 2026-10-25 are both 02:10 local (CEST, then CET)
    first, second = (
        half_hour_of(utc("2026-10-25T00:10:00"), STOCKHOLM),
        half_hour_of(utc("2026-10-25T01:10:00"), STOCKHOLM),
    )
    assert (first, second) == (utc("2026-10-25T00:00:00"), utc("2026-10-25T01:00:00"))
    # a zone whose offset is not whole hours (Kathmandu, +05:45): 10:20 local -> 10:00
    assert half_hour_of(utc("2026-11-27T04:35:00"), time_zone("Asia/Kathmandu")) == utc(
        "2026-11-27T04:15:00"
    )


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("2026-13-01", "2026-12-01", "not an ISO date"),
        ("yesterday", "2026-12-01", "not an ISO date"),
        ("2026-11-28", "2026-11-27", "empty period"),
        ("2026-11-28T10:00", "2026-11-28T10:00", "empty period"),
    ],
)
def test_r_stats_bad_period_is_refused(start: str, end: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        parse_period(start, end, STOCKHOLM)


def test_r_stats_bad_options_are_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        time_zone("Europe/Atlantis")
    with pytest.raises(ValidationError, match="empty period"):
        ReportOptions(1.0, 1.0, STOCKHOLM)


@pytest.mark.parametrize(
    "args",
    [
        ["--from=2026-11-28", "--to=2026-11-27"],
        ["--from=2026-11-27", "--to=2026-11-27", "--tz=Mars/Olympus"],
        ["--from=2026-11-27", "--to=2026-11-27", "--short-abandon-seconds=-5"],
    ],
)
def test_r_stats_cli_bad_input_is_an_error_and_writes_nothing(
    redis_server: RedisServer,
    scenario: str,
    tmp_path: Path,
    args: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "r.json"
    status, text = run_report(redis_server, scenario, out, *args)
    assert (status, text) == (2, "")
    assert "acd: invalid-input:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_r_stats_unreachable_redis_is_an_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    args = ["--redis=redis://127.0.0.1:1/0", "--tenant=t", "--from=2026-11-27", "--to=2026-11-27"]
    assert main(["report", *args, "--output", str(out)]) == 2
    assert "acd: report: reading acd:{t}:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_r_stats_cli_needs_a_source_and_a_known_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--from=2026-11-27", "--to=2026-11-27"]) == 2
    assert "--config FILE, or --redis URL and --tenant" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--redis=redis://x", "--tenant=t", "--from=2026-11-27",
              "--to=2026-11-27", "--format=pdf"])  # fmt: skip
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []


def _json_report(config: Path) -> dict[str, Any]:
    """``acd report --config CONFIG`` for 2026-11-27 as JSON (exit status 0 checked)."""
    out = config.with_name("r.json")
    status = main(["report", "--config", str(config), "--from=2026-11-27", "--to=2026-11-27",
                   "--format=json", "--output", str(out)])  # fmt: skip
    assert status == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def test_r_stats_reads_redis_and_targets_from_the_configuration(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """``--config``: the file's Redis URL and each queue's
    ``service_level.target_seconds`` (sales: 30 -> s1 within, SL 1 / 4 = 0.25)."""
    config = tmp_path / "acd.yaml"
    config.write_text(
        f"tenant: {scenario}\n"
        f"redis: {{url: '{redis_server.url}'}}\n"
        "queues:\n"
        "  support: {code: '1'}\n"
        "  sales: {code: '2', service_level: {target_seconds: 30}}\n",
        encoding="utf-8",
    )
    report = _json_report(config)
    assert report["queues"]["sales"]["target_seconds"] == 30.0
    assert report["queues"]["sales"]["total"]["service_level"] == 0.25
    assert report["queues"]["support"]["total"]["service_level"] == 0.6
    assert report["time_zone"] == "Europe/Stockholm"  # the default, not the machine's
    # The configuration's time zone (wallboard.time_zone) and per-queue short abandons:
    # support counts its two short abandons now, 3 / (4 + 3).
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "support: {code: '1'}",
            "support: {code: '1', service_level: {short_abandon_seconds: 0}}",
        )
        + "wallboard: {time_zone: Europe/Berlin}\n",
        encoding="utf-8",
    )
    report = _json_report(config)
    assert report["time_zone"] == "Europe/Berlin"
    support = report["queues"]["support"]
    assert support["short_abandon_seconds"] == 0.0
    assert support["total"]["abandoned_short"] == 0
    assert support["total"]["service_level"] == pytest.approx(3 / 7)
    bad = ["report", "--config", str(config), "--from=2026-11-27", "--to=2026-11-27",
           "--queue=nosuch", "--output", str(tmp_path / "bad.json")]  # fmt: skip
    assert main(bad) == 2
    assert not (tmp_path / "bad.json").exists()


# Routing's queue log for the scenario's 27th (docs/ARCHITECTURE.md, "The queue log"):
# (UTC time, kind, agent, contact). Configured wrap-up: sales 10 s, support 0.
QUEUE_LOG: list[tuple[str, str, str, str]] = [
    ("2026-11-27T08:07:25", "complete", "1001", "s1"),
    ("2026-11-27T08:07:35", "ready", "1001", ""),  # sales wrap-up timer ended: 10 s
    ("2026-11-27T08:10:35", "complete", "1002", "s3"),
    ("2026-11-27T08:10:45", "ready", "1002", ""),  # 10 s
    ("2026-11-27T08:12:29", "reserve", "1002", "c2"),
    ("2026-11-27T08:14:00", "complete", "1002", "c2"),
    ("2026-11-27T08:14:04", "pause", "1002", ""),  # support has no wrap-up: 0 s, not 4
    ("2026-11-27T08:15:10", "complete", "1001", "c1"),
    ("2026-11-27T08:25:00", "reserve", "1001", "c6"),  # straight on to the next call: 0 s
    ("2026-11-27T08:29:20", "complete", "1001", "c8"),
    ("2026-11-27T08:29:24", "pause", "1001", ""),  # sales wrap-up cut short: 4 s
    ("2026-11-27T08:31:00", "complete", "1001", "c6"),  # nothing after it: unknown
    # c7 (1002) has no complete entry (the log was trimmed): unknown
]


def test_r_stats_aht_is_talk_plus_the_wrap_up_taken(
    redis_server: RedisServer, redis_client: redis.Redis, scenario: str, tmp_path: Path
) -> None:
    """R-STATS: average handle time = talk (bridge to hang-up) + the wrap-up taken, read
    from routing's queue log; calls whose wrap-up is not known are left out of AHT (not
    counted as 0), and talk time is reported under its own name."""
    for when, kind, agent_id, contact in QUEUE_LOG:
        at = utc(when)
        redis_client.xadd(
            f"acd:{{{scenario}}}:log",
            {"k": kind, "a": agent_id, "c": contact, "q": "", "t": repr(at)},
            id=f"{round(at * 1000)}-0",
        )
    config = tmp_path / "acd.yaml"
    config.write_text(
        f"tenant: {scenario}\n"
        f"redis: {{url: '{redis_server.url}'}}\n"
        "queues:\n"
        "  support: {code: '1', wrap_up_seconds: 0}\n"
        "  sales: {code: '2', wrap_up_seconds: 10}\n"
        "  empty: {code: '3'}\n",
        encoding="utf-8",
    )
    report = _json_report(config)
    # sales: s1 120 + 10, s3 120 + 10, c8 120 + 4 (cut short) -> 384 / 3 = 128
    sales = report["queues"]["sales"]["total"]
    assert (sales["average_talk_seconds"], sales["handle_known"]) == (120.0, 3)
    assert sales["average_handle_seconds"] == 128.0
    # support: c2 90 + 0, c1 300 + 0 -> 195; c6 and c7 unknown (talk still counts: 4 calls)
    support = report["queues"]["support"]
    assert (support["total"]["completed"], support["total"]["handle_known"]) == (4, 2)
    assert support["total"]["average_handle_seconds"] == 195.0
    assert support["total"]["average_talk_seconds"] == 212.5
    rows = half_hours(report, "support")
    assert rows["2026-11-27T09:30:00+01:00"]["average_handle_seconds"] is None  # c6, c7
    # 1001: talk 880; wrap 10 + 0 + 4 = 14; AHT (130 + 300 + 124) / 3 = 184.667
    # 1002: talk 330; wrap 10 + 0 = 10; AHT (130 + 90) / 2 = 110
    assert report["agents"] == {
        "1001": agent(4, 4, 880.0, 220.0, wrap_up=14.0, handle_known=3, average_handle=184.667),
        "1002": agent(3, 3, 330.0, 110.0, wrap_up=10.0, handle_known=2, average_handle=110.0),
    }
    # all: (130 + 130 + 124 + 90 + 300) / 5 = 154.8
    assert report["total"]["average_handle_seconds"] == 154.8
    # A configured queue without a call has its rows, zeros: no holes.
    empty = report["queues"]["empty"]
    assert len(empty["half_hours"]) == 48 and empty["total"] == figures()


def test_r_stats_call_in_progress_at_the_end_and_a_period_inside_half_hours(
    redis_server: RedisServer, scenario: str, tmp_path: Path
) -> None:
    """R-STATS: from 09:05 to 09:27 local. c6 (answered 09:25:20, completed 09:31) is in
    progress at --to: counted answered, not as a call with talk 0; the only row, the
    09:00 half hour, shows the part of it inside the period."""
    report = report_json(
        redis_server, scenario, tmp_path / "cut.json",
        "--from=2026-11-27T09:05", "--to=2026-11-27T09:27",
    )  # fmt: skip
    rows = report["queues"]["support"]["half_hours"]
    assert [(r["start"], r["end"]) for r in rows] == [
        ("2026-11-27T09:05:00+01:00", "2026-11-27T09:27:00+01:00")
    ]
    # support: offered c1..c6 and c8 (09:26) = 7; answered c1, c2, c6 = 3; completed c2 (90),
    # c1 (300): talk 195; c6 in progress.
    total = report["queues"]["support"]["total"]
    assert (total["answered"], total["in_progress"], total["completed"]) == (3, 1, 2)
    assert total["average_talk_seconds"] == 195.0
    # 1001: c1, s1 (sales) and c6 answered; s1, c1 completed (120 + 300); c6 in progress.
    assert report["agents"]["1001"] == agent(3, 2, 420.0, 210.0, in_progress=1)
    assert report["agents"]["1002"] == agent(2, 2, 210.0, 105.0)  # c2 90, s3 120


def test_r_stats_end_to_end_calls_through_the_engine(
    start: Start, redis_server: RedisServer, redis_client: redis.Redis, tenant: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """R-STATS end to end: the engine handles calls on the simulator and logs its facts
    through the store as ``acd run`` does; ``acd report`` then counts what happened."""
    acd = start()
    writer = RedisCallStore(redis_client, tenant)

    def log(fact: Fact) -> None:
        writer.log_fact(fact.kind, fact.data, time.time())
        writer.flush()

    acd.runner.observers.insert(0, log)
    # one caller gives up before any agent is logged in
    gone = acd.sim.place_call("0701000001", "7000")
    acd.wait_fact("queued", contact=gone)
    acd.sim.hangup(gone)
    acd.wait_fact("abandoned", contact=gone)
    # two callers answered by 1001, one after the other
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    acd.login("1001", ("support",))
    for number in ("0701000002", "0701000003"):
        caller = acd.sim.place_call(number, "7000")
        acd.wait_fact("bridged", contact=caller)
        acd.sim.hangup(caller)
        acd.wait_fact("completed", contact=caller)
    today = datetime.now(STOCKHOLM).date()
    report = report_json(
        redis_server, tenant, tmp_path / "e2e.json",
        f"--from={today - timedelta(days=1)}", f"--to={today + timedelta(days=1)}",
    )  # fmt: skip
    support = report["queues"]["support"]["total"]
    assert (support["offered"], support["answered"], support["abandoned"]) == (3, 2, 1)
    assert support["completed"] == 2
    assert report["agents"]["1001"]["answered"] == 2
