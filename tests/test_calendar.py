"""Calendars (R-CALENDAR, R-TIMEDMSG): weekly hours in a time zone, public holidays,
half-days, exceptions far ahead, DST change days, timed messages, and the config checks.

Instants are built from UTC by hand (the UTC offsets of the zone on that day are known
facts), so the tests do not lean on the code's own local-time conversion."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.config import InvalidConfigError, parse_config
from acd.engine.calendar import (
    CalendarError,
    CalendarException,
    Calendars,
    CalendarSpec,
    HolidaySource,
    TimedMessage,
    format_interval,
    parse_interval,
    weekly_from,
)

UTC = dt.UTC
OFFICE = weekly_from({d: ((8 * 60, 17 * 60),) for d in range(5)})  # mon-fri 08-17


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def office(**changes: object) -> Calendars:
    spec = CalendarSpec("office", "Europe/Stockholm", OFFICE)
    fields = {f: getattr(spec, f) for f in spec.__dataclass_fields__}
    fields.update(changes)
    return Calendars({"office": CalendarSpec(**fields)})


def test_weekly_hours_in_the_calendars_zone_not_the_machines_r_calendar() -> None:
    cal = office()
    # Monday 2027-03-01, Stockholm is UTC+1: 08:00 local = 07:00 UTC.
    assert cal.state("office", utc(2027, 3, 1, 6, 59, 59)) == "closed"
    assert cal.state("office", utc(2027, 3, 1, 7, 0)) == "open"
    assert cal.state("office", utc(2027, 3, 1, 15, 59, 59)) == "open"
    assert cal.state("office", utc(2027, 3, 1, 16, 0)) == "closed"
    # Summer time (UTC+2): 08:00 local = 06:00 UTC.
    assert cal.state("office", utc(2027, 6, 1, 6, 0)) == "open"
    assert cal.state("office", utc(2027, 6, 1, 5, 59)) == "closed"
    # Saturday: no hours.
    assert cal.state("office", utc(2027, 3, 6, 10, 0)) == "closed"
    # The same hours in New York (UTC-5 in January).
    ny = Calendars({"ny": CalendarSpec("ny", "America/New_York", OFFICE, holidays=None)})
    assert ny.state("ny", utc(2027, 1, 4, 12, 59)) == "closed"
    assert ny.state("ny", utc(2027, 1, 4, 13, 0)) == "open"


def test_spring_forward_skipped_hour_window_never_opens_r_calendar() -> None:
    """2027-03-28, Stockholm: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A "02:00-03:00"
    window does not exist that day; a wider window lasts one real hour less."""
    sunday = {6: ((2 * 60, 3 * 60),)}
    cal = office(weekly=weekly_from(sunday), holidays=None)
    assert cal.state("office", utc(2027, 3, 21, 1, 30)) == "open"  # a week before: 02:30 CET
    minute = utc(2027, 3, 27, 22, 0)
    while minute < utc(2027, 3, 28, 4, 0):
        assert cal.state("office", minute) == "closed", dt.datetime.fromtimestamp(minute, UTC)
        minute += 60
    wide = office(weekly=weekly_from({6: ((60, 4 * 60),)}), holidays=None)
    assert wide.state("office", utc(2027, 3, 27, 23, 59)) == "closed"  # 00:59 CET
    assert wide.state("office", utc(2027, 3, 28, 0, 0)) == "open"  # 01:00 CET
    assert wide.state("office", utc(2027, 3, 28, 1, 59)) == "open"  # 03:59 CEST
    assert wide.state("office", utc(2027, 3, 28, 2, 0)) == "closed"  # 04:00 CEST


def test_fall_back_repeated_hour_is_inside_the_window_both_times_r_calendar() -> None:
    """2027-10-31, Stockholm: 03:00 CEST falls back to 02:00 CET (01:00 UTC): 02:00-03:00
    local happens twice, 00:00-02:00 UTC, and the window is open through both."""
    cal = office(weekly=weekly_from({6: ((2 * 60, 3 * 60),)}), holidays=None)
    assert cal.state("office", utc(2027, 10, 30, 23, 59)) == "closed"  # 01:59 CEST
    assert cal.state("office", utc(2027, 10, 31, 0, 0)) == "open"  # 02:00 CEST
    assert cal.state("office", utc(2027, 10, 31, 0, 59)) == "open"  # 02:59 CEST
    assert cal.state("office", utc(2027, 10, 31, 1, 0)) == "open"  # 02:00 CET, again
    assert cal.state("office", utc(2027, 10, 31, 1, 59)) == "open"  # 02:59 CET
    assert cal.state("office", utc(2027, 10, 31, 2, 0)) == "closed"  # 03:00 CET


def test_swedish_public_holiday_closes_a_working_day_r_calendar() -> None:
    cal = office()
    # Ascension Day, Thursday 2027-05-06, 10:00 CEST = 08:00 UTC.
    assert cal.state("office", utc(2027, 5, 6, 8, 0)) == "holiday"
    assert cal.state("office", utc(2027, 5, 5, 8, 0)) == "open"
    assert cal.day("office", dt.date(2027, 5, 6))[0] == "holiday"
    # No holidays configured: an ordinary Thursday.
    assert office(holidays=None).state("office", utc(2027, 5, 6, 8, 0)) == "open"
    # Another country's holidays: Norway's Constitution Day, Monday 2027-05-17.
    norway = office(holidays=HolidaySource("NO"))
    assert norway.state("office", utc(2027, 5, 17, 8, 0)) == "holiday"
    assert cal.state("office", utc(2027, 5, 17, 8, 0)) == "open"


@pytest.mark.parametrize(
    ("half_days", "at_ten", "at_two"),
    [
        ("closed", "holiday", "holiday"),
        ("open", "open", "open"),
        (((480, 720),), "open", "holiday"),
    ],
    ids=["closed", "open", "shortened-08-12"],
)
def test_half_days_midsummer_and_christmas_eve_as_configured_r_calendar(
    half_days: object, at_ten: str, at_two: str
) -> None:
    cal = office(holidays=HolidaySource("SE", half_days=half_days))  # type: ignore[arg-type]
    # Christmas Eve, Friday 2027-12-24 (UTC+1); Midsummer Eve, Friday 2027-06-25 (UTC+2).
    assert cal.state("office", utc(2027, 12, 24, 9, 0)) == at_ten
    assert cal.state("office", utc(2027, 12, 24, 13, 0)) == at_two
    assert cal.state("office", utc(2027, 6, 25, 8, 0)) == at_ten
    assert cal.state("office", utc(2027, 6, 25, 12, 0)) == at_two
    # The Friday before is an ordinary day whatever half_days says.
    assert cal.state("office", utc(2027, 12, 17, 13, 0)) == "open"


ZONES = ("Europe/Stockholm", "America/New_York", "Australia/Sydney", "Asia/Tokyo")


@settings(max_examples=60, deadline=None)
@given(
    days_ahead=st.integers(365, 800),
    minute=st.integers(10 * 60, 20 * 60 - 1),  # clear of every DST change hour
    zone=st.sampled_from(ZONES),
    special=st.booleans(),
)
def test_exception_a_year_and_more_ahead_in_any_zone_r_calendar(
    days_ahead: int, minute: int, zone: str, special: bool
) -> None:
    """A closed day (or special hours 12:00-14:00) entered 12+ months ahead holds all that
    local day, in the calendar's zone, and not the day after."""
    day = dt.date(2026, 11, 29) + dt.timedelta(days=days_ahead)
    hours = ((12 * 60, 14 * 60),) if special else ()
    spec = CalendarSpec(
        "c",
        zone,
        weekly_from({d: ((0, 1440),) for d in range(7)}),  # open round the clock
        holidays=None,
        exceptions=(CalendarException(day, day, hours, "staff day"),),
    )
    cal = Calendars({"c": spec})
    tz = zoneinfo.ZoneInfo(zone)
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=tz)
    expected = "holiday"
    if special:
        expected = "open" if 12 * 60 <= minute < 14 * 60 else "closed"
    assert cal.state("c", local.timestamp()) == expected
    assert cal.state("c", (local + dt.timedelta(days=1)).timestamp()) == "open"


