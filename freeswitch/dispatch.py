"""Hands events to handlers without ever making the socket reader wait.

FreeSWITCH disconnects an Event Socket client that falls 500 events behind
(``MAX_MISSED`` in mod_event_socket.c), so the reader only *queues* events here. Events
are sharded into lanes by a key (the call's ``Unique-ID``): each lane is drained, in
order, by one greenlet spawned on demand that exits when its lane is empty. So one call's
events are handled in the order FreeSWITCH sent them, different calls proceed in
parallel, and a slow handler only delays its own lane.

The lanes share one bound (``backlog``). When it is full the *newest* event is dropped
and counted (:attr:`Dispatcher.dropped`, plus one structlog warning per episode). Newest
rather than oldest, because what is queued is then still a gap-free prefix of each
call's history, and an ACD has to resync from FreeSWITCH after any loss anyway: when
the backlog has drained to half, ``on_recovered(dropped_in_episode)`` is called so the
client can raise its resync signal. Resyncing earlier would be useless, since events
would still be being dropped.

A lane's greenlet is not started at once: lanes opened while the reader routes what one
read brought are started together once it yields (a loop callback), the *urgent* ones
first (``submit(..., urgent=True)``: for an ACD, the events that free an agent or bring a
caller, which decide how soon an agent is rung). gevent runs greenlets in the order
started, so an urgent event does not wait behind every lane opened before it in the same
read; the client also lets an urgent lane run at once (:meth:`Dispatcher.start_lanes`,
then a yield) before it routes the rest of a large read. Only the start order of
different lanes changes: each lane's own events stay in the order submitted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import structlog

Handler = Callable[[Any], object]

_log = structlog.get_logger("freeswitch.dispatch")


class Dispatcher:
    """Per-key ordered, cross-key parallel handler execution with a global bound."""

    def __init__(self, backlog: int, on_recovered: Callable[[int], None]) -> None:
        if backlog < 1:
            raise ValueError(f"backlog must be positive, not {backlog}")
        self._backlog = backlog
        self._low_water = backlog // 2
        self._on_recovered = on_recovered
        self._lanes: dict[str, deque[tuple[Any, Sequence[Handler]]]] = {}
        self._workers: dict[str, gevent.Greenlet] = {}
        self._queued = 0
        self._overflowing = False
        self._episode_dropped = 0
        self._closed = False
        self._idle = gevent.event.Event()
        self._idle.set()
        self._unstarted: list[gevent.Greenlet] = []  # urgent lanes first, see the module
        self._urgent_unstarted = 0
        self._start_scheduled = False
        self.dropped = 0
        self.handled = 0
        self.handler_errors = 0

    @property
    def queued(self) -> int:
        """Events waiting for a handler (not counting ones being handled right now)."""
        return self._queued

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def submit(
        self, key: str, message: Any, handlers: Sequence[Handler], *, urgent: bool = False
    ) -> bool:
        """Queue ``message`` for ``handlers`` on lane ``key``; False if it was dropped.
        ``urgent``: a new lane for it starts before the non-urgent ones opened since the
        reader last yielded.

        Never blocks and never runs a handler itself: the reader calls this.
        """
        if self._closed:
            return False
        if self._queued >= self._backlog:
            self.dropped += 1
            self._episode_dropped += 1
            if not self._overflowing:
                self._overflowing = True
                _log.warning(
                    "esl.backlog_full",
                    backlog=self._backlog,
                    dropped_total=self.dropped,
                    policy="drop-newest",
                )
            return False
        lane = self._lanes.get(key)
        if lane is None:
            lane = deque()
            self._lanes[key] = lane
            worker = gevent.Greenlet(self._drain, key, lane)
            self._workers[key] = worker
            if urgent:
                self._unstarted.insert(self._urgent_unstarted, worker)
                self._urgent_unstarted += 1
            else:
                self._unstarted.append(worker)
            if not self._start_scheduled:
                self._start_scheduled = True
                gevent.get_hub().loop.run_callback(self._start_lanes)
        lane.append((message, handlers))
        self._queued += 1
        self._idle.clear()
        return True

    def start_lanes(self) -> None:
        """Start the lanes opened since the last start, urgent ones first (they run once
        the caller yields). Runs by itself once the reader yields; the reader calls it
        early to let an urgent event's lane run before it routes the rest of a read."""
        workers, self._unstarted = self._unstarted, []
        self._urgent_unstarted = 0
        for worker in workers:
            worker.start()  # a no-op for one killed by stop() before it started

    def _start_lanes(self) -> None:
        self._start_scheduled = False
        self.start_lanes()

    def _drain(self, key: str, lane: deque[tuple[Any, Sequence[Handler]]]) -> None:
        try:
            while lane:
                message, handlers = lane.popleft()
                self._queued -= 1
                for handler in handlers:
                    self._call(handler, message, key)
                self.handled += 1
                if self._overflowing and self._queued <= self._low_water:
                    self._recovered()
        finally:
            # Killed by stop() with events still queued: they will never run.
            self._queued -= len(lane)
            lane.clear()
            if self._lanes.get(key) is lane:
                del self._lanes[key]
                del self._workers[key]
            if not self._lanes:
                self._idle.set()

    def _call(self, handler: Handler, message: Any, key: str) -> None:
        try:
            handler(message)
        except gevent.GreenletExit:
            raise
        except Exception:  # noqa: BLE001 - one failing handler must not stop the lane or the others
            self.handler_errors += 1
            _log.exception(
                "esl.handler_failed",
                handler=getattr(handler, "__qualname__", repr(handler)),
                lane=key,
                message=repr(message),
            )

    def _recovered(self) -> None:
        dropped, self._episode_dropped = self._episode_dropped, 0
        self._overflowing = False
        _log.warning("esl.backlog_recovered", dropped=dropped, dropped_total=self.dropped)
        try:
            self._on_recovered(dropped)
        except Exception:  # noqa: BLE001 - a failing observer must not stop event handling
            _log.exception("esl.backlog_recovered_callback_failed")

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued event has been handled; False on timeout."""
        return bool(self._idle.wait(timeout))

    def stop(self, timeout: float) -> None:
        """Refuse new events, let running lanes finish for up to ``timeout``, kill the rest."""
        self._closed = True
        workers = list(self._workers.values())
        if workers:
            gevent.joinall(workers, timeout=timeout)
            remaining = [g for g in workers if not g.dead]
            if remaining:
                _log.warning("esl.dispatch_stop_killing", lanes=len(remaining))
                gevent.killall(remaining, block=True, timeout=timeout)
