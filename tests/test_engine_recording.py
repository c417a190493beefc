"""Recording a prompt from a phone (R-PROMPTS), through the simulator, Redis and the
engine: admin PIN, recording code, record after the tone, listen, 1 keep / 2 redo."""

from __future__ import annotations

import tomllib
import wave
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import gevent

from acd.engine.policy import hash_pin
from acd.engine.recording import RecordingSettings
from acd.prompts import RATE, PromptCatalogue, ensure_recordings_dir
from freeswitch.sim.events import SimEvent
from tests.engine_harness import Harness, Start, default_settings

PIN = "7391"
ADMIN_PHONE = "1001"


def run(start: Start, directory: Path, *, ready: bool = True) -> Harness:
    if ready:
        assert ensure_recordings_dir(directory)  # as acd.app does at start
    recording = RecordingSettings(
        directory=str(directory),
        admin_pin_sha256=hash_pin(PIN),
        codes={"1": ("emergency", "sv"), "22": ("night", "en")},
        max_seconds=30,
        silence_seconds=3,
    )
    return start(settings=replace(default_settings(), recording=recording))


def finish_recordings(acd: Harness, phone: str) -> tuple[Callable[[], None], list[str]]:
    """Press '#' (end of message) whenever ``record`` runs on a call from ``phone``, after
    a moment of "speech"; returns the unhook and the list of paths recorded."""
    paths: list[str] = []

    def press(uuid: str) -> None:
        gevent.sleep(0.05)
        if uuid in acd.sim.channels:
            acd.sim.press_dtmf(uuid, "#")

    def hook(event: SimEvent) -> None:
        if (
            event.name == "CHANNEL_EXECUTE"
            and event.get("Application") == "record"
            and event.get("Caller-Caller-ID-Number") == phone
            and event.unique_id
        ):
            paths.append((event.get("Application-Data") or "").split(" ")[0])
            gevent.spawn(press, event.unique_id)

    return acd.sim.on_event(hook), paths


def record_by_phone(acd: Harness, keys: list[str], timeout: float) -> tuple[str, list[str]]:
    """``*25`` from the admin phone, keying ``keys``, each ``record`` ended with '#';
    the call's uuid and the paths recorded."""
    unhook, recorded = finish_recordings(acd, ADMIN_PHONE)
    try:
        uuid = acd.feature_code(ADMIN_PHONE, "*25", keys, timeout=timeout)
    finally:
        unhook()
    return uuid, recorded


def played(acd: Harness) -> list[str]:
    seen: list[str] = []

    def hook(event: SimEvent) -> None:
        if event.name == "PLAYBACK_START":
            seen.append(event.get("Playback-File-Path") or "")

    acd.sim.on_event(hook)
    return seen


def test_admin_records_listens_redoes_and_keeps_a_prompt_R_PROMPTS(
    start: Start, tmp_path: Path
) -> None:
    acd = run(start, tmp_path)
    heard = played(acd)
    uuid, recorded = record_by_phone(acd, [PIN, "1", "2", "1"], timeout=20.0)

    raw = f"{tmp_path}/.recordings/{uuid}.wav"
    assert recorded == [raw, raw], "recorded twice: once, then again after '2'"
    assert heard.count(raw) == 2, "each take is played back before the choice"
    kept = tmp_path / "sv" / "emergency.wav"
    with wave.open(str(kept)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
    manifest = tomllib.loads((tmp_path / "manifest.toml").read_text(encoding="utf-8"))
    assert manifest["sv"]["emergency"]["source"] == "phone"
    assert not Path(raw).exists(), "the raw take is removed once stored"
    assert PromptCatalogue(tmp_path).resolve("emergency", "sv") == str(kept)
    assert any("acd_record_saved" in line for line in acd.requests_to(uuid))


def test_a_wrong_pin_records_nothing_R_PROMPTS(start: Start, tmp_path: Path) -> None:
    acd = run(start, tmp_path)
    uuid, recorded = record_by_phone(acd, ["1111", "2222", "3333"], timeout=20.0)
    assert recorded == []
    assert not (tmp_path / "manifest.toml").exists()
    assert any("acd_login_failed" in line for line in acd.requests_to(uuid))


def test_an_unknown_code_is_asked_again_and_a_known_one_records_R_PROMPTS(
    start: Start, tmp_path: Path
) -> None:
    acd = run(start, tmp_path)
    uuid, recorded = record_by_phone(acd, [PIN, "9", "22", "1"], timeout=20.0)
    assert len(recorded) == 1
    assert (tmp_path / "en" / "night.wav").is_file()
    # The PIN was right: the admin hears "unknown code", never "login failed".
    sent = acd.requests_to(uuid)
    assert any("acd_record_unknown_code" in line for line in sent), sent
    plays = [line for line in sent if "play_and_get_digits" not in line]  # its invalid prompt
    assert not any("acd_login_failed" in line for line in plays), plays


def test_discarded_when_the_admin_hangs_up_before_choosing_R_PROMPTS(
    start: Start, tmp_path: Path
) -> None:
    acd = run(start, tmp_path)
    # No answer to "1 keep / 2 redo": asked again until max_tries, then goodbye.
    _, recorded = record_by_phone(acd, [PIN, "1", "", "", ""], timeout=30.0)
    assert recorded
    assert not (tmp_path / "sv" / "emergency.wav").exists()
    assert not (tmp_path / "manifest.toml").exists()


def test_recording_off_without_settings_R_PROMPTS(start: Start) -> None:
    acd = start()
    uuid = acd.feature_code(ADMIN_PHONE, "*25", [])
    assert any("acd_login_failed" in line for line in acd.requests_to(uuid))


def test_without_the_recordings_folder_freeswitch_hangs_up_R_PROMPTS(
    start: Start, tmp_path: Path
) -> None:
    """FreeSWITCH's record makes no folder (it hangs up: DESTINATION_OUT_OF_ORDER); the
    simulator does the same, which is why acd.app makes <directory>/.recordings."""
    acd = run(start, tmp_path, ready=False)
    hangups: list[str] = []
    acd.sim.on_event(
        lambda e: (
            hangups.append(e.get("Hangup-Cause") or "") if e.name == "CHANNEL_HANGUP" else None
        )
    )
    acd.feature_code(ADMIN_PHONE, "*25", [PIN, "1"], timeout=20.0)
    assert hangups == ["DESTINATION_OUT_OF_ORDER"]
    assert not (tmp_path / "manifest.toml").exists()
