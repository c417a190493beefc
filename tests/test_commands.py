"""Command builders: recorded forms, injection attempts, and what FreeSWITCH would see.

"What FreeSWITCH would see" is computed by tests/fs_split_model.py, a port of
FreeSWITCH's own argument splitting, itself checked against the recordings here.
"""

from __future__ import annotations

import re

import pytest

from freeswitch import commands
from freeswitch.arguments import HangupCause
from freeswitch.channel_rows import parse_show_channels
from freeswitch.commands import SendMsg
from freeswitch.errors import CommandFailed, InvalidArgument, ProtocolError
from freeswitch.media import (
    RINGBACK,
    UTRUM,
    LocalStream,
    Phrase,
    Say,
    SayGender,
    SayMethod,
    SayType,
    Silence,
    SoundFile,
    Tone,
    ToneStream,
    parse_playable,
)
from tests import fs_split_model as fs
from tests.captures import load_conversation

CALLER = "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"
AGENT = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"


def recorded_out(name: str) -> list[str]:
    """The commands a recorded client sent, without the final blank line."""
    return [t["data"].removesuffix("\n\n") for t in load_conversation(name) if t["dir"] == "out"]


def recorded_api_bodies(name: str, command: str) -> list[str]:
    """Bodies of the api/response frames answering ``api <command>`` in a recording."""
    records = load_conversation(name)
    stream = "".join(r["data"] for r in records if r["dir"] == "in")
    bodies = []
    for match in re.finditer(r"Content-Type: api/response\nContent-Length: (\d+)\n\n", stream):
        bodies.append(stream[match.end() : match.end() + int(match.group(1))])
    sent = [c for c in recorded_out(name) if c.startswith("api ")]
    assert len(sent) == len(bodies)
    return [body for cmd, body in zip(sent, bodies, strict=True) if cmd == f"api {command}"]


# --- the split model agrees with the recordings -------------------------------------


def test_model_reads_both_recorded_say_forms_like_freeswitch() -> None:
    """README: both forms reach say as `sv NUMBER PRONOUNCED 3` / `... UTRUM 1`."""
    escaped = f"uuid_broadcast {CALLER} say::sv\\sNUMBER\\sPRONOUNCED\\s3 aleg"
    quoted = f"uuid_broadcast {CALLER} 'say::sv NUMBER PRONOUNCED UTRUM 1' aleg"
    assert fs.broadcast_view(escaped) == fs.BroadcastView(
        CALLER, "say", "sv NUMBER PRONOUNCED 3", "aleg"
    )
    assert fs.broadcast_view(quoted) == fs.BroadcastView(
        CALLER, "say", "sv NUMBER PRONOUNCED UTRUM 1", "aleg"
    )


def test_model_reads_recorded_originate() -> None:
    line = next(
        c for c in recorded_out("s03_caller_journey_plain") if c.startswith("bgapi originate")
    )
    variables, dial, rest = fs.originate_view(line.split("\n")[0].removeprefix("bgapi "))
    assert variables["origination_uuid"] == AGENT
    assert variables["acd_caller"] == CALLER
    assert dial == "sofia/internal/sip:agent1@127.0.0.1:5070"
    assert rest == ["&park()"]


# --- recorded forms, byte for byte ---------------------------------------------------


def test_originate_matches_recorded_agent_leg() -> None:
    """The agent leg of s03, built by the builder, is exactly what FreeSWITCH accepted."""
    cmd = commands.originate(
        "sofia/internal/sip:agent1@127.0.0.1:5070",
        uuid=AGENT,
        ignore_early_media=True,
        timeout=20,
        variables={"acd_role": "agent", "acd_caller": CALLER},
    )
    recorded = next(c for c in recorded_out("s03_caller_journey_plain") if c.startswith("bgapi"))
    assert "bgapi " + cmd.line == recorded.split("\n")[0]


