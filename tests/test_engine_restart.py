"""Restart safety (DESIGN.md contract 2, issue 12 section 6): the engine is killed and
restarted under load, FreeSWITCH restarts, events are dropped; reconciliation leaves every
caller served or accounted for and never gives an agent two calls at once (contract 1).

The SIGKILL test runs the engine as its own process (``acd run --config``) against the
simulator in this process; agents log in through the engine's HTTP API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gevent
import pytest
import redis
import yaml

from acd.adapters.reconcile import CAUSE
from acd.dev.redis_server import RedisServer
from acd.engine.records import AgentRecord, CallRecord
from freeswitch.client import ClientSettings
from freeswitch.sim import AgentPhone, Simulator
from freeswitch.sim.dialplan import SHIPPED_EXTENSIONS, Dialplan
from freeswitch.sim.events import SimEvent
from routing.api import Contact
from routing.store import RedisRouter
from tests.engine_harness import (
    Harness,
    engine_fixture,
    restarting,
    stop_engine,
)

pytestmark = pytest.mark.slow

AGENTS = ("1001", "1002", "1003", "1004")
TOKEN = "restart-test-admin-token-0123"
#: Simulated seconds per real second: phones and prompts run 5x faster than real time.
TIME_SCALE = 0.2


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        gevent.sleep(0.02)


# ---------------------------------------------------------------------- what FreeSWITCH saw


@dataclass
class Ledger:
    """Everything the simulator saw of callers and agent legs, from its own events.

    ``overlaps`` records every moment an agent had two live legs (offered or bridged)."""

    callers: set[str] = field(default_factory=set)
    bridged: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    hung_up_by_caller: set[str] = field(default_factory=set)
    legs: dict[str, set[str]] = field(default_factory=dict)
    overlaps: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def on_event(self, event: SimEvent) -> None:
        uuid = event.get("Unique-ID") or ""
        agent = event.get("variable_acd_agent")
        if event.name == "CHANNEL_CREATE" and agent and event.get("variable_acd_role") == "agent":
            live = self.legs.setdefault(agent, set())
            live.add(uuid)
            if len(live) > 1:
                self.overlaps.append((agent, tuple(sorted(live))))
        elif event.name == "CHANNEL_BRIDGE":
            self.bridged.add(event.get("Bridge-A-Unique-ID") or uuid)
        elif event.name == "CHANNEL_HANGUP":
            self.gone.add(uuid)
            for live in self.legs.values():
                live.discard(uuid)

    def place(self, sim: Simulator, destination: str) -> str:
        caller = sim.place_call(f"07012345{len(self.callers):02d}", destination)
        self.callers.add(caller)
        return caller

    def hang_up(self, sim: Simulator, caller: str) -> None:
        self.hung_up_by_caller.add(caller)
        sim.hangup(caller)

    def waiting(self) -> list[str]:
        return sorted(self.callers - self.bridged - self.gone)


@dataclass
class SnapshotWatch:
    """Samples routing's state while the test runs: no agent may hold two contacts, no
    contact may be held by two agents."""

    router: RedisRouter
    problems: list[str] = field(default_factory=list)
    samples: int = 0

    def check(self) -> None:
        state = self.router.snapshot()
        self.samples += 1
        holders: dict[str, str] = {}
        for agent_id, view in state.agents.items():
            if len(view.assigned) > 1:
                self.problems.append(f"agent {agent_id} holds {view.assigned}")
            for contact, _ in view.assigned:
                if contact in holders:
                    self.problems.append(f"{contact} held by {holders[contact]} and {agent_id}")
                holders[contact] = agent_id

    def run(self) -> None:
        while True:
            self.check()
            gevent.sleep(0.02)


# ---------------------------------------------------------------------- the engine process


def write_config(path: Path, tenant: str, esl_port: int, redis_url: str) -> Path:
    queue = {
        "wrap_up_seconds": 0,
        "ring_timeout": 20,  # simulated seconds: 4 s real
        "no_answer": {"state": "available"},
        "announcements": {"every": 5},
    }
    config = {
        "tenant": tenant,
        "esl": {
            "host": "127.0.0.1",
            "port": esl_port,
            "reconnect_min": 0.05,
            "reconnect_max": 0.5,
        },
        "redis": {"url": redis_url},
        "http": {
            "host": "127.0.0.1",
            "port": 0,
            "tokens": [{"token": TOKEN, "role": "admin", "name": "test"}],
        },
        "languages": ["sv", "en"],
        "skills": {"billing": "Invoices", "products": "Orders"},
        "queues": {
            "support": {"code": 1, "language": "sv", "skills": {"billing": 1}, **queue},
            "sales": {"code": 2, "language": "en", **queue},
        },
        "agents": {
            agent: {
                "pin": agent * 2,
                "contact": f"user/{agent}",
                "skills": {"billing": 2, "products": 2},
                "languages": ["sv", "en"],
                "queues": ["support", "sales"],
            }
            for agent in AGENTS
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class EngineProcess:
    """``acd run --config`` as a child process, its log in a file."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "acd.cli", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        mark = self.log.stat().st_size

        def started() -> bool:
            assert self.process is not None and self.process.poll() is None, self.text()
            found = re.search(r"acd\.started .*http_port=(\d+)", self.text(mark))
            if found:
                self.http_port = int(found.group(1))
            return found is not None

        wait_until(started, 30, "the engine to start")

    def text(self, offset: int = 0) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def login(self, agent: str) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/agents/{agent}/login",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )

        def send() -> int:
            with urllib.request.urlopen(req, timeout=10) as reply:
                json.loads(reply.read())
                return int(reply.status)

        # On a native thread: the simulator in this process must keep serving meanwhile.
        assert gevent.get_hub().threadpool.apply(send) == 200


