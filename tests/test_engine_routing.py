"""Who gets the caller, end to end through the simulator: longest idle (R-LIDLE), wrap-up
(R-WRAP), agents that do not answer, are busy, reject or are not registered (R-NOANSWER),
priority without raising an announced position (R-PRIO, R-POS), private queues
(R-PRIVQ) and sticky agents (R-STICKY)."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from acd.engine.events import AgentCommand
from freeswitch.sim import AgentPhone
from freeswitch.sim.sounds import SoundLibrary
from tests.engine_harness import Harness, Start, default_settings


def _phones(acd: Harness, *agents: str, **behaviour: object) -> None:
    for agent in agents:
        acd.sim.add_agent_phone(AgentPhone(f"user/{agent}", answer_after=0.3, **behaviour))  # type: ignore[arg-type]


def _served_by(acd: Harness, caller: str) -> str:
    return str(acd.wait_fact("bridged", contact=caller).data["agent"])


def _positions(acd: Harness, caller: str) -> list[int]:
    """Every position announced to ``caller``, in order."""
    found = []
    for line in acd.commands(f"api uuid_broadcast {caller} "):
        match = re.search(r"phrase::acd_position,(\d+)", line)
        if match:
            found.append(int(match.group(1)))
    return found


def test_longest_idle_agent_gets_the_call_r_lidle(start: Start) -> None:
    acd = start()
    _phones(acd, "1001", "1002", "1003")
    for agent in ("1003", "1001", "1002"):  # idle since their login, in this order
        acd.login(agent)
    first = acd.sim.place_call("0701000001", "7000")
    assert _served_by(acd, first) == "1003"
    second = acd.sim.place_call("0701000002", "7000")
    assert _served_by(acd, second) == "1001"
    acd.sim.hangup(first)  # 1003 is free again, but idle only from now
    acd.wait_fact("completed", contact=first)
    third = acd.sim.place_call("0701000003", "7000")
    assert _served_by(acd, third) == "1002"
    fourth = acd.sim.place_call("0701000004", "7000")
    assert _served_by(acd, fourth) == "1003"


def test_no_call_during_wrap_up_r_wrap(start: Start) -> None:
    acd = start(wrap_up_seconds=0.6)
    _phones(acd, "1001")
    acd.login("1001")
    first = acd.sim.place_call("0701000001", "7000")
    assert _served_by(acd, first) == "1001"
    second = acd.sim.place_call("0701000002", "7000")
    acd.wait_fact("queued", contact=second)
    acd.sim.hangup(first)
    acd.wait_fact("completed", contact=first)
    view = acd.router.snapshot().agents["1001"]
    assert view.presence == "wrap_up" and view.wrap_until is not None
    offered = acd.wait_fact("offered", contact=second)
    assert acd.stamp(offered) >= view.wrap_until
    assert _served_by(acd, second) == "1001"


@pytest.mark.parametrize("state", ["paused", "available"])
def test_no_answer_policy_and_next_agent_at_once_r_noanswer(start: Start, state: str) -> None:
    """The agent who let it ring is paused (or stays available, per queue); the caller is
    offered to the next agent at once."""
    acd = start(no_answer_state=state, settings=default_settings(ring_timeout=2))
    acd.sim.add_agent_phone(AgentPhone("user/1001", behaviour="no_answer"))
    _phones(acd, "1002")
    acd.login("1001")
    acd.login("1002")
    caller = acd.sim.place_call("0701000001", "7000")
    first = acd.wait_fact("offered", contact=caller)
    assert first.data["agent"] == "1001"  # longest idle
    failed = acd.wait_fact("agent_no_answer", contact=caller, agent="1001")
    assert failed.data["cause"] in ("NO_ANSWER", "ORIGINATOR_CANCEL")
    second = acd.wait_fact("offered", count=2, contact=caller)
    assert second.data["agent"] == "1002"
    assert _served_by(acd, caller) == "1002"
    view = acd.router.snapshot().agents["1001"]
    assert view.presence == ("paused" if state == "paused" else "ready")


@pytest.mark.parametrize(
    "phone",
    [
        AgentPhone("user/1001", behaviour="busy"),
        AgentPhone("user/1001", behaviour="reject"),
        AgentPhone("user/1001", registered=False),
        None,  # not in the directory at all: SUBSCRIBER_ABSENT
    ],
    ids=["busy", "rejected", "unregistered", "absent"],
)
def test_failed_agent_leg_next_agent_caller_keeps_place_r_noanswer(
    start: Start, phone: AgentPhone | None
) -> None:
    acd = start(no_answer_state="paused")
    if phone is not None:
        acd.sim.add_agent_phone(phone)
    _phones(acd, "1002")
    acd.login("1001")
    acd.login("1002")
    caller = acd.sim.place_call("0701000001", "7000")
    assert acd.wait_fact("offered", contact=caller).data["agent"] == "1001"
    acd.wait_fact("agent_no_answer", contact=caller, agent="1001")
    assert _served_by(acd, caller) == "1002"
    # keeps its place: two callers wait, the first one's failed offer does not send it
    # behind the second
    acd.sim.hangup(caller)
    acd.wait_fact("completed", contact=caller)
    acd.runner.post("1001", _unpause("1001"))
    acd.wait_fact("agent_unpause", agent="1001")
    acd.runner.post("1002", _pause("1002"))
    acd.wait_fact("agent_pause", agent="1002")
    a = acd.sim.place_call("0701000002", "7000")
    acd.wait_fact("agent_no_answer", contact=a, agent="1001")  # 1001 fails again, paused
    b = acd.sim.place_call("0701000003", "7000")
    acd.wait_fact("queued", contact=b)
    acd.runner.post("1002", _unpause("1002"))
    assert _served_by(acd, a) == "1002"
    assert not [f for f in acd.kinds("offered") if f.data["contact"] == b]


def _pause(agent: str) -> AgentCommand:
    return AgentCommand(agent, "pause", time.time(), reason="meeting")


def _unpause(agent: str) -> AgentCommand:
    return AgentCommand(agent, "unpause", time.time())


def test_priority_caller_jumps_ahead_but_no_position_rises_r_prio_r_pos(start: Start) -> None:
    acd = start(settings=default_settings(announce_every=0.3))
    first = acd.sim.place_call("0701000001", "7000")
    second = acd.sim.place_call("0701000002", "7000")
    assert acd.wait(lambda: _positions(acd, second)[:1] == [2])
    assert _positions(acd, first)[:1] == [1]
    vip = acd.sim.place_call("0701000003", "7002")  # acd_priority=5
    assert acd.wait(lambda: _positions(acd, vip)[:1] == [1])
    seen = len(_positions(acd, second))
    # two more rounds of announcements after the priority caller came in
    assert acd.wait(lambda: len(_positions(acd, second)) >= seen + 2, timeout=5)
    assert set(_positions(acd, first)) == {1}
    assert set(_positions(acd, second)) == {2}
    assert acd.router.position(second, time.time()).position == 3  # truly third now
    _phones(acd, "1001")
    acd.login("1001")
    assert _served_by(acd, vip) == "1001"
    assert acd.kinds("offered")[0].data["contact"] == vip


def test_private_queue_waits_for_named_agent_then_general_r_privq(start: Start) -> None:
    acd = start(settings=default_settings(private_max_wait=0.8))
    _phones(acd, "1001", "1002")
    acd.login("1001")
    private = {"acd_queue": "support", "acd_language": "sv", "acd_agent": "1002"}
    caller = acd.sim.place_call("0701000001", "7000", variables=private)
    queued = acd.wait_fact("queued", contact=caller)
    offered = acd.wait_fact("offered", contact=caller)  # after the max wait, to anyone
    assert offered.data["agent"] == "1001"
    assert acd.stamp(offered) - float(str(queued.data["wait_from"])) >= 0.8
    assert _served_by(acd, caller) == "1001"
    # the named agent gets it although another (1002) has been idle longer
    acd.login("1002")
    acd.sim.hangup(caller)
    acd.wait_fact("completed", contact=caller)
    private = {"acd_queue": "support", "acd_language": "sv", "acd_agent": "1001"}
    again = acd.sim.place_call("0701000002", "7000", variables=private)
    assert _served_by(acd, again) == "1001"


@pytest.mark.parametrize("window", [60.0, 0.0])
def test_repeat_caller_goes_to_last_agent_within_window_r_sticky(
    start: Start, window: float
) -> None:
    acd = start(settings=default_settings(sticky_window=window, sticky_wait=5.0))
    _phones(acd, "1001", "1002")
    acd.login("1002")
    first = acd.sim.place_call("0701234567", "7000")
    assert _served_by(acd, first) == "1002"
    acd.sim.hangup(first)
    acd.wait_fact("completed", contact=first)
    acd.login("1001")  # idle from now: 1002 has been idle longer
    other = acd.sim.place_call("0709999999", "7000")
    assert _served_by(acd, other) == "1002"  # longest idle; 1001 is idle longest now
    acd.sim.hangup(other)
    acd.wait_fact("completed", contact=other)
    repeat = acd.sim.place_call("0701234567", "7000")
    assert _served_by(acd, repeat) == ("1002" if window else "1001")


def _long_whisper() -> SoundLibrary:
    """A whisper that lasts (5 simulated minutes): room for a hang-up during it."""
    sounds = SoundLibrary()
    sounds.durations["whisper.wav"] = 300.0
    return sounds


def test_caller_hangs_up_during_whisper_agent_freed_without_penalty(start: Start) -> None:
    """The agent answered in the race with the caller's hang-up: the agent leg is hung
    up, the caller counts as abandoned, and the agent is free again at once."""
    acd = start(sounds=_long_whisper(), settings=replace(default_settings(), whisper_timeout=30.0))
    _phones(acd, "1001")
    acd.login("1001")
    caller = acd.sim.place_call("0701000001", "7000")
    answered = acd.wait_fact("answered", contact=caller)
    leg = str(acd.wait_fact("offered", contact=caller).data["leg"])
    acd.sim.hangup(caller)
    acd.wait_fact("abandoned", contact=caller)
    assert acd.wait(lambda: leg not in acd.sim.channels)
    assert not [f for f in acd.kinds("bridged") if f.data["contact"] == caller]
    assert answered.data["agent"] == "1001"
    view = acd.router.snapshot().agents["1001"]
    assert view.presence == "ready" and not view.assigned
    after = acd.sim.place_call("0701000002", "7000")
    assert acd.wait_fact("offered", contact=after).data["agent"] == "1001"


def test_agent_hangs_up_during_whisper_caller_goes_to_next_agent(start: Start) -> None:
    acd = start(sounds=_long_whisper(), settings=replace(default_settings(), whisper_timeout=30.0))
    _phones(acd, "1001", "1002")
    acd.login("1001")
    acd.login("1002")
    caller = acd.sim.place_call("0701000001", "7000")
    acd.wait_fact("answered", contact=caller, agent="1001")
    leg = str(acd.wait_fact("offered", contact=caller).data["leg"])
    acd.sim.hangup(leg)
    second = acd.wait_fact("offered", count=2, contact=caller)
    assert second.data["agent"] == "1002"
    assert caller in acd.sim.channels  # the caller stays, back in the queue
    assert acd.wait(
        lambda: any(
            c.startswith(f"api uuid_broadcast {caller} local_stream://moh")
            for c in acd.commands("api uuid_broadcast")[-6:]
        )
    )


def test_agent_hangs_up_call_completes_and_caller_leg_ends(start: Start) -> None:
    acd = start(wrap_up_seconds=0.5)
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3, hangup_after=50.0))
    acd.login("1001")
    caller = acd.sim.place_call("0701000001", "7000")
    done = acd.wait_fact("completed", contact=caller)
    assert done.data["agent"] == "1001" and float(str(done.data["handle"])) > 0.0
    assert acd.wait(lambda: caller not in acd.sim.channels)
    assert acd.router.snapshot().agents["1001"].presence == "wrap_up"
    assert acd.store.get_call(caller) is None


def test_position_counts_down_as_callers_ahead_are_served_r_pos(start: Start) -> None:
    acd = start(settings=default_settings(announce_every=0.3))
    callers = [acd.sim.place_call(f"070100000{i}", "7000") for i in range(3)]
    last = callers[-1]
    assert acd.wait(lambda: _positions(acd, last)[:1] == [3])
    _phones(acd, "1001")
    acd.login("1001")
    acd.wait_fact("bridged", contact=callers[0])
    assert acd.wait(lambda: _positions(acd, last)[-1:] == [2])
    acd.sim.hangup(callers[1])  # the one ahead gives up
    assert acd.wait(lambda: _positions(acd, last)[-1:] == [1])
    positions = _positions(acd, last)
    assert positions == sorted(positions, reverse=True)


@pytest.mark.parametrize("answer_after", [0.0, 0.3])
def test_caller_gone_right_after_offer_leaves_no_agent_leg_behind(
    start: Start, answer_after: float
) -> None:
    """The caller hangs up as the agent's phone is being called: whether the leg rang or
    was answered in the race, no agent leg stays up and the agent is free."""
    acd = start()
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=answer_after))
    acd.login("1001")
    caller = acd.sim.place_call("0701000001", "7000")
    leg = str(acd.wait_fact("offered", contact=caller).data["leg"])
    acd.sim.hangup(caller)
    acd.wait_fact("abandoned", contact=caller)
    assert acd.wait(lambda: leg not in acd.sim.channels and not acd.sim.channels)
    assert acd.wait(lambda: acd.router.snapshot().agents["1001"].presence == "ready")
    assert not acd.router.snapshot().agents["1001"].assigned


def test_agent_paused_after_no_answer_comes_back_with_star24_r_noanswer_r_pause(
    start: Start,
) -> None:
    acd = start(no_answer_state="paused")
    acd.sim.add_agent_phone(AgentPhone("user/1001", behaviour="no_answer"))
    acd.login("1001")
    caller = acd.sim.place_call("0701000001", "7000")
    acd.wait_fact("agent_no_answer", contact=caller, agent="1001")
    assert acd.router.snapshot().agents["1001"].presence == "paused"
    acd.sim.add_agent_phone(AgentPhone("user/1001", answer_after=0.3))
    acd.feature_code("1001", "*24", ["1001", "1111"])
    acd.wait_fact("agent_unpause", agent="1001")
    assert _served_by(acd, caller) == "1001"


def test_pause_during_wrap_up_holds_after_wrap_up_r_pause_r_wrap(start: Start) -> None:
    acd = start(wrap_up_seconds=0.5)
    _phones(acd, "1001")
    acd.login("1001")
    first = acd.sim.place_call("0701000001", "7000")
    _served_by(acd, first)
    acd.sim.hangup(first)
    acd.wait_fact("completed", contact=first)
    acd.feature_code("1001", "*232", ["1001", "1111"])  # 2 = meeting
    assert acd.wait_fact("agent_pause", agent="1001").data["reason"] == "meeting"
    second = acd.sim.place_call("0701000002", "7000")
    acd.wait_fact("queued", contact=second)
    view = acd.router.snapshot().agents["1001"]
    assert view.presence == "paused"
    # past the end of the wrap-up (and a few routing ticks): still paused, still waiting
    done_at = acd.stamp(acd.wait_fact("completed", contact=first))
    assert acd.wait(lambda: time.time() > done_at + 0.5 + 0.2)
    assert acd.router.snapshot().agents["1001"].presence == "paused"
    assert [f.data["contact"] for f in acd.kinds("offered")] == [first]
    acd.feature_code("1001", "*24", ["1001", "1111"])
    assert _served_by(acd, second) == "1001"


@pytest.mark.parametrize("entry", ["7000", "7001"])
def test_caller_hears_waiting_sound_while_the_agent_rings_r_nosilence(
    start: Start, entry: str
) -> None:
    """Offered at once to an agent who lets it ring: the caller hears hold music (or
    ringback) while it rings and after the no-answer, never silence."""
    acd = start(settings=default_settings(ring_timeout=3, announce_first_after=30.0))
    acd.sim.add_agent_phone(AgentPhone("user/1001", behaviour="no_answer"))
    acd.login("1001")
    caller = acd.sim.place_call("0701000001", entry)
    acd.wait_fact("offered", contact=caller)
    sound = "local_stream://moh" if entry == "7000" else "tone_stream://"
    waiting = f"api uuid_broadcast {caller} {sound}"
    assert acd.wait(lambda: any(c.startswith(waiting) for c in acd.sim.commands_received))
    acd.wait_fact("agent_no_answer", contact=caller)
    assert acd.sim.channels[caller].current_app is not None  # something plays


def test_sticky_agent_logged_out_repeat_caller_not_kept_waiting_r_sticky(start: Start) -> None:
    """The last agent is not logged in: the repeat caller goes to a free agent at once,
    not after the sticky wait (20 s here)."""
    acd = start(settings=default_settings(sticky_window=60.0, sticky_wait=20.0))
    _phones(acd, "1001", "1002")
    acd.login("1002")
    first = acd.sim.place_call("0701234567", "7000")
    assert _served_by(acd, first) == "1002"
    acd.sim.hangup(first)
    acd.wait_fact("completed", contact=first)
    acd.runner.post("1002", AgentCommand("1002", "logout", time.time()))
    acd.wait_fact("agent_logout", agent="1002")
    acd.login("1001")
    repeat = acd.sim.place_call("0701234567", "7000")
    assert acd.wait_fact("bridged", contact=repeat, timeout=5.0).data["agent"] == "1001"
