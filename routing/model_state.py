"""The reference model's records and the rules as plain functions over them.

Written for clarity, not speed: every choice is a brute-force minimum over all agents or
contacts, so it can serve as the specification the Redis scripts are tested against.
docs/ROUTING.md states the same rules in prose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from routing.api import (
    CHANNEL_CLASS,
    AgentProfile,
    AgentView,
    Channel,
    ContactState,
    ContactView,
    EscalationStep,
    Presence,
    QueueConfig,
    TargetKind,
)
from routing.validation import MAX_PRIORITY

SCORE_PRIORITY_UNIT = 2**43  # > every arrival in ms below MAX_TIME; keeps scores < 2**53


def contact_score(priority: int, arrival: float) -> int:
    """One sortable number: priority descending, then arrival (ms) ascending."""
    return (MAX_PRIORITY - priority) * SCORE_PRIORITY_UNIT + math.floor(arrival * 1000.0 + 0.5)


@dataclass
class AgentRec:
    id: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    passive: bool
    chat_capacity: int
    email_capacity: int
    presence: Presence = "logged_out"
    pause_reason: str | None = None
    wrap_until: float | None = None
    idle_since: float = 0.0
    queues: list[str] = field(default_factory=list)
    load: dict[str, int] = field(default_factory=lambda: {"voice": 0, "chat": 0, "email": 0})
    assigned: dict[str, ContactState] = field(default_factory=dict)

    def set_profile(self, profile: AgentProfile) -> None:
        self.skills = dict(profile.skills)
        self.languages = profile.languages
        self.passive = profile.passive
        self.chat_capacity = profile.chat_capacity
        self.email_capacity = profile.email_capacity

    def pending(self) -> list[str]:
        return sorted(cid for cid, state in self.assigned.items() if state == "reserved")

    def view(self) -> AgentView:
        return AgentView(
            id=self.id,
            skills=tuple(sorted(self.skills.items())),
            languages=self.languages,
            passive=self.passive,
            chat_capacity=self.chat_capacity,
            email_capacity=self.email_capacity,
            presence=self.presence,
            pause_reason=self.pause_reason,
            wrap_until=self.wrap_until,
            idle_since=self.idle_since,
            queues=tuple(self.queues),
            load=(self.load["voice"], self.load["chat"], self.load["email"]),
            assigned=tuple(sorted(self.assigned.items())),
        )


# "placing" is transient inside one call: the contact is in no waiting set.
RecState = ContactState | str


@dataclass
class ContactRec:
    id: str
    channel: Channel
    queue: str
    queues: list[str]
    req: dict[str, int]
    language: str | None
    priority: int
    arrival: float
    score: int
    steps: tuple[EscalationStep, ...]
    state: RecState = "placing"
    restriction: TargetKind | None = None
    target: str | None = None
    until: float | None = None
    applied: int = 0
    attempt: int = 0
    agent: str | None = None
    reservation: str | None = None
    expires_at: float | None = None
    announced: int = 0

    @property
    def cls(self) -> str:
        return CHANNEL_CLASS[self.channel]

    @property
    def key(self) -> tuple[int, str]:
        return (self.score, self.id)

    def general_waiting(self) -> bool:
        return self.state == "waiting" and self.restriction is None

    def view(self) -> ContactView:
        state: ContactState
        if self.state == "waiting":
            state = "waiting"
        elif self.state == "reserved":
            state = "reserved"
        elif self.state == "busy":
            state = "busy"
        else:
            raise AssertionError(f"contact {self.id} left in transient state {self.state}")
        return ContactView(
            id=self.id,
            channel=self.channel,
            queue=self.queue,
            queues=tuple(self.queues),
            requirements=tuple(sorted(self.req.items())),
            language=self.language,
            priority=self.priority,
            arrival=self.arrival,
            score=self.score,
            state=state,
            restriction=self.restriction,
            target=self.target,
            restricted_until=self.until,
            steps_applied=self.applied,
            attempt=self.attempt,
            agent=self.agent,
            reservation=self.reservation,
            expires_at=self.expires_at,
            announced=self.announced,
        )


def takes_channel(agent: AgentRec, cls: str) -> bool:
    if cls == "chat":
        return agent.chat_capacity > 0
    if cls == "email":
        return agent.email_capacity > 0
    return True


def avail(agent: AgentRec, cls: str) -> bool:
    """Ready and with room for one more contact of this channel class (R-CHANNELS)."""
    if agent.presence != "ready":
        return False
    if cls == "voice":
        return sum(agent.load.values()) == 0
    capacity = agent.chat_capacity if cls == "chat" else agent.email_capacity
    return agent.load["voice"] == 0 and agent.load[cls] < capacity


def room(agent: AgentRec, cls: str) -> bool:
    """Room for one more contact of this class, whatever the presence (R-CHANNELS: a
    call only with no other contact; chat and e-mail up to capacity, never beside a call)."""
    if cls == "voice":
        return sum(agent.load.values()) == 0
    capacity = agent.chat_capacity if cls == "chat" else agent.email_capacity
    return agent.load["voice"] == 0 and agent.load[cls] < capacity


def available(agent: AgentRec) -> bool:
    return avail(agent, "voice") or avail(agent, "chat") or avail(agent, "email")


def skills_ok(agent: AgentRec, contact: ContactRec) -> bool:
    return all(agent.skills.get(skill, 0) >= level for skill, level in contact.req.items())


def lang_ok(agent: AgentRec, contact: ContactRec) -> bool:
    return contact.language is None or contact.language in agent.languages


def skill_floor(cfg: QueueConfig) -> dict[str, int]:
    """The lowest level of each skill the queue can ever ask for: its requirements
    relaxed by every prefix of its escalation steps (a step may also raise a level)."""
    current = dict(cfg.skills)
    floor = dict(current)
    for step in cfg.escalation:
        for skill, level in step.levels.items():
            if level == 0:
                current.pop(skill, None)
            else:
                current[skill] = level
        for skill, low in floor.items():
            floor[skill] = min(low, current.get(skill, 0))
    return {skill: level for skill, level in floor.items() if level > 0}


def meets_floor(agent: AgentRec, cfg: QueueConfig | None) -> bool:
    """An agent serves a queue only if it meets the queue's skill floor (live config)."""
    if cfg is None:
        return False
    return all(agent.skills.get(skill, 0) >= level for skill, level in skill_floor(cfg).items())


