"""Issue 11, part 1 (builders' half): text that was not UTF-8 never goes back into a command.

The parser keeps bytes that are not UTF-8 as ``surrogateescape`` surrogates
(U+DC80..U+DCFF). Every field of every builder refuses a value carrying one (or any other
lone surrogate: Python cannot encode it as UTF-8 either) with an InvalidArgument that
names the field and says why, wherever in the value the surrogate sits.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeswitch import commands
from freeswitch.commands import ApiCommand, SendMsg
from freeswitch.errors import InvalidArgument
from freeswitch.media import (
    LocalStream,
    Phrase,
    Say,
    SayMethod,
    SayType,
    Silence,
    SoundFile,
    ToneStream,
    parse_playable,
)

CALLER = "2c0ac9a3-1cf1-40a4-b4bc-36bd3135475a"
AGENT = "fef5c6a8-de2a-4d47-bb52-d6c67a68997f"
NUMBER, PRONOUNCED = SayType.NUMBER, SayMethod.PRONOUNCED


def _digits(**overrides: object) -> Callable[[str], object]:
    def build(value: str) -> object:
        args: dict[str, object] = {
            "min_digits": 1,
            "max_digits": 1,
            "tries": 1,
            "timeout_ms": 1000,
            "terminators": "#",
            "prompt": Silence(100),
            "invalid_prompt": Silence(100),
            "variable": "acd_choice",
            "digits_regex": "[12]",
        }
        args.update({k: value if v is None else v for k, v in overrides.items()})
        return commands.play_and_get_digits(CALLER, **args)  # type: ignore[arg-type]

    return build


EXECUTE = (("call-command", "execute"), ("execute-app-name", "answer"))

# (what the error message names, a valid value, a builder taking that field)
FIELDS: list[tuple[str, str, Callable[[str], object]]] = [
    ("dial string", "user/1001", commands.originate),
    ("origination_uuid", AGENT, lambda v: commands.originate("user/1001", uuid=v)),
    ("caller_id_name", "Anna Öberg", lambda v: commands.originate("user/1", caller_id_name=v)),
    ("caller_id_number", "0701", lambda v: commands.originate("user/1", caller_id_number=v)),
    ("originate variable name", "acd_q", lambda v: commands.originate("user/1", variables={v: 1})),
    (
        "originate variable acd_q",
        "billing",
        lambda v: commands.originate("user/1", variables={"acd_q": v}),
    ),
    (
        "originate extension",
        "7000",
        lambda v: commands.originate("user/1", extension=v, context="acd"),
    ),
    (
        "originate context",
        "acd",
        lambda v: commands.originate("user/1", extension="7000", context=v),
    ),
    ("A leg", CALLER, lambda v: commands.uuid_bridge(v, AGENT)),
    ("B leg", AGENT, lambda v: commands.uuid_bridge(CALLER, v)),
    ("uuid", CALLER, lambda v: commands.uuid_broadcast(v, LocalStream())),
    ("uuid_broadcast leg", "aleg", lambda v: commands.uuid_broadcast(CALLER, LocalStream(), v)),  # type: ignore[arg-type]
    ("uuid", CALLER, commands.uuid_break),
    ("uuid", CALLER, commands.uuid_kill),
    ("hangup cause", "USER_BUSY", lambda v: commands.uuid_kill(CALLER, v)),
    ("uuid", CALLER, lambda v: commands.uuid_setvar(v, "acd_q", "1")),
    ("variable name", "acd_q", lambda v: commands.uuid_setvar(CALLER, v, "1")),
    ("value of acd_q", "Smith, John", lambda v: commands.uuid_setvar(CALLER, "acd_q", v)),
    ("variable name", "acd_q", lambda v: commands.uuid_getvar(CALLER, v)),
    ("uuid", CALLER, lambda v: commands.uuid_transfer(v, "7000", "acd")),
    ("extension", "7000", lambda v: commands.uuid_transfer(CALLER, v, "acd")),
    ("context", "acd", lambda v: commands.uuid_transfer(CALLER, "7000", v)),
    ("uuid_transfer dialplan", "XML", lambda v: commands.uuid_transfer(CALLER, "7", "a", dialplan=v)),  # type: ignore[arg-type]  # noqa: E501
    ("uuid_transfer leg", "bleg", lambda v: commands.uuid_transfer(CALLER, "7", "a", leg=v)),  # type: ignore[arg-type]
    ("uuid", CALLER, commands.uuid_park),
    ("uuid", CALLER, commands.uuid_answer),
    ("uuid", CALLER, commands.uuid_exists),
    ("uuid", CALLER, commands.uuid_dump),
    ("uuid", CALLER, lambda v: commands.execute(v, "answer")),
    ("execute application name", "playback", lambda v: commands.execute(CALLER, v, "a.wav")),
    ("playback argument", "/srv/a b.wav", lambda v: commands.execute(CALLER, "playback", v)),
    ("Event-UUID", AGENT, lambda v: commands.execute(CALLER, "answer", event_uuid=v)),
    ("uuid", CALLER, lambda v: commands.play(v, Silence(10))),
    ("uuid", CALLER, commands.hangup),
    ("hangup cause", "NORMAL_CLEARING", lambda v: commands.hangup(CALLER, v)),
    ("play_and_get_digits terminators", "#", _digits(terminators=None)),
    ("play_and_get_digits variable", "acd_choice", _digits(variable=None)),
    ("play_and_get_digits digits_regex", "[12]", _digits(digits_regex=None)),
    ("sound file path", "/srv/sv/välkommen.wav", SoundFile),
    ("local stream name", "moh", LocalStream),
    ("phrase macro", "acd_position", Phrase),
    ("phrase data", "3", lambda v: Phrase("acd_position", v)),
    ("say language", "sv", lambda v: Say(v, NUMBER, PRONOUNCED, "3")),
    ("say module", "sv", lambda v: Say("sv", NUMBER, PRONOUNCED, "3", module=v)),
    ("say gender", "UTRUM", lambda v: Say("sv", NUMBER, PRONOUNCED, "3", gender=v)),
    ("say text", "3", lambda v: Say("sv", NUMBER, PRONOUNCED, v)),
    ("media", "phrase:acd_position:3", parse_playable),
    ("tone stream", "tone_stream://%(100,0,440)", ToneStream.parse),
    ("api command name", "status", ApiCommand),
    ("uuid_kill argument", CALLER, lambda v: ApiCommand("uuid_kill", (v,))),
    ("uuid", CALLER, lambda v: SendMsg(v, EXECUTE)),
    ("sendmsg header name", "execute-app-arg", lambda v: SendMsg(CALLER, (*EXECUTE, (v, "x")))),
    ("sendmsg header call-command", "execute", lambda v: SendMsg(CALLER, (("call-command", v),))),
]  # fmt: skip


@pytest.mark.parametrize(("what", "valid", "build"), FIELDS, ids=[f[0] for f in FIELDS])
def test_every_field_accepts_its_valid_value(
    what: str, valid: str, build: Callable[[str], object]
) -> None:
    """The table's valid values are accepted, so each refusal below is the surrogate's."""
    build(valid)


surrogates = st.one_of(st.integers(0xDC80, 0xDCFF), st.integers(0xD800, 0xDFFF)).map(chr)


@pytest.mark.parametrize(("what", "valid", "build"), FIELDS, ids=[f[0] for f in FIELDS])
@settings(max_examples=25, deadline=None)
@given(surrogate=surrogates, where=st.floats(0.0, 1.0))
def test_every_field_refuses_text_that_was_not_utf8(
    what: str, valid: str, build: Callable[[str], object], surrogate: str, where: float
) -> None:
    at = round(where * len(valid))
    value = valid[:at] + surrogate + valid[at:]
    with pytest.raises(InvalidArgument) as info:
        build(value)
    message = str(info.value)
    assert message.startswith(what + ":") or f" {what}:" in message, message
    assert "not UTF-8" in message


def test_a_caller_number_with_a_byte_that_was_not_utf8_is_refused_by_name() -> None:
    """The issue's caller: 'Caller-Destination-Number: 1000%F1' as the parser keeps it."""
    number = b"1000\xf1".decode("utf-8", "surrogateescape")
    with pytest.raises(InvalidArgument, match=r"caller_id_number: not UTF-8 text \(byte 0xF1"):
        commands.originate("user/1001", caller_id_number=number)
    with pytest.raises(InvalidArgument, match=r"value of acd_dest: not UTF-8 text \(byte 0xF1"):
        commands.uuid_setvar(CALLER, "acd_dest", number)


def test_utf8_text_is_still_accepted() -> None:
    name = b"Anna \xc3\x96berg".decode("utf-8", "surrogateescape")
    assert name == "Anna Öberg"
    assert "Anna\\sÖberg" in commands.originate("user/1001", caller_id_name=name).line
