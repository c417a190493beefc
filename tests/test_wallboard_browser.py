"""The wallboard in a real browser (R-WALLBOARD): headless Chromium (Debian ``chromium``)
driven by Playwright loads ``/wallboard`` from the engine's HTTP server while the
simulator drives callers; a queue whose longest wait crosses its red threshold turns red
in the page, and green again once an agent is free and takes the caller. The screenshot
is kept in ``build/test-artifacts/wallboard.png``.

Playwright's sync API blocks its thread, and the engine runs on this thread's gevent hub:
the browser lives in a thread of its own and this test waits for it cooperatively.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import gevent
import pytest
import redis
from flask import Flask
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from acd.adapters.http import AdminApi
from acd.adapters.wallboard import wallboard_blueprint
from acd.config import Config, parse_config
from acd.engine.effects import Fact
from freeswitch.sim import AgentPhone
from tests.engine_harness import Harness, Start
from wallboard.figures import (
    AgentCounts,
    AgentFigure,
    AgentState,
    Board,
    BoardSettings,
    Point,
    QueueSetup,
    SourceUnavailableError,
    Thresholds,
    Today,
    queue_figures,
)
from wallboard.web import Wallboard, blueprint

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
VIEWER = "wallboard-viewer-token-0123"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Six queues on the board (the engine routes support and sales; the others stay empty):
# a wall TV must show six without scrolling.
CONFIG = f"""
tenant: TENANT
http:
  tokens:
    - {{token: {VIEWER}, role: viewer, name: tv}}
wallboard:
  language: sv
  refresh_seconds: 0.5
  thresholds:
    longest_wait_seconds: {{amber: 1, red: 2}}
    agents_logged_in: {{amber: 0, red: 0}}
queues:
  support: {{code: 1}}
  sales: {{code: 2}}
  billing: {{code: 3}}
  technical: {{code: 4}}
  returns: {{code: 5}}
  premium: {{code: 6, thresholds: {{longest_wait_seconds: {{amber: 30, red: 60}}}}}}
