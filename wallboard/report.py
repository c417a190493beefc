"""Statistics reports (R-STATS) from the engine's events stream ``acd:{tenant}:events``
and routing's queue log ``acd:{tenant}:log`` (for the wrap-up taken).

:func:`read_facts` pages through the events stream, :func:`read_wrap_ups` measures
wrap-ups from the queue log, :func:`build_report` turns both into figures per queue and
per half hour, per queue and in all for the period, and per agent;
:mod:`wallboard.report_formats` writes them as CSV, JSON or HTML.

How the figures are counted (the choices a contact centre has to make, made here):

- **Each figure lands in the half hour its fact happened** (the fact's ``t``, in the
  report's time zone): a call queued at 09:29 and answered at 09:31 is offered in the
  09:00 half hour and answered in the 09:30 one. Half hours are local: on the day the
  clocks go back, 02:00+02:00 and 02:00+01:00 are two different half hours.
- **offered**, **answered**, **abandoned** as :mod:`wallboard.facts` counts them for the
  metrics and the wallboard too: offered = ``queued`` + ``transferred`` into the queue
  (R-PRIO; also counted as ``transferred_in``) + ``adopted`` only when the call is new to
  the queue. A transferred caller so counts as offered in each queue it entered; the
  totals are sums. answered = ``bridged`` (caller and agent talking, after the whisper);
  its ``wait`` is seconds since the caller's effective arrival, which a transfer keeps.
- **abandoned_short**: abandons with ``wait <=`` the queue's short-abandon seconds
  (default 5), counted apart and left out of the service level.
- **service_level**: :mod:`wallboard.service_level`, answered within the queue's target /
  (answered + abandoned - short abandons); ``None`` when nothing counts.
- **average_wait** and **p90_wait** over answered calls; the percentile is the
  *nearest-rank* one: the smallest wait that at least 90 % of the answered calls did not
  exceed (always an observed wait; with fewer than 10 calls it is the longest).
- **talk time** (``completed``, ``average_talk``): the ``completed`` facts and their
  ``handle`` field, seconds from the bridge to the hang-up or transfer (the engine's name;
  here it is called talk time, what it is; hold is not told apart: it is in the talk).
- **wrap-up taken**: from the agent's ``complete`` entry in the queue log to its next
  ``ready`` (routing logs ``ready`` only when a wrap-up timer ends) or, when the call's
  queue has wrap-up (``wrap_up_seconds`` > 0 in the configuration), its next ``pause`` or
  ``logout`` within that many seconds (a wrap-up cut short); else 0 (no wrap-up, e.g. the
  agent was paused during the call). A wrap-up still running at ``--to``, or a call whose
  ``complete`` entry is not in the log (trimmed), has no known wrap-up.
- **average handle time** (AHT, ``average_handle``) = talk + wrap-up taken, averaged over
  the completed calls whose wrap-up is known (``handle_known`` of them), in the half hour
  the call completed. (Contact-centre AHT is talk + hold + after-call work; hold is in
  the talk here.)
- **in progress at --to** (``in_progress``): answered in the period and not completed by
  its end. Such a call counts as answered (it was), in the half hour it was answered, and
  is left out of talk time and AHT (its talk is not over).
- **per agent**: answered (``bridged``), completed, in progress at ``--to``, talk time and
  wrap-up taken (sums, seconds), average talk and AHT.
- **rows**: every half hour of the period for every reported queue (the configured ones
  with ``--config``, else those with a fact in the period; ``--queue`` keeps some), zeros
  included, so a table or plot has no holes. A period that starts or ends inside a half
  hour gives that row only the part inside the period (its shown start or end is the
  period's).

Times are epoch seconds; durations are seconds. This module reads Redis and imports
nothing of the engine (layers: ``wallboard`` sits under ``acd``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis

from acd.errors import ACDError, ValidationError
from routing.keys import prefix
from wallboard.facts import COUNTED, Counted, FactEntry, FactFold, decode_entry, events_key
from wallboard.service_level import DEFAULT_RULE, ServiceLevelTarget, ratio

HALF_HOUR = 30
PERCENTILE = 90
# Stream ids are Redis's clock at XADD, a fact's ``t`` the engine's clock when it happened:
# the id is a little later (the write waits for the event's pipeline) and clocks differ.
# Ids are read this much beyond the period on both sides, then ``t`` decides.
ID_SLACK_SECONDS = 300.0
PAGE_SIZE = 1000


class ReportError(ACDError):
    """The events stream could not be read (Redis failed or a value is unusable)."""

    slug = "report"


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


def _after(entry_id: bytes) -> str:
    # The smallest id after ``entry_id``: XRANGE's "(" is Redis >= 6.2 only.
    millis, _, sequence = entry_id.decode().partition("-")
    return f"{millis}-{int(sequence or 0) + 1}"


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
    for entry_id, fields in _entries(
        client, events_key(tenant), start, end, page=page, slack=slack
    ):
        fact = decode_entry(fields)
        if fact is None:
            if skipped is not None:
                skipped.append(entry_id)
            continue
        if start <= fact.at < end:
            yield fact


def _entries(
    client: redis.Redis, key: str, start: float, end: float, *, page: int, slack: float
) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """Stream ``key``'s entries whose ids fall in ``[start, end]`` widened by ``slack``
    seconds, ``page`` per XRANGE. Raises :class:`ReportError` when Redis fails."""
    low = f"{max(0, math.floor((start - slack) * 1000))}-0"
    high = f"{math.ceil((end + slack) * 1000)}"
    while True:
        try:
            batch: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(  # type: ignore[assignment]
                key, low, high, count=page
            )
        except redis.RedisError as exc:
            raise ReportError(f"reading {key}: {exc}") from None
        yield from batch
        if len(batch) < page:
            return
        low = _after(batch[-1][0])


def log_key(tenant: str) -> str:
    """Routing's queue log of ``tenant`` (``acd:{tenant}:log``, docs/ARCHITECTURE.md)."""
    return prefix(tenant) + "log"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One queue-log entry: ``kind`` (``k``), ``agent`` (``a``), ``contact`` (``c``), ``at``
    (``t``, epoch seconds)."""

    kind: str
    agent: str
    contact: str
    at: float


def read_log(
    client: redis.Redis,
    tenant: str,
    start: float,
    end: float,
    *,
    page: int = PAGE_SIZE,
    slack: float = ID_SLACK_SECONDS,
) -> Iterator[LogEntry]:
    """The entries of ``tenant``'s queue log with ``start <= t < end`` (epoch seconds) and
    an agent, in log order, read ``page`` at a time (ids bounded by the period widened by
    ``slack``). Entries not in the documented shape are left out. Raises
    :class:`ReportError` when Redis fails."""
    for _entry_id, fields in _entries(client, log_key(tenant), start, end, page=page, slack=slack):
        try:
            values = {k.decode(): v.decode() for k, v in fields.items()}
            entry = LogEntry(values["k"], values["a"], values.get("c", ""), float(values["t"]))
        except (KeyError, ValueError, UnicodeDecodeError, AttributeError):
            continue
        if entry.agent and math.isfinite(entry.at) and start <= entry.at < end:
            yield entry


@dataclass(frozen=True, slots=True)
class AfterCall:
    """What the queue log says after an agent's ``complete``: when it was (``at``), and
    the agent's next entry (``next_kind``, ``gap`` seconds later), None when the log has
    none before ``--to``."""

    at: float
    next_kind: str | None = None
    gap: float = 0.0


def after_calls(entries: Iterable[LogEntry]) -> dict[tuple[str, str], AfterCall]:
    """``(agent, contact) -> AfterCall`` for every ``complete`` entry of ``entries``."""
    out: dict[tuple[str, str], AfterCall] = {}
    pending: dict[str, tuple[str, float]] = {}  # agent -> (contact, completed at)
    for entry in sorted(entries, key=lambda e: e.at):  # stable: log order at equal times
        before = pending.pop(entry.agent, None)
        if before is not None:
            contact, done = before
            out[(entry.agent, contact)] = AfterCall(done, entry.kind, entry.at - done)
        if entry.kind == "complete" and entry.contact:
            pending[entry.agent] = (entry.contact, entry.at)
            out[(entry.agent, entry.contact)] = AfterCall(entry.at)
    return out


def wrap_up_seconds(after: AfterCall, wrap: float | None) -> float | None:
    """The wrap-up taken after a call (seconds), from what the queue log says after its
    ``complete`` and the call's queue's configured ``wrap`` seconds (None: not known, no
    configuration). None when it cannot be known (see the module docstring)."""
    kind, gap = after.next_kind, after.gap
    if kind is None:
        return None  # still in wrap-up at --to (or the log ends): not known yet
    if kind == "ready":
        return gap  # a wrap-up timer ended
    if kind in ("pause", "logout") and wrap is not None and wrap > 0 and gap <= wrap:
        return gap  # a wrap-up cut short
    if wrap is None and kind in ("pause", "logout"):
        return None  # wrap-up or idle time? Without the queue's wrap-up, unknown
    return 0.0  # no wrap-up: the agent went straight on (a next offer, a pause later)


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
    in_progress: int = 0
    waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    handles: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.offered += other.offered
        self.transferred_in += other.transferred_in
        self.answered += other.answered
        self.answered_within_target += other.answered_within_target
        self.abandoned += other.abandoned
        self.abandoned_short += other.abandoned_short
        self.in_progress += other.in_progress
        self.waits += other.waits
        self.talks += other.talks
        self.handles += other.handles

    def figures(self) -> dict[str, int | float | None]:
        """The report's figures: counts, ``service_level`` (a ratio 0..1), and seconds
        (``average_wait``, ``p90_wait``, ``average_talk``, ``average_handle`` = AHT);
        ``None`` where undefined."""
        return {
            "offered": self.offered,
            "transferred_in": self.transferred_in,
            "answered": self.answered,
            "answered_within_target": self.answered_within_target,
            "abandoned": self.abandoned,
            "abandoned_short": self.abandoned_short,
            "service_level": ratio(
                self.answered_within_target, self.answered, self.abandoned, self.abandoned_short
            ),
            "average_wait": _mean(self.waits),
            "p90_wait": nearest_rank(self.waits, PERCENTILE),
            "in_progress": self.in_progress,
            "completed": len(self.talks),
            "average_talk": _mean(self.talks),
            "handle_known": len(self.handles),
            "average_handle": _mean(self.handles),
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class AgentTally:
    """One agent over the period: calls answered, completed and in progress at ``--to``;
    talk time of the completed calls and wrap-up taken after them (seconds); ``handles``
    (talk + wrap-up, seconds) of the calls whose wrap-up is known."""

    answered: int = 0
    completed: int = 0
    in_progress: int = 0
    talk_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    handles: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ReportOptions:
    """What to report: the period ``[start, end)`` in epoch seconds, shown in ``zone``;
    ``queues`` to keep (``None`` = all); the service-level rule of each queue (target and
    short-abandon seconds; ``default_target`` for the others); ``known_queues`` reported
    even with nothing to count; ``wrap_up`` seconds per queue. Raises
    :class:`~acd.errors.ValidationError` for an empty period."""

    start: float
    end: float
    zone: ZoneInfo
    queues: frozenset[str] | None = None
    targets: Mapping[str, ServiceLevelTarget] = field(default_factory=dict)
    default_target: ServiceLevelTarget = DEFAULT_RULE
    #: Queues reported even without a fact (the configured ones), zeros included.
    known_queues: frozenset[str] = frozenset()
    #: Each queue's configured ``wrap_up_seconds`` (for a wrap-up cut short; see above).
    wrap_up: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValidationError("empty period")

    def target(self, queue: str) -> ServiceLevelTarget:
        """``queue``'s service-level rule."""
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


