"""Event Socket parsing: the project's sans-IO parser against greenswitch's own, same bytes.

Input: every recording's server->client bytes (``tests/captures.py``) except the JSON one
(s04: greenswitch cannot parse ``text/event-json`` at all), then a synthetic stream of
100,000 real CHANNEL_* events from s08 (10,000 with ``--quick``), each with a fresh
Unique-ID and Event-Sequence, so sizes and header counts are real (~2.7 KB, ~110 headers).
Each recording and the synthetic stream is parsed as its own connection (a new parser).

* greenswitch: ``greenswitch.esl.ESLProtocol`` whose ``sock_file`` is an ``io.BytesIO`` of
  the stream, ``receive_events()`` run to EOF. Its ``handle_event`` parses every event fully
  and puts it in ``_esl_event_queue``, here replaced by a counter (no queue cost is charged
  to greenswitch, and 100,000 parsed events are not kept in memory).
* project, dispatch path: ``Parser.feed`` on 64 KiB chunks, then ``name``, ``uuid`` and
  ``dispatch_key`` of every event -- what the client's reader needs to route an event.
  Event headers are decoded lazily, so this path never decodes whole header blocks.
* project, full decode: the same, plus every event's complete, URL-decoded header dict.

Receiving the bytes is timed for neither side: greenswitch reads an in-memory ``BytesIO``
(no copy per received block), so the project's 64 KiB chunks are cut before the clock starts
(cutting them in the timed loop would charge a copy of every byte, what ``recv`` does, to the
project alone).

Events per second are per second of this process's CPU time (``time.process_time``: the
machine is shared, and time spent running other processes must not count), the median of
N runs (default 5); the three paths take turns within each run. RESULT's ``ratio`` is the
dispatch path against greenswitch; ``full_decode_ratio`` the full-decode path against it.
Run: ``python bench/esl_parse.py [--quick] [--runs N]``.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenswitch.esl import ESLProtocol

# Run as a script, this file's directory comes first on sys.path (and bench/routing.py would
# shadow the routing package); the project root must come first instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from freeswitch.messages import Event  # noqa: E402
from freeswitch.parser import Parser  # noqa: E402
from tests.captures import RECORDINGS, load_in  # noqa: E402

CHUNK = 64 * 1024
SEED = 20261124
_UNIQUE_ID = re.compile(rb"\nUnique-ID: ([0-9a-f-]{36})\n")
_SEQUENCE = re.compile(rb"\nEvent-Sequence: (\d+)\n")
_EVENT_HEAD = re.compile(rb"Content-Length: (\d+)\nContent-Type: text/event-plain\n\n")


def channel_events(stream: bytes) -> list[bytes]:
    """The raw bodies of the CHANNEL_* plain events in a recorded stream."""
    bodies = []
    for match in _EVENT_HEAD.finditer(stream):
        body = stream[match.end() : match.end() + int(match.group(1))]
        if body.startswith(b"Event-Name: CHANNEL_") and _UNIQUE_ID.search(body):
            bodies.append(body)
    return bodies


def synthetic_stream(templates: list[bytes], count: int) -> bytes:
    """``count`` event frames cycling through ``templates``, each with a new uuid and sequence."""
    rng = random.Random(SEED)
    frames = []
    for n in range(count):
        body = templates[n % len(templates)]
        old_uuid = _UNIQUE_ID.search(body)
        assert old_uuid is not None
        new_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()
        body = body.replace(old_uuid.group(1), new_uuid)
        body = _SEQUENCE.sub(b"\nEvent-Sequence: %d\n" % (1_000_000 + n), body, count=1)
        frames.append(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body))
        frames.append(body)
    return b"".join(frames)


class _Replies:
    """Stands in for greenswitch's list of waiting commands: every reply finds a waiter."""

    def pop(self, index: int) -> _Replies:
        return self

    def set(self, value: object) -> None:
        pass


class _CountingQueue:
    """Stands in for greenswitch's event queue: counts the parsed events, keeps none."""

    def __init__(self) -> None:
        self.events = 0
        self.other = 0

    def put(self, event: Any) -> None:
        if event.headers.get("Content-Type") == "text/event-plain":
            self.events += 1
        else:
            self.other += 1


@dataclass(frozen=True)
class Connection:
    """One connection's server -> client bytes, whole and cut as the project's reader gets them."""

    stream: bytes
    chunks: list[bytes]

    @classmethod
    def of(cls, stream: bytes) -> Connection:
        return cls(
            stream, [stream[start : start + CHUNK] for start in range(0, len(stream), CHUNK)]
        )


