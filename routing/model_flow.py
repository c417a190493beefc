"""The reference model's state and cascades: how one decision leads to the next.

``ReferenceRouter`` (routing/model.py) adds the public operations on top. The order of
every step here is part of the rules (docs/ROUTING.md, "Decisions"); lib_flow.lua mirrors
it line for line.
"""

from __future__ import annotations

from collections import deque

from routing.api import NO_ANSWER_REASON, LogEntry, NoAnswerState, QueueConfig, Reservation
from routing.errors import (
    UnknownAgentError,
    UnknownContactError,
    UnknownReservationError,
)
from routing.model_state import (
    AgentRec,
    ContactRec,
    apply_steps,
    avail,
    available,
    match_general,
    meets_floor,
    over_threshold,
)
from routing.validation import check_time


class ModelFlow:
    """State of one tenant and the cascades between decisions. Not thread-safe."""

    def __init__(self, log_size: int = 10_000) -> None:
        self.queues: dict[str, QueueConfig] = {}
        self.agents: dict[str, AgentRec] = {}
        self.contacts: dict[str, ContactRec] = {}
        self.timers: dict[str, float] = {}
        self.stats: dict[str, tuple[int, float, float]] = {}
        self.log: deque[LogEntry] = deque(maxlen=log_size)
        self._now = 0.0
        # The moment this call's state changes are dated: ``now``, except while ``tick``
        # runs a timer, when it is that timer's due time (docs/ROUTING.md, "Late ticks").
        self._at = 0.0
        self._made: list[Reservation] = []

    # ------------------------------------------------------------ lookups, checks

    def _begin(self, now: float) -> None:
        self._now = check_time(now)
        self._at = self._now
        self._made = []

    def _agent(self, agent_id: str) -> AgentRec:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(agent_id)
        return agent

    def _contact(self, contact_id: str) -> ContactRec:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise UnknownContactError(contact_id)
        return contact

    def _pending(self, contact_id: str, reservation_id: str) -> ContactRec:
        contact = self.contacts.get(contact_id)
        if contact is None or contact.state != "reserved" or contact.reservation != reservation_id:
            raise UnknownReservationError(reservation_id)
        return contact

    def _log(
        self,
        kind: str,
        agent: str = "",
        contact: str = "",
        queue: str = "",
        at: float | None = None,
    ) -> None:
        self.log.append(LogEntry(kind, agent, contact, queue, self._at if at is None else at))

    def _targeted(self, agent_id: str) -> list[ContactRec]:
        found = [
            c
            for c in self.contacts.values()
            if c.state == "waiting" and c.restriction is not None and c.target == agent_id
        ]
        return sorted(found, key=lambda c: c.key)

    def _queue_waiting(self, queue: str) -> list[ContactRec]:
        return [c for c in self.contacts.values() if c.general_waiting() and queue in c.queues]

    def over(self, queue: str) -> bool:
        return over_threshold(self.queues.get(queue), self._queue_waiting(queue), self._at)

    def _sticky_holds(self, contact: ContactRec) -> bool:
        agent = self.agents.get(contact.target or "")
        return agent is not None and any(q in contact.queues for q in agent.queues)

    def served(self, agent: AgentRec) -> list[str]:
        """The agent's queues whose skill floor it meets: only these make it eligible."""
        return [q for q in agent.queues if meets_floor(agent, self.queues.get(q))]

    def eligible(self, agent: AgentRec, contact: ContactRec) -> bool:
        """May ``agent`` be offered ``contact`` now (docs/ROUTING.md, Eligibility)."""
        if not avail(agent, contact.cls):
            return False
        if contact.restriction == "private":
            return agent.id == contact.target
        if contact.restriction == "sticky" and agent.id != contact.target:
            return False
        served = self.served(agent)
        if not match_general(agent, contact, served):
            return False
        return not agent.passive or any(self.over(q) for q in contact.queues if q in served)

    # ------------------------------------------------------------------- cascades

    def _reserve(self, agent: AgentRec, contact: ContactRec) -> None:
        was_general = contact.general_waiting()
        contact.attempt += 1
        contact.state = "reserved"
        contact.agent = agent.id
        contact.reservation = f"{contact.id}#{contact.attempt}"
        # An offer is made when the call runs, even in a late tick's cascade: the agent
        # gets the whole timeout to answer from then, and the entry is dated then.
        contact.expires_at = self._now + self.queues[contact.queue].reservation_timeout
        if was_general:
            for queue in contact.queues:
                self._sync_passive_timer(queue)
        agent.load[contact.cls] += 1
        agent.assigned[contact.id] = "reserved"
        self.timers[f"r|{contact.id}"] = contact.expires_at
        self._log("reserve", agent=agent.id, contact=contact.id, at=self._now)
        self._made.append(
            Reservation(contact.reservation, agent.id, contact.id, contact.expires_at)
        )

    def _route_contact(self, contact: ContactRec, skip: str | None = None) -> bool:
        """(a) Offer the contact to the eligible agent idle the longest (never ``skip``)."""
        if contact.restriction is not None:
            candidates = [self.agents[contact.target]] if contact.target else []
        else:
            candidates = list(self.agents.values())
        eligible = [a for a in candidates if a.id != skip and self.eligible(a, contact)]
        if not eligible:
            return False
        self._reserve(min(eligible, key=lambda a: (a.idle_since, a.id)), contact)
        return True

    def _route_agent(self, agent: AgentRec) -> None:
        """(b) While the agent has room, give it the best contact it may take."""
        while available(agent):
            eligible = [
                c
                for c in self.contacts.values()
                if c.state == "waiting"
                and (c.restriction is None or c.target == agent.id)
                and self.eligible(agent, c)
            ]
            if not eligible:
                return
            self._reserve(agent, min(eligible, key=lambda c: c.key))

    def _place(self, contact: ContactRec, skip: str | None = None) -> None:
        """A contact that is in no set: offer it, else queue it (and wake passive agents)."""
        if contact.restriction == "sticky" and not self._sticky_holds(contact):
            self._untarget(contact)
        if self._route_contact(contact, skip):
            return
        contact.state = "waiting"
        target = (contact.target or "") if contact.restriction else ""
        self._log("wait", agent=target, contact=contact.id)
        if contact.restriction is None:
            for queue in contact.queues:
                self._sync_passive_timer(queue)
            for queue in contact.queues:
                self._activate(queue)

    def _activate(self, queue: str) -> None:
        """R-PASSIVE: while the queue is over threshold, the available passive agents that
        serve it run (b), longest idle first (order taken at the start)."""
        if not self.over(queue):
            return
        passive = sorted(
            (a.idle_since, a.id)
            for a in self.agents.values()
            if a.passive and available(a) and queue in self.served(a)
        )
        for _idle, agent_id in passive:
            if not self.over(queue):
                return
            self._route_agent(self.agents[agent_id])

    def _detach(self, contact: ContactRec) -> AgentRec:
        """Undo a pending reservation; the contact is left in no set ("placing")."""
        assert contact.agent is not None
        agent = self.agents[contact.agent]
        agent.load[contact.cls] -= 1
        del agent.assigned[contact.id]
        self.timers.pop(f"r|{contact.id}", None)
        contact.state = "placing"
        contact.agent = None
        contact.reservation = None
        contact.expires_at = None
        self._log("release", agent=agent.id, contact=contact.id)
        return agent

    def _release(self, contact: ContactRec, agent_state: NoAnswerState) -> None:
        agent = self._detach(contact)
        if agent_state == "paused":
            self._pause_agent(agent, NO_ANSWER_REASON, contact)
            return
        agent.idle_since = self._at
        # The contact goes to the next agent at once (R-NOANSWER); the agent that did not
        # answer then takes the best contact it may, which keeps FIFO for older contacts.
        self._place(contact, skip=agent.id)
        self._route_agent(agent)

    def _pause_agent(self, agent: AgentRec, reason: str, first: ContactRec | None) -> None:
        agent.presence = "paused"
        agent.pause_reason = reason
        agent.wrap_until = None
        self.timers.pop(f"w|{agent.id}", None)
        self._log("pause", agent=agent.id)
        if first is not None:
            self._place(first)
        for cid in agent.pending():
            contact = self.contacts[cid]
            self._detach(contact)
            self._place(contact)

    def _untarget(self, contact: ContactRec) -> None:
        contact.restriction = None
        contact.until = None
        self.timers.pop(f"x|{contact.id}", None)
        self._log("untarget", contact=contact.id)

    def _forget(self, contact: ContactRec) -> None:
        del self.contacts[contact.id]
        for kind in "erx":
            self.timers.pop(f"{kind}|{contact.id}", None)

    def _escalate_due(self, contact: ContactRec) -> list[str]:
        applied, added = apply_steps(contact, self._at, set(self.queues))
        if contact.applied < len(contact.steps):
            due = contact.arrival + contact.steps[contact.applied].after
            self.timers[f"e|{contact.id}"] = due
        else:
            self.timers.pop(f"e|{contact.id}", None)
        if applied:
            self._log("escalate", contact=contact.id, queue=",".join(added))
        return added

    def _sync_passive_timer(self, queue: str) -> None:
        """Keep one timer per queue at oldest arrival + T, for R-PASSIVE by waiting time."""
        cfg = self.queues.get(queue)
        waiting = self._queue_waiting(queue)
        member = f"p|{queue}"
        if cfg is None or cfg.passive_wait_seconds is None or not waiting:
            self.timers.pop(member, None)
            return
        due = min(c.arrival for c in waiting) + cfg.passive_wait_seconds
        if due > self._at:
            self.timers[member] = due

    def _fire(self, member: str) -> None:
        kind, name = member.split("|", 1)
        if kind == "r":
            contact = self.contacts[name]
            self._release(contact, self.queues[contact.queue].no_answer_state)
        elif kind == "w":
            agent = self.agents[name]
            agent.presence = "ready"
            agent.wrap_until = None
            agent.idle_since = self._at
            self._log("ready", agent=agent.id)
            self._route_agent(agent)
        elif kind == "e":
            contact = self.contacts[name]
            added = self._escalate_due(contact)
            if contact.state != "waiting":
                return
            if contact.restriction is not None:
                self._route_contact(contact)
                return
            for queue in added:
                self._sync_passive_timer(queue)
            if not self._route_contact(contact):
                for queue in added:
                    self._activate(queue)
        elif kind == "x":
            contact = self.contacts[name]
            was_waiting = contact.state == "waiting"
            self._untarget(contact)
            if was_waiting:
                contact.state = "placing"
                self._place(contact)
        elif kind == "p":
            self._activate(name)
        else:
            raise AssertionError(f"unknown timer {member}")