def half_hours_of(start: float, end: float, zone: ZoneInfo) -> list[float]:
    """The starts (epoch seconds) of every local half hour in ``zone`` that overlaps the
    period ``[start, end)``, in order (the first may begin before ``start``)."""
    slots = []
    slot = half_hour_of(start, zone)
    while slot < end:
        slots.append(slot)
        slot = half_hour_of(slot + HALF_HOUR * 60, zone)
    return slots


def build_report(
    facts: Iterable[FactEntry],
    options: ReportOptions,
    log: Iterable[LogEntry] = (),
) -> Report:
    """Count ``facts`` and, for the wrap-up taken, the queue-log entries ``log`` (see the
    module docstring for what counts where). Facts outside the period or of other queues
    are ignored; a counted fact that lacks a field it needs (``queue``, ``wait``,
    ``handle``) is skipped and counted in ``Report.skipped``. Every half hour of the period
    gets a row for every reported queue, zeros included."""
    report = Report(options)
    counter = FactFold(options.targets, options.default_target)
    after = after_calls(log)
    talking: dict[str, tuple[str, str | None, float]] = {}  # contact -> (queue, agent, at)
    for fact in facts:
        if fact.kind not in COUNTED or not options.start <= fact.at < options.end:
            continue
        queue = fact.data.get("queue")
        if options.queues is not None and isinstance(queue, str) and queue not in options.queues:
            counter.seen(fact.kind, fact.data)  # an offer elsewhere still ends a duplicate
            continue
        try:
            counted = counter.count(fact.kind, fact.data)
        except ValueError:
            report.skipped += 1
            continue
        if counted is None:
            continue
        if counted.contact is not None:
            if counted.kind == "answered":
                talking[counted.contact] = (counted.queue, counted.agent, fact.at)
            elif counted.kind == "completed":
                talking.pop(counted.contact, None)
        _add(report, fact.at, counted, after)
    for queue, agent, at in talking.values():  # answered, not completed by --to
        _slot(report, queue, at).in_progress += 1
        if agent is not None:
            report.agents.setdefault(agent, AgentTally()).in_progress += 1
    reported = set(report.half_hours) | set(options.known_queues)
    if options.queues is not None:
        reported &= options.queues
    for queue in reported:
        slots = report.half_hours.setdefault(queue, {})
        for start in half_hours_of(options.start, options.end, options.zone):
            slots.setdefault(start, Tally())
    return report


