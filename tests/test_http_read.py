"""The read side of the HTTP API over real HTTP against a running engine and the simulator:
queues with their load and waiting callers (R-PICK: a telephonist sees the load of each
queue), who is logged in to a queue and which queues an agent is logged in to
(R-PHONELOGIN), and the OpenAPI document, kept honest: valid, covering every route, and
matching every answer the tests see (tests/http_api.py validates each one)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_core.validation.response.exceptions import ResponseValidationError
from openapi_spec_validator import validate

from acd.adapters.http import AdminApi, openapi_document
from acd.app import build
from acd.config import load_config
from freeswitch.sim import AgentPhone
from routing.supervision import as_view
from tests.engine_harness import Harness, Start, default_settings
from tests.http_api import AGENT_1001, AGENT_1002, SUPERVISOR, VIEWER, Api, api_fixture

PHONE = "2004"  # agent 1004 logs in from this phone (PIN 4444)


@pytest.fixture
def api(start: Start) -> Iterator[Api]:
    yield from api_fixture(start)


@pytest.fixture
def slow_ring_api(start: Start) -> Iterator[Api]:
    """Agent legs ring for 3,000 simulated seconds (30 s here): an offer stays put."""
    yield from api_fixture(start, settings=default_settings(ring_timeout=3000))


@pytest.fixture
def passive_api(start: Start) -> Iterator[Api]:
    def passive(server: AdminApi, _harness: Harness) -> None:
        server.passive = frozenset({"1003"})  # as acd.app passes config's passive agents

    yield from api_fixture(start, passive)


def _queues(api: Api, token: str = VIEWER) -> dict[str, dict[str, Any]]:
    answer = api.get("/api/queues", token)
    assert answer.status == 200, answer.body
    return {q["name"]: q for q in answer.body["queues"]}


def test_queue_load_and_waiting_callers_r_pick(api: Api) -> None:
    """R-PICK (seeing the load): 1001 talks in support, 1002 is paused in support, 1003 is
    free in sales; two callers wait in support and are listed in arrival order (the line),
    with the number and case type the engine stored."""
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    assert api.post("/api/agents/1001/login", body={"queues": ["support"]}).status == 200
    assert api.post("/api/agents/1002/login", body={"queues": ["support"]}).status == 200
    assert api.post("/api/agents/1002/pause", body={"reason": "lunch"}).status == 200
    assert api.post("/api/agents/1003/login", body={"queues": ["sales"]}).status == 200
    talking = acd.sim.place_call("0701111111", "7000")
    acd.wait_fact("bridged", contact=talking)
    first = acd.sim.place_call("0702222222", "7000")
    acd.wait_fact("queued", contact=first)
    second = acd.sim.place_call("0703333333", "7000")
    acd.wait_fact("queued", contact=second)

    queues = _queues(api)
    assert sorted(queues) == ["sales", "support"]
    support = queues["support"]
    # The words of /metrics and the wallboard: waiting = not yet answered (none rings yet).
    assert (support["waiting"], support["ringing"]) == (2, 0)
    assert support["agents"] == {
        "logged_in": 2,
        "free": 0,
        "passive": 0,
        "busy": 1,
        "wrap_up": 0,
        "paused": 1,
    }
    assert support["longest_wait"] > 0
    assert queues["sales"] == {
        "name": "sales",
        "waiting": 0,
        "ringing": 0,
        "longest_wait": 0.0,
        "agents": {"logged_in": 1, "free": 1, "passive": 0, "busy": 0, "wrap_up": 0, "paused": 0},
    }

    listed = api.get("/api/queues/support/contacts", AGENT_1001).body  # a telephonist
    assert (listed["queue"], listed["caller_numbers"]) == ("support", "shown")
    rows = listed["contacts"]
    assert [(r["contact"], r["position"], r["caller_number"]) for r in rows] == [
        (first, 1, "0702222222"),
        (second, 2, "0703333333"),
    ]
    for row in rows:  # the case type as the engine stored it (the shipped 7000 sets none)
        record = acd.store.get_call(row["contact"])
        assert record is not None and row["case_type"] == record.case_type
        assert row["queue"] == "support"
    assert all(r["channel"] == "voice" and r["target"] is None for r in rows)
    assert rows[0]["waiting_seconds"] >= rows[1]["waiting_seconds"] >= 0
    assert rows[0]["waiting_seconds"] <= support["longest_wait"] + 1.0
    assert api.get("/api/queues/sales/contacts").body == {
        "queue": "sales",
        "caller_numbers": "hidden",
        "contacts": [],
    }


def test_idle_passive_agent_counts_as_passive_not_free_r_passive(passive_api: Api) -> None:
    """R-PASSIVE, R-WALLBOARD: as /metrics and the wallboard count them, an idle passive
    agent is ``passive`` in ``GET /api/queues``, an idle non-passive one ``free``."""
    assert passive_api.post("/api/agents/1003/login", body={"queues": ["sales"]}).status == 200
    assert passive_api.post("/api/agents/1002/login", body={"queues": ["support"]}).status == 200
    queues = _queues(passive_api)
    idle = {"busy": 0, "wrap_up": 0, "paused": 0}
    assert queues["sales"]["agents"] == {"logged_in": 1, "free": 0, "passive": 1, **idle}
    assert queues["support"]["agents"] == {"logged_in": 1, "free": 1, "passive": 0, **idle}


def test_waiting_counts_a_ringing_caller_as_metrics_do_r_wallboard(slow_ring_api: Api) -> None:
    """R-WALLBOARD: one word, one meaning. A caller whose agent's phone rings is not yet
    answered: ``waiting`` counts it (as ``acd_queue_waiting_contacts`` does) and
    ``ringing`` says it rings; the contacts list (pickable callers) leaves it out."""
    acd = slow_ring_api.harness
    assert slow_ring_api.post("/api/agents/1003/login", body={"queues": ["support"]}).status == 200
    ringing = acd.sim.place_call("0701111111", "7000")
    acd.wait_fact("offered", contact=ringing, agent="1003")
    other = acd.sim.place_call("0702222222", "7000")
    acd.wait_fact("queued", contact=other)
    support = _queues(slow_ring_api)["support"]
    assert (support["waiting"], support["ringing"]) == (2, 1)
    assert support["longest_wait"] > 0
    rows = slow_ring_api.get("/api/queues/support/contacts").body["contacts"]
    assert [r["contact"] for r in rows] == [other]
    # The very count acd_queue_waiting_contacts reports at scrape time.
    assert as_view(slow_ring_api.state()).queues["support"].waiting == 2


@pytest.mark.parametrize(
    ("token", "shown"),
    [(VIEWER, False), (AGENT_1002, False), (AGENT_1001, True), (SUPERVISOR, True)],
)
def test_caller_numbers_only_to_telephonists_and_supervisors_r_pick(
    api: Api, token: str, shown: bool
) -> None:
    """Privacy: a viewer token (it sits in a wall TV's URL) and an agent that is no
    telephonist see the waiting callers without their numbers; a telephonist (who picks
    calls, R-PICK) and a supervisor see them."""
    caller = api.harness.sim.place_call("0701234567", "7000")
    api.harness.wait_fact("queued", contact=caller)
    listed = api.get("/api/queues/support/contacts", token).body
    assert listed["caller_numbers"] == ("shown" if shown else "hidden")
    assert [(r["contact"], r["caller_number"]) for r in listed["contacts"]] == [
        (caller, "0701234567" if shown else None)
    ]


def test_higher_priority_caller_is_listed_first(api: Api) -> None:
    """The list is the order routing serves: a caller transferred with priority (R-PRIO)
    comes before callers who were waiting before it."""
    acd = api.harness
    earlier = acd.sim.place_call("0702222222", "7001")
    acd.wait_fact("queued", contact=earlier)
    moved = acd.sim.place_call("0703333333", "7000")
    acd.wait_fact("queued", contact=moved)
    assert api.post(f"/api/calls/{moved}/transfer", body={"queue": "sales"}).status == 200
    acd.wait_fact("transferred", contact=moved)
    rows = api.get("/api/queues/sales/contacts").body["contacts"]
    assert [(r["contact"], r["position"]) for r in rows] == [(moved, 1), (earlier, 2)]
    assert rows[0]["priority"] > rows[1]["priority"]
    assert _queues(api)["sales"]["waiting"] == 2


def test_who_is_logged_in_where_after_a_phone_login_r_phonelogin(api: Api) -> None:
    """R-PHONELOGIN: agent 1004 logs in from a phone (*21, id and PIN): anyone with a
    token sees which queues 1004 is logged in to and that it is in each queue's list;
    *222 (log out of sales) shows at once."""
    acd = api.harness
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.5))
    before = api.get("/api/agents/1004")
    assert before.status == 200
    assert (before.body["presence"], before.body["queues"]) == ("logged_out", [])
    assert before.body["own_queues"] == ["support", "sales"]

    acd.feature_code(PHONE, "*21", ["1004", "4444"])
    acd.wait_fact("agent_login", agent="1004")
    agent = api.get("/api/agents/1004", AGENT_1002).body  # another agent may look too
    assert (agent["presence"], agent["queues"]) == ("ready", ["sales", "support"])
    assert agent["phone_state"] == "available" and agent["telephonist"] is False
    for queue in ("sales", "support"):
        members = api.get(f"/api/queues/{queue}/agents").body["agents"]
        assert [m["id"] for m in members] == ["1004"]

    acd.feature_code(PHONE, "*222", ["1004", "4444"])
    acd.wait_fact("agent_logout", agent="1004")
    assert api.get("/api/agents/1004").body["queues"] == ["support"]
    assert api.get("/api/queues/sales/agents").body["agents"] == []
    assert [a["id"] for a in api.get("/api/queues/support/agents").body["agents"]] == ["1004"]
    listed = {a["id"]: a for a in api.get("/api/agents").body["agents"]}
    assert listed["1004"]["queues"] == ["support"]
    assert listed["1001"]["telephonist"] is True


@pytest.mark.parametrize(
    ("path", "token", "status", "slug"),
    [
        ("/api/queues", None, 401, "unauthorized"),
        ("/api/queues/support/contacts", None, 401, "unauthorized"),
        ("/api/agents/1001", "not-a-token-of-this-engine", 401, "unauthorized"),
        ("/api/queues/nosuch/contacts", VIEWER, 404, "unknown-queue"),
        ("/api/agents/9999", AGENT_1001, 404, "unknown-agent"),
        ("/api/agents/a%20b", VIEWER, 404, "unknown-agent"),
    ],
)
def test_read_refusals(api: Api, path: str, token: str | None, status: int, slug: str) -> None:
    answer = api.get(path, token)
    assert (answer.status, answer.body["error"]) == (status, slug)
    assert answer.body["message"]


# ------------------------------------------------------------------ the OpenAPI document


def test_openapi_document_is_valid_and_served_without_token(api: Api) -> None:
    """The document in the repository is valid OpenAPI 3.1 and is what the engine serves."""
    document = openapi_document()
    validate(document)
    assert document["openapi"].startswith("3.1")
    served = api.get("/api/openapi.json", token=None)
    assert served.status == 200
    assert served.body == json.loads(json.dumps(document))


#: Served by the engine's HTTP server but not part of the JSON API, so left out of the
#: document (its description says so): Prometheus' text exposition, the wallboard page
#: and its files (HTML, CSS, JavaScript).
NOT_DOCUMENTED = frozenset({"/metrics", "/wallboard", "/wallboard/static/{name}"})
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acd.yaml"


def _served_routes() -> dict[tuple[str, str], list[str]]:
    """``(method, path) -> [path parameter names in order]`` of every rule of the Flask
    app exactly as ``acd.app.build`` assembles it (the API and every Blueprint registered
    on it), in OpenAPI's path syntax. Built, not started: nothing connects."""
    app = build(load_config(EXAMPLE))
    try:
        routes: dict[tuple[str, str], list[str]] = {}
        for rule in app.http.app.url_map.iter_rules():
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    routes[(method.lower(), path)] = list(rule.arguments)
        return routes
    finally:
        app.redis.close()


def _documented() -> dict[tuple[str, str], list[str]]:
    """``(method, path) -> [path parameters the operation declares]`` of the document."""
    document = openapi_document()
    components = document["components"]["parameters"]
    found: dict[tuple[str, str], list[str]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            declared = []
            for given in operation.get("parameters", []):
                parameter = (
                    components[given["$ref"].rsplit("/", 1)[1]] if "$ref" in given else given
                )
                if parameter["in"] == "path":
                    declared.append(parameter["name"])
            found[(method, path)] = declared
    return found


def test_every_served_route_is_documented_and_every_documented_one_served() -> None:
    """Both ways, method by method, over the app ``acd run`` serves: the API's own routes
    and those of every Blueprint (reload, emergency and calendar exceptions, wallboard
    figures); only :data:`NOT_DOCUMENTED` is left out."""
    served = _served_routes()
    assert {path for _, path in served} >= NOT_DOCUMENTED  # the exclusions are real routes
    api = {key for key in served if key[1] not in NOT_DOCUMENTED}
    assert {"/api/admin/reload", "/api/admin/emergency", "/wallboard/data"} <= {p for _, p in api}
    assert len(api) >= 19
    assert api == set(_documented())


def test_documented_path_parameters_match_the_routes() -> None:
    """Each operation declares exactly the path parameters its route has, by name."""
    served = _served_routes()
    for key, declared in _documented().items():
        assert sorted(declared) == sorted(served[key]), key
        assert sorted(declared) == sorted(re.findall(r"{([a-z_]+)}", key[1])), key


def test_answers_were_checked_against_the_document(api: Api) -> None:
    """The client validates every answer (tests/http_api.py); a made-up answer that breaks
    the document is caught, so the check cannot pass vacuously."""
    api.get("/api/queues")
    assert api.checked[-1] == ("GET", "/api/queues", 200)
    wrong = json.dumps({"queues": [{"name": "support", "waiting": -1}]}).encode()
    with pytest.raises(ResponseValidationError):
        api.validate("GET", "/api/queues", None, 200, wrong)
    error_as_success = json.dumps({"error": "x", "message": "y"}).encode()
    with pytest.raises(ResponseValidationError):
        api.validate("GET", "/api/queues", None, 200, error_as_success)
