"""The engine's call and agent records in Redis (msgpack values), beside the routing
store of the same tenant (same hash tag, so one Cluster slot).

Reads come from a copy in process memory, loaded from Redis on first use: each call is
handled on one lane of one engine process, so that copy is authoritative for it, and the
dispatch path pays no round trip to read. Writes go to the copy at once and to Redis on the
store's own connection, in order and without waiting (:meth:`RedisCallStore.send`, which
the runner calls before an event's commands go to FreeSWITCH), so Redis always holds
what a restarted engine needs; :meth:`RedisCallStore.flush` also waits until Redis has
applied them.

Key names (all under ``acd:{tenant}:``): ``calls`` hash contact -> record, ``legs`` hash
agent leg -> contact, ``phones`` hash agent -> record, ``sticky:<number>`` the last agent
of a caller number (R-STICKY) with an expiry of ``sticky_ttl`` seconds, ``events`` a
stream of the engine's facts (:meth:`RedisCallStore.log_fact`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import socket
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import gevent.lock
import hiredis
import msgpack
import redis
import structlog

from acd.adapters.redis_pool import readable
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
_log = structlog.get_logger("acd.store")


class StoreError(ACDError):
    """Redis failed under the call store."""

    slug = "call-store"


_packed: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command
_REPLY_OFF = _packed(("CLIENT", "REPLY", "OFF"))
_REPLY_ON = _packed(("CLIENT", "REPLY", "ON"))
_PING = _packed(("PING",))


#: Seconds a write may stay unacknowledged by Redis's host before the writer's connection
#: is given up (Linux ``TCP_USER_TIMEOUT``): a host gone without a reset is noticed.
UNACKNOWLEDGED_LIMIT = 5.0


def _readable(conn: Any) -> bool:
    """Whether the connection is closed or has bytes to read (never blocks)."""
    return conn._sock is None or readable(conn._sock)


def _limit_unacknowledged(sock: Any) -> None:
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, option, int(UNACKNOWLEDGED_LIMIT * 1000))


def _read_replies(conn: Any, count: int) -> None:
    """Read ``count`` replies; a refused write is one of them, not an error here."""
    for _ in range(count):
        with contextlib.suppress(redis.ResponseError):
            conn.read_response()


def _turn_replies_off(conn: Any) -> bool:
    """Ask Redis to send no replies on ``conn``; False (replies stay on) where it refuses.
    ``OFF`` has no reply when taken and an error when refused; the ``ON`` + ``PING`` after
    it tell the two apart, and every reply is read before replies go off."""
    conn.send_packed_command([_REPLY_OFF + _REPLY_ON + _PING], False)
    refused = False
    while True:
        try:
            if conn.read_response() == b"PONG":
                break
        except redis.ResponseError:
            refused = True
    if refused:
        _log.warning("acd.store_replies_on", reason="Redis refuses CLIENT REPLY")
        return False
    conn.send_packed_command([_REPLY_OFF], False)
    return True


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
        self._replies_off = False
        self._send_lock = gevent.lock.Semaphore()

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
        """The writer's connection, made anew when Redis closed the old one (with replies
        off nothing else makes its socket readable)."""
        conn = self._writer
        if conn is not None and _readable(conn):
            self._drop()
            conn = None
        if conn is None:
            pool = self.client.connection_pool
            # RESP2: RESP3 would let Redis push messages even with replies off.
            conn = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
            conn.connect()
            _limit_unacknowledged(conn._sock)
            self._writer = conn
            self._replies_off = _turn_replies_off(conn)
        return conn

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.disconnect()
            self._writer = None

    def _send_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            conn = self._connection()
            conn.send_packed_command([b"".join(map(_packed, pending))], False)
            if not self._replies_off:
                _read_replies(conn, len(pending))
        except (redis.RedisError, OSError, UnicodeError) as exc:
            self._drop()
            raise StoreError(f"call store: {len(pending)} writes not sent: {exc}") from None
        except BaseException:
            # Killed in the middle (a stop): how much reached Redis is unknown. The
            # connection goes (so nothing half-written is followed by later writes) and the
            # batch is kept for the next send, ahead of newer writes (a fact may then be
            # written twice; a record write is the same twice).
            self._drop()
            self._pending[:0] = pending
            raise

    def send(self) -> None:
        """Hand what changed since the last send to Redis, in the order made, without
        waiting: one write on the store's own connection, on which Redis sends no replies.
        Raises :class:`StoreError` when the connection fails.

        That is durable enough for the runner to send a command to FreeSWITCH right after:
        the bytes are in the kernel's socket buffer, which delivers them, then the end of
        the connection, even if this process is killed the next instant, and Redis applies
        one connection's commands in order. It is so only because no reply ever waits
        unread on that socket: a process killed with unread bytes resets the connection,
        and Redis drops what it had not read yet (tried with replies on: 2,000 writes
        handed over, the process killed at once, 443 applied; ``tests/test_call_store.py``
        kills it with replies off). Where Redis refuses ``CLIENT REPLY OFF`` (an ACL
        without ``client``, a proxy), ``send`` reads the replies itself: one round trip,
        the same safety. The cost of replies off: a write Redis refuses (out of memory, a
        read-only replica) is not seen here; routing's calls, which write too, fail
        loudly then. A Redis host that vanishes without a reset is noticed within
        :data:`UNACKNOWLEDGED_LIMIT` seconds of a write (``TCP_USER_TIMEOUT``)."""
        with self._send_lock:
            self._send_pending()

    def flush(self) -> None:
        """:meth:`send`, then wait until Redis has applied every write sent so far (one
        round trip: replies on for a ``PING``, then off again). Raises
        :class:`StoreError` when the connection fails."""
        with self._send_lock:
            self._send_pending()
            if self._writer is None:
                return  # nothing sent yet
            try:
                conn = self._connection()
                if not self._replies_off:
                    return  # send read every reply
                conn.send_packed_command([_REPLY_ON + _PING], False)
                _read_replies(conn, 2)
                conn.send_packed_command([_REPLY_OFF], False)
            except (redis.RedisError, OSError) as exc:
                self._drop()
                raise StoreError(f"call store: writes not confirmed: {exc}") from None

    def close(self) -> None:
        """Write what is left (confirmed), then close the writer's connection. Raises
        :class:`StoreError` when that last write fails (the connection is closed all the
        same)."""
        try:
            self.flush()
        finally:
            self._drop()

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
