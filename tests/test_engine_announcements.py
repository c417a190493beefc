"""What a waiting caller hears, end to end through the simulator (R-POSALL, R-EWT,
R-AGENTS, R-NOSILENCE, R-NUMBERS), and the shipped phrase macros read with an XML parser."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from acd.engine.announcements import PHRASE_MACROS
from acd.engine.events import AgentCommand
from freeswitch.sim import AgentPhone
from freeswitch.sim.events import SimEvent
from freeswitch.sim.sounds import SoundLibrary
from tests.engine_harness import Harness, Start, default_settings

Macros = dict[str, list[tuple[str, list[dict[str, str]]]]]  # name -> [(pattern, actions)]
LANG_DIR = Path(__file__).resolve().parent.parent / "freeswitch" / "conf" / "lang"
ANSWERED_CALLER = "7000"  # support, sv, answered: hold music
UNANSWERED_CALLER = "7001"  # sales, en, not answered: ringback


def _broadcasts(acd: Harness, caller: str) -> list[str]:
    """What the engine broadcast to ``caller``, in order (``uuid_break`` as "break")."""
    out = []
    for line in list(acd.sim.commands_received):
        if line.startswith(f"api uuid_break {caller}"):
            out.append("break")
        elif line.startswith(f"api uuid_broadcast {caller} "):
            out.append(line.split(" ")[3])
    return out


def _phrases(acd: Harness, caller: str, macro: str) -> list[str]:
    """The data of every ``phrase::<macro>,<data>`` broadcast to ``caller``."""
    prefix = f"phrase::{macro},"
    return [b[len(prefix) :] for b in _broadcasts(acd, caller) if b.startswith(prefix)]


def _starts(acd: Harness) -> Callable[[str], list[str]]:
    """PLAYBACK_START paths per channel, as the simulator plays them."""
    seen: list[tuple[str, str]] = []

    def hook(event: SimEvent) -> None:
        if event.name == "PLAYBACK_START" and event.unique_id:
            seen.append((event.unique_id, event.get("Playback-File-Path") or ""))

    acd.sim.on_event(hook)
    return lambda uuid: [path for who, path in seen if who == uuid]


def _pause(acd: Harness, agent: str) -> None:
    acd.runner.post(agent, AgentCommand(agent, "pause", time.time()))
    acd.wait_fact("agent_pause", agent=agent)


def test_position_counts_across_queues_sharing_agents_r_posall(start: Start) -> None:
    """support and sales share their agents: the support caller after a sales caller is
    told number 3, not number 2 of its own queue."""
    acd = start()
    acd.login("1001")  # in both queues; paused, so nobody is served
    _pause(acd, "1001")
    first = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    assert acd.wait(lambda: _phrases(acd, first, "acd_position") == ["1"])
    second = acd.sim.place_call("0701000002", UNANSWERED_CALLER)
    assert acd.wait(lambda: _phrases(acd, second, "acd_position") == ["2"])
    third = acd.sim.place_call("0701000003", ANSWERED_CALLER)
    assert acd.wait(lambda: _phrases(acd, third, "acd_position") == ["3"])


def _one_call_done(acd: Harness) -> None:
    """Agent 1001 serves one caller to the end (a handle-time sample), then takes another
    and stays busy with it."""
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.2))
    acd.login("1001")
    done = acd.sim.place_call("0709000001", ANSWERED_CALLER)
    acd.wait_fact("bridged", contact=done)
    acd.sim.hangup(done)
    acd.wait_fact("completed", contact=done)
    busy = acd.sim.place_call("0709000002", ANSWERED_CALLER)
    acd.wait_fact("bridged", contact=busy)


def test_expected_wait_announced_unless_inhibited_for_case_type_r_ewt(start: Start) -> None:
    settings = default_settings(ewt_inhibit_case_types=frozenset({"invoice"}))
    acd = start(settings=settings, queue_options={"min_samples": 1, "initial_aht": 30.0})
    _one_call_done(acd)
    plain = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("announced", contact=plain)
    assert acd.wait(lambda: _phrases(acd, plain, "acd_ewt") == ["1"])  # minutes, >= 1
    invoice = {"acd_queue": "support", "acd_language": "sv", "acd_case_type": "invoice"}
    inhibited = acd.sim.place_call("0701000002", ANSWERED_CALLER, variables=invoice)
    acd.wait_fact("announced", contact=inhibited)
    assert _phrases(acd, inhibited, "acd_position") == ["2"]
    assert _phrases(acd, inhibited, "acd_ewt") == []


def test_expected_wait_left_out_while_uncertain_r_ewt(start: Start) -> None:
    """Too few handle-time samples (min_samples 10, one call done): no estimate spoken."""
    acd = start()
    _one_call_done(acd)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("announced", contact=caller)
    assert _phrases(acd, caller, "acd_position") == ["1"]
    assert _phrases(acd, caller, "acd_ewt") == []
    info = acd.router.position(caller, time.time())
    assert info.ewt_uncertain


@pytest.mark.parametrize("agents_min", [2, 3, None])
def test_agents_on_duty_only_at_floor_and_first_time_r_agents(
    start: Start, agents_min: int | None
) -> None:
    """Two agents on duty (both busy): "2 agents" is spoken with the first position only
    when agents_min <= 2, and never in the repeated announcements."""
    acd = start(settings=default_settings(agents_min=agents_min, announce_every=0.3))
    _phones(acd, "1001", "1002")
    for agent in ("1001", "1002"):
        acd.login(agent)
        busy = acd.sim.place_call(f"070900000{agent[-1]}", ANSWERED_CALLER)
        acd.wait_fact("bridged", contact=busy)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    assert acd.wait(lambda: len(_phrases(acd, caller, "acd_position")) >= 3)
    assert _phrases(acd, caller, "acd_agents") == (["2"] if agents_min == 2 else [])
    if agents_min == 2:
        sent = _broadcasts(acd, caller)
        first = sent  # the first announcement opens the list (nothing to break yet)
        assert first.index("phrase::acd_position,1") < first.index("phrase::acd_agents,2")


def _phones(acd: Harness, *agents: str) -> None:
    for agent in agents:
        acd.sim.add_agent_phone(AgentPhone(f"user/{agent}", answer_after=0.2))


@pytest.mark.parametrize(
    ("entry", "sound"),
    [(ANSWERED_CALLER, "local_stream://moh"), (UNANSWERED_CALLER, "tone_stream://")],
    ids=["answered-moh", "unanswered-ringback"],
)
def test_waiting_sound_before_and_after_every_announcement_r_nosilence(
    start: Start, entry: str, sound: str
) -> None:
    acd = start(settings=default_settings(announce_every=0.3))
    starts = _starts(acd)
    caller = acd.sim.place_call("0701000001", entry)
    # two announcements, the last one sent to its end (checked on one copy of the log)
    seen: list[list[str]] = [[]]

    def settled() -> bool:
        seen[0] = _broadcasts(acd, caller)
        positions = [b for b in seen[0] if b.startswith("phrase::acd_position,")]
        return len(positions) >= 2 and seen[0][-1].startswith(sound)

    assert acd.wait(settled)
    sent = seen[0]
    # From the first moment in the queue: the first announcement at once (no break:
    # nothing plays yet), then every announcement: break, its phrases, then the waiting
    # sound queued behind them.
    assert sent[0].startswith(("phrase::", sound))
    breaks = [i for i, item in enumerate(sent) if item == "break"]
    assert len(breaks) >= 1
    for index in [-1, *breaks]:
        rest = sent[index + 1 :]
        after = next((i for i, b in enumerate(rest) if not b.startswith("phrase::")), None)
        assert after is not None and after >= 1 and rest[after].startswith(sound), sent
    # and the simulator really played the waiting sound again after the prompt
    assert acd.wait(lambda: _played_again(starts(caller), sound))
    if entry == UNANSWERED_CALLER:
        assert f"api uuid_answer {caller}" not in acd.sim.commands_received


def _played_again(paths: list[str], sound: str) -> bool:
    prompt = [i for i, p in enumerate(paths) if not p.startswith(sound)]
    return bool(prompt) and any(p.startswith(sound) for p in paths[prompt[0] :])


def test_prompt_not_played_is_counted_and_caller_back_on_hold_music(start: Start) -> None:
    """R-NOSILENCE: a prompt whose files are missing gives no PLAYBACK_START: the engine
    reports ``announcement_not_played`` and the caller hears hold music again."""
    missing = {"acd/du-ar-nummer.wav", "acd/i-kon.wav", "digits/n-1.wav"}
    settings = replace(default_settings(), announce_check_after=0.3)
    acd = start(settings=settings, sounds=SoundLibrary(missing=missing))
    starts = _starts(acd)
    caller = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    acd.wait_fact("announcement_not_played", contact=caller)
    assert not [f for f in acd.kinds("announced") if f.data["contact"] == caller]
    assert _phrases(acd, caller, "acd_position") == ["1"]
    # the music queued behind the prompt plays (the first prompt comes before any music)
    assert acd.wait(lambda: starts(caller).count("local_stream://moh") >= 1)
    assert all(p == "local_stream://moh" for p in starts(caller))


def test_position_phrase_carries_the_number_and_says_neuter_one_in_swedish_r_numbers(
    start: Start,
) -> None:
    acd = start()
    starts = _starts(acd)
    sv = acd.sim.place_call("0701000001", ANSWERED_CALLER)
    en = acd.sim.place_call("0701000002", UNANSWERED_CALLER)
    acd.wait_fact("announced", contact=sv)
    acd.wait_fact("announced", contact=en)
    assert _phrases(acd, sv, "acd_position") == ["1"]  # the data is the number itself
    assert _phrases(acd, en, "acd_position") == ["1"]  # no agents: its own queue's line
    assert acd.wait(lambda: "file_string://digits/n-1.wav" in starts(sv))  # "ett"
    assert "file_string://digits/u-1.wav" not in starts(sv)  # not "en"
    assert acd.wait(lambda: "file_string://digits/1.wav" in starts(en))


# ------------------------------------------------------------------ the macro files


def _macros(lang: str) -> Macros:
    root = ET.parse(LANG_DIR / lang / "acd.xml").getroot()
    macros: Macros = {}
    for macro in root.iter("macro"):
        inputs = []
        for item in macro.findall("input"):
            match = item.find("match")
            actions = [dict(a.attrib) for a in (match if match is not None else [])]
            inputs.append((item.get("pattern", ""), actions))
        macros[macro.get("name", "")] = inputs
    return macros


def _says(macros: Macros, name: str, data: str) -> list[dict[str, str]]:
    """The ``say`` actions FreeSWITCH runs for ``data``: the first input whose pattern
    matches (every input breaks on match), with $1.. substituted."""
    for pattern, actions in macros[name]:
        found = re.search(pattern, data)
        if found is None:
            continue
        groups: tuple[str | None, ...] = (found.group(0), *found.groups())

        def substitute(m: re.Match[str], groups: tuple[str | None, ...] = groups) -> str:
            return groups[int(m.group(1))] or ""

        return [
            {**a, "data": re.sub(r"\$(\d)", substitute, a["data"])}
            for a in actions
            if a.get("function") == "say"
        ]
    raise AssertionError(f"{name}: no input matches {data!r}")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_shipped_macros_say_every_number_right_r_numbers(lang: str) -> None:
    """Each number macro says exactly its data as a cardinal (``pronounced``) number, in
    Swedish with the gender of the noun: "nummer ETT i kön" (neuter), "EN minut", "EN
    handläggare" (utrum)."""
    macros = _macros(lang)
    assert set(PHRASE_MACROS) <= set(macros)
    genders = {"acd_position": "neuter", "acd_ewt": "utrum", "acd_agents": "utrum"}
    for name, gender in genders.items():
        for number in [*range(1, 130), 200, 999, 1000, 1021, 20999]:
            says = _says(macros, name, str(number))
            assert says, f"{lang} {name} {number}: nothing said"
            spoken = sum(int(s["data"].replace(",", "")) for s in says)
            assert spoken == number, f"{lang} {name} {number}: says {says}"
            for say in says:
                assert (say.get("type"), say.get("method")) == ("number", "pronounced")
                if lang == "sv":
                    assert say.get("gender") == gender, f"{name}: {say}"
