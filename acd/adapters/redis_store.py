"""The engine's call and agent records in Redis (msgpack values), beside the routing
store of the same tenant (same hash tag, so one Cluster slot).

Key names (all under ``acd:{tenant}:``): ``calls`` hash contact -> record, ``legs`` hash
agent leg -> contact, ``phones`` hash agent -> record, ``sticky:<number>`` the last agent
of a caller number (R-STICKY) with an expiry of ``sticky_ttl`` seconds.
"""

from __future__ import annotations

from typing import Any

import msgpack
import redis

from acd.engine.records import AgentRecord, CallRecord
from acd.errors import ACDError
from routing.keys import prefix

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
    """:class:`acd.engine.records.CallStore` on Redis. Redis errors become
    :class:`StoreError`."""

    def __init__(self, client: redis.Redis, tenant: str, sticky_ttl: int = STICKY_TTL) -> None:
        base = prefix(tenant)
        self.client = client
        self._calls = base + "calls"
        self._legs = base + "legs"
        self._agents = base + "phones"
        self._sticky = base + "sticky:"
        self._sticky_ttl = sticky_ttl

    def _do(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.client, name)(*args)
        except redis.RedisError as exc:
            raise StoreError(f"call store: {name}: {exc}") from None

    def get_call(self, contact: str) -> CallRecord | None:
        raw = self._do("hget", self._calls, contact)
        return None if raw is None else CallRecord.from_wire(_unpack(raw))

    def put_call(self, record: CallRecord) -> None:
        self._do("hset", self._calls, record.contact, _pack(record.to_wire()))

    def delete_call(self, contact: str) -> None:
        self._do("hdel", self._calls, contact)

    def calls(self) -> list[CallRecord]:
        raw = self._do("hgetall", self._calls)
        return [CallRecord.from_wire(_unpack(v)) for v in raw.values()]

    def link_leg(self, leg: str, contact: str) -> None:
        self._do("hset", self._legs, leg, contact)

    def unlink_leg(self, leg: str) -> None:
        self._do("hdel", self._legs, leg)

    def contact_of_leg(self, leg: str) -> str | None:
        raw = self._do("hget", self._legs, leg)
        return None if raw is None else bytes(raw).decode()

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        raw = self._do("hget", self._agents, agent_id)
        return None if raw is None else AgentRecord.from_wire(_unpack(raw))

    def put_agent(self, record: AgentRecord) -> None:
        self._do("hset", self._agents, record.id, _pack(record.to_wire()))

    def agents(self) -> list[AgentRecord]:
        raw = self._do("hgetall", self._agents)
        return [AgentRecord.from_wire(_unpack(v)) for v in raw.values()]

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
        self._do(
            "set",
            self._sticky + caller_number,
            _pack({"agent": agent_id, "at": now}),
            self._sticky_ttl,
        )
