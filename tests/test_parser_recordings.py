"""The parser against every recording of a real FreeSWITCH 1.10.12 (tests/captures.py).

Expectations are derived from the conversation records (.jsonl) independently of the parser:
commands the client wrote, Event-Name lines, BACKGROUND_JOB bodies; plus facts from the
recordings' README.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freeswitch.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    Message,
)
from freeswitch.parser import Parser
from tests.captures import RECORDINGS, captures_dir, load_in, received_text, sent_commands

# RECORDINGS names every recording s01a ... s09b (tests/captures.py).
ALL = pytest.mark.parametrize("name", RECORDINGS)

# The first Event-Name line / key of each event (CUSTOM events start with Event-Subclass).
_PLAIN_NAME = re.compile(r"Content-Type: text/event-plain\n\n(?:[^\n]+\n)*?Event-Name: ([^\n]*)\n")
_JSON_NAME = re.compile(
    r'Content-Type: text/event-json\n\n\{(?:"[^"]*":(?:"(?:[^"\\]|\\.)*"|\[[^\]]*\]),)*?'
    r'"Event-Name":"([^"]*)"'
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_JOB_RESULT = re.compile(rf"(\+OK {_UUID}|-ERR [A-Z_]+)\n")


def _parse(name: str) -> list[Message]:
    parser = Parser()
    messages = parser.feed(load_in(name))
    assert parser.buffered == 0, "a recording ends on a frame boundary"
    return messages


def _events(messages: list[Message]) -> list[Event]:
    return [m for m in messages if isinstance(m, Event)]


def test_every_recording_is_listed() -> None:
    on_disk = {p.name.split(".")[0] for p in captures_dir().glob("s*.in*")}
    assert on_disk == set(RECORDINGS)


@ALL
def test_recording_parses_and_matches_its_conversation(name: str) -> None:
    """Every byte of every recording frames, and each event decodes completely."""
    messages = _parse(name)
    assert received_text(name).encode("utf-8") == load_in(name)
    assert isinstance(messages[0], AuthRequest)
    replies = [m for m in messages if isinstance(m, CommandReply | ApiResponse)]
    assert len(replies) == len(sent_commands(name))
    for event in _events(messages):
        headers = event.headers
        assert headers["Event-Name"] == event.name
        assert event.format == ("json" if name.startswith("s04") else "plain")
        assert event.frame["Content-Length"] == str(len(event.raw_body))
        assert isinstance(event.body, str)


@ALL
def test_event_names_in_recorded_order(name: str) -> None:
    text = received_text(name)
    found = [*_PLAIN_NAME.finditer(text), *_JSON_NAME.finditer(text)]
    expected = [m.group(1) for m in sorted(found, key=lambda m: m.start())]
    assert [e.name for e in _events(_parse(name))] == expected


@ALL
def test_typed_attributes_agree_with_full_decode(name: str) -> None:
    """The targeted lookups used for dispatch give exactly what the full decoder gives."""
    attributes = {
        "subclass": "Event-Subclass",
        "uuid": "Unique-ID",
        "call_uuid": "Channel-Call-UUID",
        "other_leg": "Other-Leg-Unique-ID",
        "caller_number": "Caller-Caller-ID-Number",
        "caller_name": "Caller-Caller-ID-Name",
        "destination": "Caller-Destination-Number",
        "hangup_cause": "Hangup-Cause",
        "dtmf_digit": "DTMF-Digit",
        "application": "Application",
        "application_data": "Application-Data",
        "application_response": "Application-Response",
        "application_uuid": "Application-UUID",
        "playback_status": "Playback-Status",
        "playback_file": "Playback-File-Path",
        "job_uuid": "Job-UUID",
        "job_command": "Job-Command",
        "core_uuid": "Core-UUID",
        "channel_state": "Channel-State",
        "answer_state": "Answer-State",
        "call_direction": "Call-Direction",
    }
    for lazy in _events(_parse(name)):
        found = {attr: getattr(lazy, attr) for attr in attributes}
        found["name"] = lazy.name
        found["dispatch_key"] = lazy.dispatch_key
        headers = lazy.headers  # decodes; attributes now read the dict
        for attr, header in attributes.items():
            assert found[attr] == headers.get(header), (attr, lazy)
        assert found["name"] == headers.get("Event-Name")
        if lazy.name == "CUSTOM":
            assert found["dispatch_key"] == headers["Event-Subclass"]
        else:
            assert found["dispatch_key"] == lazy.name
        assert lazy.sequence == int(headers["Event-Sequence"])
        assert lazy.timestamp_us == int(headers["Event-Date-Timestamp"])
        assert dict(lazy.variables) == {
            k.removeprefix("variable_"): v for k, v in headers.items() if k.startswith("variable_")
        }


def _recorded_job_bodies(name: str) -> dict[str, str]:
    """Job-UUID -> BACKGROUND_JOB body, read from the conversation text without the parser."""
    text = received_text(name)
    bodies: dict[str, str] = {}
    if name.startswith("s04"):
        for line in re.findall(r'\{"Event-Name":"BACKGROUND_JOB".*?\}(?=Content-|\Z)', text):
            obj = json.loads(line)
            bodies[obj["Job-UUID"]] = obj["_body"]
        return bodies
    pattern = re.compile(
        r"Event-Name: BACKGROUND_JOB\n(?:[^\n]+\n)*?Job-UUID: (\S+)\n(?:[^\n]+\n)*?"
        r"Content-Length: (\d+)\n\n"
    )
    for match in pattern.finditer(text):
        bodies[match.group(1)] = text[match.end() : match.end() + int(match.group(2))]
    return bodies


@pytest.mark.parametrize(
    "name",
    [
        "s02_commands_and_errors",
        "s03_caller_journey_plain",
        "s04_caller_journey_json",
        "s05_agent_leg_failures",
        "s06_dtmf_digits_and_hangups",
        "s08_bulk_acd_traffic",
    ],
)
def test_background_job_bodies(name: str) -> None:
    """BACKGROUND_JOB carries what `api` would have printed, as the inner body."""
    jobs = {e.job_uuid: e for e in _events(_parse(name)) if e.name == "BACKGROUND_JOB"}
    recorded = _recorded_job_bodies(name)
    assert recorded and set(jobs) == set(recorded)
    for job_uuid, event in jobs.items():
        assert job_uuid is not None
        assert event.body == recorded[job_uuid]
        assert event.headers["Content-Length"] == str(len(event.body.encode("utf-8")))
        if event.job_command == "originate":
            assert _JOB_RESULT.fullmatch(event.body), event.body


def test_bgapi_replies_carry_the_job_uuid_of_their_background_job() -> None:
    messages = _parse("s05_agent_leg_failures")
    replies = [m for m in messages if isinstance(m, CommandReply) and m.job_uuid]
    jobs = [e.job_uuid for e in _events(messages) if e.name == "BACKGROUND_JOB"]
    assert [r.reply_text for r in replies] == [f"+OK Job-UUID: {r.job_uuid}" for r in replies]
    assert all(r.ok for r in replies)
    assert sorted(r.job_uuid or "" for r in replies) == sorted(j or "" for j in jobs)


def test_agent_leg_failures_give_the_readme_results() -> None:
    """s05: the originate outcomes listed in the recordings' README."""
    bodies = [e.body for e in _events(_parse("s05_agent_leg_failures"))]
    results = Counter(
        body.split()[1] if body.startswith("-ERR") else "+OK"
        for body in bodies
        if _JOB_RESULT.fullmatch(body)
    )
    assert results == Counter(
        {
            "NO_ANSWER": 2,
            "+OK": 2,
            "USER_BUSY": 1,
            "USER_NOT_REGISTERED": 1,
            "SUBSCRIBER_ABSENT": 1,
            "CALL_REJECTED": 1,
            "NORMAL_TEMPORARY_FAILURE": 1,
            "NORMAL_CLEARING": 1,
            "ORIGINATOR_CANCEL": 1,
        }
    )


