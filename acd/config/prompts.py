"""The customer's own prompts (R-PROMPTS): where they live and who may record them by phone.

``prompts.directory`` holds ``<language>/<prompt id>.wav`` and ``manifest.toml``
(written by ``acd prompts import`` and by the recording feature code, read by
:mod:`acd.prompts`). A prompt there overrides the shipped one of the same id and language.
"""

from __future__ import annotations

import hmac
import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from acd.config.problems import CrossCheckError, Loc
from acd.config.types import (
    Frozen,
    FrozenMap,
    Language,
    PositiveSeconds,
    PromptId,
    TextDigits,
    digits_check,
)
from acd.engine.policy import hash_pin

DEFAULT_DIRECTORY = "/var/lib/acd/prompts"

RecordCode = Annotated[str, TextDigits, digits_check(1, 6, "a recording code")]
AdminPin = Annotated[str, TextDigits, digits_check(4, 8, "a PIN")]


def _absolute_directory(value: str) -> str:
    path = PurePosixPath(value)
    # FreeSWITCH plays the files by this path and the engine hands it over as is: it must
    # be absolute and plain (no '..', no characters a playback path cannot carry).
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError("must be an absolute path without '..'")
    if not re.fullmatch(r"/[A-Za-z0-9_./-]{0,200}", value):
        raise ValueError("may hold only ASCII letters, digits and _ . / -")
    return str(path)


def _sha256_hex(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be 64 lowercase hex digits (SHA-256 of the PIN)")
    return value


class RecordTarget(Frozen):
    """What a recording code records: a prompt id in a language (default: the file's
    ``language``)."""

    prompt: PromptId
    language: Language | None = None


class PromptSettings(Frozen):
    """``prompts:``. The phone recording feature code (``*25``) asks for the admin PIN,
    then for a code of ``record_codes``; without a PIN (``admin_pin`` /
    ``admin_pin_sha256``) recording by phone is off."""

    directory: Annotated[str, AfterValidator(_absolute_directory)] = DEFAULT_DIRECTORY
    """The customer's prompts: ``<language>/<id>.wav`` and ``manifest.toml``. FreeSWITCH
    must be able to read it (same host or a shared mount), the engine to write it."""
    admin_pin: AdminPin | None = Field(default=None, repr=False)
    admin_pin_sha256: Annotated[str, AfterValidator(_sha256_hex)] | None = Field(
        default=None, repr=False
    )
    record_codes: FrozenMap[RecordCode, RecordTarget] = Field(default_factory=dict)
    """``{digits: {prompt: id, language: sv}}``: what the admin may record by phone,
    e.g. ``{"1": {prompt: emergency}, "2": {prompt: night}}``."""
    max_record_seconds: Annotated[float, Field(ge=5.0, le=600.0)] = 120.0
    """Longest recording from a phone, in seconds."""
    record_silence_seconds: PositiveSeconds = 3.0
    """Seconds of silence that end a phone recording."""

    @model_validator(mode="after")
    def _check(self) -> PromptSettings:
        problems: list[tuple[Loc, str]] = []
        if self.admin_pin is not None and self.admin_pin_sha256 is not None:
            problems.append((("admin_pin",), "give at most one of admin_pin and admin_pin_sha256"))
        if self.record_codes and self.admin_pin is None and self.admin_pin_sha256 is None:
            problems.append((("record_codes",), "need admin_pin or admin_pin_sha256"))
        if problems:
            raise CrossCheckError(problems)
        return self

    @property
    def recording_enabled(self) -> bool:
        return bool(self.record_codes) and (
            self.admin_pin is not None or self.admin_pin_sha256 is not None
        )

    def admin_pin_digest(self) -> str | None:
        """The admin PIN's SHA-256 (hex), or None when none is configured."""
        return self.admin_pin_sha256 if self.admin_pin is None else hash_pin(self.admin_pin)

    def record_targets(self, default_language: str) -> dict[str, tuple[str, str]]:
        """``{code: (prompt id, language)}`` of ``record_codes``."""
        return {
            code: (str(target.prompt), target.language or default_language)
            for code, target in self.record_codes.items()
        }

    def check_admin_pin(self, entered: str) -> bool:
        """True if ``entered`` (digits keyed on the phone) is the admin PIN; constant time;
        False when no PIN is configured or ``entered`` is not 1-32 digits."""
        expected = self.admin_pin_sha256 if self.admin_pin is None else hash_pin(self.admin_pin)
        if expected is None or not re.fullmatch(r"[0-9]{1,32}", entered or ""):
            return False
        return hmac.compare_digest(hash_pin(entered), expected)
