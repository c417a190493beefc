"""Agents on their phones, end to end through the simulator and the shipped dialplan:
feature codes with agent id + PIN keyed as DTMF while ``play_and_get_digits`` runs
(R-PHONELOGIN, R-FREESEAT, R-MULTI, R-PAUSE)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from acd.engine.events import AgentCommand
from acd.engine.policy import hash_pin
from freeswitch.sim import AgentPhone
from tests.engine_harness import Harness, default_settings, engine_fixture

PHONE = "2001"  # the desk phone the agent sits at today (not the agent's default contact)


@pytest.fixture
def acd(redis_client: redis.Redis, tenant: str) -> Iterator[Harness]:
    for harness in engine_fixture(redis_client, tenant):
        yield harness
        # an engine error is a bug whatever the test looked at
        assert harness.runner.counters["engine_errors"] == 0


def _prompts(acd: Harness, uuid: str) -> list[str]:
    """The prompt of each play_and_get_digits and each playback sent to ``uuid``, in order."""
    out: list[str] = []
    for line in acd.requests_to(uuid):
        if "play_and_get_digits" in line:
            args = line.split("execute-app-arg: ", 1)[1].split()
            out.append(f"ask:{args[5]}")
        elif "execute-app-name: playback" in line:
            out.append(f"play:{line.split('execute-app-arg: ', 1)[1].split()[0]}")
    return out


def _hung_up_by_engine(acd: Harness, uuid: str) -> bool:
    return any("call-command: hangup" in line for line in acd.requests_to(uuid))


def test_phone_login_free_seating_caller_goes_to_that_phone_r_phonelogin_r_freeseat(
    acd: Harness,
) -> None:
    """*21 from phone 2001, id 1001 + PIN 1111 keyed without '#': confirmation prompt and
    hang-up; the next caller rings user/2001 (the phone used), not the agent's default."""
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.5))
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    uuid = acd.feature_code(PHONE, "*21", ["1001", "1111"])
    login = acd.wait_fact("agent_login", agent="1001")
    assert login.data["phone"] == f"user/{PHONE}"
    assert _prompts(acd, uuid) == [
        "ask:phrase:acd_enter_agent_id",
        "ask:phrase:acd_enter_pin",
        "play:phrase:acd_login_ok",
    ]
    assert _hung_up_by_engine(acd, uuid)
    # no terminator: the digits end on length or the inter-digit timeout
    asks = [line for line in acd.requests_to(uuid) if "play_and_get_digits" in line]
    assert all(line.split("execute-app-arg: ", 1)[1].split()[4] == "none" for line in asks)
    view = acd.router.snapshot().agents["1001"]
    assert view.queues == ("sales", "support") and view.presence == "ready"

    caller = acd.sim.place_call("0701234567", "7000")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    originate = acd.commands("bgapi originate")[-1]
    assert f"user/{PHONE}" in originate and "user/1001" not in originate.split("}")[-1]


def test_login_with_queue_code_joins_one_queue_only_r_multi(acd: Harness) -> None:
    """*212 (code 2 = sales) logs in to sales only; a support caller is not offered to
    the agent while a sales caller is."""
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.5))
    acd.feature_code(PHONE, "*212", ["1001", "1111"])
    login = acd.wait_fact("agent_login", agent="1001")
    assert login.data["queues"] == ["sales"]
    assert acd.router.snapshot().agents["1001"].queues == ("sales",)
    support = acd.sim.place_call("0701111111", "7000")
    acd.wait_fact("queued", contact=support)
    sales = acd.sim.place_call("0702222222", "7001")
    assert acd.wait_fact("bridged", contact=sales).data["agent"] == "1001"
    assert all(f.data["contact"] != support for f in acd.kinds("offered"))
    # then *211 adds support on its own (R-MULTI: each queue in and out separately)
    acd.sim.add_agent_phone(AgentPhone("user/2002", answer_after=0.5))
    acd.feature_code("2002", "*211", ["1002", "2222"])
    assert acd.wait_fact("bridged", contact=support).data["agent"] == "1002"


