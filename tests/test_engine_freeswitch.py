"""The engine on the real FreeSWITCH 1.10.12, with SIP callers and agent phones (sipp).

Each test starts the engine the way ``acd run`` does — a YAML configuration through
:func:`acd.config.parse_config`, :func:`acd.app.build` and :func:`acd.app.start` — in this
process (the SIGKILL test runs ``acd run --config`` as a subprocess), on the lab's
FreeSWITCH (tests/freeswitch_lab.py) and the session's private Redis. What FreeSWITCH did
is read from an Event Socket connection of the test's own (:class:`EventRecorder`), what
the engine decided from its facts, and what the phones saw from sipp's message logs.
Skipped where FreeSWITCH is not installed.

What the real FreeSWITCH did here, beside what the simulator models:

- A phrase broadcast (``uuid_broadcast <uuid> phrase::acd_position,1 aleg``) gives one
  PLAYBACK_START/STOP pair per file, then CHANNEL_EXECUTE_COMPLETE ``phrase`` with
  ``PHRASE PLAYED``: the sv position phrase names ``<sounds>/sv/acd/du-ar-nummer.wav``,
  ``file_string://digits/n-1.wav``, ``<sounds>/sv/acd/i-kon.wav`` (what mod_say plays is
  one ``file_string://`` per say action). A broadcast of a stream gives PLAYBACK_START of
  the path as sent (``local_stream://moh``, the ringback ``tone_stream://...``) and, when
  ``uuid_break`` ends it, PLAYBACK_STOP and EXECUTE_COMPLETE ``playback`` ``FILE PLAYED``.
- ``uuid_break <uuid> all`` drops a broadcast still queued (it never gets a
  CHANNEL_EXECUTE); but a ``uuid_break`` that arrives while a broadcast is just starting
  is lost: the music plays on and the prompts queued behind it never start. The engine
  used to send music at arrival and, the first announcement being due at once, a break
  milliseconds later: in 2 of about 10 runs the first position was never heard
  (``announcement_not_played``). Fixed: the first announcement is sent at once with no
  music and no break before it, the waiting sound queued behind it (the simulator applies
  a break atomically, so it cannot show this race).
- The agent leg, originated without an application, parks (CHANNEL_PARK with
  ``variable_acd_role=agent``; the engine ignores it as a caller). Its phrases play in
  FreeSWITCH's default language (en) unless the leg has ``default_language``: the sv
  whisper reached the agent in English. Fixed: the originate sets ``default_language``
  to the call's language.
- The whisper: the agent leg's EXECUTE_COMPLETE ``phrase`` starts the bridge; the
  caller's copy (queued behind the break of its music) is cut by ``uuid_bridge``
  (EXECUTE_COMPLETE ``phrase`` with ``UNKNOWN ERROR``), then CHANNEL_BRIDGE on the caller.
- An unanswered caller (``ring_ready`` + ``park``) that gets a broadcast is pre-answered:
  183 with SDP, the prompt and the ringback as early media, no 200 until the engine's
  ``uuid_answer`` at the agent's answer.
- A ringing agent leg killed with ``uuid_kill <leg> ORIGINATOR_CANCEL``: the phone gets
  CANCEL, the leg ends ORIGINATOR_CANCEL, the originate's job answers
  ``-ERR ORIGINATOR_CANCEL``. An unanswered phone past ``originate_timeout``: CANCEL and
  ``-ERR NO_ANSWER``.
- FreeSWITCH stopped with SIGTERM hangs callers up with SYSTEM_SHUTDOWN before its socket
  closes; killed with SIGKILL it sends nothing, and only the reconciliation after the
  reconnect (new Core-UUID) closes the caller.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from acd.adapters.redis_store import RedisCallStore
from acd.dev.redis_server import RedisServer
from acd.engine.records import CallRecord
from tests.engine_lab import (
    ADMIN_TOKEN,
    MOH,
    PINS,
    RING_TIMEOUT,
    RINGBACK,
    Acd,
    bridged,
    channel_of,
    config_yaml,
    history,
    lab_config,
    played,
    running,
    wait_played,
    watch,
)
from tests.freeswitch_lab import EventRecorder, FreeSwitchLab, poll
from tests.lab.support import LabError

pytestmark = pytest.mark.freeswitch

__all__ = ["lab_config", "watch"]  # the fixtures, imported for this module's tests


@pytest.fixture
def acd(lab_config: str) -> Iterator[Acd]:
    with running(lab_config) as engine:
        yield engine


# -- 1..5: a caller's journey --------------------------------------------------------------


def test_caller_hears_position_and_is_bridged_with_whisper_r_pos_r_whisper(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """R-POS, R-NOSILENCE, R-WHISPER: a SIP caller to 7000 queues, hears hold music and
    its position (PLAYBACK_START of the sv position phrase's files), is offered to the
    registered agent that logs in, both hear the whisper, and the legs are bridged."""
    phone = lab.agent_phone("1001", answer_after=0.2)
    caller = lab.caller("7000")
    uuid = channel_of(watch, caller)
    acd.wait_fact("queued", contact=uuid)
    position = [
        f"{lab.sounds_dir}/sv/acd/du-ar-nummer.wav",
        "file_string://digits/n-1.wav",
        f"{lab.sounds_dir}/sv/acd/i-kon.wav",
    ]
    files = wait_played(
        watch,
        uuid,
        lambda files: all(p in files for p in position) and files[-1] == MOH,
        "position phrase, then hold music",
    )
    assert [f for f in files if f in position] == position
    # The first prompt may come before the music ever started: the announcement's
    # `uuid_break all` flushes a broadcast still queued (R-NOSILENCE either way).
    assert files[0] in (MOH, position[0])
    assert acd.wait_fact("announced", contact=uuid).data["path"] == position[0]

    acd.login("1001")
    offered = acd.wait_fact("offered", contact=uuid, agent="1001")
    leg = str(offered.data["leg"])
    watch.wait("CHANNEL_ANSWER", {"Unique-ID": leg})
    assert bridged(watch, uuid) == leg
    acd.wait_fact("bridged", contact=uuid, agent="1001")
    # The agent hears the whisper in the call's language (sv), to its end before the
    # bridge; the caller's copy may be cut by the bridge.
    assert f"{lab.sounds_dir}/sv/acd/whisper.wav" in played(watch, leg), history(watch, leg)
    events = list(watch.events)
    whispered = [
        i
        for i, e in enumerate(events)
        if e.name == "CHANNEL_EXECUTE_COMPLETE"
        and e.get("Unique-ID") == leg
        and e.get("Application") == "phrase"
    ]
    joined = [i for i, e in enumerate(events) if e.name == "CHANNEL_BRIDGE"]
    assert whispered and joined and whispered[0] < joined[0], history(watch, leg)
    assert any(p.endswith("/sv/acd/whisper.wav") for p in played(watch, uuid))
    assert phone.received("INVITE") == 1
    assert acd.agent_state("1001") == "in_call"

    caller.hangup()
    done = acd.wait_fact("completed", contact=uuid)
    assert done.data["agent"] == "1001"
    watch.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": leg})
    poll(lambda: acd.agent_state("1001") in ("available", "wrap_up"), 5.0, "agent freed")


def test_agent_does_not_answer_next_agent_gets_the_caller_r_noanswer(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """R-NOANSWER: agent 1001's phone rings past the ring timeout; the caller goes to
    agent 1002 at once, and 1001's phone got CANCEL."""
    silent = lab.agent_phone("1001", answer_after=None)
    answering = lab.agent_phone("1002", answer_after=0.2)
    acd.login("1001")
    caller = lab.caller("7000")
    uuid = channel_of(watch, caller)
    first = acd.wait_fact("offered", contact=uuid)
    assert first.data["agent"] == "1001"
    acd.login("1002")
    failed = acd.wait_fact("agent_no_answer", RING_TIMEOUT + 8.0, contact=uuid, agent="1001")
    assert failed.data["cause"] == "NO_ANSWER"
    second = acd.wait_fact("offered", contact=uuid, agent="1002")
    assert bridged(watch, uuid) == second.data["leg"]
    assert answering.received("INVITE") == 1
    poll(lambda: silent.received("CANCEL") == 1, 5.0, "the unanswered phone to get CANCEL")
    assert acd.agent_state("1001") == "available"  # no_answer.state: available


def test_caller_hangs_up_while_agent_rings_leg_cancelled_agent_free(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """The caller hangs up while the agent's phone rings: abandoned with its wait, the
    agent leg cancelled (the phone gets CANCEL, the leg ends ORIGINATOR_CANCEL), and the
    agent is free again: the next caller reaches the same agent."""
    ringing = lab.agent_phone("1001", answer_after=None)
    acd.login("1001")
    caller = lab.caller("7000")
    uuid = channel_of(watch, caller)
    leg = str(acd.wait_fact("offered", contact=uuid, agent="1001").data["leg"])
    poll(lambda: ringing.received("INVITE") == 1, 5.0, "the agent phone to ring")
    caller.hangup()
    abandoned = acd.wait_fact("abandoned", contact=uuid)
    assert float(str(abandoned.data["wait"])) > 0.0
    gone = watch.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": leg})
    assert gone.get("Hangup-Cause") == "ORIGINATOR_CANCEL"
    poll(lambda: ringing.received("CANCEL") == 1, 5.0, "the ringing phone to get CANCEL")
    job = watch.wait("BACKGROUND_JOB", {"Job-Command": "originate"})
    assert job.body.strip() == "-ERR ORIGINATOR_CANCEL"
    poll(lambda: acd.agent_state("1001") == "available", 5.0, "agent 1001 available")

    # The same agent, now on a phone that answers.
    ringing.unregister()
    ringing.kill()
    lab.agent_phone("1001", answer_after=0.2)
    second = lab.caller("7000", caller_id="0701234568")
    second_uuid = channel_of(watch, second)
    offered = acd.wait_fact("offered", contact=second_uuid)
    assert offered.data["agent"] == "1001"
    assert bridged(watch, second_uuid) == offered.data["leg"]


def test_unanswered_entry_hears_ringback_then_answered_and_bridged_r_nosilence(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """R-NOSILENCE for an unanswered park (7001, sales): the engine broadcasts the
    ringback tone_stream and FreeSWITCH plays it (PLAYBACK_START) — never silence; the
    agent answers, the caller is answered (200 OK) and bridged."""
    caller = lab.caller("7001")
    uuid = channel_of(watch, caller)
    park = watch.wait("CHANNEL_PARK", {"Unique-ID": uuid})
    assert park.get("Answer-State") == "ringing"
    acd.wait_fact("queued", contact=uuid)
    files = wait_played(watch, uuid, lambda files: RINGBACK in files, "ringback tone_stream")
    # First the position (en) at once, then ringback queued behind it: never silence.
    assert files[0] == f"{lab.sounds_dir}/en/acd/you-are-number.wav"
    assert files[-1] == RINGBACK
    assert not caller.answered()  # early media only: no minute billed while waiting
    assert caller.received(183) == 1  # the broadcast pre-answered it (SDP for the tone)

    phone = lab.agent_phone("1004", answer_after=0.2, talk=1.0)
    acd.login("1004", ("sales",))
    offered = acd.wait_fact("offered", contact=uuid, agent="1004")
    assert bridged(watch, uuid) == offered.data["leg"]
    poll(caller.answered, 5.0, "the caller to be answered")
    assert phone.received("INVITE") == 1
    watch.wait("CHANNEL_ANSWER", {"Unique-ID": uuid})
    # The agent hangs up after talking: the call completes and the caller gets BYE.
    assert acd.wait_fact("completed", contact=uuid).data["agent"] == "1004"
    poll(lambda: caller.received("BYE") == 1, 5.0, "the caller to get BYE")


def test_feature_code_login_with_id_and_pin_then_call_r_phonelogin_r_freeseat(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder
) -> None:
    """R-PHONELOGIN, R-FREESEAT: from phone 1005 an agent dials *21, keys id 1003 and its
    PIN (no '#'), hears the confirmation and is hung up; the next caller rings phone 1005
    (the phone used), not the agent's default contact user/1003 (not registered)."""
    login = lab.caller("*21", caller_id="1005")
    uuid = channel_of(watch, login)

    def prompt(count: int) -> None:
        poll(
            lambda: (
                len(
                    watch.matching(
                        "CHANNEL_EXECUTE", {"Unique-ID": uuid, "Application": "play_and_get_digits"}
                    )
                )
                >= count
            ),
            10.0,
            f"prompt {count} (play_and_get_digits)",
        )

    prompt(1)
    login.send_dtmf("1003")
    prompt(2)
    login.send_dtmf(PINS["1003"])
    done = acd.wait_fact("agent_login", agent="1003")
    assert done.data["phone"] == "user/1005"
    watch.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": uuid})
    assert any(p.endswith("/sv/acd/login-ok.wav") for p in played(watch, uuid))

    phone = lab.agent_phone("1005", answer_after=0.2)
    caller = lab.caller("7000")
    caller_uuid = channel_of(watch, caller)
    offered = acd.wait_fact("offered", contact=caller_uuid, agent="1003")
    assert bridged(watch, caller_uuid) == offered.data["leg"]
    assert phone.received("INVITE") == 1


# -- 6: SIGKILL of the engine ----------------------------------------------------------------


class EngineProcess:
    """``acd run --config FILE`` as a subprocess; its log in ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        acd = Path(sys.executable).with_name("acd")
        argv = [str(acd)] if acd.exists() else [sys.executable, "-m", "acd.cli"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*argv, "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.http_port = 0
        self.offset = log.stat().st_size

    def wait_started(self, timeout: float = 20.0) -> None:
        def started() -> bool:
            if self.process.poll() is not None:
                raise LabError(f"acd run exited {self.process.returncode}\n{self.tail()}")
            text = self.log.read_text(errors="replace")
            match = re.search(r"acd\.started.*?http_port=(\d+)", text[self.offset :])
            if match is None:
                return False
            self.http_port = int(match.group(1))
            return True

        try:
            poll(started, timeout, "acd run to start")
        except LabError as exc:
            raise LabError(f"{exc}\n{self.tail()}") from None

    def post(self, path: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def test_engine_sigkilled_and_restarted_adopts_the_waiting_caller(
    lab: FreeSwitchLab,
    watch: EventRecorder,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tenant: str,
    tmp_path: Path,
) -> None:
    """DESIGN contract 2 (restart-safe): `acd run` is SIGKILLed while a caller waits; the
    restarted engine adopts the caller with its place (same arrival) and serves it to the
    agent logged in through the HTTP admin API (R-MULTI)."""
    config = tmp_path / "acd.yaml"
    config.write_text(config_yaml(lab, redis_server.url, tenant), encoding="utf-8")

    def stored(uuid: str) -> CallRecord | None:
        # A fresh store each time: a RedisCallStore reads Redis once, then its own copy.
        return RedisCallStore(redis_client, tenant).get_call(uuid)

    log = tmp_path / "acd.log"
    engine = EngineProcess(config, log)
    try:
        engine.wait_started()
        caller = lab.caller("7000")
        uuid = channel_of(watch, caller)
        poll(lambda: stored(uuid) is not None, 10.0, "the engine to queue the caller")
        wait_played(watch, uuid, lambda files: MOH in files, "hold music")
        record = stored(uuid)
        assert record is not None and record.state == "queued"
        arrival = record.arrival

        engine.kill()
        engine = EngineProcess(config, log)
        engine.wait_started()
        phone = lab.agent_phone("1001", answer_after=0.2)
        assert engine.post("/api/agents/1001/login") == 200
        leg = bridged(watch, uuid, 15.0)
        assert phone.received("INVITE") == 1
        served = stored(uuid)
        assert served is not None and served.agent == "1001" and served.agent_leg == leg
        assert served.arrival == arrival  # adopted with its place
        assert caller.running  # never dropped
    except LabError as exc:
        raise LabError(f"{exc}\n--- acd run ---\n{engine.tail()}") from None
    finally:
        engine.stop()


# -- 7: FreeSWITCH restarts ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["restart", "crash"])
def test_freeswitch_restart_engine_reconnects_reconciles_and_serves(
    lab: FreeSwitchLab, acd: Acd, watch: EventRecorder, how: str
) -> None:
    """FreeSWITCH restarts under the engine with a caller waiting — stopped as an operator
    would (SIGTERM: the caller is hung up with SYSTEM_SHUTDOWN, events the engine sees) or
    crashed (SIGKILL: no event at all) — and the engine reconnects to the new core,
    reconciles (the caller that is gone is closed as abandoned in both cases, no agent is
    left stuck) and serves the next caller."""
    before = lab.api("global_getvar core_uuid").strip()
    caller = lab.caller("7000")
    uuid = channel_of(watch, caller)
    acd.wait_fact("queued", contact=uuid)
    reconciles = acd.app.runner.counters["reconciles"]

    if how == "restart":
        lab.restart()
    else:
        lab.kill()
        lab.start()
    assert lab.api("global_getvar core_uuid").strip() != before
    poll(
        lambda: acd.app.runner.counters["reconciles"] > reconciles,
        10.0,
        "the engine to reconnect and reconcile",
    )
    gone = acd.wait_fact("abandoned", contact=uuid)
    if how == "restart":
        assert gone.data["cause"] == "SYSTEM_SHUTDOWN"
    assert acd.app.store.get_call(uuid) is None
    assert uuid not in acd.app.router.snapshot().contacts  # routing closed it too

    phone = lab.agent_phone("1002", answer_after=0.2)
    acd.login("1002")
    second = lab.caller("7000", caller_id="0701234569")
    second_uuid = channel_of(watch, second)
    offered = acd.wait_fact("offered", contact=second_uuid, agent="1002")
    assert bridged(watch, second_uuid) == offered.data["leg"]
    assert phone.received("INVITE") == 1
