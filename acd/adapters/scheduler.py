"""Timers for the engine: one greenlet, one heap, an injected clock.

``set(contact, kind, at)`` replaces that contact's timer of that kind; ``cancel(contact)``
forgets all of a contact's timers. Due timers are handed to ``deliver`` in due order;
``deliver`` must not block (the runner posts them to the contact's lane).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import gevent
import gevent.event

from acd.engine.events import TimerDue, TimerKind

Clock = Callable[[], float]


class Scheduler:
    def __init__(self, clock: Clock, deliver: Callable[[TimerDue], None]) -> None:
        self._clock = clock
        self._deliver = deliver
        self._heap: list[tuple[float, int, str, TimerKind]] = []
        self._live: dict[str, dict[TimerKind, int]] = {}
        self._seq = itertools.count()
        self._wake = gevent.event.Event()
        self._worker: gevent.Greenlet | None = None
        self._stopped = False

    def __len__(self) -> int:
        return sum(len(kinds) for kinds in self._live.values())

    def start(self) -> None:
        if self._worker is None:
            self._worker = gevent.spawn(self._run)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._worker is not None:
            self._worker.kill(block=True, timeout=2)

    def set(self, contact: str, kind: TimerKind, at: float) -> None:
        seq = next(self._seq)
        self._live.setdefault(contact, {})[kind] = seq
        heapq.heappush(self._heap, (at, seq, contact, kind))
        if self._heap[0][1] == seq:
            self._wake.set()

    def cancel(self, contact: str) -> None:
        self._live.pop(contact, None)

    def due(self) -> list[TimerDue]:
        """Pop every timer due at the clock's now (the loop's step; tests call it)."""
        now = self._clock()
        fired: list[TimerDue] = []
        while self._heap and self._heap[0][0] <= now:
            at, seq, contact, kind = heapq.heappop(self._heap)
            kinds = self._live.get(contact)
            if kinds is None or kinds.get(kind) != seq:
                continue  # replaced or cancelled
            del kinds[kind]
            if not kinds:
                del self._live[contact]
            fired.append(TimerDue(contact, kind, at))
        return fired

    def _run(self) -> None:
        while not self._stopped:
            for timer in self.due():
                self._deliver(timer)
            self._wake.clear()
            delay = 1.0
            if self._heap:
                delay = min(delay, max(0.0, self._heap[0][0] - self._clock()))
            self._wake.wait(delay)
