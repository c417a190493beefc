"""What a Prometheus scrape and a wallboard refresh cost the ENGINE process, before and
after the supervision view (issue 14): at 2,000 agents and 3,500 waiting contacts.

The engine is cooperative (gevent): while a scrape computes, no call lane runs. Two ways
to feed the same metrics and board, measured in the same run on the same Redis:

* **old**: ``RedisRouter.snapshot()`` (a MULTI of one command per record, a dataclass per
  record) and the phone records decoded at every scrape / refresh;
* **new**: ``routing.supervision.SupervisionReader`` (short read-only Lua calls that
  return only the needed fields) and the phone records, both behind
  ``acd.adapters.supervision.SharedRead``; measured here with ``max_age=0`` (every scrape
  reads: one scraper, the worst case) and, for sharing, with the default 1 s.

Figures: engine-process CPU per scrape and per wallboard refresh (``time.process_time``,
sequential, median of rounds); the longest time the event loop was blocked while scrapes
and refreshes ran back to back (a greenlet ticks every 1 ms and records its lateness; the
process is ``gevent.monkey``-patched as ``acd run`` is, so a Redis wait yields); the
Redis-side time of one read (SLOWLOG of every top-level command: total per read and the
longest single command, which is how long Redis is blocked for every engine); and the
reads made when 8 scrapers and 4 wallboards hit one engine for 3 s with the 1 s cache.

Last line: ``RESULT agents=… contacts=… old_cpu_ms=… new_cpu_ms=… old_block_ms=…
new_block_ms=… old_redis_ms=… new_redis_ms=… new_redis_max_call_ms=… shared_reads=…``.
Run: ``python bench/supervision.py [--quick]`` (quick: 400 agents, 700 contacts).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402
from gevent.event import Event  # noqa: E402

# Run as a script, this file's directory would come first on sys.path and its own name
# would shadow packages; the project root must come first instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from acd.adapters.metrics import phone_states  # noqa: E402
from acd.adapters.redis_store import RedisCallStore  # noqa: E402
from acd.adapters.supervision import Supervision  # noqa: E402
from acd.dev.redis_server import RedisServer  # noqa: E402
from acd.engine.records import AgentRecord  # noqa: E402
from routing.api import AgentProfile, Contact, QueueConfig, RouterState, Target  # noqa: E402
from routing.store import RedisRouter  # noqa: E402
from routing.supervision import SupervisionView  # noqa: E402
from wallboard.engine_source import EngineSource, EventsReader  # noqa: E402
from wallboard.figures import BoardSettings, QueueSetup  # noqa: E402
from wallboard.metrics import AcdMetrics  # noqa: E402

TENANT = "bench"
QUEUES = 12
SEED = 20261129
START = 1_800_000_000.0


@dataclass(frozen=True, slots=True)
class Plan:
    agents: int
    contacts: int
    rounds: int
    per_round: int


FULL = Plan(agents=2000, contacts=3500, rounds=7, per_round=3)
QUICK = Plan(agents=400, contacts=700, rounds=3, per_round=3)


def populate(router: RedisRouter, store: RedisCallStore, plan: Plan) -> list[str]:
    """Queues, agents logged in to 1-3 queues: 7 in 10 in a call (1 in 20 of those still
    ringing), 1 in 10 paused, the rest free; then ``plan.contacts`` callers nobody can
    take (a language no agent speaks), so they wait. Phone records for every agent."""
    rng = random.Random(SEED)
    now = START
    names = [f"q{i:02d}" for i in range(QUEUES)]
    for name in names:
        router.put_queue(QueueConfig(name=name), now)
    ids = [f"a{i:05d}" for i in range(plan.agents)]
    serial = 0
    for index, agent in enumerate(ids):
        router.put_agent(AgentProfile(id=agent, languages=("en",)), now)
        router.login(agent, sorted(rng.sample(names, rng.randint(1, 3))), now)
        now += 0.01
        role = index % 10
        state = "available"
        if role < 7:
            serial += 1
            aim = Target(agent, "private", 3600.0)
            contact = Contact(f"p{serial}", "voice", rng.choice(names), now, target=aim)
            (offer,) = router.arrive(contact, now)
            state = "ringing"
            if index % 20:
                router.confirm(offer.id, now)
                state = "in_call"
        elif role == 7:
            router.pause(agent, "lunch", now)
            state = "paused"
        store.put_agent(AgentRecord(agent, state, now))  # type: ignore[arg-type]
    store.flush()
    for _ in range(plan.contacts):
        now += 0.01
        serial += 1
        arrival = now - rng.random() * 300.0
        router.arrive(
            Contact(f"c{serial}", "voice", rng.choice(names), arrival, language="xx"), now
        )
    return names


class Variant:
    """One way of feeding the metrics and the wallboard."""

    def __init__(
        self,
        name: str,
        client: redis.Redis,
        queues: list[str],
        state: Callable[[], RouterState | SupervisionView],
        phones: Callable[[], Mapping[str, tuple[str, float]]],
        pause: Callable[[], None] | None,
    ) -> None:
        self.name = name
        clock = lambda: START + 3600.0  # noqa: E731 - a fixed "now" keeps rounds alike
        self.metrics = AcdMetrics(
            queues, clock=clock, state_provider=state, since_provider=phones, pause=pause
        )
        settings = BoardSettings(tuple(QueueSetup(q) for q in queues[:6]))
        events = EventsReader(client, TENANT, {}, settings.midnight, clock)
        self.board = EngineSource(settings, state, events, clock, pause=pause)

    def scrape(self) -> None:
        text = self.metrics.text()
        if b"acd_agent_state{" not in text:
            raise RuntimeError(f"{self.name}: a scrape lacks the Redis-read families")

    def refresh(self) -> None:
        self.board.board()

    def both(self) -> None:
        self.scrape()
        self.refresh()


def cpu_ms(call: Callable[[], None], plan: Plan) -> float:
    """Median over rounds of the engine-process CPU per call (ms)."""
    rounds = []
    for _ in range(plan.rounds):
        start = time.process_time()
        for _ in range(plan.per_round):
            call()
        rounds.append((time.process_time() - start) / plan.per_round * 1000.0)
    return statistics.median(rounds)


def blocked_ms(work: Callable[[], None] | None, plan: Plan) -> tuple[float, float, float]:
    """A 1 ms ticker's lateness (ms) while ``work`` runs ``plan.per_round`` times back to
    back in another greenlet, per round: (median of the rounds' longest, longest, 99th
    percentile of every tick). ``work=None`` measures the floor: the ticker alone for
    0.3 s a round (this machine's own scheduling noise)."""
    longest: list[float] = []
    every: list[float] = []
    for _ in range(plan.rounds):
        lateness: list[float] = []
        stop = Event()

        def ticker(lateness: list[float] = lateness, stop: Event = stop) -> None:
            while not stop.is_set():
                before = time.perf_counter()
                gevent.sleep(0.001)
                lateness.append(max(0.0, time.perf_counter() - before - 0.001))

        def load(stop: Event = stop) -> None:
            if work is None:
                gevent.sleep(0.3)
            else:
                for _ in range(plan.per_round):
                    work()
            stop.set()

        tick = gevent.spawn(ticker)
        gevent.spawn(load).get()
        tick.join()
        longest.append(max(lateness) * 1000.0)
        every += lateness
    every.sort()
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))] * 1000.0
    return statistics.median(longest), max(longest), p99


