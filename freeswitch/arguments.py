"""Validation and escaping of values that end up on an Event Socket command line.

Everything a command builder puts on a line passes through one of these functions, so
the rules live in one place. The rules follow how FreeSWITCH 1.10 itself splits its
command lines (``src/switch_utils.c``, ``switch_separate_string``):

* API arguments are split on spaces by ``separate_string_blank_delim``; each piece then
  goes through ``cleanup_separated_string``, which strips ``'single quotes'`` and turns
  ``\\s`` into a space, ``\\n``/``\\r``/``\\t`` into control characters, ``\\'`` and
  ``\\"`` into quotes and ``\\\\`` into a backslash. The recordings confirm ``\\s`` on
  ``uuid_broadcast`` (esl-captures/README.md). So a space is written as ``\\s``.
* ``originate``'s ``{var=value,...}`` block is parsed by ``switch_event_create_brackets``
  (``src/switch_event.c``, called from ``switch_ivr_originate.c``): it finds the closing
  brace with ``switch_find_end_paren``, which counts ``{``/``}`` and knows no escape, then
  splits on ``,`` with ``separate_string_char_delim``, where a backslash protects the
  next character and ``cleanup_separated_string`` turns ``\\,`` back into ``,``; then each
  piece is split once on ``=`` and cleaned *again*. So a comma is written ``\\,``, while a
  brace cannot be escaped at all.

Because quotes and backslashes are interpreted twice or more (blank split, comma split,
``=`` split, and the two cleanups differ between FreeSWITCH versions on unmatched
quotes), a value containing ``'``, ``"`` or ``\\`` cannot be written so that it reliably
arrives unchanged: such values are refused. ``$`` is refused too: FreeSWITCH expands
``${var}`` and ``${api args}`` in many places (channel variables, application data), so a
caller-supplied ``${system ...}`` must never reach it. Control characters (newline above
all: it ends an ESL command) are always refused.

Beyond ``{}`` and commas, FreeSWITCH gives these sequences a meaning wherever they appear:

* ``:_:`` (``SWITCH_ENT_ORIGINATE_DELIM``): ``switch_ivr_originate`` looks for it with
  ``strstr`` in the *whole* dial string before it parses ``{}``, and splits there into
  separate "enterprise" originates, losing the ``{}`` variables (``origination_uuid``
  included) and dialling whatever follows. It is refused in every value.
* ``ARRAY::`` at the start of a value: ``switch_event_add_header_string`` turns such a
  value into an array split on ``|:`` (and drops ``ARRAY::`` with nothing after it), so
  the channel variable would not hold the text sent. Refused at the start of a value.
* ``origination_nested_vars=true`` anywhere in a dial string (``switch_stristr``) turns off
  the check that keeps ``${...}`` out of the variables originate sets. Refused in
  originate values.
* ``|`` (failover), ``,`` (simultaneous legs), ``[...]`` (per-leg variables), ``<...>``
  (variables of every enterprise leg) and ``^^<c>`` (a custom separator) are read only at
  the start of the dial string or after the ``{}`` block has been consumed, so inside a
  ``{}`` value (``,`` escaped) they are plain text: tests/fs_split_model.py ports the
  parsing and a property test checks that such values arrive whole.

Text that is not UTF-8 (the parser keeps undecodable bytes as ``surrogateescape``
surrogates U+DC80..U+DCFF) is refused in every field: it cannot be written on the wire as
it was received, and it must not be sent back to FreeSWITCH as something else.
"""

from __future__ import annotations

import re
from enum import StrEnum

from freeswitch.errors import InvalidArgument

MAX_VALUE_LENGTH = 512

