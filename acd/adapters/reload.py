"""Live changes (R-LIVECONF): reload the configuration file into a running engine.

``acd run`` reloads on ``SIGHUP``; ``POST /api/admin/reload`` (admin token) does the same
and answers the :class:`ReloadReport`. A reload:

1. reads and validates the file (:func:`acd.config.load_config`); a bad file is refused
   with every problem and nothing changes;
2. refuses what cannot change live: ``tenant``, ``esl``, ``redis``, ``http.host`` and
   ``http.port`` (restart the engine for those), and the removal of a queue that still
   has callers (waiting, ringing or talking): take the queue out of the dialplan and the
   menus first, reload again once it is empty;
3. puts every new or changed queue and agent into routing (``put_queue``/``put_agent``;
   routing reads a queue's live settings at each decision, and copies requirements into
   a contact at arrival, so waiting callers keep their place and their requirements);
4. swaps the engine's settings (:func:`acd.app.engine_settings`: queues, agents, feature
   codes, menus, rules, calendars, prompts...) while no event is being handled
   (:class:`acd.adapters.live.SwapGate`): an event is handled wholly with the old or
   wholly with the new settings; nothing is sent to FreeSWITCH, so no announcement is
   cut and no ringing agent leg is dropped; calls in progress go on with timers already
   set (a new announcement cadence applies from the next announcement);
5. follows with the tokens, the telephonists, the wallboard and the metrics;
6. logs out of routing every agent who was removed, or from each queue no longer among
   its own: at once when it has no call offered to it, else once the ringing is over
   (an agent on a call stays on it; its phone is logged out after the call).

A removed queue stays in routing (routing never deletes a queue) but takes no new caller.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import gevent
import gevent.event
import gevent.lock
import structlog
from flask import Blueprint, Response

from acd.config import Config, load_config
from acd.config.problems import InvalidConfigError
from acd.config.warnings import warning_lines
from acd.engine.effects import Effect, Fact
from acd.engine.engine import Engine
from acd.errors import ACDError
from routing.api import Reservation, RouterState

if TYPE_CHECKING:
    from acd.adapters.http import AdminApi
    from acd.adapters.runner import Runner
    from acd.app import App

_log = structlog.get_logger("acd.reload")

Refusal = Literal["invalid", "not-live", "in-use", "busy", "unavailable"]
#: HTTP status of each refusal: 422 a bad file, 409 a change that cannot be made now,
#: 503 the engine could not apply it (busy, Redis failing).
REFUSAL_STATUS: dict[Refusal, int] = {
    "invalid": 422,
    "not-live": 409,
    "in-use": 409,
    "busy": 503,
    "unavailable": 503,
}
#: Seconds a swap waits for the events being handled to finish.
SWAP_TIMEOUT = 30.0
#: Seconds between two looks at agents whose logout waits for a call to end.
LOGOUT_POLL = 1.0

_LOCK = gevent.lock.Semaphore()  # one reload at a time


@dataclass(frozen=True)
class ReloadReport:
    """The outcome of one reload. ``refused`` None means applied; else ``reasons`` say
    why, one line each, and nothing changed (except, for ``busy``/``unavailable``, what
    ``reasons`` names). The lists name what changed: queues and agents added, changed
    (any setting) or removed; ``sections`` the top-level keys whose value changed;
    ``logouts`` agents logged out of queues (``"1001"`` from every queue, ``"1001:sales"``
    from one), at once or after their call; ``warnings`` what ``acd check-config`` warns
    about in the new file, and API-entered exceptions of calendars no longer in it."""

    path: str
    refused: Refusal | None = None
    reasons: tuple[str, ...] = ()
    queues_added: tuple[str, ...] = ()
    queues_changed: tuple[str, ...] = ()
    queues_removed: tuple[str, ...] = ()
    agents_added: tuple[str, ...] = ()
    agents_changed: tuple[str, ...] = ()
    agents_removed: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    logouts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.refused is None

    @property
    def status(self) -> int:
        """The HTTP status answering this report."""
        return 200 if self.refused is None else REFUSAL_STATUS[self.refused]

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _refused(path: str, kind: Refusal, reasons: Sequence[str]) -> ReloadReport:
    return ReloadReport(path, kind, tuple(reasons))


def not_live(old: Config, new: Config) -> list[str]:
    """Reasons, one per setting that differs between ``old`` and ``new`` but cannot change
    while the engine runs."""
    fixed = [
        ("tenant", old.tenant, new.tenant),
        ("esl", old.esl, new.esl),
        ("redis", old.redis, new.redis),
        ("http.host", old.http.host, new.http.host),
        ("http.port", old.http.port, new.http.port),
    ]
    return [
        f"{name}: cannot change while the engine runs (restart it to apply)"
        for name, before, after in fixed
        if before != after
    ]


def queues_in_use(state: RouterState, queues: Sequence[str]) -> dict[str, int]:
    """queue -> how many contacts (waiting, offered or busy) routing holds in it (home
    queue or one escalation added), for the queues of ``queues`` that have any."""
    counts: dict[str, int] = {}
    for view in state.contacts.values():
        for name in queues:
            if name in view.queues:
                counts[name] = counts.get(name, 0) + 1
    return counts


def reload(app: App, path: str, *, swap_timeout: float = SWAP_TIMEOUT) -> ReloadReport:
    """Reload ``app`` from the configuration file at ``path`` (the module says how).
    Returns the report; raises nothing for a bad file, a refused change or a failing
    Redis (the report says which). One reload runs at a time; a second waits."""
    with _LOCK:
        try:
            report = _reload(app, path, swap_timeout)
        except ACDError as exc:  # routing or the store failed (Redis)
            report = _refused(path, "unavailable", [f"{exc.slug}: {exc}"])
    if report.ok:
        _log.info("acd.config_reloaded", **_log_fields(report))
    else:
        _log.warning("acd.config_reload_refused", **_log_fields(report))
    return report


def _log_fields(report: ReloadReport) -> dict[str, Any]:
    return {k: v for k, v in report.as_json().items() if v not in ([], None)}


def _reload(app: App, path: str, swap_timeout: float) -> ReloadReport:
    from acd.app import engine_settings  # noqa: PLC0415 - acd.app imports this module

    try:
        new = load_config(path)
    except InvalidConfigError as exc:
        return _refused(path, "invalid", [str(problem) for problem in exc.problems])
    old = app.config
    fixed = not_live(old, new)
    if fixed:
        return _refused(path, "not-live", fixed)
    try:
        settings = engine_settings(new)
    except (ACDError, ValueError, OSError) as exc:
        return _refused(path, "invalid", [str(exc)])
    removed = [name for name in old.queues if name not in new.queues]
    if removed:
        busy = queues_in_use(app.router.snapshot(), removed)
        for record in app.store.calls():
            if record.kind == "caller" and record.queue in removed:
                busy[record.queue] = max(busy.get(record.queue, 0), 1)
        if busy:
            return _refused(
                path,
                "in-use",
                [
                    f"queues.{name}: cannot be removed while {count} caller(s) wait, ring or "
                    "talk in it; route no new callers to it (dialplan, menus) and reload "
                    "again once it is empty"
                    for name, count in busy.items()
                ],
            )

    engine = app.engine
    now = app.runner.clock()
    made: list[Reservation] = []
    queues_added, queues_changed = [], []
    for name, queue in new.queues.items():
        before = old.queues.get(name)
        if before is None:
            queues_added.append(name)
        elif before != queue:
            queues_changed.append(name)
        else:
            continue
        cfg = queue.routing_config()
        timeout = max(cfg.reservation_timeout, settings.reservation_timeout(settings.queues[name]))
        cfg = dataclasses.replace(cfg, reservation_timeout=timeout)
        if before is not None:
            was = before.routing_config()
            was_timeout = engine.settings.reservation_timeout(engine.settings.queues[name])
            was = dataclasses.replace(
                was, reservation_timeout=max(was.reservation_timeout, was_timeout)
            )
            if was == cfg:
                continue  # a change the engine alone reads (announcements, sounds...)
        made += app.router.put_queue(cfg, now)
    agents_added, agents_changed = [], []
    for agent_id, agent in new.agents.items():
        previous = old.agents.get(agent_id)
        if previous is None:
            agents_added.append(agent_id)
        elif previous != agent:
            agents_changed.append(agent_id)
        else:
            continue
        profile = agent.routing_profile()
        if previous is None or previous.routing_profile() != profile:
            made += app.router.put_agent(profile, now)

    def swap() -> None:
        # No yield in here: with the gate held alone, no handler sees a mix.
        engine.settings = settings
        engine.hours_state.calendars = None  # merged from the old calendars
        app.config = new

    if not app.runner.gate.exclusive(swap, swap_timeout):
        return _refused(
            path,
            "busy",
            [
                f"events still being handled after {swap_timeout} s: routing has the new "
                "queues and agents, the engine still the old settings; reload again"
            ],
        )
    _follow(app, new)
    app.runner.apply(engine.offers(made, now))
    logouts = _schedule_logouts(app, new)
    return ReloadReport(
        path,
        queues_added=tuple(queues_added),
        queues_changed=tuple(queues_changed),
        queues_removed=tuple(removed),
        agents_added=tuple(agents_added),
        agents_changed=tuple(agents_changed),
        agents_removed=tuple(a for a in old.agents if a not in new.agents),
        sections=tuple(
            name for name in Config.model_fields if getattr(old, name) != getattr(new, name)
        ),
        logouts=tuple(logouts),
        warnings=tuple(reload_warnings(new, engine.hours_state.extra)),
    )


def reload_warnings(new: Config, extra: Mapping[str, Sequence[object]]) -> list[str]:
    """What a reload of ``new`` warns about: ``acd check-config``'s warnings, and for each
    calendar with exceptions entered through the admin API (``extra``: calendar name ->
    exceptions) that ``new`` no longer has, that they no longer apply."""
    lines = warning_lines(new)
    for name, exceptions in extra.items():
        if exceptions and name not in new.calendars:
            lines.append(
                f"calendar {name}: {len(exceptions)} exception(s) entered through the admin"
                f" API belong to calendar {name!r}, which is no longer in the file (renamed or"
                " removed): they no longer apply; enter them again for the new calendar, or"
                " put the name back"
            )
    return lines


def _follow(app: App, new: Config) -> None:
    """The parts built once from the configuration: tokens, telephonists, the wallboard
    and the metrics (through ``app.live``)."""
    http: AdminApi = app.http
    http.tokens = tuple(new.http.tokens)
    http.telephonists = frozenset(a for a, s in new.agents.items() if s.telephonist)
    if app.live is not None:
        try:
            app.live.replace(new)
        except Exception:  # noqa: BLE001 - a board's figures must not undo a reload
            _log.exception("acd.reload_follower_failed")


# ---------------------------------------------------------------------- logouts


def _schedule_logouts(app: App, new: Config) -> list[str]:
    """Agents logged in to queues they may no longer serve (removed, or the queue no
    longer among their own): logged out of those, by a greenlet that waits while one of
    them has a call offered (a ringing leg is never dropped). Returns their labels."""
    pending: dict[str, tuple[str, ...] | None] = {}
    for agent_id, view in app.router.snapshot().agents.items():
        if view.presence == "logged_out":
            continue
        settings = new.agents.get(agent_id)
        if settings is None:
            pending[agent_id] = None
            continue
        drop = tuple(q for q in view.queues if q not in settings.queues)
        if drop:
            pending[agent_id] = drop
    if pending:
        gevent.spawn(_logout_when_free, app.runner, pending)
    return [a if q is None else f"{a}:{','.join(q)}" for a, q in pending.items()]


def _logout_when_free(runner: Runner, pending: dict[str, tuple[str, ...] | None]) -> None:
    engine = runner.engine
    failures = 0
    while pending:
        try:
            state = engine.router.snapshot()
            for agent_id, queues in list(pending.items()):
                if _logout_step(runner, state, agent_id, queues):
                    del pending[agent_id]
            failures = 0
        except ACDError as exc:
            failures += 1
            if failures >= 3:
                _log.error("acd.reload_logout_abandoned", agents=sorted(pending), error=str(exc))
                return
        if pending:
            gevent.sleep(LOGOUT_POLL)


def _logout_step(
    runner: Runner, state: RouterState, agent_id: str, queues: tuple[str, ...] | None
) -> bool:
    """One look at an agent to log out; True when nothing is left to do."""
    view = state.agents.get(agent_id)
    if view is None:
        return True
    if any(contact_state == "reserved" for _, contact_state in view.assigned):
        return False  # ringing (or its whisper): after the offer ends
    engine = runner.engine
    phone = engine.store.get_agent(agent_id)
    phone_busy = phone is not None and phone.state in ("ringing", "in_call")
    last = queues is None or set(view.queues) <= set(queues)
    in_routing = view.presence != "logged_out" and (
        queues is None or any(q in view.queues for q in queues)
    )
    # Routing first (no new offers; a call in progress stays with the agent); the phone's
    # state once its call is over.
    phone_now = last and not phone_busy and phone is not None and phone.state != "logged_out"
    if in_routing or phone_now:
        _on_agent_lane(
            runner,
            agent_id,
            lambda now: _logout(
                engine, agent_id, queues, now, phone_too=phone_now, in_routing=in_routing
            ),
        )
    return not (last and phone_busy)


def _logout(
    engine: Engine,
    agent_id: str,
    queues: tuple[str, ...] | None,
    now: float,
    *,
    phone_too: bool,
    in_routing: bool,
) -> list[Effect]:
    reservations = engine.router.logout(agent_id, queues, now) if in_routing else []
    record = engine.agent_record(agent_id)
    if phone_too:
        engine.agent_event(agent_id, "logout", now, queues=[], phone=None)
    elif queues is not None and any(q in record.queues for q in queues):
        record.queues = [q for q in record.queues if q not in queues]
        engine.store.put_agent(record)
    fact = Fact("agent_logout", {"agent": agent_id, "queues": list(queues or [])})
    return [*engine.offers(reservations, now), *([fact] if in_routing else [])]


def _on_agent_lane(
    runner: Runner, agent_id: str, act: Callable[[float], list[Effect]], timeout: float = 10.0
) -> None:
    """Run ``act`` on the agent's lane (after its other commands) and wait for it."""
    done = gevent.event.AsyncResult()

    def handler(_: object) -> None:
        try:
            with runner.gate:
                effects = act(runner.clock())
        except Exception as exc:  # noqa: BLE001 - back to the waiting greenlet
            done.set_exception(exc)
            return
        runner.apply(effects)
        done.set(None)

    if not runner.client.post(agent_id, None, handler):
        raise _BusyError("the engine's backlog is full")
    try:
        done.get(timeout=timeout)
    except gevent.Timeout:
        raise _BusyError(f"no outcome within {timeout} s") from None


class _BusyError(ACDError):
    slug = "engine-busy"


# ---------------------------------------------------------------------- HTTP


def reload_blueprint(app: App) -> Blueprint:
    """``POST /api/admin/reload`` (admin token): reload ``app.config_path`` and answer the
    :class:`ReloadReport` as JSON: 200 applied, 422 a bad file (``reasons``: each
    problem with its path and line), 409 a change that cannot be made live, 503 the
    engine could not apply it; 400 when the engine was not started from a file."""
    bp = Blueprint("reload", __name__)

    @bp.post("/api/admin/reload")
    def _reload_route() -> Response:
        app.http._authorize("admin")  # the API's own token check
        if app.config_path is None:
            body = {"error": "no-config-file", "message": "started without a file to reload"}
            return Response(json.dumps(body), status=400, mimetype="application/json")
        report = reload(app, app.config_path)
        return Response(
            json.dumps(report.as_json()), status=report.status, mimetype="application/json"
        )

    return bp
