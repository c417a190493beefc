"""The engine's call and agent records in Redis (msgpack values), beside the routing
store of the same tenant (same hash tag, so one Cluster slot).

Reads come from a copy in process memory, loaded from Redis on first use: each call is
handled on one lane of one engine process, so that copy is authoritative for it, and the
dispatch path pays no round trip to read. Writes go to the copy at once and to Redis on the
store's own connection, in order, one round trip per :meth:`RedisCallStore.flush` (which
the runner calls before an event's commands go to FreeSWITCH), so Redis always holds
what a restarted engine needs.

Key names (all under ``acd:{tenant}:``): ``calls`` hash contact -> record, ``legs`` hash
agent leg -> contact, ``phones`` hash agent -> record, ``sticky:<number>`` the last agent
of a caller number (R-STICKY) with an expiry of ``sticky_ttl`` seconds, ``events`` a
stream of the engine's facts (:meth:`RedisCallStore.log_fact`).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import gevent.lock
import msgpack
import redis

from acd.engine.records import AgentRecord, CallRecord
from acd.errors import ACDError
from routing.keys import prefix

_Record = TypeVar("_Record", CallRecord, AgentRecord)


def _shallow_copier(cls: type[_Record]) -> Callable[[_Record], _Record]:
    """A shallow copy of a record of ``cls``: the class called with its fields' values.
    The store copies a record on every get and put (the cache must not change behind the
    engine's back); ``copy.copy`` of a slots dataclass goes through ``__reduce_ex__`` and
    cost ~4 % of the engine's CPU under load (bench/e2e.py --profile)."""
    values = operator.attrgetter(*(f.name for f in dataclasses.fields(cls)))
    return lambda record: cls(*values(record))


_copy_call = _shallow_copier(CallRecord)
_shallow_agent = _shallow_copier(AgentRecord)

STICKY_TTL = 14 * 86_400


class StoreError(ACDError):
    """Redis failed under the call store."""

    slug = "call-store"


def _pack(data: dict[str, Any]) -> bytes:
    return msgpack.packb(data, use_bin_type=True)


def _unpack(raw: bytes) -> dict[str, Any]:
    value = msgpack.unpackb(raw, raw=False)
    if not isinstance(value, dict):
        raise StoreError("call store: a record is not a map")
    return value


class RedisCallStore:
    """:class:`acd.engine.records.CallStore` on Redis with a write-through copy in memory
    (see the module docstring). Redis errors become :class:`StoreError`."""

    def __init__(
        self,
        client: redis.Redis,
        tenant: str,
        sticky_ttl: int = STICKY_TTL,
        events_maxlen: int = 1_000_000,
    ) -> None:
        base = prefix(tenant)
        self.client = client
        self._calls_key = base + "calls"
        self._legs_key = base + "legs"
        self._agents_key = base + "phones"
        self._sticky = base + "sticky:"
        self._sticky_ttl = sticky_ttl
        self._events_key = base + "events"
        self._events_maxlen = events_maxlen
        self._loaded = False
        self._calls: dict[str, CallRecord] = {}
        self._legs: dict[str, str] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._pending: list[tuple[Any, ...]] = []  # Redis commands, in order
        # Writes go out on a connection of their own, so one connection orders them all.
        self._writer: Any = None  # redis-py's connection class (untyped)
        self._sent = 0  # writes sent on it so far
        self._read = 0  # and replies read
        self._send_lock = gevent.lock.Semaphore()
        self._read_lock = gevent.lock.Semaphore()

    def _do(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.client, name)(*args)
        except redis.RedisError as exc:
            raise StoreError(f"call store: {name}: {exc}") from None

    def _load(self) -> None:
        if self._loaded:
            return
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._calls_key)
                pipe.hgetall(self._legs_key)
                pipe.hgetall(self._agents_key)
                calls, legs, agents = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"call store: load: {exc}") from None
        self._calls = {
            bytes(k).decode(): CallRecord.from_wire(_unpack(v)) for k, v in calls.items()
        }
        self._legs = {bytes(k).decode(): bytes(v).decode() for k, v in legs.items()}
        self._agents = {
            bytes(k).decode(): AgentRecord.from_wire(_unpack(v)) for k, v in agents.items()
        }
        self._loaded = True

    def _write(self, *command: Any) -> None:
        self._pending.append(command)

    def _connection(self) -> Any:
        conn = self._writer
        if conn is None:
            pool = self.client.connection_pool
            conn = self._writer = pool.connection_class(**pool.connection_kwargs)
        return conn

    def _broken(self, conn: Any, exc: BaseException) -> StoreError:
        """The writer's connection failed: what was sent and not acknowledged is unknown."""
        conn.disconnect()
        if self._writer is conn:
            self._writer = None
        lost, self._read = self._sent - self._read, self._sent
        return StoreError(f"call store: {exc} ({lost} writes not acknowledged)")

    def flush(self) -> None:
        """Write what changed since the last flush to Redis and wait for its replies: one
        packed write on the store's own connection, so Redis applies every write in the
        order made, also when lanes flush at once (each waits for its own writes' replies
        only). Raises :class:`StoreError` when Redis refused a write (the writes after it
        are still made: they are independent) or the connection failed (the next flush
        connects anew).

        redis-py's ``Pipeline`` would do the same with more bookkeeping per call, on
        whichever pooled connection is free: about a third of a flush's CPU under load."""
        with self._send_lock:
            if self._pending:
                pending, self._pending = self._pending, []
                conn = self._connection()
                try:
                    conn.send_packed_command([b"".join(conn.pack_commands(pending))], False)
                except (redis.RedisError, OSError) as exc:
                    raise self._broken(conn, exc) from None
                self._sent += len(pending)
            mine = self._sent
        with self._read_lock:
            refused: redis.ResponseError | None = None
            while self._read < mine and self._writer is not None:
                conn = self._writer
                try:
                    conn.read_response()
                except redis.ResponseError as exc:
                    refused = refused or exc
                except (redis.RedisError, OSError) as exc:
                    raise self._broken(conn, exc) from None
                self._read += 1
        if refused is not None:
            raise StoreError(f"call store: a write was refused: {refused}")

    def close(self) -> None:
        """Close the writer's connection (what was sent is still applied)."""
        if self._writer is not None:
            self._writer.disconnect()
            self._writer = None

    def get_call(self, contact: str) -> CallRecord | None:
        self._load()
        record = self._calls.get(contact)
        return None if record is None else _copy_call(record)

    def put_call(self, record: CallRecord) -> None:
        self._load()
        self._calls[record.contact] = _copy_call(record)
        self._write("HSET", self._calls_key, record.contact, _pack(record.to_wire()))

    def delete_call(self, contact: str) -> None:
        self._load()
        if self._calls.pop(contact, None) is not None:
            self._write("HDEL", self._calls_key, contact)

    def calls(self) -> list[CallRecord]:
        self._load()
        return [_copy_call(r) for r in self._calls.values()]

    def link_leg(self, leg: str, contact: str) -> None:
        self._load()
        self._legs[leg] = contact
        self._write("HSET", self._legs_key, leg, contact)

    def unlink_leg(self, leg: str) -> None:
        self._load()
        if self._legs.pop(leg, None) is not None:
            self._write("HDEL", self._legs_key, leg)

    def contact_of_leg(self, leg: str) -> str | None:
        self._load()
        return self._legs.get(leg)

    @staticmethod
    def _copy_agent(record: AgentRecord) -> AgentRecord:
        clone = _shallow_agent(record)
        clone.queues = list(record.queues)
        return clone

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        self._load()
        record = self._agents.get(agent_id)
        return None if record is None else self._copy_agent(record)

    def put_agent(self, record: AgentRecord) -> None:
        self._load()
        self._agents[record.id] = self._copy_agent(record)
        self._write("HSET", self._agents_key, record.id, _pack(record.to_wire()))

    def agents(self) -> list[AgentRecord]:
        self._load()
        return [self._copy_agent(record) for record in self._agents.values()]

    def log_fact(
        self, kind: str, data: Mapping[str, object], at: float, *, entry_id: str = "*"
    ) -> None:
        """Append an engine fact to the events stream (``acd:{tenant}:events``), written
        with the next flush: ``k`` the fact's kind, ``t`` epoch seconds, ``d`` msgpack of
        its data. Capped near ``events_maxlen`` entries. ``entry_id`` (``ms-seq``, for
        replaying history) replaces the id Redis would give: its clock at the write."""
        packed = msgpack.packb(dict(data), default=str)
        self._write(
            "XADD", self._events_key, "MAXLEN", "~", self._events_maxlen, entry_id,
            "k", kind, "t", repr(float(at)), "d", packed,
        )  # fmt: skip

    def last_agent(self, caller_number: str, now: float, window: float) -> str | None:
        raw = self._do("get", self._sticky + caller_number)
        if raw is None:
            return None
        data = _unpack(raw)
        agent, at = data.get("agent"), data.get("at")
        if not isinstance(agent, str) or not isinstance(at, int | float) or now - at > window:
            return None
        return agent

    def remember_agent(self, caller_number: str, agent_id: str, now: float) -> None:
        self._write(
            "SET",
            self._sticky + caller_number,
            _pack({"agent": agent_id, "at": now}),
            "EX",
            self._sticky_ttl,
        )
