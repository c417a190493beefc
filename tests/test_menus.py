"""Welcome and menus (R-WELCOME, R-DTMF): configuration checks, and callers walking menus
through the simulator with the shipped dialplan (entry numbers 71xx), a real Redis and
the engine over TCP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import gevent
import pytest
import redis

from acd.adapters.redis_store import RedisCallStore
from acd.config import InvalidConfigError, parse_config
from acd.config.entries import menu_book
from acd.config.model import Config
from acd.engine.effects import Api, Effect, Fact, Send
from acd.engine.engine import Engine
from acd.engine.events import DigitsCollected, EntryCall, TimerDue
from acd.engine.menus import MENU_DIGITS_VARIABLE, MenuBook
from freeswitch.media import Phrase, Playable, SoundFile
from freeswitch.sim import AgentPhone
from freeswitch.sim.events import SimEvent
from routing.store import RedisRouter
from tests.engine_harness import (
    SIM_CONFIG,
    Harness,
    Start,
    default_settings,
    restarting,
    stop_engine,
)

BASE = SIM_CONFIG

MENUS = """\
entries:
  kommun: {number: "7100", language: sv, welcome: welcome, menu: main}
menus:
  main:
    prompt: menu_main
    retries: 2
    no_input: menu_no_input
    invalid: menu_invalid
    default: {queue: support, case_type: general}
    choices:
      "1": {menu: billing}
      "2": {queue: sales, case_type: lead, priority: 5}
      "3": {message: opening_hours, then: repeat}
      "4": {transfer: "7001"}
      "0": {message: goodbye, then: hangup}
  billing:
    prompt: menu_billing
    interruptible: false
    digits: 2
    inter_digit_timeout: 2
    default: {queue: support}
    choices:
      "1": {menu: invoices}
      "12": {queue: support, case_type: refund, skills: {billing: 2}, priority: 3}
  invoices:
    prompt: menu_invoices
    default: {queue: support}
    choices:
      "1": {queue: support, case_type: invoice, skills: {invoice: 1}, priority: 7}
