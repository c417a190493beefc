"""Exponential back-off with jitter, shared by reconnecting and by the resync signal.

A client that reconnects, or resyncs, as fast as a fault lets it turns one bad input into a
storm (a hundred reconnects a second against one FreeSWITCH). Both therefore wait
``minimum``, ``2 * minimum``, ``4 * minimum`` ... up to ``maximum`` seconds between tries,
each wait shortened by a random 0-50 % (jitter: many engines restarting together do not
knock in lockstep), and start again from ``minimum`` only after a quiet period.
"""

from __future__ import annotations

import random


class Backoff:
    """The waits of one retry policy, in seconds. Not thread-safe (one greenlet uses it)."""

    __slots__ = ("_base", "_maximum", "_minimum", "_rng")

    def __init__(self, minimum: float, maximum: float, rng: random.Random) -> None:
        """``0 < minimum <= maximum``, seconds; ``rng`` draws the jitter (seed it in tests).

        Raises ValueError for bounds that are not positive or not in order.
        """
        if not 0 < minimum <= maximum:
            raise ValueError(f"back-off bounds must satisfy 0 < min <= max: {minimum}, {maximum}")
        self._minimum = minimum
        self._maximum = maximum
        self._rng = rng
        self._base = minimum

    @property
    def base(self) -> float:
        """The un-jittered wait that :meth:`next_delay` will draw from next (seconds)."""
        return self._base

    def next_delay(self) -> float:
        """The next wait: a random 50-100 % of the current base; then the base doubles
        (capped at ``maximum``)."""
        base = self._base
        self._base = min(base * 2, self._maximum)
        return base * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        """Start again from ``minimum`` (after a quiet period)."""
        self._base = self._minimum
