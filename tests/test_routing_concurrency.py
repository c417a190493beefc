"""Four OS processes drive one tenant in Redis at once; an audit finds no double assignment
and no lost contact (DESIGN.md: several engine processes share one Redis, and two of them
can never give one agent two calls). Shared agents in several queues each (R-MULTI),
every channel (R-CHANNELS), pauses (R-PAUSE), no-answer releases (R-NOANSWER).

Each process has its own RedisRouter, seed and contact ids, and shares every agent. Time
is a logical clock in Redis (INCR before each call), so timers (reservation expiry,
wrap-up, escalation, private/sticky windows, passive activation) fire within the run.
Two processes may read their ``now`` in one order and reach Redis in the other, so ``now``
may step back by a few ticks between calls, as with skewed clocks on several hosts;
nothing audited here depends on time, only on the order Redis executed the scripts, which
the queue log records.

"Decisions" counted: successful calls that can hand a contact to an agent (arrive,
complete, release, unpause, login, tick): each process runs until it has made >= 2,500
of them AND has been handed >= 2,500 reservations, so both totals are >= 10,000.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import pytest
import redis

from acd.dev.redis_server import RedisServer
from routing.api import (
    CHANNEL_CLASS,
    AgentProfile,
    AgentView,
    Channel,
    Contact,
    EscalationStep,
    LogEntry,
    NoAnswerState,
    QueueConfig,
    Reservation,
    RouterState,
    Target,
    TargetKind,
)
from routing.errors import (
    InvalidTransitionError,
    ReservationExpiredError,
    UnknownContactError,
    UnknownReservationError,
)
from routing.keys import Keys
from routing.store import RedisRouter
from tests import routing_oracle as oracle

PROCESSES = 4
MIN_DECISION_CALLS = 2_500  # per process
MIN_RESERVATIONS = 2_500  # per process
MAX_OPS = 30_000  # per process: a run that needs more is stuck, not slow
START = 1_700_000_000.0
STEP = 0.05  # seconds of logical time per call, across all processes
LOG_MAXLEN = 10_000_000  # the audit replays the whole queue log
SKILLS = ("sales", "support", "tech")
AGENT_IDS = tuple(f"ag{i:02d}" for i in range(24))
CAPACITY = {agent: (i % 3, 1) for i, agent in enumerate(AGENT_IDS)}  # (chat, email)

QUEUES = (
    QueueConfig(
        name="sales",
        skills={"sales": 2},
        wrap_up_seconds=0.2,
        reservation_timeout=1.5,
        passive_waiting=4,
    ),
    QueueConfig(
        name="support",
        skills={"support": 3},
        escalation=(EscalationStep(after=2.0, levels={"support": 1}, add_queues=("general",)),),
        reservation_timeout=2.0,
        no_answer_state="paused",
    ),
    QueueConfig(
        name="tech",
        skills={"tech": 1},
        escalation=(EscalationStep(after=1.5, drop_language=True),),
        passive_wait_seconds=3.0,
        channel_priority={"callback": 10},
    ),
    QueueConfig(name="general", reservation_timeout=1.0),
)
QUEUE_NAMES = tuple(q.name for q in QUEUES)
CONFIGS = {q.name: q for q in QUEUES}
CHANNELS: tuple[Channel, ...] = ("voice", "voice", "voice", "callback", "chat", "chat", "email")


def _profile(rng: random.Random, agent_id: str) -> AgentProfile:
    chat, email = CAPACITY[agent_id]
    return AgentProfile(
        id=agent_id,
        skills={s: rng.randint(1, 10) for s in SKILLS if rng.random() < 0.7},
        languages=("en", "es") if rng.random() < 0.4 else ("en",),
        passive=rng.random() < 0.15,
        chat_capacity=chat,
        email_capacity=email,
    )


@dataclass
class Outcome:
    """What one process saw; the parent audits the union."""

    index: int
    arrived: dict[str, Channel] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    reservations: list[Reservation] = field(default_factory=list)
    decision_calls: int = 0
    ops: int = 0
    expected_errors: Counter[str] = field(default_factory=Counter)


class Driver:
    """One process: random operations on the shared tenant, recording what it was given."""

    def __init__(self, url: str, tenant: str, index: int) -> None:
        self.client = redis.Redis.from_url(url)
        self.router = RedisRouter(self.client, tenant, log_maxlen=LOG_MAXLEN)
        self.clock_key = f"test-clock:{tenant}"
        self.rng = random.Random(7919 * (index + 1))
        self.out = Outcome(index)
        self.live: list[str] = []  # own contacts that may still be waiting or reserved
        self.pending: dict[str, Reservation] = {}
        self.busy: list[str] = []  # contacts this process confirmed
        self.announced: dict[str, int] = {}
        self.serial = 0

    def now(self) -> float:
        return START + STEP * int(self.client.incr(self.clock_key))

    def _took(self, made: list[Reservation], decision: bool = True) -> None:
        if decision:
            self.out.decision_calls += 1
        self.out.reservations += made
        for reservation in made:
            self.pending[reservation.id] = reservation

    def _expected(self, error: Exception) -> None:
        self.out.expected_errors[type(error).__name__] += 1

    def arrive(self) -> None:
        self.serial += 1
        cid = f"p{self.out.index}-{self.serial}"
        now = self.now()
        channel = self.rng.choice(CHANNELS)
        target = None
        if self.rng.random() < 0.1:
            kind: TargetKind = self.rng.choice(("private", "sticky"))
            target = Target(self.rng.choice(AGENT_IDS), kind, self.rng.uniform(0.5, 3.0))
        contact = Contact(
            id=cid,
            channel=channel,
            queue=self.rng.choice(QUEUE_NAMES),
            # A call-back keeps the caller's earlier place (R-CB-PLACE).
            arrival=now - self.rng.uniform(0.0, 5.0) if channel == "callback" else now,
            skills={self.rng.choice(SKILLS): self.rng.randint(1, 4)}
            if self.rng.random() < 0.2
            else {},
            language=self.rng.choice((None, None, "en", "es")),
            priority=self.rng.choice((0, 0, 0, 1, 5)),
            target=target,
        )
        made = self.router.arrive(contact, now)
        self.out.arrived[cid] = channel
        self.live.append(cid)
        self._took(made)

    def abandon(self) -> None:
        if not self.live:
            self.tick()
            return
        cid = self.rng.choice(self.live)
        try:
            made = self.router.abandon(cid, self.now())
        except InvalidTransitionError as error:  # answered meanwhile: in progress
            self._expected(error)
            return
        except UnknownContactError as error:  # answered and completed by another process
            self._expected(error)
            self.live.remove(cid)
            return
        self.live.remove(cid)
        self.out.abandoned.append(cid)
        self._took(made, decision=False)

    def _pop_pending(self) -> Reservation | None:
        if not self.pending:
            return None
        rid = self.rng.choice(sorted(self.pending))
        return self.pending.pop(rid)

    def confirm(self) -> None:
        reservation = self._pop_pending()
        if reservation is None:
            self.tick()
            return
        try:
            self.router.confirm(reservation.id, self.now())
        except (UnknownReservationError, ReservationExpiredError) as error:
            self._expected(error)  # released by a tick, an abandon, a pause or a logout
            return
        self.busy.append(reservation.contact_id)

    def release(self) -> None:
        reservation = self._pop_pending()
        if reservation is None:
            self.tick()
            return
        state: NoAnswerState | None = self.rng.choice((None, "available", "paused"))
        try:
            made = self.router.release(reservation.id, self.now(), state)
        except UnknownReservationError as error:
            self._expected(error)
            return
        self._took(made)

    def complete(self) -> None:
        if not self.busy:
            self.confirm()
            return
        cid = self.busy.pop(self.rng.randrange(len(self.busy)))
        # Nobody else can end a contact this process confirmed: this must succeed.
        made = self.router.complete(cid, self.now(), self.rng.uniform(1.0, 100.0))
        self.out.completed.append(cid)
        if cid in self.live:
            self.live.remove(cid)
        self._took(made)

    def login(self) -> None:
        agent = self.rng.choice(AGENT_IDS)
        queues = self.rng.sample(QUEUE_NAMES, self.rng.randint(1, 3))
        self._took(self.router.login(agent, queues, self.now()))

    def logout(self) -> None:
        agent = self.rng.choice(AGENT_IDS)
        queues = None if self.rng.random() < 0.3 else self.rng.sample(QUEUE_NAMES, 1)
        self._took(self.router.logout(agent, queues, self.now()), decision=False)

    def pause(self) -> None:
        try:
            made = self.router.pause(self.rng.choice(AGENT_IDS), "break", self.now())
        except InvalidTransitionError as error:  # logged out
            self._expected(error)
            return
        self._took(made, decision=False)

    def unpause(self) -> None:
        try:
            made = self.router.unpause(self.rng.choice(AGENT_IDS), self.now())
        except InvalidTransitionError as error:  # not paused
            self._expected(error)
            return
        self._took(made)

    def put_agent(self) -> None:
        profile = _profile(self.rng, self.rng.choice(AGENT_IDS))
        self._took(self.router.put_agent(profile, self.now()), decision=False)

    def tick(self) -> None:
        self._took(self.router.tick(self.now()))

    def position(self) -> None:
        if not self.live:
            return
        cid = self.rng.choice(self.live)
        try:
            info = self.router.position(cid, self.now())
        except (InvalidTransitionError, UnknownContactError) as error:  # not waiting
            self._expected(error)
            return
        before = self.announced.get(cid, info.announced_position)
        assert info.announced_position <= before, (cid, before, info)  # R-POS: never rises
        self.announced[cid] = info.announced_position

    def run(self, go_key: str) -> Outcome:
        # Start together: the last process to arrive lets everyone go.
        if self.client.incr(f"{go_key}:ready") == PROCESSES:
            self.client.rpush(go_key, *["go"] * PROCESSES)
        assert self.client.blpop([go_key], timeout=60) is not None, "the others never started"
        ops: list[tuple[Callable[[], None], int]] = [
            (self.arrive, 20),
            (self.confirm, 20),
            (self.complete, 20),
            (self.abandon, 6),
            (self.release, 4),
            (self.tick, 8),
            (self.login, 5),
            (self.logout, 3),
            (self.pause, 3),
            (self.unpause, 5),
            (self.put_agent, 2),
            (self.position, 4),
        ]
        calls, weights = zip(*ops, strict=True)
        while (
            self.out.decision_calls < MIN_DECISION_CALLS
            or len(self.out.reservations) < MIN_RESERVATIONS
        ):
            assert self.out.ops < MAX_OPS, f"process {self.out.index} made no progress"
            self.rng.choices(calls, weights)[0]()
            self.out.ops += 1
        self.client.close()
        return self.out


def drive(url: str, tenant: str, index: int) -> Outcome:
    return Driver(url, tenant, index).run(f"test-go:{tenant}")


# ---------------------------------------------------------------------------- audit


def replay(
    entries: list[LogEntry], channels: dict[str, Channel]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Walk the queue log in execution order; fail at the first entry that hands a contact
    to a second agent or gives an agent more than its channels allow (R-CHANNELS).
    Returns who holds what at the end and, per contact, the agents it was offered to."""
    holder: dict[str, str] = {}  # contact -> agent (reserved or busy)
    held: dict[str, dict[str, str]] = defaultdict(dict)  # agent -> contact -> class
    offers: dict[str, list[str]] = defaultdict(list)
    for n, entry in enumerate(entries):
        where = f"log entry {n}: {entry}"
        if entry.kind == "reserve":
            assert entry.contact not in holder, f"offered twice: {where}, {holder[entry.contact]}"
            cls = CHANNEL_CLASS[channels[entry.contact]]
            mine = held[entry.agent]
            if cls == "voice":
                assert not mine, f"voice-class offer to a busy agent: {where}, holds {mine}"
            else:
                assert "voice" not in mine.values(), f"{cls} offer during a call: {where}"
                chat, email = CAPACITY[entry.agent]
                used = sum(1 for c in mine.values() if c == cls)
                assert used < (chat if cls == "chat" else email), f"over capacity: {where}"
            holder[entry.contact] = entry.agent
            mine[entry.contact] = cls
            offers[entry.contact].append(entry.agent)
        elif entry.kind in ("release", "complete") or (entry.kind == "abandon" and entry.agent):
            assert holder.pop(entry.contact, None) == entry.agent, f"not held: {where}"
            del held[entry.agent][entry.contact]
        elif entry.kind == "abandon":
            assert entry.contact not in holder, f"abandoned while held: {where}"
        elif entry.kind == "confirm":
            assert holder.get(entry.contact) == entry.agent, f"confirm not held: {where}"
    return holder, offers


