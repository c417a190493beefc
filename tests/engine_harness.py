"""The engine end to end over TCP: simulator (FreeSWITCH stand-in), real Redis, ESL client,
runner. Tests drive callers and agent phones through the simulator and read what the
engine did from its facts, its records and the simulator's command log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gevent
import redis
import yaml

from acd.adapters.redis_store import RedisCallStore
from acd.adapters.runner import Runner
from acd.adapters.translate import ENGINE_EVENTS, ENGINE_FILTERS
from acd.app import App, build, start
from acd.config import parse_config
from acd.engine.effects import Fact
from acd.engine.engine import Engine
from acd.engine.events import AgentCommand
from acd.engine.policy import AgentEntry, EngineSettings, QueuePolicy, hash_pin
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.sim import Simulator
from freeswitch.sim.dialplan import SHIPPED_EXTENSIONS, Dialplan
from freeswitch.sim.events import SimEvent
from freeswitch.sim.sounds import SoundLibrary
from routing.api import AgentProfile, NoAnswerState, QueueConfig
from routing.store import RedisRouter

AGENT_SKILLS: Mapping[str, int] = {"billing": 3, "invoice": 1}
SIM_CONFIG = """\
esl: {host: 127.0.0.1, port: 8021, password: ClueCon}
redis: null
skills: {billing: Invoices, invoice: One invoice}
queues:
  support: {code: 1, language: sv}
  sales: {code: 2, language: en}
