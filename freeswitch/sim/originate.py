"""Agent phones and the ``originate`` command, as FreeSWITCH reports them.

Recorded outcomes (s02, s03, s05) the simulator reproduces:

- ``user/<ext>`` not in the directory → ``-ERR SUBSCRIBER_ABSENT``; in the directory but
  not registered → ``-ERR USER_NOT_REGISTERED``. Neither creates a channel or any
  channel event.
- A leg that is created: ``CHANNEL_OUTGOING`` → CS_INIT → ``CHANNEL_CREATE`` →
  ``CHANNEL_ORIGINATE`` → CS_ROUTING → CS_CONSUME_MEDIA → (ringing) ``CHANNEL_PROGRESS``.
- Answered: ``CHANNEL_ANSWER`` → ``CHANNEL_CALLSTATE`` ACTIVE → ``CALL_UPDATE`` (caller id
  flipped) → result ``+OK <uuid>`` (BACKGROUND_JOB) → CS_EXECUTE → ``EXECUTE`` park →
  ``CHANNEL_PARK``: the job result comes after the leg's answer, before its park.
- Failed: ``CHANNEL_HANGUP`` → ``CHANNEL_HANGUP_COMPLETE`` → result → ``CHANNEL_DESTROY``
  (for ``NO_ANSWER`` the result comes before ``CHANNEL_HANGUP_COMPLETE``). Busy →
  ``USER_BUSY``; rejected → ``CALL_REJECTED``; nothing listening → ``NORMAL_TEMPORARY_FAILURE``;
  rings past ``originate_timeout`` → ``NO_ANSWER``; ``uuid_kill <leg> <cause>`` while it
  rings → that cause.

Deliberate simplification: a ``loopback/`` or ``user/`` agent is one outbound leg; the
recordings' far-end loopback ``-b`` leg (running ``ring_ready``/``sleep``) is not modelled.
"""

from __future__ import annotations

import random
import re
import uuid as uuid_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from freeswitch.sim.applications import AppRequest, AppRun
from freeswitch.sim.channels import CallerProfile, Channel
from freeswitch.sim.core import FRAME, Core
from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.sounds import separate_string
from freeswitch.sim.templates import (
    Q850,
    next_session_id,
    outbound_answer_variables,
    outbound_variables,
)

Behaviour = Literal["answer", "no_answer", "busy", "reject", "fail"]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)

USAGE = (
    "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
    "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
)
_CONTACT = re.compile(r"(user/[A-Za-z0-9_.+-]+|sofia/[A-Za-z0-9_-]+/\S+|loopback/\S+)\Z")
_CAUSE_ON_FAILURE: dict[str, str] = {
    "busy": "USER_BUSY",
    "reject": "CALL_REJECTED",
    "fail": "NORMAL_TEMPORARY_FAILURE",
}


