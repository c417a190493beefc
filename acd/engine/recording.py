"""Recording a prompt from a phone (R-PROMPTS): the admin feature code ``*25``.

The dialplan answers and parks with ``acd_admin=record_prompt``. The engine asks for the
admin PIN, then for a recording code (``prompts.record_codes``: digits -> prompt id and
language), then plays "speak after the tone", a beep, and runs ``record`` into
``<prompts.directory>/.recordings/<uuid>.wav`` (it ends on '#', after
``record_silence_seconds`` of silence or at ``max_record_seconds``). The recording is
played back and the admin keys 1 (keep) or 2 (record again). Kept: a
:class:`~acd.engine.effects.StorePrompt` effect converts it like ``acd prompts import`` into
the prompt directory and its manifest (the runner carries it out), and the phone hears
"saved" (or "failed") and is hung up.

All the engine sends is queued on the channel with ``sendmsg`` (event-lock), so one
``play_and_get_digits`` at the end reports the choice after the recording and its playback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acd.engine import keypad
from acd.engine.effects import CancelTimers, Effect, Send, SetTimer, StorePrompt
from acd.engine.events import AdminFeatureCall, DigitsCollected
from acd.engine.policy import pin_matches
from acd.engine.records import CallRecord
from freeswitch import commands
from freeswitch.media import Phrase, SoundFile, Tone, ToneStream

if TYPE_CHECKING:
    from acd.engine.engine import Engine

ACTION = "record_prompt"
"""The ``acd_admin`` value of the recording feature code."""
RECORDINGS = ".recordings"
"""Folder of the prompt directory where FreeSWITCH writes the raw recordings (made at
start by ``acd.prompts.ensure_recordings_dir``: ``record`` does not make folders)."""
BEEP = ToneStream((Tone(400, 100, (1000,)),))

_STEPS = ("rec_pin", "rec_code", "rec_choice")


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """``directory``: the customer's prompt directory (absolute); ``admin_pin_sha256``:
    the admin PIN's SHA-256 (hex); ``codes``: digits -> (prompt id, language);
    ``max_seconds``/``silence_seconds``: the ``record`` limits (whole seconds)."""

    directory: str
    admin_pin_sha256: str
    codes: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    max_seconds: int = 120
    silence_seconds: int = 3
    pin_digits: tuple[int, int] = (4, 8)

    @property
    def code_digits(self) -> tuple[int, int]:
        lengths = [len(code) for code in self.codes] or [1]
        return min(lengths), max(lengths)

    def recording_path(self, contact: str) -> str:
        return f"{self.directory}/{RECORDINGS}/{contact}.wav"


def is_recording_call(record: CallRecord | None) -> bool:
    """True for a call in this flow (its digits and timers come here)."""
    return (
        record is not None
        and record.kind == "feature"
        and record.action == ACTION
        and record.step in _STEPS
    )


def feature_call(engine: Engine, event: AdminFeatureCall) -> list[Effect]:
    """``*25`` was dialled: ask for the admin PIN; refuse when recording is off."""
    uuid = event.uuid
    if engine.store.get_call(uuid) is not None:
        return []
    settings = engine.settings.recording
    if settings is None:
        return keypad.refuse(uuid)
    record = keypad.open_call(engine, event, "rec_pin", ACTION)
    return _ask(engine, record, event.at)


def _ask(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    settings = engine.settings.recording
    assert settings is not None
    if record.step == "rec_pin":
        return keypad.ask(engine, record.contact, "acd_enter_pin", settings.pin_digits, now)
    return keypad.ask(engine, record.contact, "acd_record_enter_code", settings.code_digits, now)


def _record(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    settings = engine.settings.recording
    assert settings is not None
    base = engine.settings
    uuid = record.contact
    path = settings.recording_path(uuid)
    record.step = "rec_choice"
    engine.store.put_call(record)
    choice = keypad.collect(engine, uuid, "acd_record_keep_or_redo", (1, 1), "[12]")
    # Every message is queued behind the one before (event-lock): the guard covers the
    # longest recording, its playback and the choice.
    guard = now + 2 * settings.max_seconds + base.digits_guard()
    return [
        Send(commands.play(uuid, Phrase("acd_record_after_tone"))),
        Send(commands.execute(uuid, "set", "playback_terminators=#")),
        Send(commands.play(uuid, BEEP)),
        Send(
            commands.execute(
                uuid, "record", f"{path} {settings.max_seconds} 200 {settings.silence_seconds}"
            )
        ),
        Send(commands.play(uuid, SoundFile(path))),
        Send(choice),
        SetTimer(uuid, "digits", guard),
    ]


UNKNOWN_CODE_PROMPT = "acd_record_unknown_code"
"""Said when the keyed recording code is none of ``prompts.record_codes``: the PIN was
right, so "login failed" would mislead."""


def _unknown_code(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    record.tries += 1
    if record.tries >= engine.settings.max_tries:
        return keypad.finish(engine, record, UNKNOWN_CODE_PROMPT)
    engine.store.put_call(record)
    return [
        Send(commands.play(record.contact, Phrase(UNKNOWN_CODE_PROMPT))),
        *_ask(engine, record, now),
    ]


def digits_collected(engine: Engine, record: CallRecord, event: DigitsCollected) -> list[Effect]:
    """The PIN, the recording code or the keep/redo choice was keyed."""
    settings = engine.settings.recording
    assert settings is not None
    digits = event.digits
    if record.step == "rec_pin":
        if not pin_matches(digits, settings.admin_pin_sha256):
            return keypad.wrong_pin(engine, record, lambda: _ask(engine, record, event.at))
        record.step, record.tries = "rec_code", 0
        engine.store.put_call(record)
        return _ask(engine, record, event.at)
    if record.step == "rec_code":
        if digits not in settings.codes:
            return _unknown_code(engine, record, event.at)
        record.action_arg, record.tries = digits, 0
        return _record(engine, record, event.at)
    # rec_choice
    if digits == "2":
        return _record(engine, record, event.at)
    if digits != "1":
        # No choice: ask again (the recording is played once more before the question).
        record.tries += 1
        if record.tries >= engine.settings.max_tries:
            return keypad.finish(engine, record, keypad.FAILED_PROMPT)
        return _record(engine, record, event.at)
    prompt_id, language = settings.codes[record.action_arg]
    uuid = record.contact
    record.step = "done"
    engine.store.put_call(record)
    return [
        StorePrompt(
            contact=uuid,
            source=settings.recording_path(uuid),
            prompt_id=prompt_id,
            language=language,
            directory=settings.directory,
            confirm=commands.play(uuid, Phrase("acd_record_saved")),
            failed=commands.play(uuid, Phrase(keypad.FAILED_PROMPT)),
        ),
        Send(commands.hangup(uuid)),
        CancelTimers(uuid),
    ]


def digits_timeout(engine: Engine, record: CallRecord) -> list[Effect]:
    """The guard ran out (the channel lost media): give up."""
    return keypad.finish(engine, record, keypad.FAILED_PROMPT)


def recording_settings(
    directory: str,
    admin_pin_sha256: str | None,
    codes: Mapping[str, tuple[str, str]],
    max_seconds: float,
    silence_seconds: float,
) -> RecordingSettings | None:
    """The flow's settings, or None (recording by phone off) without a PIN or codes."""
    if admin_pin_sha256 is None or not codes:
        return None
    return RecordingSettings(
        directory=directory,
        admin_pin_sha256=admin_pin_sha256,
        codes=dict(codes),
        max_seconds=max(1, round(max_seconds)),
        silence_seconds=max(1, round(silence_seconds)),
    )
