"""A Python port of how FreeSWITCH 1.10 reads the commands the builders write, for tests.

It lets the tests check what FreeSWITCH would actually do with a line the builders
produce, instead of comparing strings with strings. Ported from (signalwire/freeswitch):

* ``src/switch_utils.c``: ``switch_separate_string`` (with its ``^^<delim>`` prefix),
  ``separate_string_blank_delim``, ``separate_string_char_delim``,
  ``cleanup_separated_string``, ``unescape_char``, ``switch_find_end_paren``,
  ``switch_separate_string_string``;
* ``src/switch_event.c``: ``switch_event_create_brackets`` (``^^<c>`` separator inside a
  block) and ``switch_event_base_add_header`` (``ARRAY::`` values, empty values);
* ``src/switch_ivr_originate.c``: the enterprise split on ``:_:`` (found with ``strstr``
  before anything else), ``<...>`` then ``{...}`` blocks, ``origination_nested_vars=true``,
  the ``|`` failover split, the ``[...]`` comma protection and the ``,`` split into
  simultaneous legs with their ``[...]`` variables;
* ``src/mod/applications/mod_commands/mod_commands.c``: ``originate_function`` (argv,
  ``undef``, ``&app(args)``), ``uuid_broadcast``; ``src/switch_ivr_async.c``:
  ``switch_ivr_broadcast`` (``app::args`` and ``app!cause``);
* ``src/switch_channel.c``: ``switch_channel_expand_variables_check`` (what happens to
  application data), with ``switch_string_var_check_const`` and
  ``switch_string_has_escaped_data`` from ``src/include/switch_utils.h``;
* ``mod_event_socket.c`` ``read_packet`` (sendmsg header lines) and ``switch_ivr.c``
  ``switch_ivr_parse_event``; ``mod_dptools.c`` ``playback`` (``@@``), ``say``,
  ``phrase`` and ``play_and_get_digits``; ``switch_ivr_play_say.c`` (``phrase:``).

Checked against the recordings in test_commands.py and, for the syntax the recordings
do not show, against hand-worked examples from the C source in test_fs_split_model.py.
Where the port simplifies, the function says so.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}
ENTERPRISE_DELIM = ":_:"
MAX_PEERS = 128
# switch_ivr_originate.c marks the commas inside [...] before splitting legs on ','.
QUOTED_ESC_COMMA = "\x01"
UNQUOTED_ESC_COMMA = "\x02"

Pairs = tuple[tuple[str, str], ...]


def _ascii_lower(text: str) -> str:
    """C ``tolower`` as ``switch_stristr`` uses it: ASCII letters only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


class ParseError(ValueError):
    """FreeSWITCH logs "Parse Error!" (or fails the command) for this input."""


def _until_nul(chars: list[str], start: int) -> str:
    out = []
    for ch in chars[start:]:
        if ch == "\0":
            break
        out.append(ch)
    return "".join(out)


# --- switch_utils.c -----------------------------------------------------------------------


def cleanup(text: str, delim: str | None) -> str:
    """``cleanup_separated_string``: strip quotes and leading/trailing spaces, unescape."""
    i = 0
    while i < len(text) and text[i] == " ":
        i += 1
    out: list[str] = []
    end: int | None = None
    inside = False
    while i < len(text):
        ch = text[i]
        escaped = False
        if ch == "\\" and i + 1 < len(text):
            e = text[i + 1]
            if e in ("'", '"', "\\") or (delim is not None and e == delim):
                escaped = True
            elif _UNESCAPE.get(e, e) != e:
                e = _UNESCAPE[e]
                escaped = True
            if escaped:
                i += 1
                out.append(e)
                end = len(out)
        if not escaped:
            if ch == "'" and (inside or "'" in text[i + 1 :]):
                inside = not inside
                if inside:
                    end = len(out)
            else:
                out.append(ch)
                if ch != " " or inside:
                    end = len(out)
        i += 1
    if end is not None:
        out = out[:end]
    return "".join(out)