def _voice_free(agent: AgentView) -> bool:
    return agent.presence == "ready" and sum(agent.load) == 0


def _takes(agent: AgentView, cls: str) -> bool:
    """Channel-available for one more contact of the class (R-CHANNELS)."""
    if cls == "voice":
        return _voice_free(agent)
    capacity = agent.chat_capacity if cls == "chat" else agent.email_capacity
    used = agent.load[1] if cls == "chat" else agent.load[2]
    return agent.presence == "ready" and agent.load[0] == 0 and used < capacity


def _zset(client: redis.Redis, key: str) -> dict[bytes, float]:
    rows: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return dict(rows)


def check_consistent(state: RouterState, client: redis.Redis, keys: Keys) -> None:
    """The snapshot agrees with itself and with the store's sorted-set indexes."""
    waiting: dict[str, list[str]] = defaultdict(list)
    targeted: dict[str, list[str]] = defaultdict(list)
    assigned: dict[str, dict[str, str]] = defaultdict(dict)
    for cid, contact in state.contacts.items():
        if contact.state == "waiting" and contact.restriction is None:
            for queue in contact.queues:
                waiting[queue].append(cid)
        elif contact.state == "waiting":
            assert contact.target is not None, contact
            targeted[contact.target].append(cid)
        else:
            assert contact.agent is not None and contact.reservation is not None, contact
            assigned[contact.agent][cid] = contact.state
            if contact.state == "reserved":
                assert state.reservations[contact.reservation] == Reservation(
                    contact.reservation, contact.agent, cid, contact.expires_at or -1.0
                ), contact
    assert len(state.reservations) == sum(
        1 for c in state.contacts.values() if c.state == "reserved"
    )

    def key(cid: str) -> tuple[int, str]:
        return (state.contacts[cid].score, cid)

    for queue in set(waiting) | set(state.waiting):
        assert state.waiting.get(queue, ()) == tuple(sorted(waiting[queue], key=key)), queue
    for agent_id in set(targeted) | set(state.targeted):
        expected = tuple(sorted(targeted[agent_id], key=key))
        assert state.targeted.get(agent_id, ()) == expected, agent_id
    for agent_id, agent in state.agents.items():
        assert dict(agent.assigned) == assigned[agent_id], agent_id
        load = Counter(CHANNEL_CLASS[state.contacts[c].channel] for c in assigned[agent_id])
        assert agent.load == (load["voice"], load["chat"], load["email"]), agent
        assert agent.load[0] == 0 or agent.load == (1, 0, 0), f"voice plus more: {agent}"
        assert (agent.presence == "logged_out") == (not agent.queues), agent
    # The indexes the decisions scan: every logged-in member; available agents per queue
    # (no contact at all: `free`/`passive`; some chat/e-mail with room for a class:
    # `avail`/`pavail`), by idle time, only for members that meet the queue's skill
    # floor; and the waiting contacts per queue by effective arrival.
    for queue in QUEUE_NAMES:
        members = [a for a in state.agents.values() if queue in a.queues]
        assert _zset(client, keys.members(queue)) == {a.id.encode(): 0.0 for a in members}
        serving = [a for a in members if oracle.serves(CONFIGS, a, queue)]
        for passive, free_key, avail_key in (
            (False, keys.free, keys.avail),
            (True, keys.passive, keys.pavail),
        ):
            group = [a for a in serving if a.passive == passive]
            indexed = {a.id.encode(): a.idle_since for a in group if _voice_free(a)}
            assert _zset(client, free_key(queue)) == indexed, (queue, passive)
            for cls in ("chat", "email"):
                indexed = {
                    a.id.encode(): a.idle_since
                    for a in group
                    if not _voice_free(a) and _takes(a, cls)
                }
                assert _zset(client, avail_key(queue, cls)) == indexed, (queue, passive, cls)
        arrivals = _zset(client, keys.arrivals(queue))
        assert arrivals == {cid.encode(): state.contacts[cid].arrival for cid in waiting[queue]}, (
            queue
        )


