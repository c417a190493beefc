"""A compact, read-only view of a tenant's routing state for supervision (R-WALLBOARD).

The metrics' scrape-time gauges and the wallboard need a few fields per agent and two
figures per queue, not the whole :class:`routing.api.RouterState`: reading that
(``RedisRouter.snapshot``) costs a MULTI of one command per record plus a dataclass per
record in the engine process, hundreds of milliseconds at 2,000 agents and 3,500
contacts, during which a cooperative (gevent) engine serves no call.

:class:`SupervisionReader` (:func:`read_view`) reads the view with one read-only Lua
script (scripts/supervision.lua), called once for the queue figures and once per page of
agents so no call blocks Redis (shared by every engine) for long: about 3 ms each at
2,000 agents and 3,500 waiting contacts (bench/supervision.py). The script decodes the
records inside Redis, counts waiting contacts from the sorted sets (decoding only the
few contacts those cannot place) and returns only the needed fields as one msgpack
string per call. :func:`view_from_state` computes the same view from a ``RouterState``:
the reference, equal to the read view after any sequence of routing operations
(tests/test_supervision.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import msgpack
import redis

from routing.api import ContactView, Presence, RouterState
from routing.errors import StoreError
from routing.keys import Keys, lua_prelude
from routing.store_snapshot import contact_view

_UNANSWERED = ("waiting", "reserved")


@dataclass(frozen=True, slots=True)
class AgentSupervision:
    """What supervision shows of one agent.

    ``presence`` as routing names it; ``pause_reason`` while paused (else None);
    ``wrap_until`` epoch seconds or None; ``idle_since`` epoch seconds; ``queues`` the
    queues the agent is logged in to (routing's order); ``assigned`` how many contacts
    routing has offered or given the agent (any channel); ``voice_load`` of those, voice
    contacts (0 or 1); ``contacts`` their ids, sorted."""

    id: str
    presence: Presence
    pause_reason: str | None
    wrap_until: float | None
    idle_since: float
    queues: tuple[str, ...]
    assigned: int
    voice_load: int
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueSupervision:
    """``waiting``: contacts of this home queue not yet answered (waiting, or offered to a
    ringing agent); ``oldest``: the earliest effective arrival among them (epoch seconds),
    None when there is none; ``ringing``: of ``waiting``, those offered to an agent now."""

    waiting: int
    oldest: float | None
    ringing: int = 0


@dataclass(frozen=True, slots=True)
class SupervisionView:
    """``agents``: agent id -> :class:`AgentSupervision`, every agent routing knows
    (logged out too), by id. ``queues``: queue -> :class:`QueueSupervision` for every
    queue routing knows (``put_queue``) and every home queue of an unanswered contact."""

    agents: Mapping[str, AgentSupervision]
    queues: Mapping[str, QueueSupervision]


def _view(
    agents: dict[str, AgentSupervision], queues: dict[str, QueueSupervision]
) -> SupervisionView:
    return SupervisionView(MappingProxyType(agents), MappingProxyType(queues))


def view_from_state(state: RouterState, queues: Iterable[str]) -> SupervisionView:
    """The supervision view of a full routing state (pure; the reference for
    :func:`read_view`). ``queues``: the tenant's routing queues (each gets an entry, 0
    waiting when none)."""
    agents = {
        aid: AgentSupervision(
            id=a.id,
            presence=a.presence,
            pause_reason=a.pause_reason,
            wrap_until=a.wrap_until,
            idle_since=a.idle_since,
            queues=a.queues,
            assigned=len(a.assigned),
            voice_load=a.load[0],
            contacts=tuple(contact for contact, _ in a.assigned),
        )
        for aid, a in state.agents.items()
    }
    counts = dict.fromkeys(queues, 0)
    oldest: dict[str, float | None] = dict.fromkeys(counts)
    ringing = dict.fromkeys(counts, 0)
    for contact in state.contacts.values():
        if contact.state not in _UNANSWERED:
            continue
        counts[contact.queue] = counts.get(contact.queue, 0) + 1
        ringing[contact.queue] = ringing.get(contact.queue, 0) + (contact.state == "reserved")
        first = oldest.get(contact.queue)
        if first is None or contact.arrival < first:
            oldest[contact.queue] = contact.arrival
    return _view(agents, {q: QueueSupervision(n, oldest[q], ringing[q]) for q, n in counts.items()})


def as_view(state: RouterState | SupervisionView) -> SupervisionView:
    """``state`` as a view (a view is returned as is; a ``RouterState``'s queues are those
    of its contacts and waiting lines)."""
    if isinstance(state, SupervisionView):
        return state
    return view_from_state(state, {c.queue for c in state.contacts.values()} | set(state.waiting))


@functools.cache
def script_source() -> str:
    """The key prelude + scripts/supervision.lua (read-only)."""
    body = (resources.files("routing") / "scripts" / "supervision.lua").read_text("utf-8")
    return lua_prelude() + body


class SupervisionReader:
    """Reads one tenant's :class:`SupervisionView` (the script is registered once per
    reader).

    :meth:`read` makes ``1 + ceil(agents / page)`` short script calls: one for the queue
    figures (atomic: every queue as of one moment) and one per page of about ``page``
    agents (``SSCAN``), so Redis, shared by every engine, is never blocked by the whole
    read. Consistency: each agent is one record read atomically, and every agent present
    for the whole read is in the view exactly once; pages are read at successive moments
    a few milliseconds apart, so an agent that logs in or changes state between pages
    shows as of its own page. Raises :class:`routing.errors.StoreError` when Redis fails
    or answers something unexpected; ``ValueError`` for a page below 1."""

    def __init__(self, client: redis.Redis, tenant: str, page: int = 200) -> None:
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be an int >= 1, got {page!r}")
        self.client = client
        self.keys = Keys(tenant)
        self.page = page
        self._anchor = [self.keys.timers()]
        self._script = client.register_script(script_source())

    def _call(self, *args: str | int) -> Any:
        try:
            return self._script(keys=self._anchor, args=[self.keys.prefix, *args])
        except redis.RedisError as exc:
            raise StoreError(f"supervision view: {exc}") from exc

    def read(self) -> SupervisionView:
        """The view now (see the class for its consistency)."""
        try:
            queues = _queues(_unpack(self._call("queues")))
            agents: dict[str, AgentSupervision] = {}
            cursor: Any = 0
            while True:
                cursor, packed = self._call("agents", cursor, self.page)
                for row in _unpack(packed):
                    view = _agent(row)
                    agents[view.id] = view  # SSCAN may return an agent twice
                if int(cursor) == 0:
                    return _view(dict(sorted(agents.items())), queues)
        except (TypeError, ValueError, IndexError, msgpack.UnpackException) as exc:
            raise StoreError(f"supervision view: unexpected reply: {exc}") from exc

    def waiting(self, queue: str) -> tuple[ContactView, ...]:
        """The contacts waiting in ``queue`` now, in the order routing serves them
        (score, then id): the general ones of its line and those restricted to one agent
        (private, sticky) that list ``queue``; offered (ringing) contacts are not waiting.
        One short script call, atomic; it reads that queue's line and the tenant's
        timers, never every record. An unknown queue has none. Raises
        :class:`routing.errors.StoreError` when Redis fails or answers something
        unexpected."""
        try:
            found = {}
            # raw=True: the rows are msgpack records themselves, not text.
            rows = msgpack.unpackb(self._call("waiting", queue), raw=True)
            for raw in rows if isinstance(rows, list) else ():
                view = contact_view(msgpack.unpackb(raw, raw=False))
                if view.state == "waiting" and queue in view.queues:
                    found[view.id] = view
        except (TypeError, ValueError, KeyError, msgpack.UnpackException) as exc:
            raise StoreError(f"waiting contacts of {queue}: unexpected reply: {exc}") from exc
        return tuple(sorted(found.values(), key=lambda c: (c.score, c.id)))


def _unpack(packed: Any) -> list[Any]:
    rows = msgpack.unpackb(packed, raw=False)
    # cmsgpack writes an empty Lua table as a map.
    return rows if isinstance(rows, list) else []


def _opt_float(value: Any) -> float | None:
    return None if value is None or value is False else float(value)


def _agent(row: list[Any]) -> AgentSupervision:
    aid, presence, reason, wrap, idle, queues, assigned, voice = row
    contacts = tuple(sorted(assigned)) if isinstance(assigned, list) else ()
    return AgentSupervision(
        aid,
        presence,
        None if reason is False else reason,
        _opt_float(wrap),
        float(idle),
        tuple(queues) if isinstance(queues, list) else (),
        len(contacts),
        voice,
        contacts,
    )


def _queues(flat: list[Any]) -> dict[str, QueueSupervision]:
    out: dict[str, QueueSupervision] = {}
    for at in range(0, len(flat), 4):
        name, count, first, ringing = flat[at : at + 4]
        out[name] = QueueSupervision(int(count), _opt_float(first), int(ringing))
    return out


def read_view(client: redis.Redis, tenant: str) -> SupervisionView:
    """One tenant's view read from Redis (:class:`SupervisionReader`: a few short
    read-only script calls). Raises :class:`routing.errors.StoreError` when Redis fails."""
    return SupervisionReader(client, tenant).read()
