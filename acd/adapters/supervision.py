"""The engine's one shared reader of supervision state (R-WALLBOARD): the metrics' scrapes
and every wallboard share it, so their cost to the engine does not grow with their number.

:class:`SharedRead` wraps a read (a callable) and keeps its result for ``max_age``
seconds: at most one read per ``max_age`` whatever the number of callers, and callers
arriving while a read runs wait for that read (``gevent.event.AsyncResult``) instead of
starting another. A failed read is logged and counted and its error goes to every caller
waiting for it (the metrics count a failed scrape, the wallboard shows "unavailable");
the next call reads again. Nothing here raises into the engine: only callers of
:meth:`SharedRead.__call__` see errors.

:class:`Supervision` holds the two shared reads of an engine: routing's
:class:`routing.supervision.SupervisionView` and the phone states (time in state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import gevent
import redis
import structlog
from gevent.event import AsyncResult

from acd.adapters.metrics import phone_states
from routing.supervision import SupervisionReader, SupervisionView

_log = structlog.get_logger("acd.supervision")

T = TypeVar("T")

#: Seconds a shared read is reused (a scrape interval or a wallboard refresh is longer).
DEFAULT_MAX_AGE = 1.0


class SharedRead(Generic[T]):
    """``read()`` at most once per ``max_age`` seconds (``clock``: monotonic seconds),
    shared by every caller. ``name`` labels the log lines. ``errors`` counts failed reads.
    Raises ``ValueError`` for a negative or non-finite ``max_age``."""

    def __init__(
        self,
        read: Callable[[], T],
        *,
        name: str,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_age, bool) or not isinstance(max_age, int | float):
            raise ValueError(f"max_age must be a number of seconds, got {max_age!r}")
        if not 0 <= max_age < float("inf"):
            raise ValueError(f"max_age must be finite and >= 0 seconds, got {max_age!r}")
        self.read = read
        self.name = name
        self.max_age = float(max_age)
        self.clock = clock
        self.reads = 0
        self.errors = 0
        self._value: tuple[float, T] | None = None  # (monotonic time of the read, result)
        self._pending: AsyncResult | None = None

    def __call__(self) -> T:
        """The result of a read at most ``max_age`` old. Raises what the read raised (for
        this caller and every caller that waited for the same read)."""
        cached = self._value
        if cached is not None and self.clock() - cached[0] < self.max_age:
            return cached[1]
        pending = self._pending
        if pending is not None:
            value: T = pending.get()  # raises the read's error
            return value
        pending = self._pending = AsyncResult()
        started = self.clock()
        try:
            self.reads += 1
            value = self.read()
        except Exception as exc:
            self.errors += 1
            _log.warning("acd.supervision_read_failed", read=self.name, error=str(exc))
            pending.set_exception(exc)
            raise
        else:
            self._value = (started, value)
            pending.set(value)
            return value
        finally:
            self._pending = None

    def invalidate(self) -> None:
        """Forget the kept result: the next call reads."""
        self._value = None


#: Seconds of the pause a long conversion takes: a positive sleep, because
#: ``gevent.sleep(0)`` runs only the greenlets already scheduled, not the loop's due
#: timers (measured: a 1 ms ticker 100 ms late with ``sleep(0)``, 2 ms with this).
PAUSE_SECONDS = 1e-6


def _yield() -> None:
    gevent.sleep(PAUSE_SECONDS)


class Supervision:
    """The engine's shared supervision reads of ``tenant`` in ``client`` (a
    ``decode_responses=False`` client): :attr:`view` (routing's supervision view) and
    :attr:`phones` (agent id -> (metrics state, since epoch seconds)), each at most once
    per ``max_age`` seconds. :attr:`pause` lets a long conversion yield to the engine's
    other greenlets."""

    def __init__(
        self,
        client: redis.Redis,
        tenant: str,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader = SupervisionReader(client, tenant)
        self.pause: Callable[[], None] = _yield

        def phones() -> Mapping[str, tuple[str, float]]:
            return phone_states(client, tenant, _yield)

        self.view: SharedRead[SupervisionView] = SharedRead(
            reader.read, name="view", max_age=max_age, clock=clock
        )
        self.phones: SharedRead[Mapping[str, tuple[str, float]]] = SharedRead(
            phones, name="phones", max_age=max_age, clock=clock
        )
