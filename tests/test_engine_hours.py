"""Closed hours, timed messages and the emergency message through the simulator, Redis and
the admin API (R-CALENDAR, R-TIMEDMSG)."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from functools import partial
from typing import Any

import gevent
import pytest
import redis

from acd.adapters.hours import HOURS_LANE, HoursStore, HoursWatcher, hours_blueprint
from acd.adapters.http import AdminApi
from acd.config import parse_config
from acd.config.endpoints import ApiToken
from acd.config.entries import menu_book
from acd.engine.calendar import (
    CalendarException,
    Calendars,
    CalendarSpec,
    TimedMessage,
    weekly_from,
)
from acd.engine.events import HoursChanged
from acd.engine.hours import ClosedAction, HoursSettings, QueueHours, calendars
from acd.engine.policy import hash_pin
from freeswitch.media import Playable, SoundFile
from freeswitch.sim.events import SimEvent
from tests.engine_harness import SIM_CONFIG, Harness, Start, default_settings
from tests.http_api import validate_answer

ANSWERED_CALLER = "7000"  # support (sv), answered
ZONE = "America/New_York"  # not the machine's (UTC)
ALWAYS = weekly_from({d: ((0, 1440),) for d in range(7)})
NEVER = weekly_from({})
ADMIN_PIN = "7391"
HANGUP = ClosedAction()
ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcd"


def prompt(prompt_id: str, language: str) -> Playable:
    if prompt_id == "missing" or (prompt_id == "only_sv" and language != "sv"):
        raise LookupError(f"no prompt {prompt_id!r}")
    return SoundFile(f"/srv/acd-prompts/{language}/{prompt_id}.wav")


def hours(
    weekly: tuple[tuple[tuple[int, int], ...], ...] = ALWAYS,
    *,
    closed: ClosedAction = HANGUP,
    **spec: Any,
) -> HoursSettings:
    calendar = CalendarSpec("office", ZONE, weekly, holidays=None, **spec)
    return HoursSettings(
        calendars=Calendars({"office": calendar}),
        queues={"support": QueueHours("office", closed)},
        prompt=prompt,
        admin_pin_sha256=hash_pin(ADMIN_PIN),
        languages=("sv", "en"),
    )


def run(start: Start, settings: HoursSettings | None) -> Harness:
    return start(settings=replace(default_settings(), hours=settings))


def starts(acd: Harness) -> dict[str, list[str]]:
    """PLAYBACK_START paths per channel, as the simulator plays them."""
    seen: dict[str, list[str]] = {}

    def hook(event: SimEvent) -> None:
        if event.name == "PLAYBACK_START" and event.unique_id:
            seen.setdefault(event.unique_id, []).append(event.get("Playback-File-Path") or "")

    acd.sim.on_event(hook)
    return seen


def broadcasts(acd: Harness, caller: str) -> list[str]:
    prefix = f"api uuid_broadcast {caller} "
    return [
        line.split(" ")[3] for line in list(acd.sim.commands_received) if line.startswith(prefix)
    ]


def gone(acd: Harness, uuid: str) -> bool:
    return uuid not in acd.sim.channels


@pytest.mark.parametrize("why", ["closed", "holiday"])
def test_closed_queue_plays_night_message_then_hangs_up_never_queued_r_calendar(
    start: Start, why: str
) -> None:
    if why == "closed":
        settings = hours(NEVER)
    else:
        today = dt.datetime.now(dt.UTC).date()
        day_off = CalendarException(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
        settings = hours(ALWAYS, exceptions=(day_off,))
    acd = run(start, settings)
    played = starts(acd)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    refused = acd.wait_fact("closed_hours", contact=caller)
    assert (refused.data["state"], refused.data["queue"]) == (why, "support")
    assert acd.wait(lambda: gone(acd, caller))
    night = "/srv/acd-prompts/sv/night.wav"
    assert played.get(caller) == [night]
    sent = acd.requests_to(caller)
    plays = [i for i, line in enumerate(sent) if "execute-app-name: playback" in line]
    hangs = [i for i, line in enumerate(sent) if "execute-app-name: hangup" in line]
    assert plays and hangs and plays[0] < hangs[0], sent
    assert not acd.kinds("queued")
    assert caller not in acd.router.snapshot().contacts


def test_closed_queue_transfers_to_voicemail_after_the_night_message_r_calendar(
    start: Start,
) -> None:
    """R-CALENDAR: the night message, then the same voicemail path as a rule's action
    (the shipped dialplan's acd-voicemail-<box> extension of the acd context)."""
    closed = ClosedAction("night", "voicemail", "4000")
    acd = run(start, hours(NEVER, closed=closed))
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("closed_hours", contact=caller)
    assert acd.wait(lambda: any("acd-voicemail-4000 XML acd" in s for s in acd.requests_to(caller)))
    sent = acd.requests_to(caller)
    order = [
        "playback" if "app-name: playback" in s else "transfer"
        for s in sent
        if "app-name: playback" in s or "app-name: transfer" in s
    ]
    assert order == ["playback", "transfer"], sent


def test_open_queue_queues_the_caller_as_without_calendar_r_calendar(start: Start) -> None:
    acd = run(start, hours(ALWAYS))
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=caller)
    assert not acd.kinds("closed_hours")
    assert not [b for b in broadcasts(acd, caller) if "acd-prompts" in b]


