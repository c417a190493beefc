"""The HTTP API: read queues, contacts and agents; log agents in and out, pause them; a
telephonist picks a waiting call (R-PICK, R-TELEPHONIST, R-PHONELOGIN).

Served by the engine process (Flask on gevent's WSGI server). Every request but the
OpenAPI document carries ``Authorization: Bearer <token>`` with a token of
``config.http.tokens``; the token's role decides what it may do (roles are ordered
viewer < agent < supervisor < admin). The document of every route, body and answer is
``acd/adapters/openapi.yaml`` (OpenAPI 3.1), served as JSON:

===================================================  =========================================
``GET  /api/openapi.json``                           no token: this API's OpenAPI document
``GET  /api/queues``                                 viewer+: every queue with its load
                                                     (waiting = not yet answered, ringing
                                                     included, as /metrics and the wallboard
                                                     count it; ringing; longest wait in
                                                     seconds; agents by state, idle
                                                     passive agents as ``passive``)
``GET  /api/queues/{name}/contacts``                 viewer+: the queue's waiting contacts in
                                                     queue order (position, seconds waited,
                                                     priority, case type; the caller number
                                                     only to supervisor+ and telephonists)
``GET  /api/queues/{name}/agents``                   viewer+: the agents logged in to a queue
``GET  /api/agents``                                 viewer+: every agent, its presence and the
                                                     queues it is logged in to
``GET  /api/agents/{id}``                            viewer+: one agent (same fields)
``POST /api/agents/{id}/login``                      agent (own id = token name) or
                                                     supervisor+; body ``{"queues": [...]}``
                                                     optional (default: all of the agent's own
                                                     queues)
``POST /api/agents/{id}/logout``                     same roles; body ``{"queues": [...]}``
                                                     optional (default: every queue)
``POST /api/agents/{id}/pause``                      same roles; body ``{"reason": name}``
                                                     optional: a configured pause reason
                                                     (``feature_codes.pause_reasons``) or
                                                     ``break`` (the default)
``POST /api/agents/{id}/unpause``                    supervisor+
``POST /api/calls/{uuid}/transfer``                  agent (only a call it serves) or
                                                     supervisor+; body ``{"queue": name}``:
                                                     priority transfer of a waiting or talking
                                                     caller (R-PRIO)
``POST /api/queues/{name}/contacts/{uuid}/pick``     a telephonist's agent token (for itself)
                                                     or supervisor+ (for a telephonist); body
                                                     ``{"agent": id}`` optional (default: the
                                                     token's agent):
                                                     that waiting caller rings the agent's
                                                     phone now, out of turn (R-PICK)
===================================================  =========================================

A change is carried out on the lane of the agent (or, for a pick or a transfer, of the
call) in the engine, like a feature-code login, and the request waits for its outcome up to
``timeout`` seconds. Success answers 200 with what was done. Errors answer
``{"error": slug, "message": text}``: 400 bad body, an unknown pause reason
(``unknown-pause-reason``, naming the allowed ones) or a login/logout of a queue outside the
agent's own (``invalid-input``), 401 no or unknown token, 403 role too low (or, for a pick,
an agent that is not a telephonist: ``not-telephonist``, whoever asks), 404 unknown agent,
queue or contact, 405 a method the path does not take (with an ``Allow`` header), 409 the
state does not allow the action (pause or unpause of a logged-out agent; a pick of a caller
already offered, or for an agent that is not ready or already has a call or an offer), 503
Redis or the engine unavailable, 504 no outcome within ``timeout`` (the action may still
happen). On any error before the engine acted, nothing changes.

**No request reads the whole routing state** (a cooperative engine serves no call while a
handler computes): an action and ``GET /api/agents/{id}`` read that agent's record, a
queue's contacts that queue's line; the lists (queues' loads, agents, a queue's members)
come from the engine's shared supervision read (:class:`AdminApi`), up to 1 s old.

**Choice: pause and unpause are idempotent.** Pausing a paused agent answers 200 and sets
the new reason; unpausing an agent that is logged in but not paused (ready or in wrap-up)
answers 200 with ``"changed": false`` and changes nothing. Both answer 409 only for a
logged-out agent.

A pick is the routing's atomic ``pick`` (docs/ROUTING.md) followed by the very path of a
routed offer: the agent's leg is originated, the whisper plays, the caller is bridged; if
the agent does not answer, the caller keeps its place in the queue. An agent logged in to
queues is offered calls by routing and may pick at the same time: routing gives one agent
at most one call (a pick finds an agent with an offer busy, and routing offers nothing to an
agent with a picked call).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import structlog
import yaml
from flask import Flask, Response, request
from gevent.pywsgi import WSGIServer
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from werkzeug.exceptions import HTTPException

from acd.adapters.redis_store import StoreError as CallStoreError
from acd.adapters.supervision import SharedRead, Supervision
from acd.config.endpoints import ApiToken, Role
from acd.config.types import Name
from acd.engine.agents import agent_command
from acd.engine.effects import Effect
from acd.engine.events import AgentAction, AgentCommand, TransferRequest
from acd.engine.records import AgentRecord, CallRecord
from acd.engine.states import TransitionError
from acd.errors import ACDError, ValidationError
from routing.api import Presence, Reservation
from routing.errors import (
    InvalidTransitionError,
    RoutingError,
    UnknownAgentError,
    UnknownContactError,
    UnknownQueueError,
)
from routing.store import RedisRouter
from routing.store_snapshot import read_agent, read_contact
from routing.supervision import SupervisionView
from wallboard.metrics import AGENT_STATES, agent_state

if TYPE_CHECKING:
    from acd.adapters.runner import Runner

_log = structlog.get_logger("acd.http")

ROLE_RANK: Mapping[Role, int] = {"viewer": 0, "agent": 1, "supervisor": 2, "admin": 3}
#: Seconds a request waits for the engine's outcome of an agent action.
DEFAULT_TIMEOUT = 5.0
#: Largest request body accepted, in bytes.
MAX_BODY = 16_384
#: The reason of a pause that names none (the engine's default, also for ``*22``).
DEFAULT_PAUSE_REASON = "break"


def pause_reasons(configured: Collection[str]) -> list[str]:
    """The pause reasons the API takes, sorted: ``feature_codes.pause_reasons``' names and
    :data:`DEFAULT_PAUSE_REASON`."""
    return sorted({*configured, DEFAULT_PAUSE_REASON})


class ApiError(Exception):
    """An error answer: HTTP ``status`` with ``{"error": slug, "message": message}``."""

    def __init__(self, status: int, slug: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class QueuesBody(_Body):
    """Body of login and logout: ``queues`` None means all (see the module table)."""

    queues: tuple[Name, ...] | None = Field(default=None, min_length=1, max_length=256)


class PauseBody(_Body):
    reason: Name | None = None


class EmptyBody(_Body):
    pass


class PickBody(_Body):
    """Body of a pick: ``agent`` None means the token's own agent."""

    agent: Name | None = None


