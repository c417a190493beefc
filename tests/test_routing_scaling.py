"""The fast path does not step over agents it can never pick (docs/ROUTING.md, "Scan
bounds"). Counted, not timed: the Redis commands a decision runs (``INFO commandstats``
counts the calls scripts make) must not grow with the number of paused passive agents
(F2) or of members failing a queue's skill floor (F3). Plus the rule behind F3 and the
re-indexing when ``put_queue`` moves a floor, on both routers (R-SKILL, R-PASSIVE,
R-LIVECONF).
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from routing.api import AgentProfile, Contact, EscalationStep, QueueConfig, Reservation, Router
from routing.keys import Keys
from routing.store import RedisRouter

# Commands that are not work done by a routing script.
_NOT_SCRIPT_WORK = {
    "cmdstat_evalsha",
    "cmdstat_eval",
    "cmdstat_script",
    "cmdstat_info",
    "cmdstat_config",
}


def _commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(row["calls"]) for name, row in stats.items() if name not in _NOT_SCRIPT_WORK}


def _counted(client: redis.Redis, call: Callable[[], object]) -> dict[str, int]:
    """Redis commands (by name) run by one script call."""
    client.config_resetstat()
    call()
    return _commands(client)


def _paused_passive_crowd(client: redis.Redis, tenant: str, crowd: int) -> dict[str, int]:
    router = RedisRouter(client, tenant)
    router.put_queue(QueueConfig(name="q", passive_waiting=1), 1.0)
    router.put_agent(AgentProfile(id="coach", passive=True), 1.0)
    router.login("coach", ["q"], 1.0)
    router.pause("coach", "away", 1.0)
    for i in range(crowd):
        router.put_agent(AgentProfile(id=f"pa{i}", passive=True), 1.0)
        router.login(f"pa{i}", ["q"], 1.0)
        router.pause(f"pa{i}", "away", 1.0)
    assert router.arrive(Contact("w0", "voice", "q", 2.0), 2.0) == []  # q is now over
    assert router.arrive(Contact("w1", "voice", "q", 3.0), 3.0) == []
    # The counted call: a third arrival into the over-threshold queue, and an unpause
    # whose agent takes the oldest contact.
    counts = _counted(client, lambda: router.arrive(Contact("w2", "voice", "q", 4.0), 4.0))
    made: list[Reservation] = []
    counts_unpause = _counted(client, lambda: made.extend(router.unpause("coach", 5.0)))
    assert [r.contact_id for r in made] == ["w0"]
    return {f"arrive:{k}": v for k, v in counts.items()} | {
        f"unpause:{k}": v for k, v in counts_unpause.items()
    }


def test_paused_passive_agents_cost_nothing(redis_client: redis.Redis, tenant: str) -> None:
    """F2, R-PASSIVE: an arrival into an over-threshold queue reads only the available
    passive agents; 2,000 paused ones cost no more Redis work than 20."""
    few = _paused_passive_crowd(redis_client, tenant + "a", 20)
    redis_client.flushall()
    many = _paused_passive_crowd(redis_client, tenant + "b", 2_000)
    assert many == few
    assert few.get("arrive:cmdstat_get", 0) <= 4  # queue, contact lookups: no agent decoded


def _floor_crowd(client: redis.Redis, tenant: str, crowd: int) -> dict[str, int]:
    router = RedisRouter(client, tenant)
    relax = EscalationStep(after=60.0, levels={"s": 3})
    router.put_queue(QueueConfig(name="q", skills={"s": 5}, escalation=(relax,)), 1.0)
    for i in range(crowd):  # idle the longest, but below the floor (3) for good
        router.put_agent(AgentProfile(id=f"low{i}", skills={"s": 2}), 1.0)
        router.login(f"low{i}", ["q"], 1.0)
    router.put_agent(AgentProfile(id="mid", skills={"s": 3}), 2.0)
    router.login("mid", ["q"], 2.0)  # meets the floor, not the requirement at arrival
    router.put_agent(AgentProfile(id="good", skills={"s": 5}), 3.0)
    router.login("good", ["q"], 3.0)
    made: list[Reservation] = []
    counts = _counted(
        client, lambda: made.extend(router.arrive(Contact("c1", "voice", "q", 4.0), 4.0))
    )
    assert [r.agent_id for r in made] == ["good"]
    return counts


def test_members_below_the_floor_cost_nothing(redis_client: redis.Redis, tenant: str) -> None:
    """F3, R-SKILL: members that fail the queue's requirement even after every escalation
    step are not in its available sets, so 2,000 of them cost an arrival no more Redis
    work than 20."""
    few = _floor_crowd(redis_client, tenant + "a", 20)
    redis_client.flushall()
    many = _floor_crowd(redis_client, tenant + "b", 2_000)
    assert many == few


def test_floor_failing_member_takes_no_overflow(router: Router) -> None:
    """An agent serves only the queues whose floor it meets: a contact overflowing into
    q from another queue (with lower requirements) is not offered to q's members below
    q's floor (R-SKILL, docs/ROUTING.md "Eligibility")."""
    router.put_queue(QueueConfig(name="q", skills={"s": 5}), 0.0)
    overflow = EscalationStep(after=10.0, add_queues=("q",))
    router.put_queue(QueueConfig(name="home", escalation=(overflow,)), 0.0)
    router.put_agent(AgentProfile(id="low", skills={"s": 1}), 0.0)
    router.login("low", ["q"], 0.0)
    assert router.arrive(Contact("c1", "voice", "home", 1.0), 1.0) == []
    assert router.tick(20.0) == []
    assert router.snapshot().contacts["c1"].queues == ("home", "q")
    # Lowering q's floor lets the member serve q: it takes the contact at once.
    made = router.put_queue(QueueConfig(name="q", skills={"s": 1}), 21.0)
    assert [(r.agent_id, r.contact_id) for r in made] == [("low", "c1")]