def match_general(agent: AgentRec, contact: ContactRec, served: list[str]) -> bool:
    """Logged into a queue of Q(C) it serves (``served``), with the skills and language
    C needs."""
    return (
        agent.presence != "logged_out"
        and any(q in contact.queues for q in served)
        and skills_ok(agent, contact)
        and lang_ok(agent, contact)
    )


def over_threshold(cfg: QueueConfig | None, waiting: list[ContactRec], now: float) -> bool:
    """R-PASSIVE: a queue activates its passive agents at N waiting or T longest wait."""
    if cfg is None or not waiting:
        return False
    if cfg.passive_waiting is not None and len(waiting) >= cfg.passive_waiting:
        return True
    if cfg.passive_wait_seconds is not None:
        oldest = min(contact.arrival for contact in waiting)
        return now - oldest >= cfg.passive_wait_seconds
    return False


def apply_steps(contact: ContactRec, now: float, known_queues: set[str]) -> tuple[bool, list[str]]:
    """Apply every escalation step due at ``now``; return (any applied, queues added)."""
    added: list[str] = []
    applied = False
    while contact.applied < len(contact.steps):
        step = contact.steps[contact.applied]
        if contact.arrival + step.after > now:
            break
        for skill, level in step.levels.items():
            if level == 0:
                contact.req.pop(skill, None)
            else:
                contact.req[skill] = level
        if step.drop_language:
            contact.language = None
        for queue in step.add_queues:
            # A queue that does not exist when the step applies is skipped: no agent
            # can be logged into it and it has no thresholds.
            if queue in known_queues and queue not in contact.queues:
                contact.queues.append(queue)
                added.append(queue)
        contact.applied += 1
        applied = True
    return applied, added
