"""A client of the engine's HTTP API for tests: real HTTP to a running engine (the
simulator, Redis, the engine over TCP: tests/engine_harness.py), and every answer checked
against the OpenAPI document the engine serves (acd/adapters/openapi.yaml) with
openapi-core, so the document cannot drift from what the API does."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from acd.adapters.http import AdminApi, openapi_document
from acd.config.endpoints import ApiToken
from routing.api import RouterState
from tests.engine_harness import Harness, Start

ADMIN = "admin-token-0123456789abcdef"
SUPERVISOR = "supervisor-token-0123456789"
VIEWER = "viewer-token-0123456789abcd"
AGENT_1001 = "agent-1001-token-0123456789"  # a telephonist
AGENT_1002 = "agent-1002-token-0123456789"  # not a telephonist
TOKENS = (
    ApiToken(token=ADMIN, role="admin", name="ops"),
    ApiToken(token=SUPERVISOR, role="supervisor", name="lead"),
    ApiToken(token=VIEWER, role="viewer", name="board"),
    ApiToken(token=AGENT_1001, role="agent", name="1001"),
    ApiToken(token=AGENT_1002, role="agent", name="1002"),
)
TELEPHONISTS = frozenset({"1001", "1003", "1005"})

_SPEC = OpenAPI.from_dict(openapi_document())


def validate_answer(
    method: str, path: str, body: bytes | None, status: int, content: bytes
) -> None:
    """Check one answer against the OpenAPI document: ``status`` documented for the
    operation of ``method`` ``path`` (a query string is allowed), ``content`` of its
    schema. Raises openapi-core's ``ResponseValidationError`` (or a ``PathNotFound`` /
    ``OperationNotFound`` for an undocumented route)."""
    route, _, query = path.partition("?")
    args = dict(urllib.parse.parse_qsl(query))
    request = MockRequest("http://localhost", method.lower(), route, args=args, data=body)
    _SPEC.validate_response(request, MockResponse(content, status_code=status))


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Api:
    harness: Harness
    base: str
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        token: str | None = ADMIN,
        body: bytes | object = None,
        *,
        documented: bool = True,
    ) -> Answer:
        """One HTTP request, made on a native thread so the engine's gevent hub (and the
        server in it) keeps running meanwhile; the answer is validated against the OpenAPI
        document (status documented for the operation, body of the documented schema),
        except for a route the document has no operation for (``documented=False``)."""
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        raw = data.encode() if isinstance(data, str) else data
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=raw, method=method, headers=headers)

        def send() -> tuple[int, bytes, str, dict[str, str]]:
            try:
                with urllib.request.urlopen(req, timeout=10) as reply:
                    got = dict(reply.headers.items())
                    return reply.status, reply.read(), reply.headers.get_content_type(), got
            except urllib.error.HTTPError as error:
                got = dict(error.headers.items())
                return error.code, error.read(), error.headers.get_content_type(), got

        status, content, content_type, got = gevent.get_hub().threadpool.apply(send)
        assert content_type == "application/json", (status, content)
        if documented:
            self.validate(method, path, raw, status, content)
        return Answer(status, json.loads(content), got)

    def validate(
        self, method: str, path: str, body: bytes | None, status: int, content: bytes
    ) -> None:
        validate_answer(method, path, body, status, content)
        self.checked.append((method, path, status))

    def post(self, path: str, token: str | None = ADMIN, body: bytes | object = None) -> Answer:
        return self.call("POST", path, token, body)

    def get(self, path: str, token: str | None = VIEWER) -> Answer:
        return self.call("GET", path, token)

    def state(self) -> RouterState:
        return self.harness.router.snapshot()


def api_fixture(
    start: Start, setup: Callable[[AdminApi, Harness], None] | None = None, **engine: object
) -> Iterator[Api]:
    """An engine on the simulator (``start`` fixture) with its HTTP API on a free port;
    agent 1001 is a telephonist. ``setup(server, harness)`` runs before the server starts
    (to register Blueprints: Flask takes none after the first request)."""
    harness = start(**engine)
    server = AdminApi(harness.runner, TOKENS, timeout=5.0, telephonists=TELEPHONISTS)
    if setup is not None:
        setup(server, harness)
    port = server.start("127.0.0.1", 0)
    try:
        yield Api(harness, f"http://127.0.0.1:{port}")
    finally:
        server.stop()
