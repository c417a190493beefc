"""Opening hours, public holidays, exceptions and timed messages (R-CALENDAR, R-TIMEDMSG).

Pure: epoch seconds in, answers out. Every rule is in the calendar's own time zone
(zoneinfo) and on the wall clock: "08:00-17:00" is open from 08:00 to 17:00 local time
whatever the UTC offset that day. On the spring-forward day the skipped hour does not exist,
so a "02:00-03:00" window is empty that day; in autumn the repeated hour is inside a
"02:00-03:00" window both times (two real hours).

What decides a local date, first match wins:

1. an exception covering the date (config or admin API): ``hours`` empty -> ``holiday``
   all day (a closed day); else open inside its hours, ``closed`` outside;
2. a public holiday of the ``holidays`` package (country, subdivision; category
   ``public``) -> ``holiday``;
3. a half-day (the package's half-day category: Sweden's ``de_facto`` days are Midsummer
   Eve, Christmas Eve and New Year's Eve) -> as ``half_days`` says: ``closed``
   (``holiday`` all day), ``open`` (the weekday's usual hours) or its own hours (open
   inside, ``holiday`` outside);
4. the weekday's hours -> ``open`` inside, ``closed`` outside (no hours: closed all day).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import holidays as holidays_lib

CalendarState = Literal["open", "closed", "holiday"]

Interval = tuple[int, int]
"""``(start, end)`` in minutes after local midnight, ``0 <= start < end <= 1440``."""

Hours = tuple[Interval, ...]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

HalfDays = Literal["closed", "open"] | Hours


class CalendarError(ValueError):
    """A calendar value that cannot be used (bad interval, unknown time zone or country)."""


def parse_interval(text: str) -> Interval:
    """``"HH:MM-HH:MM"`` (end may be ``24:00``) as minutes after midnight. Raises
    :class:`CalendarError` for anything else, or an end not after the start (an interval
    over midnight is two intervals, one on each day)."""
    if not isinstance(text, str):
        raise CalendarError(f"an interval is text like '08:00-17:00', not {text!r}")
    start_text, sep, end_text = text.strip().partition("-")
    if not sep:
        raise CalendarError(f"{text!r}: expected 'HH:MM-HH:MM'")
    start, end = _minutes(start_text), _minutes(end_text)
    if start >= 1440 or end <= start:
        raise CalendarError(f"{text!r}: the end must be after the start on the same day")
    return start, end


def _minutes(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise CalendarError(f"{text!r}: expected HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise CalendarError(f"{text!r}: not a time of day (00:00..24:00)")
    return value


def format_interval(interval: Interval) -> str:
    start, end = interval
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def normalize_hours(intervals: Iterable[Interval]) -> Hours:
    """Sorted, overlapping and touching intervals merged."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _inside(hours: Hours, second_of_day: float) -> bool:
    return any(start * 60 <= second_of_day < end * 60 for start, end in hours)