def test_timed_message_before_the_position_announcement_in_its_window_once_r_timedmsg(
    start: Start,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    window = TimedMessage(
        "meeting", None, today - dt.timedelta(days=2), today + dt.timedelta(days=2)
    )
    later = TimedMessage("not-yet", None, today + dt.timedelta(days=30))
    settings = replace(
        default_settings(announce_every=0.3), hours=hours(ALWAYS, messages=(window, later))
    )
    acd = start(settings=settings)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=caller)

    def positions() -> int:
        return sum(b.startswith("phrase::acd_position") for b in broadcasts(acd, caller))

    assert acd.wait(lambda: positions() >= 3)
    sent = broadcasts(acd, caller)
    assert sent[0] == "/srv/acd-prompts/sv/meeting.wav", sent
    assert sent[1].startswith("phrase::acd_position"), sent
    assert sent.count("/srv/acd-prompts/sv/meeting.wav") == 1, sent  # once per caller
    assert not [b for b in sent if "not-yet" in b]


def test_emergency_message_first_for_new_callers_while_on_r_timedmsg(start: Start) -> None:
    """On: the new caller hears it before the announcement; also a caller of a closed
    queue, before the night message. Off: not at all."""
    acd = run(start, hours(ALWAYS))
    acd.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
    assert acd.wait(lambda: acd.engine.hours_state.emergency == "emergency")
    played = starts(acd)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=caller)
    assert acd.wait(lambda: len(played.get(caller, [])) >= 2)
    assert played[caller][0] == "/srv/acd-prompts/sv/emergency.wav"
    assert broadcasts(acd, caller)[0] == "/srv/acd-prompts/sv/emergency.wav"

    acd.runner.post(HOURS_LANE, HoursChanged(None, {}, time.time()))
    assert acd.wait(lambda: acd.engine.hours_state.emergency is None)
    second = acd.sim.place_call("0701000002", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=second)
    assert acd.wait(lambda: bool(broadcasts(acd, second)))
    assert not [b for b in broadcasts(acd, second) if "emergency" in b]


def test_emergency_before_the_night_message_r_timedmsg(start: Start) -> None:
    acd = run(start, hours(NEVER))
    acd.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
    assert acd.wait(lambda: acd.engine.hours_state.emergency == "emergency")
    played = starts(acd)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    assert acd.wait(lambda: gone(acd, caller))
    assert played.get(caller) == [
        "/srv/acd-prompts/sv/emergency.wav",
        "/srv/acd-prompts/sv/night.wav",
    ]


def _emergency_is(acd: Harness, prompt: str | None) -> bool:
    return acd.engine.hours_state.emergency == prompt


def test_emergency_state_in_redis_reaches_every_engine_r_timedmsg(
    start: Start, redis_client: redis.Redis, tenant: str
) -> None:
    """Switched on in Redis (as the API of any engine process does), each engine's watcher
    posts it; two engines on the same tenant both play it to their next caller."""
    first, second = run(start, hours(ALWAYS)), run(start, hours(ALWAYS))
    watchers = [
        HoursWatcher(HoursStore(redis_client, tenant), h.runner, 0.05) for h in (first, second)
    ]
    for watcher in watchers:
        watcher.start()
    try:
        HoursStore(redis_client, tenant).set_emergency("emergency", "test")
        for acd in (first, second):
            assert acd.wait(partial(_emergency_is, acd, "emergency"))
        caller = second.sim.place_call("0701000001", ANSWERED_CALLER)
        assert second.wait(lambda: bool(broadcasts(second, caller)))
        assert broadcasts(second, caller)[0].endswith("/emergency.wav")
        HoursStore(redis_client, tenant).set_emergency(None, "test")
        assert first.wait(partial(_emergency_is, first, None))
    finally:
        for watcher in watchers:
            watcher.stop()