def _split_blank(buf: str, arraylen: int) -> list[str]:
    chars = list(buf)
    starts: list[int] = []
    state = "START"
    inside = False
    i = 0
    while i < len(chars) and chars[i] != "\0" and len(starts) < arraylen:
        ch = chars[i]
        if state == "START":
            starts.append(i)
            state = "SKIP_INITIAL"
        elif state == "SKIP_INITIAL":
            if ch == " ":
                i += 1
            else:
                state = "FIND"
        elif state == "FIND":
            if ch == "\\":
                i += 1
            elif ch == "'":
                inside = not inside
            elif ch == " " and not inside:
                chars[i] = "\0"
                state = "SKIP_END"
            i += 1
        elif ch == " ":
            i += 1
        else:
            state = "START"
    return [cleanup(_until_nul(chars, s), None) for s in starts]


def _split_char(buf: str, delim: str, arraylen: int) -> list[str]:
    chars = list(buf)
    starts: list[int] = []
    state = "START"
    inside = False
    i = 0
    while i < len(chars) and chars[i] != "\0" and len(starts) < arraylen:
        ch = chars[i]
        if state == "START":
            starts.append(i)
            state = "FIND"
            continue
        if ch == "\\":
            i += 1
        elif ch == "'" and (inside or "'" in _until_nul(chars, i + 1)):
            inside = not inside
        elif ch == delim and not inside:
            chars[i] = "\0"
            state = "START"
        i += 1
    return [cleanup(_until_nul(chars, s), delim) for s in starts]


def separate_string(buf: str, delim: str, arraylen: int) -> list[str]:
    """``switch_separate_string`` including its ``^^<delim>`` prefix."""
    if buf.startswith("^^") and len(buf) >= 4:
        delim = buf[2]
        buf = buf[3:]
    if delim == " ":
        return _split_blank(buf, arraylen)
    return _split_char(buf, delim, arraylen)


def separate_string_string(buf: str, delim: str, arraylen: int) -> list[str]:
    """``switch_separate_string_string``: split on a string, no quoting, no cleanup."""
    return buf.split(delim, arraylen - 1)


def find_end_paren(text: str, start: int, open_: str, close: str) -> int | None:
    """``switch_find_end_paren``: index of the matching ``close``; knows no escape."""
    depth = 0
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != open_:
        return None
    depth = 1
    i += 1
    while i < len(text):
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


# --- switch_event.c -----------------------------------------------------------------------


def add_header(headers: list[tuple[str, str]], name: str, value: str) -> None:
    """``switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, name, value)`` on an
    event without ``EF_UNIQ_HEADERS`` (all the events originate fills): an empty value
    deletes the header, a value starting with ``ARRAY::`` becomes an array (an empty
    first element is dropped, one element loses the prefix), a repeated name is kept as
    a second header. Simplified: an ``ARRAY::`` value for a name that already exists
    would be pushed onto that header; here it is a new one."""
    if value == "":
        headers[:] = [h for h in headers if h[0].lower() != name.lower()]
        return
    if value.startswith("ARRAY::"):
        if len(value) < 8:
            return
        parts = value[7:].split("|:")
        while parts and parts[0] == "":
            parts.pop(0)
        if not parts:
            return
        value = parts[0] if len(parts) == 1 else "ARRAY::" + "|:".join(parts)
    headers.append((name, value))


def get_header(headers: Pairs | list[tuple[str, str]], name: str) -> str | None:
    """``switch_event_get_header``: the first header of that name, any case."""
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


def create_brackets(
    data: str, open_: str, close: str, sep: str, headers: list[tuple[str, str]]
) -> str:
    """``switch_event_create_brackets`` for the block at the start of ``data``: adds its
    ``name=value`` pairs to ``headers`` and returns the rest of ``data``.

    The block ends at the first balanced ``close``; ``^^<c>`` right after ``open_`` makes
    ``c`` the separator. (The C function's search for a following block is a no-op as
    written, so callers loop over blocks themselves, as here.)"""
    end = find_end_paren(data, 0, open_, close)
    if end is None:
        raise ParseError(f"no closing {close!r}")
    content = data[1:end]
    if content.startswith("^^"):
        if len(content) < 3:
            raise ParseError("'^^' without a separator")
        sep = content[2]
        content = content[3:]
    for piece in separate_string(content, sep, 1024):
        pair = separate_string(piece, "=", 2)
        if len(pair) == 2:
            add_header(headers, pair[0], pair[1])
    return data[end + 1 :]


def parse_brackets(data: str) -> tuple[dict[str, str], str]:
    """One ``{}`` block: the variables FreeSWITCH sets and the rest of the string."""
    headers: list[tuple[str, str]] = []
    rest = create_brackets(data, "{", "}", ",", headers)
    return dict(headers), rest