def redis_ms(client: redis.Redis, read: Callable[[], object], top: bytes) -> tuple[float, float]:
    """Redis-side (total ms, longest single command ms) of one ``read``: the total from
    ``INFO commandstats`` (every command but the ones run inside ``top``, which its own
    time includes), the longest from SLOWLOG with every command logged (``top``'s
    entries: a script call; for a MULTI, whose EXEC SLOWLOG does not log, the commands
    it ran add up to one block: the total less WATCH and SMEMBERS)."""
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 100_000)
    client.slowlog_reset()
    client.config_resetstat()
    read()
    stats: dict[str, Any] = client.info("commandstats")
    entries: list[dict[str, Any]] = client.slowlog_get(100_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    usec = {name.removeprefix("cmdstat_"): int(v["usec"]) for name, v in stats.items()}
    if top == b"EXEC":
        total = sum(v for k, v in usec.items() if k not in ("config", "slowlog", "info"))
        return total / 1000.0, (total - usec.get("watch", 0) - usec.get("smembers", 0)) / 1000.0
    calls = [e["duration"] for e in entries if e["command"].split()[0].upper() == top]
    return usec.get(top.decode().lower(), 0) / 1000.0, max(calls) / 1000.0


def fresh_reader_page(supervision: Supervision) -> int:
    return supervision.reader.page


def shared_reads(supervision: Supervision, variant: Variant, seconds: float) -> int:
    """Reads of the view made while 8 scrapers and 4 wallboards hit one engine."""
    before = supervision.view.reads
    deadline = time.monotonic() + seconds

    def client(call: Callable[[], None], every: float) -> None:
        while time.monotonic() < deadline:
            call()
            gevent.sleep(every)

    greenlets = [gevent.spawn(client, variant.scrape, 0.2) for _ in range(8)]
    greenlets += [gevent.spawn(client, variant.refresh, 0.5) for _ in range(4)]
    gevent.joinall(greenlets, raise_error=True)
    return supervision.view.reads - before


def plan_of(description: str, argv: list[str] | None) -> Plan:
    """:data:`FULL`, or :data:`QUICK` with ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="400 agents, 700 contacts")
    return QUICK if parser.parse_args(argv).quick else FULL


@contextlib.contextmanager
def populated(
    plan: Plan,
) -> Iterator[tuple[redis.Redis, RedisRouter, RedisCallStore, list[str]]]:
    """A private Redis holding ``plan``'s state (:func:`populate`; one set-up line printed):
    ``(client, router, call store, queues)``."""
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        router = RedisRouter(client, TENANT)
        store = RedisCallStore(client, TENANT)
        started = time.perf_counter()
        queues = populate(router, store, plan)
        print(
            f"set-up: {plan.agents} agents, {plan.contacts} waiting contacts, "
            f"{client.scard(router.keys.contacts())} contacts in all, {QUEUES} queues "
            f"({time.perf_counter() - started:.1f} s)"
        )
        yield client, router, store, queues


def main(argv: list[str] | None = None) -> None:
    plan = plan_of(__doc__.splitlines()[0], argv)
    with populated(plan) as (client, router, _store, queues):

        def old_phones() -> Mapping[str, tuple[str, float]]:
            return phone_states(client, TENANT)

        old = Variant("old", client, queues, router.snapshot, old_phones, None)
        fresh = Supervision(client, TENANT, max_age=0.0)
        new = Variant("new", client, queues, fresh.view, fresh.phones, fresh.pause)
        if fresh.view() != Supervision(client, TENANT).view():  # pragma: no cover
            raise RuntimeError("two reads of an unchanged state differ")
        for variant in (old, new):  # warm-up: scripts loaded, imports done
            variant.scrape()
            variant.refresh()
        # As the engine does after start-up (acd.app.settle_heap): the collector's full
        # passes would otherwise walk the set-up's objects inside the scrapes.
        gc.collect()
        gc.freeze()

        rows: dict[str, dict[str, float]] = {}
        floor = blocked_ms(None, plan)
        for variant in (old, new):
            median_max, longest, p99 = blocked_ms(variant.both, plan)
            rows[variant.name] = {
                "scrape": cpu_ms(variant.scrape, plan),
                "refresh": cpu_ms(variant.refresh, plan),
                "block": median_max,
                "longest": longest,
                "p99": p99,
            }
        old_redis = redis_ms(client, router.snapshot, b"EXEC")
        old_redis_phones = redis_ms(client, old_phones, b"HGETALL")
        new_redis = redis_ms(client, fresh.view.read, b"EVALSHA")
        pages = -(-plan.agents // fresh_reader_page(fresh))
        shared = Supervision(client, TENANT)
        cached = Variant("cached", client, queues, shared.view, shared.phones, shared.pause)
        reads = shared_reads(shared, cached, 3.0)

    print(f"\n{'':34}{'old (snapshot)':>16}{'new (view)':>14}{'ratio':>8}")
    for key, label in (
        ("scrape", "engine CPU per scrape, ms"),
        ("refresh", "engine CPU per wallboard refresh, ms"),
        ("block", "event-loop block, ms (median max)"),
        ("longest", "  longest of all rounds, ms"),
        ("p99", "  p99 of 1 ms ticks' lateness, ms"),
    ):
        a, b = rows["old"][key], rows["new"][key]
        print(f"{label:34}{a:16.1f}{b:14.1f}{a / b if b else float('inf'):8.1f}")
    print(
        f"{'  floor (ticker alone), ms':34}{'':16}{'':14}  median max {floor[0]:.1f}, "
        f"longest {floor[1]:.1f}, p99 {floor[2]:.1f}"
    )
    print(
        f"{'Redis time per read, ms':34}{old_redis[0]:16.1f}{new_redis[0]:14.1f}"
        f"{old_redis[0] / new_redis[0]:8.1f}"
    )
    print(
        f"{'  longest single Redis block, ms':34}{old_redis[1]:16.1f}{new_redis[1]:14.1f}"
        f"   (old: one MULTI; new: 1 + ~{pages} script calls)"
    )
    print(f"{'  phone records (HGETALL), ms':34}{old_redis_phones[0]:16.1f}  (both; new: shared)")
    print(
        f"\nshared 1 s cache: 8 scrapers every 0.2 s + 4 wallboards every 0.5 s for 3 s -> "
        f"{reads} view reads (uncached: ~{8 * 15 + 4 * 6})"
    )
    print(
        f"RESULT agents={plan.agents} contacts={plan.contacts} "
        f"old_cpu_ms={rows['old']['scrape']:.1f} new_cpu_ms={rows['new']['scrape']:.1f} "
        f"old_refresh_ms={rows['old']['refresh']:.1f} new_refresh_ms={rows['new']['refresh']:.1f} "
        f"old_block_ms={rows['old']['block']:.1f} new_block_ms={rows['new']['block']:.1f} "
        f"new_block_p99_ms={rows['new']['p99']:.1f} floor_block_ms={floor[0]:.1f} "
        f"old_redis_ms={old_redis[0]:.1f} new_redis_ms={new_redis[0]:.1f} "
        f"new_redis_max_call_ms={new_redis[1]:.1f} shared_reads={reads}"
    )


if __name__ == "__main__":
    main()
