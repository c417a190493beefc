"""The wallboard in a real browser (R-WALLBOARD): headless Chromium (Debian ``chromium``)
driven by Playwright loads ``/wallboard`` from the engine's HTTP server while the
simulator drives callers; a queue whose longest wait crosses its red threshold turns red
in the page, and green again once an agent is free and takes the caller. The screenshot
is kept in ``build/test-artifacts/wallboard.png``.

Playwright's sync API blocks its thread, and the engine runs on this thread's gevent hub:
the browser lives in a thread of its own and this test waits for it cooperatively.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import gevent
import pytest
import redis
from playwright.sync_api import sync_playwright

from acd.adapters.http import AdminApi
from acd.adapters.wallboard import wallboard_blueprint
from acd.config import Config, parse_config
from acd.engine.effects import Fact
from freeswitch.sim import AgentPhone
from tests.engine_harness import Harness, Start

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
