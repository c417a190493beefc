"""Immutable messages that FreeSWITCH sends over the Event Socket, as the parser yields them.

Every message keeps its outer frame headers (``frame``) and its raw body bytes (``raw_body``);
the subclasses add typed, decoded views. Objects use ``__slots__`` and read-only properties
(they are created at a high rate) and compare equal when type, frame and body are equal.

:class:`Event` decodes lazily: the parser only frames it. ``get(name)`` and the typed
attributes (``name``, ``uuid``, ...: what a dispatcher needs) find their one header with a
targeted search in the raw body and decode only that value; ``headers``, ``body`` and
``variables`` decode the whole header block once and cache it (later lookups read the cache).
What is checked where:

* in :meth:`Parser.feed <freeswitch.parser.Parser.feed>`, eagerly: the framing, the outer
  header lines, Content-Length, and that every raw byte of every frame is UTF-8;
* on the first ``headers`` / ``body`` / ``variables`` of an event: all of its own header
  lines (``Name: value``, the terminating blank line, the inner ``Content-Length``), the JSON
  syntax and value types, and that every URL-decoded value is UTF-8;
* on ``get(name)`` or a typed attribute: that the value read is UTF-8 once URL-decoded (and
  for ``sequence`` / ``timestamp_us``, decimal). When the targeted search cannot decide alone
  (the match lies after an inner Content-Length line, or JSON with escapes, arrays or spaced
  formatting) it falls back to the full decode above, with all of its checks.

Each of these raises :class:`~freeswitch.errors.ProtocolError` with the stream offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, overload

from freeswitch.errors import ProtocolError
from freeswitch.event_body import (
    decode_json_event,
    decode_plain_headers,
    decode_value,
    split_plain_body,
)

_EMPTY_FRAME: Mapping[str, str] = MappingProxyType({})


def _frozen(frame: Mapping[str, str]) -> Mapping[str, str]:
    return frame if isinstance(frame, MappingProxyType) else MappingProxyType(dict(frame))


def _text(raw: bytes, offset: int, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = offset + exc.start
        raise ProtocolError(f"{what} body is not UTF-8 at byte {where}", where) from None


class Message:
    """One frame: ``content_type``, outer ``frame`` headers, ``raw_body`` (b"" if none).

    Unknown content types (and ``text/event-xml``, which the engine never subscribes to) are
    delivered as a plain :class:`Message`.
    """

    __slots__ = ("_content_type", "_frame", "_offset", "_raw_body")

    def __init__(
        self,
        content_type: str,
        frame: Mapping[str, str],
        raw_body: bytes = b"",
        offset: int = 0,
    ) -> None:
        self._content_type = content_type
        self._frame = _frozen(frame)
        self._raw_body = raw_body
        self._offset = offset

    @property
    def content_type(self) -> str:
        return self._content_type

    @property
    def frame(self) -> Mapping[str, str]:
        return self._frame

    @property
    def raw_body(self) -> bytes:
        return self._raw_body

    @property
    def offset(self) -> int:
        """Byte offset of this frame's body in the stream fed to the parser (for errors)."""
        return self._offset

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Message)
        return (
            self._content_type == other._content_type
            and self._raw_body == other._raw_body
            and dict(self.frame) == dict(other.frame)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._content_type, self._raw_body))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._content_type} {len(self._raw_body)} bytes>"


class AuthRequest(Message):
    """``auth/request``: the server waits for ``auth <password>``."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("auth/request", frame, raw_body, offset)


class CommandReply(Message):
    """``command/reply``: the answer to every command except ``api``."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("command/reply", frame, raw_body, offset)

    @property
    def reply_text(self) -> str:
        """``Reply-Text`` ("" if FreeSWITCH sent none, which makes ``ok`` false)."""
        return self._frame.get("Reply-Text", "")

    @property
    def job_uuid(self) -> str | None:
        """``Job-UUID`` of a ``bgapi`` reply; None for other commands."""
        return self._frame.get("Job-UUID")

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")

    def __repr__(self) -> str:
        return f"<CommandReply {self.reply_text!r}>"


