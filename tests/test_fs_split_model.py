"""The port of FreeSWITCH's parsing (tests/fs_split_model.py) on inputs worked out by hand
from the C source, for the syntax the recordings do not show (test_commands.py checks the
port against the recordings). Each expectation cites the C that produces it. Last, the
simulator's answer to the one piece of that syntax it does not model (':_:')."""

from __future__ import annotations

import pytest

from freeswitch.sim import AgentPhone, Simulator
from freeswitch.sim.probe import Probe
from tests import fs_split_model as fs


def _one(line: str) -> fs.DialString:
    legs = fs.originate_plan(line).legs
    assert len(legs) == 1 and isinstance(legs[0], fs.DialString)
    return legs[0]


def test_enterprise_split_happens_before_braces() -> None:
    """switch_ivr_originate: strstr(bridgeto, ":_:") before any {} parsing, so the {} block
    is cut in two: the first part has no closing brace, the second is dialled."""
    plan = fs.originate_plan(
        "originate {origination_uuid=U,x=Evil:_:sofia/gateway/gw1/19005550199|}user/1001 &park()"
    )
    assert plan.legs[0] == fs.Failed("no closing '}'")
    second = plan.legs[1]
    assert isinstance(second, fs.DialString)
    assert second.variables == ()
    assert second.groups == (
        (fs.Leg((), "sofia/gateway/gw1/19005550199"),),
        (fs.Leg((), "}user/1001"),),
    )


def test_enterprise_ultra_global_variables_come_before_the_split() -> None:
    """switch_ivr_enterprise_originate parses <...> first, then splits on ':_:'."""
    plan = fs.originate_plan("originate <a=1>{b=2}user/1:_:{c=3}user/2 &park()")
    assert plan.enterprise_variables == (("a", "1"),)
    assert [leg.variables for leg in plan.legs if isinstance(leg, fs.DialString)] == [
        (("b", "2"),),
        (("c", "3"),),
    ]


def test_failover_and_simultaneous_legs_with_per_leg_variables() -> None:
    """'|' then ','; commas inside [...] are protected (UNQUOTED_ESC_COMMA separates the
    [] variables, an escaped one stays in the value)."""
    dial = _one(r"originate {a=b\,c}[x=1\,2,y=2]user/1,[z=3]user/2|user/3 &park()")
    assert dial.variables == (("a", "b,c"),)
    assert dial.groups == (
        (fs.Leg((("x", "1,2"), ("y", "2")), "user/1"), fs.Leg((("z", "3"),), "user/2")),
        (fs.Leg((), "user/3"),),
    )


def test_custom_separators() -> None:
    """'^^<c>' right after '{' or '[' (switch_event_create_brackets), or at the start of
    any buffer switch_separate_string splits."""
    assert _one("originate {^^:a=1,2:b=3}user/1 &park()").variables == (("a", "1,2"), ("b", "3"))
    assert _one("originate [^^:a=1,2:b=3]user/1 &park()").groups[0][0].variables == (
        ("a", "1,2"),
        ("b", "3"),
    )
    assert fs.separate_string("^^;a;b c", " ", 10) == ["a", "b c"]
    assert fs.separate_string("^^;", " ", 10) == ["^^;"]  # too short to be a prefix


def test_variable_events_keep_duplicates_and_read_arrays() -> None:
    """var_event is not EF_UNIQ_HEADERS: a repeated name (any case) is a second header and
    lookups take the first; ARRAY:: values are split (switch_event_base_add_header)."""
    dial = _one("originate {a=1,A=2,b=ARRAY::x,c=ARRAY::,d=ARRAY::p|:q}user/1 &park()")
    assert dial.variables == (("a", "1"), ("A", "2"), ("b", "x"), ("d", "ARRAY::p|:q"))
    assert fs.get_header(dial.variables, "A") == "1"


def test_nested_vars_switch_anywhere_in_the_dial_string() -> None:
    assert not _one("originate {x=Origination_Nested_Vars=TRUE}user/1 &park()").check_vars
    assert _one("originate {x=1}user/1 &park()").check_vars


