"""Welcome and menus on the real FreeSWITCH 1.10.12 (R-WELCOME, R-DTMF): a SIP caller
(sipp, keys as SIP INFO) dials an entry number of the shipped dialplan, walks three menu
levels and is bridged to the agent of the queue it chose. Skipped where FreeSWITCH is not
installed (tests/freeswitch_lab.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from acd.dev.redis_server import RedisServer
from freeswitch.messages import Event
from tests.engine_lab import (
    Acd,
    bridged,
    channel_of,
    config_yaml,
    history,
    lab_events,
    played,
    running,
)
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, poll
from tests.lab.support import LabError

pytestmark = pytest.mark.freeswitch

MENUS = """
entries:
  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}
menus:
  main:
    prompt: menu_main
    default: {queue: support}
    choices:
      "1": {queue: support}
      "2": {menu: second}
  second:
    prompt: menu_invalid        # short: the test waits for its end
    interruptible: false
    default: {queue: support}
    choices:
      "3": {menu: third}
      "9": {queue: support, case_type: wrong}
  third:
    prompt: menu_new_permit
    digits: 2
    inter_digit_timeout: 2
    default: {queue: support}
    choices:
      "1": {queue: support}
      "42": {queue: sales, case_type: business_permit, priority: 4}
"""


def _clip_opened(watch: EventRecorder) -> list[Event]:
    """file_string's ``filestring::open`` of the menu-wait clip (one caller at a time)."""
    return [
        e
        for e in watch.matching("CUSTOM", {"Event-Subclass": "filestring::open"})
        if e.get("File") == "sv/acd/menu-wait.wav"
    ]


@pytest.fixture
def watch(lab: FreeSwitchLab) -> Iterator[EventRecorder]:
    """Every event of the lab, and which file of a file_string plays (R-NOSILENCE)."""
    with lab_events(lab, "filestring::open") as recorder:
        yield recorder


@pytest.fixture
def acd(
    lab: FreeSwitchLab, redis_server: RedisServer, redis_client: redis.Redis, tenant: str
) -> Iterator[Acd]:
    text = config_yaml(lab, redis_server.url, tenant) + MENUS
    with running(text, "lab-menus.yaml") as engine:
        yield engine


def test_sip_caller_walks_three_menu_levels_to_the_chosen_queue_r_welcome_r_dtmf(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """7100: the welcome plays, then main (2) -> second, not interruptible: a 9 keyed
    while its prompt plays is ignored, then 3 -> third, two keys 42 -> queue sales with
    case type and priority, bridged to the sales agent (not the support one)."""
    lab.agent_phone("1001", answer_after=0.3)
    lab.agent_phone("1002", answer_after=0.3)
    acd.login("1001", ("support",))
    acd.login("1002", ("sales",))
    caller = lab.caller("7100", caller_id="0701234567")
    uuid = channel_of(watch, caller)

    def collections(count: int) -> None:
        def started() -> bool:
            found = watch.matching(
                "CHANNEL_EXECUTE", {"Unique-ID": uuid, "Application": "play_and_get_digits"}
            )
            return len(found) >= count

        try:
            poll(started, 30.0, f"menu collection {count}")
        except LabError:
            raise AssertionError(f"collection {count}: {history(watch, uuid)}") from None

    collections(1)
    # R-NOSILENCE: the collection plays the prompt, then the hold-music clip while it
    # waits for the first key (a key ends it: "2" here, keyed during the long prompt).
    start = poll(
        lambda: [p for p in played(watch, uuid) if p.startswith("file_string://")],
        15.0,
        "the first menu's collection to play",
    )[0]
    assert start.split("!") == [
        "file_string://sv/acd/menu_main.wav",
        "sv/acd/menu-wait.wav",
        "sv/acd/menu-wait.wav",
    ], start
    caller.send_dtmf("2")
    # The second menu's prompt plays with playback before its collection: key 9 into it.
    poll(
        lambda: any(p.endswith("/sv/acd/menu_invalid.wav") for p in played(watch, uuid)),
        15.0,
        "the second menu's prompt",
    )
    caller.send_dtmf("9")
    collections(2)
    # The second menu's prompt played before (not interruptible): its collection is the
    # clip only, which FreeSWITCH opens (the file exists) while the menu waits; the key
    # keyed during it is the choice.
    try:
        poll(lambda: _clip_opened(watch), 15.0, "the menu-wait clip")
    except LabError:
        customs = [(e.get("Event-Subclass"), e.get("File")) for e in watch.matching("CUSTOM")]
        raise AssertionError(f"{customs} {history(watch, uuid)}") from None
    assert played(watch, uuid)[-1] == "file_string://sv/acd/menu-wait.wav!sv/acd/menu-wait.wav"
    caller.send_dtmf("3")
    collections(3)
    caller.send_dtmf("42")
    queued = acd.wait_fact("queued", contact=uuid, timeout=15.0)
    assert queued.data["queue"] == "sales"
    chosen = [f.data for f in acd.facts if f.kind == "menu_chosen" and f.data["contact"] == uuid]
    assert [(c["menu"], c["digits"]) for c in chosen] == [
        ("main", "2"),
        ("second", "3"),
        ("third", "42"),
    ], history(watch, uuid)
    # The 9 reached FreeSWITCH while the not-interruptible prompt played, and was ignored.
    story = [
        (e.name, e.get("DTMF-Digit") or e.get("Playback-File-Path") or "")
        for e in list(watch.events)
        if e.get("Unique-ID") == uuid and e.name in ("DTMF", "PLAYBACK_START", "PLAYBACK_STOP")
    ]
    nine = story.index(("DTMF", "9"))
    prompt_end = next(
        i
        for i, (name, what) in enumerate(story)
        if name == "PLAYBACK_STOP" and what.endswith("/sv/acd/menu_invalid.wav")
    )
    assert nine < prompt_end, story
    paths = played(watch, uuid)
    assert any(p.endswith("/sv/acd/welcome.wav") for p in paths)  # R-WELCOME, first
    offered = acd.wait_fact("offered", contact=uuid, timeout=15.0)
    assert offered.data["agent"] == "1002"
    assert bridged(watch, uuid, timeout=15.0) == offered.data["leg"]
