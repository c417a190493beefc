"""The Simulator: a FreeSWITCH stand-in on real TCP, plus the control surface tests use.

    sim = Simulator(password="ClueCon", port=0, time_scale=0.01)
    sim.start()                                   # binds; sim.port is the port
    sim.add_agent_phone(AgentPhone("user/1001", answer_after=1.5))
    uuid = sim.place_call("0701234567", "7000")   # dialplan: set acd_*, answer, park
    sim.press_dtmf(uuid, "1"); sim.hangup(uuid)
    sim.stop()

Nothing happens at import; :meth:`start` binds the socket and starts the greenlets.
"""

from __future__ import annotations

import re
import time
import uuid as uuid_module
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import gevent
import gevent.server

from freeswitch.sim.api import Api
from freeswitch.sim.applications import AppRequest
from freeswitch.sim.channels import CallerProfile, Channel
from freeswitch.sim.core import Core
from freeswitch.sim.dialplan import Dialplan, explicit_actions
from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.events import SimEvent
from freeswitch.sim.originate import AgentPhone, Originator
from freeswitch.sim.server import Command, Listener
from freeswitch.sim.sounds import SoundLibrary
from freeswitch.sim.templates import (
    FREESWITCH_VERSION,
    Q850,
    inbound_sip_variables,
    next_session_id,
)
from freeswitch.wire import DISCONNECT_SHUTDOWN

_NUMBER = re.compile(r"[0-9A-Za-z+*#_.-]{1,64}\Z")
_VAR_NAME = re.compile(r"[A-Za-z0-9_]{1,128}\Z")
_CAUSE = re.compile(r"[A-Z_]{2,64}\Z")
_UUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")


def _check_wire_text(value: str, what: str) -> str:
    """``value`` if it can go on the wire: text, where bytes that are not UTF-8 may appear as
    the surrogates ``surrogateescape`` makes of them (FreeSWITCH passes any byte on)."""
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise SimulatorError(
            f"{what} {value!r} holds a surrogate that stands for no byte"
        ) from None
    return value


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise SimulatorError(f"{what} {value!r} is not valid")
    return value


