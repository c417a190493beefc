"""The runner never writes an agent leg's ``uuid_bridge`` before that leg's ``bgapi
originate`` has its result.

FreeSWITCH (mod_commands ``originate``) answers the job ``+OK`` only after its originate
thread has cleared the answered leg's state handlers and set it to run ``&park()``. A
``uuid_bridge`` that lands before that (the engine bridges on the leg's CHANNEL_ANSWER when
no whisper is configured) loses its state handlers: the agent leg parks, the caller waits
in CS_SOFT_EXECUTE and ~20 s later both are hung up with DESTINATION_OUT_OF_ORDER, a caller
never served (bench/vs_modcc.py, agent-freed phase: about 1 call in 400-1600).
"""

from __future__ import annotations

import types

import gevent
import pytest

from acd.adapters import runner as runner_module
from acd.adapters.runner import Runner
from acd.engine.effects import Api, Originate
from freeswitch import commands
from freeswitch.client import CommandBatch
from freeswitch.jobs import BackgroundJob, JobRegistry

CALLER = "11111111-1111-4111-8111-111111111111"
LEG = "22222222-2222-4222-8222-222222222222"


class _Accepted:
    """The ``+OK Job-UUID`` reply of a bgapi, already there."""

    def get(self) -> object:
        return object()


class _Client:
    """What the runner's ``_carry_out`` uses of :class:`freeswitch.client.ESLClient`;
    records each batch's command lines as written."""

    def __init__(self) -> None:
        self._jobs = JobRegistry(60.0)
        self.written: list[str] = []

    def _ensure_background_jobs(self) -> None:
        pass

    def batch(self) -> CommandBatch:
        return CommandBatch(self)  # type: ignore[arg-type]  # duck-typed stand-in

    def alias_lane(self, leg: str, contact: str) -> None:
        pass

    def submit_batch(self, batch: CommandBatch) -> list[_Accepted]:
        self.written += [text.split("\n")[0] for text in batch.texts]
        return [_Accepted() for _ in batch.texts]


def _runner(client: _Client) -> Runner:
    store = types.SimpleNamespace(send=lambda: None, flush=lambda: None)
    return Runner(types.SimpleNamespace(store=store), client)  # type: ignore[arg-type]


def _originated(client: _Client, runner: Runner) -> BackgroundJob:
    """Apply the agent leg's originate; its job, taken out of the client's registry."""
    originate = commands.originate("user/1001", uuid=LEG, timeout=20)
    runner.apply([Originate(CALLER, LEG, originate, 20)])
    job = client._jobs.pop(next(iter(client._jobs._jobs)))
    assert job is not None
    return job


def _bridges(client: _Client) -> list[str]:
    return [line for line in client.written if "uuid_bridge" in line]


def test_uuid_bridge_waits_for_the_agent_legs_originate_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner_module, "ORIGINATE_SETTLE", 60.0)  # never the cap here
    client = _Client()
    runner = _runner(client)
    job = _originated(client, runner)
    # The leg's CHANNEL_ANSWER, handled on the caller's lane: bridge at once (no whisper).
    lane = gevent.spawn(runner.apply, [Api(commands.uuid_bridge(CALLER, LEG))])
    for _ in range(20):
        gevent.sleep(0)  # every other greenlet runs: nothing else can release the lane
    assert _bridges(client) == []
    job.resolve(f"+OK {LEG}\n")  # the job's BACKGROUND_JOB: the originate thread is done
    lane.join(timeout=5.0)
    assert lane.successful()
    assert _bridges(client) == [f"api uuid_bridge {CALLER} {LEG}"]
    runner.stop()


def test_uuid_bridge_goes_at_once_once_the_originate_has_its_result() -> None:
    """The usual case after a restart or with a whisper: no wait at all."""
    client = _Client()
    runner = _runner(client)
    job = _originated(client, runner)
    job.resolve(f"+OK {LEG}\n")
    runner.apply([Api(commands.uuid_bridge(CALLER, LEG))])  # same greenlet: must not block
    assert _bridges(client) == [f"api uuid_bridge {CALLER} {LEG}"]
    runner.stop()
