"""The engine: a caller's journey from park to wrap-up, as events in and effects out.

Each call (caller leg plus its agent legs) is handled on one ordered lane, so a call's
handler never races with itself; reservations made while handling another call are
handed to their own call's lane as :class:`~acd.engine.events.Offer`. Every decision that
gives a contact to an agent is one atomic routing call (:class:`routing.api.Router`).

``handle(event)`` returns the effects to carry out, in order: the agent-leg originate comes
first, because dispatch latency is measured to it.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Sequence

import structlog

from acd.engine import agents as agent_flow
from acd.engine import hours as hours_flow
from acd.engine import menus as menu_flow
from acd.engine import recording as record_flow
from acd.engine import rule_flow
from acd.engine.announcements import announcement
from acd.engine.callerid import ANONYMOUS_NAME, ANONYMOUS_NUMBER
from acd.engine.effects import (
    Api,
    CancelTimers,
    Deliver,
    Effect,
    Fact,
    Originate,
    Send,
    SetTimer,
    Unlink,
)
from acd.engine.events import (
    AdminFeatureCall,
    AgentCommand,
    CallerParked,
    DigitsCollected,
    DtmfPressed,
    EngineEvent,
    EntryCall,
    FeatureCodeCall,
    HoursChanged,
    LegAnswered,
    LegBridged,
    LegHungUp,
    Offer,
    OriginateFailed,
    PlaybackStarted,
    PlaybackStopped,
    RouterTick,
    TimerDue,
    TransferRequest,
)
from acd.engine.policy import EngineSettings, QueuePolicy
from acd.engine.records import AgentRecord, CallRecord, CallStore
from acd.engine.states import (
    AgentEvent,
    CallEvent,
    TransitionError,
    agent_transition,
    call_transition,
)
from acd.errors import ValidationError
from freeswitch import commands
from freeswitch.arguments import HangupCause
from freeswitch.errors import InvalidArgument
from freeswitch.media import Playable
from routing.api import Contact, NoAnswerState, Reservation, Router, Target
from routing.errors import (
    DuplicateContactError,
    InvalidTransitionError,
    RoutingError,
    UnknownQueueError,
)
from routing.validation import MAX_PRIORITY

_log = structlog.get_logger("acd.engine")

NewUuid = Callable[[], str]


def _new_uuid() -> str:
    return str(uuidlib.uuid4())


class Engine:
    """The call and agent state machines over a :class:`Router` and a :class:`CallStore`.

    Not thread-safe by itself: the runner calls :meth:`handle` for one call's events on
    that call's lane only. Raises nothing for events about unknown or finished calls
    (they are logged and ignored: FreeSWITCH keeps sending events for channels the engine
    does not own); raises :class:`acd.engine.states.TransitionError` only for a bug."""

    def __init__(
        self,
        settings: EngineSettings,
        router: Router,
        store: CallStore,
        *,
        new_uuid: NewUuid = _new_uuid,
        queue_load: rule_flow.LoadReader | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.store = store
        self.new_uuid = new_uuid
        # A queue's figures for its rules (R-RULES); read only for queues with rules.
        self.queue_load = queue_load or rule_flow.SnapshotLoad(self)
        self.hours_state = hours_flow.HoursState()  # emergency message, API exceptions

    # ------------------------------------------------------------------ entry point

    def handle(self, event: EngineEvent) -> list[Effect]:
        """Apply ``event``; return the effects to carry out, in order."""
        match event:
            case CallerParked():
                return self._caller_parked(event)
            case Offer():
                return self._offer(event)
            case OriginateFailed():
                return self._originate_failed(event)
            case LegAnswered():
                return self._leg_answered(event)
            case LegBridged():
                return self._leg_bridged(event)
            case LegHungUp():
                return self._leg_hung_up(event)
            case PlaybackStarted():
                return self._playback_started(event)
            case PlaybackStopped():
                return self._playback_stopped(event)
            case TimerDue():
                return self._timer_due(event)
            case RouterTick():
                return self.offers(self.router.tick(event.at), event.at)
            case FeatureCodeCall():
                return agent_flow.feature_code_call(self, event)
            case EntryCall():
                first = hours_flow.emergency_effects(self, event)
                return [*first, *menu_flow.entry_call(self, event)]
            case DigitsCollected() if event.variable == menu_flow.MENU_DIGITS_VARIABLE:
                return menu_flow.digits_collected(self, event)
            case DigitsCollected():
                record = self.store.get_call(event.uuid)
                if record_flow.is_recording_call(record):
                    assert record is not None
                    return record_flow.digits_collected(self, record, event)
                if hours_flow.is_admin_call(record):
                    assert record is not None
                    return hours_flow.admin_digits(self, record, event)
                return agent_flow.digits_collected(self, event)
            case AgentCommand():
                return agent_flow.agent_command(self, event)
            case TransferRequest():
                return self._transfer(event)
            case DtmfPressed():
                return self._dtmf(event)
            case AdminFeatureCall() if event.action == record_flow.ACTION:
                return record_flow.feature_call(self, event)
            case AdminFeatureCall():
                return hours_flow.admin_feature_call(self, event)
            case HoursChanged():
                return hours_flow.hours_changed(self, event)
        raise TypeError(f"not an engine event: {event!r}")  # pragma: no cover - typed

    # ------------------------------------------------------------------ helpers

    def policy(self, queue: str) -> QueuePolicy:
        return self.settings.queues[queue]

    def offers(self, reservations: Sequence[Reservation], now: float) -> list[Effect]:
        """Hand each reservation to its contact's lane."""
        return [Deliver(Offer(r.id, r.agent_id, r.contact_id, now)) for r in reservations]

    def _step(self, record: CallRecord, event: CallEvent) -> None:
        record.state = call_transition(record.state, event)

    def agent_record(self, agent_id: str) -> AgentRecord:
        return self.store.get_agent(agent_id) or AgentRecord(agent_id)

    def agent_event(self, agent_id: str, event: AgentEvent, now: float, **changes: object) -> None:
        """Move the agent's phone state through the agent table and store it."""
        record = self.agent_record(agent_id)
        new_state = agent_transition(record.state, event)
        if new_state != record.state:
            record.state = new_state
            record.since = now
        for name, value in changes.items():
            setattr(record, name, value)
        self.store.put_agent(record)

    def waiting_sound(self, record: CallRecord) -> Playable:
        policy = self.policy(record.queue)
        kind = policy.waiting_sound
        if kind == "auto":
            kind = "moh" if record.answered else "ringback"
        return policy.moh if kind == "moh" else policy.ringback

    def _play_waiting(self, record: CallRecord) -> Effect:
        return Api(commands.uuid_broadcast(record.contact, self.waiting_sound(record), "aleg"))

    @staticmethod
    def _kill(leg: str, cause: HangupCause) -> Effect:
        return Api(commands.uuid_kill(leg, cause))

    # ------------------------------------------------------------------ arrival

    def _caller_parked(self, event: CallerParked) -> list[Effect]:
        if self.store.get_call(event.uuid) is not None:
            return []  # parked again (e.g. after a failed bridge): already ours
        if event.queue not in self.settings.queues:
            _log.warning("acd.unknown_queue", uuid=event.uuid, queue=event.queue)
            return [
                Fact("caller_refused", {"contact": event.uuid, "reason": "unknown-queue"}),
                Send(commands.hangup(event.uuid, HangupCause.UNALLOCATED_NUMBER)),
            ]
        before: list[Effect] = []
        if self.settings.hours is not None or self.hours_state.emergency is not None:
            # R-CALENDAR, R-TIMEDMSG: the emergency message first; a closed queue plays
            # its night message and action instead of queueing.
            before, handled = hours_flow.on_arrival(self, event)
            if handled:
                return before
        plan = None
        if event.queue in self.settings.rules.queues:
            # R-RULES: the rules due at arrival (a queue without rules: this lookup only).
            plan = rule_flow.before_arrival(self, event)
            if plan.final is not None:
                return [*before, *plan.final]
            event = plan.event
        policy = self.policy(event.queue)
        target = self._target(event, policy)
        contact = Contact(
            event.uuid,
            "voice",
            event.queue,
            event.arrival,
            skills=dict(event.skills),
            language=event.language,
            priority=event.priority,
            target=target,
        )
        try:
            try:
                reservations = self.router.arrive(contact, event.at)
            except DuplicateContactError:
                # Routing knew the caller but its record was never written (the engine
                # died in between): start over at the same place.
                dropped = self._drop_contact(event.uuid, event.at)
                reservations = dropped + self.router.arrive(contact, event.at)
        except UnknownQueueError as exc:
            # Configured in the dialplan but not in routing: a permanent refusal.
            _log.error("acd.arrive_failed", uuid=event.uuid, error=str(exc))
            return [
                Fact("caller_refused", {"contact": event.uuid, "reason": exc.slug}),
                Send(commands.hangup(event.uuid, HangupCause.UNALLOCATED_NUMBER)),
            ]
        except RoutingError as exc:
            # Redis is failing: the caller hears music, and the periodic reconciliation
            # adopts it once routing answers again (no record was written).
            _log.error("acd.arrive_failed", uuid=event.uuid, error=str(exc))
            sound = policy.moh if event.answered else policy.ringback
            return [
                Fact("caller_refused", {"contact": event.uuid, "reason": exc.slug}),
                Api(commands.uuid_broadcast(event.uuid, sound, "aleg")),
            ]
        record = CallRecord(
            contact=event.uuid,
            kind="caller",
            state="queued",
            parked_at=event.at,
            queue=event.queue,
            arrival=event.arrival,
            answered=event.answered,
            language=event.language,
            case_type=event.case_type,
            priority=event.priority,
            caller_number=event.caller_number or ANONYMOUS_NUMBER,
            caller_name=event.caller_name or ANONYMOUS_NAME,
            called_number=event.called_number,
            rules_fired=[] if plan is None else plan.fired,
        )
        self.store.put_call(record)
        # The fact first (observers only: no I/O on the call's path), so logs and the
        # events stream read queued -> offered -> bridged.
        effects: list[Effect] = [
            *before,
            Fact(
                "queued",
                {"contact": record.contact, "queue": record.queue, "wait_from": event.arrival},
            ),
        ]
        own = [r for r in reservations if r.contact_id == record.contact]
        for reservation in own:
            effects += self._start_offer(record, reservation, event.at)
        effects += self.offers(
            [r for r in reservations if r.contact_id != record.contact], event.at
        )
        if plan is not None:
            effects += plan.effects  # a rule's message, before the first announcement
        if policy.announce_first_after <= 0 and record.state == "queued":
            # The first announcement at once, with no music before it: a uuid_break that
            # reaches FreeSWITCH while a broadcast is starting is lost, and the prompt then
            # waits forever behind the endless music (seen on FreeSWITCH 1.10.12).
            effects += self._announce(record, event.at, interrupt=False)
        else:
            effects.append(
                SetTimer(record.contact, "announce", event.at + policy.announce_first_after)
            )
        if not record.announce_pending:
            # Also while an agent rings at once (and after a no-answer): never silence
            # (R-NOSILENCE); the answer's uuid_break stops it.
            effects.append(self._play_waiting(record))
        self.store.put_call(record)
        if plan is not None:
            effects += rule_flow.after_arrival(self, record, event.at, plan)
        return effects

    def _drop_contact(self, contact: str, now: float) -> list[Reservation]:
        try:
            return self.router.abandon(contact, now)
        except InvalidTransitionError:
            return self.router.complete(contact, now, 0.0)

    def _target(self, event: CallerParked, policy: QueuePolicy) -> Target | None:
        if event.agent is not None and event.agent in self.settings.agents:
            return Target(event.agent, "private", policy.private_max_wait)
        if policy.sticky_window > 0 and event.caller_number not in ("", ANONYMOUS_NUMBER):
            last = self.store.last_agent(event.caller_number, event.at, policy.sticky_window)
            if last is not None and last in self.settings.agents:
                return Target(last, "sticky", policy.sticky_wait)
        return None

    # ------------------------------------------------------------------ offering

    def _offer(self, event: Offer) -> list[Effect]:
        record = self.store.get_call(event.contact)
        effects: list[Effect] = []
        if (
            record is not None
            and record.state == "offering"
            and record.reservation != (event.reservation_id)
        ):
            # The router expired the old offer (tick) and made a new one: the old leg
            # must not ring on.
            if record.agent_leg is not None:
                effects += [self._kill(record.agent_leg, HangupCause.ORIGINATOR_CANCEL)]
                effects.append(Unlink(record.agent_leg))
                self.store.unlink_leg(record.agent_leg)
            if record.agent is not None:
                self._agent_cancel(record.agent, event.at)
            record.state = "queued"
            record.reservation = record.agent = record.agent_leg = None
        if record is None or record.state != "queued":
            # The caller left or is already served: give the agent back at once.
            return effects + self._release_quietly(event.reservation_id, event.at, "available")
        reservation = Reservation(event.reservation_id, event.agent_id, event.contact, 0.0)
        effects = self._start_offer(record, reservation, event.at) + effects
        self.store.put_call(record)
        return effects

    def _start_offer(
        self, record: CallRecord, reservation: Reservation, now: float
    ) -> list[Effect]:
        """Ring the reserved agent: ``bgapi originate`` with the contact's variables."""
        policy = self.policy(record.queue)
        dial = self._agent_dial_string(reservation.agent_id)
        if dial is None:
            _log.warning("acd.agent_unreachable", agent=reservation.agent_id)
            return self._release_quietly(reservation.id, now, "paused")
        leg = self.new_uuid()
        variables: dict[str, str | int | bool] = {
            "acd_role": "agent",
            "acd_contact": record.contact,
            "acd_agent": reservation.agent_id,
            "acd_reservation": reservation.id,
            "acd_queue": record.queue,
        }
        if record.language:
            # The whisper on the agent leg speaks the call's language (the agent was
            # chosen for it); without this FreeSWITCH plays its default (en).
            variables["default_language"] = record.language
        try:
            command = commands.originate(
                dial,
                uuid=leg,
                timeout=policy.ring_timeout,
                ignore_early_media=True,
                caller_id_name=record.caller_name,
                caller_id_number=record.caller_number,
                variables=variables,
            )
        except InvalidArgument:
            command = commands.originate(
                dial,
                uuid=leg,
                timeout=policy.ring_timeout,
                ignore_early_media=True,
                caller_id_name=ANONYMOUS_NAME,
                caller_id_number=ANONYMOUS_NUMBER,
                variables=variables,
            )
        self._step(record, "offer")
        record.reservation = reservation.id
        record.agent = reservation.agent_id
        record.agent_leg = leg
        record.offered_at = now
        record.attempts += 1
        self.store.link_leg(leg, record.contact)
        try:
            self.agent_event(reservation.agent_id, "offer", now, contact=record.contact)
        except TransitionError as exc:
            # Routing reserved the agent, and routing is the source of truth for who
            # holds what: a phone state that disagrees is stale (e.g. left by a killed
            # process); it is corrected rather than leaving the caller unserved.
            _log.error("acd.agent_state_stale", agent=reservation.agent_id, error=str(exc))
            phone = self.agent_record(reservation.agent_id)
            phone.state, phone.since, phone.contact = "ringing", now, record.contact
            self.store.put_agent(phone)
        return [
            Originate(record.contact, leg, command, policy.ring_timeout),
            Fact(
                "offered",
                {"contact": record.contact, "agent": reservation.agent_id, "leg": leg},
            ),
        ]

    def _agent_dial_string(self, agent_id: str) -> str | None:
        record = self.store.get_agent(agent_id)
        if record is not None and record.phone:
            return record.phone
        entry = self.settings.agents.get(agent_id)
        return None if entry is None else entry.contact

    def _release_quietly(
        self, reservation_id: str, now: float, state: NoAnswerState | None
    ) -> list[Effect]:
        try:
            reservations = self.router.release(reservation_id, now, state)
        except RoutingError:
            return []  # already gone: confirmed, released or abandoned
        return self.offers(reservations, now)

    def _agent_cancel(self, agent_id: str, now: float) -> None:
        record = self.agent_record(agent_id)
        if record.state in ("ringing", "in_call"):
            self.agent_event(agent_id, "cancel", now, contact=None)

    def _originate_failed(self, event: OriginateFailed) -> list[Effect]:
        record = self.store.get_call(event.contact)
        if record is None or record.agent_leg != event.leg or record.state != "offering":
            return []  # stale: a leg we already gave up on
        return self._agent_leg_failed(record, event.cause, event.at)

    def _agent_leg_failed(self, record: CallRecord, cause: str, now: float) -> list[Effect]:
        assert record.reservation is not None and record.agent is not None
        agent, leg, reservation = record.agent, record.agent_leg, record.reservation
        # Ringing: the leg failed; whisper: the agent answered and hung up before the
        # bridge. Either way the caller goes back to its place.
        self._step(record, "agent_failed" if record.state == "offering" else "agent_hangup")
        record.reservation = record.agent = record.agent_leg = None
        self.store.put_call(record)
        effects: list[Effect] = []
        if leg is not None:
            self.store.unlink_leg(leg)
            effects.append(Unlink(leg))
        # The phone's state first: once routing has released the agent another lane may
        # offer it a call, and must find the phone free (the store's copy is in memory).
        snapshot_state = self.agent_record(agent)
        if snapshot_state.state == "ringing":
            self.agent_event(agent, "no_answer", now, contact=None)
            if self.policy(record.queue).no_answer_state == "paused":
                # Routing pauses the agent (R-NOANSWER): the phone's state says so too.
                self.agent_event(agent, "pause", now, pause_reason="no-answer")
        elif snapshot_state.state == "in_call":  # left during the whisper
            self.agent_event(agent, "cancel", now, contact=None)
        try:
            reservations = self.router.release(reservation, now, None)
        except RoutingError:
            reservations = []
        effects.insert(
            0, Fact("agent_no_answer", {"contact": record.contact, "agent": agent, "cause": cause})
        )
        # Offers first: the caller goes to the next agent at once (R-NOANSWER).
        return self.offers(reservations, now) + effects

    # ------------------------------------------------------------------ answer and bridge

    def _call_of_leg(self, leg: str) -> CallRecord | None:
        contact = self.store.contact_of_leg(leg)
        return None if contact is None else self.store.get_call(contact)

    def _leg_answered(self, event: LegAnswered) -> list[Effect]:
        record = self.store.get_call(event.uuid)
        if record is not None:
            if not record.answered:
                record.answered = True
                self.store.put_call(record)
            return []
        record = self._call_of_leg(event.uuid)
        if record is None or record.agent_leg != event.uuid or record.state != "offering":
            return []
        assert record.agent is not None
        self._step(record, "agent_answered")
        record.answered_at = event.at
        self.agent_event(record.agent, "answer", event.at)
        if record.caller_number not in ("", ANONYMOUS_NUMBER):
            self.store.remember_agent(record.caller_number, record.agent, event.at)
        effects: list[Effect] = [Api(commands.uuid_break(record.contact))]
        if not record.answered:
            effects.append(Api(commands.uuid_answer(record.contact)))
            record.answered = True
        policy = self.policy(record.queue)
        if policy.whisper is None:
            self.store.put_call(record)
            return effects + self._bridge(record, event.at)
        whisper = policy.whisper
        effects += [
            Api(commands.uuid_broadcast(event.uuid, whisper, "aleg")),
            Api(commands.uuid_broadcast(record.contact, whisper, "aleg")),
            SetTimer(record.contact, "whisper", event.at + self.settings.whisper_timeout),
            Fact("answered", {"contact": record.contact, "agent": record.agent}),
        ]
        self.store.put_call(record)
        return effects

    def _bridge(self, record: CallRecord, now: float) -> list[Effect]:
        """Confirm the offer in routing and bridge the legs (after the whisper)."""
        assert record.agent_leg is not None and record.reservation is not None
        try:
            self.router.confirm(record.reservation, now)
        except RoutingError as exc:
            # The offer is gone (expired in routing): hand the caller back, drop the leg.
            _log.error("acd.confirm_failed", contact=record.contact, error=str(exc))
            leg = record.agent_leg
            effects: list[Effect] = [self._kill(leg, HangupCause.NORMAL_CLEARING)]
            record.state = "queued"
            if record.agent is not None:
                self._agent_cancel(record.agent, now)
            record.reservation = record.agent = record.agent_leg = None
            self.store.unlink_leg(leg)
            self.store.put_call(record)
            return [*effects, Unlink(leg), self._play_waiting(record)]
        self._step(record, "whisper_done")
        record.bridged_at = now
        self.store.put_call(record)
        return bridge_effects(record, record.agent_leg, now)

    def _playback_stopped(self, event: PlaybackStopped) -> list[Effect]:
        record = self._call_of_leg(event.uuid)
        if record is None or record.state != "whisper" or record.agent_leg != event.uuid:
            return []
        return self._bridge(record, event.at)

    def _leg_bridged(self, event: LegBridged) -> list[Effect]:
        record = self.store.get_call(event.a_uuid) or self.store.get_call(event.b_uuid)
        if record is None or record.state not in ("whisper", "talking"):
            return []
        if record.state == "whisper":
            return self._bridge(record, event.at)
        return []

    # ------------------------------------------------------------------ hang-ups

    def _leg_hung_up(self, event: LegHungUp) -> list[Effect]:
        record = self.store.get_call(event.uuid)
        if record is not None:
            if record.kind == "feature":
                self.store.delete_call(record.contact)
                return [CancelTimers(record.contact)]
            return self._caller_left(record, event)
        record = self._call_of_leg(event.uuid)
        if record is None or record.agent_leg != event.uuid:
            self.store.unlink_leg(event.uuid)
            return [Unlink(event.uuid)]
        return self._agent_left(record, event)

    def _caller_left(self, record: CallRecord, event: LegHungUp) -> list[Effect]:
        now = event.at
        state = record.state
        self._step(record, "caller_hangup")
        self.store.delete_call(record.contact)
        effects: list[Effect] = [CancelTimers(record.contact)]
        leg = record.agent_leg
        if state in ("queued", "offering", "whisper"):
            if record.agent is not None:
                self._agent_cancel(record.agent, now)  # before routing frees it
            try:
                reservations = self.router.abandon(record.contact, now)
            except RoutingError as exc:
                _log.error("acd.abandon_failed", contact=record.contact, error=str(exc))
                reservations = []
            if leg is not None:
                # A ringing agent leg is cancelled; an agent who answered in the race is
                # hung up and free again without penalty (abandon keeps idle_since).
                effects.append(self._kill(leg, HangupCause.ORIGINATOR_CANCEL))
            effects.insert(
                0,
                Fact(
                    "abandoned",
                    {
                        "contact": record.contact,
                        "queue": record.queue,
                        "wait": now - record.arrival,
                        "cause": event.cause,
                    },
                ),
            )
            effects = self.offers(reservations, now) + effects
        elif state == "talking":
            effects = self._complete(record, now) + effects
            if leg is not None:
                effects.append(self._kill(leg, HangupCause.NORMAL_CLEARING))
        if leg is not None:
            self.store.unlink_leg(leg)
            effects.append(Unlink(leg))
        return effects

    def _complete(self, record: CallRecord, now: float) -> list[Effect]:
        handle = max(0.0, now - (record.bridged_at or now))
        if record.agent is not None:  # the phone's state before routing frees the agent
            agent = self.agent_record(record.agent)
            if agent.state == "in_call":
                wrap = self.policy(record.queue).wrap_up_seconds
                until = now + wrap
                self.agent_event(record.agent, "hangup", now, contact=None, wrap_until=until)
        try:
            reservations = self.router.complete(record.contact, now, handle)
        except RoutingError as exc:
            _log.error("acd.complete_failed", contact=record.contact, error=str(exc))
            reservations = []
        return [
            *self.offers(reservations, now),
            Fact(
                "completed",
                {
                    "contact": record.contact,
                    "agent": record.agent,
                    "queue": record.queue,
                    "handle": handle,
                },
            ),
        ]

    def _agent_left(self, record: CallRecord, event: LegHungUp) -> list[Effect]:
        now = event.at
        leg = event.uuid
        if record.state == "offering":
            # Hung up while ringing (declined, or the originate failed): the job's -ERR
            # may follow; it will find the leg already given up.
            return self._agent_leg_failed(record, event.cause, now)
        if record.state == "whisper":
            # The agent left before the bridge: the offer was never confirmed, so the
            # caller goes back to its place and on to the next agent.
            return [*self._agent_leg_failed(record, event.cause, now), self._play_waiting(record)]
        if record.state == "talking":
            self._step(record, "agent_hangup")
            self.store.delete_call(record.contact)
            self.store.unlink_leg(leg)
            effects = self._complete(record, now)
            return [
                *effects,
                CancelTimers(record.contact),
                Unlink(leg),
                self._kill(record.contact, HangupCause.NORMAL_CLEARING),
            ]
        return []

    # ------------------------------------------------------------------ priority transfer

    def _transfer(self, event: TransferRequest, *, overflow: bool = False) -> list[Effect]:
        """R-PRIO; ``overflow`` (R-OVERFLOW, a rule's): the caller keeps its own priority
        and the fact is ``overflowed`` {contact, queue (from), to}. Raises
        :class:`acd.errors.ValidationError` for an unknown queue, or a
        call that is not a waiting or talking caller of this engine."""
        if event.queue not in self.settings.queues:
            raise ValidationError(f"unknown queue: {event.queue!r}")
        record = self.store.get_call(event.contact)
        if record is None or record.kind != "caller" or record.state not in ("queued", "talking"):
            state = "unknown" if record is None else record.state
            raise ValidationError(f"call {event.contact!r} cannot be transferred ({state})")
        now = event.at
        policy = self.policy(event.queue)
        effects: list[Effect] = []
        if record.state == "talking":
            # park_after_bridge first: when the agent's leg goes, FreeSWITCH parks the
            # caller instead of hanging it up (ESL-NOTES.md); the agent goes to wrap-up as
            # after any call.
            effects.append(Api(commands.uuid_setvar(record.contact, "park_after_bridge", True)))
            effects += self._complete(record, now)
            if record.agent_leg is not None:
                self.store.unlink_leg(record.agent_leg)
                effects += [
                    Unlink(record.agent_leg),
                    self._kill(record.agent_leg, HangupCause.NORMAL_CLEARING),
                ]
        else:
            effects += self.offers(self._drop_contact(record.contact, now), now)
        self._step(record, "transfer")
        left = record.queue
        record.queue = event.queue
        if not overflow:
            record.priority = max(record.priority, policy.transfer_priority)
        record.reservation = record.agent = record.agent_leg = None
        record.bridged_at = record.offered_at = record.answered_at = None
        contact = Contact(
            record.contact,
            "voice",
            record.queue,
            record.arrival,
            language=record.language,
            priority=min(record.priority, MAX_PRIORITY),
        )
        reservations = self.router.arrive(contact, now)
        self.store.put_call(record)
        for reservation in [r for r in reservations if r.contact_id == record.contact]:
            effects += self._start_offer(record, reservation, now)
        effects += self.offers([r for r in reservations if r.contact_id != record.contact], now)
        if record.state == "queued":
            effects.append(self._play_waiting(record))
        if overflow:
            effects.append(
                Fact("overflowed", {"contact": record.contact, "queue": left, "to": record.queue})
            )
        else:
            effects.append(Fact("transferred", {"contact": record.contact, "queue": record.queue}))
        self.store.put_call(record)
        return effects

    def _dtmf(self, event: DtmfPressed) -> list[Effect]:
        """The agent's in-call priority transfer: ``transfer_prefix`` then a queue code
        (``*82`` = transfer to the queue with code 2), keyed without ``#`` (R-PRIO, R-DTMF).
        Digits that cannot start a feature are forgotten; the caller's own digits and
        those of calls not talking are ignored."""
        prefix = self.settings.transfer_prefix
        record = self._call_of_leg(event.uuid)
        if not prefix or record is None or record.state != "talking":
            return []
        if record.agent_leg != event.uuid:
            return []
        typed = record.dtmf + event.digit
        features = {prefix + code: queue for code, queue in self.settings.queue_codes.items()}
        if typed in features:
            record.dtmf = ""
            self.store.put_call(record)
            return self._transfer(TransferRequest(record.contact, features[typed], event.at))
        if not any(feature.startswith(typed) for feature in features):
            typed = event.digit if prefix.startswith(event.digit) else ""
        if typed != record.dtmf:
            record.dtmf = typed
            self.store.put_call(record)
        return []

    # ------------------------------------------------------------------ announcements

    def _playback_started(self, event: PlaybackStarted) -> list[Effect]:
        record = self.store.get_call(event.uuid)
        if record is None or not record.announce_pending:
            return []
        if event.path == self.waiting_sound(record).playback_path():
            return []
        record.announce_pending = False
        self.store.put_call(record)
        return [Fact("announced", {"contact": record.contact, "path": event.path})]

    def _timer_due(self, event: TimerDue) -> list[Effect]:
        record = self.store.get_call(event.contact)
        if record is None:
            return []
        if event.kind == "announce":
            return self._announce(record, event.at)
        if event.kind == "announce_check":
            if record.announce_pending:
                record.announce_pending = False
                self.store.put_call(record)
                _log.warning("acd.announcement_not_played", contact=record.contact)
                return [Fact("announcement_not_played", {"contact": record.contact})]
            return []
        if event.kind == "whisper" and record.state == "whisper":
            return self._bridge(record, event.at)
        if event.kind == "rules":
            return rule_flow.timer_due(self, record, event.at)
        if event.kind in ("menu", "menu_restart"):
            return menu_flow.timer_due(self, record, event.kind, event.at)
        if event.kind == "digits" and record_flow.is_recording_call(record):
            return record_flow.digits_timeout(self, record)
        if event.kind == "digits" and hours_flow.is_admin_call(record):
            return hours_flow.admin_timeout(self, record)
        if event.kind == "digits" and record.kind == "feature":
            return agent_flow.digits_timeout(self, record, event.at)
        return []

    def _announce(self, record: CallRecord, now: float, *, interrupt: bool = True) -> list[Effect]:
        """The announcement due now; ``interrupt``: break what plays first (False when
        nothing plays yet: a break with nothing to stop may cut the next prompt)."""
        if record.state not in ("queued", "offering"):
            return []
        policy = self.policy(record.queue)
        self._step(record, "announce")
        effects: list[Effect] = [SetTimer(record.contact, "announce", now + policy.announce_every)]
        if record.state == "offering":
            return effects  # an agent is ringing: no prompt that a bridge would cut
        try:
            info = self.router.position(record.contact, now)
        except RoutingError:
            return effects
        phrases: list[Playable] = [*hours_flow.timed_prompts(self, record, now)]
        phrases += announcement(
            policy, info, first=record.announcements == 0, case_type=record.case_type
        )
        if not phrases:
            return effects
        record.announcements += 1
        record.announce_pending = True
        self.store.put_call(record)
        if interrupt:
            effects.append(Api(commands.uuid_break(record.contact)))
        effects += [Api(commands.uuid_broadcast(record.contact, p, "aleg")) for p in phrases]
        effects.append(self._play_waiting(record))  # queued behind the prompts (R-NOSILENCE)
        effects.append(
            SetTimer(record.contact, "announce_check", now + self.settings.announce_check_after)
        )
        return effects


def bridge_effects(record: CallRecord, leg: str, now: float) -> list[Effect]:
    """``uuid_bridge`` of the caller and the agent leg, and the ``bridged`` fact (its
    ``wait`` in seconds since the effective arrival)."""
    return [
        Api(commands.uuid_bridge(record.contact, leg)),
        Fact(
            "bridged",
            {
                "contact": record.contact,
                "agent": record.agent,
                "queue": record.queue,
                "wait": now - record.arrival,
            },
        ),
    ]