@dataclass
class AgentPhone:
    """An agent's endpoint and how it behaves when ``originate`` calls it.

    ``behaviour``: "answer" (after ``answer_after`` seconds), "no_answer" (rings until
    ``originate_timeout``), "busy" (486 → USER_BUSY), "reject" (CALL_REJECTED) or "fail"
    (NORMAL_TEMPORARY_FAILURE). ``hangup_after``: the agent hangs up that many seconds
    after answering (None: only when the engine or the caller ends the call).
    ``answer_jitter`` adds a uniform 0..jitter seconds to each answer delay; ``mix`` draws
    the behaviour per call from weights; ``cause`` replaces the hang-up cause of "busy",
    "reject" and "fail" (s05: a loopback agent answering 486 reports NORMAL_CLEARING).
    ``dial_string``: what the directory resolves a ``user/`` contact to (s05/s07: the
    recording lab's ``user/1003`` is ``loopback/agent_ring/agents``); it names the leg.
    """

    contact: str
    registered: bool = True
    answer_after: float = 1.0
    behaviour: Behaviour = "answer"
    hangup_after: float | None = None
    answer_jitter: float = 0.0
    mix: Mapping[str, float] | None = None
    cause: str | None = None
    dial_string: str | None = None
    calls: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.dial_string is not None and not _CONTACT.match(self.dial_string):
            raise SimulatorError(f"dial string {self.dial_string!r} is not sofia/ or loopback/")
        if self.cause is not None and self.cause not in Q850:
            raise SimulatorError(f"hangup cause {self.cause!r} is not known")
        if self.mix is not None:
            if not self.mix or any(b not in BEHAVIOURS or w < 0 for b, w in self.mix.items()):
                raise SimulatorError(f"behaviour mix {self.mix!r} is not valid")
            if sum(self.mix.values()) <= 0:
                raise SimulatorError("behaviour mix weights must not all be 0")
        if not _CONTACT.match(self.contact):
            raise SimulatorError(
                f"agent contact {self.contact!r} is not user/, sofia/ or loopback/"
            )
        if self.behaviour not in BEHAVIOURS:
            raise SimulatorError(f"behaviour {self.behaviour!r} is not one of {BEHAVIOURS}")
        if self.answer_after < 0 or self.answer_jitter < 0:
            raise SimulatorError("answer_after and answer_jitter must not be negative")
        if self.hangup_after is not None and self.hangup_after < 0:
            raise SimulatorError("hangup_after must not be negative")

    def next_call(self, rng: random.Random) -> tuple[str, float]:
        """Behaviour and answer delay for one call (``mix``/``answer_jitter`` sampled)."""
        behaviour: str = self.behaviour
        if self.mix:
            names = list(self.mix)
            behaviour = rng.choices(names, weights=[self.mix[n] for n in names])[0]
        return behaviour, self.answer_after + rng.uniform(0.0, self.answer_jitter)


@dataclass
class OriginateRequest:
    dial: str
    variables: dict[str, str]
    app: str
    app_args: str
    uuid: str
    timeout: float


def parse_brackets(dial: str) -> tuple[dict[str, str], str]:
    """``{a=1,b=2}[c=3]target`` → variables and target, like switch_event_create_brackets."""
    variables: dict[str, str] = {}
    rest = dial
    while rest[:1] in ("{", "[", "<"):
        close = {"{": "}", "[": "]", "<": ">"}[rest[0]]
        depth, end = 0, -1
        for index, ch in enumerate(rest):
            if ch == rest[0]:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    end = index
                    break
        if end < 0:
            raise SimulatorError(f"unbalanced {rest[0]} in dial string")
        for item in re.split(r"(?<!\\),", rest[1:end]):
            name, sep, value = item.partition("=")
            if sep and name.strip():
                variables[name.strip()] = value.replace("\\,", ",")
        rest = rest[end + 1 :]
    return variables, rest


def parse_originate(arg: str) -> OriginateRequest | None:
    """Parse the ``originate`` arguments; None when FreeSWITCH would print its usage."""
    argv = separate_string(arg, 10)
    if len(argv) < 2:
        return None
    variables, dial = parse_brackets(argv[0])
    app, app_args = "", ""
    match = re.match(r"&([A-Za-z0-9_]+)\((.*)\)\Z", argv[1])
    if match:
        app, app_args = match.group(1), match.group(2)
    else:
        app, app_args = "transfer", argv[1]
    timeout = float(variables.get("originate_timeout", "60") or 60)
    if len(argv) > 6 and argv[6].isdigit():
        timeout = float(argv[6])
    leg_uuid = variables.get("origination_uuid") or str(uuid_module.uuid4())
    return OriginateRequest(dial, variables, app, app_args, leg_uuid, timeout)