class Simulator:
    """One simulated FreeSWITCH: Event Socket server, channels, agent phones."""

    def __init__(
        self,
        password: str = "ClueCon",  # noqa: S107 - FreeSWITCH default
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        *,
        hostname: str = "vm",
        ipv4: str = "192.0.2.2",
        ipv6: str = "fd00::2",
        heartbeat_interval: float | None = 20.0,
        max_queue_len: int = 100_000,
        max_missed: int = 500,
        dialplan: Dialplan | None = None,
        sounds: SoundLibrary | None = None,
        seed: int | None = None,
    ) -> None:
        if not time_scale > 0:
            raise SimulatorError("time_scale must be > 0")
        if max_queue_len < 1 or max_missed < 0:
            raise SimulatorError("max_queue_len must be >= 1 and max_missed >= 0")
        if "\n" in password or "\r" in password:
            raise SimulatorError("password must be one line")
        self.password = password
        self.host = host
        self.requested_port = port
        self.core = Core(time_scale, hostname, ipv4, ipv6, sounds)
        self.phones: dict[str, AgentPhone] = {}
        self.originator = Originator(self.core, self.phones, seed)
        self.originator.route = self.transfer
        self.api = Api(self)
        self.dialplan = dialplan or Dialplan()
        self.heartbeat_interval = heartbeat_interval
        self.max_queue_len = max_queue_len
        self.max_missed = max_missed
        self.reply_delay = 0.0
        self.rude_rejection = False
        self.max_log = 100_000
        self.commands_received: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self.accepting = True
        self._connections = 0
        self._server: gevent.server.StreamServer | None = None
        self._heartbeat: gevent.Greenlet[..., None] | None = None
        self._caller_ports = 5090

    # -- life ---------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        return self.core.time_scale

    @property
    def port(self) -> int:
        if self._server is None:
            raise SimulatorError("the simulator is not started")
        return int(self._server.server_port)

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._server = gevent.server.StreamServer((self.host, self.requested_port), self._accept)
        self._server.start()
        if self.heartbeat_interval:
            self._heartbeat = gevent.spawn(self._heartbeats, self.heartbeat_interval)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=0)
            self._server = None
        if self._heartbeat is not None:
            self._heartbeat.kill(block=False)
            self._heartbeat = None
        for listener in list(self.listeners):
            listener.kill()
        self.core.kill_greenlets()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, sock: Any, address: tuple[str, int]) -> None:
        if not self.accepting:
            sock.close()
            return
        self._connections += 1
        listener = Listener(self, sock, address, self._connections)
        self.listeners.append(listener)
        self.core.sinks.append(listener.deliver)
        listener.serve()

    def forget_listener(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        if listener.deliver in self.core.sinks:
            self.core.sinks.remove(listener.deliver)

    def record_command(self, listener: Listener, command: Command) -> None:
        line = command.line
        if line.lower().startswith(("auth ", "userauth ")):
            line = line.split(" ", 1)[0] + " ********"
        if len(self.requests) >= self.max_log:
            # Long demo runs: keep the newest commands, never grow without bound.
            del self.requests[: self.max_log // 10]
            del self.commands_received[: self.max_log // 10]
        self.commands_received.append(line)
        self.requests.append(
            {
                "connection": listener.number,
                "time": time.time(),
                "command": line,
                "headers": [list(h) for h in command.headers],
                "body": command.body,
            }
        )

    def reset(self) -> None:
        """Forget the command log and hang every channel up (control /_reset)."""
        self.core.hangup_all("NORMAL_CLEARING")
        self.commands_received.clear()
        self.requests.clear()
        self.reply_delay = 0.0

    # -- callers --------------------------------------------------------------------------
    @property
    def channels(self) -> Mapping[str, Channel]:
        return MappingProxyType(self.core.channels)

    def place_call(
        self,
        caller_number: str = "0701234567",
        destination: str = "7000",
        variables: Mapping[str, str] | None = None,
        answered: bool | None = None,
        *,
        caller_name: str = "Caller",
        uuid: str | None = None,
    ) -> str:
        """A SIP caller arrives: the dialplan (or ``variables``) sets vars, answers, parks.

        Returns the caller's uuid once ``CHANNEL_PARK`` has been fired.
        """
        _check(_NUMBER, caller_number, "caller number")
        _check(_NUMBER, destination, "destination")
        if not isinstance(caller_name, str) or "\n" in caller_name or len(caller_name) > 64:
            raise SimulatorError(f"caller name {caller_name!r} is not valid")
        _check_wire_text(caller_name, "caller name")
        leg_uuid = _check(_UUID, uuid, "uuid") if uuid is not None else str(uuid_module.uuid4())
        if leg_uuid in self.core.channels:
            raise SimulatorError(f"a channel {leg_uuid} already exists")
        if variables is not None:
            for name, value in variables.items():
                _check(_VAR_NAME, name, "variable name")
                if not isinstance(value, str) or "\n" in value or "\r" in value:
                    raise SimulatorError(f"variable {name} value {value!r} is not valid")
                _check_wire_text(value, f"variable {name} value")
            actions: list[tuple[str, str]] | None = explicit_actions(
                dict(variables), True if answered is None else answered
            )
        else:
            routed = self.dialplan.route(destination)
            actions = (
                routed if routed is None or answered is None else _with_answer(routed, answered)
            )
        ch = self._new_caller(leg_uuid, caller_number, caller_name, destination)
        if actions is None:
            self.core.hangup(ch, "NO_ROUTE_DESTINATION")
            return leg_uuid
        self._run_actions(ch, actions)
        return leg_uuid

    def _new_caller(self, leg_uuid: str, number: str, name: str, destination: str) -> Channel:
        core = self.core
        now = core.factory.now_us()
        self._caller_ports = 5090 + (self._caller_ports - 5089) % 900
        port = self._caller_ports
        channel_name = f"sofia/internal/{number}@127.0.0.1:{port}"
        profile = CallerProfile(
            caller_id_name=name,
            caller_id_number=number,
            destination_number=destination,
            source="mod_sofia",
            context="acd",
            username=number,
            dialplan="XML",
            orig_caller_id_name=name,
            orig_caller_id_number=number,
            network_addr="127.0.0.1",
            ani=number,
            created_us=now,
        )
        ch = Channel(leg_uuid, "inbound", channel_name, profile, created_us=now)
        ch.variables.update(
            inbound_sip_variables(
                leg_uuid,
                number,
                name,
                destination,
                port=port,
                session_id=next_session_id(),
                now_us=now,
            )
        )
        core.register(ch)
        core.set_state(ch, "CS_NEW")
        core.set_state(ch, "CS_INIT")
        core.emit("CHANNEL_CREATE", ch)
        ch.state = "CS_ROUTING"
        core.set_callstate(ch, "RINGING")
        core.set_state(ch, "CS_ROUTING")
        return ch

    def _run_actions(self, ch: Channel, actions: Sequence[tuple[str, str]]) -> None:
        self.core.set_state(ch, "CS_EXECUTE")
        for app, data in actions:
            if not ch.is_up:
                return
            if app == "park":
                self.core.park(ch)
                return
            self.core.run_inline(ch, AppRequest(app, data))

    def transfer(self, ch: Channel, destination: str) -> None:
        """uuid_transfer: leave park or bridge and run the dialplan for ``destination``."""
        actions = self.dialplan.route(destination)
        self.core.stop_app(ch, "transfer")
        partner = self.core.other(ch)
        if ch.bridged and partner is not None:
            self.core.hangup(partner, "NORMAL_CLEARING")
        self.core.unpark(ch)
        if not ch.is_up:
            return
        ch.transfer_us = self.core.factory.now_us()
        ch.profile.transfer_source = (
            f"{ch.transfer_us // 1_000_000}:{ch.uuid}:uuid_br:{destination}"
        )
        ch.profile.destination_number = destination
        if actions is None:
            self.core.hangup(ch, "NO_ROUTE_DESTINATION")
            return
        self._run_actions(ch, actions)

    def _channel(self, uuid: str) -> Channel:
        ch = self.core.find(uuid)
        if ch is None:
            raise SimulatorError(f"no channel {uuid!r}")
        return ch

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """The far end hangs up (caller gives up, agent puts the phone down)."""
        _check(_CAUSE, cause, "hangup cause")
        if cause not in Q850:
            raise SimulatorError(f"unknown hangup cause {cause!r}")
        self.core.hangup(self._channel(uuid), cause)

    def answer(self, uuid: str) -> None:
        self.core.answer(self._channel(uuid))

    def press_dtmf(self, uuid: str, digits: str) -> None:
        if not isinstance(digits, str) or not re.fullmatch(r"[0-9*#A-Da-d]{1,64}", digits):
            raise SimulatorError(f"DTMF digits {digits!r} are not valid")
        self.core.press_dtmf(self._channel(uuid), digits.upper())

    # -- agents -----------------------------------------------------------------------------
    def add_agent_phone(self, phone: AgentPhone) -> None:
        if not isinstance(phone, AgentPhone):
            raise SimulatorError("add_agent_phone takes an AgentPhone")
        self.phones[phone.contact] = phone

    def remove_agent_phone(self, contact: str) -> None:
        self.phones.pop(contact, None)

    # -- events and jobs ---------------------------------------------------------------------
    def inject_event(self, headers: Sequence[tuple[str, str]], body: str = "") -> None:
        """Fire a raw event (headers as given) to every subscribed client."""
        pairs = [(str(k), str(v)) for k, v in headers]
        names = {k: v for k, v in pairs}
        name = names.get("Event-Name")
        if not name:
            raise SimulatorError("an injected event needs an Event-Name header")
        for key, value in pairs:
            if not key or any(c in key for c in ":\r\n"):
                raise SimulatorError(f"event header name {key!r} is not valid")
            _check_wire_text(key, "event header name")
            _check_wire_text(value, f"event header {key!r} value")
        _check_wire_text(body, "event body")
        self.core.fire(SimEvent(name, pairs, body, subclass=names.get("Event-Subclass")))

    def on_event(self, callback: Callable[[SimEvent], None]) -> Callable[[], None]:
        """Call ``callback`` for every fired event (synchronously: it must not block)."""
        self.core.hooks.append(callback)
        return lambda: self.core.hooks.remove(callback) if callback in self.core.hooks else None

    def run_job(self, job_uuid: str, text: str) -> None:
        command, _, args = text.partition(" ")
        result = self.api.execute(command, args)
        body, then = (f"-ERR {command} Command not found!\n", None) if result is None else result
        extra = [("Job-UUID", job_uuid), ("Job-Command", command)]
        if args:
            extra.append(("Job-Command-Arg", args))
        self.core.fire(self.core.factory.plain("BACKGROUND_JOB", extra, body))
        if then is not None:
            then()

    def _heartbeats(self, interval: float) -> None:
        while True:
            gevent.sleep(interval)
            up = time.time() - self.core.factory.started
            count = str(len(self.core.channels))
            extra = [
                ("Event-Info", "System Ready"),
                ("Up-Time", f"0 years, 0 days, 0 hours, 0 minutes, {int(up)} seconds"),
                ("FreeSWITCH-Version", FREESWITCH_VERSION),
                ("Uptime-msec", str(int(up * 1000))),
                ("Session-Count", count),
                ("Max-Sessions", "4000"),
                ("Session-Per-Sec", "2000"),
                ("Session-Since-Startup", str(self.core.sessions_since_start)),
                ("Idle-CPU", "97.000000"),
            ]
            self.core.fire(self.core.factory.plain("HEARTBEAT", extra))

    # -- faults -------------------------------------------------------------------------------
    def drop_connections(self) -> None:
        """Close every client socket abruptly: no disconnect-notice."""
        for listener in list(self.listeners):
            listener.kill()

    def shutdown(self) -> None:
        """FreeSWITCH stops (s09): SHUTDOWN, every call SYSTEM_SHUTDOWN, notices, refuse."""
        self.core.fire(
            self.core.factory.plain("SHUTDOWN", [("Event-Info", "System Shutting Down")])
        )
        self.core.hangup_all("SYSTEM_SHUTDOWN")
        self.accepting = False
        for listener in list(self.listeners):
            listener.finish(DISCONNECT_SHUTDOWN)

    def restart(self) -> None:
        """FreeSWITCH is back (s09b): new Core-UUID, Event-Sequence from 0, no channels."""
        self.core.hangup_all("SYSTEM_SHUTDOWN")
        self.core.factory.restart()
        self.core.sessions_since_start = 0
        self.accepting = True

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until true or ``timeout`` (real seconds); for tests and demos."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            gevent.sleep(0.001)
        return True


def _with_answer(actions: list[tuple[str, str]], answered: bool) -> list[tuple[str, str]]:
    without = [a for a in actions if a[0] != "answer"]
    if not answered:
        return without
    return [*without[:-1], ("answer", ""), without[-1]] if without else [("answer", "")]
