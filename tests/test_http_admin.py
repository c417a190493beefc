"""The HTTP admin API over real HTTP against a running engine and the simulator (R-MULTI:
an administrator logs agents in and out; issue 12 section 5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from freeswitch.sim import AgentPhone
from routing.errors import StoreError
from routing.supervision import SupervisionReader
from tests.engine_harness import Start
from tests.http_api import ADMIN, AGENT_1001, SUPERVISOR, VIEWER, Answer, Api, api_fixture


@pytest.fixture
def api(start: Start) -> Iterator[Api]:
    yield from api_fixture(start)


def _agent(answer: Answer, agent_id: str) -> dict[str, Any]:
    found = [a for a in answer.body["agents"] if a["id"] == agent_id]
    assert len(found) == 1, answer.body
    view: dict[str, Any] = found[0]
    return view


def test_login_by_http_serves_callers_and_lists_queues_r_multi(api: Api) -> None:
    api.harness.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    before = api.get("/api/agents")
    assert before.status == 200
    assert _agent(before, "1001")["presence"] == "logged_out"

    login = api.post("/api/agents/1001/login", token=AGENT_1001, body={"queues": ["support"]})
    assert login.status == 200, login.body
    assert login.body == {
        "agent": "1001",
        "action": "login",
        "queues": ["support"],
        "changed": True,
    }

    listed = _agent(api.get("/api/agents"), "1001")
    assert listed["queues"] == ["support"] and listed["presence"] == "ready"
    assert listed["phone_state"] == "available"
    support = api.get("/api/queues/support/agents")
    assert support.status == 200
    assert [a["id"] for a in support.body["agents"]] == ["1001"]
    assert api.get("/api/queues/sales/agents").body["agents"] == []

    # The login went through the engine: a caller in support is bridged to 1001.
    caller = api.harness.sim.place_call("0701234567", "7000")
    assert api.harness.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    busy = _agent(api.get("/api/agents"), "1001")
    assert busy["contacts"] == [caller]


def test_logout_of_one_queue_then_all_r_multi(api: Api) -> None:
    assert api.post("/api/agents/1002/login").status == 200  # all own queues
    assert _agent(api.get("/api/agents"), "1002")["queues"] == ["sales", "support"]
    one = api.post("/api/agents/1002/logout", token=SUPERVISOR, body={"queues": ["sales"]})
    assert one.status == 200, one.body
    assert _agent(api.get("/api/agents"), "1002")["queues"] == ["support"]
    assert [a["id"] for a in api.get("/api/queues/sales/agents").body["agents"]] == []
    assert api.post("/api/agents/1002/logout", body=b"").status == 200
    gone = _agent(api.get("/api/agents"), "1002")
    assert gone["presence"] == "logged_out" and gone["phone_state"] == "logged_out"


def test_pause_and_unpause_r_pause(api: Api) -> None:
    assert api.post("/api/agents/1003/login").status == 200
    paused = api.post("/api/agents/1003/pause", body={"reason": "lunch"})
    assert paused.status == 200 and paused.body["reason"] == "lunch"
    view = _agent(api.get("/api/agents"), "1003")
    assert (view["presence"], view["pause_reason"]) == ("paused", "lunch")
    # Pausing a paused agent is idempotent (200) and takes the new reason.
    other = api.post("/api/agents/1003/pause", body={"reason": "meeting"})
    assert (other.status, other.body["changed"]) == (200, True), other.body
    assert _agent(api.get("/api/agents"), "1003")["pause_reason"] == "meeting"
    done = api.post("/api/agents/1003/unpause", token=SUPERVISOR)
    assert (done.status, done.body["changed"]) == (200, True)
    assert _agent(api.get("/api/agents"), "1003")["presence"] == "ready"
    # Unpausing an agent that is not paused: the same 200, nothing changed, and it says so.
    before = api.state()
    again = api.post("/api/agents/1003/unpause", token=SUPERVISOR)
    assert (again.status, again.body["changed"]) == (200, False), again.body
    assert api.state() == before
    # A logged-out agent can be neither paused nor unpaused: the state refuses.
    assert api.post("/api/agents/1003/logout").status == 200
    gone = api.post("/api/agents/1003/unpause", token=SUPERVISOR)
    assert (gone.status, gone.body["error"]) == (409, "invalid-transition")


def test_pause_reason_must_be_configured_r_pause(api: Api) -> None:
    """A reason outside ``feature_codes.pause_reasons`` (here lunch, meeting) and the
    default ``break`` is refused with the allowed ones named, and nothing changes."""
    assert api.post("/api/agents/1003/login").status == 200
    before = api.state()
    answer = api.post("/api/agents/1003/pause", body={"reason": "coffee"})
    assert (answer.status, answer.body["error"]) == (400, "unknown-pause-reason")
    assert "break, lunch, meeting" in answer.body["message"]
    assert api.state() == before
    fine = api.post("/api/agents/1003/pause", body={"reason": "break"})
    assert (fine.status, fine.body["reason"]) == (200, "break")


@pytest.mark.parametrize(
    ("method", "path", "token", "status", "slug"),
    [
        ("GET", "/api/agents", None, 401, "unauthorized"),
        ("GET", "/api/agents", "not-a-token-of-this-engine", 401, "unauthorized"),
        ("POST", "/api/agents/1001/login", None, 401, "unauthorized"),
        ("POST", "/api/agents/1001/login", "x" * 30, 401, "unauthorized"),
        ("POST", "/api/agents/1001/login", VIEWER, 403, "forbidden"),
        ("POST", "/api/agents/1002/login", AGENT_1001, 403, "forbidden"),
        ("POST", "/api/agents/1001/unpause", AGENT_1001, 403, "forbidden"),
        ("POST", "/api/agents/1001/pause", VIEWER, 403, "forbidden"),
    ],
)
def test_wrong_or_weak_token_is_refused_and_changes_nothing(
    api: Api, method: str, path: str, token: str | None, status: int, slug: str
) -> None:
    before = api.state()
    answer = api.call(method, path, token)
    assert (answer.status, answer.body["error"]) == (status, slug)
    assert answer.body["message"]
    assert api.state() == before


@pytest.mark.parametrize(
    ("path", "body", "status", "slug"),
    [
        ("/api/agents/1001/login", b"{not json", 400, "invalid-json"),
        ("/api/agents/1001/login", [], 400, "invalid-input"),
        ("/api/agents/1001/login", {"queues": "support"}, 400, "invalid-input"),
        ("/api/agents/1001/login", {"queues": []}, 400, "invalid-input"),
        ("/api/agents/1001/login", {"queues": ["bad name!"]}, 400, "invalid-input"),
        ("/api/agents/1001/login", {"queue": ["support"]}, 400, "invalid-input"),
        ("/api/agents/1001/login", {"queues": ["nosuch"]}, 400, "invalid-input"),
        # Logout like login: a queue outside the agent's own is a bad request.
        ("/api/agents/1001/logout", {"queues": ["nosuch"]}, 400, "invalid-input"),
        ("/api/agents/1001/logout", {"queues": ["support", "nosuch"]}, 400, "invalid-input"),
        ("/api/agents/1001/pause", {"reason": "coffee"}, 400, "unknown-pause-reason"),
        ("/api/agents/1001/pause", {"reason": 5}, 400, "invalid-input"),
        ("/api/agents/1001/pause", {"reason": "x y"}, 400, "invalid-input"),
        ("/api/agents/1001/unpause", {"reason": "lunch"}, 400, "invalid-input"),
        ("/api/agents/9999/login", None, 404, "unknown-agent"),
        ("/api/agents/1001/pause", None, 409, "invalid-transition"),  # logged out
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    api: Api, path: str, body: object, status: int, slug: str
) -> None:
    before = api.state()
    answer = api.post(path, body=body)
    assert (answer.status, answer.body["error"]) == (status, slug), answer.body
    assert answer.body["message"]
    assert api.state() == before
    assert _agent(api.get("/api/agents"), "1001")["phone_state"] == "logged_out"


def test_unknown_queue_and_endpoint_are_404(api: Api) -> None:
    queue = api.get("/api/queues/nosuch/agents")
    assert (queue.status, queue.body["error"]) == (404, "unknown-queue")
    endpoint = api.call("GET", "/api/nothing-here", VIEWER, documented=False)
    assert (endpoint.status, endpoint.body["error"]) == (404, "not-found")
    wrong_method = api.call("GET", "/api/agents/1001/login", ADMIN, documented=False)
    assert (wrong_method.status, wrong_method.body["error"]) == (405, "method-not-allowed")
    assert wrong_method.headers["Allow"] == "OPTIONS, POST"


def test_redis_failure_is_503_and_unexpected_failure_is_json_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(_reader: SupervisionReader, *_args: object) -> object:
        raise StoreError("connection refused")

    # The lists read the supervision view, never the whole routing state.
    monkeypatch.setattr(SupervisionReader, "_call", down)
    failed = api.get("/api/agents")
    assert (failed.status, failed.body["error"]) == (503, "routing-store")
    assert api.get("/api/queues").status == 503

    def broken(_reader: SupervisionReader, *_args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SupervisionReader, "_call", broken)
    bug = api.get("/api/queues/support/agents")
    assert (bug.status, bug.body["error"]) == (500, "internal")
    assert "a bug" not in bug.body["message"]  # details go to the log, not to the client


def test_priority_transfer_of_a_talking_caller_to_another_queue_r_prio(api: Api) -> None:
    """R-PRIO: agent 1001 finds the caller chose the wrong option and transfers it to
    sales: the caller leaves 1001 (parked, not hung up), waits in sales ahead of callers
    who were there before it, and is answered by a sales agent."""
    sim, acd = api.harness.sim, api.harness
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.2))
    assert api.post("/api/agents/1001/login", body={"queues": ["support"]}).status == 200
    caller = sim.place_call("0701234567", "7000")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    earlier = sim.place_call("0701234568", "7001")  # already waiting in sales
    acd.wait_fact("queued", contact=earlier)

    not_own = api.post(f"/api/calls/{caller}/transfer", token=VIEWER, body={"queue": "sales"})
    assert not_own.status == 403
    bad = api.post(f"/api/calls/{caller}/transfer", token=AGENT_1001, body={"queue": "nope"})
    assert bad.status == 404 and bad.body["error"] == "unknown-queue"
    moved = api.post(f"/api/calls/{caller}/transfer", token=AGENT_1001, body={"queue": "sales"})
    assert moved.status == 200, moved.body
    acd.wait_fact("transferred", contact=caller)
    setvar = f"api uuid_setvar {caller} park_after_bridge true"
    assert acd.wait(lambda: setvar in acd.commands("api uuid_setvar"))
    assert acd.wait_fact("completed", contact=caller).data["agent"] == "1001"
    assert acd.wait(lambda: caller in sim.channels and sim.channels[caller].parked)
    view = acd.router.snapshot().contacts[caller]
    assert view.queue == "sales" and view.priority >= 100
    waiting = acd.router.snapshot().waiting["sales"]
    assert waiting.index(caller) < waiting.index(earlier)  # ahead of the earlier caller

    assert api.post("/api/agents/1002/login", body={"queues": ["sales"]}).status == 200
    assert acd.wait_fact("bridged", 2, contact=caller).data["agent"] == "1002"


def test_transfer_of_an_unknown_call_changes_nothing(api: Api) -> None:
    before = api.state()
    answer = api.post("/api/calls/no-such-call/transfer", body={"queue": "sales"})
    assert answer.status == 404 and answer.body["error"] == "unknown-call"
    malformed = api.post("/api/calls/no-such-call/transfer", body={"queue": 3})
    assert malformed.status == 400
    assert api.state() == before
