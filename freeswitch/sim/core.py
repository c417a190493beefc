"""The simulated switch core: channels, their life cycle and the events it fires.

Everything runs in gevent greenlets of one thread, so a method here changes state and
fires its events without interleaving. Event order follows the recordings:

- caller parked by the dialplan (s03/s06): ``CHANNEL_STATE`` CS_NEW/CS_INIT →
  ``CHANNEL_CREATE`` → ``CHANNEL_CALLSTATE`` RINGING → CS_ROUTING → CS_EXECUTE →
  ``EXECUTE``/``EXECUTE_COMPLETE`` per ``set`` → answer (``CHANNEL_ANSWER``,
  ``CHANNEL_CALLSTATE`` ACTIVE) → ``EXECUTE`` park → ``CHANNEL_PARK``;
- hang-up of a parked leg: ``CHANNEL_HANGUP`` → [``PRIVATE_COMMAND``] → ``CHANNEL_UNPARK`` →
  ``EXECUTE_COMPLETE`` park → CS_HANGUP → ``CHANNEL_CALLSTATE`` HANGUP → CS_REPORTING →
  ``CHANNEL_HANGUP_COMPLETE`` → ``CHANNEL_DESTROY`` → CS_DESTROY;
- hang-up of a bridged pair (s03: the A leg hangs up; s08: the B leg hangs up): see
  :meth:`Core.hangup`;
- ``uuid_bridge`` (s03): see :meth:`Core.bridge`.

All waiting is simulated time multiplied by ``time_scale``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import gevent
import gevent.pool

from freeswitch.sim.applications import AppRequest, AppRun, execute
from freeswitch.sim.channels import Channel
from freeswitch.sim.events import EventFactory, SimEvent
from freeswitch.sim.sounds import SoundLibrary
from freeswitch.sim.templates import Q850

EventSink = Callable[[SimEvent], None]

# One media frame: FreeSWITCH reacts to uuid_bridge/uuid_kill on the next 20 ms frame.
FRAME = 0.02


class Core:
    """Channels and the event bus of one simulated FreeSWITCH."""

    def __init__(
        self,
        time_scale: float,
        hostname: str = "vm",
        ipv4: str = "192.0.2.2",
        ipv6: str = "fd00::2",
        sounds: SoundLibrary | None = None,
    ) -> None:
        self.time_scale = time_scale
        self.factory = EventFactory(hostname, ipv4, ipv6)
        self.sounds = sounds or SoundLibrary()
        self.channels: dict[str, Channel] = {}
        self.sinks: list[EventSink] = []
        self.hooks: list[EventSink] = []
        self.sessions_since_start = 0
        self.stopping = False
        self.greenlets: gevent.pool.Group = gevent.pool.Group()

    # -- plumbing -----------------------------------------------------------------
    def fire(self, event: SimEvent) -> None:
        for sink in list(self.sinks):
            sink(event)
        for hook in list(self.hooks):
            hook(event)

    def spawn(self, fn: Callable[..., object], *args: object) -> gevent.Greenlet[..., object]:
        return self.greenlets.spawn(fn, *args)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds * self.time_scale)

    def other(self, ch: Channel) -> Channel | None:
        # Kept after the other leg is destroyed: its Other-Leg-* still print (s03).
        return ch.partner

    def find(self, uuid: str) -> Channel | None:
        channel = self.channels.get(uuid)
        return channel if channel is not None and not channel.destroyed else None

    def emit(
        self,
        name: str,
        ch: Channel,
        *,
        before: Sequence[tuple[str, str]] = (),
        after: Sequence[tuple[str, str]] = (),
        prefix: Sequence[tuple[str, str]] = (),
    ) -> None:
        event = self.factory.channel(
            name, ch, self.other(ch), before=before, after=after, prefix=prefix
        )
        self.fire(event)

    # -- states -------------------------------------------------------------------
    def set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        self.emit("CHANNEL_STATE", ch)

    def set_callstate(self, ch: Channel, call_state: str) -> None:
        previous, ch.call_state = ch.call_state, call_state
        before = [
            ("Original-Channel-Call-State", previous),
            ("Channel-Call-State-Number", str(_CALLSTATE_NUMBERS.get(call_state, 0))),
        ]
        self.emit("CHANNEL_CALLSTATE", ch, before=before)

    def register(self, ch: Channel) -> None:
        self.channels[ch.uuid] = ch
        self.sessions_since_start += 1

    def progress(self, ch: Channel) -> None:
        if ch.progress_us or not ch.is_up:
            return
        ch.progress_us = self.factory.now_us()
        ch.profile.network_addr = ch.profile.network_addr or "127.0.0.1"
        self.emit("CHANNEL_PROGRESS", ch)
        self.set_callstate(ch, "RINGING")

    def answer(self, ch: Channel) -> None:
        if ch.answered_us or not ch.is_up:
            return
        ch.answered_us = self.factory.now_us()
        ch.answer_state = "answered"
        self.emit("CHANNEL_ANSWER", ch)
        self.set_callstate(ch, "ACTIVE")

    # -- applications ---------------------------------------------------------------
    def run_inline(self, ch: Channel, request: AppRequest) -> None:
        """Run an application that never waits (set, answer) in the caller's greenlet."""
        execute(self, ch, AppRun(request, self.time_scale))

    def park(self, ch: Channel) -> None:
        request = AppRequest("park")
        ch.park_app_uuid = request.app_uuid
        ch.application, ch.application_data = "park", ""
        ch.set_variable("current_application_data", None)
        ch.set_variable("current_application", "park")
        self.emit("CHANNEL_EXECUTE", ch, after=[("Application", "park"), _uuid(request)])
        ch.parked = True
        self.emit("CHANNEL_PARK", ch)
        self.start_next(ch)

    def unpark(self, ch: Channel) -> None:
        if not ch.parked:
            return
        ch.parked = False
        self.emit("CHANNEL_UNPARK", ch)
        response = ch.variables.get("current_application_response", "_none_")
        done = [("Application", "park"), ("Application-Response", response)]
        self.emit(
            "CHANNEL_EXECUTE_COMPLETE", ch, after=[*done, ("Application-UUID", ch.park_app_uuid)]
        )

    def enqueue(self, ch: Channel, request: AppRequest) -> None:
        ch.pending.append(request)
        self.start_next(ch)

    def start_next(self, ch: Channel) -> None:
        if ch.current_app is not None or not ch.pending or not ch.is_up:
            return
        if not (ch.parked or ch.bridged):
            return
        run = AppRun(ch.pending.popleft(), self.time_scale)
        ch.current_app = run
        run.greenlet = self.greenlets.spawn(self._run_app, ch, run)

    def _run_app(self, ch: Channel, run: AppRun) -> None:
        # A broadcast starts on the channel's next media frame (s03: ~0.1 s later); one
        # broken, transferred or hung up before that never starts.
        try:
            if run.wait(FRAME) is None:
                execute(self, ch, run)
        finally:
            # Also after a failure inside the application: the channel must not stay busy.
            ch.current_app = None
            if not self.stopping:
                if not ch.is_up:
                    self.teardown(ch)
                else:
                    self.start_next(ch)

    def stop_app(self, ch: Channel, reason: str) -> None:
        """Interrupt the running application and wait until it has sent its events."""
        run = ch.current_app
        if run is None:
            return
        run.interrupt(reason)
        if not run.owns_teardown:
            run.join()

    def break_playback(self, ch: Channel, flush: bool) -> None:
        if flush:
            ch.pending.clear()
        if ch.current_app is not None:
            ch.current_app.interrupt("break")

    def press_dtmf(self, ch: Channel, digits: str) -> None:
        for digit in digits:
            if not ch.is_up:
                return
            after = [("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "APP")]
            self.emit("DTMF", ch, after=after)
            if ch.current_app is not None:
                ch.current_app.push_digit(digit)

    # -- bridging ---------------------------------------------------------------------
    def bridge(self, a: Channel, b: Channel) -> None:
        """uuid_bridge A B: checks done by the caller; the rest happens a frame later."""
        for leg, partner in ((a, b), (b, a)):
            old = self.other(leg)
            if leg.bridged and old is not None and old is not partner:
                self.hangup(old, "NORMAL_CLEARING")
        a.other_leg, a.other_type, a.partner = b.uuid, "originatee", b
        b.other_leg, b.other_type, b.partner = a.uuid, "originator", a
        # s03/s07: from the bridge on, the B leg shows the caller's id.
        b.profile.caller_id_name = a.profile.caller_id_name
        b.profile.caller_id_number = a.profile.caller_id_number
        self.spawn(self._bridge, a, b)

    def _bridge(self, a: Channel, b: Channel) -> None:
        self.sleep(FRAME)
        for leg in (a, b):
            if not leg.is_up:
                return
            leg.transfer_us = self.factory.now_us()
            leg.pending.clear()
            self.stop_app(leg, "transfer")
            self.unpark(leg)
            for state in ("CS_HIBERNATE", "CS_RESET", "CS_SOFT_EXECUTE"):
                self.set_state(leg, state)
        if not (a.is_up and b.is_up):
            return
        now = self.factory.now_us()
        for leg, partner in ((a, b), (b, a)):
            leg.application, leg.application_data = "uuid_bridge", partner.uuid
            leg.set_variable("current_application_data", partner.uuid)
            leg.set_variable("current_application", "uuid_bridge")
            app = [("Application", "uuid_bridge"), ("Application-Data", partner.uuid)]
            self.emit("CHANNEL_EXECUTE", leg, after=app)
            leg.bridged_us = now
            leg.profile.callee_id_number = partner.profile.caller_id_number
        for leg, partner in ((a, b), (b, a)):
            leg.bridge_a, leg.bridge_b = a.uuid, b.uuid
            leg.set_variable("bridge_channel", partner.name)
            leg.set_variable("bridge_uuid", partner.uuid)
            leg.set_variable("signal_bond", partner.uuid)
            leg.set_variable("last_bridge_to", partner.uuid)
        ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
        self.emit("CHANNEL_BRIDGE", a, before=ids)
        self.set_state(b, "CS_EXCHANGE_MEDIA")
        for leg in (a, b):
            self.emit("CALL_UPDATE", leg, before=[("Direction", "SEND")])
            self.start_next(leg)

    def transfer_to_park(self, ch: Channel) -> None:
        """uuid_park / uuid_transfer to a parking extension: stop, unbridge, park again."""
        self.stop_app(ch, "transfer")
        partner = self.other(ch)
        if ch.bridged and partner is not None:
            self._unbridge(ch, partner)
            self.hangup(partner, "NORMAL_CLEARING")
        self.unpark(ch)
        if ch.is_up:
            self.park(ch)

    def _unbridge(self, ch: Channel, partner: Channel) -> None:
        a = ch if ch.uuid == ch.bridge_a else partner
        ids = [("Bridge-A-Unique-ID", a.bridge_a or ""), ("Bridge-B-Unique-ID", a.bridge_b or "")]
        self.emit("CHANNEL_UNBRIDGE", a, before=ids)
        for leg in (ch, partner):
            leg.bridge_a = leg.bridge_b = None

    # -- hang-up ----------------------------------------------------------------------
    def mark_hangup(self, ch: Channel, cause: str) -> None:
        ch.hangup_cause = cause
        ch.answer_state = "hangup"
        ch.hangup_us = self.factory.now_us()
        ch.set_variable("hangup_cause", cause)
        ch.set_variable("hangup_cause_q850", str(Q850.get(cause, 16)))
        self.emit("CHANNEL_HANGUP", ch)

    def hangup(
        self, ch: Channel, cause: str, private_prefix: list[tuple[str, str]] | None = None
    ) -> None:
        """Hang up ``ch``; a bridged partner goes too, in the recorded order."""
        if not ch.is_up:
            return
        partner = self.other(ch) if ch.bridged else None
        self.mark_hangup(ch, cause)
        if private_prefix is not None:
            self.emit("PRIVATE_COMMAND", ch, prefix=private_prefix)
        if partner is None or not partner.is_up:
            if partner is not None:
                self._unbridge(ch, partner)
            self.teardown(ch)
            return
        if ch.uuid == ch.bridge_a:
            # s03, the caller (A) hangs up: A HANGUP, B HANGUP, A UNBRIDGE, B done, A done.
            self.mark_hangup(partner, cause)
            self.set_state(partner, "CS_HANGUP")
            self.set_callstate(partner, "HANGUP")
            self._unbridge(ch, partner)
            self.set_state(ch, "CS_HANGUP")
            self.teardown(partner)
            self.teardown(ch)
        elif partner.variables.get("park_after_bridge") == "true":
            # switch_ivr_bridge.c: with park_after_bridge set, the A leg is parked when the
            # bridge ends instead of going back to its finished dialplan (ESL-NOTES.md).
            self._unbridge(ch, partner)
            self.teardown(ch)
            if partner.is_up:
                self.park(partner)
        else:
            # s08, the agent (B) hangs up: A UNBRIDGE, A HANGUP, A HANGUP_COMPLETE,
            # B HANGUP_COMPLETE, B DESTROY, A DESTROY.
            self._unbridge(ch, partner)
            self.mark_hangup(partner, cause)
            self.complete(partner)
            self.complete(ch)
            self.destroy(ch)
            self.destroy(partner)

    def teardown(self, ch: Channel) -> None:
        self.complete(ch)
        self.destroy(ch)

    def complete(self, ch: Channel) -> None:
        """Everything from the hang-up to CHANNEL_HANGUP_COMPLETE."""
        if ch.torn_down:
            return
        run = ch.current_app
        if run is not None:
            if run.greenlet is gevent.getcurrent():
                return  # the application finishes first; _run_app comes back here
            self.stop_app(ch, "hangup")
            if run.owns_teardown:
                return
        if ch.torn_down:
            return
        ch.torn_down = True
        ch.pending.clear()
        self.unpark(ch)
        if ch.state != "CS_HANGUP":
            self.set_state(ch, "CS_HANGUP")
        if ch.call_state != "HANGUP":
            self.set_callstate(ch, "HANGUP")
        self.set_state(ch, "CS_REPORTING")
        self._set_end_variables(ch)
        self.emit("CHANNEL_HANGUP_COMPLETE", ch, before=[("Hangup-Cause", ch.hangup_cause or "")])

    def destroy(self, ch: Channel) -> None:
        if ch.destroyed or not ch.torn_down:
            return
        ch.destroyed = True
        self.emit("CHANNEL_DESTROY", ch)
        self.set_state(ch, "CS_DESTROY")
        self.channels.pop(ch.uuid, None)

    def _set_end_variables(self, ch: Channel) -> None:
        end = ch.hangup_us or self.factory.now_us()
        answered = ch.answered_us
        ch.set_variable("start_epoch", str(ch.created_us // 1_000_000))
        ch.set_variable("start_uepoch", str(ch.created_us))
        ch.set_variable("answer_epoch", str(answered // 1_000_000))
        ch.set_variable("answer_uepoch", str(answered))
        ch.set_variable("bridge_epoch", str(ch.bridged_us // 1_000_000))
        ch.set_variable("end_epoch", str(end // 1_000_000))
        ch.set_variable("end_uepoch", str(end))
        ch.set_variable("duration", str((end - ch.created_us) // 1_000_000))
        ch.set_variable("billsec", str((end - answered) // 1_000_000 if answered else 0))
        ch.set_variable("billmsec", str((end - answered) // 1000 if answered else 0))
        ch.set_variable("waitsec", str((answered - ch.created_us) // 1_000_000 if answered else 0))

    def hangup_all(self, cause: str) -> int:
        count = 0
        for ch in list(self.channels.values()):
            if ch.is_up:
                self.hangup(ch, cause)
                count += 1
        return count

    def kill_greenlets(self) -> None:
        self.stopping = True
        self.greenlets.kill(block=False)


_CALLSTATE_NUMBERS = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4, "HANGUP": 10}


def _uuid(request: AppRequest) -> tuple[str, str]:
    return ("Application-UUID", request.app_uuid)


def created_text(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000))