def test_uuid_commands_match_recorded_lines() -> None:
    sent = set(recorded_out("s03_caller_journey_plain")) | set(
        recorded_out("s02_commands_and_errors")
    )
    s06 = set(recorded_out("s06_dtmf_digits_and_hangups"))
    u = "00000000-1111-2222-3333-444444444444"
    built = [
        commands.uuid_broadcast(CALLER, LocalStream("moh")),
        commands.uuid_break(CALLER),
        commands.uuid_broadcast(CALLER, Say.number("sv", 3)),
        commands.uuid_broadcast(CALLER, Phrase("acd_position", "3")),
        commands.uuid_broadcast(
            CALLER, SoundFile("/srv/fsdemo/sounds/sv/se/jakob/acd/du-ar-nummer.wav")
        ),
        commands.uuid_broadcast(
            AGENT, SoundFile("/srv/fsdemo/sounds/en/us/callie/acd/whisper.wav")
        ),
        commands.uuid_bridge(CALLER, AGENT),
        commands.uuid_dump(CALLER),
        commands.uuid_kill(u),
        commands.uuid_bridge(u, "00000000-1111-2222-3333-555555555555"),
        commands.uuid_broadcast(u, ToneStream((Tone(100, 0, (440,)),))),
        commands.uuid_setvar(u, "acd_x", 1),
        commands.uuid_getvar(u, "foo"),
        commands.uuid_exists(u),
        commands.uuid_transfer(u, "7000", "acd"),
        commands.show_channels(),
        commands.show_calls(),
    ]
    for cmd in built:
        assert f"api {cmd}" in sent, cmd.line
    setvar = commands.uuid_setvar("3c29ee76-9e32-4d94-8a48-bfe45c6accb6", "acd_cb_confirmed", True)
    assert f"api {setvar}" in s06
    assert f"api {commands.core_uuid()}" in recorded_out("s09b_after_restart")


def test_sendmsg_matches_recorded_phrase_playback_and_hangup() -> None:
    recorded = recorded_out("s03_caller_journey_plain")
    msg = commands.play(
        CALLER, Phrase("acd_position", "12"), event_uuid="6df1cfa3-5068-4bcb-94e1-063ed699c6f5"
    )
    assert msg.text in recorded
    hangup = commands.hangup("3c29ee76-9e32-4d94-8a48-bfe45c6accb6", HangupCause.NORMAL_CLEARING)
    assert hangup.text in recorded_out("s06_dtmf_digits_and_hangups")


def test_play_and_get_digits_matches_recorded_one_key_menu() -> None:
    """R-DTMF: the one-key menu and the number entry with no terminating '#' (s06)."""
    menu = commands.play_and_get_digits(
        "3c29ee76-9e32-4d94-8a48-bfe45c6accb6",
        min_digits=1,
        max_digits=1,
        tries=1,
        timeout_ms=4000,
        terminators="#",
        prompt=Silence(300),
        invalid_prompt=Silence(100),
        variable="acd_choice",
        digits_regex="[12]",
        digit_timeout_ms=2000,
        event_uuid="0d10885c-191a-4a70-86d7-66cce4826139",
    )
    number = commands.play_and_get_digits(
        "3c29ee76-9e32-4d94-8a48-bfe45c6accb6",
        min_digits=6,
        max_digits=12,
        tries=1,
        timeout_ms=5000,
        terminators="#",
        prompt=Silence(200),
        invalid_prompt=Silence(100),
        variable="acd_cb_number",
        digits_regex="\\d+",
        digit_timeout_ms=1500,
        event_uuid="60f0541d-de2c-4322-b1bb-bfdb6e6b36e6",
    )
    recorded = recorded_out("s06_dtmf_digits_and_hangups")
    assert menu.text in recorded
    assert number.text in recorded


def test_say_forms_reach_say_application_as_recorded() -> None:
    """R-NUMBERS: NEUTER/no gender says "ett", the UTRUM token says "en" (README)."""
    plain = commands.uuid_broadcast(CALLER, Say.number("sv", 3))
    assert plain.args[1] == "say::sv\\sNUMBER\\sPRONOUNCED\\s3"
    utrum = commands.uuid_broadcast(CALLER, Say.number("sv", 1, gender=UTRUM))
    view = fs.broadcast_view(utrum.line)
    assert (view.app, view.data) == ("say", "sv NUMBER PRONOUNCED UTRUM 1")
    neuter = Say("sv", SayType.NUMBER, SayMethod.PRONOUNCED, "1", SayGender.NEUTER)
    assert neuter.execute() == ("say", "sv NUMBER PRONOUNCED NEUTER 1")
    counted = Say("en", SayType.NUMBER, SayMethod.COUNTED, "2", module="en")
    assert counted.execute() == ("say", "en:en NUMBER COUNTED 2")


