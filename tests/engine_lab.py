"""The engine in this process on the lab's real FreeSWITCH (tests/freeswitch_lab.py):
the lab's ``acd.yaml``, the engine started as ``acd run`` does, the ``watch`` fixture (an
Event Socket connection of the test's own) and readers of what FreeSWITCH did on a channel.
Shared by the ``test_*_freeswitch.py`` modules."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import redis

from acd.app import App, build, start
from acd.config import parse_config
from acd.dev.redis_server import RedisServer
from acd.engine.effects import Fact
from acd.engine.events import AgentCommand
from freeswitch.client import ESLClient
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, SippCaller, poll
from tests.lab.support import LabError

ADMIN_TOKEN = "lab-admin-token-0123456789abcdef"
PINS = {"1001": "1111", "1002": "2222", "1003": "3333", "1004": "4444"}
RINGBACK = "tone_stream://%(2000,4000,440,480);loops=-1"
MOH = "local_stream://moh"
RING_TIMEOUT = 5  # seconds an agent phone rings before the next agent (R-NOANSWER)


def config_yaml(lab: FreeSwitchLab, redis_url: str, tenant: str) -> str:
    """An acd.yaml for the lab: queues support (7000, sv, answered, whisper) and sales
    (7001, en, unanswered, no whisper) as in examples/acd.yaml, agents 1001..1004 with
    contacts user/1001.. (the lab's directory users), HTTP on a free port."""
    agents = "".join(
        f"""
  {agent}:
    pin: "{pin}"
    contact: user/{agent}
    skills: {{billing: 3, products: 3}}
    languages: [sv, en]
    queues: [support, sales]"""
        for agent, pin in PINS.items()
    )
    return f"""
tenant: {tenant}
esl:
  host: {lab.esl.host}
  port: {lab.esl.port}
  password: {lab.esl.password}
  reconnect_min: 0.05
  reconnect_max: 0.5
redis:
  url: {redis_url}
http:
  host: 127.0.0.1
  port: 0
  tokens:
    - token: {ADMIN_TOKEN}
      role: admin
      name: lab
language: sv
languages: [sv, en]
skills:
  billing: Invoices
  products: Products
feature_codes:
  id_digits: 4
  pin_min_digits: 4
  pin_max_digits: 4
  max_tries: 2
  first_digit_timeout: 10
  inter_digit_timeout: 2
sounds:
  moh: {MOH}
  ringback: {RINGBACK}
queues:
  support:
    code: 1
    language: sv
    skills: {{billing: 1}}
    wrap_up_seconds: 0
    ring_timeout: {RING_TIMEOUT}
    no_answer: {{state: available}}
    announcements: {{first_after: 0, every: 30, position: true, ewt: false, repeat: [position]}}
    waiting_sound: auto
    whisper: acd_whisper
  sales:
    code: 2
    language: en
    skills: {{products: 1}}
    wrap_up_seconds: 0
    ring_timeout: 10
    no_answer: {{state: available}}
    announcements: {{first_after: 0, every: 30, position: true, ewt: false}}
    waiting_sound: auto
    whisper: null
agents:{agents}
"""


# -- the engine in this process ------------------------------------------------------------


@dataclass
class Acd:
    """The engine in this process (``acd.app``) and the facts it has reported."""

    app: App
    facts: list[Fact] = field(default_factory=list)

    def wait_fact(self, kind: str, timeout: float = 10.0, **match: object) -> Fact:
        """The first fact ``kind`` whose data has the values in ``match``."""

        def found() -> list[Fact]:
            return [
                f
                for f in self.facts
                if f.kind == kind and all(f.data.get(k) == v for k, v in match.items())
            ]

        try:
            return poll(found, timeout, f"fact {kind} {match}")[0]  # type: ignore[no-any-return]
        except LabError:
            seen = [(f.kind, dict(f.data)) for f in self.facts]
            raise LabError(f"no fact {kind} {match}; facts: {seen}") from None

    def login(self, agent: str, queues: tuple[str, ...] | None = None) -> None:
        """Log ``agent`` in on its lane, as the admin API does (R-MULTI)."""
        self.app.runner.post(agent, AgentCommand(agent, "login", time.time(), queues))
        self.wait_fact("agent_login", agent=agent)

    def agent_state(self, agent: str) -> str:
        record = self.app.store.get_agent(agent)
        return "logged_out" if record is None else record.state


@contextmanager
def running(text: str, name: str = "lab-acd.yaml") -> Iterator[Acd]:
    """The engine of the YAML configuration ``text`` (``name``: its file name in errors),
    built and started as ``acd run`` does, its facts collected; stopped on exit."""
    engine = Acd(app=None)  # type: ignore[arg-type]  # set just below, observers need it
    engine.app = build(parse_config(text, name), observers=[engine.facts.append])
    start(engine.app, connect_deadline=10.0)
    try:
        yield engine
    finally:
        engine.app.stop()


@contextmanager
def lab_events(lab: FreeSwitchLab, *subclasses: str) -> Iterator[EventRecorder]:
    """Every event of the lab (and the CUSTOM ``subclasses``), on a connection of the
    test's own."""
    client = ESLClient(lab.client_settings(reconnect_min=0.05, reconnect_max=0.5))
    recorder = EventRecorder(client)
    client.connect()
    for subclass in subclasses:
        client.subscribe(subclass)
    try:
        yield recorder
    finally:
        client.stop()


@pytest.fixture
def lab_config(
    lab: FreeSwitchLab, redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> str:
    """:func:`config_yaml` on the session's Redis (emptied first by ``redis_client``), for
    a test to add to and start with :func:`running`."""
    return config_yaml(lab, redis_server.url, tenant)


@pytest.fixture
def watch(lab: FreeSwitchLab) -> Iterator[EventRecorder]:
    """Every event of the lab, on a connection of the test's own."""
    with lab_events(lab) as recorder:
        yield recorder


# -- what FreeSWITCH did ------------------------------------------------------------


def channel_of(watch: EventRecorder, caller: SippCaller, timeout: float = 10.0) -> str:
    """The FreeSWITCH uuid of ``caller``'s channel (its CHANNEL_PARK)."""
    park = watch.wait("CHANNEL_PARK", {"variable_sip_call_id": caller.call_id}, timeout)
    uuid = park.get("Unique-ID")
    assert uuid
    return uuid


def played(watch: EventRecorder, uuid: str) -> list[str]:
    """What PLAYBACK_START named on channel ``uuid``, in order."""
    return [
        e.get("Playback-File-Path") or ""
        for e in watch.matching("PLAYBACK_START", {"Unique-ID": uuid})
    ]


def history(watch: EventRecorder, uuid: str) -> list[str]:
    """The media story of channel ``uuid`` (for failure messages)."""
    out = []
    for e in list(watch.events):
        if e.get("Unique-ID") != uuid or e.name is None:
            continue
        if e.name.startswith("PLAYBACK_"):
            out.append(f"{e.name} {e.get('Playback-File-Path')}")
        elif e.name.startswith("CHANNEL_EXECUTE"):
            app = f"{e.get('Application')} {e.get('Application-Data')}"
            out.append(f"{e.name} {app} -> {e.get('Application-Response')}")
        elif e.name.startswith("CHANNEL_"):
            out.append(e.name)
    return out


def wait_played(
    watch: EventRecorder, uuid: str, check: Callable[[list[str]], bool], what: str
) -> list[str]:
    try:
        poll(lambda: check(played(watch, uuid)), 10.0, what)
    except LabError:
        raise LabError(f"{what}: on {uuid}: {history(watch, uuid)}") from None
    return played(watch, uuid)


def bridged(watch: EventRecorder, uuid: str, timeout: float = 10.0) -> str:
    """Wait for CHANNEL_BRIDGE of caller ``uuid``; the other leg's uuid."""
    event = watch.wait("CHANNEL_BRIDGE", {"Bridge-A-Unique-ID": uuid}, timeout)
    other = event.get("Bridge-B-Unique-ID")
    assert other
    return other
