"""An independent statement of the eligibility rules over RouterState views.

Used by the routing tests to check the routers' choices against the rules written a
third time, from docs/ROUTING.md, rather than against the model's own helpers.
"""

from __future__ import annotations

from collections.abc import Mapping

from routing.api import CHANNEL_CLASS, AgentView, ContactView, QueueConfig, RouterState


def takes(agent: AgentView, cls: str) -> bool:
    if cls == "chat":
        return agent.chat_capacity > 0
    if cls == "email":
        return agent.email_capacity > 0
    return True


def room(agent: AgentView, cls: str) -> bool:
    voice, chat, email = agent.load
    if agent.presence != "ready":
        return False
    if cls == "voice":
        return voice + chat + email == 0
    if cls == "chat":
        return voice == 0 and chat < agent.chat_capacity
    return voice == 0 and email < agent.email_capacity


def over(state: RouterState, cfgs: Mapping[str, QueueConfig], queue: str, now: float) -> bool:
    cfg = cfgs.get(queue)
    waiting = state.waiting.get(queue, ())
    if cfg is None or not waiting:
        return False
    if cfg.passive_waiting is not None and len(waiting) >= cfg.passive_waiting:
        return True
    if cfg.passive_wait_seconds is None:
        return False
    oldest = min(state.contacts[cid].arrival for cid in waiting)
    return now - oldest >= cfg.passive_wait_seconds


def floor(cfg: QueueConfig) -> dict[str, int]:
    """Lowest level per skill the queue asks for before, between and after its steps."""
    stages = [dict(cfg.skills)]
    for step in cfg.escalation:
        stage = dict(stages[-1])
        stage.update(step.levels)
        stages.append({skill: level for skill, level in stage.items() if level > 0})
    return {
        skill: low
        for skill in cfg.skills
        if (low := min(stage.get(skill, 0) for stage in stages)) > 0
    }


def serves(cfgs: Mapping[str, QueueConfig], agent: AgentView, queue: str) -> bool:
    """An agent counts as a member of a queue only if it meets the queue's floor."""
    cfg = cfgs.get(queue)
    if cfg is None:
        return False
    levels = dict(agent.skills)
    return all(levels.get(skill, 0) >= level for skill, level in floor(cfg).items())


def matches(
    state: RouterState,
    cfgs: Mapping[str, QueueConfig],
    agent: AgentView,
    contact: ContactView,
    now: float,
) -> bool:
    """Eligible ignoring availability and load."""
    if agent.presence == "logged_out":
        return False
    if contact.restriction == "private":
        return agent.id == contact.target
    if contact.restriction == "sticky" and agent.id != contact.target:
        return False
    shared = [q for q in contact.queues if q in agent.queues and serves(cfgs, agent, q)]
    if not shared:
        return False
    levels = dict(agent.skills)
    if any(levels.get(skill, 0) < level for skill, level in contact.requirements):
        return False
    if contact.language is not None and contact.language not in agent.languages:
        return False
    return not agent.passive or any(over(state, cfgs, q, now) for q in shared)


def eligible(
    state: RouterState,
    cfgs: Mapping[str, QueueConfig],
    agent: AgentView,
    contact: ContactView,
    now: float,
) -> bool:
    """May the agent be offered the contact now."""
    cls = CHANNEL_CLASS[contact.channel]
    return room(agent, cls) and matches(state, cfgs, agent, contact, now)


def waiting_contacts(state: RouterState) -> list[ContactView]:
    return [c for c in state.contacts.values() if c.state == "waiting"]


def best_agent(
    state: RouterState, cfgs: Mapping[str, QueueConfig], contact: ContactView, now: float
) -> str | None:
    found = [
        (a.idle_since, a.id)
        for a in state.agents.values()
        if eligible(state, cfgs, a, contact, now)
    ]
    return min(found)[1] if found else None


def best_contact(
    state: RouterState, cfgs: Mapping[str, QueueConfig], agent: AgentView, now: float
) -> str | None:
    found = [
        (c.score, c.id) for c in waiting_contacts(state) if eligible(state, cfgs, agent, c, now)
    ]
    return min(found)[1] if found else None
