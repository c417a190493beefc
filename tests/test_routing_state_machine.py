"""The reference model and the Redis scripts, driven in lockstep by random operations.

A hypothesis RuleBasedStateMachine applies the same call to ``ReferenceRouter`` and to
``RedisRouter`` (a real Redis, flushed for every example) and asserts identical results,
errors, full states and queue logs after every step, plus the invariants of
docs/ROUTING.md checked against an independent oracle (tests/routing_oracle.py):
no agent over capacity, no contact offered twice, no idle eligible agent left beside a
waiting contact, (a) picks the longest-idle eligible agent, (b) the best contact, FIFO
within a priority, announced positions never rise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from itertools import pairwise
from typing import Any

import msgpack
import redis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from acd.errors import ACDError
from routing.api import (
    CHANNEL_CLASS,
    AgentProfile,
    AgentView,
    Contact,
    EscalationStep,
    LogEntry,
    QueueConfig,
    Reservation,
    RouterState,
    Target,
)
from routing.keys import TEMPLATES, Keys, lua_prelude
from routing.model import ReferenceRouter
from routing.store import RedisRouter
from tests import routing_oracle as oracle

AGENTS = ("a0", "a1", "a2", "a3")
QUEUES = ("q0", "q1", "q2")
SKILLS = ("s0", "s1")
LANGS = ("en", "sv")
CHANNELS = ("voice", "callback", "chat", "email")

levels = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=2)
needs = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 2), max_size=1)
steps = st.builds(
    EscalationStep,
    after=st.sampled_from([0.0, 4.0, 10.0, 25.0]),
    levels=st.dictionaries(st.sampled_from(SKILLS), st.integers(0, 2), max_size=2),
    drop_language=st.booleans(),
    add_queues=st.lists(st.sampled_from(QUEUES), max_size=2).map(tuple),
)


@st.composite
def queue_configs(draw: st.DrawFn, name: str) -> QueueConfig:
    return QueueConfig(
        name=name,
        skills=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 2), max_size=1)),
        escalation=tuple(sorted(draw(st.lists(steps, max_size=2)), key=lambda s: s.after)),
        passive_waiting=draw(st.sampled_from([None, 1, 2, 3])),
        passive_wait_seconds=draw(st.sampled_from([None, 0.0, 5.0, 15.0])),
        channel_priority=draw(st.sampled_from([{}, {"callback": 2}])),
        wrap_up_seconds=draw(st.sampled_from([0.0, 3.0, 20.0])),
        reservation_timeout=draw(st.sampled_from([5.0, 12.5, 30.0])),
        no_answer_state=draw(st.sampled_from(["available", "paused"])),
        initial_aht=draw(st.sampled_from([60.0, 90.5])),
        min_samples=draw(st.sampled_from([1, 2, 3])),
        max_cv=draw(st.sampled_from([0.2, 2.0])),
        max_ewt=draw(st.sampled_from([100.0, 5000.0])),
    )


@st.composite
def agent_profiles(draw: st.DrawFn, agent_id: str) -> AgentProfile:
    return AgentProfile(
        id=agent_id,
        skills=draw(levels),
        languages=tuple(draw(st.sets(st.sampled_from(LANGS), min_size=1, max_size=2))),
        passive=draw(st.sampled_from([False, False, False, True])),
        chat_capacity=draw(st.integers(0, 2)),
        email_capacity=draw(st.integers(0, 2)),
    )


targets = st.none() | st.builds(
    Target,
    agent_id=st.sampled_from(AGENTS),
    kind=st.sampled_from(["private", "sticky"]),
    seconds=st.sampled_from([3.0, 10.0, 40.0]),
)

Outcome = tuple[str, Any]


def _put_agent(router: Any, profile: AgentProfile, now: float) -> Any:
    return router.put_agent(profile, now)


def _login(router: Any, agent_id: str, queues: list[str], now: float) -> Any:
    return router.login(agent_id, queues, now)


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", call())
    except ACDError as exc:
        return ("error", type(exc))


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__()
        client.flushall()
        self.model = ReferenceRouter()
        self.store = RedisRouter(client, "sm")
        self.now = 1000.0
        self.cfgs: dict[str, QueueConfig] = {}
        self.contact_ids: list[str] = []
        self.reservation_ids: list[str] = []
        self.counter = 0
        self.announced: dict[str, int] = {}
        self.before: RouterState = self.model.snapshot()
        self.made: list[Reservation] = []

    # ---------------------------------------------------------------- plumbing

    def both(self, call: Callable[[Any], Any]) -> Any:
        self.before = self.model.snapshot()
        expected = outcome(lambda: call(self.model))
        actual = outcome(lambda: call(self.store))
        assert expected == actual
        kind, value = expected
        self.made = list(value) if kind == "ok" and isinstance(value, list) else []
        event(f"{kind} {value.__name__ if kind == 'error' else len(self.made)} offer(s)")
        for reservation in self.made:
            self.reservation_ids.append(reservation.id)
        after = self.model.snapshot()
        assert after == self.store.snapshot()
        assert self.model.log_tail(25) == self.store.log_tail(25)
        self.check_offers(after)
        return value if kind == "ok" else None

    def no_timer_due(self, state: RouterState) -> bool:
        return all(due > self.now for due, _member in state.timers)

    def check_offers(self, after: RouterState) -> None:
        """Capacity, and FIFO within a priority for every offer made by the last call.

        A passive agent's eligibility follows the time waited (R-PASSIVE): while a
        passive timer is due but not yet run (a late tick), its queue is over threshold
        without its passive agents having been woken, so one of them may take a newer
        contact first. FIFO for passive agents is checked only when no passive timer was
        due before the call."""
        passive_due = any(
            member.startswith("p|") and due <= self.now for due, member in self.before.timers
        )
        for reservation in self.made:
            agent = after.agents[reservation.agent_id]
            voice, chat, email = agent.load
            assert voice <= 1 and (voice == 0 or chat + email == 0)
            contact = self.before.contacts.get(reservation.contact_id)
            final = after.contacts.get(reservation.contact_id)
            if final is None or final.state != "reserved" or final.agent != agent.id:
                continue
            if agent.passive and passive_due:
                continue
            cls = CHANNEL_CLASS[final.channel]
            assert agent.load[("voice", "chat", "email").index(cls)] <= (
                1 if cls == "voice" else getattr(agent, f"{cls}_capacity")
            )
            for other in oracle.waiting_contacts(after):
                old = self.before.contacts.get(other.id)
                if (
                    old is None
                    or old.state != "waiting"
                    or other.priority != final.priority
                    or CHANNEL_CLASS[other.channel] != cls
                    or (other.score, other.id) >= (final.score, final.id)
                    or (
                        contact is not None
                        and contact.state == "waiting"
                        and (contact.score, contact.id) < (other.score, other.id)
                    )
                ):
                    continue
                before_agent = self.before.agents[agent.id]
                assert not (
                    oracle.matches(self.before, self.cfgs, before_agent, old, self.now)
                    and oracle.matches(after, self.cfgs, agent, other, self.now)
                    and oracle.room(before_agent, cls)
                ), f"{agent.id} took {final.id} while older {other.id} waited"

    # ----------------------------------------------------------------- rules

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        for name in QUEUES:
            self.change_queue_to(data.draw(queue_configs(name)))
        for agent_id in AGENTS:
            profile = data.draw(agent_profiles(agent_id))
            self.both(partial(_put_agent, profile=profile, now=self.now))
        for agent_id in AGENTS:
            queues = sorted(data.draw(st.sets(st.sampled_from(QUEUES), max_size=3)))
            if queues:
                self.both(partial(_login, agent_id=agent_id, queues=queues, now=self.now))

    def change_queue_to(self, cfg: QueueConfig) -> None:
        self.cfgs[cfg.name] = cfg
        self.both(lambda r: r.put_queue(cfg, self.now))

    @rule(data=st.data())
    def change_queue(self, data: st.DataObject) -> None:
        self.change_queue_to(data.draw(queue_configs(data.draw(st.sampled_from(QUEUES)))))

    @rule(data=st.data())
    def change_agent(self, data: st.DataObject) -> None:
        profile = data.draw(agent_profiles(data.draw(st.sampled_from(AGENTS))))
        self.both(lambda r: r.put_agent(profile, self.now))

    @rule(
        agent=st.sampled_from((*AGENTS, "ghost")),
        queues=st.sets(st.sampled_from(QUEUES), min_size=1),
    )
    def login(self, agent: str, queues: set[str]) -> None:
        before = self.model.snapshot()
        made = self.both(lambda r: r.login(agent, sorted(queues), self.now))
        if made is None:
            return
        view = before.agents[agent]
        ready = view.presence == "logged_out"
        changed = replace(
            view,
            queues=tuple(sorted(set(view.queues) | queues)),
            presence="ready" if ready else view.presence,
            idle_since=self.now if ready else view.idle_since,
        )
        self.check_agent_choice(before, changed, made)

    @rule(
        agent=st.sampled_from(AGENTS),
        queues=st.none() | st.sets(st.sampled_from(QUEUES), min_size=1),
    )
    def logout(self, agent: str, queues: set[str] | None) -> None:
        names = None if queues is None else sorted(queues)
        self.both(lambda r: r.logout(agent, names, self.now))

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(["lunch", "meeting"]))
    def pause(self, agent: str, reason: str) -> None:
        self.both(lambda r: r.pause(agent, reason, self.now))

    @rule(agent=st.sampled_from(AGENTS))
    def unpause(self, agent: str) -> None:
        before = self.model.snapshot()
        made = self.both(lambda r: r.unpause(agent, self.now))
        if made is None:
            return
        changed = replace(before.agents[agent], presence="ready", idle_since=self.now)
        self.check_agent_choice(before, changed, made)

    def check_agent_choice(
        self, before: RouterState, agent: AgentView, made: list[Reservation]
    ) -> None:
        """(b): the agent's first offer is the best contact it may take (R-PRIO, R-LIDLE)."""
        trial = replace(before, agents={**before.agents, agent.id: agent})
        best = oracle.best_contact(trial, self.cfgs, agent, self.now)
        if best is None:
            assert made == []
        else:
            assert (made[0].agent_id, made[0].contact_id) == (agent.id, best)

    @rule(
        data=st.data(),
        channel=st.sampled_from(CHANNELS),
        queue=st.sampled_from((*QUEUES, "nowhere")),
        age=st.sampled_from([0.0, 0.0, 0.0, 2.5, 30.0]),
        skills=needs,
        language=st.sampled_from([None, None, "en", "sv"]),
        priority=st.integers(0, 2),
        aim=targets,
    )
    def arrive(
        self,
        data: st.DataObject,
        channel: str,
        queue: str,
        age: float,
        skills: dict[str, int],
        language: str | None,
        priority: int,
        aim: Target | None,
    ) -> None:
        reuse = self.contact_ids and data.draw(st.integers(0, 9)) == 0
        if reuse:
            cid = data.draw(st.sampled_from(self.contact_ids))
        else:
            self.counter += 1
            cid = f"c{self.counter}"
            self.contact_ids.append(cid)
        contact = Contact(
            id=cid,
            channel=channel,  # type: ignore[arg-type]
            queue=queue,
            arrival=self.now - age,
            skills=skills,
            language=language,
            priority=priority,
            target=aim,
        )
        before = self.model.snapshot()
        made = self.both(lambda r: r.arrive(contact, self.now))
        if made is None:
            return
        self.announced.pop(cid, None)  # a new contact under a reused id starts afresh
        view = self.model.snapshot().contacts.get(cid)
        if view is None:
            return
        # (a) against the state the decision saw: the contact as it arrived, no one else moved.
        arriving = replace(view, state="waiting", agent=None)
        best = oracle.best_agent(before, self.cfgs, arriving, self.now)
        if best is not None:
            assert (made[0].agent_id, made[0].contact_id) == (best, cid), "R-LIDLE"

    @rule(
        data=st.data(),
        channel=st.sampled_from(CHANNELS),
        queue=st.sampled_from(QUEUES),
        priority=st.integers(0, 1),
    )
    def arrive_plain(self, data: st.DataObject, channel: str, queue: str, priority: int) -> None:
        self.arrive(data, channel, queue, 0.0, {}, None, priority, None)

    @rule(data=st.data(), queue=st.sampled_from(QUEUES), age=st.sampled_from([1.0, 8.0, 60.0]))
    def call_back(self, data: st.DataObject, queue: str, age: float) -> None:
        """R-CB-PLACE: a call-back keeps the caller's original arrival."""
        self.arrive(data, "callback", queue, age, {}, None, 0, None)

    @rule(data=st.data())
    @precondition(lambda self: bool(self.contact_ids))
    def abandon(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self.contact_ids))
        self.both(lambda r: r.abandon(cid, self.now))

    @rule(data=st.data())
    @precondition(lambda self: bool(self.reservation_ids))
    def confirm(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(self.reservation_ids[-6:]))
        self.both(lambda r: r.confirm(rid, self.now))

    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        pending = sorted(self.model.snapshot().reservations)
        if pending:
            rid = data.draw(st.sampled_from(pending))
            self.both(lambda r: r.confirm(rid, self.now))

    @rule(data=st.data(), handle=st.sampled_from([12.0, 95.25]))
    def finish(self, data: st.DataObject, handle: float) -> None:
        busy = sorted(c.id for c in self.model.snapshot().contacts.values() if c.state == "busy")
        if busy:
            cid = data.draw(st.sampled_from(busy))
            self.both(lambda r: r.complete(cid, self.now, handle))

    @rule(data=st.data())
    def back_from_pause(self, data: st.DataObject) -> None:
        state = self.model.snapshot()
        paused = sorted(a.id for a in state.agents.values() if a.presence == "paused")
        if paused:
            self.unpause(data.draw(st.sampled_from(paused)))

    @rule(data=st.data(), state=st.sampled_from([None, "available", "paused"]))
    @precondition(lambda self: bool(self.reservation_ids))
    def release(self, data: st.DataObject, state: Any) -> None:
        rid = data.draw(st.sampled_from(self.reservation_ids[-6:]))
        self.both(lambda r: r.release(rid, self.now, state))

    @rule(data=st.data())
    @precondition(lambda self: bool(self.contact_ids))
    def pick(self, data: st.DataObject) -> None:
        """R-PICK, R-TELEPHONIST: a telephonist picks a contact for an agent out of turn;
        refused (state unchanged) unless the contact waits and the agent is present with
        room; the invariants (one offer per contact, voice exclusive) hold either way."""
        before = self.model.snapshot()
        waiting = sorted(c.id for c in before.contacts.values() if c.state == "waiting")
        prefer_waiting = bool(waiting) and data.draw(st.booleans())
        pool = waiting if prefer_waiting else self.contact_ids
        cid = data.draw(st.sampled_from(pool))
        # Agents free to take it come up often; any agent (or none) the rest of the time.
        free = sorted(
            a.id for a in before.agents.values() if a.presence == "ready" and not a.assigned
        )
        prefer_free = bool(free) and data.draw(st.booleans())
        agents = free if prefer_free else [*AGENTS, "ghost"]
        agent = data.draw(st.sampled_from(agents))
        log_before = self.model.log_tail(30)
        made = self.both(lambda r: r.pick(cid, agent, self.now))
        after = self.model.snapshot()
        if made is None:
            event("pick refused")
            assert after == before and self.model.log_tail(30) == log_before
            return
        event("pick made")
        self.reservation_ids.append(made.id)
        assert (made.agent_id, made.contact_id) == (agent, cid)
        assert after.reservations[made.id] == made
        assert before.contacts[cid].state == "waiting"
        assert before.agents[agent].presence == "ready"
        assert not any(state == "reserved" for _c, state in before.agents[agent].assigned)

    @rule(data=st.data(), handle=st.sampled_from([0.0, 30.0, 61.5, 240.0]))
    @precondition(lambda self: bool(self.contact_ids))
    def complete(self, data: st.DataObject, handle: float) -> None:
        cid = data.draw(st.sampled_from(self.contact_ids))
        self.both(lambda r: r.complete(cid, self.now, handle))

    @rule(data=st.data())
    @precondition(lambda self: bool(self.contact_ids))
    def position(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self.contact_ids))
        info = self.both(lambda r: r.position(cid, self.now))
        if info is None:
            return
        previous = self.announced.get(cid)
        expected = info.position if previous is None else min(previous, info.position)
        assert info.announced_position == expected, "R-POS: announced never rises"
        assert info.position >= 1
        self.announced[cid] = info.announced_position

    @rule(dt=st.sampled_from([0.1, 1.0, 2.5, 4.0, 11.0, 31.0]), limit=st.sampled_from([1, 1000]))
    def advance(self, dt: float, limit: int) -> None:
        self.now += dt
        self.tick(limit)

    @rule()
    def advance_to_next_timer(self) -> None:
        timers = self.model.snapshot().timers
        if timers:
            self.now = max(self.now, timers[0][0])
        self.tick(1000)

    @rule(
        skip=st.integers(2, 5),
        extra=st.sampled_from([0.0, 0.5, 9.0]),
        limit=st.sampled_from([1, 2, 1000]),
    )
    def late_tick(self, skip: int, extra: float, limit: int) -> None:
        """The tick comes after several timers fell due (or only some of them run)."""
        timers = self.model.snapshot().timers
        if timers:
            self.now = max(self.now, timers[min(skip, len(timers)) - 1][0] + extra)
        self.tick(limit)

    @rule(dt=st.sampled_from([0.5, 3.0, 7.5, 16.0, 45.0]))
    def drift(self, dt: float) -> None:
        """A late tick: time passes with no tick, so the calls that follow meet timers that
        are due but not run, and the next tick runs several at once, each at its due time."""
        self.now += dt

    def tick(self, limit: int) -> None:
        """Run due timers on both and check that each took effect at its due time, in due
        order, however late the tick (docs/ROUTING.md, "Late ticks")."""
        due = [(at, member) for at, member in self.model.snapshot().timers if at <= self.now]
        mark = len(self.model.log)
        made = self.both(lambda r: r.tick(self.now, limit))
        entries = list(self.model.log)[mark:]
        state = self.model.snapshot()
        event(f"tick ran with {min(len(due), 4)}{'+' if len(due) >= 4 else ''} timer(s) due")
        if not due:
            assert entries == [] and made == []
            return
        dated = [e.at for e in entries if e.kind != "reserve"]
        assert dated == sorted(dated), "timers run in due order, each at its due time"
        assert all(due[0][0] <= at <= self.now for at in dated)
        if limit == 1:
            assert set(dated) <= {due[0][0]}
        for entry in entries:
            if entry.kind == "reserve":
                assert entry.at == self.now, "offers are made when the tick runs"
        for reservation in made:
            home = state.contacts[reservation.contact_id].queue
            assert reservation.expires_at == self.now + self.cfgs[home].reservation_timeout
        if limit == 1000:
            for at, member in due:
                if member.startswith("w|"):
                    agent_id = member[2:]
                    assert LogEntry("ready", agent_id, "", "", at) in entries
                    assert state.agents[agent_id].idle_since == at, "R-LIDLE: free since due"

    # ------------------------------------------------------------- invariants

    @invariant()
    def one_offer_per_contact(self) -> None:
        state = self.model.snapshot()
        seen: set[str] = set()
        for reservation in state.reservations.values():
            assert reservation.contact_id not in seen
            seen.add(reservation.contact_id)
            agent = state.agents[reservation.agent_id]
            assert dict(agent.assigned)[reservation.contact_id] == "reserved"
        for agent in state.agents.values():
            voice, chat, email = agent.load
            assert voice <= 1 and (voice == 0 or chat + email == 0), "voice is exclusive"
            assert sum(agent.load) == len(agent.assigned)
            for cid, status in agent.assigned:
                assert state.contacts[cid].agent == agent.id
                assert state.contacts[cid].state == status

    @invariant()
    def no_idle_agent_beside_a_waiting_contact(self) -> None:
        state = self.model.snapshot()
        if not self.no_timer_due(state):
            return  # a due timer (escalation, passive by time) may still widen eligibility
        for contact in oracle.waiting_contacts(state):
            for agent in state.agents.values():
                assert not oracle.eligible(state, self.cfgs, agent, contact, self.now), (
                    f"{agent.id} is free and eligible for waiting {contact.id}"
                )

    @invariant()
    def waiting_order_is_priority_then_arrival(self) -> None:
        state = self.model.snapshot()
        for ids in (*state.waiting.values(), *state.targeted.values()):
            keys = [(state.contacts[c].score, c) for c in ids]
            assert all(a < b for a, b in pairwise(keys))
            order = [
                (-state.contacts[c].priority, math.floor(state.contacts[c].arrival * 1000 + 0.5))
                for c in ids
            ]
            assert order == sorted(order), "priority first, then arrival (ms)"


