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

Malformed input raises :class:`~freeswitch.errors.ProtocolError` naming what and the byte
offset in the stream: a header line without ``": "``, frame header bytes or body bytes that
are not UTF-8, a Content-Length that is not a plain decimal number (sign, spaces, empty) or is
above ``max_frame_bytes``, and a header block that grows past ``MAX_HEADER_BYTES`` without its
terminating blank line (so a missing blank line can never make the parser buffer forever).
Buffered data is therefore bounded by ``MAX_HEADER_BYTES + max_frame_bytes`` plus one feed.
After an error the parser refuses any further input: the connection must be rebuilt.

Events are framed here and decoded lazily; see :mod:`freeswitch.messages` for exactly which
checks happen in ``feed`` and which on first access of an event's headers. Repeated header
names keep the first value, like FreeSWITCH's own lookups (see :mod:`freeswitch.event_body`).
Blank lines between frames are skipped. Header names are case-sensitive here.
"""

from __future__ import annotations

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
    new_event,
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
# What mod_event_socket writes around an event's length; matching these exact bytes lets the
# hot path skip the generic header parser.
_LENGTH_PREFIX = b"Content-Length: "
_PLAIN_TAIL = b"\nContent-Type: text/event-plain\n\n"
_JSON_TAIL = b"\nContent-Type: text/event-json\n\n"


class Parser:
    """Frames the server -> client Event Socket stream into :class:`Message` objects."""

    __slots__ = ("_buf", "_consumed", "_error", "_max_frame", "_need", "_scan")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, not {max_frame_bytes}")
        self._max_frame = max_frame_bytes
        self._buf = bytearray()  # unconsumed bytes; self._buf[0] is stream byte self._consumed
        self._consumed = 0
        # While a body is incomplete: the buffer length that completes the frame. While a
        # header block is incomplete: 0, and _scan is where to resume looking for its end.
        self._need = 0
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
                completed = self._frames(bytes(buf), out)
                assert completed == len(buf), "the pending frame ends where _need said"
                self._consumed += completed
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
        self._buf = bytearray(view[pos:]) if pos < len(view) else bytearray()
        self._consumed += pos - start
        return out

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

        ``buf[start]`` is stream byte ``self._consumed``.
        """
        end = len(buf)
        base = self._consumed - start
        max_frame = self._max_frame
        append = out.append
        pos = start
        # One pass over the whole chunk spares a per-body check in the common all-ASCII case.
        ascii_only = buf.isascii()
        scan = self._scan
        self._scan = 0
        self._need = 0
        startswith = buf.startswith
        find = buf.find
        plain_tail, json_tail = _PLAIN_TAIL, _JSON_TAIL
        plain_tail_len, json_tail_len = len(_PLAIN_TAIL), len(_JSON_TAIL)
        window = 16 + _MAX_LENGTH_DIGITS + plain_tail_len
        while pos < end:
            # Hot path: an event frame exactly as mod_event_socket writes it.
            # Look for the exact tail right after at most _MAX_LENGTH_DIGITS digits: if the
            # bytes in between are not all digits, the generic path below decides.
            line_end = find(plain_tail, pos + 17, pos + window)
            if line_end > 0:
                kind = "text/event-plain"
                body_start = line_end + plain_tail_len
            else:
                line_end = find(json_tail, pos + 17, pos + window - 1)
                kind = "text/event-json"
                body_start = line_end + json_tail_len
            if line_end > 0 and startswith(b"Content-Length: ", pos):
                digits = buf[pos + 16 : line_end]
                if digits.isdigit():
                    length = int(digits)
                    if length > max_frame:
                        self._length(digits, base + pos)  # raises, naming the value
                    body_end = body_start + length
                    if body_end > end:
                        self._need = body_end - pos
                        return pos
                    body = buf[body_start:body_end]
                    if not ascii_only and not body.isascii():
                        _check_utf8(body, base + body_start)
                    append(new_event(kind, body, base + body_start))
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
                return pos
            body = buf[body_start:body_end]
            if not body.isascii():
                _check_utf8(body, base + body_start)
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


def _check_utf8(data: bytes, where: int) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = where + exc.start
        raise ProtocolError(
            f"frame body is not UTF-8 (byte {data[exc.start]:#04x}) at byte {at}", at
        ) from None


def _frame_headers(head: bytes, where: int) -> Mapping[str, str]:
    """The outer header block of one frame as a read-only, first-wins mapping."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = where + exc.start
        raise ProtocolError(
            f"frame header is not UTF-8 (byte {head[exc.start]:#04x}) at byte {at}", at
        ) from None
    frame: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            at = where + head.find(line.encode("utf-8"))
            raise ProtocolError(f"frame header line without ': ' ({line[:60]!r}) at byte {at}", at)
        if name not in frame:
            frame[name] = value
    return MappingProxyType(frame)
