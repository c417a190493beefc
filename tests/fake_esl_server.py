"""Fake FreeSWITCH Event Socket servers for the client tests.

* :class:`ReplayServer` plays a recorded conversation from esl-captures byte for byte:
  it sends what FreeSWITCH sent and checks that the client sends what the recorded
  client sent, in order (``bgapi`` Job-UUIDs are mapped to the client's own).
* :class:`FakeFreeSwitch` answers like FreeSWITCH (auth, event, filter, api, bgapi with
  BACKGROUND_JOB, sendmsg, exit) from programmable handlers, for load, ordering,
  timeout and reconnect tests.

Both listen on 127.0.0.1 port 0 with gevent's StreamServer and close every socket they
open (pytest turns ResourceWarning into an error).
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gevent
import gevent.event
import gevent.lock
from gevent.server import StreamServer

from freeswitch import wire
from freeswitch.client import ClientSettings, ESLClient
from tests.captures import load_conversation

_JOB_UUID_RE = re.compile(r"Job-UUID: ([0-9a-f-]{36})")


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Expect:
    """Read one command; ``command`` None accepts anything. For ``bgapi`` only the first
    line is compared, and ``recorded_job_uuid`` is mapped to the client's Job-UUID."""

    command: str | None
    recorded_job_uuid: str | None = None


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Hold:
    """Keep the socket open, recording commands but never answering."""


Step = Send | Expect | Close | Hold


def read_command(sock: socket.socket, buffer: bytearray) -> str | None:
    """One client command (up to the blank line), or None when the client closed."""
    while b"\n\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    end = buffer.index(b"\n\n")
    command = bytes(buffer[:end]).decode()
    del buffer[: end + 2]
    return command


def recorded_steps(name: str, start: int = 0, stop: int | None = None) -> list[Step]:
    """The records ``start:stop`` of a recording as steps."""
    records = load_conversation(name)
    steps: list[Step] = []
    for index, record in enumerate(records[start:stop], start):
        data: str = record["data"]
        if record["dir"] == "in":
            steps.append(Send(data.encode()))
            continue
        command = data.removesuffix("\n\n")
        job = _JOB_UUID_RE.search(command)
        if job is None and command.startswith("bgapi"):
            following = next(r["data"] for r in records[index + 1 :] if r["dir"] == "in")
            job = _JOB_UUID_RE.search(following)
        steps.append(Expect(command, job.group(1) if job else None))
    return steps


class ReplayServer:
    """One script per accepted connection; later connections are closed at once."""

    def __init__(self, scripts: Sequence[Sequence[Step]]) -> None:
        self._scripts = list(scripts)
        self.received: list[str] = []
        self.errors: list[str] = []
        self.connections = 0
        self.finished = [gevent.event.Event() for _ in self._scripts]
        self._greenlets: set[gevent.Greenlet] = set()
        self._server = StreamServer(("127.0.0.1", 0), self._handle)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> ReplayServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=0)
        gevent.killall(list(self._greenlets), timeout=1)

    def _handle(self, sock: socket.socket, _address: object) -> None:
        me = gevent.getcurrent()
        self._greenlets.add(me)
        index = self.connections
        self.connections += 1
        try:
            if index < len(self._scripts):
                self._run(sock, self._scripts[index])
                self.finished[index].set()
        except OSError as exc:
            self.errors.append(f"connection {index}: {exc}")
        finally:
            self._greenlets.discard(me)
            sock.close()

    def _run(self, sock: socket.socket, script: Sequence[Step]) -> None:
        buffer = bytearray()
        job_map: dict[str, str] = {}
        for step in script:
            if isinstance(step, Send):
                data = step.data.decode()
                for recorded, actual in job_map.items():
                    data = data.replace(recorded, actual)
                sock.sendall(data.encode())
            elif isinstance(step, Expect):
                command = read_command(sock, buffer)
                if command is None:
                    self.errors.append(f"client closed while {step.command!r} was expected")
                    return
                self.received.append(command)
                if step.command is not None and not self._matches(step, command, job_map):
                    self.errors.append(f"expected {step.command!r}, got {command!r}")
                    return
            elif isinstance(step, Hold):
                while (command := read_command(sock, buffer)) is not None:
                    self.received.append(command)
                return
            else:
                return

    @staticmethod
    def _matches(step: Expect, command: str, job_map: dict[str, str]) -> bool:
        assert step.command is not None
        if not step.command.startswith("bgapi"):
            return command == step.command
        if command.partition("\n")[0] != step.command.partition("\n")[0]:
            return False
        sent = _JOB_UUID_RE.search(command)
        if sent is None or step.recorded_job_uuid is None:
            return False
        job_map[step.recorded_job_uuid] = sent.group(1)
        return True


@dataclass
class _Client:
    sock: socket.socket
    lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)
    subscribed: bool = False

    def write(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)


