"""What a live reload (R-LIVECONF, :mod:`acd.adapters.reload`) needs from the parts it
changes, kept apart so the runner and the wallboard can use it without importing the app.

- :class:`SwapGate`: the engine's event handlers hold it shared; a settings swap holds it
  alone, so no event is handled half with the old and half with the new settings. A
  handler yields inside (every Redis call does, under gevent), which is why swapping
  without yielding is not enough by itself.
- :class:`LiveConfig`: the configuration in force, for parts built once that must follow
  a reload (the wallboard, the metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

import gevent.event

if TYPE_CHECKING:
    from acd.config import Config


class SwapGate:
    """A readers-writer gate for greenlets that favours the writer.

    ``with gate:`` around one event's handling (cheap: a counter; it waits only while a
    swap is pending). :meth:`exclusive` closes the gate to new handlers, waits until the
    running ones are done, runs the swap, and opens the gate again. Not re-entrant: a
    handler must not enter it again (a pending swap would wait for it until its timeout)."""

    def __init__(self) -> None:
        self.active = 0
        self._closed: gevent.event.Event | None = None  # set while a swap is pending
        self._idle = gevent.event.Event()

    def __enter__(self) -> None:
        while self._closed is not None:
            self._closed.wait()
        self.active += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.active -= 1
        if self.active == 0 and self._closed is not None:
            self._idle.set()

    def exclusive(self, swap: Callable[[], None], timeout: float) -> bool:
        """Run ``swap`` (which must not yield) while no handler runs; new handlers wait
        meanwhile. Returns False, without running it, when the running handlers did not all
        finish within ``timeout`` seconds. Raises ``RuntimeError`` if called while another
        swap is pending (callers serialise their swaps)."""
        if self._closed is not None:
            raise RuntimeError("a swap is already pending")
        closed = gevent.event.Event()
        self._closed = closed
        self._idle.clear()
        try:
            if self.active and not self._idle.wait(timeout):
                return False
            swap()
            return True
        finally:
            self._closed = None
            closed.set()


class LiveConfig:
    """The configuration in force. :meth:`replace` installs a new one and calls every
    follower with it, in the order they were added; a follower that raises is not
    caught (the caller logs it: a reload reports what failed)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._followers: list[Callable[[Config], object]] = []

    def follow(self, follower: Callable[[Config], object]) -> None:
        """Call ``follower(new_config)`` after each :meth:`replace`."""
        self._followers.append(follower)

    def replace(self, config: Config) -> None:
        self.config = config
        for follower in self._followers:
            follower(config)