"""

T = TypeVar("T")


class Browser:
    """A Chromium page on its own thread; :meth:`run` waits for a call without blocking
    the gevent hub, so the engine and its HTTP server keep serving meanwhile."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser")
        self.errors: list[str] = []
        self.page: Any = None
        self._playwright: Any = None
        self._browser: Any = None

    def run(self, action: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
        future = self._thread.submit(action, *args)
        deadline = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < deadline, f"the browser did not answer in {timeout} s"
            gevent.sleep(0.01)
        return future.result()

    def open(self) -> None:
        def launch() -> None:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            self.page = self._browser.new_page(viewport={"width": 1920, "height": 1080})
            self.page.on("pageerror", lambda error: self.errors.append(str(error)))
            self.page.on(
                "console",
                lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
            )

        self.run(launch)

    def close(self) -> None:
        def shut() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.run(shut)
        finally:
            self._thread.shutdown(wait=True)

    def attribute(self, selector: str, name: str) -> str | None:
        def read() -> str | None:
            found = self.page.query_selector(selector)
            return None if found is None else found.get_attribute(name)

        return self.run(read)

    def text(self, selector: str) -> str | None:
        def read() -> str | None:
            found = self.page.query_selector(selector)
            return None if found is None else found.inner_text()

        return self.run(read)

    def evaluate(self, script: str) -> Any:
        return self.run(lambda: self.page.evaluate(script))


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        gevent.sleep(0.05)
    assert check(), what


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed (Debian package chromium)")
    opened = Browser()
    try:
        opened.open()
        yield opened
    finally:
        opened.close()


def wallboard_server(harness: Harness, config: Config, client: redis.Redis) -> AdminApi:
    """The engine's HTTP API with the wallboard registered as ``acd.app.build`` does."""
    api = AdminApi(harness.runner, config.http.tokens)
    api.app.register_blueprint(wallboard_blueprint(config, client, harness.router.snapshot))
    return api


def test_queue_turns_red_past_its_threshold_and_green_again_r_wallboard(
    start: Start, browser: Browser, redis_client: redis.Redis, tenant: str
) -> None:
    harness = start()

    def log_fact(fact: Fact) -> None:
        # As acd.app.build does: facts into the events stream the wallboard counts from.
        harness.store.log_fact(fact.kind, fact.data, time.time())

    harness.runner.observers.insert(0, log_fact)
    config = parse_config(CONFIG.replace("TENANT", tenant))
    api = wallboard_server(harness, config, redis_client)
    port = api.start("127.0.0.1", 0)
    try:
        sim = harness.sim
        sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
        harness.login("1001", ("support",))
        browser.run(lambda: browser.page.goto(f"http://127.0.0.1:{port}/wallboard?token={VIEWER}"))
        longest = '[data-queue="support"] [data-figure="longest_wait"]'
        waiting = '[data-queue="support"] [data-figure="waiting"] .value'

        def colour() -> str | None:
            return browser.attribute(longest, "data-colour")

        wait_until(lambda: colour() == "green", 15, "the support queue never showed green")
        assert browser.evaluate("document.querySelectorAll('.tile').length") == 6
        # Six queues and the agents fit 1920x1080 without scrolling.
        overflow = browser.evaluate(
            "[document.documentElement.scrollWidth - window.innerWidth,"
            " document.documentElement.scrollHeight - window.innerHeight]"
        )
        assert overflow == [0, 0], overflow
        assert browser.text("#title") == "Köer just nu"  # the configured language: sv

        # 1001 takes the first caller; the second waits with no agent free.
        first = sim.place_call("0701111111", "7000")
        harness.wait_fact("bridged", contact=first)
        second = sim.place_call("0702222222", "7000")
        harness.wait_fact("queued", contact=second)
        wait_until(lambda: colour() == "red", 20, f"support never turned red: {colour()}")
        assert browser.text(waiting) == "1"
        assert browser.attribute('[data-queue="support"]', "data-colour") == "red"
        # Same wait, other thresholds: premium's red is at 60 s and nobody waits there.
        assert (
            browser.attribute('[data-queue="premium"] [data-figure="longest_wait"]', "data-colour")
            == "green"
        )
        assert browser.attribute('[data-agent="1001"]', "data-state") == "busy"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "wallboard.png"
        browser.run(lambda: browser.page.screenshot(path=str(shot)))
        assert shot.stat().st_size > 10_000

        # A second agent is free: the caller is answered and the queue recovers.
        sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.2))
        harness.login("1002", ("support",))
        harness.wait_fact("bridged", contact=second)
        wait_until(lambda: colour() == "green", 20, f"support never turned green: {colour()}")
        assert browser.text(waiting) == "0"
        wait_until(
            lambda: browser.text('[data-queue="support"] [data-figure="answered"] .value') == "2",
            10,
            "the answered count never reached 2",
        )
        # English labels on demand.
        browser.run(
            lambda: browser.page.goto(f"http://127.0.0.1:{port}/wallboard?token={VIEWER}&lang=en")
        )
        wait_until(lambda: browser.text("#title") == "Queues now", 10, "no English labels")
        assert browser.errors == []
    finally:
        api.stop()


# ------------------------------------------------------------------ layout at 1920x1080

NEW_YORK = "America/New_York"


