"""What the engine asks the adapters to do. Effects are plain data; the engine never
performs them itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from acd.engine.events import Offer, TimerKind
from freeswitch.commands import ApiCommand, SendMsg


@dataclass(frozen=True, slots=True)
class Api:
    """Send ``command`` with ``api`` and ignore a failing reply (logged): used where the
    channel may already be gone (``uuid_break``, ``uuid_kill``, broadcasts)."""

    command: ApiCommand


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` (``sendmsg``) to a channel."""

    message: SendMsg


@dataclass(frozen=True, slots=True)
class Originate:
    """Start the agent leg ``leg`` for ``contact`` with ``bgapi``; a ``-ERR`` result comes
    back to the contact's lane as :class:`acd.engine.events.OriginateFailed`.

    ``leg`` events are routed to ``contact``'s lane from now on (one contact, one lane)."""

    contact: str
    leg: str
    command: ApiCommand
    ring_timeout: int  # seconds the agent's phone rings (the originate_timeout)


@dataclass(frozen=True, slots=True)
class Unlink:
    """Events of ``leg`` go back to their own lane (the leg is gone or released)."""

    leg: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Deliver :class:`TimerDue(contact, kind)` at epoch second ``at`` (replaces a timer of
    the same contact and kind)."""

    contact: str
    kind: TimerKind
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimers:
    """Forget every timer of ``contact``."""

    contact: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand ``offer`` to its contact's lane."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class Fact:
    """Something observers (logs, metrics, the demo's summary) may want to know.

    ``kind`` is one of :data:`FACT_KINDS`; ``data`` holds plain values."""

    kind: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StorePrompt:
    """Convert the phone recording at ``source`` (a WAV FreeSWITCH wrote) into the
    customer's prompt ``prompt_id`` in ``language`` under ``directory`` and record it in
    the manifest (R-PROMPTS); then send ``confirm``, or ``failed`` if it could not be
    stored. ``source`` is removed either way."""

    contact: str
    source: str
    prompt_id: str
    language: str
    directory: str
    confirm: SendMsg
    failed: SendMsg


FACT_KINDS = frozenset(
    {
        "queued",
        "offered",
        "agent_no_answer",
        "answered",
        "bridged",
        "abandoned",
        "completed",
        "announced",
        "announcement_not_played",
        "agent_login",
        "agent_logout",
        "agent_pause",
        "agent_unpause",
        "login_failed",
        "caller_refused",
        "adopted",
        "closed",
        "transferred",
        "overflowed",
        "rule_fired",
        "menu_entered",
        "menu_retry",
        "menu_chosen",
        "emergency",
        "closed_hours",
    }
)

Effect = Api | Send | Originate | Unlink | SetTimer | CancelTimers | Deliver | Fact | StorePrompt
