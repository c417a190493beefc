"""Typed builders for the Event Socket commands an ACD sends.

Builders return an :class:`ApiCommand` (for ``client.api``/``client.bgapi``) or a
:class:`SendMsg` (for ``client.send``). Every argument is validated, and escaped where
FreeSWITCH has a real escaping mechanism (see :mod:`freeswitch.arguments` for the
mechanisms and the FreeSWITCH source they come from); anything else is refused with
:class:`~freeswitch.errors.InvalidArgument`, so nothing a caller typed or sent
(caller ID, digits, variables) can add a line or an argument to a command, or change its
structure: no second leg, failover target or enterprise originate (``:_:``), no other
variable, application or hang-up. Text that was not UTF-8 is refused in every field.
tests/test_commands_structure.py checks this by property against a port of FreeSWITCH's
own parsing (tests/fs_split_model.py).
The forms are the ones the recordings in esl-captures show FreeSWITCH 1.10.12 accepting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from freeswitch.arguments import (
    HangupCause,
    check_encodable,
    check_extension,
    check_hangup_cause,
    check_printable,
    check_token,
    check_uuid,
    check_var_name,
    escape_argument,
    escape_bracket_value,
    refuse_array_value,
    refuse_structure,
    render_value,
)
from freeswitch.errors import CommandFailed, InvalidArgument
from freeswitch.media import Media, Playable

_WHITESPACE_RE = re.compile(r"\s")
_COMMAND_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_APP_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")

_USER_RE = re.compile(r"user/[A-Za-z0-9_.+-]{1,64}(?:@[A-Za-z0-9.-]{1,253})?\Z")
_SOFIA_GATEWAY_RE = re.compile(r"sofia/gateway/[A-Za-z0-9_.-]{1,64}/\+?[0-9*#]{1,32}\Z")
_SOFIA_RE = re.compile(
    r"sofia/[A-Za-z0-9_.-]{1,64}/"
    r"(?:sips?:)?[A-Za-z0-9_.+!~*-]{1,64}@"
    r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?"
    r"(?:;[A-Za-z0-9_.-]{1,32}(?:=[A-Za-z0-9_.-]{1,64})?){0,8}\Z"
)
_LOOPBACK_RE = re.compile(
    r"loopback/[A-Za-z0-9_*#+.-]{1,64}(?:/[A-Za-z0-9_.-]{1,64}(?:/[A-Za-z0-9_]{1,16})?)?\Z"
)
_TERMINATORS_RE = re.compile(r"(?:[0-9*#]{1,12}|none)\Z")
# Digit patterns for play_and_get_digits: a backslash only as "\d" (other escapes would be
# rewritten by FreeSWITCH's argument split), never "$" (variable expansion).
_DIGIT_REGEX_RE = re.compile(r"(?:[0-9\[\]|*#^()+?{},.-]|\\d){1,128}\Z")

# Backslash sequences that switch_channel_expand_variables rewrites in application data
# (it drops the backslash of "\\$" and "\\\\", and "\\'" disappears entirely).
_REWRITTEN_ESCAPES = ("\\$", "\\'", "\\\\")
# mod_event_socket reads a body after a content-length header; SendMsg never sends one.
_BODY_HEADERS = frozenset({"content-length"})

# Variables the originate builder sets from its own keyword arguments.
_RESERVED_ORIGINATE_VARS = frozenset(
    {
        "origination_uuid",
        "originate_timeout",
        "ignore_early_media",
        "origination_caller_id_name",
        "origination_caller_id_number",
    }
)

Leg = Literal["aleg", "bleg", "both", "holdb"]


@dataclass(frozen=True, slots=True)
class ApiCommand:
    """An API command and its already-escaped arguments; ``str()`` gives the line."""

    name: str
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.name, str):
            check_encodable(self.name, "api command name")
        if not isinstance(self.name, str) or not _COMMAND_NAME_RE.match(self.name):
            raise InvalidArgument(f"api command name: {self.name!r}")
        for arg in self.args:
            # Arguments are space-separated: one containing whitespace would become two.
            if not isinstance(arg, str) or not arg or _WHITESPACE_RE.search(arg):
                raise InvalidArgument(f"{self.name}: argument {arg!r} is empty or has whitespace")
            check_printable(arg, f"{self.name} argument", max_length=8192)

    @property
    def line(self) -> str:
        return " ".join((self.name, *self.args))

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True, slots=True)
class SendMsg:
    """A ``sendmsg <uuid>`` command with its header lines (``client.send`` sends it).

    Each header must arrive as written: mod_event_socket's ``read_packet`` strips the
    spaces that start a value, ``switch_event_add_header_string`` drops an empty value and
    turns one starting with ``ARRAY::`` into an array, a second header of the same name
    (any case) is shadowed by the first, and ``Content-Length`` would make FreeSWITCH read
    the next command as a body; all of these are refused with InvalidArgument.
    """

    uuid: str
    headers: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        check_uuid(self.uuid)
        seen: set[str] = set()
        for name, value in self.headers:
            if isinstance(name, str):
                check_encodable(name, "sendmsg header name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", name):
                raise InvalidArgument(f"sendmsg: bad header name {name!r}")
            key = name.lower()
            if key in seen:
                raise InvalidArgument(f"sendmsg: header {name} given twice")
            if key in _BODY_HEADERS:
                raise InvalidArgument(f"sendmsg: header {name} is not allowed (no body is sent)")
            seen.add(key)
            what = f"sendmsg header {name}"
            text = check_printable(value, what, max_length=4096)
            if not text or text.startswith(" "):
                raise InvalidArgument(f"{what}: empty or starts with a space: {text!r}")
            refuse_array_value(text, what)

    @property
    def text(self) -> str:
        lines = [f"sendmsg {self.uuid}", *(f"{name}: {value}" for name, value in self.headers)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text


def check_dial_string(endpoint: object) -> str:
    """``user/<ext>[@domain]``, ``sofia/<profile>/<sip uri>``,
    ``sofia/gateway/<gw>/<number>`` or ``loopback/<ext>[/<context>]``.

    One target only: the patterns leave out every character of FreeSWITCH's dial-string
    syntax (``|``, ``,``, ``{}``, ``<>``, ``^``, ``'``, ``$``, spaces) except the ``[...]``
    of an IPv6 host, which is harmless inside the target; no pattern can form ``:_:``.
    Raises InvalidArgument.
    """
    if isinstance(endpoint, str):
        check_encodable(endpoint, "dial string")
        for pattern in (_USER_RE, _SOFIA_GATEWAY_RE, _SOFIA_RE, _LOOPBACK_RE):
            if pattern.match(endpoint):
                return endpoint
    raise InvalidArgument(f"dial string: not an allowed endpoint: {endpoint!r}")


def originate(
    endpoint: str,
    *,
    uuid: str | None = None,
    ignore_early_media: bool | None = None,
    timeout: int | None = None,
    caller_id_name: str | None = None,
    caller_id_number: str | None = None,
    variables: Mapping[str, str | int | bool] | None = None,
    extension: str | None = None,
    context: str | None = None,
) -> ApiCommand:
    """``originate {vars}<endpoint> &park()`` (or ``<extension> XML <context>``).

    Send it with ``bgapi``: a plain ``api originate`` blocks the connection until the
    leg answers or fails. Variable values are escaped for the ``{}`` block; values that
    FreeSWITCH would read as structure are refused (:mod:`freeswitch.arguments`).
    Variable names are compared as FreeSWITCH does, without regard to case: a name given
    twice, or one of the names set by the keyword arguments, is refused. ``undef`` (any
    case) is refused as extension or context: mod_commands reads it as "not given".
    Values are data: do not reference these variables inside directory dial-strings,
    where FreeSWITCH would expand and re-parse them.
    Raises InvalidArgument naming the field.
    """
    # (variable, value, what the error message calls it)
    pairs: list[tuple[str, object, str]] = []
    if uuid is not None:
        pairs.append(("origination_uuid", check_uuid(uuid, "origination_uuid"), "uuid"))
    if ignore_early_media is not None:
        early = render_value(bool(ignore_early_media))
        pairs.append(("ignore_early_media", early, "ignore_early_media"))
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 3600:
            raise InvalidArgument(f"originate_timeout: must be 1..3600 seconds: {timeout!r}")
        pairs.append(("originate_timeout", str(timeout), "timeout"))
    if caller_id_name is not None:
        pairs.append(("origination_caller_id_name", caller_id_name, "caller_id_name"))
    if caller_id_number is not None:
        pairs.append(("origination_caller_id_number", caller_id_number, "caller_id_number"))
    seen = {name for name, _, _ in pairs}
    for name, value in (variables or {}).items():
        check_var_name(name, "originate variable name")
        if name.lower() in _RESERVED_ORIGINATE_VARS:
            raise InvalidArgument(f"originate: set {name} with its keyword argument")
        if name.lower() in seen:
            raise InvalidArgument(f"originate: variable {name} given twice (names ignore case)")
        seen.add(name.lower())
        if not isinstance(value, str | int | bool):
            raise InvalidArgument(
                f"originate variable {name}: unsupported type {type(value).__name__}"
            )
        pairs.append((name, render_value(value), f"variable {name}"))
    block = ",".join(
        f"{name}={escape_bracket_value(value, f'originate {what}')}" for name, value, what in pairs
    )
    target = ("{" + block + "}" if block else "") + check_dial_string(endpoint)
    if extension is None:
        if context is not None:
            raise InvalidArgument("originate: context needs an extension")
        return ApiCommand("originate", (target, "&park()"))
    words = (
        ("originate extension", check_extension(extension, "originate extension")),
        ("originate context", check_token(context or "default", "originate context")),
    )
    for what, word in words:
        if word.lower() == "undef":
            raise InvalidArgument(f"{what}: {word!r} (undef, any case) means 'not given'")
    return ApiCommand("originate", (target, words[0][1], "XML", words[1][1]))


def uuid_bridge(a_leg: str, b_leg: str) -> ApiCommand:
    """Bridge two parked legs; FreeSWITCH answers ``+OK <b>`` or ``-ERR Invalid uuid``."""
    a, b = check_uuid(a_leg, "A leg"), check_uuid(b_leg, "B leg")
    if a == b:
        raise InvalidArgument("uuid_bridge: a leg cannot be bridged to itself")
    return ApiCommand("uuid_bridge", (a, b))


def uuid_broadcast(uuid: str, media: Media, leg: Leg = "aleg") -> ApiCommand:
    """Play ``media`` to a channel (music, prompts, ``say``, phrases)."""
    if isinstance(leg, str):
        check_encodable(leg, "uuid_broadcast leg")
    if leg not in ("aleg", "bleg", "both", "holdb"):
        raise InvalidArgument(f"uuid_broadcast: leg must be aleg, bleg, both or holdb: {leg!r}")
    if not hasattr(media, "broadcast_arg"):
        raise InvalidArgument(f"uuid_broadcast: not a media object: {media!r}")
    return ApiCommand("uuid_broadcast", (check_uuid(uuid), media.broadcast_arg(), leg))


def uuid_break(uuid: str, *, all_queued: bool = True) -> ApiCommand:
    """Stop what is playing (``all``: also everything queued behind it)."""
    args = (check_uuid(uuid), "all") if all_queued else (check_uuid(uuid),)
    return ApiCommand("uuid_break", args)


def uuid_kill(uuid: str, cause: HangupCause | str | None = None) -> ApiCommand:
    if cause is None:
        return ApiCommand("uuid_kill", (check_uuid(uuid),))
    return ApiCommand("uuid_kill", (check_uuid(uuid), check_hangup_cause(cause).value))


def uuid_setvar(uuid: str, name: str, value: str | int | bool | None) -> ApiCommand:
    """Set a channel variable; ``None`` unsets it. Spaces travel as ``\\s``."""
    args = [check_uuid(uuid), check_var_name(name)]
    if value is not None:
        args.append(escape_argument(render_value(value), f"value of {name}"))
    return ApiCommand("uuid_setvar", tuple(args))


def uuid_getvar(uuid: str, name: str) -> ApiCommand:
    return ApiCommand("uuid_getvar", (check_uuid(uuid), check_var_name(name)))


def uuid_transfer(
    uuid: str,
    extension: str,
    context: str,
    *,
    dialplan: Literal["XML"] = "XML",
    leg: Literal["aleg", "bleg", "both"] = "aleg",
) -> ApiCommand:
    """``uuid_transfer <uuid> [-bleg|-both] <ext> XML <context>`` (recorded form)."""
    for what, word in (("dialplan", dialplan), ("leg", leg)):
        if isinstance(word, str):
            check_encodable(word, f"uuid_transfer {what}")
    if dialplan != "XML":
        raise InvalidArgument(f"uuid_transfer: only the XML dialplan is supported: {dialplan!r}")
    args = [check_uuid(uuid)]
    if leg in ("bleg", "both"):
        args.append(f"-{leg}")
    elif leg != "aleg":
        raise InvalidArgument(f"uuid_transfer: leg must be aleg, bleg or both: {leg!r}")
    args += [check_extension(extension), dialplan, check_token(context, "context")]
    return ApiCommand("uuid_transfer", tuple(args))


def uuid_park(uuid: str) -> ApiCommand:
    return ApiCommand("uuid_park", (check_uuid(uuid),))


def uuid_answer(uuid: str) -> ApiCommand:
    return ApiCommand("uuid_answer", (check_uuid(uuid),))


def uuid_exists(uuid: str) -> ApiCommand:
    """Answers ``true``/``false`` with no newline (recorded)."""
    return ApiCommand("uuid_exists", (check_uuid(uuid),))


def uuid_dump(uuid: str) -> ApiCommand:
    return ApiCommand("uuid_dump", (check_uuid(uuid), "json"))


def show_channels() -> ApiCommand:
    """``show channels as json``; parse the answer with
    :func:`freeswitch.channel_rows.parse_show_channels`."""
    return ApiCommand("show", ("channels", "as", "json"))


def show_calls() -> ApiCommand:
    return ApiCommand("show", ("calls", "as", "json"))


def core_uuid() -> ApiCommand:
    """``global_getvar core_uuid``: a new value means FreeSWITCH restarted (s09b)."""
    return ApiCommand("global_getvar", ("core_uuid",))


def execute(
    uuid: str,
    application: str,
    argument: str = "",
    *,
    event_lock: bool = True,
    event_uuid: str | None = None,
    loops: int | None = None,
) -> SendMsg:
    """``sendmsg`` ``call-command: execute``; ``event_uuid`` comes back as
    ``Application-UUID`` on the execute events, so completion can be matched.

    ``argument`` is the application's data, handed over whole; FreeSWITCH expands
    variables in it, so ``${``, ``$$`` and the backslash sequences the expansion rewrites
    (``\\$``, ``\\'``, ``\\\\``) are refused, and so are ``:_:``, a leading ``ARRAY::`` and a
    leading space (see :class:`SendMsg`). Raises InvalidArgument naming the field.
    """
    if isinstance(application, str):
        check_encodable(application, "execute application name")
    if not isinstance(application, str) or not _APP_NAME_RE.match(application):
        raise InvalidArgument(f"execute: application name must match [a-z0-9_]+: {application!r}")
    headers = [("call-command", "execute"), ("execute-app-name", application)]
    if argument:
        what = f"{application} argument"
        text = check_printable(argument, what, max_length=4096)
        if "${" in text or "$$" in text:
            raise InvalidArgument(f"{what}: variable expansion is not allowed")
        for sequence in _REWRITTEN_ESCAPES:
            if sequence in text:
                raise InvalidArgument(f"{what}: {sequence!r} would be rewritten by FreeSWITCH")
        if text.startswith(" "):
            raise InvalidArgument(f"{what}: FreeSWITCH strips a leading space")
        refuse_structure(text, what)
        headers.append(("execute-app-arg", text))
    if loops is not None:
        if not isinstance(loops, int) or isinstance(loops, bool) or not 1 <= loops <= 1000:
            raise InvalidArgument(f"execute: loops must be 1..1000: {loops!r}")
        headers.append(("loops", str(loops)))
    if event_lock:
        headers.append(("event-lock", "true"))
    if event_uuid is not None:
        headers.append(("Event-UUID", check_uuid(event_uuid, "Event-UUID")))
    return SendMsg(check_uuid(uuid), tuple(headers))


def play(uuid: str, media: Media, *, event_uuid: str | None = None) -> SendMsg:
    """Play ``media`` by ``sendmsg execute`` (queued behind what the channel runs)."""
    app, arg = media.execute()
    return execute(uuid, app, arg, event_uuid=event_uuid)


def hangup(uuid: str, cause: HangupCause | str = HangupCause.NORMAL_CLEARING) -> SendMsg:
    return SendMsg(
        check_uuid(uuid),
        (("call-command", "hangup"), ("hangup-cause", check_hangup_cause(cause).value)),
    )


def play_and_get_digits(
    uuid: str,
    *,
    min_digits: int,
    max_digits: int,
    tries: int,
    timeout_ms: int,
    terminators: str,
    prompt: Playable,
    invalid_prompt: Playable,
    variable: str,
    digits_regex: str,
    digit_timeout_ms: int | None = None,
    event_uuid: str | None = None,
) -> SendMsg:
    """Collect digits (R-DTMF): ``<min> <max> <tries> <timeout> <terminators> <file>
    <invalid_file> <var> <regex> [<digit_timeout>]`` as recorded in s06; the result
    arrives as ``variable_<var>`` on ``CHANNEL_EXECUTE_COMPLETE``."""
    numbers = {"min_digits": min_digits, "max_digits": max_digits, "tries": tries}
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 128:
            raise InvalidArgument(f"play_and_get_digits: {name} must be 1..128: {value!r}")
    if min_digits > max_digits:
        raise InvalidArgument("play_and_get_digits: min_digits is larger than max_digits")
    timeouts: dict[str, int | None] = {
        "timeout_ms": timeout_ms,
        "digit_timeout_ms": digit_timeout_ms,
    }
    for name, limit in timeouts.items():
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 600_000
        ):
            raise InvalidArgument(f"play_and_get_digits: {name} must be 1..600000: {limit!r}")
    for what, text in (("terminators", terminators), ("digits_regex", digits_regex)):
        if isinstance(text, str):
            check_encodable(text, f"play_and_get_digits {what}")
    if not isinstance(terminators, str) or not _TERMINATORS_RE.match(terminators):
        raise InvalidArgument(
            f"play_and_get_digits: terminators must be [0-9*#]+ or none: {terminators!r}"
        )
    if not isinstance(digits_regex, str) or not _DIGIT_REGEX_RE.match(digits_regex):
        raise InvalidArgument(f"play_and_get_digits: unsupported digit pattern {digits_regex!r}")
    for what, media in (("prompt", prompt), ("invalid_prompt", invalid_prompt)):
        if not isinstance(media, Playable):
            raise InvalidArgument(f"play_and_get_digits: {what} must be a playable file or phrase")
    words = [
        str(min_digits),
        str(max_digits),
        str(tries),
        str(timeout_ms),
        terminators,
        prompt.file_arg(),
        invalid_prompt.file_arg(),
        check_var_name(variable, "play_and_get_digits variable"),
        digits_regex,
    ]
    if digit_timeout_ms is not None:
        words.append(str(digit_timeout_ms))
    return execute(uuid, "play_and_get_digits", " ".join(words), event_uuid=event_uuid)


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """The answer of an ``originate`` (api body or ``BACKGROUND_JOB`` body)."""

    ok: bool
    uuid: str | None
    cause: str | None

    @property
    def hangup_cause(self) -> HangupCause | None:
        try:
            return HangupCause(self.cause) if self.cause is not None else None
        except ValueError:
            return None


def parse_originate_result(text: str) -> OriginateResult:
    """``+OK <uuid>`` or ``-ERR <CAUSE>`` (e.g. ``-ERR USER_NOT_REGISTERED``, s05)."""
    line = text.strip()
    if line.startswith("+OK"):
        uuid = line[3:].strip() or None
        return OriginateResult(True, uuid, None)
    if line.startswith("-ERR"):
        return OriginateResult(False, None, line[4:].strip() or None)
    raise CommandFailed(text)


def parse_getvar(text: str) -> str | None:
    """``uuid_getvar``'s answer: the raw value, ``None`` for ``_undef_``; a missing
    channel raises :class:`CommandFailed`."""
    if text.startswith("-ERR"):
        raise CommandFailed(text.strip())
    return None if text == "_undef_" else text


def parse_exists(text: str) -> bool:
    if text.strip() in ("true", "false"):
        return text.strip() == "true"
    raise CommandFailed(text.strip())
