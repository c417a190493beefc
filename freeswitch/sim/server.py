"""The Event Socket listener: one greenlet per client, behaving like mod_event_socket.c.

What is reproduced (source: mod_event_socket.c ``parse_command``/``event_handler``/
``listener_run``; texts: recordings s01a, s01b, s02):

- ``auth/request`` on connect; before ``auth`` every command but ``exit`` gets
  ``-ERR command not found`` and the connection stays open; a wrong password gets
  ``-ERR invalid``, the goodbye disconnect-notice and a close; ``exit`` gets ``+OK bye``,
  the notice, a close.
- One greenlet both answers commands and writes events, so a reply always precedes the
  events its command caused, and a blocking ``api`` (originate) holds the events back.
- Subscriptions: ``event plain|json|xml <names>`` (after ``CUSTOM`` every word is a
  subclass), ``nixevent``, ``noevents``, ``filter`` / ``filter delete`` (``+``/``-``
  prefixes and ``/regex/``; once a filter exists only matching events pass),
  ``myevents <uuid>`` (an unknown uuid still answers ``+OK Events Enabled`` and from then
  on events without ``Unique-ID``, such as ``BACKGROUND_JOB``, are dropped).
- Each listener queues at most ``max_queue_len`` events; after more than ``max_missed``
  events lost to a full queue the socket is closed without a notice (MAX_QUEUE_LEN,
  MAX_MISSED).
"""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import uuid as uuid_module
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gevent
import gevent.event

from freeswitch.sim.applications import AppRequest
from freeswitch.sim.events import SimEvent
from freeswitch.sim.templates import EVENT_NAMES, MYEVENTS_NAMES
from freeswitch.wire import (
    DISCONNECT_GOODBYE,
    encode_api_response,
    encode_auth_request,
    encode_command_reply,
    encode_disconnect_notice,
    encode_event_xml,
    encode_rude_rejection,
)

if TYPE_CHECKING:
    from freeswitch.sim.simulator import Simulator

MAX_COMMAND_BYTES = 1024 * 1024
_LOG_LEVELS = {
    "console": 0, "alert": 1, "crit": 2, "err": 3, "error": 3,
    "warning": 4, "notice": 5, "info": 6, "debug": 7,
}  # fmt: skip


@dataclass
class Command:
    """One command as the client sent it: first line, header lines, optional body."""

    line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@functools.lru_cache(maxsize=256)
def _filter_regex(expression: str) -> re.Pattern[str] | None:
    """A ``/regex/flags`` filter value as switch_regex_perform reads it; None when it does
    not compile (FreeSWITCH logs that and the filter never matches)."""
    body, slash, flags = expression[1:].rpartition("/")
    if not slash:
        return None
    options = (re.IGNORECASE if "i" in flags else 0) | (re.DOTALL if "s" in flags else 0)
    try:
        return re.compile(body, options)
    except re.error:
        return None


def _regex_matches(expression: str, value: str) -> bool:
    pattern = _filter_regex(expression)
    return pattern is not None and pattern.search(value) is not None


def split_commands(buffer: bytearray) -> list[Command]:
    """Take every complete command out of ``buffer`` (mod_event_socket read_packet)."""
    commands: list[Command] = []
    while True:
        while buffer[:1] in (bytearray(b"\r"), bytearray(b"\n")):
            del buffer[:1]
        end = buffer.find(b"\n\n")
        crlf = buffer.find(b"\r\n\r\n")
        if crlf != -1 and (end == -1 or crlf < end):
            end, sep = crlf, 4
        else:
            sep = 2
        if end == -1:
            return commands
        # mod_event_socket takes a command's bytes as they are (UTF-8 or not): keep them, as
        # surrogates, so they come back out byte for byte in replies, events and api bodies.
        lines = buffer[:end].decode("utf-8", "surrogateescape").replace("\r", "").split("\n")
        command = Command(lines[0])
        length = 0
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon and name:
                command.headers.append((name, value.lstrip(" ")))
                if name.lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
        if len(buffer) < end + sep + length:
            return commands
        command.body = bytes(buffer[end + sep : end + sep + length]).decode(
            "utf-8", "surrogateescape"
        )
        del buffer[: end + sep + length]
        commands.append(command)