@dataclass(frozen=True, slots=True)
class CalendarException:
    """Local dates ``first``..``last`` (inclusive): closed (``hours`` empty) or open only in
    ``hours``. ``name`` says why (shown by the admin API)."""

    first: dt.date
    last: dt.date
    hours: Hours = ()
    name: str = ""

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise CalendarError(f"exception {self.first}..{self.last}: the end is before the start")

    def covers(self, day: dt.date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """A prompt id played to waiting callers while active (R-TIMEDMSG): inside ``weekly``
    (weekday 0 = Monday -> hours) if given, and within ``first``..``last`` (local dates,
    inclusive) if given; at least one of the two is given."""

    prompt: str
    weekly: Mapping[int, Hours] | None = None
    first: dt.date | None = None
    last: dt.date | None = None

    def __post_init__(self) -> None:
        if self.weekly is None and self.first is None and self.last is None:
            raise CalendarError(f"timed message {self.prompt!r}: needs a weekly window or dates")

    def active(self, day: dt.date, second_of_day: float) -> bool:
        if self.first is not None and day < self.first:
            return False
        if self.last is not None and day > self.last:
            return False
        if self.weekly is None:
            return True
        return _inside(self.weekly.get(day.weekday(), ()), second_of_day)


@dataclass(frozen=True, slots=True)
class HolidaySource:
    """Public holidays from the ``holidays`` package: ``country`` (ISO 3166 code, default
    SE), ``subdivision`` (e.g. a German state), and what half-days do (see module doc).
    ``half_day_category``: the package's category listing half-days; None picks
    ``de_facto`` or ``half_day``, whichever the country has."""

    country: str = "SE"
    subdivision: str | None = None
    half_days: HalfDays = "closed"
    half_day_category: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """One calendar: ``weekly[d]`` are the hours of weekday ``d`` (0 = Monday)."""

    name: str
    timezone: str = "Europe/Stockholm"
    weekly: tuple[Hours, ...] = ((),) * 7
    holidays: HolidaySource | None = field(default_factory=HolidaySource)
    exceptions: tuple[CalendarException, ...] = ()
    messages: tuple[TimedMessage, ...] = ()


class _Compiled:
    """A spec with its zone and holiday tables loaded (tables fill a year at a time)."""

    __slots__ = ("half_days", "public", "spec", "zone")

    def __init__(self, spec: CalendarSpec) -> None:
        if len(spec.weekly) != 7:
            raise CalendarError(f"calendar {spec.name!r}: weekly needs 7 days")
        try:
            self.zone = zoneinfo.ZoneInfo(spec.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(
                f"calendar {spec.name!r}: unknown time zone {spec.timezone!r}"
            ) from exc
        self.spec = spec
        self.public: holidays_lib.HolidayBase | None = None
        self.half_days: holidays_lib.HolidayBase | None = None
        source = spec.holidays
        if source is not None:
            self.public = _holidays(spec.name, source, "public")
            category = source.half_day_category
            if category is None:
                supported = _categories(spec.name, source.country)
                category = next((c for c in ("de_facto", "half_day") if c in supported), None)
            if category is not None:
                self.half_days = _holidays(spec.name, source, category)

    def local(self, at: float) -> tuple[dt.date, float]:
        when = dt.datetime.fromtimestamp(at, self.zone)
        seconds = when.hour * 3600 + when.minute * 60 + when.second + when.microsecond / 1e6
        return when.date(), seconds

    def day(self, day: dt.date, extra: Sequence[CalendarException]) -> tuple[str, Hours, str]:
        """``(kind, hours, name)``: kind ``exception``/``holiday``/``half_day``/``weekday``;
        outside ``hours`` a weekday is closed and the other kinds are a holiday."""
        for exception in (*extra, *self.spec.exceptions):
            if exception.covers(day):
                return "exception", exception.hours, exception.name
        if self.public is not None and day in self.public:
            return "holiday", (), str(self.public.get(day))
        usual = self.spec.weekly[day.weekday()]
        if self.half_days is not None and day in self.half_days:
            assert self.spec.holidays is not None
            setting = self.spec.holidays.half_days
            name = str(self.half_days.get(day))
            if setting == "closed":
                return "half_day", (), name
            return "half_day", usual if setting == "open" else setting, name
        return "weekday", usual, ""


def _categories(calendar: str, country: str) -> tuple[str, ...]:
    import holidays as holidays_lib  # noqa: PLC0415 - 0.1 s: only where a calendar has holidays

    try:
        entity = holidays_lib.country_holidays(country)
    except NotImplementedError as exc:
        raise CalendarError(f"calendar {calendar!r}: {exc}") from exc
    return tuple(getattr(entity, "supported_categories", ("public",)))


def _holidays(calendar: str, source: HolidaySource, category: str) -> holidays_lib.HolidayBase:
    import holidays as holidays_lib  # noqa: PLC0415 - 0.1 s: only where a calendar has holidays

    try:
        return holidays_lib.country_holidays(
            source.country, subdiv=source.subdivision, categories=(category,)
        )
    except (NotImplementedError, ValueError) as exc:
        raise CalendarError(f"calendar {calendar!r}: {exc}") from exc


class Calendars:
    """Every configured calendar by name. ``extra`` adds exceptions per calendar (those
    entered through the admin API); they come before the file's.

    Raises :class:`CalendarError` for an unknown time zone, country, subdivision or
    half-day category; :meth:`state` and :meth:`timed_messages` raise ``KeyError`` for an
    unknown calendar name."""

    def __init__(
        self,
        specs: Mapping[str, CalendarSpec],
        extra: Mapping[str, Sequence[CalendarException]] | None = None,
    ) -> None:
        self.specs = dict(specs)
        self._compiled = {name: _Compiled(spec) for name, spec in self.specs.items()}
        self.extra: dict[str, tuple[CalendarException, ...]] = {}
        for name, given in (extra or {}).items():
            if name not in self.specs:
                raise KeyError(name)
            self.extra[name] = tuple(given)

    def __contains__(self, name: object) -> bool:
        return name in self._compiled

    def names(self) -> tuple[str, ...]:
        return tuple(self._compiled)

    def state(self, calendar: str, at: float) -> CalendarState:
        """``open``, ``closed`` or ``holiday`` at epoch second ``at`` (module doc)."""
        compiled = self._compiled[calendar]
        day, second = compiled.local(at)
        kind, hours, _name = compiled.day(day, self.extra.get(calendar, ()))
        if _inside(hours, second):
            return "open"
        if kind == "weekday" or (kind == "exception" and hours):
            return "closed"
        return "holiday"

    def day(self, calendar: str, day: dt.date) -> tuple[str, Hours, str]:
        """What decides local date ``day``: ``(kind, hours, name)``, kind one of
        ``exception``, ``holiday``, ``half_day``, ``weekday``."""
        return self._compiled[calendar].day(day, self.extra.get(calendar, ()))

    def timed_messages(self, calendar: str, at: float) -> tuple[str, ...]:
        """Prompt ids of the timed messages active at ``at``, in configured order."""
        compiled = self._compiled[calendar]
        if not compiled.spec.messages:
            return ()
        day, second = compiled.local(at)
        return tuple(m.prompt for m in compiled.spec.messages if m.active(day, second))

    def exceptions(self, calendar: str) -> tuple[CalendarException, ...]:
        """The API-entered exceptions, then the file's (``KeyError`` if unknown)."""
        return (*self.extra.get(calendar, ()), *self._compiled[calendar].spec.exceptions)

    def with_extra(self, calendar: str, extra: Sequence[CalendarException]) -> Calendars:
        """A copy whose API-entered exceptions of ``calendar`` are ``extra`` (the holiday
        tables are shared, not rebuilt)."""
        if calendar not in self._compiled:
            raise KeyError(calendar)
        copy = Calendars.__new__(Calendars)
        copy.specs = self.specs
        copy._compiled = self._compiled
        copy.extra = {**self.extra, calendar: tuple(extra)}
        return copy

    def today(self, calendar: str, at: float) -> dt.date:
        """The calendar's local date at ``at``."""
        return self._compiled[calendar].local(at)[0]


def weekly_from(days: Mapping[int, Hours]) -> tuple[Hours, ...]:
    """Seven days of hours from ``{weekday: hours}`` (missing days closed)."""
    return tuple(normalize_hours(days.get(d, ())) for d in range(7))


__all__ = [
    "WEEKDAYS",
    "CalendarError",
    "CalendarException",
    "CalendarSpec",
    "CalendarState",
    "Calendars",
    "HalfDays",
    "HolidaySource",
    "Hours",
    "Interval",
    "TimedMessage",
    "format_interval",
    "normalize_hours",
    "parse_interval",
    "weekly_from",
]