"""


def _prompt(prompt_id: str, language: str) -> Playable:
    """Prompt ids as the simulator plays them: the billing menu's as a sound file (its
    PLAYBACK_START shows when it plays), the rest as phrase macros of their id."""
    return SoundFile("menus/billing.wav") if prompt_id == "menu_billing" else Phrase(prompt_id)


def _book() -> MenuBook:
    return menu_book(_config(), _prompt)


def _config(extra: str = MENUS) -> Config:
    return parse_config(BASE + extra, "test.yaml")


def _problems(extra: str) -> str:
    with pytest.raises(InvalidConfigError) as caught:
        _config(extra)
    return str(caught.value)


# ------------------------------------------------------------------ configuration


def test_three_level_menu_configuration_is_accepted_r_dtmf() -> None:
    book = menu_book(_config())
    assert book.by_number == {"7100": "kommun"}
    assert set(book.menus) == {"main", "billing", "invoices"}
    assert book.menus["billing"].digits == 2 and not book.menus["billing"].interruptible


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("menu: main}", "menu: nowhere}"), "entries.kommun.menu"),
        (('"1": {menu: invoices}', '"1": {menu: nowhere}'), "no menu named 'nowhere'"),
        (("queue: sales, case_type: lead", "queue: nowhere, case_type: lead"), "nowhere"),
        (("skills: {invoice: 1}", "skills: {unknown: 1}"), "is not declared"),
        (('"12": {queue', '"123": {queue'), "longest choice has 3 keys"),
        (('"1": {menu: billing}', '"1": {menu: billing, priority: 2}'), "only goes with queue"),
        (('"1": {menu: billing}', '"1": {menu: billing, queue: sales}'), "exactly one of"),
        (('"4": {transfer: "7001"}', '"4": {transfer: "70 01"}'), "an extension is"),
        (("then: repeat}", "then: again}"), "hangup, repeat or menu:"),
        (('"0": {message', '"1a": {message'), "a choice is 1-16 keys"),
    ],
)
def test_bad_menu_configuration_is_refused_with_its_place_r_dtmf(
    change: tuple[str, str], expected: str
) -> None:
    text = MENUS.replace(*change)
    assert text != MENUS
    assert expected in _problems(text)


def test_defaults_that_pass_a_silent_caller_round_forever_are_refused_r_dtmf() -> None:
    looping = MENUS.replace(
        "default: {queue: support, case_type: general}", "default: {menu: billing}"
    ).replace(
        '    default: {queue: support}\n    choices:\n      "1": {menu: invoices}',
        "    default: {message: opening_hours, then: 'menu:main'}\n    choices:\n"
        '      "1": {menu: invoices}',
    )
    assert looping.count("menu:main") == 1
    message = _problems(looping)
    assert "goes round main -> billing -> main forever" in message
    # A menu whose own default repeats it, too.
    assert "goes round invoices -> invoices" in _problems(
        MENUS.replace(
            "prompt: menu_invoices\n    default: {queue: support}",
            "prompt: menu_invoices\n    default: {message: goodbye, then: repeat}",
        )
    )


def test_entry_numbers_are_unique() -> None:
    extra = MENUS.replace(
        "menu: main}\n", 'menu: main}\n  other: {number: "7100", menu: main}\n', 1
    )
    assert "already the number of entry 'kommun'" in _problems(extra)


# ------------------------------------------------------------------ callers


@pytest.fixture
def acd(start: Start) -> Harness:
    settings = replace(default_settings(), menus=_book())
    return start(settings=settings)


def _collections(acd: Harness, caller: str) -> list[str]:
    return [r for r in acd.requests_to(caller) if "play_and_get_digits" in r]


def _contact(acd: Harness, caller: str) -> tuple[str, int, tuple[tuple[str, int], ...]]:
    view = acd.router.snapshot().contacts[caller]
    return view.queue, view.priority, view.requirements


def test_three_levels_one_key_each_reach_the_queue_with_case_type_and_priority_r_dtmf(
    acd: Harness,
) -> None:
    """R-WELCOME, R-DTMF: welcome, then main (1) -> billing (1, completed by the
    inter-digit timeout of a two-key menu) -> invoices (1) -> queue support, case type
    invoice, priority 7, skill invoice:1; an agent gets the call."""
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.5))
    unhook = acd.key_in("0701111111", ["1", "1", "1"])
    caller = acd.sim.place_call("0701111111", "7100")
    queued = acd.wait_fact("queued", contact=caller)
    unhook()
    assert queued.data["queue"] == "support"
    chosen = [f.data for f in acd.kinds("menu_chosen") if f.data["contact"] == caller]
    assert [(c["menu"], c["digits"], c["target"]) for c in chosen] == [
        ("main", "1", "menu:billing"),
        ("billing", "1", "menu:invoices"),
        ("invoices", "1", "queue:support"),
    ]
    queue, priority, requirements = _contact(acd, caller)
    assert (queue, priority) == ("support", 7)
    assert ("invoice", 1) in requirements
    record = acd.store.get_call(caller)
    assert record is not None and record.case_type == "invoice" and record.language == "sv"
    sent = acd.requests_to(caller)
    welcome = next(i for i, r in enumerate(sent) if "phrase:welcome" in r)
    first_menu = next(i for i, r in enumerate(sent) if "play_and_get_digits" in r)
    assert welcome < first_menu  # R-WELCOME: the welcome first
    assert any("playback_terminators=none" in r for r in sent[:welcome])
    # Digits without '#': terminators none, 1..digits keys, the inter-digit timeout.
    assert all(" none " in c and MENU_DIGITS_VARIABLE in c for c in _collections(acd, caller))
    # R-NOSILENCE: the billing prompt played before (not interruptible); the collection
    # plays two hold-music clips (2 x 2.56 s >= timeout 5 s - the last 1 s), then waits 1 s.
    wait = "file_string://sv/acd/menu-wait.wav!sv/acd/menu-wait.wav"
    assert f" 1 2 1 1000 none {wait} " in _collections(acd, caller)[1]
    acd.login("1001")
    assert acd.wait_fact("bridged", contact=caller).data["agent"] == "1001"


def test_multi_digit_choice_carries_its_skills_and_priority_r_dtmf(acd: Harness) -> None:
    unhook = acd.key_in("0702222222", ["1", "12"])
    caller = acd.sim.place_call("0702222222", "7100")
    acd.wait_fact("queued", contact=caller)
    unhook()
    assert acd.wait_fact("menu_chosen", contact=caller, digits="12").data["target"] == (
        "queue:support"
    )
    queue, priority, requirements = _contact(acd, caller)
    assert (queue, priority) == ("support", 3)
    assert ("billing", 2) in requirements
    record = acd.store.get_call(caller)
    assert record is not None and record.case_type == "refund"


def test_no_input_and_invalid_input_play_their_prompts_then_the_default_r_dtmf(
    acd: Harness,
) -> None:
    """retries: 2 -> no input, invalid, no input: three tries, then the default."""
    unhook = acd.key_in("0703333333", ["", "*", ""])
    caller = acd.sim.place_call("0703333333", "7100")
    queued = acd.wait_fact("queued", contact=caller)
    unhook()
    assert queued.data["queue"] == "support"
    retries = [f.data["why"] for f in acd.kinds("menu_retry") if f.data["contact"] == caller]
    assert retries == ["no_input", "invalid", "no_input"]
    assert len(_collections(acd, caller)) == 3
    sent = acd.requests_to(caller)
    # Each prompt before asking again; the third failure goes straight to the default.
    assert sum("phrase:menu_no_input" in r for r in sent) == 1
    assert sum("phrase:menu_invalid" in r for r in sent) == 1
    chosen = acd.wait_fact("menu_chosen", contact=caller)
    assert (chosen.data["digits"], chosen.data["target"]) == ("", "queue:support")
    record = acd.store.get_call(caller)
    assert record is not None and record.case_type == "general"


def test_not_interruptible_prompt_ignores_digits_pressed_while_it_plays_r_dtmf(
    acd: Harness,
) -> None:
    """The billing menu's prompt plays to its end with ``playback``: a 9 pressed during
    it is not part of the choice; the 12 keyed afterwards is."""
    phone = "0704444444"

    def press_during_prompt(event: SimEvent) -> None:
        if (
            event.name == "PLAYBACK_START"
            and (event.get("Playback-File-Path") or "").endswith("menus/billing.wav")
            and event.unique_id is not None
        ):
            gevent.spawn(acd.sim.press_dtmf, event.unique_id, "9")

    unhook_prompt = acd.sim.on_event(press_during_prompt)
    unhook = acd.key_in(phone, ["1", "12"])
    caller = acd.sim.place_call(phone, "7100")
    acd.wait_fact("queued", contact=caller)
    unhook()
    unhook_prompt()
    chosen = [f.data["digits"] for f in acd.kinds("menu_chosen") if f.data["contact"] == caller]
    assert chosen == ["1", "12"]
    assert not [f for f in acd.kinds("menu_retry") if f.data["contact"] == caller]
    billing = _collections(acd, caller)[1]
    assert "menus/billing.wav" not in billing and "silence_stream://" in billing
    assert any(
        "execute-app-name: playback" in r and "menus/billing.wav" in r
        for r in acd.requests_to(caller)
    )


def test_message_choice_then_repeat_and_then_hang_up_r_dtmf(acd: Harness) -> None:
    unhook = acd.key_in("0705555555", ["3", "2"])
    caller = acd.sim.place_call("0705555555", "7100")
    queued = acd.wait_fact("queued", contact=caller)
    unhook()
    assert queued.data["queue"] == "sales"
    assert any("phrase:opening_hours" in r for r in acd.requests_to(caller))
    queue, priority, _ = _contact(acd, caller)
    assert (queue, priority) == ("sales", 5)

    unhook = acd.key_in("0705555556", ["0"])
    leaving = acd.sim.place_call("0705555556", "7100")
    assert acd.wait(lambda: leaving not in acd.sim.channels)
    unhook()
    assert any("phrase:goodbye" in r for r in acd.requests_to(leaving))
    assert not [f for f in acd.kinds("queued") if f.data["contact"] == leaving]
    assert acd.wait(lambda: acd.store.get_call(leaving) is None)


def test_transfer_choice_sends_the_caller_to_the_configured_extension_r_dtmf(
    acd: Harness,
) -> None:
    """Choice 4 transfers to 7001 of the acd context, which parks the caller in sales."""
    unhook = acd.key_in("0706666666", ["4"])
    caller = acd.sim.place_call("0706666666", "7100")
    queued = acd.wait_fact("queued", contact=caller)
    unhook()
    assert queued.data["queue"] == "sales"
    assert acd.commands(f"api uuid_transfer {caller} 7001 XML acd")


def test_unknown_entry_number_is_refused(acd: Harness) -> None:
    caller = acd.sim.place_call("0707777777", "7199")
    refused = acd.wait_fact("caller_refused", contact=caller)
    assert refused.data["reason"] == "unknown-entry"


@pytest.fixture
def dead_then_new(
    redis_client: redis.Redis, tenant: str
) -> Iterator[tuple[Harness, Callable[[], Harness]]]:
    yield from restarting(redis_client, tenant, replace(default_settings(), menus=_book()))


def test_caller_in_a_menu_when_the_engine_restarts_hears_that_menu_again_r_dtmf(
    dead_then_new: tuple[Harness, Callable[[], Harness]],
) -> None:
    first, restart = dead_then_new
    phone = "0708888888"
    seen: list[str] = []

    def count(event: SimEvent) -> None:
        if event.get("Application") == "play_and_get_digits":
            seen.append(event.name)

    unhook_count = first.sim.on_event(count)
    unhook = first.key_in(phone, ["1", ""])  # to billing, then nothing
    caller = first.sim.place_call(phone, "7100")
    # The billing collection runs: the engine dies, the collection ends unheard.
    assert first.wait(lambda: seen.count("CHANNEL_EXECUTE") == 2)
    stop_engine(first)
    assert first.wait(lambda: seen.count("CHANNEL_EXECUTE_COMPLETE") == 2)
    unhook()
    unhook_count()
    record = first.store.get_call(caller)
    assert record is not None and (record.state, record.menu) == ("menu", "billing")
    unhook = first.key_in(phone, ["12"])  # before the new engine asks again
    acd = restart()
    queued = acd.wait_fact("queued", contact=caller, timeout=10)
    unhook()
    assert queued.data["queue"] == "support"
    restarted = acd.wait_fact("menu_chosen", contact=caller)
    assert (restarted.data["menu"], restarted.data["digits"]) == ("billing", "12")
    assert acd.runner.counters["engine_errors"] == 0


# ------------------------------------------------------------------ the engine alone


@pytest.fixture
def engine(redis_client: redis.Redis, tenant: str) -> Engine:
    """The engine core with real routing and records, no FreeSWITCH: events in, effects
    out. The entry's welcome and the invoices prompt are missing from the catalogue."""

    def resolve(prompt_id: str, language: str) -> Playable:
        if prompt_id in ("welcome", "menu_invoices"):
            raise LookupError(f"no prompt {prompt_id}")
        return _prompt(prompt_id, language)

    settings = replace(default_settings(), menus=menu_book(_config(), resolve))
    return Engine(settings, RedisRouter(redis_client, tenant), RedisCallStore(redis_client, tenant))


