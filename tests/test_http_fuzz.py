"""Schemathesis against the live HTTP API (engine, simulator, Redis): requests generated
from the OpenAPI document, valid and deliberately invalid (wrong types, bad names, bodies
that break the schema). Every answer must be documented (status, JSON error shape); no
request may cause a server error; and a refused request changes nothing in routing.

The server carries the Blueprints ``acd.app.build`` registers that answer JSON: the
emergency message and calendar exceptions (with an admin token, so they act) and the
wallboard's figures. ``POST /api/admin/reload`` is left out: it takes no input but the
token, needs an engine started from a file, and tests/test_reload.py checks its answers
against the document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from acd.adapters.hours import CataloguePrompts, HoursStore, HoursWatcher, hours_blueprint
from acd.adapters.http import AdminApi, openapi_document
from acd.adapters.wallboard import wallboard_blueprint
from acd.config import parse_config
from acd.engine.calendar import Calendars, CalendarSpec, weekly_from
from acd.engine.hours import HoursSettings
from freeswitch.sim import AgentPhone
from tests.engine_harness import Harness, Start, default_settings
from tests.http_api import ADMIN, SUPERVISOR, Api, api_fixture

schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path="/api/admin/reload")
schema.config.generation.update(
    modes=[GenerationMode.NEGATIVE, GenerationMode.POSITIVE], max_examples=15
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


BOARD = """\
tenant: {tenant}
http: {{tokens: [{{token: {token}, role: supervisor, name: lead}}]}}
queues: {{support: {{code: 1}}, sales: {{code: 2, language: en}}}}
"""


@pytest.fixture
def live(start: Start, redis_client: redis.Redis, tenant: str, tmp_path: Path) -> Iterator[Api]:
    """1001 ready in sales and two callers waiting in support, so picks, transfers and
    agent actions have something real to act on; a calendar ``office`` (attached to no
    queue: callers are not turned away) for the exceptions, shipped prompts for the
    emergency message, and the wallboard."""
    office = CalendarSpec("office", "Europe/Stockholm", weekly_from({}), holidays=None)
    hours = HoursSettings(Calendars({"office": office}), {}, CataloguePrompts(str(tmp_path)))
    board = parse_config(BOARD.format(tenant=tenant, token=SUPERVISOR))

    def blueprints(server: AdminApi, harness: Harness) -> None:
        watcher = HoursWatcher(HoursStore(redis_client, tenant), harness.runner)
        server.app.register_blueprint(hours_blueprint(server, watcher))
        snapshot = harness.router.snapshot
        server.app.register_blueprint(wallboard_blueprint(board, redis_client, snapshot))

    settings = replace(default_settings(), hours=hours)
    for api in api_fixture(start, blueprints, settings=settings):
        acd = api.harness
        acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
        assert api.post("/api/agents/1001/login", body={"queues": ["sales"]}).status == 200
        for number in ("0701111111", "0702222222"):
            acd.wait_fact("queued", contact=acd.sim.place_call(number, "7000"))
        yield api


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_documented_answers(case: schemathesis.Case[Any], live: Api) -> None:
    """Generated requests, valid and invalid, as a supervisor, or an admin for the admin
    endpoints (schemathesis also drops or spoils the token): documented status and JSON,
    never a 5xx; a refusal changes nothing."""
    before = live.state()
    token = ADMIN if case.path.startswith("/api/admin/") else SUPERVISOR
    if case.path.startswith("/api/admin/calendars/") and case.path_parameters:
        # The bodies and ids against a real calendar (an unknown one: tests/test_engine_hours.py).
        case.path_parameters["name"] = "office"
    # On a native thread: the engine and the HTTP server run in this thread's gevent hub.
    response = gevent.get_hub().threadpool.apply(
        case.call, kwds={"base_url": live.base, "headers": {"Authorization": f"Bearer {token}"}}
    )
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}, body
        assert response.status_code < 500, body
        assert live.state() == before, (case.method, case.formatted_path, body)