@dataclass(frozen=True, slots=True)
class PickRequest:
    """A pick carried out on the contact's lane: ``at`` is epoch seconds."""

    contact: str
    agent: str
    at: float


@cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document (``acd/adapters/openapi.yaml``) as a dict."""
    text = (resources.files("acd.adapters") / "openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


_BODIES: Mapping[AgentAction, type[_Body]] = {
    "login": QueuesBody,
    "logout": QueuesBody,
    "pause": PauseBody,
    "unpause": EmptyBody,
}
_ACTION_ROLE: Mapping[AgentAction, Role] = {
    "login": "agent",
    "logout": "agent",
    "pause": "agent",
    "unpause": "supervisor",
}


def _json(status: int, payload: object) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error_status(exc: Exception) -> tuple[int, str]:
    """The HTTP status and slug of an error raised by the engine for an agent action."""
    if isinstance(exc, InvalidTransitionError | TransitionError):
        return 409, exc.slug
    if isinstance(exc, UnknownContactError | UnknownAgentError):
        return 404, exc.slug
    if isinstance(exc, ValidationError | UnknownQueueError):
        return 400, exc.slug
    if isinstance(exc, CallStoreError) or type(exc) is RoutingError:
        return 503, exc.slug
    if isinstance(exc, RoutingError):
        return 400, exc.slug
    if isinstance(exc, ACDError):
        return 500, exc.slug
    return 500, "internal"


class AdminApi:
    """The WSGI application and its server. ``runner`` gives the engine (its router a
    :class:`routing.store.RedisRouter`), its lanes and its clock; ``tokens`` are the
    accepted bearer tokens; ``telephonists`` the ids of the agents whose own (``agent``)
    token may pick calls (config ``telephonist: true``); ``passive`` the ids of passive
    agents (R-PASSIVE: idle, they count as ``passive``, not ``free``).

    No request reads the whole routing state (a cooperative engine would serve no call
    meanwhile): an action or a one-agent answer reads that agent's record, a queue's
    contacts that queue's line (one script call), and the lists (``GET /api/queues``,
    ``/api/agents``, ``/api/queues/{name}/agents``) the engine's shared supervision read
    ``supervision`` (at most ``supervision.view.max_age`` seconds old, shared with the
    metrics and the wallboard). Without one the API makes its own that reads on every
    request (``max_age`` 0: tests and tools)."""

    def __init__(
        self,
        runner: Runner,
        tokens: Sequence[ApiToken],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        telephonists: Collection[str] = (),
        passive: Collection[str] = (),
        supervision: Supervision | None = None,
    ) -> None:
        self.runner = runner
        self.tokens = tuple(tokens)
        self.timeout = timeout
        self.telephonists = frozenset(telephonists)
        self.passive = frozenset(passive)
        router = runner.engine.router
        if not isinstance(router, RedisRouter):
            raise TypeError(f"the API reads routing from Redis; got a {type(router).__name__}")
        self.router = router
        if supervision is None:
            supervision = Supervision(router.client, router.keys.tenant, max_age=0.0)
        self.supervision = supervision
        store = runner.engine.store

        def phones() -> Mapping[str, AgentRecord]:
            return {record.id: record for record in store.agents()}

        # The phones of the agents list: shared like the routing view, and as old.
        self._phones: SharedRead[Mapping[str, AgentRecord]] = SharedRead(
            phones, name="api-phones", max_age=supervision.view.max_age
        )
        self.app = self._make_app()
        self._server: WSGIServer | None = None

    # ------------------------------------------------------------------ server

    def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0 = a free port) and serve in the background;
        returns the bound port. Raises :class:`OSError` if the address is taken."""
        server = WSGIServer((host, port), self.app, log=None, error_log=None)
        server.start()
        self._server = server
        bound = int(server.server_port)
        _log.info("acd.http_listening", host=host, port=bound)
        return bound

    def stop(self, timeout: float = 2.0) -> None:
        if self._server is not None:
            self._server.stop(timeout=timeout)
            self._server = None

    @property
    def port(self) -> int | None:
        """The bound port while serving, else None."""
        return None if self._server is None else int(self._server.server_port)

    # ------------------------------------------------------------------ routes

    def _make_app(self) -> Flask:
        # No static folder: Flask's default would serve <working directory>/static/ to anyone.
        app = Flask("acd.http", static_folder=None)
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

        @app.errorhandler(ApiError)
        def _api_error(exc: ApiError) -> Response:
            return _json(exc.status, {"error": exc.slug, "message": exc.message})

        @app.errorhandler(Exception)
        def _unexpected(exc: Exception) -> Response:
            if isinstance(exc, HTTPException):  # Flask's own (bad method, bad request...)
                slug = (exc.name or "http-error").lower().replace(" ", "-")
                return _json(exc.code or 500, {"error": slug, "message": exc.description})
            _log.exception("acd.http_failed")
            return _json(500, {"error": "internal", "message": "internal error (logged)"})

        @app.errorhandler(404)
        def _not_found(_exc: Exception) -> Response:
            return _json(404, {"error": "not-found", "message": "no such endpoint"})

        @app.errorhandler(405)
        def _bad_method(exc: Exception) -> Response:
            answer = _json(405, {"error": "method-not-allowed", "message": "method not allowed"})
            # RFC 9110: a 405 names the methods the path takes; Werkzeug's exception has it.
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                answer.headers["Allow"] = ", ".join(sorted(allowed))
            return answer

        @app.errorhandler(413)
        def _too_large(_exc: Exception) -> Response:
            return _json(413, {"error": "too-large", "message": f"body over {MAX_BODY} bytes"})

        @app.get("/api/openapi.json")
        def _openapi() -> Response:
            return _json(200, openapi_document())

        @app.get("/api/agents")
        def _agents() -> Response:
            self._authorize("viewer")
            return _json(200, {"agents": self._agent_views()})

        @app.get("/api/agents/<agent_id>")
        def _agent(agent_id: str) -> Response:
            self._authorize("viewer")
            if agent_id not in self.runner.engine.settings.agents:
                raise ApiError(404, "unknown-agent", f"no agent {agent_id!r}")
            return _json(200, self._one_agent(agent_id))

        @app.get("/api/queues")
        def _queues() -> Response:
            self._authorize("viewer")
            return _json(200, {"queues": self._queue_loads()})

        @app.get("/api/queues/<name>/contacts")
        def _queue_contacts(name: str) -> Response:
            token = self._authorize("viewer")
            self._known_queue(name)
            shown = self._sees_numbers(token)
            contacts = self._waiting(name, numbers=shown)
            answer = {"queue": name, "caller_numbers": "shown" if shown else "hidden"}
            return _json(200, {**answer, "contacts": contacts})

        @app.post("/api/queues/<name>/contacts/<contact>/pick")
        def _pick(name: str, contact: str) -> Response:
            return self._pick(name, contact)

        @app.get("/api/queues/<name>/agents")
        def _queue_agents(name: str) -> Response:
            self._authorize("viewer")
            self._known_queue(name)
            members = [
                {k: v for k, v in view.items() if k != "queues"}
                for view in self._agent_views()
                if name in view["queues"]
            ]
            return _json(200, {"queue": name, "agents": members})

        def action_route(action: AgentAction) -> Callable[[str], Response]:
            def handle(agent_id: str) -> Response:
                return self._agent_action(agent_id, action)

            handle.__name__ = f"agent_{action}"
            return handle

        for action in _BODIES:
            app.post(f"/api/agents/<agent_id>/{action}")(action_route(action))

        @app.post("/api/calls/<contact>/transfer")
        def _transfer(contact: str) -> Response:
            return self._transfer(contact)

        return app

    # ------------------------------------------------------------------ helpers

    def _authorize(self, needed: Role, agent_id: str | None = None) -> ApiToken:
        """The request's token if its role allows ``needed`` (an ``agent`` token only for
        its own agent id); raises :class:`ApiError` 401 or 403."""
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        found = None
        if scheme.lower() == "bearer" and secret:
            given = secret.strip().encode("utf-8", "surrogateescape")
            for token in self.tokens:
                # Compare with every token in constant time: no early exit leaks a prefix.
                if hmac.compare_digest(token.token.encode(), given):
                    found = token
        if found is None:
            raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' is needed")
        rank, need = ROLE_RANK[found.role], ROLE_RANK[needed]
        own = found.role == "agent" and agent_id is not None and found.name == agent_id
        if rank < need or (found.role == "agent" and agent_id is not None and not own):
            raise ApiError(403, "forbidden", f"role {found.role} may not do this")
        return found

    def _sees_numbers(self, token: ApiToken) -> bool:
        """R-PICK, privacy: callers' numbers go to those who pick calls (a telephonist's
        own token) and to supervisor+, not to viewers (a wall TV's URL holds its token)."""
        if ROLE_RANK[token.role] >= ROLE_RANK["supervisor"]:
            return True
        return token.role == "agent" and token.name in self.telephonists

    def _known_queue(self, name: str) -> None:
        if name not in self.runner.engine.settings.queues:
            raise ApiError(404, "unknown-queue", f"no queue named {name!r}")

    def _body(self, action: AgentAction) -> _Body:
        return self._parse(_BODIES[action])

    def _parse(self, model: type[_Body]) -> _Body:
        raw = request.get_data(cache=False)
        data: Any = {}
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                raise ApiError(400, "invalid-json", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid-input", "the body must be a JSON object")
        try:
            # From the JSON text: strict mode then takes a JSON array for a tuple.
            return model.model_validate_json(raw if raw.strip() else b"{}")
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ApiError(400, "invalid-input", problems) from None

    def _agent_action(self, agent_id: str, action: AgentAction) -> Response:
        token = self._authorize(_ACTION_ROLE[action], agent_id)
        body = self._body(action)
        if agent_id not in self.runner.engine.settings.agents:
            raise ApiError(404, "unknown-agent", f"no agent {agent_id!r}")
        settings = self.runner.engine.settings
        queues = body.queues if isinstance(body, QueuesBody) else None
        reason = body.reason if isinstance(body, PauseBody) else None
        if queues is not None:
            own = settings.agents[agent_id].queues
            foreign = sorted({q for q in queues if q not in own})
            if foreign:
                # Login and logout alike: a queue outside the agent's own is a bad request.
                raise ApiError(
                    400,
                    "invalid-input",
                    f"agent {agent_id} is not a member of {', '.join(foreign)}",
                )
        if reason is not None:
            allowed = pause_reasons(settings.pause_reasons.values())
            if reason not in allowed:
                raise ApiError(
                    400,
                    "unknown-pause-reason",
                    f"no pause reason {reason!r}; allowed: {', '.join(allowed)}",
                )
        event = AgentCommand(agent_id, action, self.runner.clock(), queues, reason)
        changed: list[bool] = []
        engine = self.runner.engine

        def act(command: AgentCommand) -> list[Effect]:
            try:
                effects = agent_command(engine, command)
            except (InvalidTransitionError, TransitionError):
                # Idempotent unpause: logged in but not paused is already what was asked.
                # Read on the agent's lane, so no other action of this agent runs between.
                if command.action != "unpause" or not self._logged_in(command.agent):
                    raise
                changed.append(False)
                return []
            changed.append(True)
            return effects

        self._run_on_lane(event, agent_id, act)
        _log.info("acd.http_agent_action", agent=agent_id, action=action, by=token.name)
        answer: dict[str, object] = {"agent": agent_id, "action": action}
        if queues is not None:
            answer["queues"] = list(queues)
        if action == "pause":
            answer["reason"] = reason or DEFAULT_PAUSE_REASON
        answer["changed"] = all(changed)
        return _json(200, answer)

    def _logged_in(self, agent_id: str) -> bool:
        routed = read_agent(self.router.client, self.router.keys, agent_id)
        return routed is not None and routed.presence != "logged_out"

    def _transfer(self, contact: str) -> Response:
        """R-PRIO: ``{"queue": name}``; an ``agent`` token only for a call it is serving."""
        token = self._authorize("agent")
        raw = request.get_data(cache=False)
        try:
            data: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ApiError(400, "invalid-json", "the body is not JSON") from None
        queue = data.get("queue") if isinstance(data, dict) else None
        if not isinstance(queue, str) or set(data) != {"queue"}:
            raise ApiError(400, "invalid-input", 'the body must be {"queue": "<name>"}')
        engine = self.runner.engine
        if queue not in engine.settings.queues:
            raise ApiError(404, "unknown-queue", f"no queue named {queue!r}")
        record = self._call(contact)
        if record is None or record.kind != "caller":
            raise ApiError(404, "unknown-call", f"no waiting or talking caller {contact!r}")
        if token.role == "agent" and record.agent != token.name:
            raise ApiError(403, "forbidden", "an agent may transfer only a call it is serving")
        event = TransferRequest(contact, queue, self.runner.clock())

        def handle(request_event: TransferRequest) -> list[Effect]:
            return engine.handle(request_event)

        self._run_on_lane(event, contact, handle)
        _log.info("acd.http_transfer", contact=contact, queue=queue, by=token.name)
        return _json(200, {"contact": contact, "queue": queue})

    def _pick(self, queue: str, contact: str) -> Response:
        """R-PICK, R-TELEPHONIST: ring the chosen agent's phone for this waiting caller."""
        token = self._authorize("agent")
        body = self._parse(PickBody)
        assert isinstance(body, PickBody)
        engine = self.runner.engine
        if body.agent is None and token.name not in engine.settings.agents:
            raise ApiError(400, "invalid-input", 'name the agent: {"agent": "<id>"}')
        agent_id = body.agent or token.name
        if token.role == "agent" and agent_id != token.name:
            raise ApiError(403, "forbidden", "an agent token picks only for its own agent")
        self._known_queue(queue)
        if agent_id not in engine.settings.agents:
            raise ApiError(404, "unknown-agent", f"no agent {agent_id!r}")
        if agent_id not in self.telephonists:
            # Whoever asks, a supervisor too: only telephonists take picked calls (R-PICK).
            raise ApiError(403, "not-telephonist", f"agent {agent_id} is no telephonist")
        record = self._call(contact)
        if record is None or record.kind != "caller" or not self._in_queue(record, queue):
            raise ApiError(404, "unknown-contact", f"no caller {contact!r} in queue {queue!r}")
        made: list[Reservation] = []

        def act(event: PickRequest) -> list[Effect]:
            # On the caller's lane: nothing else of this call runs meanwhile, and the offer
            # goes the way of any routed offer (Offer on this lane, originate, whisper).
            reservation = engine.router.pick(event.contact, event.agent, event.at)
            made.append(reservation)
            return engine.offers([reservation], event.at)

        self._run_on_lane(PickRequest(contact, agent_id, self.runner.clock()), contact, act)
        _log.info("acd.http_pick", contact=contact, queue=queue, agent=agent_id, by=token.name)
        answer = {"contact": contact, "queue": queue, "agent": agent_id, "reservation": made[0].id}
        return _json(200, answer)

    def _call(self, contact: str) -> CallRecord | None:
        try:
            return self.runner.engine.store.get_call(contact)
        except CallStoreError as exc:
            raise ApiError(503, exc.slug, str(exc)) from None

    def _in_queue(self, record: CallRecord, queue: str) -> bool:
        """Is the caller listed in ``queue`` (its home queue, or one escalation added)?"""
        if record.queue == queue:
            return True
        try:
            view = read_contact(self.router.client, self.router.keys, record.contact)
        except RoutingError as exc:
            raise ApiError(503, exc.slug, str(exc)) from None
        return view is not None and queue in view.queues

    def _view(self) -> SupervisionView:
        """The shared supervision view (at most its ``max_age`` old); 503 if Redis fails."""
        try:
            return self.supervision.view()
        except RoutingError as exc:
            raise ApiError(503, exc.slug, str(exc)) from None

    def _queue_loads(self) -> list[dict[str, Any]]:
        """Each configured queue's load, by name, in the words of ``/metrics`` and the
        wallboard: ``waiting`` (the queue's callers not yet answered: waiting in line or
        ringing an agent; ``acd_queue_waiting_contacts``), ``ringing`` (those being offered
        to an agent now), ``longest_wait`` (seconds since the oldest of them arrived, 0 if
        none; ``acd_queue_longest_wait_seconds``), ``agents`` logged in by state (``free
        passive busy wrap_up paused``, as the metrics count them) and in all. A caller
        counts in its home queue, as in the metrics. From the shared supervision view: up
        to its ``max_age`` old."""
        view = self._view()
        now = self.runner.clock()
        queues = sorted(self.runner.engine.settings.queues)
        members = {name: dict.fromkeys(AGENT_STATES, 0) for name in queues}
        for agent in view.agents.values():  # one pass: agents x their own queues
            if agent.presence == "logged_out":
                continue
            state = agent_state(agent, self.passive)
            for name in agent.queues:
                if name in members:
                    members[name][state] += 1
        loads: list[dict[str, Any]] = []
        for name in queues:
            load = view.queues.get(name)
            oldest = None if load is None else load.oldest
            loads.append(
                {
                    "name": name,
                    "waiting": 0 if load is None else load.waiting,
                    "ringing": 0 if load is None else load.ringing,
                    "longest_wait": 0.0 if oldest is None else round(max(0.0, now - oldest), 3),
                    "agents": {"logged_in": sum(members[name].values()), **members[name]},
                }
            )
        return loads

    def _waiting(self, queue: str, *, numbers: bool = True) -> list[dict[str, Any]]:
        """The contacts waiting in ``queue`` (home queue or added by escalation, including
        those held for one agent: ``target``), best first: priority, then arrival, then id,
        the order routing serves them in. Callers ringing an agent are not listed (they
        cannot be picked). ``numbers`` False gives every ``caller_number`` as None."""
        try:
            listed = self.supervision.reader.waiting(queue)  # this queue's line only, atomic
        except RoutingError as exc:
            raise ApiError(503, exc.slug, str(exc)) from None
        now = self.runner.clock()
        contacts: list[dict[str, Any]] = []
        for position, view in enumerate(listed, start=1):
            record = self._call(view.id)
            contacts.append(
                {
                    "contact": view.id,
                    "position": position,
                    "waiting_seconds": round(max(0.0, now - view.arrival), 3),
                    "priority": view.priority,
                    "queue": view.queue,
                    "channel": view.channel,
                    "case_type": None if record is None else record.case_type,
                    "caller_number": (
                        record.caller_number if numbers and record is not None else None
                    ),
                    "target": view.target if view.restriction is not None else None,
                }
            )
        return contacts

    def _run_on_lane(
        self,
        event: Any,
        lane: str | None = None,
        act: Callable[[Any], list[Effect]] | None = None,
    ) -> None:
        """Carry out ``event`` on the agent's lane and wait for the outcome; raises
        :class:`ApiError` with the engine's error."""
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        runner = self.runner

        def handler(command: Any) -> None:
            try:
                with runner.gate:  # never half with the old settings of a live reload
                    if act is not None:
                        effects: list[Effect] = act(command)
                    else:
                        effects = agent_command(runner.engine, command)
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the request
                result.set_exception(exc)
                return
            # Effects are carried out on the lane, so a request that timed out still
            # leaves no reservation without its offer.
            runner.apply(effects)
            result.set(None)

        if not runner.client.post(lane or event.agent, event, handler):
            raise ApiError(503, "engine-busy", "the engine's backlog is full; try again")
        try:
            result.get(timeout=self.timeout)
        except gevent.Timeout:
            raise ApiError(
                504, "timeout", f"no outcome within {self.timeout} s; the action may still happen"
            ) from None
        except Exception as exc:  # noqa: BLE001 - mapped to an answer, never lost
            status, slug = _error_status(exc)
            if status >= 500:
                _log.error("acd.http_action_failed", lane=lane or event.agent, error=str(exc))
            raise ApiError(status, slug, str(exc)) from None

    def _agent_views(self) -> list[dict[str, Any]]:
        """Every configured agent with routing's view (presence, queues) and the phone's
        state, in id order, from the shared reads (up to their ``max_age`` old). Raises
        :class:`ApiError` 503 if Redis fails."""
        view = self._view()
        try:
            phones = self._phones()
        except CallStoreError as exc:
            raise ApiError(503, exc.slug, str(exc)) from None
        views: list[dict[str, Any]] = []
        for agent_id in sorted(self.runner.engine.settings.agents):
            routed = view.agents.get(agent_id)
            views.append(
                self._agent_answer(
                    agent_id,
                    None
                    if routed is None
                    else (routed.presence, routed.pause_reason, routed.queues, routed.contacts),
                    phones.get(agent_id),
                )
            )
        return views

    def _one_agent(self, agent_id: str) -> dict[str, Any]:
        """One configured agent as :meth:`_agent_views` shows it, read now (its routing
        record and its phone record only). Raises :class:`ApiError` 503 if Redis fails."""
        try:
            routed = read_agent(self.router.client, self.router.keys, agent_id)
            phone = self.runner.engine.store.get_agent(agent_id)
        except (RoutingError, CallStoreError) as exc:
            raise ApiError(503, exc.slug, str(exc)) from None
        assigned = None
        if routed is not None:
            contacts = tuple(contact for contact, _ in routed.assigned)
            assigned = (routed.presence, routed.pause_reason, routed.queues, contacts)
        return self._agent_answer(agent_id, assigned, phone)

    def _agent_answer(
        self,
        agent_id: str,
        routed: tuple[Presence, str | None, tuple[str, ...], tuple[str, ...]] | None,
        phone: AgentRecord | None,
    ) -> dict[str, Any]:
        """The answer of one agent: ``routed`` (presence, pause reason, queues, contact
        ids) None when routing does not know it (logged out)."""
        entry = self.runner.engine.settings.agents[agent_id]
        presence, reason, queues, contacts = routed or ("logged_out", None, (), ())
        return {
            "id": agent_id,
            "name": entry.name,
            "presence": presence,
            "pause_reason": reason,
            "queues": list(queues),
            "phone_state": "logged_out" if phone is None else phone.state,
            "contacts": list(contacts),
            "own_queues": list(entry.queues),
            "telephonist": agent_id in self.telephonists,
        }
