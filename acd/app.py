"""The one place that wires the engine: configuration -> routing, store, engine, Event
Socket client, runner (``acd run``).

The process must be gevent-patched before this module's socket users are imported: the
CLI's ``run`` does ``gevent.monkey.patch_all()`` first, so redis-py waits cooperatively.
"""

from __future__ import annotations

import dataclasses
import gc
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gevent
import gevent.event
import redis
import structlog

from acd.adapters.hours import HoursStore, HoursWatcher, hours_blueprint, hours_settings
from acd.adapters.hours import prompt_resolver as hours_prompts
from acd.adapters.http import AdminApi
from acd.adapters.live import LiveConfig
from acd.adapters.metrics import EngineMetrics, passive_agents, service_level_targets
from acd.adapters.queue_load import RedisQueueLoad
from acd.adapters.redis_pool import connection_pool
from acd.adapters.redis_store import RedisCallStore
from acd.adapters.reload import reload, reload_blueprint
from acd.adapters.runner import Observer, Runner
from acd.adapters.supervision import Supervision
from acd.adapters.translate import ENGINE_EVENTS, ENGINE_FILTERS, ENGINE_URGENT
from acd.adapters.wallboard import Sampler, wallboard_parts
from acd.config import Config
from acd.config.entries import menu_book
from acd.config.rules import rule_book
from acd.engine.effects import Fact
from acd.engine.engine import Engine
from acd.engine.policy import AgentEntry, AnnouncePart, EngineSettings, QueuePolicy, hash_pin
from acd.engine.recording import recording_settings
from acd.errors import ACDError, ConfigError
from acd.prompts import ensure_recordings_dir
from freeswitch.client import ESLClient
from freeswitch.errors import ESLError
from routing.api import Reservation
from routing.store import RedisRouter

_log = structlog.get_logger("acd.app")


def engine_settings(config: Config) -> EngineSettings:
    """The engine's view of ``config``."""
    queues = {}
    for name, queue in config.queues.items():
        ann = queue.announcements
        first: list[AnnouncePart] = []
        if ann.position:
            first.append("position")
        if ann.ewt:
            first.append("ewt")
        if ann.agents_min is not None:
            first.append("agents")
        queues[name] = QueuePolicy(
            name=name,
            announce_first_after=ann.first_after,
            announce_every=ann.every,
            first=tuple(first),
            repeat=tuple(ann.repeat),
            ewt_inhibit_case_types=frozenset(ann.ewt_inhibit_case_types),
            agents_min=ann.agents_min,
            waiting_sound=queue.waiting_sound,
            moh=queue.moh if queue.moh is not None else config.sounds.moh,
            ringback=config.sounds.ringback,
            whisper=queue.whisper,
            ring_timeout=queue.ring_timeout,
            wrap_up_seconds=queue.wrap_up_seconds,
            no_answer_state=queue.no_answer.state,
            private_max_wait=queue.private_max_wait,
            sticky_window=queue.sticky_window,
            transfer_priority=queue.priority_transfer_priority,
        )
    agents = {}
    for agent_id, agent in config.agents.items():
        digest = agent.pin_sha256 if agent.pin is None else hash_pin(agent.pin)
        assert digest is not None
        agents[agent_id] = AgentEntry(
            agent_id, digest, agent.contact, tuple(agent.queues), agent.name or ""
        )
    codes = config.feature_codes
    if config.prompts.record_codes and config.admin.pin_digest() is not None:
        ensure_recordings_dir(config.prompts.directory)  # FreeSWITCH's record needs it
    return EngineSettings(
        queues=queues,
        agents=agents,
        queue_codes={q.code: name for name, q in config.queues.items()},
        pause_reasons=dict(codes.pause_reasons),
        id_digits=(codes.id_digits, codes.id_digits),
        pin_digits=(codes.pin_min_digits, codes.pin_max_digits),
        digit_timeout_ms=int(codes.inter_digit_timeout * 1000),
        first_digit_timeout_ms=int(codes.first_digit_timeout * 1000),
        max_tries=codes.max_tries,
        menus=menu_book(config, hours_prompts(config)),
        hours=hours_settings(config, hours_prompts(config)),
        rules=rule_book(config, hours_prompts(config)),
        recording=recording_settings(
            config.prompts.directory,
            config.admin.pin_digest(),
            config.prompts.record_targets(config.language),
            config.prompts.max_record_seconds,
            config.prompts.record_silence_seconds,
        ),
    )


