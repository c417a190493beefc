"""Hostile input end to end: caller numbers and names that are FreeSWITCH syntax, not
UTF-8 or multi-line, and bad ``acd_*`` variables. The call is still served (with an
anonymous caller id where needed) and nothing hostile reaches any command the engine
sent; an unknown queue is refused cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import structlog.testing

from freeswitch.sim import AgentPhone
from freeswitch.sim.events import SimEvent
from tests.engine_harness import Harness, engine_fixture

HOSTILE = [
    "Evil:_:sofia/gateway/gw1/1900|",
    "x,origination_uuid=evil",
    "${system(rm)}",
    "a'b\"c",
    "line\nbreak",
    "\udcff\udcfe0701",  # bytes that are not UTF-8, as the parser keeps them
    "{absolute_codec_string=PCMA}",
    "07012 34567",
    "^^:x:y",
    "0701\r\n\r\nsendmsg",
    "0701234567\x00evil",
    "9" * 2000,
]
# What must never appear in a command the engine sends, whatever the caller sent.
MARKERS = [
    "gateway",
    "evil",
    "system(",
    "rm)",
    "absolute_codec",
    "\udcff",
    "sendmsg\n",
    "^^:",
    "\x00",
    "9" * 100,
]


@pytest.fixture
def acd(redis_client: redis.Redis, tenant: str) -> Iterator[Harness]:
    for harness in engine_fixture(redis_client, tenant):
        yield harness
        # an engine error is a bug whatever the test looked at
        assert harness.runner.counters["engine_errors"] == 0


def _park_as(acd: Harness, number: str, name: str, **variables: str) -> str:
    """A real channel that parks as a queue caller with this caller id: the simulator
    refuses such ids at ``place_call``, so the call parks without ``acd_*`` variables
    (the engine ignores it) and its CHANNEL_PARK is sent again as FreeSWITCH would have
    sent it for a caller with that id (headers as the real ones, values replaced)."""
    parks: list[SimEvent] = []
    unhook = acd.sim.on_event(lambda e: parks.append(e) if e.name == "CHANNEL_PARK" else None)
    try:
        uuid = acd.sim.place_call("0700000000", "7000", variables={"hold": "1"})
    finally:
        unhook()
    park = next(e for e in parks if e.unique_id == uuid)
    replaced = {
        "Caller-Caller-ID-Number": number,
        "Caller-Caller-ID-Name": name,
        "Caller-ANI": number,
        "Caller-Orig-Caller-ID-Number": number,
        "Caller-Orig-Caller-ID-Name": name,
        "variable_sip_from_user": number,
        "variable_sip_from_display": name,
    }
    headers = [(k, replaced.get(k, v)) for k, v in park.headers]
    extra = {"acd_queue": "support", "acd_language": "sv", **variables}
    headers += [(f"variable_{k}", v) for k, v in extra.items()]
    acd.sim.inject_event(headers)
    return uuid


def _assert_clean(acd: Harness) -> None:
    sent = acd.all_sent()
    for marker in MARKERS:
        leaked = [line for line in sent if marker in line]
        assert not leaked, f"{marker!r} reached a command: {leaked}"


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:24] for v in HOSTILE])
def test_hostile_caller_number_and_name_served_as_anonymous(acd: Harness, value: str) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.login("1001")
    caller = _park_as(acd, value, value)
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    originate = acd.commands("bgapi originate")[-1]
    assert "origination_caller_id_number=anonymous" in originate
    # a name of letters, digits and spaces is a fine name (spaces escaped for the {} block)
    shown = "07012\\s34567" if value == "07012 34567" else "Anonymous"
    assert f"origination_caller_id_name={shown}," in originate
    _assert_clean(acd)


@pytest.mark.parametrize(
    "name",
    ["Evil:_:sofia/gateway/gw1/1900|", "x,origination_uuid=evil", "${system(rm)}", "\udcc3("],
)
def test_hostile_display_name_through_sip_is_anonymous_number_kept(acd: Harness, name: str) -> None:
    """Names a SIP phone can send (the simulator takes them at place_call)."""
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.login("1001")
    caller = acd.sim.place_call("0701234567", "7000", caller_name=name)
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    originate = acd.commands("bgapi originate")[-1]
    assert "origination_caller_id_number=0701234567" in originate
    assert "origination_caller_id_name=Anonymous" in originate
    _assert_clean(acd)


def test_plain_names_pass_unchanged_and_quotes_are_made_harmless(acd: Harness) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.login("1001")
    first = _park_as(acd, "+46701234567", "Åsa Öberg-Lind")
    assert acd.wait_fact("bridged", contact=first).data["agent"] == "1001"
    assert "origination_caller_id_name=Åsa\\sÖberg-Lind," in acd.commands("bgapi originate")[-1]
    assert "origination_caller_id_number=+46701234567" in acd.commands("bgapi originate")[-1]
    acd.sim.hangup(first)
    acd.wait_fact("completed", contact=first)
    second = _park_as(acd, "0701", "O'Brien")
    acd.wait_fact("bridged", contact=second)
    originate = acd.commands("bgapi originate")[-1]
    assert "O\u2019Brien" in originate and "'" not in originate


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("acd_skills", "billing:99"),
        ("acd_skills", "billing:1,${system(rm)}"),
        ("acd_skills", "billing:x"),
        ("acd_priority", "high"),
        ("acd_priority", "-1"),
        ("acd_priority", "99999999999999999999"),
        ("acd_language", "sv;rm"),
        ("acd_case_type", "a b"),
        ("acd_agent", "1002,origination_uuid=evil"),
    ],
)
def test_bad_acd_variable_is_logged_defaulted_and_caller_served(
    acd: Harness, variable: str, value: str
) -> None:
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.login("1001")
    variables = {"acd_queue": "support", "acd_language": "sv", variable: value}
    with structlog.testing.capture_logs() as logs:
        caller = acd.sim.place_call("0701234567", "7000", variables=variables)
        assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"
    bad = [e for e in logs if e.get("event") == "acd.bad_variable"]
    assert [e["variable"] for e in bad] == [variable]
    _assert_clean(acd)


@pytest.mark.parametrize("queue", ["nosuchqueue", "support;hangup", "${system(rm)}"])
def test_unknown_queue_is_refused_with_a_hangup_and_nothing_in_routing(
    acd: Harness, queue: str
) -> None:
    acd.login("1001")
    caller = acd.sim.place_call(
        "0701234567", "7000", variables={"acd_queue": queue, "acd_language": "sv"}
    )
    refused = acd.wait_fact("caller_refused", contact=caller)
    assert refused.data["reason"] == "unknown-queue"
    assert acd.wait(lambda: caller not in acd.sim.channels)
    state = acd.router.snapshot()
    assert caller not in state.contacts
    assert not any(state.waiting.values())
    assert acd.store.get_call(caller) is None
    assert not acd.commands("bgapi originate")
    _assert_clean(acd)