# Canonical FreeSWITCH uuids are 36-char hex with dashes, but origination_uuid and
# Event-UUID accept any string: allow a conservative token alphabet, never whitespace.
_UUID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_VAR_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,128}\Z")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_EXTENSION_RE = re.compile(r"[A-Za-z0-9_*#+][A-Za-z0-9_*#+.-]{0,127}\Z")
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")

# Characters refused in every value: see the module docstring for why each one.
_FORBIDDEN_IN_VALUES = frozenset("'\"\\$")
# Braces are refused in originate {} values only: switch_find_end_paren cannot skip them.
_FORBIDDEN_IN_BRACKETS = frozenset("{}")

ENTERPRISE_DELIMITER = ":_:"
"""``SWITCH_ENT_ORIGINATE_DELIM``: splits a dial string into separate originates."""
ARRAY_PREFIX = "ARRAY::"
"""A header value starting with this becomes an array (``switch_event_base_add_header``)."""
# switch_stristr: ASCII case-insensitive, so re.ASCII keeps e.g. the Kelvin sign out of it.
_NESTED_VARS_RE = re.compile(re.escape("origination_nested_vars=true"), re.IGNORECASE | re.ASCII)


class HangupCause(StrEnum):
    """FreeSWITCH's hang-up cause names (``CAUSE_CHART`` in ``src/switch_channel.c``)."""

    NONE = "NONE"
    UNALLOCATED_NUMBER = "UNALLOCATED_NUMBER"
    NO_ROUTE_TRANSIT_NET = "NO_ROUTE_TRANSIT_NET"
    NO_ROUTE_DESTINATION = "NO_ROUTE_DESTINATION"
    CHANNEL_UNACCEPTABLE = "CHANNEL_UNACCEPTABLE"
    CALL_AWARDED_DELIVERED = "CALL_AWARDED_DELIVERED"
    NORMAL_CLEARING = "NORMAL_CLEARING"
    USER_BUSY = "USER_BUSY"
    NO_USER_RESPONSE = "NO_USER_RESPONSE"
    NO_ANSWER = "NO_ANSWER"
    SUBSCRIBER_ABSENT = "SUBSCRIBER_ABSENT"
    CALL_REJECTED = "CALL_REJECTED"
    NUMBER_CHANGED = "NUMBER_CHANGED"
    REDIRECTION_TO_NEW_DESTINATION = "REDIRECTION_TO_NEW_DESTINATION"
    EXCHANGE_ROUTING_ERROR = "EXCHANGE_ROUTING_ERROR"
    DESTINATION_OUT_OF_ORDER = "DESTINATION_OUT_OF_ORDER"
    INVALID_NUMBER_FORMAT = "INVALID_NUMBER_FORMAT"
    FACILITY_REJECTED = "FACILITY_REJECTED"
    RESPONSE_TO_STATUS_ENQUIRY = "RESPONSE_TO_STATUS_ENQUIRY"
    NORMAL_UNSPECIFIED = "NORMAL_UNSPECIFIED"
    NORMAL_CIRCUIT_CONGESTION = "NORMAL_CIRCUIT_CONGESTION"
    NETWORK_OUT_OF_ORDER = "NETWORK_OUT_OF_ORDER"
    NORMAL_TEMPORARY_FAILURE = "NORMAL_TEMPORARY_FAILURE"
    SWITCH_CONGESTION = "SWITCH_CONGESTION"
    ACCESS_INFO_DISCARDED = "ACCESS_INFO_DISCARDED"
    REQUESTED_CHAN_UNAVAIL = "REQUESTED_CHAN_UNAVAIL"
    PRE_EMPTED = "PRE_EMPTED"
    FACILITY_NOT_SUBSCRIBED = "FACILITY_NOT_SUBSCRIBED"
    OUTGOING_CALL_BARRED = "OUTGOING_CALL_BARRED"
    INCOMING_CALL_BARRED = "INCOMING_CALL_BARRED"
    BEARERCAPABILITY_NOTAUTH = "BEARERCAPABILITY_NOTAUTH"
    BEARERCAPABILITY_NOTAVAIL = "BEARERCAPABILITY_NOTAVAIL"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BEARERCAPABILITY_NOTIMPL = "BEARERCAPABILITY_NOTIMPL"
    CHAN_NOT_IMPLEMENTED = "CHAN_NOT_IMPLEMENTED"
    FACILITY_NOT_IMPLEMENTED = "FACILITY_NOT_IMPLEMENTED"
    SERVICE_NOT_IMPLEMENTED = "SERVICE_NOT_IMPLEMENTED"
    INVALID_CALL_REFERENCE = "INVALID_CALL_REFERENCE"
    INCOMPATIBLE_DESTINATION = "INCOMPATIBLE_DESTINATION"
    INVALID_MSG_UNSPECIFIED = "INVALID_MSG_UNSPECIFIED"
    MANDATORY_IE_MISSING = "MANDATORY_IE_MISSING"
    MESSAGE_TYPE_NONEXIST = "MESSAGE_TYPE_NONEXIST"
    WRONG_MESSAGE = "WRONG_MESSAGE"
    IE_NONEXIST = "IE_NONEXIST"
    INVALID_IE_CONTENTS = "INVALID_IE_CONTENTS"
    WRONG_CALL_STATE = "WRONG_CALL_STATE"
    RECOVERY_ON_TIMER_EXPIRE = "RECOVERY_ON_TIMER_EXPIRE"
    MANDATORY_IE_LENGTH_ERROR = "MANDATORY_IE_LENGTH_ERROR"
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    INTERWORKING = "INTERWORKING"
    SUCCESS = "SUCCESS"
    ORIGINATOR_CANCEL = "ORIGINATOR_CANCEL"
    CRASH = "CRASH"
    SYSTEM_SHUTDOWN = "SYSTEM_SHUTDOWN"
    LOSE_RACE = "LOSE_RACE"
    MANAGER_REQUEST = "MANAGER_REQUEST"
    BLIND_TRANSFER = "BLIND_TRANSFER"
    ATTENDED_TRANSFER = "ATTENDED_TRANSFER"
    ALLOTTED_TIMEOUT = "ALLOTTED_TIMEOUT"
    USER_CHALLENGE = "USER_CHALLENGE"
    MEDIA_TIMEOUT = "MEDIA_TIMEOUT"
    PICKED_OFF = "PICKED_OFF"
    USER_NOT_REGISTERED = "USER_NOT_REGISTERED"
    PROGRESS_TIMEOUT = "PROGRESS_TIMEOUT"
    INVALID_GATEWAY = "INVALID_GATEWAY"
    GATEWAY_DOWN = "GATEWAY_DOWN"
    INVALID_URL = "INVALID_URL"
    INVALID_PROFILE = "INVALID_PROFILE"
    NO_PICKUP = "NO_PICKUP"


def _show(value: object) -> str:
    """A short printable rendering of a refused value for the error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_encodable(value: object, what: str) -> str:
    """Text that can be written as UTF-8: no surrogates.

    A byte that was not UTF-8 in what FreeSWITCH sent is kept by the parser as a
    ``surrogateescape`` surrogate (U+DC80..U+DCFF); such a value, or any other lone
    surrogate, is refused here rather than sent back as something else.

    Raises InvalidArgument naming ``what`` (also when ``value`` is not a ``str``).
    """
    if not isinstance(value, str):
        raise InvalidArgument(f"{what}: must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        if 0xDC80 <= code <= 0xDCFF:
            detail = f"byte 0x{code - 0xDC00:02X} that was not UTF-8"
        else:
            detail = f"lone surrogate U+{code:04X}"
        raise InvalidArgument(
            f"{what}: not UTF-8 text ({detail} at position {exc.start}) in {_show(value)}"
        ) from None
    return value


def _check_pattern(value: object, what: str, pattern: re.Pattern[str], rule: str) -> str:
    if isinstance(value, str):
        check_encodable(value, what)
        if pattern.match(value):
            return value
    raise InvalidArgument(f"{what}: {rule}: {_show(value)}")


def check_uuid(value: object, what: str = "uuid") -> str:
    """A channel/job uuid: letters, digits, ``-``, ``_``, ``.``; never whitespace."""
    return _check_pattern(value, what, _UUID_RE, "not a valid uuid")


def check_var_name(value: object, what: str = "variable name") -> str:
    """A channel variable name: ``[A-Za-z0-9_]+``."""
    return _check_pattern(value, what, _VAR_NAME_RE, "must match [A-Za-z0-9_]+")


def check_token(value: object, what: str) -> str:
    """A plain name (profile, context, gateway, macro): letters, digits, ``_.-``."""
    return _check_pattern(value, what, _TOKEN_RE, "must match [A-Za-z0-9_.-]+")


def check_extension(value: object, what: str = "extension") -> str:
    """A dialplan extension or user: letters, digits, ``*#+_.-``."""
    return _check_pattern(value, what, _EXTENSION_RE, "must match [A-Za-z0-9_*#+.-]+")


def check_header_name(value: object, what: str = "header name") -> str:
    """An event header name as used by ``filter``: letters, digits, ``-_``."""
    return _check_pattern(value, what, _HEADER_NAME_RE, "must match [A-Za-z0-9_-]+")


def check_printable(value: object, what: str, max_length: int = MAX_VALUE_LENGTH) -> str:
    """Any UTF-8 text without control characters (a newline would end the ESL command).

    Raises InvalidArgument naming ``what``.
    """
    text = check_encodable(value, what)
    if len(text) > max_length:
        raise InvalidArgument(f"{what}: longer than {max_length} characters")
    # isprintable() is False for C0/C1 controls and Unicode line/paragraph separators; the
    # whole-string test is one C call, the loop only finds the culprit for the message.
    if not text.isprintable():
        ch = next(c for c in text if not c.isprintable())
        raise InvalidArgument(f"{what}: control character {ch!r} in {_show(text)}")
    return text


def refuse_enterprise_delimiter(text: str, what: str) -> str:
    """Refuse ``:_:``, which FreeSWITCH finds anywhere in a dial string (module docstring)."""
    if ENTERPRISE_DELIMITER in text:
        raise InvalidArgument(
            f"{what}: ':_:' is not allowed (FreeSWITCH splits a dial string there "
            f"into separate originates): {_show(text)}"
        )
    return text


def refuse_array_value(text: str, what: str) -> str:
    """Refuse a value starting with ``ARRAY::``, which FreeSWITCH stores as an array."""
    if text.startswith(ARRAY_PREFIX):
        raise InvalidArgument(
            f"{what}: a value starting with 'ARRAY::' becomes a FreeSWITCH array: {_show(text)}"
        )
    return text


def refuse_structure(text: str, what: str) -> str:
    """Both refusals above: the sequences FreeSWITCH reads as structure in any value."""
    return refuse_array_value(refuse_enterprise_delimiter(text, what), what)


def check_value(value: object, what: str) -> str:
    """A free-text value (caller name, variable value): printable UTF-8 without the
    characters FreeSWITCH would reinterpret (quotes, backslash, ``$``) or the sequences it
    reads as structure (``:_:``, a leading ``ARRAY::``), not empty and without leading or
    trailing spaces (FreeSWITCH strips those silently).

    Raises InvalidArgument naming ``what``.
    """
    text = check_printable(value, what)
    if not text:
        raise InvalidArgument(f"{what}: must not be empty")
    if text != text.strip(" "):
        raise InvalidArgument(f"{what}: leading or trailing space in {_show(text)}")
    bad = _FORBIDDEN_IN_VALUES.intersection(text)
    if bad:
        raise InvalidArgument(f"{what}: character(s) {''.join(sorted(bad))!r} not allowed")
    return refuse_structure(text, what)


def escape_argument(value: object, what: str) -> str:
    """One space-separated API argument: a checked value with spaces written as ``\\s``."""
    return check_value(value, what).replace(" ", "\\s")


def escape_bracket_value(value: object, what: str) -> str:
    """A value inside ``originate``'s ``{...}``: spaces as ``\\s``, commas as ``\\,``;
    braces refused (``switch_find_end_paren`` knows no escape), and so is
    ``origination_nested_vars=true`` (any case), besides what :func:`check_value` refuses."""
    text = check_value(value, what)
    bad = _FORBIDDEN_IN_BRACKETS.intersection(text)
    if bad:
        raise InvalidArgument(f"{what}: braces are not allowed in {_show(text)}")
    if _NESTED_VARS_RE.search(text):
        raise InvalidArgument(
            f"{what}: 'origination_nested_vars=true' would switch off FreeSWITCH's check "
            f"for ${{...}} in originate variables: {_show(text)}"
        )
    return text.replace(",", "\\,").replace(" ", "\\s")


def render_value(value: str | int | bool) -> str:
    """FreeSWITCH spelling of a Python scalar: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def check_hangup_cause(value: object) -> HangupCause:
    """A hang-up cause from :class:`HangupCause` (given as the enum or its name)."""
    if isinstance(value, HangupCause):
        return value
    if isinstance(value, str):
        check_encodable(value, "hangup cause")
        try:
            return HangupCause(value)
        except ValueError:
            pass
    raise InvalidArgument(f"hangup cause: not a FreeSWITCH cause name: {_show(value)}")


def check_command_line(line: object, what: str = "command") -> str:
    """A whole single-line command as it goes on the wire: printable, not empty."""
    text = check_printable(line, what, max_length=64 * 1024)
    if not text.strip():
        raise InvalidArgument(f"{what}: empty")
    return text