# --- switch_channel.c: expansion of application data -----------------------------------


def var_check(text: str) -> bool:
    """``switch_string_var_check_const``: ``$`` then (backslashes and) ``{``."""
    dollar = False
    for ch in text:
        if ch == "$":
            dollar = True
        elif dollar:
            if ch == "{":
                return True
            if ch != "\\":
                dollar = False
    return False


def has_escaped_data(text: str) -> bool:
    """``switch_string_has_escaped_data``."""
    i = text.find("\\")
    while i != -1:
        i += 1
        if i < len(text) and text[i] in "\\nst'":
            return True
        i = text.find("\\", i)
    return False


def expand_variables(text: str) -> tuple[str, tuple[str, ...]]:
    """``switch_channel_expand_variables`` on a channel with no variables set: the text
    FreeSWITCH hands to the application and the ``${...}``/``$${...}`` it expanded (each
    replaced by nothing here: what it would give depends on the channel)."""
    if not text or not (var_check(text) or has_escaped_data(text)):
        return text, ()
    s, n = text, len(text)
    out: list[str] = []
    found: list[str] = []
    p = 0
    nv = False
    while p < n:
        vtype = 0
        if s[p] == "\\":
            nxt = s[p + 1] if p + 1 < n else ""
            if nxt == "$":
                nv = True
                p += 1
                if p + 1 < n and s[p + 1] == "$":
                    p += 1
            elif nxt == "'":
                p += 2
                continue
            elif nxt == "\\":
                out.append("\\")
                p += 2
                continue
        if s[p] == "$" and not nv:
            dollar_dollar = False
            if p + 1 < n and s[p + 1] == "$":
                p += 1
                dollar_dollar = True
            if p + 1 < n and s[p + 1] == "{":
                vtype = 3 if dollar_dollar else 1
            else:
                nv = True
        if nv:
            out.append(s[p])
            nv = False
            p += 1
            continue
        if vtype:
            start = p + 2
            e, depth = start, 1
            while e < n:
                if depth == 1 and s[e] == "}":
                    break
                if s[e] == "{" and e != start:
                    depth += 1
                elif depth > 1 and s[e] == "}":
                    depth -= 1
                e += 1
            found.append(s[start:e])
            p = e + 1
            if p >= n:
                break
            if s[p] != "$":
                out.append(s[p])
                p += 1
            continue
        out.append(s[p])
        p += 1
    return "".join(out), tuple(found)


# --- switch_ivr_originate.c --------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One channel to create: its ``[...]`` variables and its endpoint."""

    variables: Pairs
    endpoint: str


@dataclass(frozen=True)
class DialString:
    """What one (non-enterprise) ``switch_ivr_originate`` reads from its dial string."""

    ultra_global: Pairs  # <...> blocks
    variables: Pairs  # {...} blocks
    groups: tuple[tuple[Leg, ...], ...]  # '|' failover groups of ',' simultaneous legs
    check_vars: bool  # False after 'origination_nested_vars=true': ${...} values are set


@dataclass(frozen=True)
class Failed:
    """An originate that FreeSWITCH refuses to dial (parse error, nothing to dial)."""

    reason: str


def _protect_bracket_commas(text: str) -> str:
    """The loop before the ',' split: commas inside ``[...]`` become marker bytes
    (quoted or ``[^^...`` ones are given back later, unquoted ones separate variables)."""
    chars = list(text)
    end: int | None = None
    quoted = alt = False
    for i, ch in enumerate(text):
        if end is None and ch == "[":
            end = find_end_paren(text, i, "[", "]")
            alt = text[i + 1 : i + 3] == "^^"
            quoted = False
        if ch == "'":
            quoted = not quoted
        if end is not None and i < end and ch == "," and text[i - 1] != "\\":
            chars[i] = QUOTED_ESC_COMMA if (quoted or alt) else UNQUOTED_ESC_COMMA
        if i == end:
            end = None
    return "".join(chars)


def _leg(peer: str) -> Leg:
    chan = peer.lstrip(" ")
    local: list[tuple[str, str]] = []
    while chan.startswith("["):
        bend = find_end_paren(chan, 0, "[", "]")
        if bend is not None:
            chan = chan[0] + chan[1:bend].replace(QUOTED_ESC_COMMA, ",") + chan[bend:]
        rest = create_brackets(chan, "[", "]", UNQUOTED_ESC_COMMA, local)
        if rest == chan:
            raise ParseError("empty [] block")
        chan = rest
    return Leg(tuple(local), chan.lstrip(" "))