def _sent(effects: list[Effect]) -> list[str]:
    out: list[str] = []
    for effect in effects:
        if isinstance(effect, Send):
            out.append(str(effect.message))
        elif isinstance(effect, Api):
            out.append(effect.command.line)
    return out


def _arrive(engine: Engine, uuid: str) -> list[Effect]:
    now = time.time()
    return engine.handle(EntryCall(uuid, None, "7100", now, answered=False, arrival=now))


def test_missing_prompts_are_skipped_and_the_menu_still_listens_r_dtmf(engine: Engine) -> None:
    effects = _sent(_arrive(engine, "c-1"))
    assert effects[0].startswith("uuid_answer c-1")  # parked unanswered: answered first
    assert not any("welcome" in e for e in effects)
    record = engine.store.get_call("c-1")
    assert record is not None and record.state == "menu" and record.menu == "main"
    now = time.time()
    for keys in ("1", "1"):  # to invoices, whose prompt is missing
        app = engine.store.get_call("c-1").menu_app  # type: ignore[union-attr]
        effects = _sent(engine.handle(DigitsCollected("c-1", MENU_DIGITS_VARIABLE, keys, now, app)))
    collect = [e for e in effects if "play_and_get_digits" in e]
    assert len(collect) == 1 and "silence_stream://" in collect[0]


