"""What the engine remembers about calls and agents, and the port that keeps it.

Records are plain dataclasses that round-trip through msgpack (``to_wire``/``from_wire``),
so the Redis adapter (:mod:`acd.adapters.redis_store`) and the in-memory store here hold
exactly the same thing. Redis is the source of truth: a restarted engine rebuilds
everything from these records, the routing store and ``show channels``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from acd.engine.states import AgentState, CallState

CallKind = Literal["caller", "feature"]


@dataclass(slots=True)
class CallRecord:
    """One caller (``kind="caller"``) or one feature-code call (``kind="feature"``),
    keyed by the caller leg's uuid (``contact``). Times are epoch seconds."""

    contact: str
    kind: CallKind
    state: CallState
    parked_at: float
    queue: str = ""
    arrival: float = 0.0
    answered: bool = False
    language: str | None = None
    case_type: str | None = None
    priority: int = 0
    caller_number: str = ""
    caller_name: str = ""
    reservation: str | None = None
    agent: str | None = None
    agent_leg: str | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    bridged_at: float | None = None
    attempts: int = 0
    announcements: int = 0
    announce_pending: bool = False
    dtmf: str = ""  # the agent's in-call feature digits so far (``*8<queue code>``)
    called_number: str = ""  # B, for rules (R-RULES)
    rules_fired: list[str] = field(default_factory=list)  # rule ids, each fires once
    timed_heard: list[str] = field(default_factory=list)  # timed message prompt ids heard
    # a caller in a menu (R-DTMF; ``tries`` counts its no-input/invalid tries)
    entry: str = ""
    menu: str = ""
    menu_app: str = ""  # the Event-UUID of the pending digit collection
    # feature-code calls
    action: str = ""
    action_arg: str = ""
    phone: str = ""
    step: str = ""
    entered_agent: str = ""
    tries: int = 0

    def to_wire(self) -> dict[str, Any]:
        # Every field is a plain value: no deep copy needed (asdict's costs a lot here).
        return {name: getattr(self, name) for name in _CALL_FIELDS}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> CallRecord:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SETS[cls]})


@dataclass(slots=True)
class AgentRecord:
    """The engine's view of an agent's phone: state per :data:`acd.engine.states.AGENT_TABLE`,
    since when (epoch seconds), the phone used this session (free seating, R-FREESEAT) and
    the contact it is busy with."""

    id: str
    state: AgentState = "logged_out"
    since: float = 0.0
    phone: str | None = None
    contact: str | None = None
    wrap_until: float | None = None
    pause_reason: str | None = None
    queues: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _AGENT_FIELDS}
        data["queues"] = list(self.queues)
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> AgentRecord:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SETS[cls]})


_CALL_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
_AGENT_FIELDS = tuple(f.name for f in dataclasses.fields(AgentRecord))
# Fields a record of an older or newer engine may lack or add: unknown keys are ignored.
_FIELD_SETS: dict[type, frozenset[str]] = {
    CallRecord: frozenset(_CALL_FIELDS),
    AgentRecord: frozenset(_AGENT_FIELDS),
}


class CallStore(Protocol):
    """Where call and agent records live. Each method is one round trip; a record is
    written by the lane of its contact only, so no two writers race on one record."""

    def get_call(self, contact: str) -> CallRecord | None: ...
    def put_call(self, record: CallRecord) -> None: ...
    def delete_call(self, contact: str) -> None: ...
    def calls(self) -> list[CallRecord]: ...
    def link_leg(self, leg: str, contact: str) -> None: ...
    def unlink_leg(self, leg: str) -> None: ...
    def contact_of_leg(self, leg: str) -> str | None: ...
    def get_agent(self, agent_id: str) -> AgentRecord | None: ...
    def put_agent(self, record: AgentRecord) -> None: ...
    def agents(self) -> list[AgentRecord]: ...
    def last_agent(self, caller_number: str, now: float, window: float) -> str | None:
        """The agent who last served ``caller_number`` within ``window`` seconds (R-STICKY)."""
        ...

    def remember_agent(self, caller_number: str, agent_id: str, now: float) -> None: ...

    def send(self) -> None:
        """Hand the writes so far to the database in the order made, without waiting: what
        was handed over is applied even if the engine dies the next instant. The runner
        calls it before an event's commands go to FreeSWITCH."""
        ...

    def flush(self) -> None:
        """:meth:`send`, then wait until the database has applied every write."""
        ...