def check_work_conserving(state: RouterState) -> None:
    """At rest no waiting contact has an available, eligible, non-passive agent: every
    change that frees an agent or queues a contact ran its decision."""
    for contact in state.contacts.values():
        if contact.state != "waiting":
            continue
        cls = CHANNEL_CLASS[contact.channel]
        if contact.restriction == "private":
            assert contact.target is not None
            target = state.agents[contact.target]
            assert target.presence == "logged_out" or not _takes(target, cls), contact
            continue
        for agent in state.agents.values():
            if contact.restriction == "sticky" and agent.id != contact.target:
                continue
            skills = dict(agent.skills)
            eligible = (
                not agent.passive
                and _takes(agent, cls)
                and any(
                    q in agent.queues and oracle.serves(CONFIGS, agent, q) for q in contact.queues
                )
                and all(skills.get(s, 0) >= level for s, level in contact.requirements)
                and (contact.language is None or contact.language in agent.languages)
            )
            assert not eligible, f"{contact.id} waits while {agent.id} could take it"


@pytest.mark.slow
def test_four_processes_share_one_tenant(
    redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> None:
    """4 processes, >= 10,000 decisions; no agent holds two voice contacts (R-CHANNELS), no
    contact is offered twice, every contact is accounted for exactly once."""
    setup = RedisRouter(redis_client, tenant, log_maxlen=LOG_MAXLEN)
    rng = random.Random(11)
    for cfg in QUEUES:
        assert setup.put_queue(cfg, START) == []
    for agent_id in AGENT_IDS:
        setup.put_agent(_profile(rng, agent_id), START)
        setup.login(agent_id, rng.sample(QUEUE_NAMES, rng.randint(1, 3)), START)

    started = time.monotonic()
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(drive, redis_server.url, tenant, i) for i in range(PROCESSES)]
        outcomes = [future.result() for future in futures]
    elapsed = time.monotonic() - started

    decisions = sum(o.decision_calls for o in outcomes)
    reservations = [r for o in outcomes for r in o.reservations]
    assert decisions >= PROCESSES * MIN_DECISION_CALLS
    assert len(reservations) >= PROCESSES * MIN_RESERVATIONS

    channels: dict[str, Channel] = {}
    for outcome in outcomes:
        assert not channels.keys() & outcome.arrived.keys()
        channels.update(outcome.arrived)
    entries = setup.log_tail(1_000_000)
    assert entries[0].kind == "queue", "the log was trimmed; the audit needs all of it"
    holder, offers = replay(entries, channels)

    # (1)+(2) the log and the returned reservations tell the same story: each reservation
    # was handed to exactly one process, and the log has each one, in attempt order.
    ids = [r.id for r in reservations]
    assert len(ids) == len(set(ids)), "a reservation was returned twice"
    assert sum(len(agents) for agents in offers.values()) == len(reservations)
    by_contact: dict[str, list[Reservation]] = defaultdict(list)
    for reservation in reservations:
        by_contact[reservation.contact_id].append(reservation)
    for cid, made in by_contact.items():
        made.sort(key=lambda r: int(r.id.rsplit("#", 1)[1]))
        assert [r.id for r in made] == [f"{cid}#{n}" for n in range(1, len(made) + 1)], cid
        assert [r.agent_id for r in made] == offers[cid], cid

    # (3) every contact that arrived is in exactly one place.
    state = setup.snapshot()
    arrived = set(channels)
    completed = [c for o in outcomes for c in o.completed]
    abandoned = [c for o in outcomes for c in o.abandoned]
    assert len(completed) == len(set(completed)) and len(abandoned) == len(set(abandoned))
    present = set(state.contacts)
    assert not (present & set(completed) or present & set(abandoned))
    assert not set(completed) & set(abandoned)
    assert present | set(completed) | set(abandoned) == arrived
    kinds = Counter(entry.kind for entry in entries)
    assert (kinds["arrive"], kinds["complete"], kinds["abandon"]) == (
        len(arrived),
        len(completed),
        len(abandoned),
    )
    assert holder == {c.id: c.agent for c in state.contacts.values() if c.agent is not None}

    # (4) the snapshot and the indexes agree; (5) nothing waits beside an idle agent.
    check_consistent(state, redis_client, setup.keys)
    check_work_conserving(state)

    errors = sum((o.expected_errors for o in outcomes), Counter[str]())
    print(
        f"\n{PROCESSES} processes: {decisions} decision calls, {len(reservations)} "
        f"reservations, {sum(o.ops for o in outcomes)} operations, {len(arrived)} contacts "
        f"({len(present)} left), {len(entries)} log entries, {elapsed:.1f} s; "
        f"expected races: {dict(errors)}"
    )
