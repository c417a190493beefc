"""Closed hours on the real FreeSWITCH (R-CALENDAR): a SIP caller to a queue whose
calendar is closed hears the night message (the customer's prompt file, PLAYBACK_START
with its path) and is hung up, never queued. Skipped where FreeSWITCH is not installed."""

from __future__ import annotations

import datetime as dt
import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.prompts import NewPrompt, store
from tests.engine_lab import Acd, channel_of, history, lab_config, played, running, watch
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, poll

pytestmark = pytest.mark.freeswitch

__all__ = ["lab_config", "watch"]  # the fixtures, imported for this module's tests


def _wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


@pytest.fixture
def closed_acd(
    lab: FreeSwitchLab,
    lab_config: str,
    tmp_path: Path,
) -> Iterator[tuple[Acd, Path]]:
    prompts = tmp_path / "prompts"
    wav = _wav()
    night = NewPrompt("night", "sv", wav, 0.5, "night.wav", "0" * 64)
    (path,) = store(prompts, [night], dt.datetime.now(dt.UTC))
    text = lab_config
    text = text.replace(
        "    whisper: acd_whisper\n", "    whisper: acd_whisper\n    calendar: office\n"
    )
    text += f"""
prompts:
  directory: {prompts}
calendars:
  office:
    timezone: Pacific/Auckland
    hours: {{}}
    holidays: null
"""
    with running(text, "lab-hours.yaml") as engine:
        yield engine, path


def test_sip_caller_at_closed_hours_hears_the_night_message_r_calendar(
    lab: FreeSwitchLab, closed_acd: tuple[Acd, Path], watch: EventRecorder
) -> None:
    acd, night = closed_acd
    caller = lab.caller("7000")
    uuid = channel_of(watch, caller)
    refused = acd.wait_fact("closed_hours", contact=uuid)
    assert refused.data["state"] == "closed"
    watch.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": uuid}, 10.0)
    assert played(watch, uuid) == [str(night)], history(watch, uuid)
    poll(lambda: caller.received("BYE") >= 1, 10.0, "a BYE to the SIP caller")
    assert not [f for f in acd.facts if f.kind == "queued"]