def test_api_exceptions_come_first_and_can_open_a_holiday_r_calendar() -> None:
    cal = office()
    christmas_eve = dt.date(2027, 12, 24)
    opened = cal.with_extra(
        "office", [CalendarException(christmas_eve, christmas_eve, ((540, 660),))]
    )
    assert cal.state("office", utc(2027, 12, 24, 9, 0)) == "holiday"
    assert opened.state("office", utc(2027, 12, 24, 9, 0)) == "open"  # 10:00 CET
    assert opened.state("office", utc(2027, 12, 24, 10, 0)) == "closed"  # 11:00 CET
    assert opened.exceptions("office")[0].first == christmas_eve
    assert cal.exceptions("office") == ()


def test_timed_messages_in_their_weekly_window_and_dates_r_timedmsg() -> None:
    meeting = TimedMessage("meeting", {1: ((9 * 60, 10 * 60),)})
    christmas = TimedMessage("christmas", None, dt.date(2027, 12, 20), dt.date(2028, 1, 6))
    cal = office(messages=(meeting, christmas))
    # Tuesday 2027-03-02, 09:30 CET = 08:30 UTC.
    assert cal.timed_messages("office", utc(2027, 3, 2, 8, 30)) == ("meeting",)
    assert cal.timed_messages("office", utc(2027, 3, 2, 9, 0)) == ()  # 10:00: over
    assert cal.timed_messages("office", utc(2027, 3, 3, 8, 30)) == ()  # Wednesday
    assert cal.timed_messages("office", utc(2027, 12, 21, 8, 30)) == ("meeting", "christmas")
    assert cal.timed_messages("office", utc(2028, 1, 6, 22, 59)) == ("christmas",)  # 23:59
    assert cal.timed_messages("office", utc(2028, 1, 6, 23, 0)) == ()  # Jan 7, 00:00