def _leg_identity(dial: str) -> tuple[str, str, str, str]:
    """Channel name, destination user, endpoint module and context of a dial string."""
    if dial.startswith("user/"):
        user = dial[5:].split("@", 1)[0]
        return f"sofia/internal/{user}@127.0.0.1:5062", user, "sofia", "default"
    if dial.startswith("sofia/"):
        uri = dial.split("/", 2)[2]
        uri = uri[4:] if uri.startswith("sip:") else uri
        return f"sofia/internal/{uri}", uri.split("@", 1)[0], "sofia", "default"
    parts = dial.split("/")
    exten = parts[1] if len(parts) > 1 else ""
    context = parts[2] if len(parts) > 2 else "default"
    return f"loopback/{exten}-a", exten, "loopback", context


class Originator:
    """Runs ``originate`` against the registered agent phones."""

    def __init__(self, core: Core, phones: dict[str, AgentPhone], seed: int | None = None) -> None:
        self.core = core
        self.phones = phones
        self.rng = random.Random(seed)
        # Runs the dialplan for `originate <dial> <extension>` (set by the Simulator).
        self.route: Callable[[Channel, str], None] | None = None

    def phone_for(self, dial: str) -> AgentPhone | None:
        key = dial.split("@", 1)[0] if dial.startswith("user/") else dial
        return self.phones.get(key)

    def originate(self, arg: str) -> tuple[str, Callable[[], None] | None]:
        """Block until the leg answers or fails; return the api text and what follows it."""
        if ":_:" in next(iter(separate_string(arg, 10)), ""):
            # FreeSWITCH splits here into "enterprise" originates before it reads {}
            # (switch_ivr_originate.c); not simulated, so refuse rather than dial wrongly.
            return "-ERR CHAN_NOT_IMPLEMENTED\n", None
        try:
            request = parse_originate(arg)
        except SimulatorError:
            return USAGE, None
        if request is None:
            return USAGE, None
        dial = request.dial
        if not dial.startswith(("user/", "sofia/", "loopback/")):
            return "-ERR CHAN_NOT_IMPLEMENTED\n", None
        phone = self.phone_for(dial)
        if dial.startswith("user/"):
            if phone is None:
                return "-ERR SUBSCRIBER_ABSENT\n", None
            if not phone.registered:
                return "-ERR USER_NOT_REGISTERED\n", None
        if self.core.find(request.uuid) is not None:
            return "-ERR NORMAL_TEMPORARY_FAILURE\n", None
        if phone is not None:
            phone.calls += 1
        ch = self._create_leg(request, phone)
        run = AppRun(AppRequest("originate"), self.core.time_scale)
        run.owns_teardown = True
        run.greenlet = None
        ch.current_app = run
        cause = self._ring(ch, run, request, phone)
        ch.current_app = None
        if cause is not None:
            return self._failed(ch, cause)
        self._answered(ch, phone)
        return f"+OK {ch.uuid}\n", lambda: self._after_answer(ch, request, phone)

    def _create_leg(self, request: OriginateRequest, phone: AgentPhone | None) -> Channel:
        core = self.core
        target = phone.dial_string if phone is not None and phone.dial_string else request.dial
        name, user, endpoint, context = _leg_identity(target)
        number = request.variables.get("origination_caller_id_number", "0000000000")
        now = core.factory.now_us()
        profile = CallerProfile(
            caller_id_name=request.variables.get("origination_caller_id_name", ""),
            caller_id_number=number,
            orig_caller_id_number=number,
            callee_id_name="Outbound Call",
            # A loopback leg names its context as the callee (s07: callee_num "agents").
            callee_id_number=context if endpoint == "loopback" else user,
            ani=number,
            destination_number=user,
            source="src/switch_ivr_originate.c",
            context=context,
            created_us=now,
        )
        ch = Channel(
            uuid=request.uuid,
            direction="outbound",
            name=name,
            profile=profile,
            created_us=now,
            hit_dialplan=False,
            has_codec=False,
            state="CS_NONE",
            caller_kind=endpoint,
        )
        if request.dial.startswith("user/"):
            ch.presence_id = f"{request.dial[5:].split('@', 1)[0]}@127.0.0.1"
        ch.variables.update(outbound_variables(ch.uuid, name, endpoint, next_session_id()))
        if endpoint == "sofia":
            ch.variables["sip_destination_url"] = f"sip:{name.split('/', 2)[2]}"
        ch.variables.update(request.variables)
        core.register(ch)
        core.emit("CHANNEL_OUTGOING", ch)
        core.set_state(ch, "CS_INIT")
        core.emit("CHANNEL_CREATE", ch)
        core.emit("CHANNEL_ORIGINATE", ch)
        core.set_state(ch, "CS_ROUTING")
        core.set_state(ch, "CS_CONSUME_MEDIA")
        return ch

    def _ring(
        self, ch: Channel, run: AppRun, request: OriginateRequest, phone: AgentPhone | None
    ) -> str | None:
        """Return the failure cause, or None once the phone answered."""
        if phone is None:
            run.wait(FRAME)
            unknown = (
                "NORMAL_TEMPORARY_FAILURE" if ch.caller_kind == "sofia" else "NO_ROUTE_DESTINATION"
            )
            return ch.hangup_cause or unknown
        behaviour, answer_after = phone.next_call(self.rng)
        if behaviour in _CAUSE_ON_FAILURE:
            if run.wait(FRAME) is not None:
                return ch.hangup_cause or "NORMAL_CLEARING"
            return phone.cause or _CAUSE_ON_FAILURE[behaviour]
        if run.wait(FRAME) is not None:
            return ch.hangup_cause or "NORMAL_CLEARING"
        self.core.progress(ch)
        ring = answer_after if behaviour == "answer" else float("inf")
        answers = ring <= request.timeout
        reason = run.wait(max(min(ring, request.timeout) - FRAME, 0.0))
        if reason is not None:
            return ch.hangup_cause or "NORMAL_CLEARING"
        return None if answers else "NO_ANSWER"

    def _failed(self, ch: Channel, cause: str) -> tuple[str, Callable[[], None] | None]:
        core = self.core
        if ch.is_up:
            core.mark_hangup(ch, cause)
        text = f"-ERR {cause}\n"
        if cause == "NO_ANSWER":
            return text, lambda: core.teardown(ch)
        core.complete(ch)
        return text, lambda: core.destroy(ch)

    def _answered(self, ch: Channel, phone: AgentPhone | None) -> None:
        core = self.core
        port = 5070
        ch.has_codec = True
        ch.variables.update(outbound_answer_variables(ch.profile.destination_number, port))
        core.answer(ch)
        p = ch.profile
        ch.set_variable("pre_transfer_caller_id_number", p.caller_id_number)
        ch.set_variable("channel_cid_flipped", "yes")
        # switch_channel_flip_cid (s03: after CHANNEL_ANSWER, announced by CALL_UPDATE):
        # the answered leg now shows the callee as its caller.
        p.caller_id_name, p.callee_id_name = p.callee_id_name, p.caller_id_name
        p.caller_id_number, p.callee_id_number = p.callee_id_number, p.caller_id_number
        core.emit("CALL_UPDATE", ch, before=[("Direction", "RECV")])

    def _after_answer(
        self, ch: Channel, request: OriginateRequest, phone: AgentPhone | None
    ) -> None:
        core = self.core
        if not ch.is_up:
            return
        core.set_state(ch, "CS_EXECUTE")
        if request.app == "park":
            core.park(ch)
        elif request.app == "transfer" and self.route is not None:
            # `originate <dial> <extension>`: the answered leg runs the dialplan.
            self.route(ch, request.app_args)
        else:
            # Any other application runs once and the leg hangs up after it.
            core.park(ch)
            core.enqueue(ch, AppRequest(request.app, request.app_args))
            core.enqueue(ch, AppRequest("hangup", "NORMAL_CLEARING"))
        if phone is not None and phone.hangup_after is not None:
            core.spawn(self._agent_hangs_up, ch, phone.hangup_after)

    def _agent_hangs_up(self, ch: Channel, after: float) -> None:
        self.core.sleep(after)
        if ch.is_up:
            self.core.hangup(ch, "NORMAL_CLEARING")
