"""The engine end to end against the simulator over TCP, with a real Redis (R-* cited)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from freeswitch.sim import AgentPhone
from routing.api import Contact, Reservation
from routing.errors import RoutingError
from tests.engine_harness import Harness, Start, default_settings, engine_fixture


@pytest.fixture
def acd(redis_client: redis.Redis, tenant: str) -> Iterator[Harness]:
    yield from engine_fixture(redis_client, tenant)


def test_caller_queues_hears_position_and_is_bridged_to_agent_r_pos_r_whisper(acd: Harness) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.0))
    caller = acd.sim.place_call("0701234567", "7000")
    queued = acd.wait_fact("queued", contact=caller)
    assert queued.data["queue"] == "support"
    acd.wait_fact("announced", contact=caller)  # PLAYBACK_START of the position phrase
    assert any("phrase::acd_position,1" in c for c in acd.commands("api uuid_broadcast"))
    acd.login("1001")
    offered = acd.wait_fact("offered", contact=caller)
    assert offered.data["agent"] == "1001"
    bridged = acd.wait_fact("bridged", contact=caller)
    assert bridged.data["agent"] == "1001"
    originate = acd.commands("bgapi originate")[0]
    assert f"acd_contact={caller}" in originate and "user/1001" in originate
    assert any(c.startswith(f"api uuid_bridge {caller} ") for c in acd.commands("api uuid_bridge"))
    # whisper to both legs before the bridge (R-WHISPER)
    whispers = [c for c in acd.commands("api uuid_broadcast") if "acd_whisper" in c]
    assert len(whispers) == 2
    acd.sim.hangup(caller)
    done = acd.wait_fact("completed", contact=caller)
    assert done.data["agent"] == "1001"
    assert acd.store.get_call(caller) is None


def test_agent_no_answer_next_agent_gets_the_caller_r_noanswer(acd: Harness) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", behaviour="no_answer"))
    acd.sim.add_agent_phone(AgentPhone("user/1002", answer_after=1.0))
    acd.login("1001")
    caller = acd.sim.place_call("0701234567", "7000")
    first = acd.wait_fact("offered", contact=caller)
    acd.login("1002")
    if first.data["agent"] == "1001":
        acd.wait_fact("agent_no_answer", contact=caller, agent="1001")
    bridged = acd.wait_fact("bridged", contact=caller)
    assert bridged.data["agent"] == "1002"


def test_caller_hangs_up_while_agent_rings_cancels_leg_and_frees_agent(acd: Harness) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=30.0))
    acd.login("1001")
    caller = acd.sim.place_call("0701234567", "7000")
    offered = acd.wait_fact("offered", contact=caller)
    leg = str(offered.data["leg"])
    acd.sim.hangup(caller)
    abandoned = acd.wait_fact("abandoned", contact=caller)
    assert float(str(abandoned.data["wait"])) >= 0.0
    assert acd.wait(
        lambda: any(
            c.startswith(f"api uuid_kill {leg} ORIGINATOR_CANCEL")
            for c in acd.commands("api uuid_kill")
        )
    )
    # the agent is free again: the next caller goes to the same agent
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.0))
    second = acd.sim.place_call("0701234568", "7000")
    assert acd.wait_fact("bridged", contact=second).data["agent"] == "1001"


def test_unanswered_entry_hears_ringback_never_silence_r_nosilence(acd: Harness) -> None:
    caller = acd.sim.place_call("0701234567", "7001")
    acd.wait_fact("queued", contact=caller)
    assert acd.wait(
        lambda: any(
            c.startswith(f"api uuid_broadcast {caller} tone_stream://")
            for c in acd.commands("api uuid_broadcast")
        )
    )
    acd.sim.add_agent_phone(AgentPhone("user/1002", answer_after=1.0))
    acd.login("1002", ("sales",))
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1002"
    assert any(c == f"api uuid_answer {caller}" for c in acd.commands("api uuid_answer"))


def test_agent_keys_star8_and_queue_code_for_a_priority_transfer_r_prio(acd: Harness) -> None:
    """R-PRIO, in-call: agent 1001 keys ``*8`` and the sales code (2) during the call; the
    caller is parked again, waits in sales at the transfer priority and reaches 1002."""
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    acd.sim.add_agent_phone(AgentPhone("user/1002", answer_after=0.2))
    acd.login("1001", ("support",))
    caller = acd.sim.place_call("0701234567", "7000")
    leg = str(acd.wait_fact("offered", contact=caller).data["leg"])
    acd.wait_fact("bridged", contact=caller)
    acd.sim.press_dtmf(caller, "*82")  # the caller's own digits are no feature
    acd.sim.press_dtmf(leg, "1*8")  # a stray digit, then the feature starts over
    acd.sim.press_dtmf(leg, "2")
    acd.wait_fact("transferred", contact=caller)
    assert acd.wait_fact("completed", contact=caller).data["agent"] == "1001"
    assert acd.wait(lambda: caller in acd.sim.channels and acd.sim.channels[caller].parked)
    assert acd.router.snapshot().contacts[caller].queue == "sales"
    acd.login("1002", ("sales",))
    assert acd.wait_fact("bridged", 2, contact=caller).data["agent"] == "1002"
    assert len(acd.kinds("transferred")) == 1


def test_arrival_refused_by_a_failing_routing_store_is_adopted_later(start: Start) -> None:
    """No caller lost (DESIGN contract 2): routing fails on the caller's arrival (Redis
    down): the caller hears hold music meanwhile, and a reconciliation a moment later
    adopts it and serves it."""
    acd = start(settings=replace(default_settings(), reconcile_retry_after=0.2))
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    acd.login("1001")
    arrive = acd.router.arrive
    failures: list[str] = []

    def failing(contact: Contact, now: float) -> list[Reservation]:
        if not failures:
            failures.append(contact.id)
            raise RoutingError("routing store unavailable (test)")
        return arrive(contact, now)

    acd.router.arrive = failing  # type: ignore[method-assign]
    caller = acd.sim.place_call("0701234567", "7000")
    refused = acd.wait_fact("caller_refused", contact=caller)
    assert refused.data["reason"] == "routing-error"
    moh = f"api uuid_broadcast {caller} local_stream://moh"
    assert acd.wait(lambda: any(c.startswith(moh) for c in acd.commands("api uuid_broadcast")))
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    assert failures == [caller]