def test_raising_the_floor_moves_members_out(router: Router) -> None:
    """R-LIVECONF: put_queue applies a new floor to later decisions, both ways."""
    router.put_queue(QueueConfig(name="q"), 0.0)
    router.put_agent(AgentProfile(id="a", skills={"s": 2}), 0.0)
    router.login("a", ["q"], 0.0)
    router.put_queue(QueueConfig(name="q", skills={"s": 3}), 1.0)
    assert router.arrive(Contact("c1", "voice", "q", 2.0), 2.0) == []
    router.put_queue(QueueConfig(name="q", skills={"s": 2}), 3.0)
    assert router.snapshot().contacts["c1"].state == "waiting"  # its own requirement is 3
    router.put_agent(AgentProfile(id="a", skills={"s": 3}), 4.0)
    assert router.snapshot().contacts["c1"].state == "reserved"


def test_put_queue_reindexes_members(redis_client: redis.Redis, tenant: str) -> None:
    """The available sets follow the floor after put_queue (O(members) then, never per
    decision)."""
    router = RedisRouter(redis_client, tenant)
    keys = Keys(tenant)
    router.put_queue(QueueConfig(name="q"), 0.0)
    for agent_id, level, passive in (("a", 1, False), ("b", 4, False), ("p", 1, True)):
        router.put_agent(AgentProfile(id=agent_id, skills={"s": level}, passive=passive), 0.0)
        router.login(agent_id, ["q"], 1.0)

    def held(key: str) -> list[bytes]:
        return list(redis_client.zrange(key, 0, -1))  # type: ignore[arg-type]

    assert held(keys.free("q")) == [b"a", b"b"] and held(keys.passive("q")) == [b"p"]
    router.put_queue(QueueConfig(name="q", skills={"s": 3}), 2.0)
    assert held(keys.free("q")) == [b"b"] and held(keys.passive("q")) == []
    assert held(keys.members("q")) == [b"a", b"b", b"p"]
    relax = EscalationStep(after=5.0, levels={"s": 0})
    router.put_queue(QueueConfig(name="q", skills={"s": 3}, escalation=(relax,)), 3.0)
    assert held(keys.free("q")) == [b"a", b"b"] and held(keys.passive("q")) == [b"p"]
