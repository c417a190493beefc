"""Runs the engine on an Event Socket connection: events in, effects carried out.

- Events arrive on the client's per-call lanes; the runner translates them
  (:mod:`acd.adapters.translate`) and calls :meth:`Engine.handle` on that lane.
- :class:`~acd.engine.effects.Originate` aliases the agent leg to the caller's lane before
  the ``bgapi`` is written (one call, one lane) and watches the job: ``-ERR`` comes back
  as :class:`OriginateFailed` on that lane.
- :class:`~acd.engine.effects.Deliver` and due timers are posted to their contact's lane;
  the routing tick runs on a lane of its own every ``tick_interval`` seconds.
- Facts go to observers; a failing observer is logged and never touches a call.
- On start, on every reconnect and after dropped events: reconciliation
  (:mod:`acd.adapters.reconcile`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Sequence

import gevent
import gevent.event
import gevent.lock
import gevent.queue
import structlog

from acd.adapters.live import SwapGate
from acd.adapters.reconcile import Reconciler
from acd.adapters.scheduler import Scheduler
from acd.adapters.translate import ENGINE_EVENTS, translate
from acd.engine.effects import (
    Api,
    CancelTimers,
    Deliver,
    Effect,
    Fact,
    Originate,
    Send,
    SetTimer,
    StorePrompt,
    Unlink,
)
from acd.engine.engine import Engine
from acd.engine.events import EngineEvent, Offer, OriginateFailed, RouterTick, TimerDue
from acd.errors import ACDError
from freeswitch.client import ESLClient, ResyncReason
from freeswitch.commands import parse_originate_result
from freeswitch.connection import PendingReply
from freeswitch.errors import CommandFailed, ESLError
from freeswitch.jobs import BackgroundJob
from freeswitch.messages import ApiResponse, CommandReply, Event

_log = structlog.get_logger("acd.runner")

Observer = Callable[[Fact], object]
Clock = Callable[[], float]
TICK_LANE = "acd:router-tick"
#: Effects that reach FreeSWITCH: the store's writes go to Redis before they do.
_COMMANDS = (Originate, Api, Send, StorePrompt)
#: Longest wait (seconds) of an agent leg's ``uuid_bridge`` for its originate's result
#: (see :meth:`Runner._await_originates`); normally a few milliseconds.
ORIGINATE_SETTLE = 2.0


class Runner:
    """Wires one :class:`Engine` to one :class:`ESLClient`. ``clock`` gives epoch seconds."""

    def __init__(
        self,
        engine: Engine,
        client: ESLClient,
        *,
        clock: Clock = time.time,
        observers: Sequence[Observer] = (),
        job_grace: float = 30.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock
        self.observers = list(observers)
        self.job_grace = job_grace
        self.scheduler = Scheduler(clock, self._timer_due)
        self.reconciler = Reconciler(self)
        self.gate = SwapGate()  # a live reload swaps the settings between handlers only
        self._ticker: gevent.Greenlet | None = None
        self._reconciling = gevent.lock.Semaphore()
        self._retry: gevent.Greenlet | None = None
        self._triggers: dict[object, tuple[float, str]] = {}
        #: Agent leg -> its originate's job, until FreeSWITCH has answered the job.
        self._originating: dict[str, BackgroundJob] = {}
        #: Dispatch latency in seconds by trigger ("arrival": a caller parked, "freed": an
        #: agent became free): from the moment the triggering event's bytes were read to
        #: the moment the agent leg's originate was written; the latest 100,000 of each.
        self.dispatch: dict[str, deque[float]] = {
            "arrival": deque(maxlen=100_000),
            "freed": deque(maxlen=100_000),
        }
        self._replies: gevent.queue.Queue[tuple[str, PendingReply]] = gevent.queue.Queue()
        self._reply_checker = gevent.spawn(self._check_replies)
        self._flush_wanted = gevent.event.Event()
        self._flusher = gevent.spawn(self._flush_behind)
        self._stopped = False
        self.counters: dict[str, int] = {
            "events": 0,
            "engine_errors": 0,
            "command_errors": 0,
            "originates": 0,
            "observer_errors": 0,
            "reconciles": 0,
            "store_errors": 0,
        }

    # ------------------------------------------------------------------ life cycle

    def attach(self) -> None:
        """Register the event handlers and signals (before ``client.connect()``)."""
        for name in ENGINE_EVENTS:
            self.client.register_handle(name, self._on_event)
        self.client.on_resync_needed(self._on_resync)

    def start(self) -> None:
        """Reconcile with FreeSWITCH, then start the timers and the routing tick. The
        client must be connected."""
        self.reconcile()
        self.scheduler.start()
        self._ticker = gevent.spawn(self._tick_loop)

    def stop(self) -> None:
        self._stopped = True
        self._reply_checker.kill(block=False)
        # Not killed in the middle of a write: woken, it sends what is pending and ends.
        self._flush_wanted.set()
        self._flusher.join(timeout=2)
        self._flusher.kill(block=False)
        self._flush()  # what command-less events wrote last
        if self._retry is not None:
            self._retry.kill(block=False)
        self.scheduler.stop()
        if self._ticker is not None:
            self._ticker.kill(block=True, timeout=2)

    def reconcile(self) -> None:
        """One reconciliation pass; a second request while one runs waits for it, then
        runs again (what it saw may already be stale)."""
        with self._reconciling:
            self.counters["reconciles"] += 1
            try:
                report = self.reconciler.run(self.clock())
            except (ESLError, ACDError) as exc:
                _log.error("acd.reconcile_failed", error=str(exc))
                return
            self._flush()
            _log.info("acd.reconciled", **report)

    def _on_resync(self, reason: ResyncReason) -> None:
        _log.info("acd.resync", reason=reason)
        self.reconcile()

    # ------------------------------------------------------------------ events

    def _on_event(self, event: Event) -> None:
        self.counters["events"] += 1
        try:
            engine_event = translate(event, self.clock())
        except ESLError as exc:
            _log.error("acd.event_unreadable", error=str(exc))
            return
        if engine_event is None:
            return
        received = getattr(event, "received", None)
        if received is None:
            self.run(engine_event)
            return
        kind = "arrival" if event.name == "CHANNEL_PARK" else "freed"
        lane = gevent.getcurrent()
        self._triggers[lane] = (received, kind)
        try:
            self.run(engine_event)
        finally:
            self._triggers.pop(lane, None)

    def run(self, event: EngineEvent) -> None:
        """Handle one engine event on the current lane and carry out its effects."""
        try:
            with self.gate:
                effects = self.engine.handle(event)
        except Exception:  # noqa: BLE001 - one call's bug must not stop the lane or others
            self.counters["engine_errors"] += 1
            _log.exception("acd.engine_error", event_type=type(event).__name__)
            self._flush(wait=False)
            return
        self.apply(effects)

    def post(self, lane: str, event: EngineEvent, *, urgent: bool = False) -> None:
        """Handle ``event`` on ``lane``; ``urgent``: an offer, which rings an agent."""
        if not self.client.post(lane, event, self._run_posted, urgent=urgent):
            _log.warning("acd.post_dropped", lane=lane, event_type=type(event).__name__)

    def _run_posted(self, event: EngineEvent) -> None:
        if isinstance(event, Offer) and event.trigger is not None:
            lane = gevent.getcurrent()
            self._triggers[lane] = (event.trigger, event.trigger_kind)
            try:
                self.run(event)
            finally:
                self._triggers.pop(lane, None)
            return
        self.run(event)

    def _timer_due(self, timer: TimerDue) -> None:
        self.post(timer.contact, timer)

    def _tick_loop(self) -> None:
        interval = self.engine.settings.tick_interval
        while not self._stopped:
            gevent.sleep(interval)
            self.post(TICK_LANE, RouterTick(self.clock()))

    def _retry_adoption(self) -> None:
        """A caller whose arrival routing refused (Redis failing) has no record: a
        reconciliation after ``retry_after`` seconds adopts it once routing answers again
        (one pending at a time; a full pass reads every channel, so not on a timer)."""
        if self._retry is not None and not self._retry.dead:
            return

        def later() -> None:
            gevent.sleep(self.engine.settings.reconcile_retry_after)
            self.reconcile()

        self._retry = gevent.spawn(later)

    # ------------------------------------------------------------------ effects

    def _flush(self, *, wait: bool = True) -> None:
        try:
            if wait:
                self.engine.store.flush()
            else:
                self.engine.store.send()
        except ACDError as exc:
            # The call goes on (its caller is better served than not); a restart would
            # reconcile it from FreeSWITCH's channels.
            self.counters["store_errors"] += 1
            _log.error("acd.store_flush_failed", error=str(exc))

    def apply(self, effects: Sequence[Effect]) -> None:
        """Hand the store's writes to Redis, then carry out ``effects`` in order: a
        restarted engine finds every call that a command was sent for. The Event Socket
        commands among them go out in one write, in order (replies checked later).

        Never the other way round, not even to save the arrival a Redis round trip: an
        agent leg rung before its call's record is written would, after a crash in between,
        be a leg no record knows while reconciliation offers the adopted caller again,
        possibly to the same agent (two live legs for one agent; seen in
        ``test_sigkill_under_load_every_caller_served_no_agent_double_booked``). Handed
        over is enough; :meth:`RedisCallStore.send` says why.

        Effects with no command for FreeSWITCH (a prompt that started, a caller who hung
        up, timers, facts) do not even hand over: their writes go with the next send, the
        flush-behind greenlet's (as soon as the lanes ready to run have run, so the writes
        of several events share one write) or an earlier one of a lane about to send a
        command. The store keeps one ordered list of writes and one connection for them,
        so Redis applies them in the order they were made. A crash loses at most those of
        the last loop turn, none that a command depends on; reconciliation corrects them
        from FreeSWITCH's channels."""
        if any(isinstance(effect, _COMMANDS) for effect in effects):
            self._flush(wait=False)
        self._carry_out(effects)
        self._flush_wanted.set()  # the rest, and the facts the observers just logged

    def _flush_behind(self) -> None:
        while not self._stopped:
            self._flush_wanted.wait()
            self._flush_wanted.clear()
            try:
                self._flush(wait=False)
            except Exception:  # noqa: BLE001 - the writes of every lane depend on this loop
                self.counters["store_errors"] += 1
                _log.exception("acd.flush_behind_failed")

    def _carry_out(self, effects: Sequence[Effect]) -> None:
        batch = self.client.batch()
        replies: list[tuple[str, int]] = []  # what, index in the batch
        originates: list[tuple[Originate, BackgroundJob, int]] = []
        for effect in effects:
            try:
                match effect:
                    case Originate():
                        self.client.alias_lane(effect.leg, effect.contact)
                        job, index = batch.bgapi(effect.command)
                        originates.append((effect, job, index))
                    case Api():
                        replies.append((effect.command.name, batch.api(effect.command)))
                    case Send():
                        replies.append(("sendmsg", batch.send(effect.message)))
                    case StorePrompt():  # a prompt recorded by phone (R-PROMPTS)
                        from acd.prompt_audio import store_recording  # noqa: PLC0415

                        replies.append(("sendmsg", batch.send(store_recording(effect))))
                    case _:
                        self._apply_local(effect)
            except (ESLError, ACDError) as exc:
                self.counters["command_errors"] += 1
                _log.warning("acd.effect_failed", effect=type(effect).__name__, error=str(exc))
        if not batch.texts:
            return
        self._await_originates(effects)
        try:
            pending = self.client.submit_batch(batch)
        except ESLError as exc:
            self.counters["command_errors"] += len(batch.texts)
            _log.warning("acd.commands_not_sent", count=len(batch.texts), error=str(exc))
            for effect, _job, _index in originates:
                failed = OriginateFailed(effect.contact, effect.leg, str(exc), self.clock())
                self.post(effect.contact, failed)
            return
        trigger = self._triggers.get(gevent.getcurrent())
        for effect, job, index in originates:
            self.counters["originates"] += 1
            if trigger is not None:
                # Dispatch latency: the triggering event read -> the originate written.
                self.dispatch[trigger[1]].append(time.perf_counter() - trigger[0])
            self._originating[effect.leg] = job
            gevent.spawn(self._watch_job, effect, job, pending[index])
        for what, index in replies:
            self._replies.put((what, pending[index]))

    def _apply_local(self, effect: Effect) -> None:
        match effect:
            case Unlink():
                self.client.unalias_lane(effect.leg)
            case SetTimer():
                self.scheduler.set(effect.contact, effect.kind, effect.at)
            case CancelTimers():
                self.scheduler.cancel(effect.contact)
            case Deliver():
                offer = effect.offer
                trigger = self._triggers.get(gevent.getcurrent())
                if trigger is not None:
                    offer = dataclasses.replace(offer, trigger=trigger[0], trigger_kind=trigger[1])
                self.post(offer.contact, offer, urgent=True)
            case Fact():
                self._observe(effect)

    def _await_originates(self, effects: Sequence[Effect]) -> None:
        """Hold a ``uuid_bridge`` to an agent leg until that leg's ``bgapi originate``
        has its result (at most :data:`ORIGINATE_SETTLE` seconds; then it goes anyway).

        The leg's CHANNEL_ANSWER comes while FreeSWITCH's originate thread still holds
        the leg: after the answer it clears the leg's state handlers and sets it to run
        ``&park()`` (mod_commands ``originate``), and only then answers the job ``+OK``.
        A ``uuid_bridge`` that lands before that loses its state handlers: the agent leg
        parks, the caller waits in CS_SOFT_EXECUTE for it, and ~20 s later both are hung
        up with DESTINATION_OUT_OF_ORDER (seen in bench/vs_modcc.py, ~1 call in 400-1600).
        After the job's result the bridge takes the leg from its park, as documented."""
        for effect in effects:
            if isinstance(effect, Api) and effect.command.name == "uuid_bridge":
                job = self._originating.get(effect.command.args[-1])
                if job is not None and not job.ready():
                    with contextlib.suppress(ESLError):  # no result in time: bridge anyway
                        job.wait(ORIGINATE_SETTLE)

    def _watch_job(self, effect: Originate, job: BackgroundJob, accepted: PendingReply) -> None:
        timeout = float(effect.ring_timeout) + self.job_grace
        try:
            reply = accepted.get()
            if isinstance(reply, CommandReply) and not reply.ok:
                raise CommandFailed(reply.reply_text)
            result = parse_originate_result(job.wait(timeout))
        except ESLError as exc:
            self._originating.pop(effect.leg, None)
            # Connection lost or no answer in time: reconciliation will find the leg (or
            # not) in show channels; tell the call now so it is not stuck ringing.
            cause = f"JOB_FAILED: {exc}"
        else:
            self._originating.pop(effect.leg, None)
            if result.ok:
                return
            cause = result.cause or "UNKNOWN"
        self.post(effect.contact, OriginateFailed(effect.contact, effect.leg, cause, self.clock()))

    def _check_replies(self) -> None:
        """One greenlet reads the replies of commands written without waiting, in the
        order written (the order they come back), and logs the ones that failed."""
        while True:
            what, pending = self._replies.get()
            try:
                reply = pending.get()
            except ESLError as exc:
                self.counters["command_errors"] += 1
                _log.warning("acd.command_failed", command=what, error=str(exc))
                continue
            ok = reply.ok if isinstance(reply, ApiResponse | CommandReply) else False
            if not ok:
                text = reply.text if isinstance(reply, ApiResponse) else str(reply)
                _log.debug("acd.command_refused", command=what, reply=text.strip()[:200])

    def _observe(self, fact: Fact) -> None:
        permanent = ("unknown-queue", "unknown-entry")  # refused for good: nothing to retry
        if fact.kind == "caller_refused" and fact.data.get("reason") not in permanent:
            self._retry_adoption()
        for observer in self.observers:
            try:
                observer(fact)
            except Exception:  # noqa: BLE001 - a failing observer must not break a call
                self.counters["observer_errors"] += 1
                _log.exception("acd.observer_failed", fact=fact.kind)
