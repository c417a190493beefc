"""sipp processes of the FreeSWITCH lab: SIP callers and agent phones with audio, their
logs and the SIP messages they exchanged (scenarios in tests/sipp/)."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from tests.lab.support import HOST, LabError, fill, free_port, poll, tail

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
_SAFE_KEYS = re.compile(r"[0-9*#A-D]{1,32}\Z")


class Lab(Protocol):
    """What a sipp process needs of the lab that starts it."""

    workdir: Path
    sip_port: int
    domain: str
    users: Mapping[str, str]

    def track(self, process: SippProcess) -> None: ...

    def registered(self, user: str) -> bool: ...


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
            f"--- output ---\n{tail(self.output_log, 20)}\n"
            f"--- errors ---\n{tail(self.error_log, 20)}\n"
            f"--- messages ---\n{tail(self.message_log, 40)}"
        )


class SippCaller(SippProcess):
    """A SIP caller (``tests/sipp/caller.xml``): one call to an extension, with audio."""

    def __init__(self, lab: Lab, name: str, extension: str, values: Mapping[str, object]) -> None:
        self.call_id = f"lab-{uuid.uuid4().hex[:16]}-1"
        self.extension = extension
        self._lab = lab
        self._commands = itertools.count(1)
        template = (SCENARIOS / "caller.xml").read_text(encoding="iso-8859-1")
        super().__init__(
            lab.workdir,
            name,
            fill(template, values),
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

    def __init__(self, lab: Lab, name: str, user: str, scenario: str) -> None:
        self.user = user
        self._lab = lab
        super().__init__(lab.workdir, name, scenario, [f"{HOST}:{lab.sip_port}"])

    def register(self, expires: int = 3600, timeout: float = 10.0) -> None:
        """REGISTER this phone (``expires`` 0: unregister), wait for FreeSWITCH's 200 and
        for the binding to be stored. A binding not stored in ``timeout`` s (seen once in
        a full CI run, 200 OK answered) is registered again once, as a phone would."""
        try:
            self._register_once(expires, timeout)
        except LabError:
            self._register_once(expires, timeout)

    def _register_once(self, expires: int, timeout: float) -> None:
        template = (SCENARIOS / "register.xml").read_text(encoding="iso-8859-1")
        values = {
            "USER": self.user,
            "PASSWORD": self._lab.users[self.user],
            "DOMAIN": self._lab.domain,
            "CONTACT_PORT": self.port,
            "EXPIRES": expires,
        }
        name = f"{self.name}-register-{expires}-{uuid.uuid4().hex[:6]}"
        registrar = SippProcess(
            self._lab.workdir,
            name,
            fill(template, values),
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
