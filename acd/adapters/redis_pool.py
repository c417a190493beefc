"""The engine's Redis connection pool.

redis-py checks every connection it takes from the pool for unread bytes (``can_read``
with a 0 s timeout) so that a reply left over from an interrupted call is never read as
the next one's. It does so with ``select.poll()``, which under gevent's monkey patching is
gevent's cooperative poll: a watcher made, started and dropped on every Redis call, about
4 % of the engine's CPU under load (``bench/e2e.py --profile``). A zero-timeout poll
never blocks, so :class:`ReadyCheckParser` makes that one check with the operating
system's own ``poll``; anything else (data found, a timeout above 0) goes through
redis-py's parser unchanged.
"""

from __future__ import annotations

import select
from typing import Any

import gevent.monkey
import redis
from redis._parsers import _HiredisParser

_os_poll = gevent.monkey.get_original("select", "poll")
_POLLIN: int = select.POLLIN


def readable(sock: Any) -> bool:
    """Whether ``sock`` has bytes, an end or an error to read; never blocks, never yields.
    A TLS socket may hold decrypted bytes above the operating system's: those count."""
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True
    poller = _os_poll()
    poller.register(sock, _POLLIN)
    return bool(poller.poll(0))


class ReadyCheckParser(_HiredisParser):
    """redis-py's hiredis parser, with the pool's zero-timeout check made without gevent."""

    def can_read(self, timeout: float = 0) -> bool:
        reader, sock = self._reader, self._sock
        idle = timeout == 0 and reader and sock is not None and not reader.has_data()
        if idle and not readable(sock):
            return False
        return bool(super().can_read(timeout))


def connection_pool(
    url: str,
    *,
    max_connections: int = 64,
    timeout: float = 5.0,
    socket_timeout: float = 5.0,
) -> redis.BlockingConnectionPool:
    """A blocking pool for ``url``: a lane waits up to ``timeout`` seconds for a free
    connection (under gevent every lane may be in a Redis call at once, and redis-py's
    default pool raises "Too many connections" past its size) and ``socket_timeout``
    seconds for a reply. Raises ``ValueError`` for a URL redis-py cannot read."""
    return redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5.0,
        parser_class=ReadyCheckParser,
    )
