"""A deliberately small, blocking Event Socket client for tests of the simulator itself.

It uses gevent sockets, so a test can call it from the main greenlet while the simulator
serves in others. It is independent of the project's client and parser on purpose: the
simulator's own tests (and the fidelity test) must not pass because both ends share a
bug. It reads
frames (``Name: value`` lines, a blank line, ``Content-Length`` bytes) and decodes event
bodies with the standard library only. Like the project's parser it keeps bytes that are not
UTF-8 as ``surrogateescape`` surrogates (FreeSWITCH does not promise UTF-8), and a command
given with such surrogates goes out as those bytes.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field

from gevent import socket

from freeswitch.errors import ConnectionLost, ESLTimeout

_BYTES = "surrogateescape"


@dataclass
class Frame:
    """One message from the server; ``event`` is filled for text/event-plain|json."""

    headers: dict[str, str]
    body: bytes
    raw: bytes
    event: list[tuple[str, str]] = field(default_factory=list)
    event_body: str = ""
    claimed: bool = False

    def matches(self, wanted: dict[str, str]) -> bool:
        return all(self.get(k) == v for k, v in wanted.items())

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", _BYTES)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.event:
            if key == name:
                return value
        return default

    @property
    def name(self) -> str | None:
        return self.get("Event-Name")


def decode_plain(body: bytes) -> tuple[list[tuple[str, str]], str]:
    head, _, rest = body.partition(b"\n\n")
    pairs: list[tuple[str, str]] = []
    inner = ""
    for line in head.decode("utf-8", _BYTES).split("\n"):
        name, _, value = line.partition(": ")
        pairs.append((name, urllib.parse.unquote(value, errors=_BYTES)))
    if pairs and pairs[-1][0] == "Content-Length":
        length = int(pairs.pop()[1])
        inner = rest[:length].decode("utf-8", _BYTES)
    # PRIVATE_COMMAND repeats Event-Name; the last one names the event, as FreeSWITCH does.
    names = [v for k, v in pairs if k == "Event-Name"]
    if len(names) > 1:
        pairs = [(k, v) for k, v in pairs if k != "Event-Name"] + [("Event-Name", names[-1])]
    return pairs, inner


def decode_json(body: bytes) -> tuple[list[tuple[str, str]], str]:
    pairs: list[tuple[str, str]] = json.loads(body.decode("utf-8", _BYTES), object_pairs_hook=list)
    inner = ""
    if pairs and pairs[-1][0] == "_body":
        inner = pairs.pop()[1]
        if pairs and pairs[-1][0] == "Content-Length":
            pairs.pop()
    names = [v for k, v in pairs if k == "Event-Name"]
    if len(names) > 1:
        pairs = [(k, v) for k, v in pairs if k != "Event-Name"] + [("Event-Name", names[-1])]
    return pairs, inner


class Probe:
    """Connect, send raw commands, read frames with deadlines."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""
        self.frames: list[Frame] = []
        self.closed = False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, command: str) -> None:
        self.sock.sendall(command.encode("utf-8", _BYTES) + b"\n\n")

    def _parse_one(self) -> Frame | None:
        end = self.buffer.find(b"\n\n")
        if end < 0:
            return None
        headers: dict[str, str] = {}
        for line in self.buffer[:end].decode("utf-8", _BYTES).split("\n"):
            name, _, value = line.partition(": ")
            headers[name] = value
        length = int(headers.get("Content-Length", "0"))
        if len(self.buffer) < end + 2 + length:
            return None
        body = self.buffer[end + 2 : end + 2 + length]
        raw = self.buffer[: end + 2 + length]
        self.buffer = self.buffer[end + 2 + length :]
        frame = Frame(headers, body, raw)
        if frame.content_type == "text/event-plain":
            frame.event, frame.event_body = decode_plain(body)
        elif frame.content_type == "text/event-json":
            frame.event, frame.event_body = decode_json(body)
        return frame

    def read(self, timeout: float | None = None) -> Frame:
        """The next frame, or ESLTimeout / ConnectionLost."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._parse_one()
            if frame is not None:
                self.frames.append(frame)
                return frame
            if self.closed:
                raise ConnectionLost("server closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ESLTimeout("no frame in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise ESLTimeout("no frame in time") from None
            except OSError:
                self.closed = True
                continue
            if not data:
                self.closed = True
            self.buffer += data

    def command(self, command: str, timeout: float | None = None) -> Frame:
        """Send and return the reply (command/reply or api/response); events are kept."""
        self.send(command)
        return self.next_reply(timeout)

    def next_reply(self, timeout: float | None = None) -> Frame:
        while True:
            frame = self.read(timeout)
            if frame.content_type in ("command/reply", "api/response", "text/disconnect-notice"):
                return frame

    def login(self, password: str = "ClueCon") -> None:  # noqa: S107 - FreeSWITCH default
        greeting = self.read()
        assert greeting.content_type == "auth/request", greeting
        reply = self.command(f"auth {password}")
        assert reply.headers.get("Reply-Text") == "+OK accepted", reply

    def wait_event(self, name: str, timeout: float | None = None, **match: str) -> Frame:
        """Read until an event named ``name`` whose headers match ``match`` (underscores → -)."""
        wanted = {k.replace("_", "-"): v for k, v in match.items()}
        for frame in self.frames:
            if not frame.claimed and frame.name == name and frame.matches(wanted):
                frame.claimed = True
                return frame
        while True:
            frame = self.read(timeout)
            if frame.name == name and frame.matches(wanted):
                frame.claimed = True
                return frame

    def events(self) -> list[Frame]:
        return [f for f in self.frames if f.event]

    def drain(self, quiet: float = 0.05) -> list[Frame]:
        """Read until nothing arrives for ``quiet`` seconds; return what came."""
        got: list[Frame] = []
        while True:
            try:
                got.append(self.read(quiet))
            except ESLTimeout:
                return got
