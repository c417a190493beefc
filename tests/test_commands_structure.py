"""Property (issue 11, part 3): no value a builder accepts can change the structure of the
command it builds.

For every builder and every field, hypothesis feeds text rich in FreeSWITCH's syntax
(``:_:``, ``|``, ``,``, ``[]``, ``<>``, ``^^``, ``${}``, quotes, ``ARRAY::``, ``@@``,
bytes that were not UTF-8 ...). Whatever the builder accepts is read back through the
port of FreeSWITCH's parsing in tests/fs_split_model.py, and must give exactly the
intended structure — one enterprise leg, one failover group, one target, the intended
variables, the intended application — with every value unchanged in its own field.
Where a refusal is easy to state, the test also checks that the builder refuses only for
one of the documented reasons, so harmless text (``Smith, John``, ``a|b``) stays accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from freeswitch import commands
from freeswitch.arguments import _EXTENSION_RE, _TOKEN_RE, _UUID_RE, _VAR_NAME_RE
from freeswitch.commands import (
    _DIGIT_REGEX_RE,
    _LOOPBACK_RE,
    _SOFIA_GATEWAY_RE,
    _SOFIA_RE,
    _USER_RE,
    ApiCommand,
)
from freeswitch.errors import InvalidArgument
from freeswitch.media import (
    _MACRO_RE,
    _PHRASE_DATA_RE,
    _SAY_TEXT,
    _SEGMENT_RE,
    Phrase,
    Playable,
    Say,
    SayGender,
    SayMethod,
    SayType,
    SoundFile,
)
from tests import fs_split_model as fs

CALLER = "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"
AGENT = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"

SYNTAX = [
    ":_:", ":_", "_:", ":", "_", "|", "|:", ",", "\\,", "[", "]", "[x=y]", "<x=y>", "<", ">",
    "^^", "^^;", "^^:", "^", "{", "}", "{x=y}", "${", "$${", "${system(id)}", "$", "'", '"',
    "\\", "\\s", "\\n", "=", " ", "  ", "ARRAY::", "origination_nested_vars=true",
    "ORIGINATION_NESTED_VARS=TRUE", "@@", "@", "&", "(", ")", "!", "::", "undef", ";", "%",
    "sofia/gateway/gw1/19005550199", "user/1001", "\udcf1", "\ud800", "\x00", "\n", "\t",
    r"\$", r"\'", "\\\\", "$\\{", "ARRAY::a|:b", "ARRAY::x",
]  # fmt: skip
printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
syntax_text = st.one_of(
    st.lists(st.one_of(printable, st.sampled_from(SYNTAX)), min_size=1, max_size=10).map("".join),
    # A snippet first: FreeSWITCH reads some of them (ARRAY::, ^^) only at the start.
    st.tuples(st.sampled_from(SYNTAX), st.text(printable, max_size=6)).map("".join),
)


# Syntax that is harmless inside a value, so that accepted values often carry it.
HARMLESS = [
    "|", "|:", ",", "[x=y]", "<x=y>", "^^;", "^^:", "=", ":", "_", "::", "@@", "&", "(", ")",
    "!", "%", ";", "sofia/gateway/gw1/19005550199", "Smith, John", "Anna Öberg", "ARRAY:",
]  # fmt: skip
harmless_text = st.lists(
    st.one_of(printable, st.sampled_from(HARMLESS)), min_size=1, max_size=8
).map("".join)
values = st.one_of(syntax_text, harmless_text)


def _from(pattern: re.Pattern[str]) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


def _nested_switch(text: str) -> bool:
    return re.search("origination_nested_vars=true", text, re.IGNORECASE | re.ASCII) is not None


def _bad_text(text: str) -> bool:
    """The documented reasons to refuse a free-text value (freeswitch/arguments.py)."""
    return (
        not text
        or len(text) > 512
        or text != text.strip(" ")
        or any(not c.isprintable() for c in text)
        or any(c in text for c in "'\"\\$")
        or ":_:" in text
        or text.startswith("ARRAY::")
    )


def _bad_bracket_text(text: str) -> bool:
    return _bad_text(text) or "{" in text or "}" in text or _nested_switch(text)


# --- originate ------------------------------------------------------------------------

endpoints = st.one_of(
    _from(_USER_RE), _from(_SOFIA_GATEWAY_RE), _from(_SOFIA_RE), _from(_LOOPBACK_RE), syntax_text
)
scalar = st.one_of(values, st.integers(-(10**6), 10**6), st.booleans())
var_names = _from(_VAR_NAME_RE).filter(
    lambda n: (
        n.lower()
        not in {
            "origination_uuid",
            "originate_timeout",
            "ignore_early_media",
            "origination_caller_id_name",
            "origination_caller_id_number",
        }
    )
)
variable_sets = st.lists(
    st.tuples(var_names, scalar), max_size=4, unique_by=lambda pair: pair[0].lower()
).map(dict)
targets = st.none() | st.tuples(
    st.one_of(_from(_EXTENSION_RE), syntax_text, st.just("undef")),
    st.one_of(_from(_TOKEN_RE), syntax_text, st.just("UNDEF")),
)


def _render(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@settings(max_examples=400, deadline=None)
@given(
    endpoint=endpoints,
    cid_name=st.none() | values,
    cid_number=st.none() | values,
    variables=variable_sets,
    target=targets,
)
@example(  # the input
    "user/1001", "Evil:_:sofia/gateway/gw1/19005550199|", None, {}, None
)
@example("user/1001", "ARRAY::x", "ARRAY::a|:b", {}, None)
@example("user/1001", "Smith, John", "+4670|123", {"acd_note": "[x=y]<a>^^;b"}, ("7000", "acd"))
def test_originate_has_exactly_the_intended_structure(
    endpoint: str,
    cid_name: str | None,
    cid_number: str | None,
    variables: dict[str, str | int | bool],
    target: tuple[str, str] | None,
) -> None:
    """One enterprise leg, one failover group, one target, the intended variables in
    order and unchanged, and &park() or the intended transfer — or a documented refusal."""
    extension, context = target if target is not None else (None, None)
    try:
        cmd = commands.originate(
            endpoint,
            uuid=AGENT,
            caller_id_name=cid_name,
            caller_id_number=cid_number,
            variables=variables,
            extension=extension,
            context=context,
        )
    except InvalidArgument:
        texts = [v for v in (cid_name, cid_number, *variables.values()) if isinstance(v, str)]
        endpoint_ok = any(
            p.match(endpoint) for p in (_USER_RE, _SOFIA_GATEWAY_RE, _SOFIA_RE, _LOOPBACK_RE)
        )
        target_bad = target is not None and (
            not _EXTENSION_RE.match(target[0])
            or not _TOKEN_RE.match(target[1])
            or "undef" in (target[0].lower(), target[1].lower())
        )
        assert any(map(_bad_bracket_text, texts)) or not endpoint_ok or target_bad
        return
    expected: list[tuple[str, str]] = [("origination_uuid", AGENT)]
    if cid_name is not None:
        expected.append(("origination_caller_id_name", cid_name))
    if cid_number is not None:
        expected.append(("origination_caller_id_number", cid_number))
    expected += [(name, _render(value)) for name, value in variables.items()]
    plan = fs.originate_plan(cmd.line)
    assert plan.legs == (fs.DialString((), tuple(expected), ((fs.Leg((), endpoint),),), True),)
    assert plan.enterprise_variables == ()
    assert (plan.caller_id_name, plan.caller_id_number, plan.timeout) == (None, None, None)
    if target is None:
        assert (plan.application, plan.application_data, plan.expansions) == ("park", "", ())
    else:
        assert plan.application is None
        assert (plan.extension, plan.dialplan, plan.context) == (extension, "XML", context)


# --- uuid_* API commands --------------------------------------------------------------

uuids = st.one_of(_from(_UUID_RE), syntax_text)


@settings(max_examples=200, deadline=None)
@given(uuid=uuids, other=uuids, name=st.one_of(_from(_VAR_NAME_RE), syntax_text), value=scalar)
def test_uuid_commands_have_exactly_their_arguments(
    uuid: str, other: str, name: str, value: str | int | bool
) -> None:
    builders: list[tuple[Callable[[], ApiCommand], list[str]]] = [
        (lambda: commands.uuid_park(uuid), [uuid]),
        (lambda: commands.uuid_kill(uuid, "USER_BUSY"), [uuid, "USER_BUSY"]),
        (lambda: commands.uuid_break(uuid), [uuid, "all"]),
        (lambda: commands.uuid_bridge(uuid, other), [uuid, other]),
        (lambda: commands.uuid_getvar(uuid, name), [uuid, name]),
        (lambda: commands.uuid_setvar(uuid, name, value), [uuid, name, _render(value)]),
    ]
    for build, expected in builders:
        try:
            cmd = build()
        except InvalidArgument:
            continue
        assert fs.api_arguments(cmd.line, 10)[1] == expected


@settings(max_examples=200, deadline=None)
@given(value=values)
@example(value="ARRAY::x")
@example(value="a|:b")
def test_setvar_value_is_stored_unchanged_or_refused(value: str) -> None:
    try:
        cmd = commands.uuid_setvar(CALLER, "acd_note", value)
    except InvalidArgument:
        assert _bad_text(value)
        return
    argv = fs.api_arguments(cmd.line, 3)[1]
    assert argv == [CALLER, "acd_note", value]
    stored: list[tuple[str, str]] = []
    fs.add_header(stored, "acd_note", argv[2])
    assert stored == [("acd_note", value)]


@settings(max_examples=200, deadline=None)
@given(uuid=uuids, extension=st.one_of(_from(_EXTENSION_RE), syntax_text), context=syntax_text)
def test_uuid_transfer_has_exactly_its_arguments(uuid: str, extension: str, context: str) -> None:
    for leg, flag in (("aleg", []), ("bleg", ["-bleg"]), ("both", ["-both"])):
        try:
            cmd = commands.uuid_transfer(uuid, extension, context, leg=leg)  # type: ignore[arg-type]
        except InvalidArgument:
            continue
        argv = fs.api_arguments(cmd.line, 5)[1]
        assert argv == [uuid, *flag, extension, "XML", context]
        # transfer_function reads a first word starting with '-' as the leg option.
        assert not extension.startswith("-")


# --- sendmsg execute --------------------------------------------------------------------


def _bad_application_data(text: str) -> bool:
    return (
        len(text) > 4096
        or any(not c.isprintable() for c in text)
        or any(s in text for s in ("${", "$$", "\\$", "\\'", "\\\\", ":_:"))
        or text.startswith((" ", "ARRAY::"))
    )


@settings(max_examples=400, deadline=None)
@given(application=st.sampled_from(["playback", "log", "bridge", "set"]), data=values)
@example(application="log", data=r"cost \$5 \s")
@example(application="log", data=r"a\\b")
@example(application="set", data=r"x=\'y")
def test_execute_hands_the_application_exactly_its_data(application: str, data: str) -> None:
    try:
        msg = commands.execute(CALLER, application, data, event_uuid=AGENT)
    except InvalidArgument:
        assert _bad_application_data(data)
        return
    view = fs.execute_view(msg.text)
    assert (view.uuid, view.app, view.data, view.expansions) == (CALLER, application, data, ())
    assert view.headers == (
        ("call-command", "execute"),
        ("execute-app-name", application),
        ("execute-app-arg", data),
        ("event-lock", "true"),
        ("Event-UUID", AGENT),
    )


# --- media: uuid_broadcast, play, play_and_get_digits ------------------------------------

segments = st.one_of(_from(_SEGMENT_RE), syntax_text)
sound_paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/"]),
    st.lists(segments, min_size=1, max_size=3),
)


def _sound(path: str) -> SoundFile | None:
    try:
        return SoundFile(path)
    except InvalidArgument:
        return None


def _phrase(macro: str, data: str) -> Phrase | None:
    try:
        return Phrase(macro, data)
    except InvalidArgument:
        return None


phrases = st.builds(
    _phrase,
    st.one_of(_from(_MACRO_RE), syntax_text),
    st.one_of(_from(_PHRASE_DATA_RE), syntax_text, st.just("")),
)


def _check_playback(data: str, media: Playable) -> None:
    """What ``playback`` does with ``data``: exactly the intended file or phrase."""
    view = fs.playback_view(data)
    assert view.offset is None
    if isinstance(media, Phrase):
        assert view.phrase == (media.macro, media.data or None)
    else:
        assert (view.file, view.phrase) == (media.playback_path(), None)


@settings(max_examples=300, deadline=None)
@given(path=sound_paths)
def test_sound_files_arrive_whole(path: str) -> None:
    sound = _sound(path)
    if sound is None:
        return
    cast = fs.broadcast_view(commands.uuid_broadcast(CALLER, sound, "both").line)
    assert cast == fs.BroadcastView(CALLER, None, path, "both")
    _check_playback(cast.data, sound)
    played = fs.execute_view(commands.play(CALLER, sound).text)
    assert (played.app, played.expansions) == ("playback", ())
    _check_playback(played.data or "", sound)


@settings(max_examples=300, deadline=None)
@given(phrase=phrases)
def test_phrases_arrive_whole(phrase: Phrase | None) -> None:
    if phrase is None:
        return
    cast = fs.broadcast_view(commands.uuid_broadcast(CALLER, phrase).line)
    assert (cast.app, cast.leg, cast.expansions, cast.hangup_cause) == ("phrase", "aleg", (), None)
    assert fs.phrase_app_view(cast.data) == (phrase.macro, phrase.data or None)
    played = fs.execute_view(commands.play(CALLER, phrase).text)
    assert (played.app, played.expansions) == ("playback", ())
    _check_playback(played.data or "", phrase)


@settings(max_examples=300, deadline=None)
@given(
    say_type=st.sampled_from(list(SayType)),
    method=st.sampled_from(list(SayMethod)),
    text=st.one_of(syntax_text, st.just("")),
    gender=st.one_of(st.none(), st.sampled_from(list(SayGender)), syntax_text),
    data=st.data(),
)
def test_say_arrives_word_for_word(
    say_type: SayType,
    method: SayMethod,
    text: str,
    gender: SayGender | str | None,
    data: st.DataObject,
) -> None:
    if not text:
        text = data.draw(_from(_SAY_TEXT[say_type]))
    try:
        say = Say("sv", say_type, method, text, gender)
    except InvalidArgument:
        return
    words = list(say.words())
    cast = fs.broadcast_view(commands.uuid_broadcast(CALLER, say).line)
    assert (cast.app, cast.expansions, cast.hangup_cause) == ("say", (), None)
    assert fs.say_view(cast.data) == words
    app, arg = say.execute()
    played = fs.execute_view(commands.execute(CALLER, app, arg).text)
    assert (played.app, played.expansions) == ("say", ())
    assert fs.say_view(played.data or "") == words


playables = st.one_of(st.builds(_sound, sound_paths), phrases)


@settings(max_examples=300, deadline=None)
@given(
    prompt=playables,
    invalid=playables,
    regex=st.one_of(_from(_DIGIT_REGEX_RE), syntax_text),
    variable=st.one_of(_from(_VAR_NAME_RE), syntax_text),
    terminators=st.sampled_from(["#", "*#", "none", "# 1", ":_:"]),
)
def test_play_and_get_digits_has_exactly_its_ten_arguments(
    prompt: Playable | None,
    invalid: Playable | None,
    regex: str,
    variable: str,
    terminators: str,
) -> None:
    if prompt is None or invalid is None:
        return
    try:
        msg = commands.play_and_get_digits(
            CALLER,
            min_digits=1,
            max_digits=4,
            tries=2,
            timeout_ms=3000,
            terminators=terminators,
            prompt=prompt,
            invalid_prompt=invalid,
            variable=variable,
            digits_regex=regex,
            digit_timeout_ms=1500,
        )
    except InvalidArgument:
        return
    view = fs.execute_view(msg.text)
    assert (view.app, view.expansions) == ("play_and_get_digits", ())
    argv = fs.play_and_get_digits_view(view.data or "")
    assert argv == [
        "1",
        "4",
        "2",
        "3000",
        terminators,
        prompt.playback_path(),
        invalid.playback_path(),
        variable,
        regex,
        "1500",
    ]
    _check_playback(argv[5], prompt)
    _check_playback(argv[6], invalid)


@pytest.mark.parametrize(("macro", "data"), [("_", "0"), ("x", "_:1"), ("_", "_:")])
def test_phrase_refuses_enterprise_delimiter_where_macro_and_data_meet(
    macro: str, data: str
) -> None:
    """Found by ``test_phrases_arrive_whole``: each part is harmless, the joined
    ``phrase:<macro>:<data>`` holds ``:_:``; refused when the phrase is made, not later
    in a command builder."""
    with pytest.raises(InvalidArgument, match=":_:"):
        Phrase(macro, data)
