"""Injection attempts against the command builders (contract 3): hostile caller IDs,
digits and variables are refused, or FreeSWITCH's own argument splitting (ported in
tests/fs_split_model.py) gives the value back whole — checked by example and by
hypothesis over arbitrary text. The dial-string syntax beyond ``{}`` and commas
(issue 11: ``:_:``, ``|``, ``[]``, ``<>``, ``^^``, ``${}``) is covered here by example and
in test_commands_structure.py by property."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeswitch import commands
from freeswitch.arguments import escape_bracket_value
from freeswitch.commands import ApiCommand, SendMsg
from freeswitch.errors import InvalidArgument
from freeswitch.media import Phrase, Say, SayMethod, SayType, Silence, SoundFile, parse_playable
from tests import fs_split_model as fs

CALLER = "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"
AGENT = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"

HOSTILE = [
    "Evil:_:sofia/gateway/gw1/19005550199|",
    "ARRAY::a|:b",
    "1234\n\napi shutdown",
    "1234\r\napi shutdown",
    "x,origination_uuid=evil",
    "a}sofia/external/evil@x &park(",
    "${system rm -rf /}",
    "it's",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "nul\x00byte",
    "line\u2028sep",
    " leading",
    "trailing ",
    "",
]


# --- injection attempts ----------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_never_reach_a_command_line(hostile: str) -> None:
    """Contract 3: caller-supplied text is refused or arrives as one whole value."""
    builders: list[Callable[[], object]] = [
        lambda: commands.uuid_kill(hostile),
        lambda: commands.uuid_bridge(CALLER, hostile),
        lambda: commands.uuid_setvar(CALLER, hostile, "1"),
        lambda: commands.uuid_getvar(CALLER, hostile),
        lambda: commands.uuid_transfer(CALLER, hostile, "acd"),
        lambda: commands.originate(hostile),
        lambda: commands.originate("user/1001", variables={hostile: "1"}),
        lambda: Say("sv", SayType.NUMBER, SayMethod.PRONOUNCED, hostile),
        lambda: Say("sv", SayType.NUMBER, SayMethod.PRONOUNCED, "1", gender=hostile),
        lambda: Phrase(hostile),
        lambda: SoundFile(hostile),
        lambda: commands.hangup(CALLER, hostile),
    ]
    if hostile:  # an empty phrase argument is allowed: "phrase:<macro>" alone
        builders.append(lambda: Phrase("acd_position", hostile))
    for index, build in enumerate(builders):
        with pytest.raises(InvalidArgument):
            build()
            pytest.fail(f"builder {index} accepted {hostile!r}")


# Dial-string syntax that is harmless inside a {} value (read only at the start of the
# dial string or after the {} block): accepted, and arrives whole.
HARMLESS_IN_BRACKETS = [
    "a|b",
    "Evil|sofia/gateway/gw1/19005550199",
    "[x=y]",
    "[x=y]sofia/gateway/gw1/1",
    "<x=y>",
    "^^;a=b;c=d",
    "^^:x",
    "Smith, John",
    "Anna Öberg",
    "a=b",
    "x|:y",
    "ARRAY:x",
    "#1 @home & co ()",
]


@pytest.mark.parametrize("hostile", HOSTILE + HARMLESS_IN_BRACKETS)
def test_hostile_values_are_refused_or_kept_whole(hostile: str) -> None:
    """A value is either refused, or FreeSWITCH sees exactly that one value."""
    try:
        cmd = commands.originate(
            "user/1001", uuid=AGENT, caller_id_name=hostile, variables={"acd_note": hostile}
        )
    except InvalidArgument:
        pass
    else:
        plan = fs.originate_plan(cmd.line)
        assert plan.legs == (
            fs.DialString(
                (),
                (
                    ("origination_uuid", AGENT),
                    ("origination_caller_id_name", hostile),
                    ("acd_note", hostile),
                ),
                ((fs.Leg((), "user/1001"),),),
                True,
            ),
        )
        assert (plan.application, plan.application_data) == ("park", "")
    try:
        setvar = commands.uuid_setvar(CALLER, "acd_note", hostile)
    except InvalidArgument:
        pass
    else:
        assert fs.api_arguments(setvar.line, 3)[1] == [CALLER, "acd_note", hostile]


def test_issue_input_enterprise_delimiter_in_caller_name_is_refused() -> None:
    """Issue 11 part 3: before the fix this was accepted, and FreeSWITCH split the line at
    ':_:' (the model shows it: the {} leg fails, the gateway is dialled)."""
    evil = "Evil:_:sofia/gateway/gw1/19005550199|"
    with pytest.raises(InvalidArgument, match=r"caller_id_name.*':_:'"):
        commands.originate("user/1001", caller_id_name=evil)
    old_line = f"originate {{origination_caller_id_name={evil}}}user/1001 &park()"
    legs = fs.originate_plan(old_line).legs
    assert isinstance(legs[0], fs.Failed)
    assert isinstance(legs[1], fs.DialString)
    assert legs[1].groups[0] == (fs.Leg((), "sofia/gateway/gw1/19005550199"),)


@pytest.mark.parametrize(
    "build",
    [
        lambda v: commands.originate("user/1001", caller_id_number=v),
        lambda v: commands.originate("user/1001", caller_id_name=v),
        lambda v: commands.originate("user/1001", variables={"acd_note": v}),
        lambda v: commands.uuid_setvar(CALLER, "acd_note", v),
        lambda v: commands.execute(CALLER, "bridge", v),
        lambda v: commands.execute(CALLER, "playback", v),
        lambda v: Phrase("acd_position", v),
    ],
    ids=["cid_number", "cid_name", "variable", "setvar", "bridge_arg", "playback_arg", "phrase"],
)
@pytest.mark.parametrize("value", ["1:_:2", "a:_:", ":_:b", "1001:_:19005550199"])
def test_enterprise_delimiter_is_refused_in_every_free_text_field(
    build: Callable[[str], object], value: str
) -> None:
    with pytest.raises(InvalidArgument, match="':_:'"):
        build(value)


@pytest.mark.parametrize(
    "endpoint",
    ["user/1001:_:user/1002", "sofia/internal/a:_:b@h", "loopback/1:_:2", "sofia/gateway/g/1:_:2"],
)
def test_enterprise_delimiter_in_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(InvalidArgument, match="dial string"):
        commands.originate(endpoint)


def test_enterprise_delimiter_cannot_reach_broadcast_paths() -> None:
    for build in (
        lambda: SoundFile("/srv/a:_:b.wav"),
        lambda: Phrase("acd:_:x"),
        lambda: Phrase("acd_position", "1:_:sofia"),
        lambda: parse_playable("phrase:acd_position:1:_:2"),
        lambda: Say("sv", SayType.TIME_MEASUREMENT, SayMethod.PRONOUNCED, "1:_:2"),
    ):
        with pytest.raises(InvalidArgument):
            build()


def test_array_values_are_refused() -> None:
    """A value starting with ARRAY:: would be stored by FreeSWITCH as an array."""
    with pytest.raises(InvalidArgument, match="ARRAY::"):
        commands.originate("user/1001", caller_id_name="ARRAY::a|:b")
    with pytest.raises(InvalidArgument, match="ARRAY::"):
        commands.uuid_setvar(CALLER, "acd_note", "ARRAY::x")
    with pytest.raises(InvalidArgument, match="ARRAY::"):
        commands.execute(CALLER, "playback", "ARRAY::a.wav")
    with pytest.raises(InvalidArgument, match="ARRAY::"):
        SendMsg(CALLER, (("call-command", "execute"), ("execute-app-name", "ARRAY::x|:y")))
    ok = commands.uuid_setvar(CALLER, "acd_note", "not ARRAY::x")
    assert fs.api_arguments(ok.line, 3)[1][2] == "not ARRAY::x"


def test_nested_vars_switch_is_refused_in_originate_values() -> None:
    """'origination_nested_vars=true' anywhere in the dial string would switch off the
    ${...} check for every variable of the originate."""
    for value in ("origination_nested_vars=true", "x ORIGINATION_NESTED_VARS=TRUE y"):
        with pytest.raises(InvalidArgument, match="origination_nested_vars"):
            commands.originate("user/1001", caller_id_name=value)
    plan = fs.originate_plan("originate {a=origination_nested_vars=true}user/1 &park()")
    assert isinstance(plan.legs[0], fs.DialString) and not plan.legs[0].check_vars


def test_variable_names_are_compared_without_case() -> None:
    """FreeSWITCH looks up {} variables without regard to case and takes the first."""
    with pytest.raises(InvalidArgument, match="keyword"):
        commands.originate("user/1001", uuid=AGENT, variables={"ORIGINATION_UUID": "evil"})
    with pytest.raises(InvalidArgument, match="twice"):
        commands.originate("user/1001", variables={"acd_x": "1", "ACD_X": "2"})


@pytest.mark.parametrize("word", ["undef", "UNDEF", "Undef"])
def test_undef_is_refused_as_originate_extension_or_context(word: str) -> None:
    """mod_commands reads 'undef' as a missing argument (a missing extension trips an
    assertion in FreeSWITCH)."""
    with pytest.raises(InvalidArgument, match=r"originate extension.*undef"):
        commands.originate("user/1001", extension=word, context="acd")
    with pytest.raises(InvalidArgument, match=r"originate context.*undef"):
        commands.originate("user/1001", extension="7000", context=word)
    with pytest.raises(fs.ParseError):
        fs.originate_plan(f"originate user/1001 {word}")


def test_playback_offset_syntax_cannot_come_from_phrase_data() -> None:
    with pytest.raises(InvalidArgument, match="@@"):
        Phrase("acd_position", "3@@8000")
    msg = commands.play(CALLER, Phrase("acd_position", "a@b"))
    view = fs.playback_view(fs.execute_view(msg.text).data or "")
    assert (view.offset, view.phrase) == (None, ("acd_position", "a@b"))


def test_application_data_is_refused_where_expansion_would_rewrite_it() -> None:
    for bad in (r"a\\b", r"it\'s", r"\$5", "$${hold_music}", "${system(id)}"):
        with pytest.raises(InvalidArgument, match="playback argument"):
            commands.execute(CALLER, "playback", bad)
    with pytest.raises(InvalidArgument, match="leading space"):
        commands.execute(CALLER, "playback", " a.wav")
    for good in ("$5", "a$", r"\d+", "x $ y", "[x=y],<a>|b^^;"):
        view = fs.execute_view(commands.execute(CALLER, "log", good).text)
        assert (view.app, view.data, view.expansions) == ("log", good, ())


def test_sendmsg_header_shapes_that_freeswitch_would_change_are_refused() -> None:
    base = (("call-command", "execute"), ("execute-app-name", "answer"))
    for headers in (
        (*base, ("Execute-App-Name", "hangup")),
        (*base, ("Content-Length", "5")),
        (*base, ("execute-app-arg", " a")),
        (*base, ("execute-app-arg", "")),
    ):
        with pytest.raises(InvalidArgument, match="sendmsg"):
            SendMsg(CALLER, headers)


SYSTEM_PAYLOADS = ("${system(curl evil)}", "${system curl evil}", "$${x}")


@pytest.mark.parametrize(
    "build",
    [
        lambda v: commands.originate("user/1001", caller_id_name=v),
        lambda v: commands.originate("user/1001", variables={"acd_note": v}),
        lambda v: commands.uuid_setvar(CALLER, "acd_note", v),
        lambda v: commands.execute(CALLER, "playback", v),
        lambda v: commands.originate(f"sofia/internal/{v}@x"),
        lambda v: SoundFile(f"/srv/{v}.wav"),
        lambda v: Phrase("acd_position", v),
    ],
)
@pytest.mark.parametrize("payload", SYSTEM_PAYLOADS)
def test_system_call_expansion_is_refused_everywhere(
    build: Callable[[str], object], payload: str
) -> None:
    """${system(...)} / ${system ...} / $${...}: every field refuses '$' or '${'."""
    with pytest.raises(InvalidArgument):
        build(payload)


def test_comma_injection_stays_one_variable() -> None:
    cmd = commands.originate("user/1001", uuid=AGENT, caller_id_number="x,origination_uuid=evil")
    assert "x\\,origination_uuid=evil" in cmd.line
    variables, _, _ = fs.originate_view(cmd.line)
    assert variables["origination_uuid"] == AGENT
    assert variables["origination_caller_id_number"] == "x,origination_uuid=evil"


def test_newline_is_refused_everywhere_with_a_clear_error() -> None:
    with pytest.raises(InvalidArgument, match="control character"):
        commands.originate("user/1001", caller_id_name="1234\n\napi shutdown")
    with pytest.raises(InvalidArgument, match="control character"):
        commands.execute(CALLER, "playback", "a.wav\n\napi shutdown")
    with pytest.raises(InvalidArgument):
        ApiCommand("uuid_kill", (CALLER + "\n\napi shutdown",))
    with pytest.raises(InvalidArgument):
        ApiCommand("status", ("two words",))


def test_reserved_originate_variables_need_their_keyword() -> None:
    with pytest.raises(InvalidArgument, match="origination_uuid"):
        commands.originate("user/1001", variables={"origination_uuid": AGENT})


def test_variable_expansion_is_refused_in_application_arguments() -> None:
    with pytest.raises(InvalidArgument, match="expansion"):
        commands.execute(CALLER, "playback", "${sound_prefix}/a.wav")
    with pytest.raises(InvalidArgument):
        commands.play_and_get_digits(
            CALLER,
            min_digits=1,
            max_digits=4,
            tries=1,
            timeout_ms=1000,
            terminators="#",
            prompt=Silence(1),
            invalid_prompt=Silence(1),
            variable="x",
            digits_regex="\\d+$",
        )


value_alphabet = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")
) | st.sampled_from(list(",= {}'\"\\$;:&|[]<>^%@_"))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=value_alphabet, min_size=1, max_size=40))
def test_setvar_values_arrive_exactly_or_are_refused(value: str) -> None:
    try:
        cmd = commands.uuid_setvar(CALLER, "acd_note", value)
    except InvalidArgument:
        assert _refused(value)
        return
    assert fs.api_arguments(cmd.line, 3)[1] == [CALLER, "acd_note", value]
    stored: list[tuple[str, str]] = []
    fs.add_header(stored, "acd_note", value)
    assert stored == [("acd_note", value)]


def _refused(value: str) -> bool:
    return (
        any(c in value for c in "'\"\\$")
        or value != value.strip(" ")
        or any(not c.isprintable() for c in value)
        or ":_:" in value
        or value.startswith("ARRAY::")
    )


def test_escape_bracket_value_escapes_commas_and_spaces() -> None:
    assert escape_bracket_value("Anna Berg, IT", "name") == "Anna\\sBerg\\,\\sIT"
    with pytest.raises(InvalidArgument, match="braces"):
        escape_bracket_value("a}b", "name")
