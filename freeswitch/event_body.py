"""Decoding of one event's body (``text/event-plain`` and ``text/event-json``) into headers.

FreeSWITCH's rules, from ``switch_event.c`` / ``switch_utils.c`` and the recordings:

* plain: each header is ``Name: urlencode(value)\\n``; names are never encoded. The lines are
  split FIRST and only then is each value URL-decoded, so an encoded ``%0A`` inside a value
  stays inside that value and can never forge a header (greenswitch decodes the whole block
  first and is forgeable). A line is split at its first ``": "``; a line without one is a
  :class:`ProtocolError`.
* URL-decoding mirrors ``switch_url_decode``: ``%XX`` with two hex digits, upper or lower
  case, becomes that byte; anything else (``%`` not followed by two hex digits) is kept as
  is; ``+`` is NOT a space (FreeSWITCH encodes a space as ``%20`` and ``+`` as ``%2B``).
  Multi-byte UTF-8 is encoded byte by byte, so a value is decoded as UTF-8 only after
  URL-decoding.
* FreeSWITCH never checks that channel data is UTF-8 (a SIP display name or a dialled number
  can hold any byte): in plain events such a byte arrives %-encoded, in JSON events raw. Bytes
  that are not UTF-8 are therefore never an error: each name and value is decoded on its own
  with ``surrogateescape``, so every header of the event can be read, the original bytes are
  recoverable (``value.encode("utf-8", "surrogateescape")``), and a value that carries
  surrogates is recognisably not text (the command builders refuse it). Header names are
  treated like values: a plain event writes channel variable names unencoded
  (``variable_<name>``) and FreeSWITCH does not check those either. Only the structure of a
  body (a line without ``": "``, the blank line, the inner ``Content-Length``, JSON syntax and
  value types) raises :class:`ProtocolError`.
* Repeated header names: FreeSWITCH keeps every copy and its own lookups
  (``switch_event_get_header``, libesl's ``esl_event_get_header``) return the FIRST. Real
  events repeat names (``Hangup-Cause`` in CHANNEL_HANGUP_COMPLETE, the codec headers of
  CODEC, and a COMMAND event that carries ``Event-Name: COMMAND`` and later
  ``Event-Name: PRIVATE_COMMAND``), so the first one wins here too, in both formats.
* An array header is serialised in plain as one line ``ARRAY::a|:b`` (its ``value``); in JSON
  as a list of strings. A JSON list is turned into the same ``ARRAY::a|:b`` text (a one-item
  list into that item, as FreeSWITCH stores it) so both formats give equal headers.
* ``_undef_`` (what the plain serialiser writes for an empty value) is kept verbatim.
* A body (BACKGROUND_JOB's result) is written after the headers as ``Content-Length: M``, a
  blank line and M bytes; in JSON as ``"_body"`` (plus a ``"Content-Length"`` key). The
  ``Content-Length`` header stays among the headers in both formats, as FreeSWITCH has it.
"""

from __future__ import annotations

import codecs
import json
from itertools import repeat
from typing import Any

from freeswitch.errors import ProtocolError

_HEX_DIGITS = "0123456789abcdefABCDEF"
# Two-character escape -> byte, for every upper/lower-case mix, built once.
_HEX_BYTE: dict[bytes, bytes] = {
    (a + b).encode(): bytes([int(a + b, 16)]) for a in _HEX_DIGITS for b in _HEX_DIGITS
}

_INNER_LENGTH = b"\nContent-Length: "