def dial_string(data: str) -> DialString:
    """``switch_ivr_originate`` on a dial string without ``:_:``.

    Raises ParseError where FreeSWITCH fails the originate."""
    data = data.lstrip(" ")
    check_vars = "origination_nested_vars=true" not in _ascii_lower(data)
    ultra: list[tuple[str, str]] = []
    while data.startswith("<"):
        data = create_brackets(data, "<", ">", ",", ultra)
    variables: list[tuple[str, str]] = []
    while data.startswith("{"):
        data = create_brackets(data, "{", "}", ",", variables)
    data = data.lstrip(" ")
    if not data:
        raise ParseError("No origination URL specified!")
    groups = []
    for pipe in separate_string(data, "|", MAX_PEERS):
        peers = separate_string(_protect_bracket_commas(pipe), ",", MAX_PEERS)
        groups.append(tuple(_leg(peer) for peer in peers))
    return DialString(tuple(ultra), tuple(variables), tuple(groups), check_vars)


@dataclass(frozen=True)
class OriginatePlan:
    """What ``api originate <args>`` makes FreeSWITCH do.

    ``legs`` holds one entry per enterprise originate (one unless the dial string has
    ``:_:``), each a DialString or the reason it fails; ``enterprise_variables`` are the
    ``<...>`` variables read before the ``:_:`` split. ``application``/``application_data``
    come from ``&app(data)`` (data None without parentheses; ``expansions`` lists what
    FreeSWITCH would expand in it), otherwise the call is transferred to
    ``extension``/``dialplan``/``context``."""

    legs: tuple[DialString | Failed, ...]
    enterprise_variables: Pairs
    application: str | None
    application_data: str | None
    expansions: tuple[str, ...]
    extension: str | None
    dialplan: str
    context: str
    caller_id_name: str | None
    caller_id_number: str | None
    timeout: str | None


def _dial(data: str) -> DialString | Failed:
    try:
        return dial_string(data)
    except ParseError as exc:
        return Failed(str(exc))


def originate_plan(line: str) -> OriginatePlan:
    """An ``originate`` API line (without ``api``/``bgapi``) as FreeSWITCH carries it out.

    Raises ParseError where FreeSWITCH prints its usage, crashes (``undef`` as the
    extension trips ``switch_assert``) or fails the whole enterprise originate."""
    name, argv = api_arguments(line, 10)
    if name != "originate":
        raise ParseError(f"not an originate: {name}")
    if not 2 <= len(argv) <= 7:
        raise ParseError("-USAGE (argument count)")
    args: list[str | None] = [None if a.lower() == "undef" else a for a in argv]
    args += [None] * (7 - len(args))
    aleg, exten, dialplan, context, cid_name, cid_num, timeout = args
    if exten is None:
        raise ParseError("extension 'undef': switch_assert(exten) fails")
    data = aleg or ""
    enterprise_vars: list[tuple[str, str]] = []
    if ENTERPRISE_DELIM in data:
        data = data.lstrip(" ")
        while data.startswith("<"):
            data = create_brackets(data, "<", ">", ",", enterprise_vars)
        data = data.lstrip(" ")
        legs = tuple(_dial(x) for x in separate_string_string(data, ENTERPRISE_DELIM, MAX_PEERS))
    else:
        legs = (_dial(data),)
    application = app_data = None
    expansions: tuple[str, ...] = ()
    if exten.startswith("&") and len(exten) > 1:
        application = exten[1:].split(")", 1)[0]
        if "(" in application:
            application, app_data = application.split("(", 1)
            _, expansions = expand_variables(app_data)
        exten_out = None
    else:
        exten_out = exten
    return OriginatePlan(
        legs,
        tuple(enterprise_vars),
        application,
        app_data,
        expansions,
        exten_out,
        dialplan or "XML",
        context or "default",
        cid_name,
        cid_num,
        timeout,
    )


# --- API argument splitting and the commands the builders use ---------------------------


def api_arguments(line: str, arraylen: int) -> tuple[str, list[str]]:
    """An ``api``/``bgapi`` line as a mod_commands function sees it: the command name
    and ``switch_separate_string(args, ' ', argv, arraylen)``."""
    name, _, args = line.partition(" ")
    return name, separate_string(args.strip(), " ", arraylen)


