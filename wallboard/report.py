"""Statistics reports (R-STATS) from the engine's events stream ``acd:{tenant}:events``.

:func:`read_facts` pages through the stream, :func:`build_report` turns the facts into
figures per queue and per half hour, per queue and in all for the period, and per agent;
:mod:`wallboard.report_formats` writes them as CSV, JSON or HTML.

How the figures are counted (the choices a contact centre has to make, made here):

- **Each figure lands in the half hour its fact happened** (the fact's ``t``, in the
  report's time zone): a call queued at 09:29 and answered at 09:31 is offered in the
  09:00 half hour and answered in the 09:30 one. Half hours are local: on the day the
  clocks go back, 02:00+02:00 and 02:00+01:00 are two different half hours.
- **offered**: a caller entering a queue: ``queued``, or ``adopted`` by a restarted engine
  (an ``adopted`` fact and the ``queued`` of the same arrival count once), or
  ``transferred`` into the queue (R-PRIO; also counted as ``transferred_in``). A
  transferred caller so counts as offered in each queue it entered; the totals are sums.
- **answered**: ``bridged`` (caller and agent talking, after the whisper). Its ``wait`` is
  seconds since the caller's effective arrival, which a transfer keeps.
- **abandoned**: ``abandoned``; **abandoned_short** those with ``wait <= short_abandon``
  seconds (default 5), counted apart and left out of the service level.
- **service_level** = answered with ``wait <= target`` / (answered + abandoned - short
  abandons); ``None`` when nothing was answered or abandoned. ``target`` is the queue's,
  in seconds (default 20).
- **average_wait** and **p90_wait** over answered calls; the percentile is the
  *nearest-rank* one: the smallest wait that at least 90 % of the answered calls did not
  exceed (always an observed wait; with fewer than 10 calls it is the longest).
- **completed** and **average_handle**: ``completed`` facts and their ``handle`` (seconds
  from the bridge to the hang-up or transfer, wrap-up not included).
- **per agent**: answered (``bridged``) and talk time (the sum of ``completed`` handles).

Times are epoch seconds; durations are seconds. This module reads Redis and imports
nothing of the engine (layers: ``wallboard`` sits under ``acd``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgpack
import redis

from acd.errors import ACDError, ValidationError
from routing.keys import prefix

DEFAULT_TIME_ZONE = "Europe/Stockholm"
DEFAULT_TARGET_SECONDS = 20.0
DEFAULT_SHORT_ABANDON_SECONDS = 5.0
HALF_HOUR = 30
PERCENTILE = 90
# Stream ids are Redis's clock at XADD, a fact's ``t`` the engine's clock when it happened:
# the id is a little later (the write waits for the event's pipeline) and clocks differ.
# Ids are read this much beyond the period on both sides, then ``t`` decides.
ID_SLACK_SECONDS = 300.0
PAGE_SIZE = 1000

OFFERING = frozenset({"queued", "adopted", "transferred"})
COUNTED = OFFERING | {"bridged", "abandoned", "completed"}


class ReportError(ACDError):
    """The events stream could not be read (Redis failed or a value is unusable)."""

    slug = "report"


@dataclass(frozen=True, slots=True)
class FactEntry:
    """One entry of the events stream: ``kind``, ``at`` (epoch seconds) and ``data``."""

    kind: str
    at: float
    data: Mapping[str, Any]


# ------------------------------------------------------------------ input


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Stockholm``); raises
    :class:`~acd.errors.ValidationError` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone: {name!r}") from None


def _moment(text: str, zone: ZoneInfo, *, end: bool) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        # A date is a whole local day: from its midnight, or to the next midnight.
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        if not end:
            return start
        following = day + timedelta(days=1)
        return datetime(following.year, following.month, following.day, tzinfo=zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"not an ISO date or date-time: {text!r} (e.g. 2026-11-28 or 2026-11-28T08:30)"
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def parse_period(start: str, end: str, zone: ZoneInfo) -> tuple[float, float]:
    """``(from, to)`` in epoch seconds, ``from`` included and ``to`` not, from ISO texts.

    A date is a whole local day in ``zone`` (``--from 2026-11-28 --to 2026-11-28`` is that
    day); a date-time without an offset is local time in ``zone``. Raises
    :class:`~acd.errors.ValidationError` for a text that is neither, or an empty period."""
    first = _moment(start, zone, end=False).timestamp()
    last = _moment(end, zone, end=True).timestamp()
    if last <= first:
        raise ValidationError(f"empty period: --to {end!r} is not after --from {start!r}")
    return first, last


# ------------------------------------------------------------------ reading


def events_key(tenant: str) -> str:
    """The events stream of ``tenant`` (docs/ENGINE.md, "The events stream")."""
    return prefix(tenant) + "events"


def _after(entry_id: bytes) -> str:
    # The smallest id after ``entry_id``: XRANGE's "(" is Redis >= 6.2 only.
    millis, _, sequence = entry_id.decode().partition("-")
    return f"{millis}-{int(sequence or 0) + 1}"


def _entry(fields: Mapping[bytes, bytes]) -> FactEntry | None:
    try:
        kind = fields[b"k"].decode()
        at = float(fields[b"t"])
        data = msgpack.unpackb(fields[b"d"], raw=False)
    except (KeyError, ValueError, UnicodeDecodeError, msgpack.UnpackException):
        return None
    if not isinstance(data, dict) or not math.isfinite(at):
        return None
    return FactEntry(kind, at, data)


def read_facts(
    client: redis.Redis,
    tenant: str,
    start: float,
    end: float,
    *,
    page: int = PAGE_SIZE,
    slack: float = ID_SLACK_SECONDS,
    skipped: list[bytes] | None = None,
) -> Iterator[FactEntry]:
    """The facts of ``tenant``'s events stream with ``start <= t < end`` (epoch seconds),
    in stream order, read ``page`` entries per XRANGE so a long period never sits in memory
    at once. Ids are bounded by the period widened by ``slack`` seconds. Entries that are
    not in the documented shape are left out, their ids appended to ``skipped``. Raises
    :class:`ReportError` when Redis fails."""
    key = events_key(tenant)
    low = f"{max(0, math.floor((start - slack) * 1000))}-0"
    high = f"{math.ceil((end + slack) * 1000)}"
    while True:
        try:
            batch: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(  # type: ignore[assignment]
                key, low, high, count=page
            )
        except redis.RedisError as exc:
            raise ReportError(f"reading {key}: {exc}") from None
        for entry_id, fields in batch:
            fact = _entry(fields)
            if fact is None:
                if skipped is not None:
                    skipped.append(entry_id)
                continue
            if start <= fact.at < end:
                yield fact
        if len(batch) < page:
            return
        low = _after(batch[-1][0])


# ------------------------------------------------------------------ figures


def nearest_rank(values: list[float], percent: float) -> float | None:
    """The nearest-rank ``percent`` percentile of ``values``: the value at rank
    ``ceil(percent / 100 * n)`` in ascending order; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Tally:
    """What one queue (or all) did in one half hour (or the whole period)."""

    offered: int = 0
    transferred_in: int = 0
    answered: int = 0
    answered_within_target: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    waits: list[float] = field(default_factory=list)
    handles: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.offered += other.offered
        self.transferred_in += other.transferred_in
        self.answered += other.answered
        self.answered_within_target += other.answered_within_target
        self.abandoned += other.abandoned
        self.abandoned_short += other.abandoned_short
        self.waits += other.waits
        self.handles += other.handles

    def figures(self) -> dict[str, int | float | None]:
        """The report's figures: counts, ``service_level`` (a ratio 0..1), and seconds
        (``average_wait``, ``p90_wait``, ``average_handle``); ``None`` where undefined."""
        counted = self.answered + self.abandoned - self.abandoned_short
        return {
            "offered": self.offered,
            "transferred_in": self.transferred_in,
            "answered": self.answered,
            "answered_within_target": self.answered_within_target,
            "abandoned": self.abandoned,
            "abandoned_short": self.abandoned_short,
            "service_level": self.answered_within_target / counted if counted else None,
            "average_wait": _mean(self.waits),
            "p90_wait": nearest_rank(self.waits, PERCENTILE),
            "completed": len(self.handles),
            "average_handle": _mean(self.handles),
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class AgentTally:
    """One agent over the period: calls answered and talk time (seconds)."""

    answered: int = 0
    completed: int = 0
    talk_seconds: float = 0.0


@dataclass(frozen=True)
class ReportOptions:
    """What to report: the period ``[start, end)`` in epoch seconds, shown in ``zone``;
    ``queues`` to keep (``None`` = all); service-level targets in seconds per queue
    (``default_target`` for the others); ``short_abandon`` seconds."""

    start: float
    end: float
    zone: ZoneInfo
    queues: frozenset[str] | None = None
    targets: Mapping[str, float] = field(default_factory=dict)
    default_target: float = DEFAULT_TARGET_SECONDS
    short_abandon: float = DEFAULT_SHORT_ABANDON_SECONDS

    def __post_init__(self) -> None:
        seconds = [self.default_target, self.short_abandon, *self.targets.values()]
        if any(not math.isfinite(s) or s < 0 for s in seconds):
            raise ValidationError("targets and short_abandon must be seconds >= 0")
        if not self.end > self.start:
            raise ValidationError("empty period")

    def target(self, queue: str) -> float:
        return self.targets.get(queue, self.default_target)


@dataclass
class Report:
    """The figures: ``half_hours[queue][start]`` (start of a local half hour, epoch
    seconds) and ``agents[agent]``; totals come from :meth:`queue_total` and
    :meth:`total`."""

    options: ReportOptions
    half_hours: dict[str, dict[float, Tally]] = field(default_factory=dict)
    agents: dict[str, AgentTally] = field(default_factory=dict)
    skipped: int = 0

    def queue_total(self, queue: str) -> Tally:
        total = Tally()
        for tally in self.half_hours[queue].values():
            total.add(tally)
        return total

    def total(self) -> Tally:
        total = Tally()
        for queue in self.half_hours:
            total.add(self.queue_total(queue))
        return total


def half_hour_of(at: float, zone: ZoneInfo) -> float:
    """The start (epoch seconds) of the local half hour in ``zone`` that holds ``at``."""
    local = datetime.fromtimestamp(at, zone)
    # replace() keeps tzinfo and fold, so a repeated hour on the day the clocks go back
    # maps to its own instant.
    floor = local.replace(minute=local.minute - local.minute % HALF_HOUR, second=0, microsecond=0)
    return floor.timestamp()


def _number(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(name)
    return float(value)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(name)
    return value


def build_report(facts: Iterable[FactEntry], options: ReportOptions) -> Report:
    """Count ``facts`` (see the module docstring for what counts where). Facts outside
    the period or of other queues are ignored; a counted fact that lacks a field it needs
    (``queue``, ``wait``, ``handle``) is skipped and counted in ``Report.skipped``."""
    report = Report(options)
    entered: dict[str, str] = {}  # contact -> the queue it last entered
    for fact in facts:
        if fact.kind not in COUNTED or not options.start <= fact.at < options.end:
            continue
        try:
            _count(report, fact, entered)
        except ValueError:
            report.skipped += 1
    return report


def _count(report: Report, fact: FactEntry, entered: dict[str, str]) -> None:
    options = report.options
    data = fact.data
    queue = _text(data, "queue")
    if options.queues is not None and queue not in options.queues:
        if fact.kind in OFFERING and isinstance(data.get("contact"), str):
            entered[data["contact"]] = queue
        return
    slots = report.half_hours.setdefault(queue, {})
    tally = slots.setdefault(half_hour_of(fact.at, options.zone), Tally())
    agent = data.get("agent")
    if fact.kind in OFFERING:
        contact = _text(data, "contact")
        if fact.kind != "transferred" and entered.get(contact) == queue:
            return  # the same arrival seen twice (adopted, then queued)
        entered[contact] = queue
        tally.offered += 1
        tally.transferred_in += fact.kind == "transferred"
    elif fact.kind == "bridged":
        wait = _number(data, "wait")
        tally.answered += 1
        tally.answered_within_target += wait <= options.target(queue)
        tally.waits.append(wait)
        if isinstance(agent, str):
            report.agents.setdefault(agent, AgentTally()).answered += 1
    elif fact.kind == "abandoned":
        wait = _number(data, "wait")
        tally.abandoned += 1
        tally.abandoned_short += wait <= options.short_abandon
    else:  # completed
        handle = _number(data, "handle")
        tally.handles.append(handle)
        if isinstance(agent, str):
            mine = report.agents.setdefault(agent, AgentTally())
            mine.completed += 1
            mine.talk_seconds += handle


def make_report(client: redis.Redis, tenant: str, options: ReportOptions) -> Report:
    """Read ``tenant``'s events stream for ``options``' period and count it. Raises
    :class:`ReportError` when Redis fails."""
    skipped: list[bytes] = []
    report = build_report(
        read_facts(client, tenant, options.start, options.end, skipped=skipped), options
    )
    report.skipped += len(skipped)
    return report
