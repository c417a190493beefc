"""The HTTP admin API: log agents in and out, pause them, list who serves which queue.

Served by the engine process (Flask on gevent's WSGI server). Every request carries
``Authorization: Bearer <token>`` with a token of ``config.http.tokens``; the token's role
decides what it may do (roles are ordered viewer < agent < supervisor < admin):

=========================================  =====================================================
``GET  /api/agents``                       viewer+: every agent, its presence and its queues
``GET  /api/queues/{name}/agents``         viewer+: the agents logged in to a queue
``POST /api/agents/{id}/login``            agent (own id = token name) or supervisor+;
                                           body ``{"queues": [...]}`` optional (default: all
                                           of the agent's own queues)
``POST /api/agents/{id}/logout``           same roles; body ``{"queues": [...]}`` optional
                                           (default: every queue)
``POST /api/agents/{id}/pause``            same roles; body ``{"reason": name}`` optional
``POST /api/agents/{id}/unpause``          supervisor+
``POST /api/calls/{uuid}/transfer``        agent (only a call it serves) or supervisor+;
                                           body ``{"queue": name}``: priority transfer of a
                                           waiting or talking caller (R-PRIO)
=========================================  =====================================================

A change is carried out on the agent's lane of the engine (like a feature-code login),
and the request waits for its outcome up to ``timeout`` seconds. Success answers 200 with
``{"agent": id, "action": ..., ...}``. Errors answer ``{"error": slug, "message": text}``:
400 bad body or an action the agent's membership does not allow, 401 no or unknown
token, 403 role too low, 404 unknown agent or queue, 409 the agent's state does not allow
the action (e.g. unpause of an agent that is not paused), 503 Redis or the engine
unavailable, 504 no outcome within ``timeout`` (the action may still happen). On any
error before the engine acted, nothing changes.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import gevent
import gevent.event
import structlog
from flask import Flask, Response, request
from gevent.pywsgi import WSGIServer
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from werkzeug.exceptions import HTTPException

from acd.adapters.redis_store import StoreError as CallStoreError
from acd.config.endpoints import ApiToken, Role
from acd.config.types import Name
from acd.engine.agents import agent_command
from acd.engine.effects import Effect
from acd.engine.events import AgentAction, AgentCommand, TransferRequest
from acd.engine.states import TransitionError
from acd.errors import ACDError, ValidationError
from routing.errors import InvalidTransitionError, RoutingError, UnknownQueueError

if TYPE_CHECKING:
    from acd.adapters.runner import Runner

_log = structlog.get_logger("acd.http")

ROLE_RANK: Mapping[Role, int] = {"viewer": 0, "agent": 1, "supervisor": 2, "admin": 3}
#: Seconds a request waits for the engine's outcome of an agent action.
DEFAULT_TIMEOUT = 5.0
#: Largest request body accepted, in bytes.
MAX_BODY = 16_384


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
    """The WSGI application and its server. ``runner`` gives the engine, its lanes and its
    clock; ``tokens`` are the accepted bearer tokens."""

    def __init__(
        self,
        runner: Runner,
        tokens: Sequence[ApiToken],
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.runner = runner
        self.tokens = tuple(tokens)
        self.timeout = timeout
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
        app = Flask("acd.http")
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
        def _bad_method(_exc: Exception) -> Response:
            return _json(405, {"error": "method-not-allowed", "message": "method not allowed"})

        @app.errorhandler(413)
        def _too_large(_exc: Exception) -> Response:
            return _json(413, {"error": "too-large", "message": f"body over {MAX_BODY} bytes"})

        @app.get("/api/agents")
        def _agents() -> Response:
            self._authorize("viewer")
            return _json(200, {"agents": self._agent_views()})

        @app.get("/api/queues/<name>/agents")
        def _queue_agents(name: str) -> Response:
            self._authorize("viewer")
            if name not in self.runner.engine.settings.queues:
                raise ApiError(404, "unknown-queue", f"no queue named {name!r}")
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

    def _body(self, action: AgentAction) -> _Body:
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
            return _BODIES[action].model_validate_json(raw if raw.strip() else b"{}")
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
        queues = body.queues if isinstance(body, QueuesBody) else None
        reason = body.reason if isinstance(body, PauseBody) else None
        event = AgentCommand(agent_id, action, self.runner.clock(), queues, reason)
        self._run_on_lane(event)
        _log.info("acd.http_agent_action", agent=agent_id, action=action, by=token.name)
        answer: dict[str, object] = {"agent": agent_id, "action": action}
        if queues is not None:
            answer["queues"] = list(queues)
        if action == "pause":
            answer["reason"] = reason or "break"
        return _json(200, answer)

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
        record = engine.store.get_call(contact)
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
        state, in id order. Raises :class:`ApiError` 503 if Redis fails."""
        engine = self.runner.engine
        try:
            snapshot = engine.router.snapshot()
            phones = {record.id: record for record in engine.store.agents()}
        except (RoutingError, CallStoreError) as exc:
            raise ApiError(503, exc.slug, str(exc)) from None
        views: list[dict[str, Any]] = []
        for agent_id in sorted(engine.settings.agents):
            routed = snapshot.agents.get(agent_id)
            phone = phones.get(agent_id)
            presence: Literal["logged_out", "ready", "paused", "wrap_up"] = (
                "logged_out" if routed is None else routed.presence
            )
            views.append(
                {
                    "id": agent_id,
                    "name": engine.settings.agents[agent_id].name,
                    "presence": presence,
                    "pause_reason": None if routed is None else routed.pause_reason,
                    "queues": [] if routed is None else list(routed.queues),
                    "phone_state": "logged_out" if phone is None else phone.state,
                    "contacts": [] if routed is None else [c for c, _ in routed.assigned],
                }
            )
        return views