def run_greenswitch(connections: list[Connection]) -> int:
    events = 0
    for connection in connections:
        protocol = ESLProtocol()
        protocol.sock = None
        protocol.sock_file = io.BytesIO(connection.stream)
        protocol._commands_sent = _Replies()
        queue = _CountingQueue()
        protocol._esl_event_queue = queue
        protocol.receive_events()
        events += queue.events
    return events


def run_dispatch(connections: list[Connection]) -> int:
    events = 0
    for connection in connections:
        parser = Parser()
        for chunk in connection.chunks:
            for message in parser.feed(chunk):
                if isinstance(message, Event):
                    message.name  # noqa: B018 - reading is the work being measured
                    message.uuid  # noqa: B018
                    message.dispatch_key  # noqa: B018
                    events += 1
        assert parser.buffered == 0
    return events


def run_full_decode(connections: list[Connection]) -> int:
    events = 0
    for connection in connections:
        parser = Parser()
        for chunk in connection.chunks:
            for message in parser.feed(chunk):
                if isinstance(message, Event):
                    message.headers  # noqa: B018 - decodes every header
                    events += 1
        assert parser.buffered == 0
    return events


def measure(
    runs: int, paths: dict[str, Callable[[list[Connection]], int]], connections: list[Connection]
) -> dict[str, tuple[int, float]]:
    """Per path: (events counted, median events/s). The paths take turns in every round, so
    a noisy moment on a shared machine hits all of them rather than one."""
    rates: dict[str, list[float]] = {label: [] for label in paths}
    counted: dict[str, int] = {}
    for _ in range(runs):
        for label, run in paths.items():
            gc.collect()
            started = time.process_time()
            counted[label] = run(connections)
            rates[label].append(counted[label] / (time.process_time() - started))
    return {label: (counted[label], statistics.median(rates[label])) for label in paths}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    options.add_argument("--quick", action="store_true", help="10,000 synthetic events")
    options.add_argument("--runs", type=int, default=5, help="repetitions (median reported)")
    args = options.parse_args()
    synthetic = 10_000 if args.quick else 100_000

    recorded = [name for name in RECORDINGS if name != "s04_caller_journey_json"]
    templates = channel_events(load_in("s08_bulk_acd_traffic"))
    # One stream per connection (each recording is one; greenswitch would read a recording's
    # disconnect-notice body as the next frame's headers if they were glued together).
    streams = [load_in(name) for name in recorded]
    streams.append(synthetic_stream(templates, synthetic))
    connections = [Connection.of(stream) for stream in streams]
    del streams
    print(
        f"input: {sum(len(c.stream) for c in connections) / 1e6:.1f} MB = {len(recorded)}"
        f" recordings (all but the JSON one) + {synthetic:,} synthetic events from"
        f" {len(templates)} real CHANNEL_* events of s08, each its own connection;"
        f" median of {args.runs} runs"
    )

    for run in (run_greenswitch, run_dispatch, run_full_decode):  # warm-up, not timed
        run([Connection.of(load_in("s03_caller_journey_plain"))])

    results = measure(
        args.runs,
        {"greenswitch": run_greenswitch, "dispatch": run_dispatch, "full": run_full_decode},
        connections,
    )
    gs_events, gs_eps = results["greenswitch"]
    events, eps = results["dispatch"]
    full_events, full_eps = results["full"]
    if not gs_events == events == full_events:
        raise SystemExit(f"event counts differ: {gs_events} / {events} / {full_events}")
    ratio = eps / gs_eps
    full_ratio = full_eps / gs_eps
    print(f"greenswitch receive_events (full parse):    {gs_events:,} events, {gs_eps:,.0f}/s")
    print(
        f"project dispatch path (name/uuid/key):      {events:,} events, {eps:,.0f}/s"
        f"  ratio {ratio:.2f}x"
    )
    print(
        f"project full decode (every header dict):    {full_events:,} events, {full_eps:,.0f}/s"
        f"  ratio {full_ratio:.2f}x"
    )

    json_results = measure(
        args.runs,
        {"dispatch": run_dispatch, "full": run_full_decode},
        [Connection.of(load_in("s04_caller_journey_json"))],
    )
    json_events, json_eps = json_results["dispatch"]
    json_full, json_full_eps = json_results["full"]
    print(
        f"project only, JSON events of s04 ({json_events} events; greenswitch cannot parse"
        f" them): dispatch {json_eps:,.0f}/s, full decode {json_full_eps:,.0f}/s"
    )
    assert json_events == json_full
    print(
        f"RESULT project_eps={eps:.0f} greenswitch_eps={gs_eps:.0f} ratio={ratio:.2f}"
        f" full_decode_eps={full_eps:.0f} full_decode_ratio={full_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