def _slot(report: Report, queue: str, at: float) -> Tally:
    slots = report.half_hours.setdefault(queue, {})
    return slots.setdefault(half_hour_of(at, report.options.zone), Tally())


def _add(
    report: Report, at: float, counted: Counted, after: Mapping[tuple[str, str], AfterCall]
) -> None:
    tally = _slot(report, counted.queue, at)
    agent = counted.agent
    if counted.kind == "offered":
        tally.offered += 1
        tally.transferred_in += counted.transferred_in
    elif counted.kind == "answered":
        tally.answered += 1
        tally.answered_within_target += counted.within_target
        tally.waits.append(counted.wait)
        if agent is not None:
            report.agents.setdefault(agent, AgentTally()).answered += 1
    elif counted.kind == "abandoned":
        tally.abandoned += 1
        tally.abandoned_short += counted.short
    else:  # completed
        talk = counted.handle  # the engine's "handle": bridge to hang-up, i.e. talk time
        tally.talks.append(talk)
        wrap = None
        if agent is not None and counted.contact is not None:
            found = after.get((agent, counted.contact))
            if found is not None:
                wrap = wrap_up_seconds(found, report.options.wrap_up.get(counted.queue))
        if wrap is not None:
            tally.handles.append(talk + wrap)
        if agent is not None:
            mine = report.agents.setdefault(agent, AgentTally())
            mine.completed += 1
            mine.talk_seconds += talk
            if wrap is not None:
                mine.wrap_up_seconds += wrap
                mine.handles.append(talk + wrap)


def make_report(client: redis.Redis, tenant: str, options: ReportOptions) -> Report:
    """Read ``tenant``'s events stream and queue log for ``options``' period and count
    them. Raises :class:`ReportError` when Redis fails."""
    skipped: list[bytes] = []
    # The log is read whole for the period (only agents' entries): one entry per state
    # change, far fewer than the facts; the facts stream through.
    log = list(read_log(client, tenant, options.start, options.end))
    report = build_report(
        read_facts(client, tenant, options.start, options.end, skipped=skipped), options, log
    )
    report.skipped += len(skipped)
    return report