def test_admin_feature_code_switches_the_emergency_message_r_timedmsg(start: Start) -> None:
    acd = run(start, hours(ALWAYS))
    acd.feature_code("1001", "*26", ["1234", "1111", "2222"])  # three wrong PINs
    assert not acd.kinds("emergency")
    assert len(acd.kinds("login_failed")) == 3
    acd.feature_code("1001", "*26", [ADMIN_PIN])
    switched = acd.wait_fact("emergency").data
    assert switched["prompt"] == "emergency"
    assert switched["by"] == "feature-code:1001"  # which phone switched it (logged, Redis)
    acd.feature_code("1001", "*27", [ADMIN_PIN])
    assert acd.wait_fact("emergency", count=2).data["prompt"] is None


# ---------------------------------------------------------------------- the admin API


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(
        self, method: str, path: str, body: object = None, token: str = ADMIN
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)

        def send() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(req, timeout=10) as reply:
                    return reply.status, reply.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        status, content = gevent.get_hub().threadpool.apply(send)
        validate_answer(method, path, data, status, content)  # against the OpenAPI document
        return status, json.loads(content)


@pytest.fixture
def admin(start: Start, redis_client: redis.Redis, tenant: str) -> Any:
    yield from _admin_api(start, redis_client, tenant, hours(ALWAYS))


@pytest.fixture
def admin_with_file_exception(start: Start, redis_client: redis.Redis, tenant: str) -> Any:
    """The admin API over a calendar whose file has a closed day a month ahead."""
    day = dt.date.today() + dt.timedelta(days=30)
    file_day = CalendarException(day, day, (), "Staff day")
    yield from _admin_api(start, redis_client, tenant, hours(ALWAYS, exceptions=(file_day,)))


def _admin_api(
    start: Start, redis_client: redis.Redis, tenant: str, settings: HoursSettings
) -> Any:
    acd = run(start, settings)
    tokens = (
        ApiToken(token=ADMIN, role="admin", name="ops"),
        ApiToken(token=VIEWER, role="viewer", name="board"),
    )
    api = AdminApi(acd.runner, tokens, timeout=5.0)
    watcher = HoursWatcher(HoursStore(redis_client, tenant), acd.runner, 0.05)
    api.app.register_blueprint(hours_blueprint(api, watcher))
    port = api.start("127.0.0.1", 0)
    watcher.start()
    try:
        yield acd, Http(f"http://127.0.0.1:{port}")
    finally:
        watcher.stop()
        api.stop()


def test_emergency_on_and_off_with_one_api_call_r_timedmsg(admin: Any) -> None:
    acd, http = admin
    assert http("GET", "/api/admin/emergency") == (200, {"on": False})
    assert http("PUT", "/api/admin/emergency", {"prompt": "emergency"}, VIEWER)[0] == 403
    assert http("PUT", "/api/admin/emergency", {"prompt": "missing"})[0] == 400
    assert acd.engine.hours_state.emergency is None
    assert http("PUT", "/api/admin/emergency", {"prompt": "emergency"})[0] == 200
    assert acd.wait(lambda: acd.engine.hours_state.emergency == "emergency")
    status, state = http("GET", "/api/admin/emergency")
    assert (status, state["on"], state["prompt"], state["by"]) == (200, True, "emergency", "ops")
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    assert acd.wait(lambda: bool(broadcasts(acd, caller)))
    assert broadcasts(acd, caller)[0].endswith("/emergency.wav")
    assert http("DELETE", "/api/admin/emergency")[0] == 200
    assert acd.wait(lambda: acd.engine.hours_state.emergency is None)


