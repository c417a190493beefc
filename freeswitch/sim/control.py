"""HTTP JSON control endpoint, so a separate engine process can be driven through the sim.

Modelled on wazo's fake ARI server (``/_requests``, ``/_reset``, ...):

========================  =====================================================
``GET  /_requests``       every command received: ``{"requests": [...]}``
``GET  /_channels``       live channels (uuid, state, answer, bridged leg, vars)
``POST /_reset``          hang everything up, forget the command log and delay
``POST /_call``           ``{"caller_number", "destination", "variables"?,
                          "answered"?}`` → ``{"uuid"}``
``POST /_hangup``         ``{"uuid", "cause"?}``
``POST /_dtmf``           ``{"uuid", "digits"}``
``POST /_event``          ``{"headers": [[name, value], ...], "body"?}``
``POST /_agent``          ``{"contact", "registered"?, "answer_after"?, "behaviour"?,
                          "hangup_after"?}`` (add or replace an agent phone)
``POST /_drop``           drop every Event Socket connection
``POST /_delay``          ``{"seconds"}`` before each reply
``POST /_shutdown``       simulate a FreeSWITCH shutdown; ``POST /_restart`` restart
========================  =====================================================

Bad input answers 400 with ``{"error": slug, "message": ...}`` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from gevent.pywsgi import WSGIServer

from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.originate import AgentPhone
from freeswitch.sim.simulator import Simulator

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 1024 * 1024


def _field(data: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in data:
        if default is ...:
            raise SimulatorError(f"missing field {name!r}")
        return default
    value = data[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SimulatorError(f"field {name!r} must be {kind.__name__}")
    return value


class ControlApp:
    """The WSGI application; every handler takes the JSON body and returns a JSON value."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "/_requests"): lambda _: {"requests": self.sim.requests},
            ("GET", "/_channels"): self.channels,
            ("POST", "/_reset"): self._do(self.sim.reset),
            ("POST", "/_call"): self.call,
            ("POST", "/_hangup"): self.hangup,
            ("POST", "/_dtmf"): self.dtmf,
            ("POST", "/_event"): self.event,
            ("POST", "/_agent"): self.agent,
            ("POST", "/_drop"): self._do(self.sim.drop_connections),
            ("POST", "/_delay"): self.delay,
            ("POST", "/_shutdown"): self._do(self.sim.shutdown),
            ("POST", "/_restart"): self._do(self.sim.restart),
        }

    @staticmethod
    def _do(action: Callable[[], None]) -> Callable[[dict[str, Any]], Any]:
        def handler(_: dict[str, Any]) -> Any:
            action()
            return {"ok": True}

        return handler

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        if route is None:
            return self._reply(start_response, "404 Not Found", {"error": "not-found"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY:
                raise SimulatorError("request body too large")
            raw = environ["wsgi.input"].read(length) if length else b""
            data = json.loads(raw) if raw else {}
            if not isinstance(data, dict):
                raise SimulatorError("the request body must be a JSON object")
            result = route(data)
        except (SimulatorError, ValueError, UnicodeDecodeError) as exc:
            slug = getattr(exc, "slug", "sim-invalid-input")
            return self._reply(
                start_response, "400 Bad Request", {"error": slug, "message": str(exc)}
            )
        return self._reply(start_response, "200 OK", result)

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    def channels(self, _: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for ch in self.sim.channels.values():
            rows.append(
                {
                    "uuid": ch.uuid,
                    "direction": ch.direction,
                    "state": ch.state,
                    "answer_state": ch.answer_state,
                    "parked": ch.parked,
                    "other_leg": ch.other_leg,
                    "variables": {k: v for k, v in ch.variables.items() if k.startswith("acd_")},
                }
            )
        return {"channels": rows}

    def call(self, data: dict[str, Any]) -> dict[str, Any]:
        variables = _field(data, "variables", dict, None)
        uuid = self.sim.place_call(
            _field(data, "caller_number", str, "0701234567"),
            _field(data, "destination", str, "7000"),
            variables,
            _field(data, "answered", bool, None),
        )
        return {"uuid": uuid}

    def hangup(self, data: dict[str, Any]) -> dict[str, Any]:
        self.sim.hangup(_field(data, "uuid", str), _field(data, "cause", str, "NORMAL_CLEARING"))
        return {"ok": True}

    def dtmf(self, data: dict[str, Any]) -> dict[str, Any]:
        self.sim.press_dtmf(_field(data, "uuid", str), _field(data, "digits", str))
        return {"ok": True}

    def event(self, data: dict[str, Any]) -> dict[str, Any]:
        headers = _field(data, "headers", list)
        if not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            for h in headers
        ):
            raise SimulatorError("headers must be [[name, value], ...] of strings")
        self.sim.inject_event([(h[0], h[1]) for h in headers], _field(data, "body", str, ""))
        return {"ok": True}

    def agent(self, data: dict[str, Any]) -> dict[str, Any]:
        hangup_after = data.get("hangup_after")
        if hangup_after is not None and not isinstance(hangup_after, int | float):
            raise SimulatorError("field 'hangup_after' must be a number or null")
        phone = AgentPhone(
            _field(data, "contact", str),
            registered=_field(data, "registered", bool, True),
            answer_after=_field(data, "answer_after", float, 1.0),
            behaviour=_field(data, "behaviour", str, "answer"),  # checked by AgentPhone
            hangup_after=None if hangup_after is None else float(hangup_after),
        )
        self.sim.add_agent_phone(phone)
        return {"ok": True}

    def delay(self, data: dict[str, Any]) -> dict[str, Any]:
        seconds = _field(data, "seconds", float)
        if not 0 <= seconds <= 600:
            raise SimulatorError("seconds must be within 0..600")
        self.sim.reply_delay = seconds
        return {"ok": True}


class ControlServer:
    """Serves :class:`ControlApp` on ``host:port`` (port 0: any free port)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = WSGIServer((host, port), ControlApp(sim), log=None, error_log=None)

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def start(self) -> ControlServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(timeout=0)
