"""Calendars: opening hours, public holidays, exceptions and timed messages (R-CALENDAR,
R-TIMEDMSG); the emergency message's feature code; what a closed queue does.

Example (times are the calendar's local wall clock, ``HH:MM-HH:MM``)::

    calendars:
      office:
        timezone: Europe/Stockholm
        hours: {mon-thu: ["08:00-12:00", "13:00-16:30"], fri: ["08:00-15:00"]}
        holidays: {country: SE, half_days: ["08:00-12:00"]}   # null: no public holidays
        exceptions:
          - {date: 2027-06-18, name: Staff day}                # closed all day
          - {from: 2027-12-27, to: 2027-12-30, hours: ["09:00-12:00"]}
        messages:
          - {prompt: meeting, weekly: {tue: ["09:00-10:00"]}}
          - {prompt: christmas, from: 2027-12-20, to: 2028-01-06}
    emergency: {prompt: emergency}     # *26 on, *27 off, after the admin PIN (admin.pin)
    queues:
      support:
        code: 1
        calendar: office
        closed: {message: night, then: voicemail, target: "4000"}

The semantics (which rule wins for a date, DST days) are in :mod:`acd.engine.calendar`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from acd.config.problems import CrossCheckError, Loc
from acd.config.types import (
    Frozen,
    FrozenMap,
    List,
    PromptId,
    QuotedNumber,
    text_check,
)
from acd.engine.calendar import (
    WEEKDAYS,
    CalendarError,
    CalendarException,
    Calendars,
    CalendarSpec,
    HalfDays,
    HolidaySource,
    Hours,
    Interval,
    TimedMessage,
    normalize_hours,
    parse_interval,
)
from acd.engine.hours import ClosedAction
from acd.engine.rules import FORWARD_NUMBER, VOICEMAIL_EXTENSION

MAX_EXCEPTION_DAYS = 366
"""Longest exception (one date range), in days."""


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a date is text like 2027-06-18, not {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


Date = Annotated[dt.date, PlainValidator(_date), PlainSerializer(str, return_type=str)]
"""A local date, ``YYYY-MM-DD``."""


def _interval(value: object) -> Interval:
    if isinstance(value, tuple):
        return value  # already parsed (model_copy)
    try:
        return parse_interval(value)  # type: ignore[arg-type]
    except CalendarError as exc:
        raise ValueError(str(exc)) from None


def _format(value: Interval) -> str:
    start, end = value
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


IntervalText = Annotated[Interval, PlainValidator(_interval), PlainSerializer(_format)]
"""``HH:MM-HH:MM`` local wall-clock time, the end after the start (``24:00`` allowed)."""


def _weekdays(key: str) -> tuple[int, ...]:
    """``mon`` -> (0,), ``mon-fri`` -> (0..4); raises ``ValueError``."""
    first, sep, last = key.partition("-")
    try:
        start = WEEKDAYS.index(first)
        end = WEEKDAYS.index(last) if sep else start
    except ValueError:
        raise ValueError(
            f"{key!r}: a weekday ({', '.join(WEEKDAYS)}) or a range like mon-fri"
        ) from None
    if end < start:
        raise ValueError(f"{key!r}: a range runs forward within one week (mon-fri)")
    return tuple(range(start, end + 1))


weekday_range = _weekdays  # public: rules name weekdays the way calendars do


WeeklyHours = FrozenMap[str, List[IntervalText]]
"""``{weekday or range: [intervals]}``: ``mon``..``sun`` or ``mon-fri``; a day not named
is closed; a day may be named only once."""


def _weekly(given: WeeklyHours, loc: Loc, problems: list[tuple[Loc, str]]) -> dict[int, Hours]:
    days: dict[int, Hours] = {}
    for key, intervals in given.items():
        try:
            numbers = _weekdays(key)
        except ValueError as exc:
            problems.append(((*loc, key), str(exc)))
            continue
        for number in numbers:
            if number in days:
                problems.append(((*loc, key), f"{WEEKDAYS[number]} is named twice"))
            days[number] = normalize_hours(intervals)
    return days


class HolidaySettings(Frozen):
    """Public holidays from the ``holidays`` package."""

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "SE"
    """ISO 3166-1 alpha-2 code (SE, NO, DE...)."""
    subdivision: Annotated[str, Field(pattern=r"^[A-Z0-9-]{1,8}$")] | None = None
    """The package's subdivision code (a German Land, a US state...); null: the nation."""
    half_days: Literal["closed", "open"] | List[IntervalText] = "closed"
    """Half-days (Sweden: Midsummer Eve, Christmas Eve, New Year's Eve): ``closed``,
    ``open`` (the weekday's usual hours) or shortened hours, e.g. ``["08:00-12:00"]``."""
    half_day_category: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] | None = None
    """The package's category that lists half-days; null: ``de_facto`` or ``half_day``,
    whichever the country has."""

    def source(self) -> HolidaySource:
        half: HalfDays = (
            self.half_days if isinstance(self.half_days, str) else normalize_hours(self.half_days)
        )
        return HolidaySource(self.country, self.subdivision, half, self.half_day_category)


