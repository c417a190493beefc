"""Typed builders for the Event Socket commands an ACD sends.

Builders return an :class:`ApiCommand` (for ``client.api``/``client.bgapi``) or a
:class:`SendMsg` (for ``client.send``). Every argument is validated, and escaped where
FreeSWITCH has a real escaping mechanism (see :mod:`freeswitch.arguments` for the
mechanisms and the FreeSWITCH source they come from); anything else is refused with
:class:`~freeswitch.errors.InvalidArgument`, so nothing a caller typed or sent
(caller ID, digits, variables) can add a line or an argument to a command.
The forms are the ones the recordings in esl-captures show FreeSWITCH 1.10.12 accepting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from freeswitch.arguments import (
    HangupCause,
    check_extension,
    check_hangup_cause,
    check_printable,
    check_token,
    check_uuid,
    check_var_name,
    escape_argument,
    escape_bracket_value,
    render_value,
)
from freeswitch.errors import CommandFailed, InvalidArgument
from freeswitch.media import Media, Playable

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
        if not isinstance(self.name, str) or not _COMMAND_NAME_RE.match(self.name):
            raise InvalidArgument(f"api command name: {self.name!r}")
        for arg in self.args:
            # Arguments are space-separated: one containing whitespace would become two.
            if not isinstance(arg, str) or not arg or any(c.isspace() for c in arg):
                raise InvalidArgument(f"{self.name}: argument {arg!r} is empty or has whitespace")
            check_printable(arg, f"{self.name} argument", max_length=8192)

    @property
    def line(self) -> str:
        return " ".join((self.name, *self.args))

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True, slots=True)
class SendMsg:
    """A ``sendmsg <uuid>`` command with its header lines (``client.send`` sends it)."""

    uuid: str
    headers: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        check_uuid(self.uuid)
        for name, value in self.headers:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", name):
                raise InvalidArgument(f"sendmsg: bad header name {name!r}")
            check_printable(value, f"sendmsg header {name}", max_length=4096)

    @property
    def text(self) -> str:
        lines = [f"sendmsg {self.uuid}", *(f"{name}: {value}" for name, value in self.headers)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text


def check_dial_string(endpoint: object) -> str:
    """``user/<ext>[@domain]``, ``sofia/<profile>/<sip uri>``,
    ``sofia/gateway/<gw>/<number>`` or ``loopback/<ext>[/<context>]``."""
    if isinstance(endpoint, str):
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
    leg answers or fails. Variable values are escaped for the ``{}`` block.
    """
    pairs: list[tuple[str, str]] = []
    if uuid is not None:
        pairs.append(("origination_uuid", check_uuid(uuid, "origination_uuid")))
    if ignore_early_media is not None:
        pairs.append(("ignore_early_media", render_value(bool(ignore_early_media))))
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 3600:
            raise InvalidArgument(f"originate_timeout: must be 1..3600 seconds: {timeout!r}")
        pairs.append(("originate_timeout", str(timeout)))
    if caller_id_name is not None:
        pairs.append(("origination_caller_id_name", caller_id_name))
    if caller_id_number is not None:
        pairs.append(("origination_caller_id_number", caller_id_number))
    for name, value in (variables or {}).items():
        check_var_name(name, "originate variable name")
        if name in _RESERVED_ORIGINATE_VARS:
            raise InvalidArgument(f"originate: set {name} with its keyword argument")
        if not isinstance(value, str | int | bool):
            raise InvalidArgument(
                f"originate variable {name}: unsupported type {type(value).__name__}"
            )
        pairs.append((name, render_value(value)))
    block = ",".join(
        f"{name}={escape_bracket_value(value, f'originate variable {name}')}"
        for name, value in pairs
    )
    target = ("{" + block + "}" if block else "") + check_dial_string(endpoint)
    if extension is None:
        if context is not None:
            raise InvalidArgument("originate: context needs an extension")
        return ApiCommand("originate", (target, "&park()"))
    return ApiCommand(
        "originate",
        (target, check_extension(extension), "XML", check_token(context or "default", "context")),
    )


def uuid_bridge(a_leg: str, b_leg: str) -> ApiCommand:
    """Bridge two parked legs; FreeSWITCH answers ``+OK <b>`` or ``-ERR Invalid uuid``."""
    a, b = check_uuid(a_leg, "A leg"), check_uuid(b_leg, "B leg")
    if a == b:
        raise InvalidArgument("uuid_bridge: a leg cannot be bridged to itself")
    return ApiCommand("uuid_bridge", (a, b))


def uuid_broadcast(uuid: str, media: Media, leg: Leg = "aleg") -> ApiCommand:
    """Play ``media`` to a channel (music, prompts, ``say``, phrases)."""
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
    ``Application-UUID`` on the execute events, so completion can be matched."""
    if not isinstance(application, str) or not _APP_NAME_RE.match(application):
        raise InvalidArgument(f"execute: application name must match [a-z0-9_]+: {application!r}")
    headers = [("call-command", "execute"), ("execute-app-name", application)]
    if argument:
        text = check_printable(argument, f"{application} argument", max_length=4096)
        if "${" in text or "$$" in text:
            raise InvalidArgument(f"{application} argument: variable expansion is not allowed")
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
        check_var_name(variable),
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