def test_logout_by_phone_stops_calls_r_phonelogin(acd: Harness) -> None:
    """*22 logs the agent out of every queue: a caller then waits, nobody is offered."""
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.5))
    acd.feature_code(PHONE, "*21", ["1001", "1111"])
    acd.wait_fact("agent_login", agent="1001")
    uuid = acd.feature_code(PHONE, "*22", ["1001", "1111"])
    acd.wait_fact("agent_logout", agent="1001")
    assert "play:phrase:acd_logout_ok" in _prompts(acd, uuid)
    assert acd.router.snapshot().agents["1001"].presence == "logged_out"
    assert acd.agent_state("1001") == "logged_out"
    caller = acd.sim.place_call("0701234567", "7000")
    acd.wait_fact("queued", contact=caller)
    # a second agent logging in proves the caller was still waiting, unoffered
    acd.sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.5))
    acd.login("1002")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1002"
    assert all(f.data["agent"] != "1001" for f in acd.kinds("offered"))


def test_pause_with_reason_code_and_unpause_by_phone_r_pause(acd: Harness) -> None:
    """*231 pauses with reason 1 = lunch: no calls while paused; *24 unpauses and the
    waiting caller is offered at once."""
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.5))
    acd.feature_code(PHONE, "*21", ["1001", "1111"])
    acd.wait_fact("agent_login", agent="1001")
    uuid = acd.feature_code(PHONE, "*231", ["1001", "1111"])
    assert acd.wait_fact("agent_pause", agent="1001").data["reason"] == "lunch"
    assert "play:phrase:acd_pause_ok" in _prompts(acd, uuid)
    view = acd.router.snapshot().agents["1001"]
    assert (view.presence, view.pause_reason) == ("paused", "lunch")
    caller = acd.sim.place_call("0701234567", "7000")
    acd.wait_fact("announced", contact=caller)  # queued and told its place: not offered
    assert not [f for f in acd.kinds("offered") if f.data["contact"] == caller]
    acd.feature_code(PHONE, "*24", ["1001", "1111"])
    acd.wait_fact("agent_unpause", agent="1001")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"


def test_wrong_pin_three_times_fails_and_changes_nothing_r_phonelogin(acd: Harness) -> None:
    """Three wrong PINs: login_failed prompt, hang-up, the agent stays logged out."""
    uuid = acd.feature_code(PHONE, "*21", ["1001", "9999", "1001", "0000", "1001", "1234"])
    assert len(acd.kinds("login_failed")) == 3
    prompts = _prompts(acd, uuid)
    assert prompts == [
        "ask:phrase:acd_enter_agent_id",
        "ask:phrase:acd_enter_pin",
    ] * 3 + ["play:phrase:acd_login_failed"]
    assert _hung_up_by_engine(acd, uuid)
    assert not acd.kinds("agent_login")
    assert acd.agent_state("1001") == "logged_out"
    assert acd.router.snapshot().agents["1001"].presence == "logged_out"


def test_unknown_agent_id_is_not_revealed_pin_still_asked_r_phonelogin(acd: Harness) -> None:
    """An unknown id gets exactly the prompts a wrong PIN gets: the PIN is asked anyway."""
    unknown = acd.feature_code(PHONE, "*21", ["4711", "1111"] * 3)
    wrong_pin = acd.feature_code("2002", "*21", ["1001", "2222"] * 3)
    assert _prompts(acd, unknown) == _prompts(acd, wrong_pin)
    assert _prompts(acd, unknown)[1] == "ask:phrase:acd_enter_pin"
    assert _prompts(acd, unknown)[-1] == "play:phrase:acd_login_failed"
    assert len(acd.kinds("login_failed")) == 6
    assert not acd.kinds("agent_login")
    assert all(v.presence == "logged_out" for v in acd.router.snapshot().agents.values())


def test_nothing_keyed_fails_after_three_tries_r_phonelogin(acd: Harness) -> None:
    """No digits at all (every read times out): three tries, then login_failed."""
    uuid = acd.feature_code(PHONE, "*21", [])
    assert len(acd.kinds("login_failed")) == 3
    assert _prompts(acd, uuid)[-1] == "play:phrase:acd_login_failed"
    assert not acd.kinds("agent_login")


