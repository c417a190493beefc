"""Reconciliation: make Redis agree with FreeSWITCH (DESIGN.md contract 2).

Runs on start, after every reconnect, after dropped events and so after a FreeSWITCH
restart (a new Core-UUID means every old channel is gone). It reads the engine's records,
then ``show channels as json``, and acts through each call's lane, so whatever it does is
ordered with that call's live events and the same state machines that handle live events
account for what happened while the engine was not listening:

- a record whose caller channel is gone -> ``LegHungUp`` (abandoned, or completed if it
  was talking);
- a record whose agent leg is gone -> ``LegHungUp`` of that leg (the caller goes to the
  next agent), unless this process originated the leg and its job has not answered yet;
  an agent leg found answered while the record says ringing -> ``LegAnswered``; a record
  stuck in the whisper -> the whisper timer fires (bridge; if routing already confirmed
  the offer, the bridge is finished without confirming again); a record of a previous
  process that says talking while both legs are still parked -> ``uuid_bridge`` again
  (the engine died between deciding the bridge and sending it);
- records of a previous process get their timers back (announcements, the digits guard
  of a feature-code call; a caller in a menu restarts that menu);
- a parked channel with ``acd_queue``, ``acd_entry``/``acd_entry_number`` or
  ``acd_action`` and no record -> adopted as a new arrival that keeps its place
  (``arrival`` = the channel's creation time);
- an agent leg (``acd_role=agent``) whose call does not own it -> hung up;
- a routing contact with no record that is not being adopted -> abandoned (or
  completed), and a pending offer of a previous process that its call does not know ->
  released (routing would expire it, but only after the reservation timeout);
- an agent's phone record left by a previous process that contradicts its call or
  routing (say ``ringing`` for a call that is gone) -> set to what the call implies or
  routing says, so the next event for that agent is legal.

Order matters: records are read *before* the channels, so every record read existed
before the listing and a channel missing from it is really gone; anything that appeared
after the listing (a caller parking, an agent leg originated meanwhile) is checked again on
its own lane, where the handler that created it has already finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from acd.adapters.translate import parked, variables_of
from acd.engine.effects import Api, Effect, Fact
from acd.engine.engine import bridge_effects
from acd.engine.events import CallerParked, LegAnswered, LegHungUp, TimerDue
from acd.engine.records import AgentRecord, CallRecord
from acd.engine.states import AgentState, call_transition
from acd.errors import ACDError
from freeswitch import commands
from freeswitch.arguments import HangupCause
from freeswitch.channel_rows import ChannelRow, parse_show_channels
from freeswitch.errors import ESLError
from routing.api import AgentView, ContactView, Reservation, RouterState
from routing.errors import InvalidTransitionError, RoutingError

if TYPE_CHECKING:
    from acd.adapters.runner import Runner

_log = structlog.get_logger("acd.reconcile")
CAUSE = "ACD_RECONCILED"

_PHONE_STATE: dict[str, AgentState] = {
    "logged_out": "logged_out",
    "ready": "available",
    "paused": "paused",
    "wrap_up": "wrap_up",
}


class Reconciler:
    """One engine's reconciliation. ``started_at`` (epoch seconds, from the runner's clock
    when this object is made) tells records and offers of a previous process from this
    one's."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.started_at = runner.clock()

    def run(self, now: float) -> dict[str, int]:
        """One reconciliation pass at ``now`` (epoch seconds); returns counts of what it
        found (for the log). The work itself is posted to the calls' lanes.

        Raises :class:`freeswitch.errors.ESLError` when FreeSWITCH cannot be asked and
        :class:`acd.errors.ACDError` when Redis cannot be read."""
        runner = self.runner
        client, engine = runner.client, runner.engine
        # Records first (module doc): a record written after the channel listing must not
        # look like a call whose channel is gone.
        records = engine.store.calls()
        snapshot = engine.router.snapshot()
        # Phone records first, so the events posted below meet legal agent states.
        agents_corrected = self._correct_agents(now, snapshot.agents)
        rows = parse_show_channels(client.api(commands.show_channels()).text)
        live: dict[str, ChannelRow] = {row.uuid: row for row in rows}
        owned: set[str] = set()
        report = {
            "channels": len(rows),
            "records": len(records),
            "closed": 0,
            "adopted": 0,
            "legs_lost": 0,
            "legs_pending": 0,
            "rebridged": 0,
            "orphan_legs": 0,
            "router_orphans": 0,
            "stale_offers": 0,
            "agents_corrected": agents_corrected,
        }
        for record in records:
            owned.add(record.contact)
            if record.agent_leg is not None:
                owned.add(record.agent_leg)
            self._check_record(record, live, snapshot.contacts, now, report)
        adopting = self._adopt_or_kill(rows, owned, now, report)
        self._check_routing(snapshot, live, owned | adopting, adopting, report)
        return report

    # ------------------------------------------------------------------ records

    def _check_record(
        self,
        record: CallRecord,
        live: dict[str, ChannelRow],
        routed: Mapping[str, ContactView],
        now: float,
        report: dict[str, int],
    ) -> None:
        runner = self.runner
        caller_row = live.get(record.contact)
        if caller_row is None:
            runner.post(record.contact, LegHungUp(record.contact, CAUSE, now))
            report["closed"] += 1
            return
        leg = record.agent_leg
        if leg is not None:
            runner.client.alias_lane(leg, record.contact)
            leg_row = live.get(leg)
            if leg_row is None:
                if record.state == "offering" and self._job_pending(record, now):
                    # Our own originate, maybe not yet created: its job result or the
                    # leg's events will tell the call.
                    report["legs_pending"] += 1
                else:
                    runner.post(record.contact, LegHungUp(leg, CAUSE, now))
                    report["legs_lost"] += 1
            elif record.state == "offering" and leg_row.answered:
                runner.post(record.contact, LegAnswered(leg, now))
            elif record.state == "whisper":
                view = routed.get(record.contact)
                if view is not None and view.state == "busy" and view.agent == record.agent:
                    # Confirmed in routing, then the process died before writing the
                    # record: confirming again would fail, so finish the bridge here.
                    self._on_lane(record.contact, partial(self._bridge_confirmed, record, leg))
                    report["rebridged"] += 1
                else:
                    runner.post(record.contact, TimerDue(record.contact, "whisper", now))
            elif (
                record.state == "talking"
                and caller_row.parked
                and leg_row.parked
                and (record.bridged_at or 0.0) < self.started_at
            ):
                self._on_lane(record.contact, partial(self._rebridge, record.contact, leg))
                report["rebridged"] += 1
        if record.parked_at < self.started_at:
            self._restore_timers(record, now)

    def _job_pending(self, record: CallRecord, now: float) -> bool:
        """Whether this process sent the originate of ``record``'s leg and its job may
        still answer (ring timeout plus the job grace)."""
        offered = record.offered_at
        if offered is None or offered < self.started_at:
            return False
        policy = self.runner.engine.settings.queues.get(record.queue)
        ring = float(policy.ring_timeout) if policy is not None else 60.0
        return now - offered <= ring + self.runner.job_grace

    def _restore_timers(self, record: CallRecord, now: float) -> None:
        """Timers lived in the dead process: give a previous process's call its own back."""
        scheduler = self.runner.scheduler
        settings = self.runner.engine.settings
        if record.kind == "caller" and record.state in ("queued", "offering"):
            policy = settings.queues.get(record.queue)
            every = policy.announce_every if policy is not None else 30.0
            scheduler.set(record.contact, "announce", now + every)
        elif record.kind == "feature" and record.state == "collecting":
            # The same guard as a fresh prompt's: the digits may have come while no one
            # listened, and the phone must not stay in silence.
            scheduler.set(record.contact, "digits", now + settings.digits_guard())
        elif record.kind == "caller" and record.state == "menu":
            # R-DTMF: the caller was in a menu; its collection died with the old process's
            # view of it: the current menu starts again (acd.engine.menus).
            scheduler.set(record.contact, "menu_restart", now)

    def _bridge_confirmed(self, seen: CallRecord, leg: str) -> None:
        engine = self.runner.engine
        record = engine.store.get_call(seen.contact)
        if record is None or record.state != "whisper" or record.agent_leg != leg:
            return  # moved on meanwhile (its own events got there first)
        now = self.runner.clock()
        record.state = call_transition(record.state, "whisper_done")
        record.bridged_at = now
        engine.store.put_call(record)
        _log.warning("acd.rebridge", contact=record.contact, leg=leg, state="whisper")
        self.runner.apply(bridge_effects(record, leg, now))

    def _rebridge(self, contact: str, leg: str) -> None:
        record = self.runner.engine.store.get_call(contact)
        if record is None or record.state != "talking" or record.agent_leg != leg:
            return
        _log.warning("acd.rebridge", contact=contact, leg=leg)
        self.runner.apply([Api(commands.uuid_bridge(contact, leg))])

    # ------------------------------------------------------------------ channels

    def _adopt_or_kill(
        self, rows: list[ChannelRow], owned: set[str], now: float, report: dict[str, int]
    ) -> set[str]:
        """Adopt parked callers with no record, hang up agent legs no call owns; returns
        the uuids being adopted."""
        adopting: set[str] = set()
        for row in rows:
            if row.uuid in owned:
                continue
            headers = self._dump(row)
            if headers is None:
                continue
            variables = variables_of(headers)
            if variables.get("acd_role") == "agent":
                contact = variables.get("acd_contact", "")
                lane = contact if contact else row.uuid
                self._on_lane(lane, partial(self._kill_orphan_leg, row.uuid, contact))
                report["orphan_legs"] += 1
                continue
            if not row.parked and (
                row.application == "bridge" or headers.get("Other-Leg-Unique-ID")
            ):
                # Only a waiting caller is adopted: parked, or running one of the engine's
                # broadcasts (hold music, a prompt), which shows as that application.
                continue
            arrival = float(row.created_epoch) if row.created_epoch else now
            event = parked(headers, now, arrival=min(arrival, now))
            if event is None:
                continue
            self.runner.post(row.uuid, event)
            adopting.add(row.uuid)
            report["adopted"] += 1
            if isinstance(event, CallerParked):
                self.runner.apply(
                    [
                        Fact(
                            "adopted",
                            {"contact": row.uuid, "queue": event.queue, "wait_from": arrival},
                        )
                    ]
                )
        return adopting

    def _kill_orphan_leg(self, leg: str, contact: str) -> None:
        store = self.runner.engine.store
        record = store.get_call(contact) if contact else None
        if record is not None and record.agent_leg == leg:
            # Originated after the records were read: it is ours.
            self.runner.client.alias_lane(leg, contact)
            return
        _log.info("acd.orphan_leg", leg=leg, contact=contact)
        self.runner.apply([Api(commands.uuid_kill(leg, HangupCause.NORMAL_CLEARING))])

    def _dump(self, row: ChannelRow) -> dict[str, str] | None:
        client = self.runner.client
        try:
            text = client.api(commands.uuid_dump(row.uuid)).text
        except ESLError as exc:
            _log.warning("acd.dump_failed", uuid=row.uuid, error=str(exc))
            return None
        if text.startswith("-ERR"):
            return None  # gone meanwhile
        try:
            data: Any = json.loads(text)
        except ValueError:
            _log.warning("acd.dump_unreadable", uuid=row.uuid)
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): str(v) for k, v in data.items()}

    # ------------------------------------------------------------------ routing

    def _check_routing(
        self,
        snapshot: RouterState,
        live: dict[str, ChannelRow],
        known: set[str],
        adopting: set[str],
        report: dict[str, int],
    ) -> None:
        """Contacts routing holds that no call owns, and offers a previous process made
        that its call never heard of."""
        for contact_id, view in snapshot.contacts.items():
            if view.channel != "voice" or contact_id in known:
                continue
            # No record and not adopted (gone, or a channel that is not a parked caller).
            self._on_lane(contact_id, partial(self._close_router_orphan, contact_id, view))
            report["router_orphans"] += 1
        for reservation in snapshot.reservations.values():
            contact = reservation.contact_id
            if contact in adopting or contact not in known or contact not in live:
                continue  # adoption or the orphan close above starts it over
            home = snapshot.contacts.get(contact)
            if home is None or not self._made_before_start(reservation, home):
                continue
            self._on_lane(contact, partial(self._release_stale, reservation))
            report["stale_offers"] += 1

    def _made_before_start(self, reservation: Reservation, view: ContactView) -> bool:
        # The offer was made at expires_at - timeout; the engine's timeout is a lower bound
        # of routing's (app.apply_config takes the larger), so this errs towards "recent".
        settings = self.runner.engine.settings
        policy = settings.queues.get(view.queue)
        if policy is None:
            return False
        made_by = reservation.expires_at - settings.reservation_timeout(policy)
        return made_by < self.started_at

    def _close_router_orphan(self, contact: str, view: ContactView) -> None:
        engine = self.runner.engine
        if engine.store.get_call(contact) is not None:
            return  # its call arrived meanwhile (its handler ran before this one)
        now = self.runner.clock()
        try:
            if view.state == "busy":
                offers = engine.router.complete(contact, now, 0.0)
            else:
                try:
                    offers = engine.router.abandon(contact, now)
                except InvalidTransitionError:
                    offers = engine.router.complete(contact, now, 0.0)
        except RoutingError as exc:
            _log.warning("acd.router_orphan", contact=contact, error=str(exc))
            return
        effects: list[Effect] = list(engine.offers(offers, now))
        effects.append(Fact("closed", {"contact": contact, "reason": "no-call"}))
        self.runner.apply(effects)

    def _release_stale(self, reservation: Reservation) -> None:
        engine = self.runner.engine
        record = engine.store.get_call(reservation.contact_id)
        if record is not None and record.reservation == reservation.id:
            return  # its call is working on it
        now = self.runner.clock()
        try:
            # Not the agent's fault: no no-answer penalty.
            offers = engine.router.release(reservation.id, now, "available")
        except RoutingError:
            return  # confirmed, released or expired meanwhile
        _log.info("acd.stale_offer_released", reservation=reservation.id)
        self.runner.apply(engine.offers(offers, now))

    # ------------------------------------------------------------------ agents

    def _correct_agents(self, now: float, views: Mapping[str, AgentView]) -> int:
        """Set each phone record a previous process left contradicting its call or routing
        to what it should be; returns how many were corrected.

        Only records last changed before this process started: this process's lanes keep
        their own records right, and touching one mid-change would break that call."""
        engine = self.runner.engine
        corrected = 0
        for record in engine.store.agents():
            if record.since >= self.started_at:
                continue
            want = self._phone_state(record, views.get(record.id))
            if want is None or engine.store.get_agent(record.id) != record:
                continue  # right, or changed meanwhile (its writer knows better)
            _log.info("acd.agent_corrected", agent=record.id, was=record.state, now=want)
            if want not in ("ringing", "in_call"):
                record.contact = None
            record.state = want
            record.since = now
            engine.store.put_agent(record)
            corrected += 1
        return corrected

    def _phone_state(self, record: AgentRecord, view: AgentView | None) -> AgentState | None:
        """The state ``record`` should have, or None if it may stay as it is: the state its
        call implies while the call goes on, else routing's presence."""
        call = None
        if record.contact is not None:
            call = self.runner.engine.store.get_call(record.contact)
        want: AgentState
        if call is not None and call.agent == record.id and call.state == "offering":
            want = "ringing"
        elif call is not None and call.agent == record.id and call.state in ("whisper", "talking"):
            want = "in_call"
        else:
            want = _PHONE_STATE["logged_out" if view is None else view.presence]
        return None if want == record.state else want

    # ------------------------------------------------------------------ lanes

    def _on_lane(self, lane: str, work: Callable[[], None]) -> None:
        """Run ``work`` on ``lane`` (after what is queued there); failures are logged."""
        if not self.runner.client.post(lane, work, self._run_work):
            _log.warning("acd.reconcile_dropped", lane=lane)

    @staticmethod
    def _run_work(work: Callable[[], None]) -> None:
        try:
            work()
        except (ACDError, ESLError) as exc:
            _log.error("acd.reconcile_step_failed", error=str(exc))