class ExceptionSettings(Frozen):
    """A closed day or special hours: ``date``, or ``from``..``to`` (inclusive, at most
    366 days). No ``hours`` (or ``[]``): closed all day; else open only in ``hours``."""

    date: Date | None = None
    from_: Date | None = Field(default=None, alias="from")
    to: Date | None = None
    hours: List[IntervalText] = ()
    name: Annotated[str, text_check(200)] = "exception"

    @model_validator(mode="after")
    def _check(self) -> ExceptionSettings:
        problems: list[tuple[Loc, str]] = []
        if self.date is not None and (self.from_ is not None or self.to is not None):
            problems.append((("date",), "give date, or from and to, not both"))
        elif self.date is None and self.from_ is None:
            problems.append((("date",), "a date (or from and to) is needed"))
        elif self.date is None and self.to is not None and self.from_ is not None:
            if self.to < self.from_:
                problems.append((("to",), "is before from"))
            elif (self.to - self.from_).days >= MAX_EXCEPTION_DAYS:
                problems.append((("to",), f"an exception spans at most {MAX_EXCEPTION_DAYS} days"))
        if problems:
            raise CrossCheckError(problems)
        return self

    def exception(self) -> CalendarException:
        first = self.date if self.date is not None else self.from_
        assert first is not None
        last = self.date if self.date is not None else (self.to or first)
        return CalendarException(first, last, normalize_hours(self.hours), self.name)


class MessageSettings(Frozen):
    """A timed message (R-TIMEDMSG): ``prompt`` plays to waiting callers, before the
    first position announcement, inside ``weekly`` and/or between ``from`` and ``to``."""

    prompt: PromptId
    weekly: WeeklyHours | None = None
    from_: Date | None = Field(default=None, alias="from")
    to: Date | None = None

    @model_validator(mode="after")
    def _check(self) -> MessageSettings:
        problems: list[tuple[Loc, str]] = []
        if self.weekly is None and self.from_ is None and self.to is None:
            problems.append(((), "needs weekly, or from/to, or both"))
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            problems.append((("to",), "is before from"))
        if self.weekly is not None:
            _weekly(self.weekly, ("weekly",), problems)
        if problems:
            raise CrossCheckError(problems)
        return self

    def message(self) -> TimedMessage:
        weekly = None
        if self.weekly is not None:
            weekly = _weekly(self.weekly, (), [])
        return TimedMessage(self.prompt, weekly, self.from_, self.to)


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone (e.g. Europe/Stockholm): {value!r}") from None
    return value


class CalendarSettings(Frozen):
    """One calendar (the key is its name)."""

    timezone: Annotated[str, PlainValidator(_zone)] = "Europe/Stockholm"
    """An IANA time zone; every time of this calendar is local wall-clock time there."""
    hours: WeeklyHours = Field(default_factory=dict)
    holidays: HolidaySettings | None = HolidaySettings()
    """Null: no public holidays (only the weekly hours and the exceptions)."""
    exceptions: List[ExceptionSettings] = ()
    messages: List[MessageSettings] = ()

    @model_validator(mode="after")
    def _check(self) -> CalendarSettings:
        problems: list[tuple[Loc, str]] = []
        _weekly(self.hours, ("hours",), problems)
        if problems:
            raise CrossCheckError(problems)
        try:
            # Loads the zone and the holiday tables: an unknown country or subdivision is
            # refused when the file is read, not at the first call.
            Calendars({"check": self.spec("check")})
        except CalendarError as exc:
            raise CrossCheckError([(("holidays",), str(exc).split(": ", 1)[-1])]) from None
        return self

    def spec(self, name: str) -> CalendarSpec:
        weekly = _weekly(self.hours, (), [])
        return CalendarSpec(
            name=name,
            timezone=self.timezone,
            weekly=tuple(weekly.get(d, ()) for d in range(7)),
            holidays=self.holidays.source() if self.holidays is not None else None,
            exceptions=tuple(e.exception() for e in self.exceptions),
            messages=tuple(m.message() for m in self.messages),
        )


class ClosedSettings(Frozen):
    """What a caller of a queue whose calendar is closed (or a holiday) gets: the
    ``message`` prompt (null: none), then ``hangup``, ``voicemail`` (``target``: a
    voicemail box, 1-16 digits) or ``forward`` (``target``: a number, 2-20 digits with an
    optional leading '+', in quotes). Both go where a rule's actions go: the shipped
    dialplan's ``acd-voicemail-<box>`` and ``acd-forward-<number>`` extensions."""

    message: PromptId | None = "night"
    then: Literal["hangup", "voicemail", "forward"] = "hangup"
    target: Annotated[str, QuotedNumber] | None = None

    @model_validator(mode="after")
    def _check(self) -> ClosedSettings:
        if self.then != "hangup" and self.target is None:
            raise CrossCheckError([(("target",), f"{self.then} needs a target")])
        pattern = {"voicemail": VOICEMAIL_EXTENSION, "forward": FORWARD_NUMBER}.get(self.then)
        if pattern is not None and self.target is not None and not pattern.fullmatch(self.target):
            reason = (
                "a voicemail box: 1-16 digits"
                if self.then == "voicemail"
                else "a number to dial: 2-20 digits, optional leading '+'"
            )
            raise CrossCheckError([(("target",), reason)])
        return self

    def action(self) -> ClosedAction:
        return ClosedAction(self.message, self.then, self.target)


class EmergencySettings(Frozen):
    """The emergency message (R-TIMEDMSG): ``prompt`` is what the admin feature code
    ``*26`` switches on (after the admin PIN, ``admin.pin``: :mod:`acd.config.admin`)."""

    prompt: PromptId = "emergency"


__all__ = [
    "CalendarSettings",
    "ClosedSettings",
    "EmergencySettings",
    "ExceptionSettings",
    "HolidaySettings",
    "MessageSettings",
    "weekday_range",
]
