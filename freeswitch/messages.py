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
  header lines and Content-Length;
* on the first ``headers`` / ``body`` / ``variables`` of an event: the structure of its own
  header block (``Name: value`` lines, the terminating blank line, the inner
  ``Content-Length``), and for JSON the syntax and value types;
* on ``get(name)`` or a typed attribute: nothing more (``sequence`` / ``timestamp_us`` check
  that the value is decimal). When the targeted search cannot decide alone (an inner
  Content-Length line comes before the match, or JSON with escapes, arrays or spaced
  formatting) it falls back to the full decode above, with all of its checks.

Each of these raises :class:`~freeswitch.errors.ProtocolError` with the stream offset.

Text is never checked for being UTF-8: FreeSWITCH does not promise it (channel data such as
a SIP display name can hold any byte; see :mod:`freeswitch.event_body`). Every name, value
and body is decoded on its own with ``surrogateescape``: bytes that are not UTF-8 become lone
surrogates (``"1000\\udcf1"`` for ``1000%F1``), the original bytes come back with
``text.encode("utf-8", "surrogateescape")``, and the command builders refuse such text, so
it cannot travel back into a command unnoticed.

An event built by the parser refers to the bytes that were fed to it rather than holding a
copy of its body, so keeping an event keeps that block of bytes (one ``feed`` argument, at
most one received chunk or one frame) alive; copy what you keep long-term.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast, overload

from freeswitch.errors import ProtocolError
from freeswitch.event_body import (
    Undecided,
    decode_json_event,
    decode_plain_headers,
    decode_value,
    find_json_value,
    json_keys,
    name_bytes,
    split_plain_body,
)

_EMPTY_FRAME: Mapping[str, str] = MappingProxyType({})


def _frozen(frame: Mapping[str, str]) -> Mapping[str, str]:
    return frame if isinstance(frame, MappingProxyType) else MappingProxyType(dict(frame))


def _text(raw: bytes) -> str:
    # A body is text from FreeSWITCH, not from a UTF-8 promise: keep every byte (module doc).
    return raw.decode("utf-8", "surrogateescape")


class Message:
    """One frame: ``content_type``, outer ``frame`` headers, ``raw_body`` (b"" if none).

    Unknown content types (and ``text/event-xml``, which the engine never subscribes to) are
    delivered as a plain :class:`Message`.
    """

    # ``received``: time.perf_counter() when the connection read the bytes it came in
    # (set by the reader; absent on messages built any other way).
    __slots__ = ("_content_type", "_frame", "_offset", "_raw_body", "received")
    received: float

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
            and self.raw_body == other.raw_body
            and dict(self.frame) == dict(other.frame)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._content_type, self.raw_body))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._content_type} {len(self.raw_body)} bytes>"


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
    """A message whose body is text, decoded when it is built (bytes that are not UTF-8
    become surrogates, see the module docstring)."""

    __slots__ = ("_text",)

    def __init__(
        self, content_type: str, frame: Mapping[str, str], raw_body: bytes, offset: int
    ) -> None:
        super().__init__(content_type, frame, raw_body, offset)
        self._text = _text(raw_body)

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
_PLAIN = "text/event-plain"

_Getter = Callable[["Event"], "str | None"]


class _HeaderAttribute(Protocol):
    """What a typed header attribute of :class:`Event` is to the type checker."""

    @overload
    def __get__(self, event: None, owner: type[Event], /) -> _HeaderAttribute: ...
    @overload
    def __get__(self, event: Event, owner: type[Event] | None = None, /) -> str | None: ...


def _header_getter(header: str) -> _Getter:
    """The function that reads ``header`` from an event (None when absent).

    In a plain event one regex search finds, whichever comes first, the header's line (after
    a newline: the byte before an event's body always is one, so the first line counts too)
    or an inner ``Content-Length`` line, past which the bytes may be the event's body rather
    than headers (the full decoder decides then), and cuts out the value: one C call is
    cheaper than separate searches and slicing.
    """
    search = re.compile(b"\n(?:" + re.escape(name_bytes(header)) + b": ([^\n]*)|Content-Length: )")
    find = search.search
    keys = json_keys(header)

    def get(event: Event) -> str | None:
        # The dispatch hot path: kept in one function on purpose (calls cost here).
        data = event._plain
        if data is None:  # a JSON event, or the headers are decoded already
            headers = event._headers
            if headers is not None:
                return headers.get(header)
            value = find_json_value(event._data, event._start, event._end, keys)
            return event._decode().get(header) if isinstance(value, Undecided) else value
        found = find(data, event._start - 1, event._end)
        if found is None:
            return None
        raw: bytes | None = found[1]
        if raw is None:  # an inner Content-Length line came first
            return event._decode().get(header)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return decode_value(raw)  # bytes that are not UTF-8: kept as surrogates
        if "%" in text:
            return decode_value(raw)
        return text

    return get


_GETTERS: dict[str, _Getter] = {}
_GETTERS_MAX = 1024  # get() with ever new names must not grow the cache without end


