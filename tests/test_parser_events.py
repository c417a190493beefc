"""Event decoding: URL-decoding rules, repeated headers, JSON events, message types."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from freeswitch.errors import ProtocolError
from freeswitch.event_body import (
    decode_plain_headers,
    decode_plain_headers_slow,
    percent_decode,
)
from freeswitch.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    LogData,
    Message,
    RudeRejection,
)
from freeswitch.parser import Parser


def frame(head: str, body: bytes = b"") -> bytes:
    length = f"Content-Length: {len(body)}\n" if body else ""
    return f"{head}\n{length}\n".encode() + body


def plain_event(*lines: str, body: str = "") -> bytes:
    """A text/event-plain frame as mod_event_socket writes it (values already encoded)."""
    block = "".join(f"{line}\n" for line in lines)
    if body:
        block += f"Content-Length: {len(body.encode())}\n\n{body}"
    else:
        block += "\n"
    raw = block.encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(raw) + raw


def json_event(obj: object) -> bytes:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw


def one(data: bytes) -> Message:
    messages = Parser().feed(data)
    assert len(messages) == 1
    return messages[0]


def one_event(data: bytes) -> Event:
    message = one(data)
    assert isinstance(message, Event)
    return message


# -- URL-decoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("a%3Ab%3ac", "a:b:c"),  # upper- and lower-case hex
        ("a+b", "a+b"),  # '+' is not a space in switch_url_decode
        ("a%2Bb%20c", "a+b c"),
        ("%C3%A5%C3%A4%C3%B6", "åäö"),  # multi-byte UTF-8, encoded byte by byte
        ("%e2%82%ac", "€"),
        ("100%", "100%"),  # not an escape: kept, like switch_url_decode
        ("%zz%4", "%zz%4"),
        ("%%41", "%A"),
        ("back\\slash%5C", "back\\slash\\"),
        (
            "sofia/internal/0701234567%40127.0.0.1%3A5090",
            "sofia/internal/0701234567@127.0.0.1:5090",
        ),
        ("_undef_", "_undef_"),  # what FreeSWITCH writes for an empty value stays as is
    ],
)
def test_url_decoding(encoded: str, decoded: str) -> None:
    event = one_event(plain_event("Event-Name: CUSTOM", f"Caller-Caller-ID-Name: {encoded}"))
    assert event.caller_name == decoded  # targeted lookup
    assert event.headers["Caller-Caller-ID-Name"] == decoded  # full decode


def test_encoded_newline_does_not_forge_a_header() -> None:
    """A value holding '%0A' stays one value; greenswitch would make 'Unique-ID' from it."""
    event = one_event(
        plain_event(
            "Event-Name: CHANNEL_PARK",
            "Caller-Caller-ID-Name: Evil%0AUnique-ID%3A%20forged%0AEvent-Name%3A%20HACK",
            "Unique-ID: real",
        )
    )
    assert event.caller_name == "Evil\nUnique-ID: forged\nEvent-Name: HACK"
    assert event.uuid == "real" and event.name == "CHANNEL_PARK"
    assert dict(event.headers) == {
        "Event-Name": "CHANNEL_PARK",
        "Caller-Caller-ID-Name": "Evil\nUnique-ID: forged\nEvent-Name: HACK",
        "Unique-ID": "real",
    }


def test_encoded_newline_alone_never_adds_headers() -> None:
    event = one_event(plain_event("Event-Name: X", "A: 1%0A2", "B: %0a"))
    assert dict(event.headers) == {"Event-Name": "X", "A": "1\n2", "B": "\n"}


def test_percent_encoded_bytes_that_are_not_utf8_are_kept_as_surrogates() -> None:
    """FreeSWITCH does not promise UTF-8: an escape that decodes to other bytes is kept."""
    data = plain_event("Event-Name: CHANNEL_PARK", "Caller-Caller-ID-Name: %FF%FE")
    event = one_event(data)
    assert event.name == "CHANNEL_PARK"
    assert event.caller_name == "\udcff\udcfe"
    assert event.headers["Caller-Caller-ID-Name"].encode("utf-8", "surrogateescape") == b"\xff\xfe"


_VALUE_CHARS = st.sampled_from(
    [*"ab%0AaFfGg9+ :\\x\nå€", "%0A", "%C3%A5", "%zz", "%2", "%F1", "%c3", "%FF%FE"]
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.lists(_VALUE_CHARS, max_size=12).map("".join), min_size=1, max_size=6))
def test_fast_header_decoder_equals_the_line_by_line_one(values: list[str]) -> None:
    """The C-pass decoder must agree with the reference decoder, or raise the same way."""
    lines = [f"H{i}: {v}" for i, v in enumerate(values)]
    block = "\n".join(lines).encode()
    try:
        expected = decode_plain_headers_slow(block, 0)
    except ProtocolError as exc:
        with pytest.raises(ProtocolError) as raised:
            decode_plain_headers(block, 0)
        assert (str(raised.value), raised.value.offset) == (str(exc), exc.offset)
        return
    assert decode_plain_headers(block, 0) == expected
    for i, value in enumerate(values):
        if "\n" not in value:
            text = percent_decode(value.encode()).decode("utf-8", "surrogateescape")
            assert expected[f"H{i}"] == text


# -- repeated headers, body, typed attributes ---------------------------------------------


def test_repeated_header_keeps_the_first_like_freeswitch() -> None:
    event = one_event(
        plain_event(
            "Event-Name: COMMAND",
            "Hangup-Cause: NORMAL_CLEARING",
            "Event-Name: PRIVATE_COMMAND",
            "Hangup-Cause: NO_ANSWER",
        )
    )
    assert event.name == "COMMAND" and event.hangup_cause == "NORMAL_CLEARING"
    assert dict(event.headers) == {"Event-Name": "COMMAND", "Hangup-Cause": "NORMAL_CLEARING"}


def test_background_job_body_is_not_mistaken_for_headers() -> None:
    """A body that looks like headers (uuid_dump output) must not answer header lookups."""
    body = "Unique-ID: from-the-body\nEvent-Name: NOT_ME\n\n"
    event = one_event(
        plain_event(
            "Event-Name: BACKGROUND_JOB", "Job-UUID: j1", "Job-Command: uuid_dump", body=body
        )
    )
    assert event.uuid is None
    assert event.name == "BACKGROUND_JOB" and event.job_uuid == "j1"
    assert event.body == body
    assert event.headers["Content-Length"] == str(len(body))
    assert "Unique-ID" not in event.headers


def test_typed_attributes_and_variables() -> None:
    event = one_event(
        plain_event(
            "Event-Name: CUSTOM",
            "Event-Subclass: callcenter%3A%3Ainfo",
            "Event-Sequence: 8322",
            "Event-Date-Timestamp: 1795552529161186",
            "Unique-ID: u1",
            "variable_acd_queue: support",
            "variable_acd_skills: billing%3A3,invoice%3A1",
        )
    )
    assert event.dispatch_key == "callcenter::info" and event.subclass == "callcenter::info"
    assert event.sequence == 8322 and event.timestamp_us == 1795552529161186
    assert dict(event.variables) == {"acd_queue": "support", "acd_skills": "billing:3,invoice:1"}
    assert event.get("Nope") is None and event.get("Nope", "x") == "x"
    assert event.dtmf_digit is None and event.other_leg is None
    with pytest.raises(AttributeError):
        event.uuid = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.headers["Unique-ID"] = "changed"  # type: ignore[index]


@pytest.mark.parametrize("value", ["12a", "-1", "", "9" * 5000])
def test_non_decimal_sequence_raises(value: str) -> None:
    event = one_event(plain_event("Event-Name: X", f"Event-Sequence: {value}"))
    with pytest.raises(ProtocolError, match=r"Event-Sequence.*not a decimal"):
        _ = event.sequence


def test_log_level_that_is_not_a_small_number_is_none() -> None:
    for level in ("x", "9" * 5000):
        log = one(frame(f"Content-Type: log/data\nLog-Level: {level}", b"l\n"))
        assert isinstance(log, LogData) and log.level is None


# -- text/event-json ----------------------------------------------------------------------


def test_json_event_with_body_and_array_header() -> None:
    event = one_event(
        json_event(
            {
                "Event-Name": "BACKGROUND_JOB",
                "Job-UUID": "j1",
                "variable_DP_MATCH": ["a", "b"],
                "variable_one": ["only"],
                "Caller-Caller-ID-Name": 'Ann "the" Ågren\\',
                "Content-Length": "12",
                "_body": "+OK abc-def\n",
            }
        )
    )
    assert event.format == "json" and event.name == "BACKGROUND_JOB"
    assert event.job_uuid == "j1" and event.body == "+OK abc-def\n"
    assert event.caller_name == 'Ann "the" Ågren\\'
    assert event.get("variable_DP_MATCH") == "ARRAY::a|:b"  # as the plain format writes it
    assert event.variables["one"] == "only"
    assert "_body" not in event.headers and event.headers["Content-Length"] == "12"


def test_json_repeated_key_keeps_the_first() -> None:
    raw = b'{"Event-Name":"COMMAND","Unique-ID":"u1","Event-Name":"PRIVATE_COMMAND"}'
    event = one_event(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw)
    assert event.name == "COMMAND"
    assert event.headers["Event-Name"] == "COMMAND"


def test_spaced_json_from_another_producer_still_answers_lookups() -> None:
    raw = json.dumps({"Event-Name": "CHANNEL_PARK", "Unique-ID": "u1"}).encode()
    event = one_event(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw)
    assert event.name == "CHANNEL_PARK" and event.uuid == "u1" and event.other_leg is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"Event-Name":"X",', "not JSON"),
        (b'["Event-Name"]', "not a JSON object"),
        (b'{"Event-Name":"X","Event-Sequence":5}', "'Event-Sequence' is int"),
        (b'{"Event-Name":"X","_body":1}', "'_body' is not a string"),
        (b'{"Event-Name":"X","Y":' + b"9" * 5000 + b"}", "ValueError"),
        (b'{"Event-Name":"X","Y":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "RecursionError"),
        (b'{"Event-Name":"X","Y":["a",1]}', "'Y' is list"),
        (b'{"Event-Name":"X","Y":{"a":"b"}}', "'Y' is dict"),
        (b'{"Event-Name":"X","Y":NaN}', "'Y' is float"),
    ],
)
def test_bad_json_event_raises_on_decode(raw: bytes, message: str) -> None:
    event = one_event(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw)
    with pytest.raises(ProtocolError, match=message):
        _ = event.headers


# -- other message types ------------------------------------------------------------------


def test_message_types() -> None:
    data = (
        frame("Content-Type: auth/request")
        + frame("Content-Type: command/reply\nReply-Text: +OK accepted")
        + frame("Content-Type: command/reply\nReply-Text: +OK Job-UUID: j9\nJob-UUID: j9")
        + frame("Content-Type: api/response", b"+OK u1\n")
        + frame("Content-Type: log/data\nLog-Level: 7", b"line\n")
        + frame("Content-Type: text/disconnect-notice\nContent-Disposition: linger", b"bye\n")
        + frame("Content-Type: text/rude-rejection", b"Access Denied, go away.\n")
        + frame("Content-Type: text/event-xml", b"<event/>")
        + frame("Content-Type: something/new\nX: 1", b"?")
        + frame("X-Only: 1")
    )
    messages = Parser().feed(data)
    kinds = [type(m) for m in messages]
    assert kinds == [
        AuthRequest,
        CommandReply,
        CommandReply,
        ApiResponse,
        LogData,
        DisconnectNotice,
        RudeRejection,
        Message,
        Message,
        Message,
    ]
    auth, accepted, bgapi, api, log, notice, rude, xml, unknown, bare = messages
    assert isinstance(accepted, CommandReply) and accepted.ok and accepted.job_uuid is None
    assert isinstance(bgapi, CommandReply) and bgapi.job_uuid == "j9"
    assert isinstance(api, ApiResponse) and api.ok and api.text == "+OK u1\n"
    assert isinstance(log, LogData) and log.level == 7 and log.text == "line\n"
    assert isinstance(notice, DisconnectNotice) and notice.linger
    assert isinstance(rude, RudeRejection) and rude.text.startswith("Access Denied")
    assert xml.content_type == "text/event-xml" and xml.raw_body == b"<event/>"
    assert unknown.content_type == "something/new" and unknown.frame["X"] == "1"
    assert bare.content_type == "" and bare.raw_body == b""
    assert auth.frame == {"Content-Type": "auth/request"}


def test_command_reply_without_reply_text_is_not_ok() -> None:
    reply = one(frame("Content-Type: command/reply"))
    assert isinstance(reply, CommandReply) and reply.reply_text == "" and not reply.ok


def test_blank_lines_between_frames_are_skipped() -> None:
    data = b"\n\n" + frame("Content-Type: auth/request") + b"\n"
    parser = Parser()
    assert [type(m) for m in parser.feed(data)] == [AuthRequest]
    assert parser.buffered == 0


# -- property: what FreeSWITCH encodes, the parser gives back ------------------------------

_UNSAFE = set(b'\r\n "#%&+:;<=>?@[\\]^`{|}')


def switch_url_encode(value: str) -> str:
    """switch_url_encode: unsafe ASCII, controls and every byte > 0x7E as %XX."""
    return "".join(
        f"%{byte:02X}" if byte < 0x20 or byte > 0x7E or byte in _UNSAFE else chr(byte)
        for byte in value.encode("utf-8")
    )


_NAMES = st.sampled_from(
    ["Event-Name", "Event-Subclass", "Unique-ID", "Caller-Caller-ID-Name", "Hangup-Cause",
     "Content-Length", "variable_acd_queue", "X"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(_NAMES, st.text(max_size=20)), min_size=1, max_size=8),
    body=st.text(max_size=30),
)
def test_encoded_events_decode_to_their_values(pairs: list[tuple[str, str]], body: str) -> None:
    """Plain and JSON forms of the same event give the same headers, body and lookups."""
    pairs = [(n, v) for n, v in pairs if n != "Content-Length"]
    assume(pairs)
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    if body:
        first["Content-Length"] = str(len(body.encode()))
    plain = one_event(plain_event(*(f"{n}: {switch_url_encode(v)}" for n, v in pairs), body=body))
    members = [f"{json.dumps(n)}:{json.dumps(v, ensure_ascii=False)}" for n, v in pairs]
    if body:
        members += [f'"Content-Length":"{first["Content-Length"]}"', f'"_body":{json.dumps(body)}']
    raw = ("{" + ",".join(members) + "}").encode()
    as_json = one_event(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw)
    for event in (plain, as_json):
        lookups = {name: event.get(name) for name in [*first, "Absent-Header"]}
        assert lookups == {**first, "Absent-Header": None}
        assert dict(event.headers) == first
        assert event.body == body
