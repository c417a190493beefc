"""Small pieces of the FreeSWITCH lab: its error, discovery, free ports, cooperative
polling and a one-shot Event Socket ``api`` (see tests/freeswitch_lab.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import gevent

from freeswitch.messages import ApiResponse, AuthRequest, CommandReply, Message
from freeswitch.parser import Parser
from freeswitch.prompts.generate import missing_tools

HOST = "127.0.0.1"
DEFAULT_BINARY = Path("/usr/local/freeswitch/bin/freeswitch")
_POLL = 0.02


class LabError(Exception):
    """The lab could not do what a test asked (FreeSWITCH did not start, a sipp failed,
    a deadline passed); the message says what, with the relevant log lines."""


def find_binary() -> Path | None:
    """``$FREESWITCH`` if set (it must be an executable), else the installed default."""
    configured = os.environ.get("FREESWITCH")
    if configured:
        path = Path(configured)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    return DEFAULT_BINARY if DEFAULT_BINARY.is_file() else None


def unavailable_reason() -> str | None:
    """Why the lab cannot run here (one line), or None if it can."""
    if find_binary() is None:
        configured = os.environ.get("FREESWITCH")
        return f"FREESWITCH={configured} is not an executable" if configured else "no FreeSWITCH"
    missing = [tool for tool in ("sipp",) if shutil.which(tool) is None] + missing_tools()
    if missing:
        return f"missing {', '.join(missing)}"
    return None


def free_port(kind: Literal["tcp", "udp", "both"] = "udp") -> int:
    """A port free on 127.0.0.1 right now (for ``both``: for UDP and TCP, as a SIP
    profile binds both). The OS may hand it to someone else before it is used; the
    window is short."""
    for _ in range(100):
        kinds = ("udp", "tcp") if kind == "both" else (kind,)
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(_bound_socket(kinds[0], 0))
            port = int(first.getsockname()[1])
            try:
                for other in kinds[1:]:
                    stack.enter_context(_bound_socket(other, port))
            except OSError:
                continue
            return port
    raise LabError(f"no free {kind} port on {HOST}")


def _bound_socket(kind: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def poll(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """``predicate()`` until it returns something truthy (returned), every 20 ms,
    cooperatively (``gevent.sleep``); :class:`LabError` naming ``what`` after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        gevent.sleep(_POLL)


def esl_api(port: int, password: str, command: str, timeout: float = 5.0) -> str:
    """One ``api <command>`` on a fresh Event Socket connection; the body of the answer.

    Raises :class:`OSError` if the socket cannot be reached, :class:`LabError` if
    FreeSWITCH refuses the password or answers something else."""
    parser = Parser()
    pending: list[Message] = []

    def next_message(sock: socket.socket) -> Message:
        while not pending:
            data = sock.recv(65536)
            if not data:
                raise LabError(f"event socket closed during {command!r}")
            pending.extend(parser.feed(data))
        return pending.pop(0)

    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        if not isinstance(next_message(sock), AuthRequest):
            raise LabError("event socket: no auth/request")
        sock.sendall(f"auth {password}\n\n".encode())
        reply = next_message(sock)
        if not isinstance(reply, CommandReply) or not reply.ok:
            raise LabError("event socket refused the lab's password")
        sock.sendall(f"api {command}\n\n".encode())
        answer = next_message(sock)
        if not isinstance(answer, ApiResponse):
            raise LabError(f"api {command}: unexpected {answer.content_type}")
        with contextlib.suppress(OSError):
            sock.sendall(b"exit\n\n")
        return answer.text


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def fill(template: str, values: Mapping[str, object]) -> str:
    """A sipp scenario template with its ``{{NAME}}`` slots filled; :class:`LabError` if
    one is left without a value."""
    text = template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    leftover = re.search(r"\{\{[A-Z_]+\}\}", text)
    if leftover:
        raise LabError(f"sipp scenario: no value for {leftover.group(0)}")
    return text
