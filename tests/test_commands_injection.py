"""Injection attempts against the command builders (contract 3): hostile caller IDs,
digits and variables are refused, or FreeSWITCH's own argument splitting (ported in
tests/fs_split_model.py) gives the value back whole — checked by example and by
hypothesis over arbitrary text."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeswitch import commands
from freeswitch.arguments import escape_bracket_value
from freeswitch.commands import ApiCommand
from freeswitch.errors import InvalidArgument
from freeswitch.media import Phrase, Say, SayMethod, SayType, Silence, SoundFile
from tests import fs_split_model as fs

CALLER = "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"
AGENT = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"

HOSTILE = [
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


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_are_refused_or_kept_whole(hostile: str) -> None:
    """A value is either refused, or FreeSWITCH sees exactly that one value."""
    try:
        cmd = commands.originate(
            "user/1001", uuid=AGENT, caller_id_name=hostile, variables={"acd_note": hostile}
        )
    except InvalidArgument:
        pass
    else:
        variables, dial, rest = fs.originate_view(cmd.line)
        assert variables == {
            "origination_uuid": AGENT,
            "origination_caller_id_name": hostile,
            "acd_note": hostile,
        }
        assert (dial, rest) == ("user/1001", ["&park()"])
    try:
        setvar = commands.uuid_setvar(CALLER, "acd_note", hostile)
    except InvalidArgument:
        pass
    else:
        assert fs.api_arguments(setvar.line, 3)[1] == [CALLER, "acd_note", hostile]


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
) | st.sampled_from(list(",= {}'\"\\$;:&|[]<>^%@"))


@settings(max_examples=300, deadline=None)
@given(
    variables=st.dictionaries(
        st.text(
            alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12
        ).filter(lambda n: n not in {"origination_uuid"}),
        st.text(alphabet=value_alphabet, min_size=1, max_size=40),
        max_size=5,
    )
)
def test_originate_variables_arrive_exactly_or_are_refused(variables: dict[str, str]) -> None:
    """Property: for any accepted value, FreeSWITCH's own splitting gives it back whole."""
    try:
        cmd = commands.originate("loopback/agent_1/agents", uuid=AGENT, variables=variables)
    except InvalidArgument:
        refused = [v for v in variables.values() if _refused(v)]
        assert refused, "a value was refused without reason"
        return
    seen, dial, rest = fs.originate_view(cmd.line)
    assert seen == {"origination_uuid": AGENT, **variables}
    assert (dial, rest) == ("loopback/agent_1/agents", ["&park()"])


def _refused(value: str) -> bool:
    return (
        any(c in value for c in "'\"\\${}")
        or value != value.strip(" ")
        or any(not c.isprintable() for c in value)
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=value_alphabet, min_size=1, max_size=40))
def test_setvar_values_arrive_exactly_or_are_refused(value: str) -> None:
    try:
        cmd = commands.uuid_setvar(CALLER, "acd_note", value)
    except InvalidArgument:
        assert _refused(value)
        return
    assert fs.api_arguments(cmd.line, 3)[1] == [CALLER, "acd_note", value]


def test_escape_bracket_value_escapes_commas_and_spaces() -> None:
    assert escape_bracket_value("Anna Berg, IT", "name") == "Anna\\sBerg\\,\\sIT"
    with pytest.raises(InvalidArgument, match="braces"):
        escape_bracket_value("a}b", "name")
