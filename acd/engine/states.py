"""Call and agent state machines as tables (h11's ``_state.py`` shape).

A transition is looked up as ``TABLE[state][event]``; a pair that is not in the table
is an error naming the machine, the state and the event, never a silent no-op. The
engine decides *what to do* on a transition; these tables decide *whether it is legal*
and *where it leads*.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from acd.errors import ACDError

CallState = Literal[
    "queued",  # waiting, hearing hold music or ringback and announcements
    "offering",  # an agent leg is ringing for this caller
    "whisper",  # the agent answered; the whisper plays before the bridge (R-WHISPER)
    "talking",  # caller and agent are bridged
    "collecting",  # a feature-code call: the agent keys in id and PIN (R-PHONELOGIN)
    "menu",  # an entry's caller: welcome, menu prompts, digits (R-WELCOME, R-DTMF)
    "ended",
]
CallEvent = Literal[
    "offer",  # a reservation for this caller was made
    "agent_answered",
    "agent_failed",  # no answer, busy, rejected, unregistered, hung up while ringing
    "whisper_done",
    "bridged",
    "caller_hangup",
    "agent_hangup",
    "digits",
    "announce",
    "transfer",  # priority transfer to another queue (R-PRIO)
    "enqueue",  # a menu choice put the caller in a queue
    "leave",  # a menu choice transferred the caller out of the engine
]

AgentState = Literal["logged_out", "available", "ringing", "in_call", "wrap_up", "paused"]
AgentEvent = Literal[
    "login",
    "logout",
    "pause",
    "unpause",
    "offer",
    "answer",
    "no_answer",
    "cancel",  # the caller left while the agent's phone rang or the whisper played
    "hangup",
    "wrap_end",
]


class TransitionError(ACDError):
    """An event that is not legal in the machine's current state."""

    slug = "illegal-transition"

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: event {event!r} is not allowed in state {state!r}")
        self.machine = machine
        self.state = state
        self.event = event


def _freeze(table: dict[str, dict[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({state: MappingProxyType(row) for state, row in table.items()})


CALL_TABLE: Mapping[str, Mapping[str, str]] = _freeze(
    {
        "queued": {
            "offer": "offering",
            "announce": "queued",
            "caller_hangup": "ended",
            "transfer": "queued",
        },
        "offering": {
            "agent_answered": "whisper",
            "agent_failed": "queued",
            "caller_hangup": "ended",
            "announce": "offering",
        },
        "whisper": {
            "whisper_done": "talking",
            "bridged": "talking",
            "caller_hangup": "ended",
            "agent_hangup": "queued",
        },
        "talking": {
            "transfer": "queued",
            "bridged": "talking",
            "caller_hangup": "ended",
            "agent_hangup": "ended",
        },
        "collecting": {
            "digits": "collecting",
            "caller_hangup": "ended",
        },
        # Another menu, a retry or a message keep the caller here; a queue choice goes to
        # "queued" (a new record, as a dialplan queue park), a transfer leaves.
        "menu": {
            "digits": "menu",
            "enqueue": "queued",
            "leave": "ended",
            "caller_hangup": "ended",
        },
        "ended": {},
    }
)

AGENT_TABLE: Mapping[str, Mapping[str, str]] = _freeze(
    {
        # logout is idempotent: "*22" from a phone already logged out is no error
        "logged_out": {"login": "available", "logout": "logged_out"},
        "available": {
            "login": "available",
            "logout": "logged_out",
            "pause": "paused",
            "unpause": "available",
            "offer": "ringing",
        },
        "ringing": {
            "answer": "in_call",
            "no_answer": "available",
            "cancel": "available",
            "login": "ringing",
            "logout": "ringing",
            "pause": "ringing",
            "unpause": "ringing",
        },
        "in_call": {
            "hangup": "wrap_up",
            "cancel": "available",
            "login": "in_call",
            "logout": "in_call",
            "pause": "in_call",
            "unpause": "in_call",
        },
        "wrap_up": {
            "wrap_end": "available",
            "offer": "ringing",
            "login": "wrap_up",
            "logout": "logged_out",
            "pause": "paused",
            "unpause": "wrap_up",
        },
        "paused": {
            "login": "paused",
            "logout": "logged_out",
            "pause": "paused",
            "unpause": "available",
        },
    }
)


def call_transition(state: str, event: CallEvent) -> CallState:
    """The call's next state; raises :class:`TransitionError` for an illegal pair."""
    try:
        return CALL_TABLE[state][event]  # type: ignore[return-value]
    except KeyError:
        raise TransitionError("call", state, event) from None


def agent_transition(state: str, event: AgentEvent) -> AgentState:
    """The agent's next state; raises :class:`TransitionError` for an illegal pair.

    While ringing or in a call, login/logout/pause change the agent's queues or presence
    in routing but not the phone's state (a pause takes effect after the call)."""
    try:
        return AGENT_TABLE[state][event]  # type: ignore[return-value]
    except KeyError:
        raise TransitionError("agent", state, event) from None
