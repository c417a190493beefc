"""A Python port of how FreeSWITCH 1.10 splits command lines, for testing the builders.

Ported from ``src/switch_utils.c`` (``switch_separate_string``,
``separate_string_blank_delim``, ``separate_string_char_delim``,
``cleanup_separated_string``, ``unescape_char``, ``switch_find_end_paren``) and
``src/switch_event.c`` (``switch_event_create_brackets``). It lets the tests check what
FreeSWITCH would actually see for a line the builders produce, instead of comparing
strings with strings. Checked against the recordings in test_commands.py.
"""

from __future__ import annotations

_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _until_nul(chars: list[str], start: int) -> str:
    out = []
    for ch in chars[start:]:
        if ch == "\0":
            break
        out.append(ch)
    return "".join(out)


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


def find_end_paren(text: str, start: int, open_: str, close: str) -> int | None:
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


def parse_brackets(data: str) -> tuple[dict[str, str], str]:
    """``switch_event_create_brackets(data, '{', '}', ',')`` for one ``{}`` block:
    the variables FreeSWITCH sets and the rest of the string (the dial string)."""
    end = find_end_paren(data, 0, "{", "}")
    if end is None:
        raise ValueError("parse error: no closing brace")
    content = data[data.index("{") + 1 : end]
    variables: dict[str, str] = {}
    for piece in separate_string(content, ",", 1024):
        pair = separate_string(piece, "=", 2)
        if len(pair) == 2:
            variables[pair[0]] = pair[1]
    return variables, data[end + 1 :]


def api_arguments(line: str, arraylen: int) -> tuple[str, list[str]]:
    """An ``api``/``bgapi`` line as a mod_commands function sees it: the command name
    and ``switch_separate_string(args, ' ', argv, arraylen)``."""
    name, _, args = line.partition(" ")
    return name, separate_string(args.strip(), " ", arraylen)


def originate_view(line: str) -> tuple[dict[str, str], str, list[str]]:
    """What ``originate`` does with a line: ``{}`` variables, dial string, other argv."""
    name, argv = api_arguments(line, 10)
    assert name == "originate"
    data = argv[0].lstrip(" ")
    variables: dict[str, str] = {}
    while data.startswith("{"):
        found, data = parse_brackets(data)
        variables.update(found)
    return variables, data.lstrip(" "), argv[1:]


def broadcast_view(line: str) -> tuple[str, str | None, str, str | None]:
    """``uuid_broadcast <uuid> <path> [leg]`` as ``switch_ivr_broadcast`` sees it:
    (uuid, application or None for playback, its data or the path, leg)."""
    name, argv = api_arguments(line, 4)
    assert name == "uuid_broadcast"
    path = argv[1]
    app: str | None = None
    if "::" in path:
        app, _, path = path.partition("::")
    return argv[0], app, path, argv[2] if len(argv) > 2 else None