def apply_config(
    config: Config, settings: EngineSettings, router: RedisRouter, now: float
) -> list[Reservation]:
    """Put every queue and agent into routing (idempotent: a restart or reload applies
    the same file again); returns the reservations this made.

    The reservation timeout is at least the ring, the whisper and a margin, so routing
    never expires an offer the engine is still working on."""
    made: list[Reservation] = []
    for name, queue in config.queues.items():
        cfg = queue.routing_config()
        timeout = max(cfg.reservation_timeout, settings.reservation_timeout(settings.queues[name]))
        made += router.put_queue(dataclasses.replace(cfg, reservation_timeout=timeout), now)
    for agent in config.agents.values():
        made += router.put_agent(agent.routing_profile(), now)
    return made


@dataclass
class App:
    """A running engine: what ``acd run`` starts and stops."""

    config: Config
    redis: redis.Redis
    router: RedisRouter
    store: RedisCallStore
    engine: Engine
    client: ESLClient
    runner: Runner
    http: AdminApi
    hours: HoursWatcher | None = None  # emergency message and API calendar exceptions
    live: LiveConfig | None = None  # what follows a reload (wallboard, metrics)
    config_path: str | None = None  # the file a reload reads (R-LIVECONF)
    sampler: Sampler | None = None  # the wallboard chart's background sampler
    collector: gevent.Greenlet | None = None  # full garbage collections (settle_heap)

    @property
    def http_port(self) -> int | None:
        """The HTTP API's bound port while it serves (``http.port: 0`` picks a free one)."""
        return self.http.port

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.kill(block=False)
        if self.hours is not None:
            self.hours.stop()
        if self.sampler is not None:
            self.sampler.stop()
        self.http.stop()
        self.runner.stop()
        self.client.stop()
        try:
            self.store.close()  # what lanes wrote while the client stopped
        except ACDError as exc:
            _log.error("acd.store_close_failed", error=str(exc))
        self.redis.close()


def build(
    config: Config,
    *,
    redis_url: str | None = None,
    clock: Callable[[], float] = time.time,
    observers: Sequence[Observer] = (),
) -> App:
    """Wire everything for ``config`` (nothing connects yet). ``redis_url`` overrides the
    file's (the demo brings its own Redis). Raises :class:`ConfigError` without a Redis."""
    url = redis_url or (config.redis.url if config.redis is not None else None)
    if url is None:
        raise ConfigError("redis: no url configured")
    pool = connection_pool(url)
    client_redis = redis.Redis(connection_pool=pool)
    router = RedisRouter(client_redis, config.tenant)
    store = RedisCallStore(client_redis, config.tenant)
    settings = engine_settings(config)
    engine = Engine(settings, router, store, queue_load=RedisQueueLoad(client_redis, config.tenant))
    esl = dataclasses.replace(
        config.esl.client_settings(ENGINE_EVENTS),
        filters=ENGINE_FILTERS,
        urgent_events=ENGINE_URGENT,
    )
    client = ESLClient(esl)

    def log_fact(fact: Fact) -> None:
        # Into the store's next write: no round trip of its own on a call's path.
        store.log_fact(fact.kind, fact.data, clock())

    # Prometheus metrics (wallboard.metrics), GET /metrics on the admin API's port. One
    # shared, cached supervision read for every scrape and wallboard (acd.adapters.supervision).
    supervision = Supervision(client_redis, config.tenant)
    metrics = EngineMetrics(
        config.queues,
        supervision.view,
        client=client_redis,
        tenant=config.tenant,
        phones=supervision.phones,
        pause=supervision.pause,
        targets=service_level_targets(config),
        passive=passive_agents(config),
        text_max_age=supervision.view.max_age,  # several scrapers share one exposition
        clock=clock,
    )
    runner = Runner(engine, client, clock=clock, observers=[log_fact, metrics, *observers])
    telephonists = [agent_id for agent_id, a in config.agents.items() if a.telephonist]
    http = AdminApi(
        runner,
        config.http.tokens,
        telephonists=telephonists,
        passive=passive_agents(config),
        supervision=supervision,  # the lists share the metrics' and wallboard's read
    )
    # The wallboard (/wallboard) on the same server: figures need one of the API tokens.
    live = LiveConfig(config)
    live.follow(metrics.reconfigure)
    board, sampler = wallboard_parts(live, client_redis, supervision.view, clock, supervision.pause)
    http.app.register_blueprint(board)
    http.app.register_blueprint(metrics.blueprint())
    hours = HoursWatcher(HoursStore(client_redis, config.tenant, clock), runner)
    runner.observers.append(hours)  # the feature code's emergency fact -> Redis
    http.app.register_blueprint(hours_blueprint(http, hours))
    app = App(config, client_redis, router, store, engine, client, runner, http, hours, live)
    app.sampler = sampler
    http.app.register_blueprint(reload_blueprint(app))  # POST /api/admin/reload
    return app


