"""What the HTTP API's requests cost the ENGINE process, before and after the API stopped
reading the whole routing state (issue 14): at 2,000 agents and 3,500 waiting contacts.

The engine is cooperative (gevent): while a request handler computes, no call lane runs.
At a shift start 2,000 agents log in through the API, and wall TVs poll the lists. The
same requests, measured in the same run on the same Redis (bench/supervision.py's state):

* **old**: what every handler read before: ``RedisRouter.snapshot()`` (a MULTI of one
  command per record, a dataclass per record); timed as the snapshot alone, so the old
  figures are a lower bound of the old handlers' cost;
* **new**: the real handlers of ``acd.adapters.http.AdminApi`` through Flask's test client
  (``GET /api/agents/{id}``, ``GET /api/queues``, ``GET /api/queues/{name}/contacts``,
  ``GET /api/agents``) and an agent action's routing read (``read_agent``), with the
  shared supervision read at ``max_age=0`` (every request reads: the worst case) and at
  the engine's 1 s.

Figures: engine-process CPU per request (``time.process_time``, median of rounds) and
the longest time the event loop was blocked while a mix of requests ran back to back (a
greenlet ticks every 1 ms and records its lateness; the process is
``gevent.monkey``-patched as ``acd run`` is).

Last line: ``RESULT agents=… contacts=… old_request_ms=… new_login_ms=… new_queues_ms=…
old_block_ms=… new_block_ms=… cached_block_ms=…``.
Run: ``python bench/http_api.py [--quick]`` (quick: 400 agents, 700 contacts).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from acd.adapters.http import AdminApi  # noqa: E402
from acd.adapters.redis_store import RedisCallStore  # noqa: E402
from acd.adapters.supervision import Supervision  # noqa: E402
from acd.config.endpoints import ApiToken  # noqa: E402
from acd.engine.policy import AgentEntry  # noqa: E402
from bench.supervision import (  # noqa: E402
    QUEUES,
    START,
    TENANT,
    Plan,
    blocked_ms,
    cpu_ms,
    plan_of,
    populated,
)
from routing.store import RedisRouter  # noqa: E402
from routing.store_snapshot import read_agent  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def api(router: RedisRouter, store: RedisCallStore, plan: Plan, max_age: float) -> AdminApi:
    """The real API over the bench's state, with a stand-in runner (no engine lanes: the
    read endpoints and reads need none)."""
    agents = {
        f"a{i:05d}": AgentEntry(f"a{i:05d}", "0" * 64, None, (), f"Agent {i}")
        for i in range(plan.agents)
    }
    settings = SimpleNamespace(agents=agents, queues={f"q{i:02d}": None for i in range(QUEUES)})
    engine = SimpleNamespace(router=router, store=store, settings=settings)
    runner: Any = SimpleNamespace(engine=engine, clock=lambda: START + 3600.0)
    supervision = Supervision(router.client, TENANT, max_age=max_age)
    token = ApiToken(token=TOKEN, role="supervisor", name="bench")
    return AdminApi(runner, [token], supervision=supervision)


def requests(server: AdminApi, plan: Plan) -> dict[str, Callable[[], None]]:
    client = server.app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ids = iter(range(10**9))

    def get(path: str) -> Callable[[], None]:
        def call() -> None:
            answer = client.get(path, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.get_data()!r}")

        return call

    def one_agent() -> None:
        get(f"/api/agents/a{next(ids) % plan.agents:05d}")()

    def login_read() -> None:
        if read_agent(server.router.client, server.router.keys, "a00001") is None:
            raise RuntimeError("agent a00001 unknown")

    return {
        "agent action (its routing read)": login_read,
        "GET /api/agents/{id}": one_agent,
        "GET /api/queues": get("/api/queues"),
        "GET /api/queues/{name}/contacts": get("/api/queues/q00/contacts"),
        "GET /api/agents": get("/api/agents"),
    }


def mix(calls: dict[str, Callable[[], None]]) -> Callable[[], None]:
    """A shift start: mostly logins and one-agent reads, the lists now and then."""

    def run() -> None:
        for _ in range(20):
            calls["agent action (its routing read)"]()
            calls["GET /api/agents/{id}"]()
        calls["GET /api/queues"]()
        calls["GET /api/queues/{name}/contacts"]()
        calls["GET /api/agents"]()

    return run


def main(argv: list[str] | None = None) -> None:
    plan = plan_of(__doc__.splitlines()[0], argv)
    with populated(plan) as (_client, router, store, _queues):

        def old() -> None:
            router.snapshot()

        fresh = requests(api(router, store, plan, 0.0), plan)
        cached = requests(api(router, store, plan, 1.0), plan)
        for call in (old, *fresh.values(), *cached.values()):  # warm-up
            call()
        gc.collect()
        gc.freeze()  # as the engine does after start-up (acd.app.settle_heap)

        old_ms = cpu_ms(old, plan)
        new_ms = {name: cpu_ms(call, plan) for name, call in fresh.items()}
        cached_ms = {name: cpu_ms(call, plan) for name, call in cached.items()}
        floor = blocked_ms(None, plan)
        old_block = blocked_ms(old, plan)  # one request's worth: every request did this
        new_block = blocked_ms(mix(fresh), plan)
        cached_block = blocked_ms(mix(cached), plan)

    print(
        f"\n{'engine CPU per request, ms':40}{'old (snapshot)':>16}{'new, max_age 0':>16}"
        f"{'new, 1 s':>10}"
    )
    for name in fresh:
        print(f"{name:40}{old_ms:16.1f}{new_ms[name]:16.2f}{cached_ms[name]:10.2f}")
    print(
        f"\nevent-loop block, ms (median of rounds' longest / longest / p99 of 1 ms ticks)\n"
        f"{'  old: one request (a snapshot)':44}{old_block[0]:7.1f} {old_block[1]:7.1f} "
        f"{old_block[2]:7.1f}\n"
        f"{'  new, max_age 0: 40 agent requests + 3 lists':44}{new_block[0]:7.1f} "
        f"{new_block[1]:7.1f} {new_block[2]:7.1f}\n"
        f"{'  new, 1 s: the same mix':44}{cached_block[0]:7.1f} {cached_block[1]:7.1f} "
        f"{cached_block[2]:7.1f}\n"
        f"{'  floor (ticker alone)':44}{floor[0]:7.1f} {floor[1]:7.1f} {floor[2]:7.1f}"
    )
    logins = plan.agents * old_ms / 1000.0
    print(
        f"\nshift start, {plan.agents} logins: old ~{logins:.0f} s of engine CPU "
        f"(each a {old_ms:.0f} ms stall); new "
        f"~{plan.agents * new_ms['agent action (its routing read)'] / 1000.0:.2f} s"
    )
    print(
        f"RESULT agents={plan.agents} contacts={plan.contacts} old_request_ms={old_ms:.1f} "
        f"new_login_ms={new_ms['agent action (its routing read)']:.2f} "
        f"new_agent_ms={new_ms['GET /api/agents/{id}']:.2f} "
        f"new_queues_ms={new_ms['GET /api/queues']:.1f} "
        f"new_contacts_ms={new_ms['GET /api/queues/{name}/contacts']:.1f} "
        f"new_agents_ms={new_ms['GET /api/agents']:.1f} "
        f"cached_queues_ms={cached_ms['GET /api/queues']:.2f} "
        f"old_block_ms={old_block[0]:.1f} new_block_ms={new_block[0]:.1f} "
        f"cached_block_ms={cached_block[0]:.1f} floor_block_ms={floor[0]:.1f}"
    )


if __name__ == "__main__":
    main()
