"""A private, real FreeSWITCH for tests, with SIP callers and agent phones (sipp).

The session fixture :func:`freeswitch_lab` starts FreeSWITCH 1.10.12 once, in the
foreground (``-nf -nc``), on free loopback ports, from a configuration generated out of
the project's own shipped files: ``freeswitch/conf`` (the ``acd`` dialplan, the Event
Socket settings, the sv/en phrase macros and their language definitions) and the default
prompts of ``freeswitch/prompts`` (generated once into ``build/prompts/<fingerprint>/``
and used as FreeSWITCH's sounds directory). Only the SIP profile, the directory of test
users, the core limits and the logs are the lab's own. The function fixture :func:`lab`
hands the same FreeSWITCH to one test and cleans up after it: every sipp it started is
killed, every channel hung up, every registration flushed.

Where FreeSWITCH (``/usr/local/freeswitch/bin/freeswitch`` or ``$FREESWITCH``), sipp,
espeak-ng or sox is missing, the tests that use these fixtures are skipped with one line
saying how to enable them.

SIP callers (:meth:`FreeSwitchLab.caller`) and agent phones
(:meth:`FreeSwitchLab.agent_phone`) are sipp processes that send audio (a SIP leg without
audio stalls broadcasts on a parked channel), each on its own free ports. A caller is
told to hang up or to press keys with an out-of-dialog SIP MESSAGE carrying its Call-ID
(see ``tests/sipp/caller.xml``); an agent phone registers as a directory user and rings,
answers, talks, or refuses as asked. Waits poll with a deadline and ``gevent.sleep``, so
an :class:`~freeswitch.client.ESLClient` in the same test keeps reading events.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gevent
import pytest

from freeswitch.client import ClientSettings, ESLClient
from freeswitch.messages import ApiResponse, AuthRequest, CommandReply, Event, Message
from freeswitch.parser import Parser
from freeswitch.prompts.generate import PromptError, ensure_prompts, missing_tools

REPO = Path(__file__).resolve().parent.parent
SHIPPED_CONF = REPO / "freeswitch" / "conf"
SIPP_SCENARIOS = Path(__file__).resolve().parent / "sipp"
PROMPT_CACHE = REPO / "build" / "prompts"
DEFAULT_BINARY = Path("/usr/local/freeswitch/bin/freeswitch")
HOST = "127.0.0.1"
DOMAIN = HOST
ESL_PASSWORD = "lab-esl-secret"
PROFILE = "lab"
USERS: Mapping[str, str] = {str(n): f"pw{n}" for n in range(1001, 1011)}
"""Directory users (id -> SIP password); phones register as these."""
_ULAW = ("-r", "8000", "-c", "1", "-e", "u-law", "-t", "ul")
NEVER = 3600.0
"""A ring or talk time that means "never" (seconds)."""

ENABLE_HINT = (
    "real FreeSWITCH not available ({why}): set FREESWITCH=/path/to/bin/freeswitch or run "
    "../shared/freeswitch/install.sh (FreeSWITCH 1.10.12, sipp, espeak-ng, sox)"
)
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_POLL = 0.02
_SAFE_CALLER_ID = re.compile(r"[A-Za-z0-9+*#._-]{1,32}\Z")
_SAFE_KEYS = re.compile(r"[0-9*#A-D]{1,32}\Z")


class LabError(Exception):
    """The lab could not do what a test asked (FreeSWITCH did not start, a sipp failed,
    a deadline passed); the message says what, with the relevant log lines."""


# -- discovery ---------------------------------------------------------------------------


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


# -- small helpers -----------------------------------------------------------------------


def free_port(kind: Literal["tcp", "udp", "both"] = "udp") -> int:
    """A port free on 127.0.0.1 right now (for ``both``: for UDP and TCP, as a SIP
    profile binds both). The OS may hand it to someone else before it is used: the
    window is small and each lab start retries on a bind failure it can see."""
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


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _fill(template: str, values: Mapping[str, object]) -> str:
    text = template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    leftover = re.search(r"\{\{[A-Z_]+\}\}", text)
    if leftover:
        raise LabError(f"sipp scenario: no value for {leftover.group(0)}")
    return text


# -- sipp --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SipMessage:
    """One SIP message in a sipp trace: ``direction`` "sent" or "received", its first
    line (``INVITE sip:... SIP/2.0`` / ``SIP/2.0 200 OK``) and its CSeq method."""

    direction: Literal["sent", "received"]
    start_line: str
    cseq_method: str
    text: str

    @property
    def status(self) -> int | None:
        """The status code of a response, None for a request."""
        match = re.match(r"SIP/2\.0 (\d{3})", self.start_line)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        """The method of a request, None for a response."""
        return None if self.status is not None else self.start_line.split(" ", 1)[0]


_TRACE_SPLIT = re.compile(r"^-{20,} .*$", re.MULTILINE)


class SippProcess:
    """One sipp process of the lab: its ports, logs and exit."""

    def __init__(self, lab_dir: Path, name: str, scenario: str, args: list[str]) -> None:
        self.name = name
        self.port = free_port("udp")
        self.media_port = free_port("udp")
        self.control_port = free_port("udp")
        base = lab_dir / "sipp" / name
        base.parent.mkdir(parents=True, exist_ok=True)
        self.scenario_path = base.with_suffix(".xml")
        self.scenario_path.write_text(scenario, encoding="iso-8859-1")
        self.message_log = base.with_suffix(".messages.log")
        self.error_log = base.with_suffix(".errors.log")
        self.output_log = base.with_suffix(".out")
        self.argv = [
            "sipp",
            *args,
            "-sf",
            str(self.scenario_path),
            "-i",
            HOST,
            "-p",
            str(self.port),
            "-mp",
            str(self.media_port),
            "-cp",
            str(self.control_port),
            "-ci",
            HOST,
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.message_log),
            "-trace_err",
            "-error_file",
            str(self.error_log),
        ]
        with self.output_log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """sipp's exit status once it has ended: 0 every call succeeded, 1 a call failed
        (e.g. FreeSWITCH answered with an error), other values are sipp errors."""
        return self.process.poll()

    def wait(self, timeout: float) -> int:
        """Wait (cooperatively) for sipp to end; its exit status. :class:`LabError` with
        its logs if it is still running after ``timeout`` seconds."""
        try:
            poll(lambda: self.process.poll() is not None, timeout, f"sipp {self.name} to end")
        except LabError as exc:
            raise LabError(f"{exc}\n{self.describe()}") from None
        return self.process.returncode

    def kill(self) -> None:
        """End sipp at once (SIGKILL): no BYE or CANCEL is sent."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def messages(self) -> list[SipMessage]:
        """The SIP messages sipp has sent and received so far, in order."""
        try:
            text = self.message_log.read_text(encoding="iso-8859-1")
        except OSError:
            return []
        found: list[SipMessage] = []
        for block in _TRACE_SPLIT.split(text):
            head, _, rest = block.strip("\n").partition("\n")
            if "message received" in head:
                direction: Literal["sent", "received"] = "received"
            elif "message sent" in head:
                direction = "sent"
            else:
                continue
            body = rest.strip("\n")
            start_line = body.split("\n", 1)[0].strip()
            cseq = re.search(r"^CSeq:\s*\d+\s+(\S+)", body, re.MULTILINE | re.IGNORECASE)
            found.append(SipMessage(direction, start_line, cseq.group(1) if cseq else "", body))
        return found

    def received(self, method_or_status: str | int) -> int:
        """How many requests of a method (``"INVITE"``) or responses with a status (200)
        sipp has received."""
        return sum(
            1
            for m in self.messages()
            if m.direction == "received"
            and (
                m.status == method_or_status
                if isinstance(method_or_status, int)
                else m.method == method_or_status
            )
        )

    def describe(self) -> str:
        """sipp's command line, exit status and the end of its logs (for failure messages)."""
        return (
            f"sipp {self.name}: {' '.join(self.argv)}\nexit status: {self.returncode}\n"
            f"--- output ---\n{_tail(self.output_log, 20)}\n"
            f"--- errors ---\n{_tail(self.error_log, 20)}\n"
            f"--- messages ---\n{_tail(self.message_log, 40)}"
        )