def test_originate_arguments() -> None:
    """originate_function: 'undef' (any case) is a missing argument; a missing extension
    trips switch_assert; '&app(data)' is cut at the first ')' and the first '('."""
    plan = fs.originate_plan("originate user/1 7000 UNDEF undef")
    assert (plan.extension, plan.dialplan, plan.context) == ("7000", "XML", "default")
    with pytest.raises(fs.ParseError):
        fs.originate_plan("originate user/1 Undef")
    with pytest.raises(fs.ParseError):
        fs.originate_plan("originate user/1")
    plan = fs.originate_plan("originate user/1 &bridge(user/2)x(${y})")
    assert (plan.application, plan.application_data) == ("bridge", "user/2")
    plan = fs.originate_plan(r"originate user/1 &echo(${system\sid})")
    assert plan.expansions == ("system id",)
    assert fs.originate_plan("originate user/1 &park").application_data is None
    assert fs.originate_plan("originate {a=b} &park()").legs == (
        fs.Failed("No origination URL specified!"),
    )


def test_expansion_of_application_data() -> None:
    """switch_channel_expand_variables_check: only when a ${ or an escape is present;
    '\\$' keeps a literal '$', '\\\\' becomes one backslash, "\\'" vanishes."""
    assert fs.expand_variables("plain $5 text") == ("plain $5 text", ())
    assert fs.expand_variables("a ${x} b $${y}c") == ("a  b c", ("x", "y"))
    assert fs.expand_variables(r"\${x} \s") == (r"${x} \s", ())
    assert fs.expand_variables(r"a\\b \s") == (r"a\b \s", ())
    assert fs.expand_variables(r"it\'s \s") == (r"its \s", ())
    assert fs.expand_variables(r"$\{x}") == (r"$\{x}", ())
    assert fs.expand_variables("${a{b}c}d") == ("d", ("a{b}c",))


def test_broadcast_paths() -> None:
    """switch_ivr_broadcast: an app only where the first ':' is doubled; '!' in the app
    name queues a hang-up."""
    view = fs.broadcast_view(r"uuid_broadcast U a:b::c aleg")
    assert (view.app, view.data) == (None, "a:b::c")
    view = fs.broadcast_view(r"uuid_broadcast U say!::sv\sNUMBER\sPRONOUNCED\s3 aleg")
    assert (view.app, view.data, view.hangup_cause) == (
        "say",
        "sv NUMBER PRONOUNCED 3",
        "normal_clearing",
    )


def test_sendmsg_and_playback() -> None:
    """read_packet skips the spaces after ':'; playback cuts at '@@'; play_file reads
    'phrase:<macro>:<data>' with the data after the second ':'."""
    view = fs.execute_view(
        "sendmsg U\ncall-command: execute\nexecute-app-name: playback\n"
        "execute-app-arg:    phrase:m:a:b@@80\n"
    )
    assert (view.uuid, view.app, view.data) == ("U", "playback", "phrase:m:a:b@@80")
    played = fs.playback_view(view.data or "")
    assert (played.file, played.offset, played.phrase) == ("phrase:m:a:b", "80", ("m", "a:b"))
    assert fs.playback_view("a@b.wav") == fs.PlaybackView("a@b.wav", None, None)
    assert fs.phrase_app_view("m,1,2") == ("m", "1,2")


def test_simulator_refuses_enterprise_originate_rather_than_dial_the_wrong_leg(
    sim: Simulator,
) -> None:
    """The simulator does not model ':_:'; where FreeSWITCH would dial what follows it
    (see above) the simulator answers an error instead of dialling user/1001."""
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=0))
    probe = Probe("127.0.0.1", sim.port)
    try:
        probe.login()
        line = "api originate {origination_caller_id_name=Evil:_:user/1002|}user/1001 &park()"
        assert probe.command(line).text == "-ERR CHAN_NOT_IMPLEMENTED\n"
        assert probe.command("api originate {x=1}user/1001 &park()").text.startswith("+OK ")
    finally:
        probe.close()