class HttpPortBusyError(ACDError):
    """The admin API's address (``http.host``:``http.port``) cannot be listened on."""

    slug = "http-port-busy"


def _claim_port(host: str, port: int) -> socket.socket | None:
    """Bind ``host``:``port`` now, so a taken port stops ``acd run`` before it touches
    Redis or FreeSWITCH; the socket is closed just before the HTTP server binds it. None
    for port 0 (any free port: nothing to claim). Raises :class:`HttpPortBusyError`."""
    if port == 0:
        return None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise HttpPortBusyError(_port_message(host, port, exc)) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        sock.bind(address)
        sock.listen(1)
    except OSError as exc:
        sock.close()
        raise HttpPortBusyError(_port_message(host, port, exc)) from None
    return sock


def _port_message(host: str, port: int, exc: OSError) -> str:
    return (
        f"http: cannot listen on {host}:{port}: {exc.strerror or exc}"
        " (another acd or program has it? stop it or change http.port)"
    )


def start(app: App, *, connect_deadline: float | None = None) -> None:
    """Claim the HTTP port, apply the configuration to routing, connect to FreeSWITCH
    (retrying with back-off until ``connect_deadline`` seconds have passed, forever if
    None), reconcile, run. Raises :class:`HttpPortBusyError` when the HTTP port is taken,
    before anything else is touched."""
    host, port = app.config.http.host, app.config.http.port
    claimed = _claim_port(host, port)
    try:
        _start(app, connect_deadline, claimed)
    finally:
        if claimed is not None:
            claimed.close()


def _start(app: App, connect_deadline: float | None, claimed: socket.socket | None) -> None:
    now = app.runner.clock()
    made = apply_config(app.config, app.engine.settings, app.router, now)
    app.runner.attach()
    delay, started = 0.2, time.monotonic()
    while True:
        try:
            app.client.connect()
            break
        except ESLError as exc:
            if connect_deadline is not None and time.monotonic() - started > connect_deadline:
                raise
            _log.warning("acd.connect_failed", error=str(exc), retry_in=delay)
            gevent.sleep(delay)
            delay = min(delay * 2, 10.0)
    app.runner.start()
    if app.hours is not None:
        app.hours.start()
    if app.sampler is not None:
        app.sampler.start()
    app.runner.apply(app.engine.offers(made, now))
    if claimed is not None:
        claimed.close()  # handed over: the server binds it at once
    try:
        app.http.start(app.config.http.host, app.config.http.port)
    except OSError as exc:  # taken in the instant between the claim and the bind
        app.stop()
        raise HttpPortBusyError(
            _port_message(app.config.http.host, app.config.http.port, exc)
        ) from None
    _log.info(
        "acd.started",
        queues=len(app.config.queues),
        agents=len(app.config.agents),
        esl=f"{app.config.esl.host}:{app.config.esl.port}",
        http_port=app.http_port,
    )


#: Seconds between the engine's own full garbage collections (:func:`settle_heap`).
FULL_COLLECTION_INTERVAL = 300.0


def settle_heap(app: App) -> None:
    """Take the cyclic garbage collector's full collections into the engine's hands, once,
    after start-up.

    What start-up built (modules, configuration, agents, the reconciled calls) is frozen
    out of its reach: a full collection walked all of it while every lane waited, 40-230 ms
    at 2,000 agents, several times a minute under load. The automatic full collections
    that remain still took up to ~55 ms now and then (they fire at whatever allocation
    crosses the threshold, mid-burst), so they are turned off (a third threshold no
    workload reaches) and a greenlet of the app's collects every
    :data:`FULL_COLLECTION_INTERVAL` seconds instead, between events. Rarely: at 100
    calls/s and 2,000 agents each took 9-60 ms while every lane waited, and found 0-20
    garbage objects (bench/e2e.py prints both): the engine's cycles die young, in the
    younger generations' collections, which stay automatic. Frozen objects are still
    freed by reference counting; only garbage cycles among them would be kept."""
    gc.collect()
    gc.freeze()
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000)

    def collect() -> None:
        while True:
            gevent.sleep(FULL_COLLECTION_INTERVAL)
            gc.collect()

    app.collector = gevent.spawn(collect)


def run(config: Config, path: str | None = None) -> int:
    """``acd run``: start, serve until SIGTERM/SIGINT, stop; SIGHUP reloads ``path``, the
    file ``config`` was read from (R-LIVECONF). Returns the exit status."""
    app = build(config)
    app.config_path = path
    stopping = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    gevent.signal_handler(signal.SIGINT, stopping.set)
    if path is not None:
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(reload, app, path))
    start(app)
    settle_heap(app)
    stopping.wait()
    _log.info("acd.stopping")
    app.stop()
    return 0