def originate_view(line: str) -> tuple[dict[str, str], str, list[str]]:
    """What ``originate`` does with a line: ``{}`` variables, dial string, other argv.
    (A shortcut for the common case; :func:`originate_plan` is the whole story.)"""
    name, argv = api_arguments(line, 10)
    assert name == "originate"
    data = argv[0].lstrip(" ")
    variables: dict[str, str] = {}
    while data.startswith("{"):
        found, data = parse_brackets(data)
        variables.update(found)
    return variables, data.lstrip(" "), argv[1:]


@dataclass(frozen=True)
class BroadcastView:
    """``uuid_broadcast <uuid> <path> [leg]`` as ``switch_ivr_broadcast`` carries it out:
    the application (None for the default ``playback``), its data as the application
    receives it after expansion, what was expanded, the leg word and the hang-up cause
    queued after it (``app!cause``), if any."""

    uuid: str
    app: str | None
    data: str
    leg: str | None
    expansions: tuple[str, ...] = ()
    hangup_cause: str | None = None


def broadcast_view(line: str) -> BroadcastView:
    name, argv = api_arguments(line, 4)
    assert name == "uuid_broadcast"
    path = argv[1]
    app: str | None = None
    first_colon = path.find(":")
    if first_colon != -1 and path[first_colon + 1 : first_colon + 2] == ":":
        app, path = path[:first_colon], path[first_colon + 2 :]
    cause = None
    if "!" in (app or "playback"):
        app, cause = (app or "").split("!", 1)
        cause = cause or "normal_clearing"
    data, expansions = expand_variables(path)
    return BroadcastView(argv[0], app, data, argv[2] if len(argv) > 2 else None, expansions, cause)


@dataclass(frozen=True)
class ExecuteView:
    """A ``sendmsg`` with ``call-command: execute`` as ``switch_ivr_parse_event`` runs it:
    the application, its data after expansion and what was expanded, all headers."""

    uuid: str
    headers: Pairs
    app: str | None
    data: str | None
    expansions: tuple[str, ...]


def sendmsg_view(text: str) -> tuple[str, Pairs]:
    """``sendmsg <uuid>`` and its header lines as ``read_packet`` reads them: each line cut
    at its first CR/LF, split at the first ``:``, spaces after it skipped."""
    lines = text.split("\n")
    first = lines[0]
    assert first.startswith("sendmsg")
    uuid = first[7:].lstrip(" ")
    headers: list[tuple[str, str]] = []
    for raw in lines[1:]:
        line = raw.split("\r", 1)[0]
        if not line:
            break
        name, sep, value = line.partition(":")
        if sep:
            add_header(headers, name, value.lstrip(" "))
    return uuid, tuple(headers)


def execute_view(text: str) -> ExecuteView:
    uuid, headers = sendmsg_view(text)
    data = get_header(headers, "execute-app-arg")
    expansions: tuple[str, ...] = ()
    if data is not None:
        data, expansions = expand_variables(data)
    return ExecuteView(uuid, headers, get_header(headers, "execute-app-name"), data, expansions)


@dataclass(frozen=True)
class PlaybackView:
    """``playback``'s data: the file, a ``@@`` start offset, a ``phrase:macro:data``."""

    file: str
    offset: str | None
    phrase: tuple[str, str | None] | None


def playback_view(data: str) -> PlaybackView:
    file, offset = data, None
    at = data.find("@")
    if at != -1 and data[at + 1 : at + 2] == "@":
        file, offset = data[:at], data[at + 2 :]
    phrase = None
    if ":" in file and file[:7].lower() == "phrase:":
        macro, sep, arg = file[7:].partition(":")
        phrase = (macro, arg if sep else None)
    return PlaybackView(file, offset, phrase)


def phrase_app_view(data: str) -> tuple[str, str | None]:
    """The ``phrase`` application: macro, then data after the first comma."""
    macro, sep, rest = data.partition(",")
    return macro, rest if sep else None


def say_view(data: str) -> list[str]:
    """The ``say`` application's argv (it needs 4 or 5)."""
    return separate_string(data, " ", 5)


def play_and_get_digits_view(data: str) -> list[str]:
    """``play_and_get_digits``' argv (up to 11, the 11th being transfer_on_failure)."""
    return separate_string(data, " ", 11)
