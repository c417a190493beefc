"""A customer's imported prompt plays on the real FreeSWITCH (R-PROMPTS).

The prompt is imported with ``acd prompts import`` (an MP3 made here) into a prompt
directory of the test's own, as ``sv/emergency``; the engine (``acd.app``, as ``acd run``)
resolves the prompt id through the catalogue, and FreeSWITCH's PLAYBACK_START names the
imported file. Skipped where FreeSWITCH is not installed (tests/freeswitch_lab.py).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from acd.adapters.hours import HOURS_LANE
from acd.cli import main
from acd.engine.events import HoursChanged
from tests.engine_lab import channel_of, history, lab_config, played, running, watch
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, poll
from tests.lab.support import LabError

pytestmark = pytest.mark.freeswitch

__all__ = ["lab_config", "watch"]  # the fixtures, imported for this module's tests


def _mp3(tmp_path: Path) -> Path:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (Debian: apt-get install sox libsox-fmt-mp3)")
    wav = tmp_path / "source.wav"
    t = np.arange(int(1.5 * 22_050)) / 22_050
    sf.write(wav, 0.2 * np.sin(2 * np.pi * 300 * t), 22_050)
    mp3 = tmp_path / "nodmeddelande.mp3"
    done = subprocess.run(["sox", str(wav), str(mp3)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("sox cannot write MP3 (Debian: apt-get install libsox-fmt-mp3)")
    return mp3


def test_an_imported_prompt_plays_on_freeswitch_R_PROMPTS(
    lab: FreeSwitchLab,
    lab_config: str,
    watch: EventRecorder,
    tmp_path: Path,
) -> None:
    prompts = tmp_path / "prompts"
    source = _mp3(tmp_path)
    argv = ["prompts", "import", str(source), "--lang", "sv", "--id", "emergency"]
    assert main([*argv, "--directory", str(prompts)]) == 0
    text = lab_config + f"prompts:\n  directory: {prompts}\n"
    with running(text) as acd:
        # The emergency message on (as its feature code or the admin API switch it).
        acd.app.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
        poll(lambda: acd.app.engine.hours_state.emergency == "emergency", 5.0, "emergency on")
        caller = lab.caller("7000")
        uuid = channel_of(watch, caller)
        expected = str(prompts / "sv" / "emergency.wav")
        try:
            poll(lambda: expected in played(watch, uuid), 10.0, "the imported prompt")
        except LabError:
            raise LabError(f"{expected} not played: {history(watch, uuid)}") from None
        # Played to its end (not cut): the file FreeSWITCH opened is a valid prompt.
        stop = watch.wait("PLAYBACK_STOP", {"Unique-ID": uuid, "Playback-File-Path": expected})
        assert stop.get("Playback-Status") == "done", history(watch, uuid)
        caller.hangup()


def test_a_prompt_recorded_from_a_phone_is_kept_R_PROMPTS(
    lab: FreeSwitchLab,
    lab_config: str,
    watch: EventRecorder,
    tmp_path: Path,
) -> None:
    """*25 from a SIP phone: admin PIN, code 1 (emergency, sv), FreeSWITCH's ``record``
    takes the phone's audio until '#', plays it back, 1 keeps it: the converted file is
    in the prompt directory and its manifest."""
    prompts = tmp_path / "prompts"
    text = lab_config + (
        f"admin: {{pin: '7391'}}\nprompts:\n  directory: {prompts}\n"
        "  record_codes: {'1': {prompt: emergency}}\n"
    )
    with running(text):
        phone = lab.caller("*25", caller_id="1005")
        uuid = channel_of(watch, phone)

        def prompt(count: int) -> None:
            poll(
                lambda: (
                    len(
                        watch.matching(
                            "CHANNEL_EXECUTE",
                            {"Unique-ID": uuid, "Application": "play_and_get_digits"},
                        )
                    )
                    >= count
                ),
                15.0,
                f"prompt {count} (play_and_get_digits): {history(watch, uuid)}",
            )

        prompt(1)
        phone.send_dtmf("7391")
        prompt(2)
        phone.send_dtmf("1")
        try:
            started = watch.wait("RECORD_START", {"Unique-ID": uuid}, 20.0)
        except LabError:
            raise LabError(f"no RECORD_START: {history(watch, uuid)}") from None
        raw = started.get("Record-File-Path") or ""
        assert raw == f"{prompts}/.recordings/{uuid}.wav"
        phone.send_dtmf("#")  # end of the message (the phone has sent its tones until now)
        prompt(3)
        assert raw in played(watch, uuid), "the take is played back before the choice"
        phone.send_dtmf("1")
        watch.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": uuid}, 20.0)
        kept = prompts / "sv" / "emergency.wav"
        assert kept.is_file(), history(watch, uuid)
        assert sf.info(str(kept)).samplerate == 8000
        assert 'source = "phone"' in (prompts / "manifest.toml").read_text(encoding="utf-8")
        assert not Path(raw).exists()
        assert any(p.endswith("/sv/acd/record-saved.wav") for p in played(watch, uuid))