class FakeFreeSwitch:
    """Answers like FreeSWITCH; every behaviour is a plain attribute a test can change."""

    def __init__(self, password: str = "ClueCon", port: int = 0) -> None:
        self.password = password
        self.received: list[str] = []
        self.reply_delay = 0.0
        self.greet = True
        self.api_handler: Callable[[str], str] = lambda cmd: "+OK\n"
        self.bgapi_handler: Callable[[str], str] = lambda cmd: "+OK\n"
        self.job_delay: Callable[[str], float] = lambda cmd: 0.0
        self.connections = 0
        self.authenticated = gevent.event.Event()
        self._clients: list[_Client] = []
        self._greenlets: set[gevent.Greenlet] = set()
        self._server = StreamServer(("127.0.0.1", port), self._handle)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def clients(self) -> int:
        return sum(1 for c in self._clients if c.subscribed)

    def start(self) -> FakeFreeSwitch:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=0)
        self.drop_connections()
        gevent.killall(list(self._greenlets), timeout=1)

    def push(self, frame: bytes) -> None:
        """Send a frame to every subscribed client."""
        for client in list(self._clients):
            if client.subscribed:
                client.write(frame)

    def drop_connections(self) -> None:
        """Close every client socket abruptly (no disconnect-notice)."""
        for client in list(self._clients):
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)
            client.sock.close()

    def _handle(self, sock: socket.socket, _address: object) -> None:
        me = gevent.getcurrent()
        self._greenlets.add(me)
        self.connections += 1
        client = _Client(sock)
        self._clients.append(client)
        buffer = bytearray()
        try:
            if not self.greet:
                while read_command(sock, buffer) is not None:
                    pass
                return
            client.write(wire.encode_auth_request())
            while (command := read_command(sock, buffer)) is not None:
                self.received.append(command)
                if self.reply_delay:
                    gevent.sleep(self.reply_delay)
                if not self._answer(client, command):
                    return
        except OSError:
            return
        finally:
            self._clients.remove(client)
            self._greenlets.discard(me)
            sock.close()

    def _answer(self, client: _Client, command: str) -> bool:
        verb, _, rest = command.partition(" ")
        if verb == "auth":
            if rest != self.password:
                client.write(
                    wire.encode_command_reply("-ERR invalid") + wire.encode_disconnect_notice()
                )
                return False
            client.write(wire.encode_command_reply("+OK accepted"))
            self.authenticated.set()
        elif verb == "event":
            client.subscribed = True
            client.write(wire.encode_command_reply(f"+OK event listener enabled {rest.split()[0]}"))
        elif verb == "filter":
            client.write(wire.encode_command_reply("+OK filter added."))
        elif verb == "api":
            client.write(wire.encode_api_response(self.api_handler(rest)))
        elif verb == "bgapi":
            line, _, header = rest.partition("\n")
            job_uuid = header.removeprefix("Job-UUID: ")
            client.write(wire.encode_command_reply(f"+OK Job-UUID: {job_uuid}", job_uuid))
            job = gevent.spawn(self._finish_job, client, job_uuid, line)
            self._greenlets.add(job)
            job.link(self._greenlets.discard)
        elif verb == "exit":
            client.write(wire.encode_command_reply("+OK bye") + wire.encode_disconnect_notice())
            return False
        elif verb == "sendmsg":
            client.write(wire.encode_command_reply("+OK"))
        else:
            client.write(wire.encode_command_reply("-ERR command not found"))
        return True

    def _finish_job(self, client: _Client, job_uuid: str, line: str) -> None:
        delay = self.job_delay(line)
        if delay:
            gevent.sleep(delay)
        name, _, arg = line.partition(" ")
        event = background_job(job_uuid, name, arg, self.bgapi_handler(line))
        with contextlib.suppress(OSError):  # the client may be gone by now
            client.write(event)


def background_job(job_uuid: str, command: str, arg: str, body: str) -> bytes:
    headers = [
        ("Event-Name", "BACKGROUND_JOB"),
        ("Core-UUID", "562c3c9f-f340-49f2-8404-b2764231839d"),
        ("Event-Calling-File", "mod_event_socket.c"),
        ("Job-UUID", job_uuid),
        ("Job-Command", command),
    ]
    if arg:
        headers.append(("Job-Command-Arg", arg))
    return wire.encode_event_plain(headers, body)


def channel_event(name: str, uuid: str, sequence: int, **extra: str) -> bytes:
    headers = [
        ("Event-Name", name),
        ("Core-UUID", "562c3c9f-f340-49f2-8404-b2764231839d"),
        ("Event-Sequence", str(sequence)),
        ("Unique-ID", uuid),
        *extra.items(),
    ]
    return wire.encode_event_plain(headers)


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, message: str = "") -> None:
    """Poll ``predicate`` (letting other greenlets run) until true; fail after ``timeout``."""
    with gevent.Timeout(timeout, AssertionError(message or "condition not met in time")):
        while not predicate():
            gevent.sleep(0.005)


def make_client(
    clients: list[ESLClient], port: int, *, sleep: object = None, **overrides: object
) -> ESLClient:
    values: dict[str, object] = {
        "connect_timeout": 2.0,
        "command_timeout": 2.0,
        "events": "ALL",
        "reconnect_min": 0.01,
        "reconnect_max": 0.04,
        "stop_timeout": 1.0,
    }
    values.update(overrides)
    settings = ClientSettings("127.0.0.1", port, "ClueCon", **values)  # type: ignore[arg-type]
    client = ESLClient(settings, rng=random.Random(7), sleep=sleep)  # type: ignore[arg-type]
    clients.append(client)
    return client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
