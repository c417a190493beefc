"""``make demo`` (issue 12 §7): the engine serves simulated callers and says so every second."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import IO

from acd.dev.demo import summarize
from routing.api import AgentView, ContactState, ContactView, Presence, RouterState

LINE = re.compile(
    r"t=\d+s waiting=(?P<waiting>\d+) longest=(?P<longest>[\d.]+)s free=(?P<free>\d+)"
    r" busy=(?P<busy>\d+) wrap_up=(?P<wrap_up>\d+) paused=(?P<paused>\d+)"
    r" answered=(?P<answered>\d+) abandoned=(?P<abandoned>\d+)"
)


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def test_demo_serves_callers_and_prints_one_summary_a_second_until_interrupted() -> None:
    """Own Redis, the simulator in its own process, the engine: callers get answered."""
    command = [sys.executable, "-m", "acd.dev.demo", "--time-scale=0.2", "--calls-per-minute=90"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
        seen: list[re.Match[str]] = []
        deadline = time.monotonic() + 30.0
        try:
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    break
                match = LINE.fullmatch(line)
                assert match is not None, f"not a summary line: {line!r}"
                seen.append(match)
                if int(match["answered"]) > 0:
                    break
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            code = proc.wait(timeout=20)
        err = proc.stderr.read()
    assert seen and int(seen[-1]["answered"]) > 0, f"no caller answered; stderr:\n{err}"
    for match in seen:
        agents = sum(int(match[k]) for k in ("free", "busy", "wrap_up", "paused"))
        assert agents <= 10  # the default configuration's ten agents
    assert code == 0, err
    assert "demo.stopped" in err


def _agent(
    agent_id: str, presence: Presence, assigned: tuple[tuple[str, ContactState], ...] = ()
) -> AgentView:
    return AgentView(
        id=agent_id,
        skills=(),
        languages=(),
        passive=False,
        chat_capacity=1,
        email_capacity=1,
        presence=presence,
        pause_reason=None,
        wrap_until=None,
        idle_since=0.0,
        queues=("q",),
        load=(len(assigned), 0, 0),
        assigned=assigned,
    )


def _contact(contact_id: str, state: ContactState, arrival: float) -> ContactView:
    return ContactView(
        id=contact_id,
        channel="voice",
        queue="q",
        queues=("q",),
        requirements=(),
        language=None,
        priority=0,
        arrival=arrival,
        score=0,
        state=state,
        restriction=None,
        target=None,
        restricted_until=None,
        steps_applied=0,
        attempt=0,
        agent=None,
        reservation=None,
        expires_at=None,
        announced=0,
    )


def test_summary_counts_agents_by_presence_and_the_longest_waiting_caller() -> None:
    state = RouterState(
        agents={
            "1": _agent("1", "ready"),
            "2": _agent("2", "ready", (("c3", "busy"),)),
            "3": _agent("3", "paused"),
            "4": _agent("4", "wrap_up"),
            "5": _agent("5", "logged_out"),
        },
        contacts={
            "c1": _contact("c1", "waiting", 100.0),
            "c2": _contact("c2", "waiting", 90.0),
            "c3": _contact("c3", "busy", 50.0),
        },
        waiting={},
        targeted={},
        reservations={},
        timers=(),
        stats={},
    )
    summary = summarize(state, Counter({"bridged": 4, "abandoned": 2, "answered": 9}), 110.0)
    assert (summary.waiting, summary.longest_wait) == (2, 20.0)
    assert (summary.free, summary.busy, summary.wrap_up, summary.paused) == (1, 1, 1, 1)
    assert (summary.answered, summary.abandoned) == (4, 2)
