"""ReferenceRouter: the routing rules once, in pure Python, no I/O.

This is the specification the Redis scripts are tested against (tests/test_routing_*).
Each public method validates everything first, raises before changing anything, and
then runs the cascade described in docs/ROUTING.md; the order of every step matters
because both routers must make the same decisions in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

from acd.errors import ValidationError
from routing.api import (
    AgentProfile,
    Contact,
    LogEntry,
    NoAnswerState,
    PositionInfo,
    QueueConfig,
    Reservation,
    RouterState,
)
from routing.errors import (
    AgentBusyError,
    AgentUnavailableError,
    ContactNotWaitingError,
    DuplicateContactError,
    InvalidTransitionError,
    ReservationExpiredError,
    UnknownAgentError,
    UnknownQueueError,
)
from routing.model_flow import ModelFlow
from routing.model_position import position_info
from routing.model_state import (
    AgentRec,
    ContactRec,
    available,
    contact_score,
    meets_floor,
    room,
)
from routing.validation import (
    MAX_PRIORITY,
    check_int,
    check_name,
    check_number,
    check_queue_list,
    parse_reservation_id,
)


class ReferenceRouter(ModelFlow):
    """The pure-Python router: the specification of the routing rules."""

    # ----------------------------------------------------------------- public API

    def put_queue(self, cfg: QueueConfig, now: float) -> list[Reservation]:
        if not isinstance(cfg, QueueConfig):
            raise ValidationError(f"expected a QueueConfig: {cfg!r}")
        self._begin(now)
        old = self.queues.get(cfg.name)
        self.queues[cfg.name] = cfg
        self._log("queue", queue=cfg.name)
        self._sync_passive_timer(cfg.name)
        # A lowered skill floor lets members serve the queue that could not before.
        joined = sorted(
            (a.idle_since, a.id)
            for a in self.agents.values()
            if cfg.name in a.queues
            and available(a)
            and not meets_floor(a, old)
            and meets_floor(a, cfg)
        )
        for _idle, agent_id in joined:
            self._route_agent(self.agents[agent_id])
        self._activate(cfg.name)
        return self._made

    def put_agent(self, profile: AgentProfile, now: float) -> list[Reservation]:
        if not isinstance(profile, AgentProfile):
            raise ValidationError(f"expected an AgentProfile: {profile!r}")
        self._begin(now)
        agent = self.agents.get(profile.id)
        if agent is None:
            agent = AgentRec(profile.id, {}, (), False, 1, 1)
            self.agents[profile.id] = agent
        agent.set_profile(profile)
        self._log("agent", agent=agent.id)
        self._route_agent(agent)
        return self._made

    def login(self, agent_id: str, queues: Sequence[str], now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        names = check_queue_list(queues, "queues")
        self._begin(now)
        agent = self._agent(agent_id)
        for name in names:
            if name not in self.queues:
                raise UnknownQueueError(name)
        agent.queues = sorted(set(agent.queues) | set(names))
        if agent.presence == "logged_out":
            agent.presence = "ready"
            agent.idle_since = self._now
        self._log("login", agent=agent.id, queue=",".join(names))
        self._route_agent(agent)
        return self._made

    def logout(self, agent_id: str, queues: Sequence[str] | None, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        names = None if queues is None else check_queue_list(queues, "queues")
        self._begin(now)
        agent = self._agent(agent_id)
        removed = [q for q in agent.queues if names is None or q in names]
        agent.queues = [q for q in agent.queues if q not in removed]
        self._log("logout", agent=agent.id, queue=",".join(removed))
        if not agent.queues and agent.presence != "logged_out":
            agent.presence = "logged_out"
            agent.pause_reason = None
            agent.wrap_until = None
            self.timers.pop(f"w|{agent.id}", None)
            for cid in agent.pending():
                contact = self.contacts[cid]
                self._detach(contact)
                self._place(contact)
        for contact in self._targeted(agent.id):
            if contact.restriction == "sticky" and not self._sticky_holds(contact):
                self._untarget(contact)
                contact.state = "placing"
                self._place(contact)
        return self._made

    def pause(self, agent_id: str, reason: str, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        check_name(reason, "pause reason")
        self._begin(now)
        agent = self._agent(agent_id)
        if agent.presence == "logged_out":
            raise InvalidTransitionError(f"agent {agent_id} is logged out")
        self._pause_agent(agent, reason, None)
        return self._made

    def unpause(self, agent_id: str, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        self._begin(now)
        agent = self._agent(agent_id)
        if agent.presence != "paused":
            raise InvalidTransitionError(f"agent {agent_id} is not paused ({agent.presence})")
        agent.presence = "ready"
        agent.pause_reason = None
        agent.idle_since = self._now
        self._log("unpause", agent=agent.id)
        self._route_agent(agent)
        return self._made

    def arrive(self, contact: Contact, now: float) -> list[Reservation]:
        if not isinstance(contact, Contact):
            raise ValidationError(f"expected a Contact: {contact!r}")
        self._begin(now)
        cfg = self.queues.get(contact.queue)
        if cfg is None:
            raise UnknownQueueError(contact.queue)
        if contact.id in self.contacts:
            raise DuplicateContactError(contact.id)
        if contact.target is not None and contact.target.agent_id not in self.agents:
            raise UnknownAgentError(contact.target.agent_id)
        priority = min(
            MAX_PRIORITY, contact.priority + cfg.channel_priority.get(contact.channel, 0)
        )
        req = dict(cfg.skills)
        for skill, level in contact.skills.items():
            req[skill] = max(req.get(skill, 0), level)
        rec = ContactRec(
            id=contact.id,
            channel=contact.channel,
            queue=cfg.name,
            queues=[cfg.name],
            req=req,
            language=contact.language,
            priority=priority,
            arrival=contact.arrival,
            score=contact_score(priority, contact.arrival),
            steps=cfg.escalation,
        )
        self.contacts[rec.id] = rec
        self._log("arrive", contact=rec.id, queue=cfg.name)
        self._escalate_due(rec)
        target = contact.target
        if target is not None:
            rec.target = target.agent_id
            until = contact.arrival + target.seconds
            if until > self._now and (target.kind == "private" or self._sticky_holds(rec)):
                rec.restriction = target.kind
                rec.until = until
                self.timers[f"x|{rec.id}"] = until
        self._place(rec)
        return self._made

    def abandon(self, contact_id: str, now: float) -> list[Reservation]:
        check_name(contact_id, "contact id")
        self._begin(now)
        contact = self._contact(contact_id)
        if contact.state == "busy":
            raise InvalidTransitionError(f"contact {contact_id} is in progress; complete it")
        self._log("abandon", agent=contact.agent or "", contact=contact.id)
        self._forget(contact)
        if contact.state == "waiting" and contact.restriction is None:
            for queue in contact.queues:
                self._sync_passive_timer(queue)
        elif contact.state == "reserved" and contact.agent is not None:
            agent = self.agents[contact.agent]
            agent.load[contact.cls] -= 1
            del agent.assigned[contact.id]
            self._route_agent(agent)
        return self._made

    def confirm(self, reservation_id: str, now: float) -> None:
        contact_id, _attempt = parse_reservation_id(reservation_id)
        self._begin(now)
        contact = self._pending(contact_id, reservation_id)
        assert contact.expires_at is not None and contact.agent is not None
        if contact.expires_at <= self._now:
            raise ReservationExpiredError(reservation_id)
        contact.state = "busy"
        self.agents[contact.agent].assigned[contact.id] = "busy"
        for kind in "erx":
            self.timers.pop(f"{kind}|{contact.id}", None)
        self._log("confirm", agent=contact.agent, contact=contact.id)

    def release(
        self, reservation_id: str, now: float, agent_state: NoAnswerState | None = None
    ) -> list[Reservation]:
        contact_id, _attempt = parse_reservation_id(reservation_id)
        if agent_state not in (None, "available", "paused"):
            raise ValidationError(f"agent_state must be available|paused|None: {agent_state!r}")
        self._begin(now)
        contact = self._pending(contact_id, reservation_id)
        self._release(contact, agent_state or self.queues[contact.queue].no_answer_state)
        return self._made

    def complete(self, contact_id: str, now: float, handle_seconds: float) -> list[Reservation]:
        check_name(contact_id, "contact id")
        handle = check_number(handle_seconds, "handle_seconds", 0.0)
        self._begin(now)
        contact = self._contact(contact_id)
        if contact.state != "busy" or contact.agent is None:
            raise InvalidTransitionError(f"contact {contact_id} is {contact.state}, not busy")
        count, mean, m2 = self.stats.get(contact.queue, (0, 0.0, 0.0))
        count += 1
        delta = handle - mean
        mean = mean + delta / count
        m2 = m2 + delta * (handle - mean)
        self.stats[contact.queue] = (count, mean, m2)
        agent = self.agents[contact.agent]
        agent.load[contact.cls] -= 1
        del agent.assigned[contact.id]
        del self.contacts[contact.id]
        self._log("complete", agent=agent.id, contact=contact.id)
        if agent.presence == "ready":
            wrap = self.queues[contact.queue].wrap_up_seconds
            if contact.cls == "voice" and wrap > 0.0:
                agent.presence = "wrap_up"
                agent.wrap_until = self._now + wrap
                self.timers[f"w|{agent.id}"] = agent.wrap_until
            else:
                agent.idle_since = self._now
                self._route_agent(agent)
        return self._made

    def pick(self, contact_id: str, agent_id: str, now: float) -> Reservation:
        check_name(contact_id, "contact id")
        check_name(agent_id, "agent id")
        self._begin(now)
        contact = self._contact(contact_id)
        if contact.state != "waiting":
            raise ContactNotWaitingError(f"contact {contact_id} is {contact.state}, not waiting")
        agent = self._agent(agent_id)
        if agent.presence != "ready":
            raise AgentUnavailableError(f"agent {agent_id} is {agent.presence}")
        if agent.pending() or not room(agent, contact.cls):
            raise AgentBusyError(f"agent {agent_id} has a pending offer or no room")
        self._log("pick", agent=agent.id, contact=contact.id, queue=contact.queue)
        self._reserve(agent, contact)
        return self._made[0]

    def tick(self, now: float, limit: int = 1000) -> list[Reservation]:
        check_int(limit, "limit", 1, 1_000_000)
        self._begin(now)
        for _ in range(limit):
            due = [(at, member) for member, at in self.timers.items() if at <= self._now]
            if not due:
                break
            # Due order, ties by member; the timer takes effect at its due time however
            # late this tick is (its cascade never sets a timer due before it).
            at, member = min(due)
            del self.timers[member]
            self._at = at
            self._fire(member)
        self._at = self._now
        return self._made

    def position(self, contact_id: str, now: float) -> PositionInfo:
        check_name(contact_id, "contact id")
        self._begin(now)
        contact = self._contact(contact_id)
        if contact.state != "waiting":
            raise InvalidTransitionError(f"contact {contact_id} is {contact.state}, not waiting")
        return position_info(self, contact)

    def snapshot(self) -> RouterState:
        waiting: dict[str, list[ContactRec]] = {}
        targeted: dict[str, list[ContactRec]] = {}
        for contact in self.contacts.values():
            if contact.general_waiting():
                for queue in contact.queues:
                    waiting.setdefault(queue, []).append(contact)
            elif contact.state == "waiting" and contact.target is not None:
                targeted.setdefault(contact.target, []).append(contact)
        return RouterState(
            agents={aid: agent.view() for aid, agent in sorted(self.agents.items())},
            contacts={cid: c.view() for cid, c in sorted(self.contacts.items())},
            waiting={q: _ordered(cs) for q, cs in sorted(waiting.items())},
            targeted={a: _ordered(cs) for a, cs in sorted(targeted.items())},
            reservations={
                c.reservation: Reservation(c.reservation, c.agent, c.id, c.expires_at)
                for c in sorted(self.contacts.values(), key=lambda c: c.id)
                if c.state == "reserved"
                and c.reservation is not None
                and c.agent is not None
                and c.expires_at is not None
            },
            timers=tuple(sorted((at, member) for member, at in self.timers.items())),
            stats=dict(sorted(self.stats.items())),
        )

    def log_tail(self, count: int) -> list[LogEntry]:
        check_int(count, "count", 1, 1_000_000)
        return list(self.log)[-count:]


def _ordered(contacts: list[ContactRec]) -> tuple[str, ...]:
    return tuple(c.id for c in sorted(contacts, key=lambda c: c.key))