"""
"""A configuration with :func:`default_settings`' queues and skills, for tests to add
entries, menus or rules to and read with ``parse_config`` (its esl and redis parts are not
used: the harness connects the engine itself)."""
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "acd.yaml"


def default_settings(**queue_changes: object) -> EngineSettings:
    support = QueuePolicy("support", announce_first_after=0.0, announce_every=30.0)
    sales = QueuePolicy("sales", announce_first_after=0.0, announce_every=30.0)
    if queue_changes:
        support = replace(support, **queue_changes)  # type: ignore[arg-type]
        sales = replace(sales, **queue_changes)  # type: ignore[arg-type]
    agents = {
        f"100{i}": AgentEntry(
            f"100{i}", hash_pin(f"{i}{i}{i}{i}"), f"user/100{i}", ("support", "sales")
        )
        for i in range(1, 6)
    }
    return EngineSettings(
        queues={"support": support, "sales": sales},
        agents=agents,
        queue_codes={"1": "support", "2": "sales"},
        pause_reasons={"1": "lunch", "2": "meeting"},
        whisper_timeout=1.0,
        announce_check_after=2.0,
        tick_interval=0.05,
        digit_timeout_ms=300,
        first_digit_timeout_ms=2000,
    )


@dataclass
class Harness:
    sim: Simulator
    engine: Engine
    runner: Runner
    client: ESLClient
    router: RedisRouter
    store: RedisCallStore
    facts: list[Fact] = field(default_factory=list)
    stamps: list[tuple[float, Fact]] = field(default_factory=list)  # (epoch seconds, fact)

    def observe(self, fact: Fact) -> None:
        self.stamps.append((time.time(), fact))
        self.facts.append(fact)

    def stamp(self, fact: Fact) -> float:
        """When ``fact`` was observed (epoch seconds)."""
        return next(at for at, seen in self.stamps if seen is fact)

    def kinds(self, kind: str) -> list[Fact]:
        return [f for f in self.facts if f.kind == kind]

    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            gevent.sleep(0.01)
        return predicate()

    def wait_fact(self, kind: str, count: int = 1, timeout: float = 5.0, **match: object) -> Fact:
        def found() -> list[Fact]:
            return [
                f for f in self.kinds(kind) if all(f.data.get(k) == v for k, v in match.items())
            ]

        assert self.wait(lambda: len(found()) >= count, timeout), (
            f"no {count}x {kind} {match} in {[(f.kind, dict(f.data)) for f in self.facts]}"
        )
        return found()[count - 1]

    def login(self, agent: str, queues: tuple[str, ...] | None = None) -> None:
        self.runner.post(agent, AgentCommand(agent, "login", time.time(), queues))
        self.wait_fact("agent_login", agent=agent)

    def commands(self, prefix: str) -> list[str]:
        return [line for line in list(self.sim.commands_received) if line.startswith(prefix)]

    def requests_to(self, uuid: str) -> list[str]:
        """Everything sent about channel ``uuid``: api/bgapi lines naming it and the
        bodies/headers of ``sendmsg <uuid>`` (the application and its arguments)."""
        sent: list[str] = []
        for request in list(self.sim.requests):
            line = str(request["command"])
            if uuid not in line:
                continue
            headers = " ".join(f"{k}: {v}" for k, v in request["headers"])
            sent.append(f"{line} {headers} {request['body']}".strip())
        return sent

    def all_sent(self) -> list[str]:
        """Every command line, header and body the engine sent (for hostile-input scans)."""
        out: list[str] = []
        for request in list(self.sim.requests):
            out.append(str(request["command"]))
            out += [f"{k}: {v}" for k, v in request["headers"]]
            if request["body"]:
                out.append(str(request["body"]))
        return out

    def key_in(self, phone: str, answers: list[str]) -> Callable[[], None]:
        """Answer each ``play_and_get_digits`` the engine runs on a call from ``phone``
        with the next DTMF string of ``answers``, pressed while the application runs (as a
        person keys while the prompt plays); an empty string keys nothing. Returns the
        unhook."""
        pending = list(answers)

        def hook(event: SimEvent) -> None:
            uuid = event.unique_id
            if (
                event.name == "CHANNEL_EXECUTE"
                and event.get("Application") == "play_and_get_digits"
                and event.get("Caller-Caller-ID-Number") == phone
                and uuid is not None
                and pending
            ):
                digits = pending.pop(0)
                if digits:
                    # The application reads digits once it waits, after this event.
                    gevent.spawn(self._press, uuid, digits)

        return self.sim.on_event(hook)

    def _press(self, uuid: str, digits: str) -> None:
        gevent.sleep(0)
        if uuid in self.sim.channels:
            self.sim.press_dtmf(uuid, digits)

    def feature_code(self, phone: str, code: str, answers: list[str], timeout: float = 5.0) -> str:
        """``phone`` dials ``code`` (``*21``..), keys ``answers`` to the prompts, and the
        engine hangs up; returns the call's uuid once its channel is gone."""
        unhook = self.key_in(phone, answers)
        try:
            uuid = self.sim.place_call(phone, code)
            assert self.wait(lambda: uuid not in self.sim.channels, timeout), (
                f"feature call {code} from {phone} still up: {self.requests_to(uuid)}"
            )
        finally:
            unhook()
        return uuid

    def agent_state(self, agent: str) -> str:
        record = self.store.get_agent(agent)
        return "logged_out" if record is None else record.state


def start_engine(
    sim: Simulator,
    redis_client: redis.Redis,
    tenant: str,
    settings: EngineSettings | None = None,
    *,
    wrap_up_seconds: float = 0.0,
    no_answer_state: NoAnswerState = "available",
    profiles: Mapping[str, AgentProfile] | None = None,
    queue_options: Mapping[str, object] | None = None,
) -> Harness:
    """The engine on ``sim``: routing queues from ``settings`` with ``wrap_up_seconds``,
    ``no_answer_state`` and any other :class:`QueueConfig` field in ``queue_options``;
    agents with ``profiles`` (default: :data:`AGENT_SKILLS`, sv and en)."""
    settings = settings or default_settings()
    settings = replace(
        settings,
        queues={
            name: replace(policy, no_answer_state=no_answer_state, wrap_up_seconds=wrap_up_seconds)
            for name, policy in settings.queues.items()
        },
    )
    router = RedisRouter(redis_client, tenant)
    store = RedisCallStore(redis_client, tenant)
    now = time.time()
    for name, policy in settings.queues.items():
        router.put_queue(
            QueueConfig(
                name,
                wrap_up_seconds=wrap_up_seconds,
                reservation_timeout=settings.reservation_timeout(policy),
                no_answer_state=no_answer_state,
                **(queue_options or {}),  # type: ignore[arg-type]
            ),
            now,
        )
    for agent in settings.agents:
        profile = (profiles or {}).get(agent) or AgentProfile(agent, AGENT_SKILLS, ("sv", "en"))
        router.put_agent(profile, now)
    engine = Engine(settings, router, store)
    client = ESLClient(
        ClientSettings(
            "127.0.0.1",
            sim.port,
            sim.password,
            events=ENGINE_EVENTS,
            filters=ENGINE_FILTERS,
            reconnect_min=0.05,
            reconnect_max=0.2,
        )
    )
    harness = Harness(sim, engine, Runner(engine, client), client, router, store)
    harness.runner.observers.append(harness.observe)
    harness.runner.attach()
    client.connect()
    harness.runner.start()
    return harness


