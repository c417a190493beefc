"""Queues: who may answer, what the caller hears while waiting, and the timers.

All durations are in seconds. Requirement IDs (R-...) are in the project's REQUIREMENTS.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from acd.config.calendars import ClosedSettings
from acd.config.problems import CrossCheckError, Loc
from acd.config.rules import Rules
from acd.config.supervision import QueueThresholds, ServiceLevelSettings
from acd.config.types import (
    DAY,
    Frozen,
    FrozenMap,
    Language,
    LevelOrZero,
    List,
    Name,
    PositiveSeconds,
    Priority,
    Prompt,
    Seconds,
    Sound,
    TextDigits,
    digits_check,
)
from acd.config.types import Level as SkillLevel
from freeswitch.media import RINGBACK, LocalStream, Phrase, Playable
from routing.api import Channel, EscalationStep, NoAnswerState, QueueConfig

DEFAULT_LANGUAGE = "sv"

RESERVATION_MARGIN = 5.0
"""Seconds a reservation outlives the agent leg's ring time. FreeSWITCH reports the
unanswered leg (``NO_ANSWER``) when ``ring_timeout`` runs out; the margin covers the
``bgapi`` round trip and the event's way back, so the engine hears the result and offers
the caller to the next agent before the router would expire the reservation by itself."""

QueueCode = Annotated[str, TextDigits, digits_check(1, 6, "a queue code")]
"""Digits an agent keys after a feature code: ``*21<code>`` logs in to this queue."""

AnnouncementPart = Literal["position", "ewt", "agents"]


class SoundSettings(Frozen):
    """What callers hear between announcements (R-NOSILENCE), unless a queue overrides it."""

    moh: Sound = LocalStream("moh")
    """Hold music for answered callers; mod_local_stream's ``moh`` by default."""
    ringback: Sound = RINGBACK
    """What unanswered callers hear: ``tone_stream://%(2000,4000,440,480);loops=-1``."""


class EscalationSettings(Frozen):
    """One step, applied ``after`` seconds in the queue (counted from the effective
    arrival). Steps widen who may answer; they never narrow it."""

    after: Seconds
    levels: FrozenMap[Name, LevelOrZero] = Field(default_factory=dict)
    """``{skill: minimum level}``; 0 drops the requirement."""
    drop_language: bool = False
    """True: any agent may answer, whatever languages they speak."""
    add_queues: List[Name] = ()
    """Other queues whose agents may answer too (overflow); they must exist."""


class PassiveSettings(Frozen):
    """When passive agents (R-PASSIVE) help: once ``waiting`` callers wait in the queue,
    or the oldest has waited ``wait_seconds``. Both null: passive agents never get calls."""

    waiting: int | None = Field(default=None, ge=1, le=1_000_000)
    wait_seconds: Seconds | None = None


class NoAnswerSettings(Frozen):
    """What happens to an agent whose phone rings unanswered (R-NOANSWER): ``paused``
    (with reason ``no-answer``, out of rotation until they unpause) or ``available``."""

    state: NoAnswerState = "paused"


class AhtSettings(Frozen):
    """Average handling time for the expected wait (R-EWT)."""

    initial: PositiveSeconds = 180.0
    """Seconds assumed until enough calls have been handled."""
    min_samples: int = Field(default=10, ge=1, le=1_000_000)
    """Handled calls needed before the measured average replaces ``initial``."""
    max_cv: float = Field(default=1.0, ge=0.0, le=100.0)
    """Above this coefficient of variation the estimate counts as uncertain (not told)."""
    max_ewt: PositiveSeconds = 3600.0
    """Estimates above this many seconds count as uncertain (not told)."""


class AnnouncementSettings(Frozen):
    """What a waiting caller is told, and when (R-POS, R-EWT, R-AGENTS)."""

    first_after: Seconds = 0.0
    """Seconds from queueing to the first announcement; 0 = at once."""
    every: Annotated[float, Field(ge=5.0, le=DAY)] = 30.0
    """Seconds between one announcement and the next (the cadence), at least 5."""
    position: bool = True
    """Tell the position (R-POS); it never rises."""
    ewt: bool = True
    """Tell the expected wait when the estimate is certain enough (R-EWT)."""
    ewt_inhibit_case_types: List[Name] = ()
    """Case types (``acd_case_type``) for which the expected wait is never told."""
    agents_min: int | None = Field(default=None, ge=1, le=100_000)
    """Tell the number of available agents only when at least this many (R-AGENTS);
    null: never."""
    repeat: List[AnnouncementPart] = ("position",)
    """What later announcements repeat; the first tells everything enabled."""

    @model_validator(mode="after")
    def _check_repeat(self) -> AnnouncementSettings:
        enabled = {"position": self.position, "ewt": self.ewt, "agents": self.agents_min}
        problems: list[tuple[Loc, str]] = []
        for index, part in enumerate(self.repeat):
            if part in self.repeat[:index]:
                problems.append((("repeat", index), f"{part} is listed twice"))
            elif not enabled[part]:
                problems.append((("repeat", index), f"{part} is not announced in this queue"))
        if problems:
            raise CrossCheckError(problems)
        return self


