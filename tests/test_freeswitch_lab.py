"""The real-FreeSWITCH lab works, and the shipped FreeSWITCH files do what they promise.

Each test drives FreeSWITCH 1.10.12 (tests/freeswitch_lab.py) with SIP callers and agent
phones (sipp) and watches it through the project's own ESLClient and command builders.
They are skipped where FreeSWITCH is not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping

import pytest

from freeswitch.client import ESLClient
from freeswitch.commands import originate, uuid_broadcast
from freeswitch.media import LocalStream, Phrase
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, poll

pytestmark = pytest.mark.freeswitch


@pytest.fixture
def events(lab: FreeSwitchLab) -> Iterator[tuple[ESLClient, EventRecorder]]:
    """An ESLClient subscribed to every event of the lab, and what it has received."""
    client = ESLClient(lab.client_settings())
    recorder = EventRecorder(client)
    client.connect()
    try:
        yield client, recorder
    finally:
        client.stop()


def _parked(recorder: EventRecorder, extension: str) -> str:
    park = recorder.wait("CHANNEL_PARK", {"Caller-Destination-Number": extension})
    channel = park.get("Unique-ID")
    assert channel
    return channel


@pytest.mark.parametrize(
    ("extension", "expected", "answered"),
    [
        (
            "7000",
            {"acd_queue": "support", "acd_language": "sv", "acd_skills": "billing:1"},
            True,
        ),
        ("7001", {"acd_queue": "sales", "acd_language": "en"}, False),
        ("7002", {"acd_queue": "support", "acd_language": "sv", "acd_priority": "5"}, True),
    ],
)
def test_queue_entries_park_with_their_variables(
    lab: FreeSwitchLab,
    events: tuple[ESLClient, EventRecorder],
    extension: str,
    expected: Mapping[str, str],
    answered: bool,
) -> None:
    """The shipped dialplan: each queue entry sets its acd_* variables and the caller's
    default_language, and parks answered (hold music) or ringing (ringback)."""
    _, recorder = events
    caller = lab.caller(extension, caller_id="0701234567")
    park = recorder.wait("CHANNEL_PARK", {"Caller-Destination-Number": extension})
    variables = {name: park.get(f"variable_{name}") for name in expected}
    assert variables == dict(expected)
    assert park.get("variable_default_language") == expected["acd_language"]
    assert park.get("Caller-Caller-ID-Number") == "0701234567"
    assert park.get("variable_sip_call_id") == caller.call_id  # how a test finds its channel
    assert park.get("Answer-State") == ("answered" if answered else "ringing")
    assert caller.answered() is answered
    if not answered:
        assert caller.received(180) == 1  # the phone plays ringback meanwhile


def test_hold_music_plays_from_the_generated_prompts(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    """local_stream://moh plays the generated hold music (R-NOSILENCE needs it to exist)."""
    client, recorder = events
    lab.caller("7000")
    channel = _parked(recorder, "7000")
    assert client.api(uuid_broadcast(channel, LocalStream("moh"))).ok
    started = recorder.wait("PLAYBACK_START", {"Unique-ID": channel})
    assert started.get("Playback-File-Path") == "local_stream://moh"
    assert recorder.matching("PLAYBACK_STOP", {"Unique-ID": channel}) == []


# (language, macro, data) -> the files FreeSWITCH opens, in order. Play-files are relative
# to the language's sound-prefix; what mod_say plays is one file_string per say action.
_PHRASES: list[tuple[str, str, str, list[str]]] = [
    ("sv", "acd_position", "3", ["acd/du-ar-nummer", "say:3", "acd/i-kon"]),
    ("sv", "acd_position", "1", ["acd/du-ar-nummer", "say:n-1", "acd/i-kon"]),
    ("sv", "acd_position", "23", ["acd/du-ar-nummer", "say:20", "say:3", "acd/i-kon"]),
    ("sv", "acd_ewt", "1", ["acd/vantetid-ungefar", "say:u-1", "acd/minut"]),
    ("sv", "acd_ewt", "21", ["acd/vantetid-ungefar", "say:20", "say:u-1", "acd/minuter"]),
    ("sv", "acd_agents", "1", ["say:u-1", "acd/handlaggare-ar-ledig"]),
    ("sv", "acd_agents", "2", ["say:2", "acd/handlaggare-ar-lediga"]),
    ("en", "acd_position", "23", ["acd/you-are-number", "say:20!3", "acd/in-the-queue"]),
    ("en", "acd_ewt", "1", ["acd/wait-about", "say:1", "acd/minute"]),
    ("en", "acd_agents", "2", ["say:2", "acd/agents-are-available"]),
]