def test_a_stale_collection_is_ignored_and_no_key_reaches_a_command_r_dtmf(
    engine: Engine,
) -> None:
    _arrive(engine, "c-2")
    now = time.time()
    stale = DigitsCollected("c-2", MENU_DIGITS_VARIABLE, "2", now, "another-collection")
    assert engine.handle(stale) == []
    record = engine.store.get_call("c-2")
    assert record is not None and record.menu == "main" and record.tries == 0
    # A key that is no choice: the configured invalid prompt, then the menu again.
    effects = engine.handle(DigitsCollected("c-2", MENU_DIGITS_VARIABLE, "5", now, record.menu_app))
    sent = _sent(effects)
    assert len(sent) == 2
    assert "phrase:menu_invalid" in sent[0] and "play_and_get_digits" in sent[1]
    assert [f.data["why"] for f in effects if isinstance(f, Fact) and f.kind == "menu_retry"] == [
        "invalid"
    ]


def test_guard_timer_counts_as_no_input_restart_asks_the_same_menu_again_r_dtmf(
    engine: Engine,
) -> None:
    _arrive(engine, "c-3")
    now = time.time()
    record = engine.store.get_call("c-3")
    assert record is not None
    engine.handle(DigitsCollected("c-3", MENU_DIGITS_VARIABLE, "1", now, record.menu_app))
    guard = _sent(engine.handle(TimerDue("c-3", "menu", now)))
    assert guard[0].startswith("uuid_break c-3")  # the stuck collection is stopped
    assert engine.store.get_call("c-3").tries == 1  # type: ignore[union-attr]
    restart = _sent(engine.handle(TimerDue("c-3", "menu_restart", now)))
    assert not any(e.startswith("uuid_break") for e in restart)  # would cut the new prompt
    assert any("menus/billing.wav" in e for e in restart)
    record = engine.store.get_call("c-3")
    assert record is not None and (record.menu, record.tries) == ("billing", 0)