class LayoutSource:
    """Six queues and 34 agents as a busy afternoon shows them: an hour-long wait, a
    chart with a gap, passive and missed-call agents. ``fail`` makes it unavailable."""

    name = "engine"

    def __init__(self, now: float) -> None:
        self.now = now
        self.fail = True  # until the test has checked the page before any figures

    def board(self) -> Board:
        if self.fail:
            raise SourceUnavailableError("redis 10.0.0.7:6379: connection refused")
        names = ("support", "sales", "billing", "technical", "returns", "premium")
        queues = []
        for index, name in enumerate(names):
            setup = QueueSetup(name, Thresholds(), 20.0, 0.8)
            # Samples every 20 s, with a 10-minute gap (the engine was down) in the middle.
            series = tuple(
                Point(self.now - 3600 + t, float((t // 300 + index) % 7), 0.5 + (t % 1200) / 2400)
                for t in range(0, 3600, 20)
                if not 1500 <= t < 2100
            )
            queues.append(
                queue_figures(
                    setup,
                    waiting=12 + index,
                    longest_wait=3725.0 + index * 1000 if index < 3 else 75.0,
                    today=Today(
                        answered=1234,
                        answered_within=900,
                        abandoned=321,
                        wait_total=1234 * 4000.0,
                        latest_wait=4000.0 + index,
                        offered=1555,
                    ),
                    agents=AgentCounts(free=3, passive=1, busy=17, wrap_up=2, paused=4),
                    series=series,
                )
            )
        agents = []
        for number in range(34):
            state: AgentState = ("free", "busy", "busy", "wrap_up", "paused", "passive")[number % 6]
            reason = ("no-answer" if number % 12 == 4 else "lunch") if state == "paused" else None
            agents.append(
                AgentFigure(
                    f"{1001 + number}",
                    f"Agent Andersson-{number}",
                    state,
                    3725.0 + number,
                    reason,
                    ("support",),
                )
            )
        return Board(self.now, self.name, tuple(queues), tuple(agents))


def clipped_figures(browser: Browser) -> list[str]:
    """Figures whose value runs past their column (h:mm:ss must shrink, not clip)."""
    found: list[str] = browser.evaluate(
        """[...document.querySelectorAll('.tile .figure')].filter(f => {
             const v = f.querySelector('.value');
             return v.scrollWidth > f.clientWidth + 1
               || v.getBoundingClientRect().right > f.getBoundingClientRect().right + 1;
           }).map(f => f.dataset.figure + '=' + f.querySelector('.value').textContent)"""
    )
    return found


def too_small_text(browser: Browser) -> list[str]:
    """Visible text (HTML and the charts' SVG) smaller than 2.2vh."""
    found: list[str] = browser.evaluate(
        """(() => {
          const least = window.innerHeight * 0.022 - 0.5;
          const out = [];
          for (const node of document.querySelectorAll('body *')) {
            const own = [...node.childNodes].some(
              c => c.nodeType === 3 && c.textContent.trim());
            if (!own || node.getClientRects().length === 0) continue;
            const size = parseFloat(getComputedStyle(node).fontSize);
            if (size < least) out.push(node.tagName + ':' + node.textContent + ':' + size);
          }
          return out;
        })()"""
    )
    return found


def test_six_queues_and_34_agents_fit_a_wall_tv_r_wallboard(browser: Browser) -> None:
    """R-WALLBOARD at 1920x1080: no scrolling; agents past the panel are counted in a
    "+N till" chip; hour-long waits shrink instead of clipping; no text under 2.2vh; the
    chart has time and value ticks, the goal and gaps; the clock shows the board's time
    zone; pause codes and every label are Swedish, also before the first figures; stale
    figures grey the tiles."""
    source = LayoutSource(time.time())
    settings = BoardSettings((), language="sv", refresh_seconds=0.5)
    settings = dataclasses.replace(settings, time_zone=zoneinfo.ZoneInfo(NEW_YORK))
    app = Flask("layout")
    app.register_blueprint(blueprint(Wallboard(settings, source, max_age=0.0), None))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/wallboard"
        browser.run(lambda: browser.page.goto(url))
        wait_until(lambda: browser.attribute("body", "data-stale") == "true", 10, "never stale")
        # Before any figures: Swedish only (no "Agents" heading from the HTML).
        before = browser.evaluate("document.body.innerText")
        assert "Agenter" in before and "Agents" not in before, before
        assert "10.0.0.7" not in before

        source.fail = False
        wait_until(lambda: browser.attribute("body", "data-stale") == "false", 10, "no figures")
        assert browser.evaluate("document.querySelectorAll('.tile').length") == 6
        overflow = browser.evaluate(
            "[document.documentElement.scrollWidth - window.innerWidth,"
            " document.documentElement.scrollHeight - window.innerHeight]"
        )
        assert overflow == [0, 0], overflow

        # Agents past the panel: counted, never cut.
        chips = browser.evaluate(
            """(() => {
              const panel = document.getElementById('agents').getBoundingClientRect();
              const all = [...document.querySelectorAll('#agents .agent')];
              return {
                shown: all.filter(n => !n.dataset.more).length,
                more: all.filter(n => n.dataset.more).map(n => n.textContent),
                outside: all.filter(
                  n => n.getBoundingClientRect().bottom > panel.bottom + 1).length,
              };
            })()"""
        )
        hidden = 34 - chips["shown"]
        assert hidden > 0 and chips["more"] == [f"+{hidden} till"], chips
        assert chips["outside"] == 0, chips

        assert clipped_figures(browser) == []
        longest = '[data-queue="sales"] [data-figure="longest_wait"] .value'
        assert browser.text(longest) == "1:18:45"

        assert too_small_text(browser) == []
        # The chart: a gap stays a gap, the goal is drawn, time ticks in the board's zone.
        chart = '[data-chart="support"]'
        parts = browser.evaluate(f"document.querySelectorAll('{chart} .line-waiting').length")
        assert parts == 2, parts
        assert browser.evaluate(f"document.querySelectorAll('{chart} .line-goal').length") == 1
        ticks = browser.evaluate(
            f"[...document.querySelectorAll('{chart} text')].map(t => t.textContent)"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.run(lambda: browser.page.screenshot(path=str(ARTIFACTS / "wallboard-layout.png")))
        local = datetime.datetime.fromtimestamp(source.now, zoneinfo.ZoneInfo(NEW_YORK))
        assert local.strftime("%H:%M") in ticks and "80%" in ticks and "0%" in ticks, str(ticks)

        # The clock: the board's zone, not the TV's.
        def clock_is_new_york() -> bool:
            shown = browser.text("#clock") or ""
            now = datetime.datetime.now(zoneinfo.ZoneInfo(NEW_YORK))
            return shown[:5] == now.strftime("%H:%M")

        wait_until(clock_is_new_york, 5, f"clock not in {NEW_YORK}: {browser.text('#clock')}")
        agents_text = browser.text("#agents") or ""
        assert "svarade inte" in agents_text and "no-answer" not in agents_text
        assert "passiv" in agents_text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.run(lambda: browser.page.screenshot(path=str(ARTIFACTS / "wallboard-layout.png")))

        # Polling fails: the tiles grey, not only the banner.
        source.fail = True
        wait_until(lambda: browser.attribute("body", "data-stale") == "true", 10, "never stale")
        grey = browser.evaluate("getComputedStyle(document.querySelector('.tile')).filter")
        assert "grayscale" in grey, grey
        browser.run(lambda: browser.page.screenshot(path=str(ARTIFACTS / "wallboard-stale.png")))
        # English labels fit too.
        source.fail = False
        browser.run(lambda: browser.page.goto(url + "?lang=en"))
        wait_until(lambda: browser.text("#title") == "Queues now", 10, "no English labels")
        assert clipped_figures(browser) == [] and too_small_text(browser) == []
        assert (browser.text("[data-more]") or "").endswith(" more")
        browser.run(lambda: browser.page.screenshot(path=str(ARTIFACTS / "wallboard-en.png")))
        assert [e for e in browser.errors if "503" not in e] == []
    finally:
        server.shutdown()
