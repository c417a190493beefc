"""Never silence in a menu (R-NOSILENCE): while a menu waits for the first key after its
prompt, the caller hears a hold-music clip that is part of play_and_get_digits' own prompt
(``file_string://<prompt>!<clip>...``), so keys are taken during the music and the
no-input timeout starts when it ends. Through the simulator with the shipped dialplan."""

from __future__ import annotations

import math
from dataclasses import replace

import gevent
import pytest

from acd.config import parse_config
from acd.config.entries import menu_book
from acd.engine.menus import (
    LAST_WAIT_MS,
    MENU_WAIT_CLIP,
    MENU_WAIT_SECONDS,
    MenuPlan,
    MenuWait,
    QueueTarget,
    collect_prompt,
)
from freeswitch.media import Phrase, SoundFile
from freeswitch.prompts import generate
from freeswitch.sim.events import SimEvent
from tests.engine_harness import Harness, Start, default_settings

CONFIG = """\
esl: {host: 127.0.0.1, port: 8021, password: ClueCon}
redis: null
queues:
  support: {code: 1, language: sv}
  sales: {code: 2, language: en}
entries:
  kommun: {number: "7100", language: sv, menu: main}
menus:
  main:
    prompt: menu_main
    timeout: 5
    retries: 0
    default: {queue: support}
    choices:
      "1": {queue: sales}
"""
CLIP = f"sv/{MENU_WAIT_CLIP}"
PROMPT = "sv/acd/menu_main.wav"


def test_the_clip_length_is_what_the_generator_makes() -> None:
    clip = generate.MENU_WAIT_NOTES * generate._NOTE_SECONDS
    assert math.isclose(clip, MENU_WAIT_SECONDS)


def _menu(timeout: float) -> MenuPlan:
    return MenuPlan(
        "main", "menu_main", {"1": QueueTarget("sales")}, QueueTarget("support"), timeout=timeout
    )


@pytest.mark.parametrize("timeout", [1.0, 3.56, 3.6, 5.0, 30.0])
def test_the_music_fills_the_menus_timeout_but_freeswitchs_last_second_r_nosilence(
    timeout: float,
) -> None:
    played, wait_ms = collect_prompt(_menu(timeout), Phrase("acd_prompt", "menu_main"), "sv")
    assert isinstance(played, MenuWait) and wait_ms == LAST_WAIT_MS
    assert played.files[0] == SoundFile(PROMPT)
    clips = played.files[1:]
    assert clips and all(f == SoundFile(CLIP) for f in clips)
    music = len(clips) * MENU_WAIT_SECONDS
    assert music + wait_ms / 1000 >= timeout  # no shorter than configured
    assert (len(clips) == 1) or (music - MENU_WAIT_SECONDS + wait_ms / 1000 < timeout)


def test_customer_prompt_and_not_interruptible_prompt_r_nosilence() -> None:
    own = SoundFile("/var/lib/acd/prompts/sv/menu_main.wav")
    played, _ = collect_prompt(_menu(5.0), own, "sv")
    assert played.playback_path() == f"file_string://{own.path}!{CLIP}!{CLIP}"
    # Played before with playback (not interruptible): the collection is the music only.
    played, _ = collect_prompt(_menu(5.0), None, "sv")
    assert played.playback_path() == f"file_string://{CLIP}!{CLIP}"
    # A phrase of another macro cannot be inside a file_string: it plays alone.
    other = Phrase("acd_position", "3")
    assert collect_prompt(_menu(5.0), other, "sv") == (other, 5000)


@pytest.fixture
def acd(start: Start) -> Harness:
    """The shipped prompts (``phrase:acd_prompt:<id>``); the simulator's prompt is 1 s
    and the clip as long as the generated one (simulated seconds)."""
    settings = replace(default_settings(), menus=menu_book(parse_config(CONFIG, "t.yaml")))
    harness = start(settings=settings)
    harness.sim.core.sounds.durations.update(
        {"menu_main.wav": 1.0, "menu-wait.wav": MENU_WAIT_SECONDS}
    )
    return harness


