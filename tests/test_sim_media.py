"""The simulator's prompts and keys: broadcasts, say, phrase macros, DTMF, digit collection.

Event orders and texts are the recorded ones (s03 for prompts, s06 for DTMF and
play_and_get_digits). Time runs 100x fast (time_scale 0.01); nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freeswitch.sim import Simulator
from freeswitch.sim.probe import Probe
from freeswitch.sim.sounds import SoundLibrary, number_files, say_files, separate_string
from tests.test_sim_calls import bridged_pair, trail

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def probe(sim: Simulator) -> Iterator[Probe]:
    client = Probe("127.0.0.1", sim.port)
    client.login()
    client.command("event plain ALL")
    yield client
    client.close()


def test_hold_music_until_uuid_break(sim: Simulator, probe: Probe) -> None:
    """s03: EXECUTE playback, PLAYBACK_START, (break) PLAYBACK_STOP break, COMPLETE, PRIVATE."""
    uuid = sim.place_call()
    assert (
        probe.command(f"api uuid_broadcast {uuid} local_stream://moh aleg").text
        == "+OK Message sent\n"
    )
    start = probe.wait_event("PLAYBACK_START", Unique_ID=uuid)
    assert start.get("Playback-File-Path") == "local_stream://moh"
    assert start.get("Playback-File-Type") == "local_stream"
    assert probe.command(f"api uuid_break {uuid} all").text == "+OK\n"
    stop = probe.wait_event("PLAYBACK_STOP", Unique_ID=uuid)
    assert stop.get("Playback-Status") == "break"
    probe.wait_event("PRIVATE_COMMAND", Unique_ID=uuid)
    assert trail(probe.events(), uuid)[-5:] == [
        "CHANNEL_EXECUTE(playback)", "PLAYBACK_START", "PLAYBACK_STOP",
        "CHANNEL_EXECUTE_COMPLETE(playback)", "PRIVATE_COMMAND",
    ]  # fmt: skip


def test_broadcast_argument_forms_reach_say_as_recorded(sim: Simulator, probe: Probe) -> None:
    """s03: say::sv\\sNUMBER... and 'say::sv NUMBER PRONOUNCED UTRUM 1' both reach `say`."""
    uuid = sim.place_call()
    probe.command(f"api uuid_broadcast {uuid} say::sv\\sNUMBER\\sPRONOUNCED\\s3 aleg")
    probe.command(f"api uuid_broadcast {uuid} 'say::sv NUMBER PRONOUNCED UTRUM 1' aleg")
    first = probe.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="say")
    second = probe.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="say")
    assert first.get("Application-Data") == "sv NUMBER PRONOUNCED 3"
    assert second.get("Application-Data") == "sv NUMBER PRONOUNCED UTRUM 1"
    paths = [f.get("Playback-File-Path") for f in probe.events() if f.name == "PLAYBACK_START"]
    assert paths == ["file_string://digits/3.wav", "file_string://digits/u-1.wav"]
    opened = [
        f.get("File") for f in probe.events() if f.get("Event-Subclass") == "filestring::open"
    ]
    assert opened == ["digits/3.wav", "digits/u-1.wav"]


def test_phrase_macro_plays_its_files(sim: Simulator, probe: Probe) -> None:
    """s03: phrase::acd_position,3 -> du-ar-nummer, digits/3, i-kon (sound_prefix applied)."""
    uuid = sim.place_call()
    probe.command(f"api uuid_broadcast {uuid} phrase::acd_position,3 aleg")
    done = probe.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="phrase")
    assert done.get("Application-Response") == "PHRASE PLAYED"
    paths = [f.get("Playback-File-Path") for f in probe.events() if f.name == "PLAYBACK_STOP"]
    prefix = "/srv/fsdemo/sounds/sv/se/jakob/acd"
    assert paths == [
        f"{prefix}/du-ar-nummer.wav",
        "file_string://digits/3.wav",
        f"{prefix}/i-kon.wav",
    ]


def test_phrase_inside_file_string_plays_nothing(sim: Simulator, probe: Probe) -> None:
    """FreeSWITCH cannot open phrase: inside file_string:// (Unknown file Format)."""
    uuid = sim.place_call()
    probe.command(
        f"api uuid_broadcast {uuid} file_string://phrase:acd_position:3!digits/1.wav aleg"
    )
    done = probe.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="playback")
    assert done.get("Application-Response") == "FILE NOT FOUND"
    assert not [f for f in probe.events() if f.name == "PLAYBACK_START"]