@pytest.fixture
def shipped_sim() -> Iterator[Simulator]:
    sim = Simulator(
        port=0, time_scale=TIME_SCALE, heartbeat_interval=2.0, dialplan=Dialplan(SHIPPED_EXTENSIONS)
    ).start()
    try:
        yield sim
    finally:
        sim.stop()


def test_sigkill_under_load_every_caller_served_no_agent_double_booked(
    shipped_sim: Simulator,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tenant: str,
    tmp_path: Path,
) -> None:
    """Contract 2 (no waiting caller lost) and contract 1 (no agent double-booked) across an
    engine SIGKILL: callers waiting, agents ringing and talking when it dies; callers
    hang up and arrive while it is dead; the restarted engine adopts and serves them."""
    sim = shipped_sim
    ledger = Ledger()
    unhook = sim.on_event(ledger.on_event)
    watch = SnapshotWatch(RedisRouter(redis_client, tenant))
    for agent, answer_after in zip(AGENTS, (1.0, 1.0, 6.0, 12.0), strict=True):
        # Talk for 10 simulated seconds (2 s real) and two slow answerers, so calls are
        # talking, in the whisper and ringing when the engine dies.
        sim.add_agent_phone(
            AgentPhone(f"user/{agent}", answer_after=answer_after, hangup_after=10.0)
        )
    config = write_config(tmp_path / "acd.yaml", tenant, sim.port, redis_server.url)
    engine = EngineProcess(config, tmp_path / "engine.log")
    watcher = gevent.spawn(watch.run)
    try:
        engine.start()
        for agent in AGENTS:
            engine.login(agent)
        for index in range(10):
            ledger.place(sim, "7000" if index % 2 else "7001")
        # Under load: agents talking, callers still waiting.
        wait_until(lambda: len(ledger.bridged) >= 2, 30, "the first bridges")
        assert len(ledger.waiting()) >= 3
        engine.kill()

        # While the engine is dead: two waiting callers give up, two new ones arrive,
        # and at least one call that was talking ends.
        talking = set(ledger.bridged - ledger.gone)
        for caller in ledger.waiting()[:2]:
            ledger.hang_up(sim, caller)
        late = [ledger.place(sim, "7000"), ledger.place(sim, "7001")]
        wait_until(lambda: bool(talking & ledger.gone), 30, "a call to end while down")

        engine.start()
        everyone = lambda: all(  # noqa: E731 - a predicate read once below
            c in ledger.bridged or c in ledger.hung_up_by_caller for c in ledger.callers
        )
        wait_until(everyone, 60, f"every caller served: waiting {ledger.waiting()}")
        assert set(late) <= ledger.bridged
        # Every call ends (agents hang up) and nothing is left behind in Redis.
        wait_until(lambda: ledger.callers <= ledger.gone, 60, "every call to end")
        router = RedisRouter(redis_client, tenant)
        wait_until(lambda: not router.snapshot().contacts, 30, "routing to hold no contact")
        wait_until(
            lambda: not redis_client.hlen(f"acd:{{{tenant}}}:calls"), 30, "no call record left"
        )
    finally:
        watcher.kill()
        unhook()
        engine.stop()
    served = ledger.callers - ledger.hung_up_by_caller
    assert served <= ledger.bridged, "a caller was lost"
    assert set(ledger.legs) == set(AGENTS)  # every agent's legs were followed
    assert not ledger.overlaps, f"agent double-booked: {ledger.overlaps}"
    watch.check()
    assert watch.samples > 10 and not watch.problems, watch.problems[:5]
    state = RedisRouter(redis_client, tenant).snapshot()
    assert {a: v.presence for a, v in state.agents.items()} == dict.fromkeys(AGENTS, "ready")
    assert "acd.reconciled" in engine.text()