def test_model_and_redis_agree(redis_client: redis.Redis) -> None:
    """R-SKILL, R-LIDLE, R-PRIO, R-PASSIVE, R-PRIVQ, R-STICKY, R-POS, R-POSALL, R-EWT,
    R-CHANNELS, R-WRAP, R-NOANSWER, R-MULTI, R-PICK, R-TELEPHONIST: identical decisions,
    states and positions."""

    class Machine(RoutingMachine):
        def __init__(self) -> None:
            super().__init__(redis_client)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=250,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_lua_keys(redis_client: redis.Redis) -> None:
    """Python and the generated Lua prelude build identical key names."""
    keys = Keys("tenant-1")
    parts = {"queue": "q.1", "cls": "chat", "agent": "a@x", "contact": "c+1"}
    calls = []
    expected = []
    for name, template in TEMPLATES.items():
        params = [p for p in ("queue", "cls", "agent", "contact") if "{" + p + "}" in template]
        calls.append(f"K.{name}({', '.join(repr(parts[p]) for p in params)})")
        expected.append(keys.build(name, **{p: parts[p] for p in params}))
    script = lua_prelude() + "return cmsgpack.pack({" + ", ".join(calls) + "})"
    built = msgpack.unpackb(redis_client.eval(script, 0, keys.prefix), raw=False)
    assert built == expected
    assert all(k.startswith("acd:{tenant-1}:") for k in expected)