class Listener:
    """One inbound Event Socket connection."""

    def __init__(
        self, sim: Simulator, sock: socket.socket, peer: tuple[str, int], number: int
    ) -> None:
        self.sim = sim
        self.sock = sock
        self.peer = peer
        self.number = number
        self.authed = False
        self.running = True
        self.format = "plain"
        self.events_on = False
        self.all_events = False
        self.event_names: set[str] = set()
        self.custom: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.myevents = False
        self.session_uuid: str | None = None
        self.queue: deque[SimEvent] = deque()
        self.lost = 0
        self.commands: deque[Command] = deque()
        self.reader_done = False
        self.final_notice: str | None = None
        self.wake = gevent.event.Event()

    # -- event delivery (called from Core.fire) -------------------------------------
    def deliver(self, event: SimEvent) -> None:
        if not self.events_on or not self.running or not self.wants(event):
            return
        if len(self.queue) >= self.sim.max_queue_len:
            self.lost += 1
            if self.lost > self.sim.max_missed:
                self.kill()
            return
        self.lost = 0
        self.queue.append(event)
        self.wake.set()

    def wants(self, event: SimEvent) -> bool:
        if not self.all_events:
            if event.name not in self.event_names:
                return False
            if event.name == "CUSTOM" and event.subclass and event.subclass not in self.custom:
                return False
        if self.filters and not self._filters_pass(event):
            return False
        if self.myevents:
            unique = event.unique_id
            if unique is None or (self.session_uuid is not None and unique != self.session_uuid):
                return False
        return True

    def _filters_pass(self, event: SimEvent) -> bool:
        send = False
        for name, raw in self.filters:
            value = event.get(name)
            if value is None:
                continue
            positive, compare = True, raw
            while compare[:1] in ("+", "-", " "):
                positive = compare[0] != "-" if compare[0] != " " else positive
                compare = compare[1:]
            if send and positive:
                continue
            if raw.startswith("/"):
                matched = _regex_matches(compare, value)
            else:
                matched = value.lower() == compare.lower()
            if matched:
                if not positive:
                    return False
                send = True
        return send

    def kill(self) -> None:
        """Drop the connection abruptly (MAX_MISSED, drop_connections)."""
        self.running = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.wake.set()

    # -- connection life --------------------------------------------------------------
    def serve(self) -> None:
        try:
            if self.sim.rude_rejection:
                self._send(encode_rude_rejection())
                return
            self._send(encode_auth_request())
            reader = gevent.spawn(self._read_loop)
            try:
                self._main_loop()
            finally:
                reader.kill(block=False)
        except OSError:
            pass
        finally:
            self.running = False
            self.sim.forget_listener(self)
            self.sock.close()

    def _main_loop(self) -> None:
        while self.running:
            self.wake.wait()
            self.wake.clear()
            while self.commands and self.running:
                self._handle(self.commands.popleft())
            if self.running and self.events_on and self.queue:
                frames = []
                while self.queue:
                    event = self.queue.popleft()
                    frames.append(
                        encode_event_xml(event.headers, event.body)
                        if self.format == "xml"
                        else event.encode(self.format)
                    )
                self._send(b"".join(frames))
            if self.final_notice is not None:
                self.close_with_notice(self.final_notice)
            if self.reader_done and not self.commands:
                return

    def _read_loop(self) -> None:
        buffer = bytearray()
        try:
            while self.running:
                data = self.sock.recv(65536)
                if not data:
                    break
                buffer.extend(data)
                if len(buffer) > MAX_COMMAND_BYTES:
                    break
                self.commands.extend(split_commands(buffer))
                if self.commands:
                    self.wake.set()
        except OSError:
            pass
        finally:
            self.reader_done = True
            self.wake.set()

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def finish(self, text: str) -> None:
        """Write what is queued, then the notice, then close (FreeSWITCH shutting down)."""
        self.final_notice = text
        self.wake.set()

    def close_with_notice(self, text: str = DISCONNECT_GOODBYE) -> None:
        if self.running:
            self.running = False
            with contextlib.suppress(OSError):
                self._send(encode_disconnect_notice(text))
        self.wake.set()

    # -- commands -----------------------------------------------------------------------
    def _reply(self, text: str, job_uuid: str | None = None) -> None:
        if self.sim.reply_delay > 0:
            gevent.sleep(self.sim.reply_delay)
        self._send(encode_command_reply(text, job_uuid))

    def _handle(self, command: Command) -> None:
        self.sim.record_command(self, command)
        line = command.line
        lower = line.lower()
        if lower.startswith(("exit", "...")):
            self._reply("+OK bye")
            self.close_with_notice()
            return
        if not self.authed:
            if lower.startswith("auth "):
                if line[5:] == self.sim.password:
                    self.authed = True
                    self._reply("+OK accepted")
                else:
                    self._reply("-ERR invalid")
                    self.close_with_notice()
                return
            if lower.startswith("userauth "):
                self._reply("-ERR invalid")
                self.close_with_notice()
                return
            self._reply("-ERR command not found")
            return
        reply = self._dispatch(command, line, lower)
        if reply is not None:
            self._reply(reply)

    def _dispatch(self, command: Command, line: str, lower: str) -> str | None:
        if lower.startswith("filter "):
            return self._filter(line[7:])
        if lower.startswith("myevents "):
            return self._myevents(line[9:])
        if lower.startswith("divert_events"):
            return "-ERR not controlling a session."
        if lower.startswith("sendmsg"):
            return self._sendmsg(command, line[7:].strip())
        if lower.startswith("sendevent"):
            return self._sendevent(command, line[9:].strip())
        if lower.startswith("api "):
            self._api(line[4:])
            return None
        if lower.startswith("bgapi "):
            self._bgapi(command, line[6:])
            return None
        if lower.startswith("log"):
            level = line[3:].strip().lower()
            number = _LOG_LEVELS.get(level or "debug", int(level) if level.isdigit() else None)
            if number is None:
                return "-ERR invalid log level"
            return f"+OK log level {line[4:].strip()} [{number}]"
        if lower.startswith(("linger", "nolinger")):
            return "-ERR not controlling a session"
        if lower.startswith("nolog"):
            return "-ERR not loging"
        if lower.startswith("event"):
            return self._event(line)
        if lower.startswith("nixevent"):
            return self._nixevent(line)
        if lower.startswith("noevents"):
            self.queue.clear()
            if not self.events_on:
                return "-ERR not listening for events"
            self.events_on = self.all_events = False
            self.event_names.clear()
            self.custom.clear()
            return "+OK no longer listening for events"
        return "-ERR command not found"

    def _event(self, line: str) -> str:
        words = line.split(" ")[1:]
        custom = False
        keys = 0
        for index, word in enumerate(w for w in words if w):
            if index == 0 and word.lower() in ("plain", "json", "xml"):
                self.format = word.lower()
                continue
            if custom:
                self.custom.add(word)
                continue
            name = word.upper()
            if name not in EVENT_NAMES:
                continue
            keys += 1
            if name == "ALL":
                self.all_events = True
            self.event_names.add(name)
            custom = name == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return f"+OK event listener enabled {self.format}"

    def _nixevent(self, line: str) -> str:
        custom = False
        keys = 0
        for word in (w for w in line.split(" ")[1:] if w):
            if custom:
                self.custom.discard(word)
                continue
            name = word.upper()
            if name not in EVENT_NAMES:
                continue
            keys += 1
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":
                self.all_events = False
                self.event_names.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.event_names = set(EVENT_NAMES) - {"ALL"}
                self.event_names.discard(name)
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return "+OK events nixed"

    def _filter(self, rest: str) -> str:
        name, space, value = rest.lstrip(" ").partition(" ")
        if name.lower() == "delete" and space:
            name, space, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (n, v)
                    for n, v in self.filters
                    if not (n.lower() == name.lower() and (not space or v == value))
                ]
            return f"+OK filter deleted. [{name}][{value if space else ''}]"
        if not space:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, _, value = value.partition(" ")
        self.filters.append((name, value))
        return f"+OK filter added. [{name}]=[{value}]"

    def _myevents(self, rest: str) -> str:
        if self.myevents:
            return "-ERR aready enabled."
        uuid, space, _ = rest.strip().partition(" ")
        if self.sim.core.find(uuid) is not None:
            self.session_uuid = uuid
        elif space:
            return "-ERR invalid uuid"
        self.event_names |= MYEVENTS_NAMES
        self.myevents = True
        self.events_on = True
        return "+OK Events Enabled"

    def _sendmsg(self, command: Command, uuid: str) -> str:
        uuid = uuid or command.header("session-id") or ""
        ch = self.sim.core.find(uuid) if uuid else None
        if ch is None:
            return f"-ERR invalid session id [{uuid}]"
        prefix = [("Command", command.line), *command.headers]
        call_command = (command.header("call-command") or "").lower()
        if call_command == "execute":
            app = command.header("execute-app-name") or ""
            arg = command.header("execute-app-arg") or command.body
            app_uuid = command.header("Event-UUID") or str(uuid_module.uuid4())
            loops_text = command.header("loops") or "1"
            loops = int(loops_text) if loops_text.isdigit() and int(loops_text) > 0 else 1
            for index in range(loops):
                last = index == loops - 1
                request = AppRequest(app, arg, app_uuid, private_prefix=prefix if last else None)
                self.sim.core.enqueue(ch, request)
        elif call_command == "hangup":
            cause = (command.header("hangup-cause") or "NORMAL_CLEARING").upper()
            self.sim.core.spawn(self.sim.core.hangup, ch, cause, prefix)
        return "+OK"

    def _sendevent(self, command: Command, name: str) -> str:
        event_uuid = str(uuid_module.uuid4())
        event_name = name.split(" ", maxsplit=1)[0].upper() if name else "CUSTOM"
        headers = [*command.headers, ("Event-UUID", event_uuid)]
        self.sim.inject_event([("Event-Name", event_name), *headers], command.body)
        return f"+OK {event_uuid}"

    def _api(self, text: str) -> None:
        cmd, _, args = text.partition(" ")
        result = self.sim.api.execute(cmd, args)
        if result is None:
            body, then = f"-ERR {cmd} Command not found!\n", None
        else:
            body, then = result
        if self.sim.reply_delay > 0:
            gevent.sleep(self.sim.reply_delay)
        self._send(encode_api_response(body or "-ERR no reply\n"))
        if then is not None:
            then()

    def _bgapi(self, command: Command, text: str) -> None:
        job_uuid = command.header("job-uuid") or str(uuid_module.uuid4())
        self._reply(f"+OK Job-UUID: {job_uuid}", job_uuid)
        self.sim.core.spawn(self.sim.run_job, job_uuid, text)