# ---------------------------------------------------------------------- in-process engine


@pytest.fixture
def acd(redis_client: redis.Redis, tenant: str) -> Iterator[Harness]:
    yield from engine_fixture(redis_client, tenant)


def test_freeswitch_restart_closes_old_calls_frees_agents_serves_next(acd: Harness) -> None:
    """A FreeSWITCH restart (new Core-UUID, no channels, the hang-ups never seen): the
    engine reconnects, reconciles (the old core's callers closed, their agents freed) and
    serves the next caller."""
    sim = acd.sim
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.0))
    acd.login("1001", ("support",))
    talking = sim.place_call("0701234567", "7000")
    acd.wait_fact("bridged", contact=talking)
    waiting = sim.place_call("0701234568", "7000")
    acd.wait_fact("queued", contact=waiting)
    reconciles = acd.runner.counters["reconciles"]

    # The engine must not see the hang-ups: refuse it, cut it off, restart the core.
    sim.accepting = False
    sim.drop_connections()
    sim.restart()  # every channel gone, a new Core-UUID; accepting again
    acd.wait(lambda: acd.runner.counters["reconciles"] > reconciles, 10)

    abandoned = acd.wait_fact("abandoned", contact=waiting, timeout=10)
    assert abandoned.data["cause"] == CAUSE
    assert acd.wait_fact("completed", contact=talking, timeout=10).data["agent"] == "1001"
    assert acd.wait(lambda: not acd.store.calls())
    assert acd.router.snapshot().contacts == {}
    assert acd.store.get_agent("1001") is not None
    assert acd.wait(lambda: acd.router.snapshot().agents["1001"].presence == "ready")

    after = sim.place_call("0701234569", "7000")
    assert acd.wait_fact("bridged", contact=after, timeout=10).data["agent"] == "1001"


