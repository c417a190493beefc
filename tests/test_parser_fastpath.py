"""The parser's hot path for standard event frames, and the edges around it.

Standard event frames (``Content-Length``, ``Content-Type``, blank line, ``Event-Name`` first)
skip the generic header parser, refer to the fed bytes instead of copying each body, and a
frame split across ``feed`` calls is completed from what the hot path read of it. These tests
pin that all of this gives exactly what the generic path and a whole-stream feed give.
"""

from __future__ import annotations

import pytest

from freeswitch.errors import ProtocolError
from freeswitch.messages import Event, Message
from freeswitch.parser import Parser

AUTH = b"Content-Type: auth/request\n\n"


def plain_frame(raw: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(raw) + raw


def json_frame(raw: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw) + raw


# Raw UTF-8 (not URL-encoded) in a value, so a split can fall inside a multi-byte character.
PLAIN = (
    b"Event-Name: CHANNEL_ANSWER\nCaller-Caller-ID-Name: J\xc3\xb6rg%20\xe2\x82\xac\n"
    b"Unique-ID: u-1\n\n"
)
JSON = b'{"Event-Name":"CHANNEL_HANGUP","Unique-ID":"u-2","Caller-Caller-ID-Name":"\xc3\xa5"}'
STREAM = AUTH + plain_frame(PLAIN) + json_frame(JSON) + plain_frame(PLAIN)


def summary(messages: list[Message], decode: bool = True) -> list[tuple[object, ...]]:
    """What a consumer can see of each message (``decode``: including all event headers)."""
    out: list[tuple[object, ...]] = []
    for message in messages:
        if isinstance(message, Event):
            out.append(
                (
                    message.format,
                    message.offset,
                    message.raw_body,
                    dict(message.frame),
                    message.name,
                    message.uuid,
                    message.caller_name,
                    dict(message.headers) if decode else None,
                )
            )
        else:
            out.append((message.content_type, message.offset, message.raw_body))
    return out


def test_every_two_and_three_way_split_gives_the_whole_stream_result() -> None:
    """Splits inside the length digits, the name, a multi-byte character and the body all
    give the same events (offsets, bytes, names, decoded headers) as one feed."""
    expected = summary(Parser().feed(STREAM))
    assert [row[0] for row in expected] == ["auth/request", "plain", "json", "plain"]
    assert expected[1][6] == "Jörg €" and expected[2][6] == "å"
    for cut in range(1, len(STREAM)):
        parser = Parser()
        got = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
        assert summary(got) == expected, cut
        assert parser.buffered == 0
    for first in range(1, len(STREAM), 7):
        for second in range(first + 1, len(STREAM), 5):
            parser = Parser()
            parts = (STREAM[:first], STREAM[first:second], STREAM[second:])
            got = [message for part in parts for message in parser.feed(part)]
            assert summary(got) == expected, (first, second)


@pytest.mark.parametrize("cut_after", [1, 10, 30])
def test_bad_utf8_arriving_with_the_rest_of_a_split_event_is_kept(cut_after: int) -> None:
    """Bytes that are not UTF-8 never fail a frame, split or not: they are kept per value."""
    bad = PLAIN.replace(b"J\xc3\xb6rg", b"J\xc3\x28rg")
    data = AUTH + plain_frame(bad) + AUTH
    at = data.index(b"\xc3\x28")
    parser = Parser()
    cut = at - cut_after
    first = parser.feed(data[:cut])
    assert [m.content_type for m in first] == ["auth/request"]
    rest = parser.feed(data[cut:])
    assert [m.content_type for m in rest] == ["text/event-plain", "auth/request"]
    event = rest[0]
    assert isinstance(event, Event) and event.offset == data.index(bad)
    assert event.caller_name == "J\udcc3(rg \u20ac"
    assert summary(rest) == summary(Parser().feed(data)[1:])


def test_max_frame_bytes_holds_for_a_length_another_parser_has_seen() -> None:
    data = plain_frame(PLAIN)
    assert len(Parser().feed(data)) == 1
    with pytest.raises(ProtocolError, match=f"exceeds max_frame_bytes {len(PLAIN) - 1}"):
        Parser(max_frame_bytes=len(PLAIN) - 1).feed(data)


def test_inner_content_length_on_the_first_line_keeps_the_body_out_of_lookups() -> None:
    """An event whose only header is its inner Content-Length: the body after it is not
    headers, even though it looks like them."""
    body = b"Unique-ID: forged\nEvent-Name: FORGED\n"
    raw = b"Content-Length: %d\n\n" % len(body) + body
    (event,) = Parser().feed(plain_frame(raw))
    assert isinstance(event, Event)
    assert event.uuid is None and event.name is None and event.dispatch_key is None
    assert event.body == body.decode() and dict(event.headers) == {"Content-Length": "37"}


@pytest.mark.parametrize(
    ("frame", "name", "key"),
    [
        (  # CUSTOM events start with Event-Subclass
            plain_frame(b"Event-Subclass: sofia%3A%3Aregister\nEvent-Name: CUSTOM\n\n"),
            "CUSTOM",
            "sofia::register",
        ),
        (
            json_frame(b'{"Event-Subclass":"acd::x","Event-Name":"CUSTOM","Unique-ID":"u"}'),
            "CUSTOM",
            "acd::x",
        ),
        (plain_frame(b"Command: sendmsg\nEvent-Name: COMMAND\n\n"), "COMMAND", "COMMAND"),
        (plain_frame(b"Event-Name: A%20B\nUnique-ID: u\n\n"), "A B", "A B"),  # encoded
        (json_frame(b'{"Event-Name":"A\\u0020B","Unique-ID":"u"}'), "A B", "A B"),  # escaped
        (plain_frame(b"Event-Name: X"), "X", "X"),  # the name line runs to the body's end
        (plain_frame(b"Unique-ID: u\n\n"), None, None),  # no name at all
    ],
)
def test_events_outside_the_standard_layout_still_parse(
    frame: bytes, name: str | None, key: str | None
) -> None:
    """Their name is looked up when asked for (or the generic path frames them), with the
    same result whether the frame comes whole or split."""
    whole = Parser().feed(AUTH + frame + AUTH)
    assert [m.content_type for m in whole][::2] == ["auth/request", "auth/request"]
    event = whole[1]
    assert isinstance(event, Event) and event.name == name and event.dispatch_key == key
    assert event.raw_body == frame[frame.index(b"\n\n") + 2 :]
    split = Parser()
    cut = len(AUTH) + len(frame) - 3
    got = split.feed((AUTH + frame)[:cut]) + split.feed((AUTH + frame)[cut:])
    assert summary(got, decode=False) == summary(whole[:2], decode=False)