class QueueSettings(Frozen):
    """One queue. The file's key is the name; ``language`` defaults to the file's
    ``language``."""

    name: Name
    code: QueueCode
    language: Language = DEFAULT_LANGUAGE
    """The callers' language unless the dialplan sets ``acd_language``; announcements use it."""
    skills: FrozenMap[Name, SkillLevel] = Field(default_factory=dict)
    """``{skill: minimum level}`` every caller of this queue needs (R-SKILL)."""
    escalation: List[EscalationSettings] = ()
    """Steps in order of ``after``."""
    passive: PassiveSettings = PassiveSettings()
    channel_priority: FrozenMap[Channel, Priority] = Field(default_factory=dict)
    """``{channel: priority boost}``, e.g. ``{callback: 10}`` (R-PRIO, R-CHANNELS)."""
    wrap_up_seconds: Seconds = 10.0
    """After-call work: no new call for this long after each call (R-WRAP)."""
    ring_timeout: int = Field(default=20, ge=5, le=300)
    """Whole seconds an agent's phone rings (``originate_timeout``) before the caller
    is offered to the next agent."""
    reservation_timeout: PositiveSeconds | None = None
    """Seconds an offer holds agent and caller together; null = ``ring_timeout`` +
    :data:`RESERVATION_MARGIN`. Must be longer than ``ring_timeout``."""
    no_answer: NoAnswerSettings = NoAnswerSettings()
    aht: AhtSettings = AhtSettings()
    announcements: AnnouncementSettings = AnnouncementSettings()
    waiting_sound: Literal["auto", "moh", "ringback"] = "auto"
    """``auto``: hold music when the call is answered, ringback (early media) when the
    dialplan parked it unanswered; ``moh``/``ringback``: always that."""
    moh: Sound | None = None
    """This queue's hold music; null = ``sounds.moh``."""
    whisper: Prompt | None = Phrase("acd_whisper")
    """Played to agent and caller together before they talk (R-WHISPER): a phrase macro
    name (played in the call's language) or a sound; null = no whisper."""
    private_max_wait: PositiveSeconds = 300.0
    """Seconds a call for a named agent waits for that agent before the queue takes it
    (R-PRIVQ)."""
    sticky_window: Annotated[float, Field(ge=0.0, le=30 * DAY)] = 0.0
    """Seconds after a call in which the same caller number prefers the same agent
    (R-STICKY); 0 = off; up to 30 days."""
    priority_transfer_priority: Priority = 100
    """Priority of a call an agent transfers here as a priority transfer (R-PRIO)."""
    service_level: ServiceLevelSettings = ServiceLevelSettings()
    """The service-level target (answered within ``target_seconds``; ``goal``)."""
    thresholds: QueueThresholds = QueueThresholds()
    """Wallboard colours of this queue; what is left out comes from ``wallboard``."""
    calendar: Name | None = None
    """Opening hours: a name under ``calendars`` (R-CALENDAR); null: always open."""
    closed: ClosedSettings | None = None
    """What callers get while the calendar is closed or a holiday; null: the defaults
    (the ``night`` prompt, then hang up)."""
    rules: Rules = ()
    """Ordered rules on arrival and while waiting (R-RULES, R-OVERFLOW; acd/config/rules.py)."""

    @model_validator(mode="after")
    def _check(self) -> QueueSettings:
        problems: list[tuple[Loc, str]] = []
        for index, (before, step) in enumerate(itertools.pairwise(self.escalation), start=1):
            if step.after < before.after:
                reason = f"steps must be in order of 'after': {step.after:g} < {before.after:g}"
                problems.append((("escalation", index, "after"), reason))
        if self.reservation_timeout is not None and self.reservation_timeout <= self.ring_timeout:
            reason = f"must be longer than ring_timeout ({self.ring_timeout} s)"
            problems.append((("reservation_timeout",), reason))
        if problems:
            raise CrossCheckError(problems)
        # The routing value types own the routing rules: build them once here so a value
        # they would refuse is refused when the file is read.
        self.routing_config()
        return self

    @property
    def reservation_seconds(self) -> float:
        """The reservation timeout in seconds (see ``reservation_timeout``)."""
        if self.reservation_timeout is not None:
            return self.reservation_timeout
        return self.ring_timeout + RESERVATION_MARGIN

    def hold_sound(self, sounds: SoundSettings, answered: bool) -> Playable:
        """What a waiting caller hears between announcements (R-NOSILENCE)."""
        choice = self.waiting_sound
        if choice == "auto":
            choice = "moh" if answered else "ringback"
        if choice == "ringback":
            return sounds.ringback
        return self.moh if self.moh is not None else sounds.moh

    def routing_config(self) -> QueueConfig:
        """This queue as the router sees it (:class:`routing.api.QueueConfig`)."""
        return QueueConfig(
            name=self.name,
            skills=self.skills,
            escalation=tuple(
                EscalationStep(
                    after=step.after,
                    levels=step.levels,
                    drop_language=step.drop_language,
                    add_queues=step.add_queues,
                )
                for step in self.escalation
            ),
            passive_waiting=self.passive.waiting,
            passive_wait_seconds=self.passive.wait_seconds,
            channel_priority={str(k): v for k, v in self.channel_priority.items()},
            wrap_up_seconds=self.wrap_up_seconds,
            reservation_timeout=self.reservation_seconds,
            no_answer_state=self.no_answer.state,
            initial_aht=self.aht.initial,
            min_samples=self.aht.min_samples,
            max_cv=self.aht.max_cv,
            max_ewt=self.aht.max_ewt,
        )
