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

The pieces live in ``tests/lab/`` (``config``: the generated configuration, ``sipp``: the
sipp processes, ``support``: ports, polling, a one-shot ``api``); tests import them from
here.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from freeswitch.client import ClientSettings, ESLClient
from freeswitch.messages import Event
from freeswitch.prompts.generate import PromptError, ensure_prompts
from tests.lab.config import PROFILE, SHIPPED_CONF, write_config
from tests.lab.sipp import SCENARIOS, SipMessage, SippAgent, SippCaller, SippProcess
from tests.lab.support import (
    DEFAULT_BINARY,
    HOST,
    LabError,
    esl_api,
    fill,
    find_binary,
    free_port,
    poll,
    tail,
    unavailable_reason,
)

__all__ = [
    "DEFAULT_BINARY",
    "NEVER",
    "SHIPPED_CONF",
    "USERS",
    "EslEndpoint",
    "EventRecorder",
    "FreeSwitchLab",
    "LabError",
    "SipMessage",
    "SippAgent",
    "SippCaller",
    "SippProcess",
    "freeswitch_lab",
    "lab",
    "poll",
]

REPO = Path(__file__).resolve().parent.parent
PROMPT_CACHE = REPO / "build" / "prompts"
DOMAIN = HOST
ESL_PASSWORD = "lab-esl-secret"
USERS: Mapping[str, str] = {str(n): f"pw{n}" for n in range(1001, 1011)}
"""Directory users (id -> SIP password); phones register as these."""
_ULAW = ("-r", "8000", "-c", "1", "-e", "u-law", "-t", "ul")
NEVER = 3600.0
"""A ring or talk time that means "never" (seconds)."""

ENABLE_HINT = (
    "real FreeSWITCH not available ({why}): set FREESWITCH=/path/to/bin/freeswitch, or install "
    "FreeSWITCH 1.10 under /usr/local/freeswitch with sipp, espeak-ng and sox (.ci/run does)"
)
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_SAFE_CALLER_ID = re.compile(r"[A-Za-z0-9+*#._-]{1,32}\Z")


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
        write_config(
            self.conf_dir,
            esl_port=self.esl.port,
            esl_password=self.esl.password,
            sip_port=self.sip_port,
            rtp_ports=self.rtp_ports,
            domain=self.domain,
            users=self.users,
        )

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
            f"--- freeswitch.out ---\n{tail(self.output_file, 20)}\n"
            f"--- freeswitch.log ---\n{tail(self.log_file, 40)}"
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
            template = (SCENARIOS / "agent_reply.xml").read_text(encoding="iso-8859-1")
            scenario = fill(template, {"CODE": reply, "REASON": reasons[reply]})
        else:
            template = (SCENARIOS / "agent.xml").read_text(encoding="iso-8859-1")
            scenario = fill(
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