def percent_decode(value: bytes) -> bytes:
    """Undo switch_url_encode on one value: ``%XX`` -> byte, anything else kept literally."""
    if b"%" not in value:
        return value
    pieces = value.split(b"%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        byte = _HEX_BYTE.get(piece[:2])
        if byte is None:
            out.append(b"%")
            out.append(piece)
        else:
            out.append(byte)
            out.append(piece[2:])
    return b"".join(out)


def decode_value(raw: bytes) -> str:
    """One URL-encoded value -> text; bytes that are not UTF-8 become surrogates (never fails)."""
    data = percent_decode(raw) if b"%" in raw else raw
    return data.decode("utf-8", "surrogateescape")


def name_bytes(name: str) -> bytes:
    """The bytes a header called ``name`` has on the wire (the inverse of the decoding here).

    A name with surrogates that ``surrogateescape`` cannot have produced (from ``"\\ud800"``,
    say) gets bytes that never occur in a decoded stream, so it is simply never found.
    """
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def split_plain_body(raw: bytes, base: int) -> tuple[int, int]:
    """Find where the header block of a plain event ends and its inner body starts.

    Returns ``(header_end, body_start)``: the header block is ``raw[:header_end]`` and the
    inner body ``raw[body_start:]`` (empty when the event has none). ``base`` is the stream
    offset of ``raw[0]``, used in error messages.
    """
    # The header block ends with the first blank line. An event with a body says so with an
    # inner "Content-Length: M" line right before that blank line; look for that line (a long
    # needle, fast) rather than for "\n\n" (slow to search and also common inside bodies).
    start = 0 if raw.startswith(_INNER_LENGTH[1:]) else raw.find(_INNER_LENGTH)
    while start >= 0:
        line_end = raw.find(b"\n", start + 1)
        if line_end < 0:
            break
        if raw[line_end + 1 : line_end + 2] == b"\n":
            digits = raw[raw.index(b": ", start) + 2 : line_end]
            body_start = line_end + 2
            # Bounded before int(): a huge digit string is wrong anyway, and slow to convert.
            if not (digits.isdigit() and len(digits) < 16) or int(digits) != len(raw) - body_start:
                raise ProtocolError(
                    f"event body: inner Content-Length {digits.decode(errors='replace')!r}"
                    f" but {len(raw) - body_start} bytes follow the headers"
                    f" at byte {base + start}",
                    base + start,
                )
            return line_end, body_start
        start = raw.find(_INNER_LENGTH, line_end)
    if raw.endswith(b"\n\n"):
        return len(raw) - 2, len(raw)
    blank = raw.find(b"\n\n")
    if blank >= 0:
        raise ProtocolError(
            "event body: bytes after the header block without an inner Content-Length"
            f" at byte {base + blank + 2}",
            base + blank + 2,
        )
    raise ProtocolError(
        f"event body: header block has no terminating blank line (event at byte {base})",
        base,
    )


def decode_plain_headers_slow(block: bytes, base: int) -> dict[str, str]:
    """Reference decoder for a plain header block: line by line, exact error positions."""
    headers: dict[str, str] = {}
    pos = 0
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b": ")
        where = base + pos
        if not sep:
            shown = line[:60].decode("utf-8", errors="replace")
            reason = "an empty line" if not line else f"a header line without ': ' ({shown!r})"
            raise ProtocolError(f"event body: {reason} at byte {where}", where)
        key = name.decode("utf-8", "surrogateescape")
        text = decode_value(value)
        if key not in headers:
            headers[key] = text
        pos += len(line) + 1
    return headers


def decode_plain_headers(block: bytes, base: int) -> dict[str, str]:
    """Decode a plain header block (``raw[:header_end]``) into a first-wins dict.

    Same result as :func:`decode_plain_headers_slow`, but in a handful of C-level passes over
    the whole block instead of Python work per line; anything unusual (a line without
    ``": "``) is handed to the slow decoder, which decides and reports; values with an
    escape that is not two hex digits or an encoded newline are decoded one by one.
    """
    # surrogateescape round-trips every byte, so the passes below see the raw bytes as they are.
    text = block.decode("utf-8", "surrogateescape")
    names, seps, values = zip(*map(str.partition, text.split("\n"), repeat(": ")), strict=True)
    if "" in seps:
        return decode_plain_headers_slow(block, base)
    if "%" in text:
        # All values URL-decoded in one C pass: escape_decode turns "\xXX" into a byte, so
        # protect real backslashes and turn each "%" into "\x". An escape that is not two hex
        # digits makes it fail; an encoded newline shows as an extra line. Both -> slow path.
        joined = "\n".join(values).encode("utf-8", "surrogateescape")
        escaped = joined.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
        try:
            unquoted = codecs.escape_decode(escaped)[0]
        except ValueError:
            unquoted = None
        decoded = (
            [] if unquoted is None else unquoted.decode("utf-8", "surrogateescape").split("\n")
        )
        if len(decoded) == len(values):
            values = tuple(decoded)
        else:
            # An encoded newline (an SDP in variable_switch_r_sdp: every CHANNEL_PARK of a
            # SIP call) or an escape that is not two hex digits: decode value by value.
            values = tuple(
                decode_value(value.encode("utf-8", "surrogateescape")) if "%" in value else value
                for value in values
            )
    headers = dict(zip(names, values, strict=True))
    if len(headers) != len(names):
        headers = {}
        for name, value in zip(names, values, strict=True):
            if name not in headers:
                headers[name] = value
    return headers


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        obj = {}
        for key, value in pairs:
            if key not in obj:
                obj[key] = value
    return obj