def test_unknown_entry_and_a_second_park_r_welcome(engine: Engine) -> None:
    now = time.time()
    refused = engine.handle(EntryCall("c-4", "nowhere", None, now, answered=True, arrival=now))
    assert [f.data for f in refused if isinstance(f, Fact)] == [
        {"contact": "c-4", "reason": "unknown-entry"}
    ]
    assert engine.store.get_call("c-4") is None
    _arrive(engine, "c-5")
    assert _arrive(engine, "c-5") == []  # parked again: already ours


def test_a_menu_removed_by_a_reload_sends_its_callers_to_the_entry_menu(engine: Engine) -> None:
    """R-LIVECONF: no caller is stuck on a menu the new configuration no longer has."""
    _arrive(engine, "c-6")
    now = time.time()
    record = engine.store.get_call("c-6")
    assert record is not None
    engine.handle(DigitsCollected("c-6", MENU_DIGITS_VARIABLE, "1", now, record.menu_app))
    book = engine.settings.menus
    menus = {name: plan for name, plan in book.menus.items() if name != "billing"}
    engine.settings = replace(engine.settings, menus=replace(book, menus=menus))
    record = engine.store.get_call("c-6")
    assert record is not None and record.menu == "billing"
    effects = engine.handle(DigitsCollected("c-6", MENU_DIGITS_VARIABLE, "", now, record.menu_app))
    assert [f.data["menu"] for f in effects if isinstance(f, Fact)] == ["main"]
    assert engine.store.get_call("c-6").menu == "main"  # type: ignore[union-attr]