@given(st.integers(0, 1439), st.integers(1, 1440))
def test_interval_text_round_trips(start: int, length: int) -> None:
    end = min(1440, start + length)
    assert parse_interval(format_interval((start, end))) == (start, end)


@pytest.mark.parametrize("text", ["8-17", "08:00-07:00", "08:00", "25:00-26:00", "08:60-09:00"])
def test_bad_interval_refused(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_interval(text)


def test_unknown_zone_or_country_refused() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        Calendars({"x": CalendarSpec("x", "Mars/Olympus")})
    with pytest.raises(CalendarError, match="XX"):
        Calendars({"x": CalendarSpec("x", holidays=HolidaySource("XX"))})


BASE = """
calendars:
  office:
    timezone: Europe/Stockholm
    hours: {mon-fri: ["08:00-12:00", "13:00-16:30"]}
    holidays: {country: SE, half_days: ["08:00-12:00"]}
    exceptions:
      - {date: 2027-06-18, name: Staff day}
      - {from: 2027-12-27, to: 2027-12-30, hours: ["09:00-12:00"]}
    messages:
      - {prompt: meeting, weekly: {tue: ["09:00-10:00"]}}
queues:
  support: {code: 1, calendar: office, closed: {message: night, then: voicemail, target: "4000"}}
"""


def test_config_builds_the_engines_calendar_r_calendar() -> None:
    config = parse_config(BASE)
    spec = config.calendars["office"].spec("office")
    cal = Calendars({"office": spec})
    assert cal.state("office", utc(2027, 6, 18, 8, 0)) == "holiday"  # the staff day
    assert cal.state("office", utc(2027, 12, 28, 8, 30)) == "open"  # 09:30 special hours
    assert cal.state("office", utc(2027, 12, 28, 11, 30)) == "closed"
    assert cal.state("office", utc(2027, 3, 1, 11, 30)) == "closed"  # lunch 12:30 CET
    closed = config.queues["support"].closed
    assert closed is not None and (closed.then, closed.target) == ("voicemail", "4000")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("mon-fri: [", 'mon-fri: ["17:00-08:00", '), "calendars.office.hours.mon-fri[0]"),
        (("{mon-fri:", "{fri: [], mon-fri:"), "calendars.office.hours.mon-fri"),
        (("timezone: Europe/Stockholm", "timezone: Europe/Stokholm"), "calendars.office.timezone"),
        (("country: SE", "country: XX"), "calendars.office.holidays"),
        (("to: 2027-12-30", "to: 2027-12-20"), "calendars.office.exceptions[1].to"),
        (("date: 2027-06-18", "date: 2027-06-31"), "calendars.office.exceptions[0].date"),
        (("calendar: office", "calendar: ofice"), "queues.support.calendar"),
        (('then: voicemail, target: "4000"', "then: forward"), "queues.support.closed.target"),
        (('target: "4000"', "target: 4000"), "queues.support.closed.target"),
        (('then: voicemail, target: "4000"', 'then: forward, target: "4"'), "closed.target"),
    ],
)
def test_bad_calendar_config_names_the_place_r_calendar(
    change: tuple[str, str], where: str
) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    with pytest.raises(InvalidConfigError) as info:
        parse_config(text)
    assert where in str(info.value), str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    change=st.sampled_from([(dt.date(2027, 3, 28), 1, 2), (dt.date(2027, 10, 31), 2, 1)]),
    second=st.integers(-3 * 3600, 6 * 3600),
)
def test_dst_change_days_follow_the_wall_clock_at_every_second_r_calendar(
    change: tuple[dt.date, int, int], second: int
) -> None:
    """Stockholm changes at 01:00 UTC: the UTC offset is ``before`` hours until then and
    ``after`` hours from then. Any instant around the change is open exactly when its wall
    time (UTC plus that offset, worked out here by hand) is a Sunday 02:00-03:00."""
    day, before, after = change
    at = dt.datetime.combine(day, dt.time(), tzinfo=UTC).timestamp() + second
    offset = before if second < 3600 else after
    wall = dt.datetime.fromtimestamp(at, UTC).replace(tzinfo=None) + dt.timedelta(hours=offset)
    expected = "open" if wall.weekday() == 6 and wall.hour == 2 else "closed"
    cal = office(weekly=weekly_from({6: ((2 * 60, 3 * 60),)}), holidays=None)
    assert cal.state("office", at) == expected
