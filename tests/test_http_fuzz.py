"""Schemathesis against the live HTTP API (engine, simulator, Redis): requests generated
from the OpenAPI document, valid and deliberately invalid (wrong types, bad names, bodies
that break the schema). Every answer must be documented (status, JSON error shape); no
request may cause a server error; and a refused request changes nothing in routing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from acd.adapters.http import openapi_document
from freeswitch.sim import AgentPhone
from tests.engine_harness import Start
from tests.http_api import SUPERVISOR, Api, api_fixture

schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.NEGATIVE, GenerationMode.POSITIVE], max_examples=15
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def live(start: Start) -> Iterator[Api]:
    """1001 ready in sales and two callers waiting in support, so picks, transfers and
    agent actions have something real to act on."""
    for api in api_fixture(start):
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
    """Generated requests, valid and invalid, as a supervisor (schemathesis also drops or
    spoils the token): documented status and JSON, never a 5xx; a refusal changes nothing."""
    before = live.state()
    # On a native thread: the engine and the HTTP server run in this thread's gevent hub.
    response = gevent.get_hub().threadpool.apply(
        case.call,
        kwds={"base_url": live.base, "headers": {"Authorization": f"Bearer {SUPERVISOR}"}},
    )
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}, body
        assert response.status_code < 500, body
        assert live.state() == before, (case.method, case.formatted_path, body)
