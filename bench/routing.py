"""Routing decisions per second at 100, 1,000 and 10,000 agents, against a trivial EVALSHA.

Two decision kinds, each the single script call that makes one reservation:
arrival -> agent (``arrive``) and agent-free -> contact (``complete`` with no wrap-up).
200 skills, one queue each; agents with 3-6 skills; 5,000 contacts waiting. The ceiling
is ``register_script("return 1")`` called the same way (same client, same process, one
call at a time), alternating call by call with the decisions. Targets: >= 30 % of the
ceiling at 10,000 agents, and cost at 10,000 agents <= 1.5x the cost at 100.

decisions/s is 1 / mean of the timed calls. The machine is shared, so rates drift between
sizes and stalls hit single calls: the share of the ceiling is the ratio of the median
ceiling call to the median decision of the same interleaved round, and growth compares
those shares (cost relative to the ceiling measured at the same moments); the raw ratio of
rates is printed too. The RESULT
line takes the worse decision kind for ``ceiling_ratio`` (the slower kind at 10,000
agents), ``growth`` (the larger) and ``p99_ms`` (the larger).
Run: ``python bench/routing.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

# Run as a script, this file's directory would come first on sys.path and its own name
# would shadow the ``routing`` package; the project root must come first instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from acd.dev.redis_server import RedisServer  # noqa: E402
from bench.routing_workload import Bench, Timings, make_workload, timed  # noqa: E402
from routing.store import RedisRouter  # noqa: E402

SEED = 20240611
KINDS = (("arrive", "arrival->agent"), ("free", "agent-free->contact"))


@dataclass(frozen=True, slots=True)
class Plan:
    sizes: tuple[int, ...]
    waiting: int
    rounds: int
    per_round: int
    warmup: int


FULL = Plan(sizes=(100, 1000, 10000), waiting=5000, rounds=3, per_round=1000, warmup=200)
QUICK = Plan(sizes=(100, 1000, 10000), waiting=1000, rounds=2, per_round=300, warmup=50)


@dataclass(slots=True)
class SizeResult:
    agents: int
    setup_seconds: dict[str, float]
    timings: dict[str, Timings]  # decision kind -> seconds per timed decision
    ceilings: dict[str, Timings]  # decision kind -> the EVALSHA calls interleaved with it
    decisions: int

    def ratio(self, kind: str) -> float:
        """Ceiling time / decision time, per round from the interleaved calls, median of
        rounds. Medians of the calls, not means: a stall from other work on the shared
        machine lands on one call of the pair and would swing a ratio of means."""
        pairs = zip(self.timings[kind].rounds, self.ceilings[kind].rounds, strict=True)
        return statistics.median(statistics.median(c) / statistics.median(d) for d, c in pairs)

    def ceiling_eps(self) -> float:
        return statistics.median(
            1.0 / statistics.fmean(r) for t in self.ceilings.values() for r in t.rounds
        )


def _interleaved(
    once: Callable[[], float], ceiling: Callable[[], object], count: int
) -> tuple[list[float], list[float]]:
    """Alternate one trivial EVALSHA and one decision, so both see the same machine load
    (the machine is shared and noisy; a ceiling measured minutes apart would not)."""
    decisions, ceilings = [], []
    for _ in range(count):
        seconds, answer = timed(ceiling)
        assert answer == 1, answer
        ceilings.append(seconds)
        decisions.append(once())
    return decisions, ceilings


def _stage(label: str, setup: dict[str, float], work: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = work()
    setup[label] = time.perf_counter() - start
    return result


def run_size(client: redis.Redis, agents: int, plan: Plan) -> SizeResult:
    client.flushall()  # only this size's tenant in memory; the script cache survives
    router = RedisRouter(client, f"bench{agents}")
    bench = Bench(router, make_workload(agents, SEED), plan.waiting, SEED + agents)
    trivial = client.register_script("return 1")

    def ceiling() -> object:
        return trivial()

    setup: dict[str, float] = {}
    timings = {kind: Timings() for kind, _label in KINDS}
    ceilings = {kind: Timings() for kind, _label in KINDS}
    _stage("agents", setup, bench.load_agents)
    unservable = _stage("waiting", setup, bench.load_unservable)
    assert isinstance(unservable, list)
    for kind, once in (("arrive", bench.arrive_once), ("free", bench.free_once)):
        if kind == "free":
            _stage("all busy", setup, lambda: bench.make_all_busy(unservable))
        _interleaved(once, ceiling, plan.warmup)
        for _ in range(plan.rounds):
            gc.collect()
            decisions, ceiling_samples = _interleaved(once, ceiling, plan.per_round)
            timings[kind].add_round(decisions)
            ceilings[kind].add_round(ceiling_samples)
    expected = 2 * (plan.warmup + plan.rounds * plan.per_round)
    assert bench.decisions == expected, (bench.decisions, expected)
    return SizeResult(agents, setup, timings, ceilings, bench.decisions)


def report(results: Sequence[SizeResult], plan: Plan) -> str:
    ceiling_eps = statistics.median(r.ceiling_eps() for r in results)
    lines = [
        f"routing decisions: median of {plan.rounds} rounds x {plan.per_round} timed calls "
        f"per kind and size, {plan.waiting} contacts waiting, 200 skills/queues",
        "ceiling: EVALSHA 'return 1', same client, one call at a time, interleaved call by "
        f"call with the decisions: {ceiling_eps:,.0f} calls/s (per size: "
        + ", ".join(f"{r.agents}: {r.ceiling_eps():,.0f}" for r in results)
        + ")",
        "",
        f"{'agents':>7}  {'decision':<20} {'decisions/s':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'of ceiling (p50)':>16}",
    ]
    for result in results:
        for kind, label in KINDS:
            timing = result.timings[kind]
            lines.append(
                f"{result.agents:>7}  {label:<20} {timing.eps():>11,.0f} "
                f"{timing.pct_ms(50):>7.3f} {timing.pct_ms(99):>7.3f} "
                f"{result.ratio(kind):>16.1%}"
            )
    lines.append("")
    for result in results:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.setup_seconds.items())
        lines.append(
            f"set-up at {result.agents} agents: {stages}; "
            f"{result.decisions} timed+warm-up decisions, each made exactly one reservation"
        )
    small, big = results[0], results[-1]
    first, last = small.agents, big.agents
    growths = {}
    for kind, label in KINDS:
        # Cost relative to the interleaved ceiling, so load from other work on the machine
        # between the sizes cancels out; the raw ratio of rates is printed beside it.
        growths[kind] = small.ratio(kind) / big.ratio(kind)
        raw = small.timings[kind].eps() / big.timings[kind].eps()
        lines.append(
            f"growth {label} {first} -> {last} agents: {growths[kind]:.2f}x "
            f"(raw decisions/s ratio {raw:.2f}x)"
        )
    slower = min((kind for kind, _l in KINDS), key=big.ratio)
    ratio = big.ratio(slower)
    growth = max(growths.values())
    p99 = max(big.timings[kind].pct_ms(99) for kind, _l in KINDS)
    targets = "met" if ratio >= 0.30 and growth <= 1.5 else "NOT met"
    lines.append(
        f"targets (>= 30% of ceiling, growth <= 1.5x) at {last} agents: {targets} "
        f"(slower kind: {slower})"
    )
    lines.append(
        f"RESULT ceiling_eps={ceiling_eps:.0f} "
        f"arrive_eps_{last}={big.timings['arrive'].eps():.0f} "
        f"free_eps_{last}={big.timings['free'].eps():.0f} "
        f"ceiling_ratio={ratio:.3f} growth_{first}_to_{last}={growth:.3f} p99_ms_{last}={p99:.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and waiting contacts")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = []
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            for agents in plan.sizes:
                start = time.perf_counter()
                results.append(run_size(client, agents, plan))
                print(
                    f"# {agents} agents done in {time.perf_counter() - start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            client.close()
    print(report(results, plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