def _expected_path(lab: FreeSwitchLab, lang: str, step: str) -> str:
    if step.startswith("say:"):
        files = "!".join(f"digits/{name}.wav" for name in step[4:].split("!"))
        return f"file_string://{files}"
    return f"{lab.sounds_dir}/{lang}/{step}.wav"


def test_phrase_macros_say_numbers_in_the_right_form_R_NUMBERS(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    """R-NUMBERS on the real FreeSWITCH: the shipped sv/en macros through mod_say_sv /
    mod_say_en — position in neuter ("nummer ETT"), minutes and agents in utrum ("EN
    minut", "EN handläggare är ledig"), singular vs plural, and 21..99 said whole in
    Swedish (mod_say_sv alone drops the unit). One parked caller per phrase, all at once;
    en callers wait unanswered (7001): the phrase plays to them as early media."""
    client, recorder = events
    channels: list[str] = []
    for index, (lang, _, _, _) in enumerate(_PHRASES):
        extension = "7000" if lang == "sv" else "7001"
        lab.caller(extension, caller_id=f"07000000{index:02d}")
        park = recorder.wait(
            "CHANNEL_PARK",
            {
                "Caller-Destination-Number": extension,
                "Caller-Caller-ID-Number": f"07000000{index:02d}",
            },
        )
        channel = park.get("Unique-ID")
        assert channel
        channels.append(channel)
    for channel, (_, macro, data, _) in zip(channels, _PHRASES, strict=True):
        assert client.api(uuid_broadcast(channel, Phrase(macro, data))).ok
    wrong = {}
    for channel, (lang, macro, data, steps) in zip(channels, _PHRASES, strict=True):
        done = recorder.wait(
            "CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": channel, "Application": "phrase"}, 20.0
        )
        played = [
            e.get("Playback-File-Path")
            for e in recorder.matching("PLAYBACK_START", {"Unique-ID": channel})
        ]
        expected = [_expected_path(lab, lang, step) for step in steps]
        if played != expected or done.get("Application-Response") != "PHRASE PLAYED":
            wrong[f"{lang} {macro} {data}"] = (played, done.get("Application-Response"))
    assert wrong == {}