class SippCaller(SippProcess):
    """A SIP caller (``tests/sipp/caller.xml``): one call to an extension, with audio."""

    def __init__(
        self, lab: FreeSwitchLab, name: str, extension: str, values: Mapping[str, object]
    ) -> None:
        self.call_id = f"lab-{uuid.uuid4().hex[:16]}-1"
        self.extension = extension
        self._lab = lab
        self._commands = itertools.count(1)
        template = (SIPP_SCENARIOS / "caller.xml").read_text(encoding="iso-8859-1")
        super().__init__(
            lab.workdir,
            name,
            _fill(template, values),
            [
                f"{HOST}:{lab.sip_port}",
                "-s",
                extension,
                "-m",
                "1",
                "-l",
                "1",
                "-cid_str",
                self.call_id[:-1] + "%u",
            ],
        )

    def answered(self) -> bool:
        """FreeSWITCH has answered the call (200 OK to the INVITE received)."""
        return any(
            m.status == 200 and m.cseq_method == "INVITE"
            for m in self.messages()
            if m.direction == "received"
        )

    def hangup(self, *, wait: float | None = 5.0) -> None:
        """Hang up now: CANCEL while ringing, BYE once answered. With ``wait`` (seconds),
        also wait for sipp to end."""
        self._command("hangup")
        if wait is not None:
            self.wait(wait)

    def send_dtmf(self, keys: str, *, timeout: float = 5.0) -> None:
        """Press ``keys`` (``0-9 * # A-D``) on the answered call: one SIP INFO
        (application/dtmf-relay) per key, 100 ms apart; returns once FreeSWITCH has
        acknowledged every INFO. Send the next keys only after this returns."""
        if not isinstance(keys, str) or not _SAFE_KEYS.match(keys):
            raise ValueError(f"send_dtmf: keys must be 1-32 of 0-9 * # A-D: {keys!r}")
        if not self.answered():
            raise LabError(f"send_dtmf: caller {self.name} is not answered")
        acknowledged = self._info_acks()
        self._command(f"dtmf {keys}")
        poll(
            lambda: self._info_acks() >= acknowledged + len(keys),
            timeout,
            f"{len(keys)} INFO acknowledged",
        )

    def _info_acks(self) -> int:
        return sum(
            1
            for m in self.messages()
            if m.direction == "received" and m.cseq_method == "INFO" and m.status == 200
        )

    def _command(self, body: str) -> None:
        if not self.running:
            raise LabError(f"caller {self.name} has already ended\n{self.describe()}")
        n = next(self._commands)
        message = (
            f"MESSAGE sip:caller@{HOST}:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK-lab-{uuid.uuid4().hex}\r\n"
            f"From: <sip:lab@{HOST}>;tag=lab{n}\r\n"
            f"To: <sip:caller@{HOST}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {n} MESSAGE\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode("ascii"), (HOST, self.port))


class SippAgent(SippProcess):
    """An agent phone: a sipp UAS (``agent.xml`` or ``agent_reply.xml``) registered as a
    directory user (``register.xml``, digest authentication) with its Contact here."""

    def __init__(self, lab: FreeSwitchLab, name: str, user: str, scenario: str) -> None:
        self.user = user
        self._lab = lab
        super().__init__(lab.workdir, name, scenario, [f"{HOST}:{lab.sip_port}"])

    def register(self, expires: int = 3600, timeout: float = 10.0) -> None:
        """REGISTER this phone (``expires`` 0: unregister) and wait for FreeSWITCH's 200."""
        template = (SIPP_SCENARIOS / "register.xml").read_text(encoding="iso-8859-1")
        values = {
            "USER": self.user,
            "PASSWORD": USERS[self.user],
            "DOMAIN": DOMAIN,
            "CONTACT_PORT": self.port,
            "EXPIRES": expires,
        }
        name = f"{self.name}-register-{expires}-{uuid.uuid4().hex[:6]}"
        registrar = SippProcess(
            self._lab.workdir,
            name,
            _fill(template, values),
            [f"{HOST}:{self._lab.sip_port}", "-m", "1", "-l", "1"],
        )
        self._lab.track(registrar)
        status = registrar.wait(timeout)
        if status != 0:
            raise LabError(
                f"REGISTER {self.user} (expires {expires}) failed\n{registrar.describe()}"
            )
        # FreeSWITCH answers 200 before its database thread has stored the binding; until
        # then user/<id> is still "not registered".
        poll(
            lambda: self._lab.registered(self.user) == (expires > 0),
            timeout,
            f"FreeSWITCH to store the registration of {self.user} (expires {expires})",
        )

    def unregister(self) -> None:
        """Remove this phone's registration (``user/<id>`` then gives USER_NOT_REGISTERED)."""
        self.register(expires=0)


# -- FreeSWITCH --------------------------------------------------------------------------


@dataclass(frozen=True)
class EslEndpoint:
    """Where the lab's Event Socket listens."""

    host: str
    port: int
    password: str


class FreeSwitchLab:
    """A private FreeSWITCH and its sipp processes (see the module docstring).

    Ports are chosen once and kept across :meth:`restart`, so a client configured with
    :attr:`esl` reconnects to the restarted FreeSWITCH."""

    def __init__(self, binary: Path, workdir: Path, sounds_dir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.sounds_dir = sounds_dir
        self.host = HOST
        self.domain = DOMAIN
        self.profile = PROFILE
        self.users = USERS
        self.esl = EslEndpoint(HOST, free_port("tcp"), ESL_PASSWORD)
        self.sip_port = free_port("both")
        # FreeSWITCH's RTP ports: a block below the ephemeral range (where sipp's come
        # from), random so two labs on one machine rarely share one.
        start = random.randrange(16384, 31000, 2)
        self.rtp_ports = (start, start + 1000)
        self.conf_dir = workdir / "conf"
        self.log_file = workdir / "log" / "freeswitch.log"
        self.output_file = workdir / "freeswitch.out"
        self._process: subprocess.Popen[bytes] | None = None
        self._sipps: list[SippProcess] = []
        self._names = itertools.count(1)
        write_config(self)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = _START_TIMEOUT) -> None:
        """Start FreeSWITCH and wait until the core says "is ready" and the SIP profile
        runs. :class:`LabError` with the end of its log if it does not within ``timeout``."""
        if self.running:
            return
        for name in ("log", "db", "run", "storage", "cache", "recordings", "temp"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        argv = [str(self.binary), "-nonat", "-nf", "-nc"]
        for flag, name in (
            ("-conf", "conf"),
            ("-log", "log"),
            ("-db", "db"),
            ("-run", "run"),
            ("-storage", "storage"),
            ("-cache", "cache"),
            ("-recordings", "recordings"),
            ("-temp", "temp"),
        ):
            argv += [flag, str(self.workdir / name)]
        argv += ["-sounds", str(self.sounds_dir)]
        with self.output_file.open("ab") as out:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            poll(self._ready, timeout, "FreeSWITCH to be ready")
        except LabError as exc:
            self.stop()
            raise LabError(f"{exc}\n{self.describe()}") from None

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise LabError(
                f"FreeSWITCH exited with status {self._process.returncode}\n{self.describe()}"
            )
        try:
            if "is ready" not in esl_api(self.esl.port, self.esl.password, "status", timeout=2.0):
                return False
            profiles = esl_api(self.esl.port, self.esl.password, "sofia status", timeout=2.0)
        except (OSError, LabError):
            return False
        running = rf"^\s*{PROFILE}\s+profile\s+\S+\s+RUNNING"
        return re.search(running, profiles, re.MULTILINE) is not None

    def stop(self, timeout: float = _STOP_TIMEOUT, *, graceful: bool = True) -> None:
        """Kill every sipp, then stop FreeSWITCH: SIGTERM, as an operator would (the
        SHUTDOWN event, callers hung up with SYSTEM_SHUTDOWN; takes a few seconds), and
        SIGKILL after ``timeout`` s; ``graceful=False``: SIGKILL at once."""
        self.kill_sipps()
        if not graceful:
            self.kill()
            return
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            poll(lambda: process.poll() is not None, timeout, "FreeSWITCH to stop")
        except LabError:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same ports (a new Core-UUID, no channels)."""
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL FreeSWITCH (a crash: no SHUTDOWN event, sockets just close)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def describe(self) -> str:
        return (
            f"FreeSWITCH lab in {self.workdir} (esl {self.esl.port}, sip {self.sip_port})\n"
            f"--- freeswitch.out ---\n{_tail(self.output_file, 20)}\n"
            f"--- freeswitch.log ---\n{_tail(self.log_file, 40)}"
        )

    # -- Event Socket -----------------------------------------------------------------------

    def api(self, command: str, timeout: float = 5.0) -> str:
        """``api <command>`` on a fresh connection of the lab's own (not the client under
        test); the body of FreeSWITCH's answer."""
        return esl_api(self.esl.port, self.esl.password, command, timeout)

    def client_settings(self, **overrides: Any) -> ClientSettings:
        """:class:`ClientSettings` for the lab's Event Socket (``overrides``: any other field)."""
        return ClientSettings(self.esl.host, self.esl.port, self.esl.password, **overrides)

    def channel_count(self) -> int:
        """Channels (sessions) FreeSWITCH has right now, from the core's own counter
        (``show channels`` reads a database that is written a moment later)."""
        match = re.search(r"^(\d+) session\(s\) - peak", self.api("status"), re.MULTILINE)
        if match is None:
            raise LabError("status: no session count")
        return int(match.group(1))

    def registration_count(self) -> int:
        """SIP registrations on the lab's profile."""
        listing = self.api(f"sofia status profile {PROFILE} reg")
        match = re.search(r"Total items returned: (\d+)", listing)
        if match is None:
            raise LabError(f"sofia status profile {PROFILE} reg: no total")
        return int(match.group(1))

    def registered(self, user: str) -> bool:
        """Whether directory user ``user`` has a registration."""
        return "error/user_not_registered" not in self.api(f"sofia_contact */{user}@{DOMAIN}")

    # -- sipp -------------------------------------------------------------------------------

    def track(self, process: SippProcess) -> None:
        """Kill ``process`` with the others at :meth:`kill_sipps` / :meth:`stop`."""
        self._sipps.append(process)

    def caller(
        self,
        extension: str,
        *,
        caller_id: str = "0701234567",
        caller_name: str = "Lab Caller",
        hold: float = 60.0,
    ) -> SippCaller:
        """Start a SIP caller dialling ``extension`` from ``caller_id`` (the From user;
        ``caller_name`` the display name) that sends audio from early media or answer on
        and hangs up ``hold`` seconds after the last thing that happened (ringing,
        answer, keys) unless FreeSWITCH hangs up first or :meth:`SippCaller.hangup`."""
        if not _SAFE_CALLER_ID.match(extension) or not _SAFE_CALLER_ID.match(caller_id):
            raise ValueError(
                f"extension/caller_id: 1-32 of A-Z a-z 0-9 + * # . _ -: {extension!r} {caller_id!r}"
            )
        if any(c in caller_name for c in '"\\\r\n') or "]]>" in caller_name:
            raise ValueError(
                f"caller_name cannot hold quotes, backslashes or line breaks: {caller_name!r}"
            )
        values = {
            "CALLER_NUM": caller_id,
            "CALLER_NAME": caller_name,
            "HOLD_MS": _milliseconds(hold),
            "KEY_GAP_MS": 100,
            "AUDIO": self.audio_file(),
        }
        caller = SippCaller(
            self, f"caller{next(self._names)}-{extension.replace('*', 'star')}", extension, values
        )
        self.track(caller)
        return caller

    def agent_phone(
        self,
        user: str,
        *,
        answer_after: float | None = 0.2,
        talk: float | None = None,
        reply: int | None = None,
        register: bool = True,
    ) -> SippAgent:
        """Start an agent phone registered as directory user ``user`` (1001..1010).

        For every call: ring, then answer after ``answer_after`` seconds (None: never —
        ring until FreeSWITCH cancels), send audio, and hang up after ``talk`` seconds
        (None: only when FreeSWITCH does). ``reply`` instead refuses every call with that
        final status (486 busy, 603 decline, 480 unavailable). Returns once FreeSWITCH has
        accepted the registration (``register=False``: not registered)."""
        if user not in USERS:
            raise ValueError(f"agent_phone: user must be one of {sorted(USERS)}: {user!r}")
        name = f"agent{next(self._names)}-{user}"
        if reply is not None:
            reasons = {
                486: "Busy Here",
                603: "Decline",
                480: "Temporarily Unavailable",
                404: "Not Found",
            }
            if reply not in reasons:
                raise ValueError(f"agent_phone: reply must be one of {sorted(reasons)}: {reply!r}")
            template = (SIPP_SCENARIOS / "agent_reply.xml").read_text(encoding="iso-8859-1")
            scenario = _fill(template, {"CODE": reply, "REASON": reasons[reply]})
        else:
            template = (SIPP_SCENARIOS / "agent.xml").read_text(encoding="iso-8859-1")
            scenario = _fill(
                template,
                {
                    "USER": user,
                    "RING_MS": _milliseconds(NEVER if answer_after is None else answer_after),
                    "TALK_MS": _milliseconds(NEVER if talk is None else talk),
                    "AUDIO": self.audio_file(),
                },
            )
        phone = SippAgent(self, name, user, scenario)
        self.track(phone)
        if register:
            phone.register()
        if not phone.running:
            raise LabError(f"agent phone {user} did not start\n{phone.describe()}")
        return phone

    def audio_file(self) -> Path:
        """What sipp callers and phones send: 4 s of mu-law tones (raw PCMU payload)."""
        path = self.workdir / "sipp-audio.ul"
        if not path.is_file():
            subprocess.run(
                [
                    "sox",
                    "-q",
                    "-n",
                    *_ULAW,
                    str(path),
                    "synth",
                    "4",
                    "sine",
                    "300-900",
                    "vol",
                    "0.3",
                ],
                check=True,
                timeout=30,
            )
        return path

    def kill_sipps(self) -> None:
        """SIGKILL every sipp the lab started. Those that had already failed are printed
        (pytest shows a test's output when it fails: the first clue when a call did not
        arrive)."""
        sipps, self._sipps = self._sipps, []
        for process in sipps:
            if process.returncode not in (None, 0):
                print(process.describe())
            process.kill()

    def reset(self, timeout: float = 10.0) -> None:
        """Between tests: kill every sipp, hang up every channel, flush every
        registration, and wait until FreeSWITCH has no channel left."""
        self.kill_sipps()
        if not self.running:
            self.start()
            return
        self.api("hupall NORMAL_CLEARING")
        # Flushing is queued to sofia's database thread while a REGISTER is stored at once:
        # a flush still queued would delete the next test's registration. So flush only
        # when there is something to flush, and wait until it has happened.
        if self.registration_count():
            self.api(f"sofia profile {PROFILE} flush_inbound_reg")
            poll(lambda: self.registration_count() == 0, timeout, "registrations to be flushed")
        poll(lambda: self.channel_count() == 0, timeout, "FreeSWITCH to have no channels")


def _milliseconds(seconds: float) -> int:
    if not 0 <= seconds <= NEVER:
        raise ValueError(f"seconds must be 0..{NEVER:g}: {seconds!r}")
    return max(1, round(seconds * 1000))


# -- configuration -----------------------------------------------------------------------


def write_config(lab: FreeSwitchLab) -> None:
    """The lab's ``conf`` directory: a copy of ``freeswitch/conf`` with the Event Socket's
    port and password set, and a ``freeswitch.xml`` that includes the shipped dialplan and
    languages and adds the lab's SIP profile, directory and core settings."""
    conf = lab.conf_dir
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(SHIPPED_CONF, conf)
    event_socket = conf / "autoload_configs" / "event_socket.conf.xml"
    tree = ET.parse(event_socket)
    params = {p.get("name"): p for p in tree.getroot().iter("param")}
    for name, value in (
        ("listen-ip", HOST),
        ("listen-port", str(lab.esl.port)),
        ("password", lab.esl.password),
    ):
        if name not in params:
            raise LabError(f"{event_socket}: no <param name={name!r}> to set")
        params[name].set("value", value)
    tree.write(event_socket, encoding="unicode")
    users = "\n".join(
        f'<user id="{user}"><params><param name="password" value="{password}"/></params></user>'
        for user, password in USERS.items()
    )
    (conf / "freeswitch.xml").write_text(
        _FREESWITCH_XML.format(
            domain=DOMAIN,
            host=HOST,
            sip_port=lab.sip_port,
            rtp_start=lab.rtp_ports[0],
            rtp_end=lab.rtp_ports[1],
            profile=PROFILE,
            users=users,
            dial_string=_DIAL_STRING,
        ),
        encoding="utf-8",
    )


# FreeSWITCH's usual directory dial string: the registered contact of user@domain.
_DIAL_STRING = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
)
_FREESWITCH_XML = """<?xml version="1.0"?>
<!-- Generated by tests/freeswitch_lab.py: the lab's own parts, around the shipped files. -->
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="set" data="domain={domain}"/>
  <X-PRE-PROCESS cmd="set" data="hold_music=local_stream://moh"/>
  <section name="configuration" description="Various Configuration">
    <configuration name="switch.conf" description="Core Configuration">
      <settings>
        <param name="colorize-console" value="false"/>
        <param name="max-sessions" value="4000"/>
        <param name="sessions-per-second" value="2000"/>
        <param name="loglevel" value="info"/>
        <param name="rtp-start-port" value="{rtp_start}"/>
        <param name="rtp-end-port" value="{rtp_end}"/>
        <param name="dump-cores" value="no"/>
      </settings>
    </configuration>
    <configuration name="modules.conf" description="Modules">
      <modules>
        <load module="mod_logfile"/>
        <load module="mod_event_socket"/>
        <load module="mod_commands"/>
        <load module="mod_dptools"/>
        <load module="mod_hash"/>
        <load module="mod_expr"/>
        <load module="mod_dialplan_xml"/>
        <load module="mod_sofia"/>
        <load module="mod_loopback"/>
        <load module="mod_native_file"/>
        <load module="mod_sndfile"/>
        <load module="mod_local_stream"/>
        <load module="mod_tone_stream"/>
        <load module="mod_say_en"/>
        <load module="mod_say_sv"/>
        <load module="mod_callcenter"/>
      </modules>
    </configuration>
    <configuration name="logfile.conf" description="File Logging">
      <settings><param name="rotate-on-hup" value="true"/></settings>
      <profiles>
        <profile name="default">
          <settings><param name="rollover" value="104857600"/></settings>
          <mappings><map name="all" value="info,notice,warning,err,crit,alert"/></mappings>
        </profile>
      </profiles>
    </configuration>
    <X-PRE-PROCESS cmd="include" data="autoload_configs/event_socket.conf.xml"/>
    <configuration name="local_stream.conf" description="Hold music">
      <directory name="moh" path="$${{sounds_dir}}/music/8000">
        <param name="rate" value="8000"/>
        <param name="shuffle" value="false"/>
        <param name="channels" value="1"/>
        <param name="interval" value="20"/>
        <param name="timer-name" value="soft"/>
      </directory>
    </configuration>
    <configuration name="sofia.conf" description="SIP">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles>
        <profile name="{profile}">
          <settings>
            <param name="sip-ip" value="{host}"/>
            <param name="rtp-ip" value="{host}"/>
            <param name="ext-sip-ip" value="{host}"/>
            <param name="ext-rtp-ip" value="{host}"/>
            <param name="sip-port" value="{sip_port}"/>
            <param name="context" value="acd"/>
            <param name="dialplan" value="XML"/>
            <param name="auth-calls" value="false"/>
            <param name="accept-blind-reg" value="false"/>
            <param name="challenge-realm" value="auto_to"/>
            <param name="inbound-codec-prefs" value="PCMU,PCMA"/>
            <param name="outbound-codec-prefs" value="PCMU,PCMA"/>
            <param name="dtmf-type" value="rfc2833"/>
            <param name="liberal-dtmf" value="true"/>
            <param name="manage-presence" value="false"/>
            <param name="rtp-timer-name" value="soft"/>
          </settings>
        </profile>
      </profiles>
    </configuration>
    <configuration name="callcenter.conf" description="mod_callcenter, for side-by-side benchmarks">
      <settings/>
      <queues>
        <queue name="support@lab">
          <param name="strategy" value="longest-idle-agent"/>
          <param name="moh-sound" value="local_stream://moh"/>
          <param name="time-base-score" value="system"/>
          <param name="tier-rules-apply" value="false"/>
          <param name="discard-abandoned-after" value="60"/>
        </queue>
      </queues>
      <agents/>
      <tiers/>
    </configuration>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/acd.xml"/>
    <!-- Lab only: mod_callcenter's queue and an echo, for benchmarks and checks. -->
    <context name="lab">
      <extension name="modcc_support">
        <condition field="destination_number" expression="^8000$">
          <action application="answer"/>
          <action application="callcenter" data="support@lab"/>
        </condition>
      </extension>
      <extension name="echo">
        <condition field="destination_number" expression="^9196$">
          <action application="answer"/>
          <action application="echo"/>
        </condition>
      </extension>
    </context>
  </section>
  <section name="languages" description="Language Management">
    <X-PRE-PROCESS cmd="include" data="lang/acd-languages.xml"/>
  </section>
  <section name="directory" description="User Directory">
    <domain name="$${{domain}}">
      <params>
        <param name="dial-string" value="{dial_string}"/>
      </params>
      <groups>
        <group name="agents">
          <users>
{users}
          </users>
        </group>
      </groups>
    </domain>
  </section>
</document>
"""


