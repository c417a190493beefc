"""The engine as a benchmark runs it in its own process: ``acd.app.build``/``start`` as
``acd run`` does, every agent of the configuration logged in, facts counted."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any


def start_logged_in(
    config_path: str,
    log_level: str,
    instrument: Callable[[Any], Any],
    login_timeout: float,
) -> tuple[Any, Counter[str], Any]:
    """``(app, facts by kind, what instrument(app) returned)`` once every agent of the
    configuration is logged in (or ``login_timeout`` seconds passed). Call after
    ``gevent.monkey.patch_all()``: the imports here open sockets."""
    import gevent  # noqa: PLC0415

    from acd.app import build, settle_heap, start  # noqa: PLC0415
    from acd.config import load_config  # noqa: PLC0415
    from acd.engine.effects import Fact  # noqa: PLC0415
    from acd.engine.events import AgentCommand  # noqa: PLC0415
    from acd.logs import configure_logging  # noqa: PLC0415

    configure_logging(log_level)
    config = load_config(config_path)
    facts: Counter[str] = Counter()

    def count(fact: Fact) -> None:
        facts[fact.kind] += 1

    app = build(config, observers=[count])
    instrumented = instrument(app)
    start(app, connect_deadline=10.0)
    now = time.time()
    for agent in config.agents:
        app.runner.post(agent, AgentCommand(agent, "login", now))
    deadline = time.monotonic() + login_timeout
    while facts["agent_login"] < len(config.agents) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    settle_heap(app)  # as ``acd run`` does once started
    return app, facts, instrumented