def test_phrase_forms() -> None:
    phrase = Phrase("acd_agents", "1")
    assert phrase.broadcast_arg() == "phrase::acd_agents,1"
    assert phrase.execute() == ("playback", "phrase:acd_agents:1")
    assert Phrase("acd_welcome").playback_path() == "phrase:acd_welcome"


def test_tone_streams_and_parse() -> None:
    assert RINGBACK.playback_path() == "tone_stream://%(2000,4000,440,480);loops=-1"
    assert ToneStream.parse("tone_stream://%(2000,4000,440,480);loops=-1") == RINGBACK
    two = ToneStream.parse("tone_stream://%(100,0,440);%(200,50,350,440)")
    assert two.tones == (Tone(100, 0, (440,)), Tone(200, 50, (350, 440)))
    assert two.loops is None
    for bad in (
        "tone_stream://%(100,0,440);loops=-1 aleg\n\napi shutdown",
        "tone_stream://v=-7;%(100,0,440)",
        "tone_stream://%(100,0,440,1,2,3,4)",
        "tone_stream://${x}",
    ):
        with pytest.raises(InvalidArgument):
            ToneStream.parse(bad)


def test_parse_playable_accepts_configured_forms_only() -> None:
    assert parse_playable("local_stream://moh") == LocalStream("moh")
    assert parse_playable("silence_stream://500") == Silence(500)
    assert parse_playable("phrase:acd_position:3") == Phrase("acd_position", "3")
    assert parse_playable("acd/i-kon.wav") == SoundFile("acd/i-kon.wav")
    for bad in ("shout://evil", "say::sv NUMBER", "file_string://a!b", "/a/../etc/passwd", "a::b"):
        with pytest.raises(InvalidArgument):
            parse_playable(bad)


def test_sound_file_with_space_arrives_whole() -> None:
    cmd = commands.uuid_broadcast(CALLER, SoundFile("/srv/sounds/sv/välkommen till oss.wav"))
    assert fs.broadcast_view(cmd.line) == fs.BroadcastView(
        CALLER, None, "/srv/sounds/sv/välkommen till oss.wav", "aleg"
    )
    msg = commands.play(CALLER, SoundFile("/srv/sounds/a b.wav"))
    assert "execute-app-arg: /srv/sounds/a b.wav" in msg.text.split("\n")


# --- validation of identifiers ----------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "user/1001",
        "user/1001@example.org",
        "sofia/internal/sip:agent1@127.0.0.1:5070",
        "sofia/internal/agent@[::1]:5070;transport=tcp",
        "sofia/gateway/carrier/+46701234567",
        "loopback/agent_talk_3/agents",
        "loopback/7000/acd/XML",
    ],
)
def test_dial_strings_accepted(endpoint: str) -> None:
    assert commands.check_dial_string(endpoint) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "user/1001,user/1002",
        "user/1001|user/1002",
        "user/1001 &park()",
        "{origination_uuid=x}user/1001",
        "[leg_var=1]user/1001",
        "sofia/internal/sip:a@b:5060\n\napi shutdown",
        "sofia/internal/${evil}@x",
        "freetdm/1/a/123",
        "user/",
        "error/USER_BUSY",
    ],
)
def test_dial_strings_refused(endpoint: str) -> None:
    with pytest.raises(InvalidArgument, match="dial string"):
        commands.check_dial_string(endpoint)


def test_uuids_validated() -> None:
    assert commands.uuid_park(CALLER).line == f"uuid_park {CALLER}"
    assert commands.uuid_answer("agent-1001_a.b").args == ("agent-1001_a.b",)
    for bad in ("", " x", "a b", "-leading", "a\nb", "x" * 200, "a/b", "a,b", None, 5):
        with pytest.raises(InvalidArgument):
            commands.uuid_park(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="itself"):
        commands.uuid_bridge(CALLER, CALLER)


def test_hangup_causes_come_from_the_enum() -> None:
    assert (
        commands.uuid_kill(CALLER, "ORIGINATOR_CANCEL").line
        == f"uuid_kill {CALLER} ORIGINATOR_CANCEL"
    )
    assert commands.uuid_kill(CALLER, HangupCause.SYSTEM_SHUTDOWN).args[1] == "SYSTEM_SHUTDOWN"
    for bad in ("normal_clearing", "NORMAL_CLEARING extra", "16", "BOGUS"):
        with pytest.raises(InvalidArgument, match="cause"):
            commands.uuid_kill(CALLER, bad)