def _array_text(items: list[str]) -> str:
    """A JSON array header as FreeSWITCH stores it in ``header->value`` (and writes in plain)."""
    if len(items) > 1:
        return "ARRAY::" + "|:".join(items)
    return items[0] if items else ""


def decode_json_event(raw: bytes, base: int) -> tuple[dict[str, str], str]:
    """Decode a ``text/event-json`` body into ``(headers, body)``.

    cJSON copies bytes above 31 as they are, so the body is decoded with ``surrogateescape``
    before it is parsed: a value with bytes that are not UTF-8 keeps them as surrogates.
    """
    try:
        obj = json.loads(raw.decode("utf-8", "surrogateescape"), object_pairs_hook=_first_wins)
    except json.JSONDecodeError as exc:
        # pos counts characters; surrogateescape gives back one byte per escaped character.
        where = base + len(exc.doc[: exc.pos].encode("utf-8", "surrogateescape"))
        raise ProtocolError(
            f"event-json body is not JSON ({exc.msg}) at byte {where}", where
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit number, deep nesting
        raise ProtocolError(
            f"event-json body is not an event ({type(exc).__name__}: {str(exc)[:80]})"
            f" (event at byte {base})",
            base,
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"event-json body is not a JSON object (event at byte {base})", base)
    body = obj.pop("_body", "")
    if not isinstance(body, str):
        raise ProtocolError(f"event-json '_body' is not a string (event at byte {base})", base)
    if set(map(type, obj.values())) - {str}:
        for key, value in obj.items():
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                obj[key] = _array_text(value)
            elif not isinstance(value, str):
                raise ProtocolError(
                    f"event-json header {key!r} is {type(value).__name__}, not a string"
                    f" (event at byte {base})",
                    base,
                )
    return obj, body


class Undecided:
    """What a targeted lookup returns when only the full decoder can answer."""

    __slots__ = ()


UNDECIDED = Undecided()


def json_keys(header: str) -> tuple[bytes, bytes]:
    """How ``header`` starts a compact JSON object, and how it follows another member."""
    key = name_bytes(header)
    return b'{"' + key + b'":', b',"' + key + b'":'


def find_json_value(
    data: bytes, start: int, end: int, keys: tuple[bytes, bytes]
) -> str | Undecided | None:
    """The string value of a key (``keys`` from :func:`json_keys`) in the JSON event
    ``data[start:end]``, None when absent, or :data:`UNDECIDED`.

    Only compact JSON, as cJSON writes it (``{"k":"v","k2":"v2"}``), is trusted: a value with
    an escape, an array or a spaced layout is left to the full decoder (so is an absent key
    in spaced JSON, which this search cannot see). Bytes that are not UTF-8 are decoded with
    ``surrogateescape``, as the full decoder does.
    """
    at_start, after_comma = keys
    if data.startswith(at_start, start, end):
        found = start + len(at_start)
    else:
        found = data.find(after_comma, start, end)
        if found < 0:
            return None if _is_compact_json(data[start:end]) else UNDECIDED
        found += len(after_comma)
    if data.startswith(b'"', found, end):
        quote = data.find(b'"', found + 1, end)
        value = data[found + 1 : quote]
        if quote > 0 and b"\\" not in value:
            return value.decode("utf-8", "surrogateescape")
    return UNDECIDED


def _is_compact_json(raw: bytes) -> bool:
    """True when the object is written like cJSON's unformatted output: '{"k":"v","k2":...'."""
    if not raw.startswith(b'{"'):
        return False
    key_end = raw.find(b'"', 2)
    if key_end < 0 or raw[key_end + 1 : key_end + 3] != b':"':
        return False
    value_end = raw.find(b'"', key_end + 3)
    return value_end > 0 and raw[value_end + 1 : value_end + 3] in (b',"', b"}")
