"""The customer's own prompts (R-PROMPTS): where they live and who may record them by phone.

``prompts.directory`` holds ``<language>/<prompt id>.wav`` and ``manifest.toml``
(written by ``acd prompts import`` and by the recording feature code, read by
:mod:`acd.prompts`). A prompt there overrides the shipped one of the same id and language.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, Field

from acd.config.types import (
    Frozen,
    FrozenMap,
    Language,
    PositiveSeconds,
    PromptId,
    TextDigits,
    digits_check,
)

DEFAULT_DIRECTORY = "/var/lib/acd/prompts"

RecordCode = Annotated[str, TextDigits, digits_check(1, 6, "a recording code")]


def _absolute_directory(value: str) -> str:
    path = PurePosixPath(value)
    # FreeSWITCH plays the files by this path and the engine hands it over as is: it must
    # be absolute and plain (no '..', no characters a playback path cannot carry).
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError("must be an absolute path without '..'")
    if not re.fullmatch(r"/[A-Za-z0-9_./-]{0,200}", value):
        raise ValueError("may hold only ASCII letters, digits and _ . / -")
    return str(path)


class RecordTarget(Frozen):
    """What a recording code records: a prompt id in a language (default: the file's
    ``language``)."""

    prompt: PromptId
    language: Language | None = None


class PromptSettings(Frozen):
    """``prompts:``. The phone recording feature code (``*25``) asks for the admin PIN
    (``admin.pin``, :mod:`acd.config.admin`), then for a code of ``record_codes``;
    ``record_codes`` need that PIN (checked across sections)."""

    directory: Annotated[str, AfterValidator(_absolute_directory)] = DEFAULT_DIRECTORY
    """The customer's prompts: ``<language>/<id>.wav`` and ``manifest.toml``. FreeSWITCH
    must be able to read it (same host or a shared mount), the engine to write it."""
    record_codes: FrozenMap[RecordCode, RecordTarget] = Field(default_factory=dict)
    """``{digits: {prompt: id, language: sv}}``: what the admin may record by phone,
    e.g. ``{"1": {prompt: emergency}, "2": {prompt: night}}``."""
    max_record_seconds: Annotated[float, Field(ge=5.0, le=600.0)] = 120.0
    """Longest recording from a phone, in seconds."""
    record_silence_seconds: PositiveSeconds = 3.0
    """Seconds of silence that end a phone recording."""

    def record_targets(self, default_language: str) -> dict[str, tuple[str, str]]:
        """``{code: (prompt id, language)}`` of ``record_codes``."""
        return {
            code: (str(target.prompt), target.language or default_language)
            for code, target in self.record_codes.items()
        }