def test_dropped_events_resync_leaves_no_record_of_a_gone_caller(
    redis_client: redis.Redis, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backlog overflow drops hang-ups; the resync that follows closes those callers
    (abandoned, cause ACD_RECONCILED) and no record or routing contact stays behind."""
    monkeypatch.setattr("tests.engine_harness.ClientSettings", partial(ClientSettings, backlog=2))
    for acd in engine_fixture(redis_client, tenant):
        _overflow_then_resync(acd)


def _overflow_then_resync(acd: Harness) -> None:
    callers = [acd.sim.place_call(f"07012345{i:02d}", "7000") for i in range(12)]
    assert acd.wait(lambda: len({f.data["contact"] for f in acd.kinds("queued")}) == 12, 20)
    for caller in callers:
        acd.sim.hangup(caller)  # a burst: more events than the backlog holds
    assert acd.wait(lambda: not acd.store.calls(), 20), acd.store.calls()
    assert acd.client.events_dropped > 0
    abandoned = acd.kinds("abandoned")
    closed = {f.data["contact"] for f in abandoned if f.data["cause"] == CAUSE}
    assert closed, "no caller needed the resync: the test proved nothing"
    assert {f.data["contact"] for f in abandoned} == set(callers)
    assert acd.router.snapshot().contacts == {}


# ---------------------------------------------------------------------- crash windows
# What a process killed between two writes leaves behind, made by hand; a fresh engine on
# the same Redis and simulator must repair it at once (routing's expiries would take the
# reservation timeout, 31 s here, and an illegal agent state would never heal).


@pytest.fixture
def dead_then_new(
    redis_client: redis.Redis, tenant: str
) -> Iterator[tuple[Harness, Callable[[], Harness]]]:
    """A first engine (to log agents in, then stop as if killed) and a factory for the
    engine that starts next on the same simulator and Redis."""
    yield from restarting(redis_client, tenant)


def _contact(uuid: str, queue: str = "support") -> Contact:
    return Contact(uuid, "voice", queue, time.time(), language="sv")


def test_stale_phone_record_is_corrected_so_the_agent_is_offered_again(
    dead_then_new: tuple[Harness, Callable[[], Harness]],
) -> None:
    """The old process wrote ``ringing`` for a call and died before the call's record: the
    next offer to that agent must still be legal (contract 2: agent states corrected)."""
    first, restart = dead_then_new
    first.sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.0))
    first.login("1001", ("support",))
    first.store.put_agent(
        AgentRecord("1001", "ringing", since=time.time() - 5, contact="gone", queues=["support"])
    )
    first.store.flush()  # what the dead process had written
    stop_engine(first)
    acd = restart()
    record = acd.store.get_agent("1001")
    assert record is not None and (record.state, record.contact) == ("available", None)
    caller = acd.sim.place_call("0701234567", "7000")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    assert acd.runner.counters["engine_errors"] == 0


def test_offer_of_the_dead_process_is_released_and_the_caller_served_at_once(
    dead_then_new: tuple[Harness, Callable[[], Harness]],
) -> None:
    """Routing reserved an agent for a waiting caller, the offer never reached the call
    (its record still says queued): released without penalty, and offered again."""
    first, restart = dead_then_new
    first.sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.0))
    first.login("1001", ("support",))
    stop_engine(first)  # the caller parks unseen
    caller = first.sim.place_call("0701234567", "7000")
    offers = first.router.arrive(_contact(caller), time.time())
    assert [r.agent_id for r in offers] == ["1001"]
    first.store.put_call(
        CallRecord(caller, "caller", "queued", time.time(), queue="support", answered=True)
    )
    first.store.flush()
    acd = restart()
    assert acd.wait_fact("bridged", contact=caller, timeout=10).data["agent"] == "1001"


def test_routing_contact_without_call_or_channel_is_closed(
    dead_then_new: tuple[Harness, Callable[[], Harness]],
) -> None:
    """The old process put a contact into routing and died before its record; the caller
    hung up meanwhile: the contact is closed, not left waiting for ever."""
    first, restart = dead_then_new
    stop_engine(first)
    first.router.arrive(_contact("ghost-caller"), time.time())
    acd = restart()
    assert acd.wait(lambda: "ghost-caller" not in acd.router.snapshot().contacts)
    assert acd.wait_fact("closed", contact="ghost-caller").data["reason"] == "no-call"


def test_whisper_confirmed_in_routing_before_the_crash_is_bridged(
    dead_then_new: tuple[Harness, Callable[[], Harness]],
) -> None:
    """The old process confirmed the offer in routing and died before writing the record
    past the whisper: the new one bridges (confirming again would fail and strand the
    caller, busy in routing but queued in its record)."""
    first, restart = dead_then_new
    first.login("1001", ("support",))
    stop_engine(first)
    caller = first.sim.place_call("0701234567", "7000")
    leg = first.sim.place_call("0701230000", "7001")  # stands for the answered agent leg
    [offer] = first.router.arrive(_contact(caller), time.time())
    first.router.confirm(offer.id, time.time())
    earlier = time.time() - 5
    first.store.put_call(
        CallRecord(
            caller,
            "caller",
            "whisper",
            earlier,
            queue="support",
            answered=True,
            reservation=offer.id,
            agent="1001",
            agent_leg=leg,
            offered_at=earlier,
            answered_at=earlier,
        )
    )
    first.store.link_leg(leg, caller)
    first.store.put_agent(
        AgentRecord("1001", "in_call", since=earlier, contact=caller, queues=["support"])
    )
    first.store.flush()
    acd = restart()
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    assert acd.wait(lambda: f"api uuid_bridge {caller} {leg}" in acd.commands("api uuid_bridge"))
    acd.sim.hangup(caller)
    assert acd.wait_fact("completed", contact=caller).data["agent"] == "1001"
    assert acd.wait(lambda: acd.router.snapshot().contacts == {})