def test_id_keyed_then_no_pin_is_not_taken_for_the_pin_r_phonelogin(
    redis_client: redis.Redis, tenant: str
) -> None:
    """An agent whose PIN equals their id: keying the id and then nothing must not log
    them in (the id's digits are not read again as the PIN)."""
    settings = default_settings()
    agents = dict(settings.agents)
    agents["1001"] = replace(agents["1001"], pin_sha256=hash_pin("1001"))
    fixture = engine_fixture(redis_client, tenant, settings=replace(settings, agents=agents))
    acd = next(fixture)
    try:
        acd.feature_code(PHONE, "*21", ["1001", "", "1001", "", "1001", ""])
        assert len(acd.kinds("login_failed")) == 3
        assert not acd.kinds("agent_login")
        acd.feature_code(PHONE, "*21", ["1001", "1001"])
        acd.wait_fact("agent_login", agent="1001")
    finally:
        for _ in fixture:
            pass


def test_login_again_from_another_desk_moves_the_seat_r_freeseat(acd: Harness) -> None:
    """Logged in at 2001, the agent logs in at 2002: calls now ring 2002."""
    acd.sim.add_agent_phone(AgentPhone(f"user/{PHONE}", answer_after=0.3))
    acd.sim.add_agent_phone(AgentPhone("user/2002", answer_after=0.3))
    acd.feature_code(PHONE, "*21", ["1001", "1111"])
    acd.wait_fact("agent_login", agent="1001")
    uuid = acd.feature_code("2002", "*21", ["1001", "1111"])
    assert acd.wait_fact("agent_login", count=2, agent="1001").data["phone"] == "user/2002"
    assert _prompts(acd, uuid)[-1] == "play:phrase:acd_login_ok"
    caller = acd.sim.place_call("0701234567", "7000")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    assert "}user/2002 " in acd.commands("bgapi originate")[-1]


def test_unknown_queue_code_is_refused_with_the_failure_prompt_r_multi(acd: Harness) -> None:
    uuid = acd.feature_code(PHONE, "*219", ["1001", "1111"])
    assert _prompts(acd, uuid)[-1] == "play:phrase:acd_login_failed"
    assert not acd.kinds("agent_login")
    assert acd.router.snapshot().agents["1001"].presence == "logged_out"


@pytest.mark.parametrize("code", ["*22", "*231", "*24"])
def test_action_that_does_not_fit_the_agent_state_gets_a_prompt_and_hangup_r_pause(
    acd: Harness, code: str
) -> None:
    """Log out, pause or unpause while logged out: the phone is told at once (no silence
    until a guard timer) and the agent stays logged out."""
    uuid = acd.feature_code(PHONE, code, ["1001", "1111"], timeout=3.0)
    assert _prompts(acd, uuid)[-1].startswith("play:phrase:acd_")
    assert _hung_up_by_engine(acd, uuid)
    assert acd.runner.counters["engine_errors"] == 0
    assert acd.router.snapshot().agents["1001"].presence == "logged_out"
    assert acd.agent_state("1001") == "logged_out"


def test_administrator_logs_agent_out_of_one_queue_r_multi(acd: Harness) -> None:
    """The admin's logout of one queue leaves the agent's other queue logged in."""
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.login("1001")
    acd.runner.post("1001", AgentCommand("1001", "logout", time.time(), ("support",)))
    acd.wait_fact("agent_logout", agent="1001")
    assert acd.router.snapshot().agents["1001"].queues == ("sales",)
    assert acd.agent_state("1001") == "available"
    sales = acd.sim.place_call("0702222222", "7001")
    assert acd.wait_fact("bridged", contact=sales).data["agent"] == "1001"


def test_phone_hung_up_during_pin_entry_changes_nothing_r_phonelogin(acd: Harness) -> None:
    """The agent puts the phone down after the id: no login, no prompt left running."""
    unhook = acd.key_in(PHONE, ["1001"])
    try:
        uuid = acd.sim.place_call(PHONE, "*21")
        assert acd.wait(lambda: any("acd_enter_pin" in r for r in acd.requests_to(uuid)))
        acd.sim.hangup(uuid)
    finally:
        unhook()
    assert acd.wait(lambda: acd.store.get_call(uuid) is None)
    assert not acd.kinds("agent_login") and not acd.kinds("login_failed")
    assert acd.router.snapshot().agents["1001"].presence == "logged_out"
    assert acd.engine.store.calls() == []