class _TextMessage(Message):
    """A message whose body is text, decoded (and checked as UTF-8) when it is built."""

    __slots__ = ("_text",)

    def __init__(
        self, content_type: str, frame: Mapping[str, str], raw_body: bytes, offset: int
    ) -> None:
        super().__init__(content_type, frame, raw_body, offset)
        self._text = _text(raw_body, offset, content_type)

    @property
    def text(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._text[:60]!r}>"


class ApiResponse(_TextMessage):
    """``api/response``: ``text`` is what the API command printed."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("api/response", frame, raw_body, offset)

    @property
    def ok(self) -> bool:
        return self._text.startswith("+OK")


class LogData(_TextMessage):
    """``log/data`` (after the ``log`` command): one log line and its ``Log-Level``."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("log/data", frame, raw_body, offset)

    @property
    def level(self) -> int | None:
        level = self._frame.get("Log-Level", "")
        return int(level) if level.isascii() and level.isdigit() and len(level) < 4 else None


class DisconnectNotice(_TextMessage):
    """``text/disconnect-notice``: the server is closing (``linger``: it will wait first)."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("text/disconnect-notice", frame, raw_body, offset)

    @property
    def linger(self) -> bool:
        return self._frame.get("Content-Disposition") == "linger"


class RudeRejection(_TextMessage):
    """``text/rude-rejection``: refused by ACL before any auth/request; the socket closes."""

    __slots__ = ()

    def __init__(self, frame: Mapping[str, str], raw_body: bytes = b"", offset: int = 0) -> None:
        super().__init__("text/rude-rejection", frame, raw_body, offset)


_NOT_YET: Any = object()
_JSON = "text/event-json"


class _Header:
    """A typed attribute of :class:`Event` that reads one header (None when absent).

    It holds the byte patterns that find the header in a raw body: at the start of a plain
    body, after a newline, and as a key at the start / in the middle of a compact JSON object.
    """

    __slots__ = ("after_newline", "at_start", "header", "json_after_comma", "json_at_start")

    def __init__(self, header: str) -> None:
        key = header.encode("utf-8")
        self.header = header
        self.at_start = key + b": "
        self.after_newline = b"\n" + key + b": "
        self.json_at_start = b'{"' + key + b'":'
        self.json_after_comma = b',"' + key + b'":'

    @overload
    def __get__(self, event: None, owner: type[Event]) -> _Header: ...
    @overload
    def __get__(self, event: Event, owner: type[Event]) -> str | None: ...
    def __get__(self, event: Event | None, owner: type[Event]) -> str | _Header | None:
        # The dispatch hot path: kept in one function on purpose (calls cost here).
        if event is None:
            return self
        headers = event._headers
        if headers is not None:
            return headers.get(self.header)
        if event._json:
            return event._find_json(self)
        raw = event._raw_body
        if raw.startswith(self.at_start):
            start = len(self.at_start)
        else:
            found = raw.find(self.after_newline)
            if found < 0:
                return None
            # Past an inner "Content-Length" line the bytes may be the event's body, not a
            # header: let the full decoder decide then.
            if raw.find(b"\nContent-Length: ", 0, found) >= 0:
                return event._decode().get(self.header)
            start = found + len(self.after_newline)
        end = raw.find(b"\n", start)
        value = raw[start:end] if end >= 0 else raw[start:]
        try:
            text = value.decode()
        except UnicodeDecodeError:
            text = "%"  # decode_value below raises it, located
        if "%" in text:
            return decode_value(value, event._offset + start, self.header)
        return text


_HEADER_ATTRS: dict[str, _Header] = {}


_HEADER_ATTRS_MAX = 1024  # get() with ever new names must not grow the cache without end


def _header_attr(name: str) -> _Header:
    found = _HEADER_ATTRS.get(name)
    if found is None:
        found = _Header(name)
        if len(_HEADER_ATTRS) < _HEADER_ATTRS_MAX:
            _HEADER_ATTRS[name] = found
    return found


_EVENT_NAME = _header_attr("Event-Name")


class Event(Message):
    """One FreeSWITCH event (``text/event-plain`` or ``text/event-json``).

    An event's outer frame holds only Content-Length and Content-Type (that is all
    mod_event_socket writes there); when the parser built the event, ``frame`` is rebuilt
    from the body's length on access.
    """

    __slots__ = ("_body", "_headers", "_json", "_name", "_variables")

    def __init__(
        self,
        content_type: str,
        frame: Mapping[str, str] | None,
        raw_body: bytes,
        offset: int = 0,
    ) -> None:
        super().__init__(content_type, _EMPTY_FRAME, raw_body, offset)
        if frame is not None:
            self._frame = _frozen(frame)
        else:
            del self._frame
        self._json = content_type == _JSON
        self._headers: dict[str, str] | None = None
        self._body: str
        self._name: str | None = _NOT_YET
        self._variables: Mapping[str, str]

    @property
    def frame(self) -> Mapping[str, str]:
        try:  # new_event leaves these slots unset: fewer stores per event on the hot path
            frame: Mapping[str, str] | None = self._frame
        except AttributeError:
            frame = None
        if frame is None:
            frame = self._frame = MappingProxyType(
                {"Content-Length": str(len(self._raw_body)), "Content-Type": self._content_type}
            )
        return frame

    # -- decoding ---------------------------------------------------------------------------

    def _decode(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            raw = self._raw_body
            if self._json:
                headers, self._body = decode_json_event(raw, self._offset)
            else:
                header_end, body_start = split_plain_body(raw, self._offset)
                headers = decode_plain_headers(raw[:header_end], self._offset)
                inner = raw[body_start:]
                self._body = _text(inner, self._offset + body_start, "event") if inner else ""
            self._headers = headers
        return headers

    def _find_json(self, attr: _Header) -> str | None:
        raw = self._raw_body
        if raw.startswith(attr.json_at_start):
            start = len(attr.json_at_start)
        else:
            found = raw.find(attr.json_after_comma)
            if found < 0:
                # Absent -- unless the producer wrote spaced JSON ('"k": "v"'), which the
                # targeted search cannot see: only compact JSON (what cJSON writes) is trusted.
                return None if _is_compact_json(raw) else self._decode().get(attr.header)
            start = found + len(attr.json_after_comma)
        if raw[start : start + 1] == b'"':
            end = raw.find(b'"', start + 1)
            value = raw[start + 1 : end]
            if end > 0 and b"\\" not in value:
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    pass  # the full decoder reports it with its position
        return self._decode().get(attr.header)  # escapes, arrays, malformed: full decoder

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (URL-decoded), or ``default``."""
        headers = self._headers
        if headers is not None:
            value = headers.get(name)
        else:
            value = (_HEADER_ATTRS.get(name) or _header_attr(name)).__get__(self, Event)
        return default if value is None else value

    @property
    def format(self) -> Literal["plain", "json"]:
        return "json" if self._json else "plain"

    @property
    def headers(self) -> Mapping[str, str]:
        """Every event header, URL-decoded; decoded on first access and cached."""
        return MappingProxyType(self._decode())

    @property
    def body(self) -> str:
        """The event's own body (BACKGROUND_JOB's result), "" if none."""
        self._decode()  # sets _body
        return self._body

    @property
    def variables(self) -> Mapping[str, str]:
        """All ``variable_*`` headers with the prefix stripped."""
        try:
            return self._variables
        except AttributeError:
            self._variables = MappingProxyType(
                {k[9:]: v for k, v in self._decode().items() if k.startswith("variable_")}
            )
            return self._variables

    # -- typed attributes -------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """``Event-Name``."""
        name = self._name
        if name is _NOT_YET:
            name = self._name = _EVENT_NAME.__get__(self, Event)
        return name

    @property
    def dispatch_key(self) -> str | None:
        """What handlers register for: ``Event-Subclass`` for CUSTOM events, else the name."""
        name = self.name
        return self.subclass if name == "CUSTOM" else name

    subclass = _header_attr("Event-Subclass")
    uuid = _header_attr("Unique-ID")
    call_uuid = _header_attr("Channel-Call-UUID")
    other_leg = _header_attr("Other-Leg-Unique-ID")
    caller_number = _header_attr("Caller-Caller-ID-Number")
    caller_name = _header_attr("Caller-Caller-ID-Name")
    destination = _header_attr("Caller-Destination-Number")
    hangup_cause = _header_attr("Hangup-Cause")
    dtmf_digit = _header_attr("DTMF-Digit")
    application = _header_attr("Application")
    application_data = _header_attr("Application-Data")
    application_response = _header_attr("Application-Response")
    application_uuid = _header_attr("Application-UUID")
    playback_status = _header_attr("Playback-Status")
    playback_file = _header_attr("Playback-File-Path")
    job_uuid = _header_attr("Job-UUID")
    job_command = _header_attr("Job-Command")
    core_uuid = _header_attr("Core-UUID")
    channel_state = _header_attr("Channel-State")
    answer_state = _header_attr("Answer-State")
    call_direction = _header_attr("Call-Direction")

    def _number(self, header: str) -> int | None:
        value = self.get(header)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 20):  # 20: any uint64
            raise ProtocolError(
                f"event header {header!r} is {value[:40]!r}, not a decimal number"
                f" (event at byte {self._offset})",
                self._offset,
            )
        return int(value)

    @property
    def sequence(self) -> int | None:
        """``Event-Sequence``: a global counter that restarts when FreeSWITCH restarts."""
        return self._number("Event-Sequence")

    @property
    def timestamp_us(self) -> int | None:
        """``Event-Date-Timestamp``, epoch microseconds."""
        return self._number("Event-Date-Timestamp")

    def __repr__(self) -> str:
        try:
            return f"<Event {self.format} {self.dispatch_key} uuid={self.uuid}>"
        except ProtocolError:
            return f"<Event {self.format} undecodable, {len(self._raw_body)} bytes>"