def _watch(acd: Harness) -> list[SimEvent]:
    seen: list[SimEvent] = []
    acd.sim.on_event(seen.append)
    return seen


def _collection(events: list[SimEvent], uuid: str) -> list[tuple[str, str]]:
    """What happened on ``uuid`` (and the file_string's files) during its first
    play_and_get_digits: (event, detail)."""
    story: list[tuple[str, str]] = []
    running = False
    for event in list(events):
        name = event.name
        if name == "CUSTOM" and running:
            story.append((event.get("Event-Subclass") or "", event.get("File") or ""))
            continue
        if event.unique_id != uuid:
            continue
        if name == "CHANNEL_EXECUTE" and event.get("Application") == "play_and_get_digits":
            running = True
        elif name == "CHANNEL_EXECUTE_COMPLETE" and running:
            story.append((name, event.get("Application") or ""))
            return story
        elif running:
            detail = event.get("Playback-File-Path") or ""
            status = event.get("Playback-Status")
            story.append((name, f"{detail} {status}" if status else detail))
    return story


def test_no_silence_between_the_prompt_and_the_no_input_timeout_r_nosilence(
    acd: Harness,
) -> None:
    """R-NOSILENCE: a caller who keys nothing hears the prompt, then the clip back to back
    (one PLAYBACK_START..STOP for all of it, the files opened one after the other) until
    the music has filled the menu's 5 s but the last second; play_and_get_digits then
    waits its own timeout (1000 ms, FreeSWITCH's least) and the menu's default follows."""
    events = _watch(acd)
    caller = acd.sim.place_call("0701000001", "7100")
    assert acd.wait_fact("queued", contact=caller).data["queue"] == "support"
    collect = next(r for r in acd.requests_to(caller) if "play_and_get_digits" in r)
    wait = f"file_string://{PROMPT}!{CLIP}!{CLIP}"
    assert f" 1 1 1 {LAST_WAIT_MS} none {wait} " in collect
    story = _collection(events, caller)
    assert story == [
        ("filestring::open", PROMPT),
        ("PLAYBACK_START", wait),
        ("filestring::close", PROMPT),
        ("filestring::open", CLIP),
        ("filestring::close", CLIP),
        ("filestring::open", CLIP),
        ("filestring::close", CLIP),
        ("PLAYBACK_STOP", f"{wait} done"),
        ("CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits"),
    ], story
    clips = sum(1 for name, file in story if (name, file) == ("filestring::open", CLIP))
    assert clips * MENU_WAIT_SECONDS + LAST_WAIT_MS / 1000 >= 5.0  # the menu's timeout
    retry = acd.wait_fact("menu_retry", contact=caller)
    assert retry.data["why"] == "no_input"


def test_a_key_pressed_during_the_music_is_the_choice_r_nosilence_r_dtmf(
    acd: Harness,
) -> None:
    callers: list[str] = []

    def press_in_music(event: SimEvent) -> None:
        opened = (event.get("Event-Subclass"), event.get("File")) == ("filestring::open", CLIP)
        if opened and callers and callers[0] in acd.sim.channels:
            gevent.spawn(acd.sim.press_dtmf, callers[0], "1")

    events = _watch(acd)
    acd.sim.on_event(press_in_music)
    callers.append(acd.sim.place_call("0701000002", "7100"))
    caller = callers[0]
    assert acd.wait_fact("queued", contact=caller).data["queue"] == "sales"
    assert acd.wait_fact("menu_chosen", contact=caller).data["digits"] == "1"
    story = _collection(events, caller)
    assert ("filestring::open", CLIP) in story
    stop = next(detail for name, detail in story if name == "PLAYBACK_STOP")
    assert stop.endswith(" break")
