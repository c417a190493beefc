"""Agents and the phone feature codes they use (R-PHONELOGIN, R-PAUSE, R-FREESEAT).

The configuration holds each agent's PIN, either as digits (``pin``) or as the SHA-256 of
the digits (``pin_sha256``, from :func:`hash_pin`). The hash keeps the PIN out of sight of
someone reading the file over a shoulder, no more: a 4-8 digit PIN is found from its
unsalted hash in well under a second, so the file must be readable by the engine only
(``chmod 600``) either way.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from pydantic import Field, model_validator

from acd.config.problems import CrossCheckError, Loc
from acd.config.types import (
    DialString,
    Frozen,
    FrozenMap,
    Language,
    Level,
    List,
    Name,
    PinSha256,
    TextDigits,
    digits_check,
    text_check,
)
from acd.engine.policy import hash_pin
from routing.api import AgentProfile

AgentId = Annotated[str, TextDigits, digits_check(1, 10, "an agent id")]
"""Digits an agent keys on a phone to log in (and the id the router knows them by)."""

Pin = Annotated[str, TextDigits, digits_check(4, 8, "a PIN")]
PauseCode = Annotated[str, TextDigits, digits_check(1, 4, "a pause reason code")]


class AgentSettings(Frozen):
    """One agent. The file's key is the id; ``languages`` defaults to the file's
    ``language``. Exactly one of ``pin`` and ``pin_sha256``."""

    id: AgentId
    name: Annotated[str, text_check(64)] | None = None
    """Display name for wallboards and logs."""
    pin: Pin | None = Field(default=None, repr=False)
    pin_sha256: PinSha256 | None = Field(default=None, repr=False)
    contact: DialString | None = None
    """Where the agent's calls ring unless they log in from another phone (free seating,
    R-FREESEAT: the phone used for login becomes the contact for that session). Null: the
    agent must log in from a phone."""
    skills: FrozenMap[Name, Level] = Field(default_factory=dict)
    """``{skill: level}`` (R-SKILL); every skill must be declared under ``skills``."""
    languages: List[Language] = ()
    """Languages the agent speaks."""
    passive: bool = False
    """Passive agents get calls only above a queue's ``passive`` thresholds (R-PASSIVE)."""
    queues: List[Name] = Field(min_length=1)
    """Queues the agent belongs to and logs in to with ``*21`` (R-MULTI)."""
    telephonist: bool = False
    """May also work as telephonist: see queues and pick calls (R-TELEPHONIST, R-PICK)."""

    @model_validator(mode="after")
    def _check(self) -> AgentSettings:
        problems: list[tuple[Loc, str]] = []
        if (self.pin is None) == (self.pin_sha256 is None):
            problems.append((("pin",), "give exactly one of pin and pin_sha256"))
        for index, queue in enumerate(self.queues):
            if queue in self.queues[:index]:
                problems.append((("queues", index), f"{queue} is listed twice"))
        if problems:
            raise CrossCheckError(problems)
        self.routing_profile()
        return self

    def check_pin(self, entered: str) -> bool:
        """True if ``entered`` (the digits keyed on the phone) is this agent's PIN.
        Compares in constant time; anything but digits is False."""
        if not isinstance(entered, str) or not re.fullmatch(r"[0-9]{1,32}", entered):
            return False
        expected = self.pin_sha256 if self.pin is None else hash_pin(self.pin)
        assert expected is not None  # one of the two is set (checked on construction)
        return hmac.compare_digest(hash_pin(entered), expected)

    def routing_profile(self) -> AgentProfile:
        """Who the agent is for the router (:class:`routing.api.AgentProfile`)."""
        return AgentProfile(
            id=self.id, skills=self.skills, languages=self.languages, passive=self.passive
        )


class FeatureCodeSettings(Frozen):
    """Digit collection for the agent feature codes (``*21``..``*24``). Digits are keyed
    without '#' (R-DTMF): an id has a fixed length; a PIN ends at ``pin_max_digits`` or
    when ``inter_digit_timeout`` passes after at least ``pin_min_digits``."""

    id_digits: int = Field(default=4, ge=1, le=10)
    """Length of every agent id."""
    pin_min_digits: int = Field(default=4, ge=4, le=8)
    pin_max_digits: int = Field(default=8, ge=4, le=8)
    max_tries: int = Field(default=3, ge=1, le=10)
    """Attempts at id and PIN before the call is hung up."""
    first_digit_timeout: Annotated[float, Field(ge=1.0, le=60.0)] = 10.0
    """Seconds to wait for the first digit after the prompt."""
    inter_digit_timeout: Annotated[float, Field(ge=0.5, le=30.0)] = 3.0
    """Seconds to wait for each further digit."""
    pause_reasons: FrozenMap[PauseCode, Name] = Field(
        default_factory=lambda: {"1": "lunch", "2": "meeting"}
    )
    """``{code: reason}``: ``*23<code>`` pauses with that reason (R-PAUSE)."""

    @model_validator(mode="after")
    def _check(self) -> FeatureCodeSettings:
        problems: list[tuple[Loc, str]] = []
        if self.pin_min_digits > self.pin_max_digits:
            problems.append((("pin_min_digits",), "is larger than pin_max_digits"))
        first: dict[str, str] = {}
        for code, reason in self.pause_reasons.items():
            if reason in first:
                problems.append(
                    (("pause_reasons", code), f"{reason} already has code {first[reason]}")
                )
            first.setdefault(reason, code)
        if problems:
            raise CrossCheckError(problems)
        return self
