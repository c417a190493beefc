"""Malformed input: a ProtocolError that says what and where, never a crash or a hang."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeswitch.errors import ESLError, ProtocolError
from freeswitch.messages import ApiResponse, AuthRequest, Event, Message
from freeswitch.parser import MAX_HEADER_BYTES, Parser
from tests.captures import load_in

AUTH = b"Content-Type: auth/request\n\n"


def event_frame(raw: bytes, kind: bytes = b"text/event-plain") -> bytes:
    return b"Content-Length: %d\nContent-Type: %s\n\n" % (len(raw), kind) + raw


def feed_error(data: bytes, parser: Parser | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as raised:
        (parser or Parser()).feed(data)
    return raised.value


def test_protocol_error_is_an_esl_error_with_slug() -> None:
    error = feed_error(b"nonsense\n\n")
    assert isinstance(error, ESLError) and error.slug == "esl-protocol"


# -- framing ------------------------------------------------------------------------------


def test_header_without_blank_line_cannot_grow_forever() -> None:
    """'Missing blank line': past MAX_HEADER_BYTES of header the parser gives up."""
    parser = Parser()
    assert parser.feed(AUTH) != []
    line = b"X-Filler: " + b"a" * 90 + b"\n"
    fed = 0
    with pytest.raises(ProtocolError, match="no terminating blank line") as raised:
        while fed < 2 * MAX_HEADER_BYTES:
            assert parser.feed(line) == []
            fed += len(line)
            assert parser.buffered <= MAX_HEADER_BYTES
    assert raised.value.offset == len(AUTH)
    assert fed <= MAX_HEADER_BYTES + len(line)


def test_incomplete_header_and_body_wait_for_more() -> None:
    parser = Parser()
    pieces = [b"Content-Type: api/res", b"ponse\nContent-Length: 6\n", b"\n+OK", b" 1\n"]
    assert parser.feed(pieces[0]) == []
    assert parser.feed(pieces[1]) == []
    assert parser.feed(pieces[2]) == []
    assert parser.buffered == len(b"".join(pieces[:3])) and parser.offset == 0
    (message,) = parser.feed(pieces[3])
    assert isinstance(message, ApiResponse) and message.text == "+OK 1\n"
    assert parser.buffered == 0 and parser.offset == len(b"".join(pieces))


@pytest.mark.parametrize(
    "value",
    [
        "-5",
        "abc",
        "",
        " 12",
        "12 ",
        "+12",
        "1_0",
        "0x10",
        "\uff11\uff12",
        "1e3",
    ],  # last but one: full-width digits,
)
@pytest.mark.parametrize("event", [False, True])
def test_content_length_not_a_decimal_number(value: str, event: bool) -> None:
    if event:  # the event fast path must refuse it just the same
        head = f"Content-Length: {value}\nContent-Type: text/event-plain"
    else:
        head = f"Content-Type: api/response\nContent-Length: {value}"
    error = feed_error(AUTH + head.encode() + b"\n\nEvent-Name: X\n\n")
    assert "Content-Length" in str(error) and "not a decimal number" in str(error)
    assert repr(value) in str(error)
    assert error.offset == len(AUTH) and f"at byte {len(AUTH)}" in str(error)


@pytest.mark.parametrize("value", ["99999999999999999999", "9" * 5000])
def test_content_length_with_too_many_digits(value: str) -> None:
    error = feed_error(b"Content-Type: api/response\nContent-Length: %s\n\n" % value.encode())
    assert "too large" in str(error) and error.offset == 0


@pytest.mark.parametrize("event", [False, True])
def test_content_length_above_max_frame_bytes(event: bool) -> None:
    parser = Parser(max_frame_bytes=100)
    body = b"x" * 101
    data = event_frame(body) if event else b"Content-Type: api/response\nContent-Length: 101\n\n"
    error = feed_error(AUTH + data, parser)
    assert "Content-Length 101 exceeds max_frame_bytes 100" in str(error)
    assert error.offset == len(AUTH)
    assert parser.buffered == 0


def test_max_frame_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_frame_bytes"):
        Parser(max_frame_bytes=0)


def test_header_line_without_colon() -> None:
    data = AUTH + b"Content-Type: api/response\nBroken line\n\n"
    error = feed_error(data)
    assert "header line without ': '" in str(error) and "'Broken line'" in str(error)
    assert error.offset == data.index(b"Broken")


def test_frame_header_not_utf8_is_kept_not_an_error() -> None:
    """Bytes are never a framing error: the frame parses, the value keeps them."""
    data = AUTH + b"Content-Type: api/resp\xffonse\n\n" + AUTH
    first, message, last = Parser().feed(data)
    assert type(message) is Message and message.content_type == "api/resp\udcffonse"
    assert isinstance(first, AuthRequest) and isinstance(last, AuthRequest)


def test_frame_body_not_utf8_is_kept_not_an_error() -> None:
    data = AUTH + b"Content-Type: api/response\nContent-Length: 4\n\nok\xc3("
    _, reply = Parser().feed(data)
    assert isinstance(reply, ApiResponse) and reply.text == "ok\udcc3("


def test_event_raw_bytes_not_utf8_are_kept_not_an_error() -> None:
    raw = b"Event-Name: CHANNEL_PARK\nCaller-Caller-ID-Name: \xe5\n\n"
    (event,) = Parser().feed(event_frame(raw))
    assert isinstance(event, Event) and event.caller_name == "\udce5"
    assert event.headers["Caller-Caller-ID-Name"] == "\udce5"


def test_raw_utf8_in_an_event_is_accepted() -> None:
    (event,) = Parser().feed(event_frame("Event-Name: X\nCaller-Caller-ID-Name: Åsa\n\n".encode()))
    assert isinstance(event, Event) and event.caller_name == "Åsa"


def test_parser_refuses_input_after_an_error_and_keeps_what_came_before() -> None:
    parser = Parser()
    error = feed_error(AUTH + b"garbage\n\n" + AUTH, parser)
    assert [type(m) for m in error.parsed] == [AuthRequest]
    again = feed_error(AUTH, parser)
    assert "earlier protocol error" in str(again) and again.offset == error.offset


# -- event bodies (checked when the event is decoded) ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "message", "where"),
    [
        (b"Event-Name: X\nUnique-ID u1\n\n", "header line without ': ' ('Unique-ID u1')", 14),
        (b"Event-Name: X\n\nUnique-ID: u1\n\n", "an empty line", 14),
        (b"Event-Name: X\nUnique-ID: u1\n", "no terminating blank line", 0),
        (b"Event-Name: X\n\n+OK\n", "after the header block without an inner Content-Length", 15),
        (b"Event-Name: X\nContent-Length: 9\n\n+OK\n", "inner Content-Length '9' but 4 bytes", 13),
        (b"Event-Name: X\nContent-Length: x\n\n+OK\n", "inner Content-Length 'x'", 13),
        (b"Event-Name: X\nContent-Length: " + b"9" * 5000 + b"\n\n+OK\n", "inner Content", 13),
    ],
)
def test_malformed_event_body_raises_when_decoded(raw: bytes, message: str, where: int) -> None:
    data = AUTH + event_frame(raw)
    _, event = Parser().feed(data)  # framing is fine; the body is checked on decode
    assert isinstance(event, Event)
    body_at = data.index(raw)
    for read in (lambda: event.headers, lambda: event.body, lambda: event.variables):
        with pytest.raises(ProtocolError) as raised:
            read()
        assert message in str(raised.value)
        assert raised.value.offset == body_at + where


# -- fuzz ---------------------------------------------------------------------------------

_TOKENS = [
    b"Content-Length: ",
    b"Content-Type: ",
    b"text/event-plain",
    b"text/event-json",
    b"api/response",
    b"command/reply",
    b"Event-Name: ",
    b"Unique-ID: ",
    b"CUSTOM",
    b"Event-Subclass: ",
    b"Event-Sequence: ",
    b'{"Event-Name":"',
    b'"',
    b",",
    b"}",
    b"\n",
    b"\n\n",
    b": ",
    b"12",
    b"3",
    b"0",
    b"-",
    b"%",
    b"%0A",
    b"%C3%A5",
    b"%FF",
    b"\xff",
    b"\xc3\xa5",
    b"x",
]
_SMALL_FRAME = 2048


def _consume(chunks: list[bytes]) -> None:
    """Feed, then read everything; only ProtocolError may come out, and buffers stay bounded."""
    parser = Parser(max_frame_bytes=_SMALL_FRAME)
    for chunk in chunks:
        try:
            messages = parser.feed(chunk)
        except ProtocolError:
            return
        assert parser.buffered <= MAX_HEADER_BYTES + _SMALL_FRAME + len(chunk)
        for message in messages:
            _read_everything(message)


def _read_everything(message: Message) -> None:
    if not isinstance(message, Event):
        return
    readers = (
        lambda: message.name,
        lambda: message.dispatch_key,
        lambda: message.uuid,
        lambda: message.sequence,
        lambda: message.timestamp_us,
        lambda: message.headers,
        lambda: message.body,
        lambda: message.variables,
        lambda: message.frame,
        lambda: repr(message),
    )
    for read in readers:
        with contextlib.suppress(ProtocolError):
            read()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 4000), max_size=8))
def test_random_bytes_only_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    _consume(_split(data, cuts))


@settings(max_examples=400, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(_TOKENS), max_size=120),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
)
def test_protocol_shaped_noise_only_raises_protocol_error(
    tokens: list[bytes], cuts: list[int]
) -> None:
    _consume(_split(b"".join(tokens), cuts))


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.sampled_from(["flip", "insert", "delete"]),
            st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
    recording=st.sampled_from(
        ["s02_commands_and_errors", "s09_freeswitch_shutdown", "s04_caller_journey_json"]
    ),
)
def test_mutated_recordings_only_raise_protocol_error(
    edits: list[tuple[int, str, bytes]], cuts: list[int], recording: str
) -> None:
    data = bytearray(load_in(recording)[:20000])
    for position, operation, payload in edits:
        at = position % len(data)
        if operation == "flip":
            data[at : at + len(payload)] = bytes(b ^ 0x55 for b in payload)
        elif operation == "insert":
            data[at:at] = payload
        else:
            del data[at : at + len(payload)]
    _consume(_split(bytes(data), cuts))


def test_large_noise_without_blank_line_is_refused_not_buffered() -> None:
    parser = Parser()
    chunk = b"y" * 4096
    with pytest.raises(ProtocolError, match="no terminating blank line"):
        for _ in range(2 * MAX_HEADER_BYTES // len(chunk)):
            parser.feed(chunk)


def test_overlong_header_fed_in_pieces_stops_the_parser_too() -> None:
    parser = Parser()
    parser.feed(b"Content-Type: api/response\n")
    with pytest.raises(ProtocolError, match="no terminating blank line"):
        for _ in range(MAX_HEADER_BYTES // 100 + 2):
            parser.feed(b"X" * 99 + b"\n")
    assert parser.buffered == 0
    with pytest.raises(ProtocolError, match="earlier protocol error"):
        parser.feed(AUTH)


def _outcome(chunks: list[bytes]) -> tuple[list[Message], tuple[str, int] | None]:
    parser = Parser(max_frame_bytes=_SMALL_FRAME * 4)
    delivered: list[Message] = []
    for chunk in chunks:
        try:
            delivered.extend(parser.feed(chunk))
        except ProtocolError as exc:
            delivered.extend(m for m in exc.parsed if isinstance(m, Message))
            return delivered, (str(exc), exc.offset)
    return delivered, None


@settings(max_examples=200, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), max_size=4),
    cuts=st.lists(st.integers(0, 10**6), min_size=1, max_size=12),
)
def test_errors_do_not_depend_on_the_split(edits: list[tuple[int, bytes]], cuts: list[int]) -> None:
    """Same messages, then the same error text and offset, however the bytes arrive."""
    data = bytearray(load_in("s02_commands_and_errors") + load_in("s09_freeswitch_shutdown"))
    for position, payload in edits:
        at = position % len(data)
        data[at : at + len(payload)] = payload
    assert _outcome(_split(bytes(data), cuts)) == _outcome([bytes(data)])
