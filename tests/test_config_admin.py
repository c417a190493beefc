"""``admin:``, the one admin PIN: the recording feature code (*25, R-PROMPTS) and the
emergency message's (*26/*27, R-TIMEDMSG) both ask for it; the old per-feature keys are
refused; the PIN never appears in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.app import engine_settings
from acd.config import parse_config
from acd.config.problems import InvalidConfigError
from acd.engine.policy import hash_pin

QUEUES = "queues: {support: {code: 1}}\n"


def _prompts(tmp_path: Path) -> str:
    return f"prompts: {{directory: {tmp_path}, record_codes: {{'1': {{prompt: emergency}}}}}}\n"


@pytest.mark.parametrize("form", ["pin", "pin_sha256"])
def test_one_admin_pin_for_recording_and_emergency_r_prompts_r_timedmsg(
    tmp_path: Path, form: str
) -> None:
    given = "7391" if form == "pin" else hash_pin("7391")
    config = parse_config(f"admin: {{{form}: '{given}'}}\n{_prompts(tmp_path)}{QUEUES}")
    settings = engine_settings(config)
    assert settings.recording is not None and settings.hours is not None
    assert settings.recording.admin_pin_sha256 == hash_pin("7391")
    assert settings.hours.admin_pin_sha256 == hash_pin("7391")


def test_without_an_admin_pin_both_feature_codes_are_off(tmp_path: Path) -> None:
    settings = engine_settings(parse_config(f"prompts: {{directory: {tmp_path}}}\n{QUEUES}"))
    assert settings.recording is None
    assert settings.hours is not None and settings.hours.admin_pin_sha256 is None


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("prompts: {admin_pin: '7391'}\n", "prompts.admin_pin", "unknown key"),
        ("prompts: {admin_pin_sha256: '7391'}\n", "prompts.admin_pin_sha256", "unknown key"),
        ("emergency: {prompt: emergency, pin: '7391'}\n", "emergency.pin", "unknown key"),
        ("emergency: {pin_sha256: '7391'}\n", "emergency.pin_sha256", "unknown key"),
        ("admin: {pin: '73a91'}\n", "admin.pin", "must be 4-8 digits"),
        ("admin: {pin: '739155667'}\n", "admin.pin", "must be 4-8 digits"),
        ("admin: {pin_sha256: '7391'}\n", "admin.pin_sha256", "64 lowercase hex"),
        (f"admin: {{pin: '7391', pin_sha256: {hash_pin('7391')}}}\n", "admin.pin", "at most one"),
        ("admin: {code: '7391'}\n", "admin.code", "unknown key"),
    ],
)
def test_admin_pin_refusals_name_the_key_never_the_pin(text: str, where: str, reason: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        parse_config(text + QUEUES, "acd.yaml")
    message = str(caught.value)
    assert f"{where} (line 1)" in message and reason in message, message
    for secret in ("7391", "73a91", "739155667", hash_pin("7391")):
        assert secret not in message


def test_recording_codes_need_the_admin_pin(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        parse_config(_prompts(tmp_path) + QUEUES, "acd.yaml")
    assert "prompts.record_codes (line 1): need admin.pin or admin.pin_sha256" in str(caught.value)