# -- events ------------------------------------------------------------------------------


class EventRecorder:
    """Every event an :class:`ESLClient` receives, kept in order, with cooperative waits.

    ``recorder = EventRecorder(client)`` before the client connects (it registers the
    ``'*'`` fallback handler: only events without a handler of their own are recorded)."""

    def __init__(self, client: ESLClient) -> None:
        self.events: list[Event] = []
        client.register_handle("*", self.events.append)

    def matching(self, name: str, headers: Mapping[str, str] | None = None) -> list[Event]:
        """Recorded events named ``name`` whose headers have the values in ``headers``
        (e.g. ``{"Unique-ID": uuid, "variable_acd_queue": "support"}``)."""
        wanted = dict(headers or {})
        return [
            e
            for e in self.events
            if e.name == name and all(e.get(k) == v for k, v in wanted.items())
        ]

    def wait(
        self, name: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> Event:
        """The first recorded event that matches (see :meth:`matching`), waiting up to
        ``timeout`` seconds for it; :class:`LabError` listing what did arrive."""
        try:
            found = poll(
                lambda: self.matching(name, headers), timeout, f"{name} {dict(headers or {})}"
            )
        except LabError as exc:
            seen = ", ".join(sorted({e.name or "?" for e in self.events}))
            raise LabError(f"{exc}; events seen: {seen}") from None
        event: Event = found[0]
        return event


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def freeswitch_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeSwitchLab]:
    """The session's FreeSWITCH (started once; skipped where it is not installed)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(ENABLE_HINT.format(why=reason))
    binary = find_binary()
    assert binary is not None
    try:
        sounds = ensure_prompts(PROMPT_CACHE)
    except PromptError as exc:
        pytest.fail(f"cannot generate the default prompts for the lab: {exc}")
    lab = FreeSwitchLab(binary, tmp_path_factory.mktemp("freeswitch"), sounds)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop(graceful=False)  # nothing of it outlives the session: no need to wait


@pytest.fixture
def lab(freeswitch_lab: FreeSwitchLab) -> Iterator[FreeSwitchLab]:
    """The session's FreeSWITCH for one test: started if a test stopped it, and after the
    test every sipp killed, every channel hung up, every registration flushed."""
    if not freeswitch_lab.running:
        freeswitch_lab.start()
    try:
        yield freeswitch_lab
    finally:
        freeswitch_lab.reset()