def test_say_text_validated_per_type() -> None:
    with pytest.raises(InvalidArgument):
        Say("sv", SayType.NUMBER, SayMethod.PRONOUNCED, "3.5")
    with pytest.raises(InvalidArgument):
        Say.number("sv", -1)
    with pytest.raises(InvalidArgument):
        Say("svenska", SayType.NUMBER, SayMethod.PRONOUNCED, "3")
    with pytest.raises(InvalidArgument):
        Say("sv", "NUMBER", SayMethod.PRONOUNCED, "3")  # type: ignore[arg-type]
    assert Say("sv", SayType.CURRENCY, SayMethod.PRONOUNCED, "12.50").words()[-1] == "12.50"
    assert Say("en", SayType.TIME_MEASUREMENT, SayMethod.PRONOUNCED, "0:05:30").text == "0:05:30"


def test_uuid_broadcast_leg_validated() -> None:
    with pytest.raises(InvalidArgument, match="leg"):
        commands.uuid_broadcast(CALLER, LocalStream(), "aleg both")  # type: ignore[arg-type]
    assert commands.uuid_broadcast(CALLER, RINGBACK, "both").args[2] == "both"


def test_sendmsg_headers_validated() -> None:
    with pytest.raises(InvalidArgument):
        SendMsg(CALLER, (("call-command", "execute\nexecute-app-name: hangup"),))
    with pytest.raises(InvalidArgument):
        commands.execute(CALLER, "../bin", "")
    with pytest.raises(InvalidArgument):
        commands.execute(CALLER, "Playback", "a.wav")
    assert commands.execute(CALLER, "answer", event_lock=False).text == (
        f"sendmsg {CALLER}\ncall-command: execute\nexecute-app-name: answer"
    )


# --- parsing answers -------------------------------------------------------------------


def test_show_channels_rows_from_recording() -> None:
    """s07: parked, ringing and bridged channels, typed."""
    bodies = recorded_api_bodies("s07_reconcile_snapshot", "show channels as json")
    first = parse_show_channels(bodies[0])
    assert len(first) == 5
    caller = next(r for r in first if r.uuid == "b5224928-efce-4af0-aea5-b5f115a9c0eb")
    assert caller.cid_num == "0701234567"
    assert caller.dest == "7000"
    assert caller.state == "CS_EXECUTE"
    assert caller.callstate == "ACTIVE"
    assert caller.parked and caller.answered
    assert caller.created_epoch == 1795552634
    assert caller.context == "acd"
    ringing = next(r for r in first if r.uuid == "3d74f467-c6b9-4d18-8396-6af959cfdd0b")
    assert ringing.callstate == "RINGING" and ringing.parked and not ringing.answered
    bridged = parse_show_channels(bodies[1])
    after = next(r for r in bridged if r.uuid == "b5224928-efce-4af0-aea5-b5f115a9c0eb")
    assert after.application == "uuid_bridge"
    assert after.application_data == "8a7604a9-9f3e-4ebf-aa58-656046a6fff6"
    assert after.raw["initial_dest"] == "7000"


def test_show_channels_empty_and_errors() -> None:
    assert parse_show_channels('{"row_count": 0}\n') == []
    with pytest.raises(CommandFailed):
        parse_show_channels("-ERR no reply\n")
    with pytest.raises(ProtocolError) as info:
        parse_show_channels('{"row_count": 1, "rows": [')
    assert info.value.offset > 0
    with pytest.raises(ProtocolError):
        parse_show_channels('{"row_count": 2, "rows": [{"uuid": "a"}]}')


def test_parse_answers() -> None:
    ok = commands.parse_originate_result(f"+OK {AGENT}\n")
    assert ok.ok and ok.uuid == AGENT
    failed = commands.parse_originate_result("-ERR USER_NOT_REGISTERED\n")
    assert not failed.ok and failed.hangup_cause is HangupCause.USER_NOT_REGISTERED
    assert commands.parse_getvar("_undef_") is None
    assert commands.parse_getvar("0701234567") == "0701234567"
    with pytest.raises(CommandFailed):
        commands.parse_getvar("-ERR No such channel!\n")
    assert commands.parse_exists("false") is False
    assert commands.parse_exists("true") is True