def stop_engine(harness: Harness) -> None:
    harness.runner.stop()
    harness.client.stop()


def shipped_simulator(sounds: SoundLibrary | None = None) -> Simulator:
    return Simulator(
        port=0,
        time_scale=0.01,
        heartbeat_interval=None,
        dialplan=Dialplan(SHIPPED_EXTENSIONS),
        sounds=sounds,
    ).start()


def engine_fixture(
    redis_client: redis.Redis,
    tenant: str,
    sounds: SoundLibrary | None = None,
    **kwargs: object,
) -> Iterator[Harness]:
    sim = shipped_simulator(sounds)
    harness = start_engine(sim, redis_client, tenant, **kwargs)  # type: ignore[arg-type]
    try:
        yield harness
    finally:
        stop_engine(harness)
        sim.stop()


def restarting(
    redis_client: redis.Redis, tenant: str, settings: EngineSettings | None = None
) -> Iterator[tuple[Harness, Callable[[], Harness]]]:
    """The body of a fixture for engine restarts: a first engine (to stop as if killed)
    and a factory for each engine that starts next on the same simulator and Redis, with
    the same ``settings``; all are stopped afterwards."""
    sim = shipped_simulator()
    first = start_engine(sim, redis_client, tenant, settings)
    made: list[Harness] = []

    def restart() -> Harness:
        made.append(start_engine(sim, redis_client, tenant, settings))
        return made[-1]

    try:
        yield first, restart
    finally:
        for harness in [first, *made]:
            stop_engine(harness)
        sim.stop()


def run_example(redis_url: str) -> Iterator[tuple[App, Simulator]]:
    """The body of a fixture for ``acd run`` on examples/acd.yaml: built and started as
    ``acd.app`` does, on a new simulator (the shipped dialplan) and the Redis at
    ``redis_url``, HTTP on 127.0.0.1 and a free port; both stopped afterwards."""
    sim = shipped_simulator()
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["esl"].update(port=sim.port, password=sim.password)
    data["redis"] = {"url": redis_url}
    data["http"].update(host="127.0.0.1", port=0)
    wired = build(parse_config(yaml.safe_dump(data), "example-for-test.yaml"))
    start(wired, connect_deadline=5.0)
    try:
        yield wired, sim
    finally:
        wired.stop()
        sim.stop()


Start = Callable[..., Harness]


def starter(redis_client: redis.Redis, tenant: str) -> Iterator[Start]:
    """The body of the ``start`` fixture (tests/conftest.py): ``start(settings=...,
    wrap_up_seconds=..., no_answer_state=..., sounds=...)`` -> a running harness; all are
    stopped afterwards, and an engine error in any of them fails the test (a bug whatever
    the test looked at)."""
    running: list[Iterator[Harness]] = []
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        fixture = engine_fixture(redis_client, tenant, **kwargs)
        running.append(fixture)
        harness = next(fixture)
        made.append(harness)
        return harness

    yield make
    for fixture in running:
        for _ in fixture:  # runs the fixture's teardown
            pass
    assert [h.runner.counters["engine_errors"] for h in made] == [0] * len(made)