def test_preauth_and_bad_password() -> None:
    messages = _parse("s01a_preauth_and_bad_password")
    assert [type(m) for m in messages] == [
        AuthRequest,
        CommandReply,
        CommandReply,
        CommandReply,
        DisconnectNotice,
    ]
    replies = [m for m in messages if isinstance(m, CommandReply)]
    assert [r.reply_text for r in replies] == ["-ERR command not found"] * 2 + ["-ERR invalid"]
    assert not any(r.ok for r in replies)
    notice = messages[-1]
    assert isinstance(notice, DisconnectNotice)
    assert notice.text.startswith("Disconnected, goodbye.\n") and not notice.linger


def test_api_responses_keep_bodies_without_newline() -> None:
    """`uuid_exists` answers 'false' with no newline; the next frame still starts cleanly."""
    responses = [m for m in _parse("s02_commands_and_errors") if isinstance(m, ApiResponse)]
    texts = [r.text for r in responses]
    assert "false" in texts
    assert "-ERR Invalid uuid\n" in texts and "-ERR invalid uuid\n" in texts
    assert not any(r.ok for r in responses if r.text.startswith("-ERR"))


def test_command_event_with_two_event_names_keeps_the_first() -> None:
    """s03 has COMMAND events that carry Event-Name twice; FreeSWITCH reads the first."""
    events = _events(_parse("s03_caller_journey_plain"))
    doubled = [e for e in events if len(re.findall(rb"(?m)^Event-Name: ", e.raw_body)) > 1]
    assert doubled
    for event in doubled:
        first = re.search(rb"(?m)^Event-Name: (.*)$", event.raw_body)
        assert first is not None
        assert event.name == event.headers["Event-Name"] == first.group(1).decode()
    assert "COMMAND" in {e.name for e in doubled}


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _feed_all(chunks: list[bytes]) -> list[Message]:
    parser = Parser()
    out: list[Message] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    assert parser.buffered == 0
    return out


_SPLIT_RECORDINGS = [
    "s01a_preauth_and_bad_password",
    "s02_commands_and_errors",
    "s03_caller_journey_plain",
    "s04_caller_journey_json",
    "s07_reconcile_snapshot",
    "s09_freeswitch_shutdown",
]


@pytest.mark.parametrize("name", _SPLIT_RECORDINGS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=10**7), max_size=60))
def test_any_split_gives_the_same_messages(name: str, cuts: list[int]) -> None:
    """Property: framing does not depend on how the socket delivered the bytes."""
    data = load_in(name)
    whole = _feed_all([data])
    split = _feed_all(_chunks(data, cuts))
    assert split == whole
    assert [m.offset for m in split] == [m.offset for m in whole]


def test_byte_by_byte_feed_gives_the_same_messages() -> None:
    data = load_in("s02_commands_and_errors")
    whole = _feed_all([data])
    one_by_one = _feed_all([data[i : i + 1] for i in range(len(data))])
    assert one_by_one == whole
    assert [e.headers for e in _events(one_by_one)] == [e.headers for e in _events(whole)]