def _getter(header: str) -> _Getter:
    found = _GETTERS.get(header)
    if found is None:
        found = _header_getter(header)
        if len(_GETTERS) < _GETTERS_MAX:
            _GETTERS[header] = found
    return found


def _header_attr(header: str) -> _HeaderAttribute:
    # A property calling a closure: cheaper per access than a descriptor class's __get__.
    return cast(_HeaderAttribute, property(_getter(header), doc=f"``{header}`` or None."))


_event_name = _getter("Event-Name")


class Event(Message):
    """One FreeSWITCH event (``text/event-plain`` or ``text/event-json``).

    An event's outer frame holds only Content-Length and Content-Type (that is all
    mod_event_socket writes there); when the parser built the event, ``frame`` is rebuilt
    from the body's length on access.

    The raw body is ``_data[_start:_end]`` (the parser's bytes: a copy per body would cost
    more than the rest of framing), and ``_data[_start - 1]`` is always a newline.
    """

    __slots__ = ("_body", "_data", "_end", "_headers", "_name", "_plain", "_start", "_variables")

    def __init__(
        self,
        content_type: str,
        frame: Mapping[str, str] | None,
        raw_body: bytes,
        offset: int = 0,
    ) -> None:
        super().__init__(_JSON if content_type == _JSON else content_type, _EMPTY_FRAME)
        if frame is not None:
            self._frame = _frozen(frame)
        else:
            del self._frame
        self._offset = offset
        self._data = b"\n" + raw_body
        self._start = 1
        self._end = len(self._data)
        # _data while a plain event's headers are undecoded (the targeted lookups' case).
        self._plain: bytes | None = None if self._content_type is _JSON else self._data
        self._headers: dict[str, str] | None = None
        self._body: str
        self._name: str | None = _NOT_YET
        self._variables: Mapping[str, str]

    @property
    def raw_body(self) -> bytes:
        return self._data[self._start : self._end]

    @property
    def frame(self) -> Mapping[str, str]:
        try:  # the new_*_event constructors leave it unset: one store less per event
            frame: Mapping[str, str] | None = self._frame
        except AttributeError:
            frame = None
        if frame is None:
            length = str(self._end - self._start)
            frame = {"Content-Length": length, "Content-Type": self._content_type}
            frame = self._frame = MappingProxyType(frame)
        return frame

    # -- decoding ---------------------------------------------------------------------------

    def _decode(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            raw = self.raw_body
            if self._content_type is _JSON:
                headers, self._body = decode_json_event(raw, self._offset)
            else:
                header_end, body_start = split_plain_body(raw, self._offset)
                headers = decode_plain_headers(raw[:header_end], self._offset)
                inner = raw[body_start:]
                self._body = _text(inner) if inner else ""
            self._headers = headers
            self._plain = None
        return headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (URL-decoded), or ``default``."""
        value = (_GETTERS.get(name) or _getter(name))(self)
        return default if value is None else value

    @property
    def format(self) -> Literal["plain", "json"]:
        return "json" if self._content_type is _JSON else "plain"

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
            name = self._name = _event_name(self)
        return name

    @property
    def dispatch_key(self) -> str | None:
        """What handlers register for: ``Event-Subclass`` for CUSTOM events, else the name."""
        name = self._name
        if name is _NOT_YET:
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
            return f"<Event {self.format} undecodable, {self._end - self._start} bytes>"


_new = object.__new__


def new_plain_event(data: bytes, start: int, end: int, offset: int, name: bytes | None) -> Event:
    """The parser's fast constructor for a ``text/event-plain`` event, framed as usual.

    The body is ``data[start:end]``, at stream byte ``offset``; ``data[start - 1]`` must be a
    newline (the end of the frame's header block). ``name`` is the raw Event-Name the parser
    read between ASCII delimiters inside that body, or None: the name is then looked up (and
    decoded) on first access, as it is when the bytes read are escaped or not UTF-8.
    """
    event: Event = _new(Event)  # _frame, _body, _variables stay unset until first needed
    event._content_type = _PLAIN
    event._data = event._plain = data
    event._start = start
    event._end = end
    event._offset = offset
    event._headers = None
    if name is None:
        event._name = _NOT_YET
        return event
    try:
        text = name.decode()
    except UnicodeDecodeError:
        text = "%"
    event._name = text if "%" not in text else _NOT_YET
    return event


def new_json_event(data: bytes, start: int, end: int, offset: int, name: bytes | None) -> Event:
    """:func:`new_plain_event` for a ``text/event-json`` event."""
    event: Event = _new(Event)
    event._content_type = _JSON
    event._data = data
    event._plain = None
    event._start = start
    event._end = end
    event._offset = offset
    event._headers = None
    try:
        event._name = _NOT_YET if name is None else name.decode()
    except UnicodeDecodeError:
        event._name = _NOT_YET  # looked up (decoded with surrogateescape) on first access
    return event
