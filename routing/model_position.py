"""Position in queue and expected wait on the reference model (R-POS, R-POSALL, R-EWT).

E(C), the agents that could serve C, ignores availability and load: logged-in agents
(paused and in wrap-up included) that match C's skills, language, queues and channel;
passive agents are left out (they only help above thresholds). A contact D competes with
C when D waits and E(C) and E(D) share an agent. docs/ROUTING.md has the full rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from routing.api import PositionInfo
from routing.model_state import AgentRec, ContactRec, avail, match_general, takes_channel

if TYPE_CHECKING:
    from routing.model_flow import ModelFlow


def serving_agents(router: ModelFlow, contact: ContactRec) -> list[AgentRec]:
    """E(C) for a waiting contact."""
    if contact.restriction is not None:
        agent = router.agents.get(contact.target or "")
        if (
            agent is not None
            and agent.presence != "logged_out"
            and takes_channel(agent, contact.cls)
            and (
                contact.restriction == "private"
                or match_general(agent, contact, router.served(agent))
            )
        ):
            return [agent]
        return []
    return [
        agent
        for agent in router.agents.values()
        if not agent.passive
        and takes_channel(agent, contact.cls)
        and match_general(agent, contact, router.served(agent))
    ]


def position_of(router: ModelFlow, contact: ContactRec, serving: list[AgentRec]) -> int:
    ahead = [
        other
        for other in router.contacts.values()
        if other.state == "waiting" and other.id != contact.id and other.key < contact.key
    ]
    if not serving:
        # Nobody can serve C: count what is ahead in C's own line.
        if contact.restriction is not None:
            same = [d for d in ahead if d.restriction is not None and d.target == contact.target]
        else:
            same = [
                d
                for d in ahead
                if d.restriction is None and any(q in contact.queues for q in d.queues)
            ]
        return 1 + len(same)
    ids = {agent.id for agent in serving}
    competing = [d for d in ahead if any(agent.id in ids for agent in serving_agents(router, d))]
    return 1 + len(competing)


def position_info(router: ModelFlow, contact: ContactRec) -> PositionInfo:
    serving = serving_agents(router, contact)
    position = position_of(router, contact, serving)
    contact.announced = position if contact.announced == 0 else min(contact.announced, position)
    cfg = router.queues[contact.queue]
    count, mean, m2 = router.stats.get(contact.queue, (0, 0.0, 0.0))
    staffed = sum(1 for agent in serving if agent.presence != "paused")
    free = sum(1 for agent in serving if avail(agent, contact.cls))
    aht = mean if count >= cfg.min_samples else cfg.initial_aht
    ewt = position * aht / max(staffed, 1)
    cv = math.sqrt(m2 / (count - 1)) / mean if count >= 2 and mean > 0.0 else 0.0
    uncertain = staffed == 0 or count < cfg.min_samples or cv > cfg.max_cv or ewt > cfg.max_ewt
    return PositionInfo(
        position=position,
        announced_position=contact.announced,
        ewt_seconds=ewt,
        ewt_uncertain=uncertain,
        available_agents=free,
        staffed_agents=staffed,
    )
