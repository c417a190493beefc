"""Sans-IO parser for the Event Socket byte stream that FreeSWITCH sends (server -> client).

``Parser().feed(data) -> list[Message]``: bytes in, messages out, no socket inside. Partial
frames stay buffered until the rest arrives, so any split of a stream yields the same messages.

Framing (mod_event_socket): header lines ``Name: value\\n``, one blank line, then exactly
``Content-Length`` body bytes if that header is present. Content types and what they become:

==========================  ===========================================================
``auth/request``            :class:`~freeswitch.messages.AuthRequest`
``command/reply``           :class:`~freeswitch.messages.CommandReply` (bgapi: ``job_uuid``)
``api/response``            :class:`~freeswitch.messages.ApiResponse`
``text/event-plain``        :class:`~freeswitch.messages.Event` (``format == "plain"``)
``text/event-json``         :class:`~freeswitch.messages.Event` (``format == "json"``)
``log/data``                :class:`~freeswitch.messages.LogData`
``text/disconnect-notice``  :class:`~freeswitch.messages.DisconnectNotice`
``text/rude-rejection``     :class:`~freeswitch.messages.RudeRejection`
anything else               :class:`~freeswitch.messages.Message` (generic, never an error),
                            including ``text/event-xml``, which FreeSWITCH can send but the
                            engine never subscribes to, and a frame with no Content-Type.
==========================  ===========================================================

Only a framing error raises :class:`~freeswitch.errors.ProtocolError`, naming what and the
byte offset in the stream: a header line without ``": "``, a Content-Length that is not a
plain decimal number (sign, spaces, empty) or is above ``max_frame_bytes``, and a header block
that grows past ``MAX_HEADER_BYTES`` without its terminating blank line (so a missing blank
line can never make the parser buffer forever). Buffered data is therefore bounded by
``MAX_HEADER_BYTES + max_frame_bytes`` plus one feed. After an error the parser refuses any
further input: the connection must be rebuilt.

Bytes are never a framing error. FreeSWITCH does not check that channel data is UTF-8, and
its bytes reach api bodies (``show channels as json``), JSON events and log lines raw, so a
well-formed frame always parses: every name, value and body is decoded on its own with
``surrogateescape`` when it is read (see :mod:`freeswitch.messages`). That includes header
names: the outer ones are mod_event_socket's own, and event header names can be channel
variable names, which FreeSWITCH writes unencoded and never checks (``variable_<name>``).

Events are framed here and decoded lazily; see :mod:`freeswitch.messages` for exactly which
checks happen in ``feed`` and which on first access of an event's headers. Repeated header
names keep the first value, like FreeSWITCH's own lookups (see :mod:`freeswitch.event_body`).
Blank lines between frames are skipped. Header names are case-sensitive here.

Speed: an event frame laid out as mod_event_socket writes it (``Content-Length``, then
``Content-Type``, a blank line, ``Event-Name`` first in the body) is matched by one regex that
also reads the name; no header dict is built for it, and the event refers to the bytes given
to ``feed`` instead of a copy of its body (so it keeps them alive; see
:class:`~freeswitch.messages.Event`). Only a frame split across two ``feed`` calls is copied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from freeswitch.errors import ProtocolError
from freeswitch.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    LogData,
    Message,
    RudeRejection,
    new_json_event,
    new_plain_event,
)

MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024
# Longer digit strings are refused before int() sees them (any such value is far too large).
_MAX_LENGTH_DIGITS = 15

_Builder = Callable[[Mapping[str, str], bytes, int], Message]
_BUILDERS: dict[str, _Builder] = {
    "auth/request": AuthRequest,
    "command/reply": CommandReply,
    "api/response": ApiResponse,
    "log/data": LogData,
    "text/disconnect-notice": DisconnectNotice,
    "text/rude-rejection": RudeRejection,
}
_EVENT_TYPES = frozenset(("text/event-plain", "text/event-json"))
# An event frame exactly as mod_event_socket writes it, matched in one C call so that the hot
# path skips the generic header parser (any other frame takes the generic path). Group 1 is
# the length. The first two patterns also read Event-Name (group 2) where FreeSWITCH writes
# it, first (a JSON name with an escape is left out; a plain one with a "%" escape is left to
# new_plain_event); the third takes the rest (CUSTOM events start with Event-Subclass), whose
# name is looked up when asked for. (Separate patterns because sre is markedly slower on a
# pattern with alternatives or optional groups.)
_LENGTH = b"Content-Length: ([0-9]{1,%d})\n" % _MAX_LENGTH_DIGITS
_PLAIN_EVENT = re.compile(_LENGTH + rb"Content-Type: text/event-plain\n\nEvent-Name: ([^\n]*)\n")
_JSON_EVENT = re.compile(_LENGTH + rb'Content-Type: text/event-json\n\n\{"Event-Name":"([^"\\]*)"')
_OTHER_EVENT = re.compile(_LENGTH + rb"Content-Type: text/event-(?:plain|(j)son)\n\n")
# The bytes after the length digits up to the body: "\nContent-Type: text/event-plain\n\n".
_PLAIN_TAIL = 33
_JSON_TAIL = 32

# Event lengths seen, by their digits: int() costs more than this lookup, and sizes repeat.
_LENGTHS: dict[bytes, int] = {}
_LENGTHS_MAX = 20_000


def _event_length(digits: bytes) -> int:
    length = int(digits)
    if len(_LENGTHS) < _LENGTHS_MAX:
        _LENGTHS[digits] = length
    return length


# What the hot path knows of an event frame whose body is still incomplete: where its body
# starts in the frame, whether it is JSON, and the Event-Name bytes read.
_PendingEvent = tuple[int, bool, bytes | None]


class Parser:
    """Frames the server -> client Event Socket stream into :class:`Message` objects."""

    __slots__ = ("_buf", "_consumed", "_error", "_event", "_max_frame", "_need", "_scan")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, not {max_frame_bytes}")
        self._max_frame = max_frame_bytes
        self._buf = bytearray()  # unconsumed bytes; self._buf[0] is stream byte self._consumed
        self._consumed = 0
        # While a body is incomplete: the buffer length that completes the frame, and for an
        # event frame what the hot path read of it. While a header block is incomplete:
        # _need is 0, and _scan is where to resume looking for its end.
        self._need = 0
        self._event: _PendingEvent | None = None
        self._scan = 0
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back as an incomplete frame."""
        return len(self._buf)

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet turned into a message."""
        return self._consumed

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message they complete, in stream order."""
        if self._error is not None:
            raise ProtocolError(
                f"parser stopped at an earlier protocol error ({self._error});"
                " rebuild the connection",
                self._error.offset,
            )
        out: list[Message] = []
        view = data if type(data) is bytes else bytes(data)
        start = 0
        try:
            buf = self._buf
            if buf and self._need:
                # A body was incomplete: finish that one frame from the first bytes of
                # `view`, then frame the rest of `view` in place instead of copying it.
                missing = self._need - len(buf)
                if len(view) < missing:
                    buf += view
                    return out
                buf += view[:missing]
                self._finish(bytes(buf), out)
                self._buf = bytearray()
                start = missing
            elif buf:
                buf += view
                if buf.find(b"\n\n", self._scan) < 0:
                    self._check_header_size(len(buf), self._consumed)
                    self._scan = len(buf) - 1
                    return out
                view = bytes(buf)
            elif not view:
                return out
            pos = self._frames(view, out, start)
        except ProtocolError as exc:
            exc.parsed = tuple(out)
            self._error = exc
            self._buf = bytearray()
            raise
        if pos < len(view):
            self._buf = bytearray(view[pos:])
        elif buf:
            self._buf = bytearray()
        self._consumed += pos - start
        return out

    def _finish(self, frame: bytes, out: list[Message]) -> None:
        """Append the message of ``frame``: the pending frame, now complete."""
        pending = self._event
        if pending is None:  # not an event frame in the standard layout: frame it afresh
            completed = self._frames(frame, out)
            assert completed == len(frame), "the pending frame ends where _need said"
        else:
            # An event frame: the hot path read its header already.
            self._event = None
            body_start, json, name = pending
            offset = self._consumed + body_start
            new = new_json_event if json else new_plain_event
            out.append(new(frame, body_start, len(frame), offset, name))
        self._consumed += len(frame)

    @staticmethod
    def _check_header_size(size: int, where: int) -> None:
        if size > MAX_HEADER_BYTES:
            raise ProtocolError(
                f"frame header at byte {where} has no terminating blank line within"
                f" {MAX_HEADER_BYTES} bytes",
                where,
            )

    def _frames(self, buf: bytes, out: list[Message], start: int = 0) -> int:
        """Append every complete frame in ``buf[start:]`` to ``out``; return where they end.

        ``buf[start]`` is stream byte ``self._consumed``. Events refer to ``buf`` itself
        rather than to a copy of their body (see :class:`~freeswitch.messages.Event`).
        """
        end = len(buf)
        base = self._consumed - start
        max_frame = self._max_frame
        append = out.append
        plain_match = _PLAIN_EVENT.match
        json_match = _JSON_EVENT.match
        other_match = _OTHER_EVENT.match
        lengths = _LENGTHS
        pos = start
        scan = self._scan
        self._scan = self._need = 0
        while pos < end:
            frame_match = plain_match(buf, pos)
            # Consecutive complete plain events: the common case, in a loop of its own.
            # Anything else about such a frame is left to the code below.
            while frame_match is not None:
                digits = frame_match[1]
                length = lengths.get(digits) or _event_length(digits)
                body_start = frame_match.end(1) + _PLAIN_TAIL
                body_end = body_start + length
                if body_end > end or length > max_frame or frame_match.end() > body_end:
                    break
                append(
                    new_plain_event(buf, body_start, body_end, base + body_start, frame_match[2])
                )
                pos = body_end
                frame_match = plain_match(buf, pos)
            if frame_match is not None:
                json, name = False, frame_match[2]
            elif pos == end:
                break
            else:
                frame_match = json_match(buf, pos)
                if frame_match is not None:
                    json, name = True, frame_match[2]
                else:
                    frame_match = other_match(buf, pos)
                    if frame_match is not None:
                        json, name = frame_match[2] is not None, None
            if frame_match is not None:  # any other event frame in the standard layout
                digits = frame_match[1]
                length = lengths.get(digits) or _event_length(digits)
                if length > max_frame:
                    self._length(digits, base + pos)  # raises, naming the value
                body_start = frame_match.end(1) + (_JSON_TAIL if json else _PLAIN_TAIL)
                body_end = body_start + length
                if name is not None and frame_match.end() > body_end:
                    name = None  # read past the body: not this event's name
                if body_end > end:
                    self._need = body_end - pos
                    self._event = (body_start - pos, json, name)
                    return pos
                new = new_json_event if json else new_plain_event
                append(new(buf, body_start, body_end, base + body_start, name))
                pos = body_end
                continue
            if buf[pos] == 10:  # a blank line between frames
                pos += 1
                continue
            head_end = buf.find(b"\n\n", scan if scan > pos else pos)
            scan = 0
            if head_end < 0:
                self._check_header_size(end - pos, base + pos)
                self._scan = end - pos - 1
                return pos
            self._check_header_size(head_end - pos, base + pos)
            frame = _frame_headers(buf[pos:head_end], base + pos)
            kind = frame.get("Content-Type", "")
            length_text = frame.get("Content-Length")
            length = 0 if length_text is None else self._length(length_text, base + pos)
            body_start = head_end + 2
            body_end = body_start + length
            if body_end > end:
                self._need = body_end - pos
                self._event = None
                return pos
            body = buf[body_start:body_end]
            if kind in _EVENT_TYPES:
                append(Event(kind, frame, body, base + body_start))
            else:
                builder = _BUILDERS.get(kind)
                if builder is None:
                    append(Message(kind, frame, body, base + body_start))
                else:
                    append(builder(frame, body, base + body_start))
            pos = body_end
        return pos

    def _length(self, text: bytes | str, where: int) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LENGTH_DIGITS:
            shown = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
            if text.isascii() and text.isdigit():
                problem = "is too large"
            else:
                problem = "is not a decimal number"
            raise ProtocolError(
                f"Content-Length {shown[:40]!r} {problem} (frame at byte {where})", where
            )
        length = int(text)
        if length > self._max_frame:
            raise ProtocolError(
                f"Content-Length {length} exceeds max_frame_bytes {self._max_frame}"
                f" (frame at byte {where})",
                where,
            )
        return length


def _frame_headers(head: bytes, where: int) -> Mapping[str, str]:
    """The outer header block of one frame as a read-only, first-wins mapping.

    Values are not URL-decoded here (mod_event_socket writes them as they are: a Reply-Text
    can echo a command's bytes), so bytes that are not UTF-8 are kept as surrogates.
    """
    text = head.decode("utf-8", "surrogateescape")
    frame: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            at = where + head.find(line.encode("utf-8", "surrogateescape"))
            raise ProtocolError(f"frame header line without ': ' ({line[:60]!r}) at byte {at}", at)
        if name not in frame:
            frame[name] = value
    return MappingProxyType(frame)
