"""A queue's load for the rules (R-RULES, R-OVERFLOW), read from the routing store's own
keys (:mod:`routing.keys`) in one round trip: only for a queue whose rules need it."""

from __future__ import annotations

import redis

from acd.engine.rule_flow import QueueLoad
from routing.errors import StoreError
from routing.keys import Keys


class RedisQueueLoad:
    """:class:`acd.engine.rule_flow.LoadReader` over Redis: waiting callers (``arr``),
    the oldest one's effective arrival, logged-in agents (``members``) and free agents
    (``free``) of a queue. Raises :class:`routing.errors.StoreError` when Redis fails."""

    def __init__(self, client: redis.Redis, tenant: str) -> None:
        self.client = client
        self.keys = Keys(tenant)

    def load(self, queue: str, now: float) -> QueueLoad:
        """The load of ``queue`` at epoch second ``now`` (longest wait in seconds)."""
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(self.keys.arrivals(queue))
                pipe.zrange(self.keys.arrivals(queue), 0, 0, withscores=True)
                pipe.zcard(self.keys.members(queue))
                pipe.zcard(self.keys.free(queue))
                waiting, oldest, members, free = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"queue load: {exc}") from None
        longest = max(0.0, now - float(oldest[0][1])) if oldest else 0.0
        return QueueLoad(int(waiting), longest, int(members), int(free))
