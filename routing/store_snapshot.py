"""Reading a tenant's whole routing state out of Redis as a comparable RouterState.

For tests, diagnostics and the wallboard; not on the decision path. Records are the
msgpack tables the scripts write (field names in docs/ROUTING.md, "Records").
"""

from __future__ import annotations

from typing import Any

import msgpack
import redis

from routing.api import AgentView, ContactView, Reservation, RouterState
from routing.errors import StoreError
from routing.keys import Keys

_CLASSES = ("voice", "chat", "email")


def _map(value: Any) -> dict[str, Any]:
    # cmsgpack writes an empty Lua table as an empty array.
    return value if isinstance(value, dict) else {}


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ids(raw: Any) -> list[str]:
    return sorted(_text(item) for item in raw)


def agent_view(rec: dict[str, Any]) -> AgentView:
    load = rec["ld"]
    return AgentView(
        id=rec["id"],
        skills=tuple(sorted((k, int(v)) for k, v in _map(rec.get("sk")).items())),
        languages=tuple(rec.get("lg") or ()),
        passive=bool(rec["pv"]),
        chat_capacity=int(rec["cc"]),
        email_capacity=int(rec["ce"]),
        presence=rec["st"],
        pause_reason=rec.get("rs"),
        wrap_until=_opt_float(rec.get("wu")),
        idle_since=float(rec["idle"]),
        queues=tuple(rec.get("qs") or ()),
        load=(int(load["voice"]), int(load["chat"]), int(load["email"])),
        assigned=tuple(sorted(_map(rec.get("as")).items())),
    )


def contact_view(rec: dict[str, Any]) -> ContactView:
    return ContactView(
        id=rec["id"],
        channel=rec["ch"],
        queue=rec["q"],
        queues=tuple(rec["qs"]),
        requirements=tuple(sorted((k, int(v)) for k, v in _map(rec.get("rq")).items())),
        language=rec.get("lang"),
        priority=int(rec["pr"]),
        arrival=float(rec["arr"]),
        score=int(rec["sc"]),
        state=rec["st"],
        restriction=rec.get("rk"),
        target=rec.get("tg"),
        restricted_until=_opt_float(rec.get("un")),
        steps_applied=int(rec["ap"]),
        attempt=int(rec["at"]),
        agent=rec.get("ag"),
        reservation=rec.get("rid"),
        expires_at=_opt_float(rec.get("ex")),
        announced=int(rec["an"]),
    )


def _record(client: redis.Redis, key: str) -> dict[str, Any] | None:
    try:
        raw = client.get(key)
    except redis.RedisError as exc:
        raise StoreError(f"reading {key}: {exc}") from exc
    if raw is None:
        return None
    if not isinstance(raw, bytes):
        raise StoreError(f"reading {key}: a decode_responses=False client is needed")
    record: dict[str, Any] = msgpack.unpackb(raw, raw=False)
    return record


def read_agent(client: redis.Redis, keys: Keys, agent_id: str) -> AgentView | None:
    """One agent's routed view now (one GET: the record is written whole, so it is
    consistent), None when routing does not know the agent. ``client``: a
    ``decode_responses=False`` client. Raises :class:`StoreError` when Redis fails."""
    record = _record(client, keys.agent(agent_id))
    return None if record is None else agent_view(record)


def read_contact(client: redis.Redis, keys: Keys, contact_id: str) -> ContactView | None:
    """One contact's routed view now (one GET), None when routing holds no such contact
    (ended, or never arrived). Same client and errors as :func:`read_agent`."""
    record = _record(client, keys.contact(contact_id))
    return None if record is None else contact_view(record)


def _ordered(rows: list[tuple[bytes, float]]) -> tuple[str, ...]:
    return tuple(member.decode() for member, _score in sorted(rows, key=lambda r: (r[1], r[0])))


def read_snapshot(client: redis.Redis, keys: Keys) -> RouterState:
    # The id sets and the records must be read as one: a contact that ends between the
    # two reads would leave an id without a record. WATCH the sets and read again if one
    # changed (a snapshot is rare and cheap to repeat).
    id_sets = (keys.agents(), keys.contacts(), keys.queues())
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*id_sets)  # type: ignore[no-untyped-call]
                return _read_watched(pipe, keys)
            except redis.WatchError:
                continue


def _read_watched(pipe: Any, keys: Keys) -> RouterState:
    agent_ids = _ids(pipe.smembers(keys.agents()))
    contact_ids = _ids(pipe.smembers(keys.contacts()))
    queue_names = _ids(pipe.smembers(keys.queues()))

    pipe.multi()
    for aid in agent_ids:
        pipe.get(keys.agent(aid))
        pipe.zrange(keys.targeted(aid), 0, -1, withscores=True)
    for cid in contact_ids:
        pipe.get(keys.contact(cid))
    for queue in queue_names:
        pipe.zrange(keys.queued(queue), 0, -1, withscores=True)
        for cls in _CLASSES:
            pipe.zrange(keys.waiting(queue, cls), 0, -1, withscores=True)
        pipe.get(keys.stats(queue))
    pipe.zrange(keys.timers(), 0, -1, withscores=True)
    replies = iter(pipe.execute())

    agents: dict[str, AgentView] = {}
    targeted: dict[str, tuple[str, ...]] = {}
    for aid in agent_ids:
        agents[aid] = agent_view(msgpack.unpackb(next(replies), raw=False))
        rows = next(replies)
        if rows:
            targeted[aid] = _ordered(rows)
    contacts = {cid: contact_view(msgpack.unpackb(next(replies), raw=False)) for cid in contact_ids}
    waiting: dict[str, tuple[str, ...]] = {}
    stats: dict[str, tuple[int, float, float]] = {}
    for queue in queue_names:
        rows = next(replies)
        by_class = [row for _cls in _CLASSES for row in next(replies)]
        if _ordered(rows) != _ordered(by_class):
            raise StoreError(f"queue {queue}: the all-class and per-class sets disagree")
        if rows:
            waiting[queue] = _ordered(rows)
        raw = next(replies)
        if raw is not None:
            count, mean, m2 = msgpack.unpackb(raw, raw=False)
            stats[queue] = (int(count), float(mean), float(m2))
    timers = tuple((float(score), member.decode()) for member, score in next(replies))
    reservations = {
        c.reservation: Reservation(c.reservation, c.agent, c.id, c.expires_at)
        for c in contacts.values()
        if c.state == "reserved"
        and c.reservation is not None
        and c.agent is not None
        and c.expires_at is not None
    }
    return RouterState(
        agents=agents,
        contacts=contacts,
        waiting=waiting,
        targeted=targeted,
        reservations=reservations,
        timers=tuple(sorted(timers)),
        stats=stats,
    )