def test_say_takes_longer_for_longer_numbers() -> None:
    sounds = SoundLibrary()
    durations = [
        sounds.say(number_files("sv", n, None)).duration or 0.0 for n in (3, 42, 365, 4711)
    ]
    assert durations == sorted(durations) and len(set(durations)) == 4
    assert say_files("sv NUMBER PRONOUNCED UTRUM 1") == ["digits/u-1.wav"]
    assert say_files("sv NUMBER PRONOUNCED NEUTER 1") == ["digits/n-1.wav"]
    assert say_files("en NUMBER ITERATED 507") == ["digits/5.wav", "digits/0.wav", "digits/7.wav"]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("u say::sv\\sNUMBER\\sPRONOUNCED\\s3 aleg", ["u", "say::sv NUMBER PRONOUNCED 3", "aleg"]),
        (
            "u 'say::sv NUMBER PRONOUNCED UTRUM 1' aleg",
            ["u", "say::sv NUMBER PRONOUNCED UTRUM 1", "aleg"],
        ),
        ("  a   b  ", ["a", "b"]),
        ("1 2 3 4 5 6", ["1", "2", "3", "4 5 6"]),
        ("x \\d+ y", ["x", "\\d+", "y"]),
    ],
)
def test_separate_string_like_freeswitch(text: str, parts: list[str]) -> None:
    assert separate_string(text, 4) == parts


def test_dtmf_and_play_and_get_digits(sim: Simulator, probe: Probe) -> None:
    """s06: DTMF events; the pagd result variable is on CHANNEL_EXECUTE_COMPLETE."""
    uuid = sim.place_call()
    sim.press_dtmf(uuid, "1")
    assert probe.wait_event("DTMF", Unique_ID=uuid).get("DTMF-Digit") == "1"
    # s06's arguments with the first-digit timeout raised (4 s -> 400 s simulated, 4 s real),
    # so a slow test machine cannot let the collection time out before the key is pressed.
    arg = "1 1 1 400000 # silence_stream://300 silence_stream://100 acd_choice [12] 2000"
    reply = probe.command(
        f"sendmsg {uuid}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
        f"execute-app-arg: {arg}\nevent-lock: true\nEvent-UUID: pagd-1"
    )
    assert reply.headers["Reply-Text"] == "+OK"
    probe.wait_event("PLAYBACK_STOP", Unique_ID=uuid)
    sim.press_dtmf(uuid, "2")
    done = probe.wait_event(
        "CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="play_and_get_digits"
    )
    assert done.get("Application-UUID") == "pagd-1"
    assert done.get("variable_acd_choice") == "2"
    assert done.get("variable_read_result") == "success"
    private = probe.wait_event("PRIVATE_COMMAND", Unique_ID=uuid)
    assert private.event[0] == ("Command", f"sendmsg {uuid}")


def test_number_entry_without_terminator_ends_on_digit_timeout(
    sim: Simulator, probe: Probe
) -> None:
    """s06: 10 digits, no #: read_result timeout, the number is still stored."""
    uuid = sim.place_call()
    arg = "6 12 1 500000 # silence_stream://200 silence_stream://100 acd_cb_number \\d+ 1500"
    probe.command(
        f"sendmsg {uuid}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
        f"execute-app-arg: {arg}"
    )
    probe.wait_event("PLAYBACK_STOP", Unique_ID=uuid)
    sim.press_dtmf(uuid, "0701234567")
    done = probe.wait_event(
        "CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="play_and_get_digits"
    )
    assert done.get("variable_acd_cb_number") == "0701234567"
    assert done.get("variable_read_result") == "timeout"
    assert probe.command(f"api uuid_getvar {uuid} acd_cb_number").text == "0701234567"


def test_broadcast_to_the_b_leg_of_a_bridge(sim: Simulator, probe: Probe) -> None:
    caller, agent = bridged_pair(sim, probe)
    probe.command(f"api uuid_broadcast {caller} /tmp/whisper.wav bleg")
    stop = probe.wait_event("PLAYBACK_STOP", Unique_ID=agent)
    assert stop.get("Playback-File-Path") == "/tmp/whisper.wav"
    assert stop.get("Other-Leg-Unique-ID") == caller
    probe.command(f"api uuid_broadcast {caller} tone_stream://%(100,0,440) both")
    tone = "tone_stream://%(100,0,440)"
    for leg in (agent, caller):
        stop = probe.wait_event("PLAYBACK_STOP", Unique_ID=leg, Playback_File_Path=tone)
        assert stop.get("Playback-Status") == "done"
        probe.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=leg, Application_Data=tone)


def test_sendmsg_loops_repeat_the_application(sim: Simulator, probe: Probe) -> None:
    uuid = sim.place_call()
    probe.command(
        f"sendmsg {uuid}\ncall-command: execute\nexecute-app-name: playback\n"
        "execute-app-arg: tone_stream://%(100,0,440)\nloops: 2"
    )
    probe.wait_event("PRIVATE_COMMAND", Unique_ID=uuid)
    assert trail(probe.events(), uuid)[-9:] == [
        "CHANNEL_EXECUTE(playback)", "PLAYBACK_START", "PLAYBACK_STOP",
        "CHANNEL_EXECUTE_COMPLETE(playback)", "CHANNEL_EXECUTE(playback)",
        "PLAYBACK_START", "PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE(playback)", "PRIVATE_COMMAND",
    ]  # fmt: skip