def _is_compact_json(raw: bytes) -> bool:
    """True when the object is written like cJSON's unformatted output: '{"k":"v","k2":...'."""
    if not raw.startswith(b'{"'):
        return False
    key_end = raw.find(b'"', 2)
    if key_end < 0 or raw[key_end + 1 : key_end + 3] != b':"':
        return False
    value_end = raw.find(b'"', key_end + 3)
    return value_end > 0 and raw[value_end + 1 : value_end + 3] in (b',"', b"}")


_new = object.__new__


def new_event(content_type: str, raw_body: bytes, offset: int) -> Event:
    """The parser's fast constructor for an event whose frame holds only length and type.

    FreeSWITCH writes Event-Name first (CUSTOM events: after Event-Subclass); when it is, the
    name is read here, while the body is hot in the cache, rather than by a later lookup.
    """
    event: Event = _new(Event)  # _frame, _body, _variables stay unset until first needed
    event._content_type = content_type
    event._raw_body = raw_body
    event._offset = offset
    event._headers = None
    # Anything unusual (an escape, no line end, bad bytes) is left to the lazy lookup.
    name = _NOT_YET
    if content_type == _JSON:
        event._json = True
        if raw_body.startswith(b'{"Event-Name":"'):
            end = raw_body.find(b'"', 15)
            value = raw_body[15:end]
            if end > 0 and 92 not in value:  # 92: a backslash escape
                try:  # not contextlib.suppress: this runs for every event
                    name = value.decode()
                except UnicodeDecodeError:
                    name = _NOT_YET
    else:
        event._json = False
        if raw_body.startswith(b"Event-Name: "):
            end = raw_body.find(b"\n", 12)
            value = raw_body[12:end]
            if end > 0 and 37 not in value:  # 37: a "%" escape
                try:
                    name = value.decode()
                except UnicodeDecodeError:
                    name = _NOT_YET
    event._name = name
    return event
