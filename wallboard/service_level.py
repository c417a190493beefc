"""The service level of a queue: ONE definition for the metrics (gauge and counters), the
alert rules, the wallboard (engine and Prometheus modes) and the reports (R-WALLBOARD,
R-STATS).

    service level = answered within target / (answered + abandoned - short abandons)

* **answered within target**: calls bridged to an agent (``bridged``) after waiting at most
  the queue's ``target_seconds`` (``queues.<name>.service_level.target_seconds``, 20 s by
  default: the "80/20" of ``goal`` 0.8);
* **short abandons**: callers who hung up after waiting at most ``short_abandon_seconds``
  (default 5 s). Common contact-centre practice ("short abandons", a.k.a. *abandon
  grace*): they left before anyone could reasonably have answered (a misdial, a change
  of mind), so they count in neither the numerator nor the denominator. They are still
  counted as abandoned, and apart as ``abandoned_short``;
* undefined (``None``; NaN on a Prometheus gauge) while no call was answered and no
  abandon is counted.

Waits are seconds from the caller's effective arrival (a transfer keeps it). In PromQL the
same ratio comes from the counters of :mod:`wallboard.metrics` (:func:`promql`), exact
for several engines.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

DEFAULT_TARGET_SECONDS: Final = 20.0
DEFAULT_GOAL: Final = 0.8
DEFAULT_SHORT_ABANDON_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class ServiceLevelTarget:
    """One queue's service-level rule: ``target_seconds`` and ``short_abandon_seconds``
    (both seconds, finite and >= 0; ``ValueError`` otherwise)."""

    target_seconds: float = DEFAULT_TARGET_SECONDS
    short_abandon_seconds: float = DEFAULT_SHORT_ABANDON_SECONDS

    def __post_init__(self) -> None:
        for name in ("target_seconds", "short_abandon_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of seconds, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0 seconds, got {value!r}")

    def within(self, wait: float) -> bool:
        """Whether a call answered after ``wait`` seconds counts as within target."""
        return wait <= self.target_seconds

    def short(self, wait: float) -> bool:
        """Whether a caller who hung up after ``wait`` seconds is a short abandon."""
        return wait <= self.short_abandon_seconds


def ratio(within: float, answered: float, abandoned: float, short: float) -> float | None:
    """The service level (0..1) from counts: ``within`` answered within target of
    ``answered``; ``abandoned`` in all, ``short`` of them short abandons. ``None`` when
    the denominator is not positive (no call to judge yet)."""
    counted = answered + abandoned - short
    return min(1.0, max(0.0, within / counted)) if counted > 0 else None


def promql(window: str, selector: str = "") -> str:
    """The PromQL of the service level per queue over ``window`` (a PromQL duration,
    ``1h`` or ``3600s``) from the counters, summed over engines; ``selector`` is an
    optional label matcher such as ``{queue="support"}``. No sample while nothing counts
    (0 / 0 gives NaN, which compares false in alert rules)."""

    def increase(counter: str) -> str:
        return f"sum by (queue) (increase({counter}{selector}[{window}]))"

    return (
        f"{increase('acd_queue_answered_within_target_total')}"
        f" / ({increase('acd_queue_answered_total')}"
        f" + {increase('acd_queue_abandoned_total')}"
        f" - {increase('acd_queue_abandoned_short_total')})"
    )


#: The rule of a queue that sets none (20 s target, 5 s short abandons).
DEFAULT_RULE: Final = ServiceLevelTarget()


class RollingTally:
    """Answered and abandoned calls per queue over a rolling window, for :func:`ratio`.

    One tally per (second, queue) with running totals per queue: memory and the cost of
    :meth:`tallies` are bounded by the window's seconds, not its calls (one object per
    call held ~360,000 objects an hour at 100 calls/s, walked on every read and by every
    full garbage collection). A call counts while its second (``floor(at)``) is at or
    after ``now - window``. Not thread-safe: the caller locks."""

    def __init__(self) -> None:
        # (second, queue, [within, answered, abandoned, short]) in time order
        self._buckets: deque[tuple[int, str, list[int]]] = deque()
        self._open: dict[tuple[int, str], list[int]] = {}
        self._totals: dict[str, list[int]] = {}

    def __len__(self) -> int:
        """Tallies kept (one per second and queue)."""
        return len(self._buckets)

    def add(self, at: float, queue: str, *, answered: bool, within: bool, short: bool) -> None:
        """One call that ended waiting at ``at`` (epoch seconds): answered (``within`` its
        target or not) or abandoned (``short`` or not)."""
        second = math.floor(at)
        key = (second, queue)
        tally = self._open.get(key)
        if tally is None:
            tally = self._open[key] = [0, 0, 0, 0]
            self._buckets.append((second, queue, tally))
            if len(self._buckets) > 1 and self._buckets[-2][0] > second:
                # A late fact: keep the tallies in time order for expiry.
                self._buckets = deque(sorted(self._buckets, key=lambda b: b[0]))
        total = self._totals.setdefault(queue, [0, 0, 0, 0])
        for index, add in enumerate((within, answered, not answered, short)):
            tally[index] += add
            total[index] += add

    def tallies(self, now: float, window: float) -> dict[str, list[int]]:
        """queue -> ``[within target, answered, abandoned, short abandons]`` over the
        ``window`` seconds before ``now``; tallies older than the window are dropped."""
        start = now - window
        while self._buckets and self._buckets[0][0] < start:
            second, queue, tally = self._buckets.popleft()
            del self._open[(second, queue)]
            total = self._totals[queue]
            for index, value in enumerate(tally):
                total[index] -= value
        counts = {queue: list(total) for queue, total in self._totals.items()}
        for second, queue, tally in reversed(self._buckets):
            if second <= now:
                break
            for index, value in enumerate(tally):  # dated after ``now`` (injected clocks)
                counts[queue][index] -= value
        return counts
