"""The server side of the Event Socket wire: frames exactly as mod_event_socket writes them.

Used by the simulator (and by tests that need byte-exact FreeSWITCH output). The layouts
are copied from the recordings in ``esl-captures/`` and from mod_event_socket.c:

- events: outer ``Content-Length`` *before* ``Content-Type: text/event-plain|json``; a plain
  body is ``Name: urlencode(value)`` lines, then either a blank line, or (with an inner body)
  ``Content-Length: M``, a blank line and the M body bytes;
- JSON events are one cJSON object with no trailing newline; an inner body becomes
  ``"Content-Length"`` and ``"_body"`` members;
- ``api/response`` puts ``Content-Length`` *after* ``Content-Type``;
- ``command/reply`` has no body; a ``bgapi`` reply adds a separate ``Job-UUID`` header.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from json.encoder import encode_basestring
from xml.sax.saxutils import escape as xml_escape

from freeswitch.errors import InvalidArgument

__all__ = [
    "DISCONNECT_GOODBYE",
    "DISCONNECT_SHUTDOWN",
    "RUDE_REJECTION_TEXT",
    "encode_api_response",
    "encode_auth_request",
    "encode_command_reply",
    "encode_disconnect_notice",
    "encode_event_json",
    "encode_event_plain",
    "encode_event_xml",
    "encode_rude_rejection",
    "url_encode",
]

DISCONNECT_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
DISCONNECT_SHUTDOWN = "The system is being shut down.\n"
RUDE_REJECTION_TEXT = "Access Denied, go away.\n"

# switch_utils.h SWITCH_URL_UNSAFE; bytes outside 0x20..0x7E are always encoded.
_URL_UNSAFE = '\r\n #%&+:;<=>?@[\\]^`{|}"'
_NEEDS_ENCODING = re.compile(r"[^\x21-\x7e]|[#%&+:;<=>?@\[\\\]^`{|}\"]")
_HEX = "0123456789ABCDEF"
_BYTE_TEXT = tuple(
    f"%{b:02X}" if b < 0x20 or b > 0x7E or chr(b) in _URL_UNSAFE else chr(b) for b in range(256)
)
_BAD_NAME = re.compile(r"[\r\n:]")
# FreeSWITCH handles bytes, not text: a str here may carry bytes that are not UTF-8 as
# surrogates (surrogateescape, as the parser decodes them); they go out as those bytes.
_BYTES = "surrogateescape"


@functools.lru_cache(maxsize=65536)
def url_encode(value: str) -> str:
    """Encode ``value`` like ``switch_url_encode``: byte by byte, uppercase ``%XX``.

    A ``%`` already followed by two uppercase hex digits is kept as it is (FreeSWITCH
    does not double-encode), so ``%3A`` stays ``%3A`` while ``%zz`` becomes ``%25zz``.
    """
    if not _NEEDS_ENCODING.search(value):
        return value
    raw = value.encode("utf-8", _BYTES)
    out: list[str] = []
    last = len(raw) - 1
    for i, b in enumerate(raw):
        if b == 0x25 and last - i > 1 and chr(raw[i + 1]) in _HEX and chr(raw[i + 2]) in _HEX:
            out.append("%")
        else:
            out.append(_BYTE_TEXT[b])
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _checked_name(name: str) -> str:
    if not name or _BAD_NAME.search(name):
        raise InvalidArgument(f"event header name {name!r} is empty or holds ':', CR or LF")
    return name


def _check_line(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise InvalidArgument(f"{what} {text!r} must be one line")
    return text


def encode_event_plain(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """One ``text/event-plain`` frame; duplicate header names are kept in order."""
    lines = [f"{_checked_name(name)}: {url_encode(value)}\n" for name, value in headers]
    if body:
        body_bytes = body.encode("utf-8", _BYTES)
        lines.append(f"Content-Length: {len(body_bytes)}\n\n")
        inner = "".join(lines).encode("utf-8", _BYTES) + body_bytes
    else:
        lines.append("\n")
        inner = "".join(lines).encode("utf-8", _BYTES)
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


def encode_event_json(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """One ``text/event-json`` frame: compact cJSON output, no trailing newline."""
    members = [
        f"{encode_basestring(_checked_name(name))}:{encode_basestring(value)}"
        for name, value in headers
    ]
    if body:
        members.append(f'"Content-Length":"{len(body.encode("utf-8", _BYTES))}"')
        members.append(f'"_body":{encode_basestring(body)}')
    inner = ("{" + ",".join(members) + "}").encode("utf-8", _BYTES)
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(inner) + inner


def encode_event_xml(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """A ``text/event-xml`` frame shaped like ``switch_event_xmlize`` output.

    Only an approximation (the engine subscribes in plain or json); header names are
    assumed to be valid XML element names, values are XML-escaped.
    """
    lines = ["<event>\n  <headers>\n"]
    for name, value in headers:
        element = _checked_name(name)
        lines.append(f"    <{element}>{xml_escape(value)}</{element}>\n")
    lines.append("  </headers>\n")
    if body:
        lines.append(f"  <Content-Length>{len(body.encode('utf-8', _BYTES))}</Content-Length>\n")
        lines.append(f"  <body>{xml_escape(body)}</body>\n")
    lines.append("</event>")
    inner = "".join(lines).encode("utf-8", _BYTES)
    return b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(inner) + inner


def encode_command_reply(text: str, job_uuid: str | None = None) -> bytes:
    """A ``command/reply``; with ``job_uuid`` the ``bgapi`` form (extra ``Job-UUID`` header)."""
    _check_line(text, "reply text")
    if job_uuid is None:
        return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode("utf-8", _BYTES)
    _check_line(job_uuid, "job uuid")
    reply = f"Content-Type: command/reply\nReply-Text: {text}\nJob-UUID: {job_uuid}\n\n"
    return reply.encode("utf-8", _BYTES)


def encode_api_response(body: str | bytes) -> bytes:
    """An ``api/response`` (Content-Type first, then Content-Length) with ``body`` as is."""
    data = body.encode("utf-8", _BYTES) if isinstance(body, str) else body
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def encode_auth_request() -> bytes:
    """The greeting FreeSWITCH sends on every new inbound connection."""
    return b"Content-Type: auth/request\n\n"


def encode_disconnect_notice(text: str = DISCONNECT_GOODBYE) -> bytes:
    """``text/disconnect-notice``; FreeSWITCH closes the socket right after it."""
    data = text.encode("utf-8")
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(data) + data


def encode_rude_rejection(text: str = RUDE_REJECTION_TEXT) -> bytes:
    """``text/rude-rejection`` (ACL refused the peer); sent instead of ``auth/request``."""
    data = text.encode("utf-8")
    return b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(data) + data