def test_emergency_api_refuses_a_prompt_missing_in_a_language_naming_it_r_timedmsg(
    admin: Any,
) -> None:
    """Every caller hears the emergency message in its own language: a prompt recorded in
    Swedish only is refused, and the answer names the language it lacks."""
    acd, http = admin
    status, answer = http("PUT", "/api/admin/emergency", {"prompt": "only_sv"})
    assert status == 400 and "missing in language en" in answer["message"], answer
    assert "sv" not in answer["message"].split("missing in language")[1]
    assert acd.engine.hours_state.emergency is None
    status, answer = http("PUT", "/api/admin/emergency", {"prompt": "missing"})
    assert status == 400 and "missing in languages sv, en" in answer["message"], answer


def test_exceptions_api_refuses_past_dates_r_calendar(admin: Any) -> None:
    """R-CALENDAR: an exception is for today or ahead; a past date is refused with a
    reason, and nothing is stored."""
    _acd, http = admin
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    status, answer = http("POST", "/api/admin/calendars/office/exceptions", {"date": yesterday})
    assert status == 400 and "in the past" in answer["message"], answer
    assert http("GET", "/api/admin/calendars/office/exceptions")[1]["exceptions"] == []
    today = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert http("POST", "/api/admin/calendars/office/exceptions", {"date": today})[0] == 201


def test_file_exceptions_have_a_stable_id_and_are_not_removed_by_api_r_calendar(
    admin_with_file_exception: Any,
) -> None:
    """The file's exception is listed with an id derived from its dates (the same on
    every call), and DELETE says it comes from the file (409) instead of "unknown"."""
    _acd, http = admin_with_file_exception
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    listed = http("GET", "/api/admin/calendars/office/exceptions")[1]["exceptions"]
    assert [(e["id"], e["source"]) for e in listed] == [(f"file-{day}", "config")]
    again = http("GET", "/api/admin/calendars/office/exceptions")[1]["exceptions"]
    assert again == listed
    status, answer = http("DELETE", f"/api/admin/calendars/office/exceptions/file-{day}")
    assert status == 409 and answer["error"] == "from-file", answer
    assert "configuration file" in answer["message"]
    assert http("GET", "/api/admin/calendars/office/exceptions")[1]["exceptions"] == listed


def test_exceptions_through_the_api_a_year_ahead_persist_and_apply_r_calendar(
    admin: Any, redis_client: redis.Redis, tenant: str
) -> None:
    acd, http = admin
    ahead = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    status, made = http(
        "POST", "/api/admin/calendars/office/exceptions", {"date": ahead, "name": "Staff day"}
    )
    assert status == 201 and made["closed"] and made["from"] == ahead
    bad = http(
        "POST", "/api/admin/calendars/office/exceptions", {"from": ahead, "to": "2020-01-01"}
    )
    assert bad[0] == 400 and "to" in bad[1]["message"]
    assert http("POST", "/api/admin/calendars/nope/exceptions", {"date": ahead})[0] == 404
    # Persisted in Redis, and in the engine's calendars.
    assert len(HoursStore(redis_client, tenant).exceptions()) == 1
    noon = dt.datetime.combine(dt.date.fromisoformat(ahead), dt.time(12), tzinfo=dt.UTC).timestamp()

    def state() -> str:
        merged = calendars(acd.engine)
        assert merged is not None
        return merged.state("office", noon)

    assert acd.wait(lambda: state() == "holiday")
    status, listed = http("GET", "/api/admin/calendars/office/exceptions")
    assert status == 200 and [e["id"] for e in listed["exceptions"]] == [made["id"]]
    assert http("DELETE", f"/api/admin/calendars/office/exceptions/{made['id']}")[0] == 200
    assert acd.wait(lambda: state() == "open")
    assert http("DELETE", f"/api/admin/calendars/office/exceptions/{made['id']}")[0] == 404


MENU_CONFIG = (
    SIM_CONFIG
    + """\
entries:
  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}
menus:
  main:
    prompt: menu_main
    default: {queue: support}
    choices:
      "1": {queue: support}
"""
)


def _entry_caller_in_emergency(
    start: Start, config: str, number: str, entry: str
) -> tuple[Harness, str]:
    """The emergency message on, then a caller from ``number`` dials ``entry`` and keys 1
    in its menu: the harness and the caller's uuid once it is queued."""
    settings = replace(
        default_settings(), menus=menu_book(parse_config(config)), hours=hours(ALWAYS)
    )
    acd = start(settings=settings)
    acd.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
    assert acd.wait(partial(_emergency_is, acd, "emergency"))
    unhook = acd.key_in(number, ["1"])
    caller = acd.sim.place_call(number, entry)
    acd.wait_fact("queued", contact=caller)
    unhook()
    return acd, caller