def test_registered_agent_phone_answers_an_originated_leg(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    client, recorder = events
    phone = lab.agent_phone("1001", answer_after=0.2)
    leg = str(uuid.uuid4())
    job = client.bgapi(originate("user/1001", uuid=leg, timeout=10))
    assert job.wait(15.0).strip() == f"+OK {leg}"
    recorder.wait("CHANNEL_ANSWER", {"Unique-ID": leg})
    assert phone.received("INVITE") == 1


@pytest.mark.parametrize(
    ("phone", "result"),
    [
        ({"answer_after": None}, "-ERR NO_ANSWER"),
        ({"reply": 486}, "-ERR USER_BUSY"),
        (None, "-ERR USER_NOT_REGISTERED"),
    ],
    ids=["rings-unanswered", "busy", "not-registered"],
)
def test_agent_leg_failures_come_back_as_originate_errors(
    lab: FreeSwitchLab,
    events: tuple[ESLClient, EventRecorder],
    phone: dict[str, int | None] | None,
    result: str,
) -> None:
    """What R-NOANSWER acts on: a phone that rings past originate_timeout, a busy phone,
    a user with no registration."""
    client, _ = events
    agent = lab.agent_phone("1002", **phone) if phone is not None else None  # type: ignore[arg-type]
    job = client.bgapi(originate("user/1002", uuid=str(uuid.uuid4()), timeout=2))
    assert job.wait(15.0).strip() == result
    if phone == {"answer_after": None}:
        assert agent is not None
        poll(lambda: agent.received("CANCEL") == 1, 5.0, "the ringing phone to get CANCEL")


def test_feature_code_parks_with_action_and_phone_and_takes_keys(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    """*21<queue> from an agent's phone (R-PHONELOGIN, R-FREESEAT): parked answered with
    acd_action=login, the digits after the code and the calling phone; keys pressed on
    the phone (SIP INFO) reach FreeSWITCH as DTMF."""
    _, recorder = events
    caller = lab.caller("*215", caller_id="1001")
    park = recorder.wait("CHANNEL_PARK", {"Caller-Destination-Number": "*215"})
    channel = park.get("Unique-ID")
    assert channel
    assert (park.get("variable_acd_action"), park.get("variable_acd_action_arg")) == ("login", "5")
    assert park.get("variable_acd_phone") == "1001"
    assert park.get("Answer-State") == "answered"
    caller.send_dtmf("42#")
    recorder.wait("DTMF", {"Unique-ID": channel, "DTMF-Digit": "#"})
    digits = [e.get("DTMF-Digit") for e in recorder.matching("DTMF", {"Unique-ID": channel})]
    assert digits == ["4", "2", "#"]


def test_feature_code_without_digits_has_no_argument(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    _, recorder = events
    lab.caller("*24", caller_id="1003")
    park = recorder.wait("CHANNEL_PARK", {"Caller-Destination-Number": "*24"})
    assert park.get("variable_acd_action") == "unpause"
    assert park.get("variable_acd_action_arg") is None  # `set x=` unsets it
    assert park.get("variable_acd_phone") == "1003"


def test_ringing_caller_hangs_up_with_cancel(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    _, recorder = events
    caller = lab.caller("7001")
    channel = _parked(recorder, "7001")
    caller.hangup()
    gone = recorder.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": channel})
    assert gone.get("Hangup-Cause") == "ORIGINATOR_CANCEL"
    assert caller.returncode == 0


def test_answered_caller_hangs_up_with_bye(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    _, recorder = events
    caller = lab.caller("7000")
    channel = _parked(recorder, "7000")
    caller.hangup()
    gone = recorder.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": channel})
    assert gone.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert gone.get("variable_sip_hangup_disposition") == "recv_bye"
    assert caller.returncode == 0


def test_agent_phone_hangs_up_after_its_talk_time(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    """What ends a call and starts wrap-up: the agent hangs up (a BYE from the phone)."""
    client, recorder = events
    phone = lab.agent_phone("1003", answer_after=0.1, talk=0.5)
    leg = str(uuid.uuid4())
    assert client.bgapi(originate("user/1003", uuid=leg, timeout=10)).wait(15.0).startswith("+OK")
    gone = recorder.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": leg})
    assert gone.get("variable_sip_hangup_disposition") == "recv_bye"
    assert phone.running  # ready for the next call


def test_unregistered_phone_is_not_reachable(
    lab: FreeSwitchLab, events: tuple[ESLClient, EventRecorder]
) -> None:
    client, _ = events
    phone = lab.agent_phone("1004")
    assert lab.registered("1004")
    phone.unregister()
    assert not lab.registered("1004")
    job = client.bgapi(originate("user/1004", uuid=str(uuid.uuid4()), timeout=2))
    assert job.wait(15.0).strip() == "-ERR USER_NOT_REGISTERED"


def test_restart_keeps_the_ports_and_brings_a_new_core(lab: FreeSwitchLab) -> None:
    """What the engine's reconnect tests rely on: same Event Socket, new Core-UUID."""
    before = lab.api("global_getvar core_uuid").strip()
    lab.restart()
    after = lab.api("global_getvar core_uuid").strip()
    assert before and after and before != after