def test_emergency_before_the_welcome_and_only_once_for_an_entrys_caller_r_timedmsg(
    start: Start,
) -> None:
    acd, caller = _entry_caller_in_emergency(start, MENU_CONFIG, "0701111111", "7100")
    sent = acd.requests_to(caller)
    emergency = [i for i, r in enumerate(sent) if "/emergency.wav" in r]
    welcome = next(i for i, r in enumerate(sent) if "welcome" in r)
    assert len(emergency) == 1 and emergency[0] < welcome, sent


def test_emergency_for_an_entrys_caller_speaks_the_entrys_language_r_timedmsg(
    start: Start,
) -> None:
    """An English entry (7101): the emergency message is the English one, and the
    channel's default_language (which a shipped prompt's phrase macro speaks) is set to en
    before it is broadcast: the entry extension of the dialplan sets no language."""
    config = MENU_CONFIG.replace(
        '  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}',
        '  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}\n'
        '  company: {number: "7101", language: en, welcome: welcome, menu: main}',
    )
    acd, caller = _entry_caller_in_emergency(start, config, "0701111112", "7101")
    sent = acd.commands("api uuid_")
    mine = [c for c in sent if caller in c]
    language = next(i for i, c in enumerate(mine) if "default_language en" in c)
    emergency = [i for i, c in enumerate(mine) if "/emergency.wav" in c]
    assert len(emergency) == 1 and language < emergency[0], mine
    assert "/srv/acd-prompts/en/emergency.wav" in mine[emergency[0]]


def test_emergency_reaches_callers_already_waiting_once_before_the_position_r_timedmsg(
    start: Start,
) -> None:
    """R-TIMEDMSG "played to every caller": a caller queued before the message is switched
    on hears it at its next announcement, before the position, and only once; a caller
    arriving afterwards hears it at arrival and not again."""
    settings = replace(default_settings(announce_every=0.3), hours=hours(ALWAYS))
    acd = start(settings=settings)
    early = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=early)

    def positions(caller: str) -> int:
        return sum(b.startswith("phrase::acd_position") for b in broadcasts(acd, caller))

    assert acd.wait(lambda: positions(early) >= 1)
    acd.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
    assert acd.wait(partial(_emergency_is, acd, "emergency"))
    before = len(broadcasts(acd, early))
    late = acd.sim.place_call("0701000002", ANSWERED_CALLER)
    acd.wait_fact("queued", contact=late)
    assert acd.wait(lambda: positions(early) >= 4 and positions(late) >= 3)
    after = broadcasts(acd, early)[before:]
    emergency = "/srv/acd-prompts/sv/emergency.wav"
    assert after.count(emergency) == 1, after
    at = after.index(emergency)
    assert after[at + 1].startswith("phrase::acd_position"), after  # before the position
    assert broadcasts(acd, late).count(emergency) == 1  # at arrival only


def test_emergency_reaches_a_caller_in_a_menu_before_the_next_menu_prompt_r_timedmsg(
    start: Start,
) -> None:
    """A caller listening to a menu when the message is switched on hears it before the
    menu is asked again (here: after no input), once."""
    settings = replace(
        default_settings(), menus=menu_book(parse_config(MENU_CONFIG)), hours=hours(ALWAYS)
    )
    acd = start(settings=settings)
    caller = acd.sim.place_call("0701111111", "7100")
    acd.wait_fact("menu_entered", contact=caller)
    acd.runner.post(HOURS_LANE, HoursChanged("emergency", {}, time.time()))
    assert acd.wait(partial(_emergency_is, acd, "emergency"))

    def asked() -> list[str]:
        return [r for r in acd.requests_to(caller) if "play_and_get_digits" in r]

    count = len(asked())
    assert acd.wait(lambda: len(asked()) > count, timeout=30.0)
    sent = acd.requests_to(caller)
    emergency = [i for i, r in enumerate(sent) if "/emergency.wav" in r]
    again = [i for i, r in enumerate(sent) if "play_and_get_digits" in r][count]
    assert len(emergency) == 1 and emergency[0] < again, sent
