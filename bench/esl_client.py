"""Events per second through ESLClient against plain greenswitch, on real FreeSWITCH traffic.

A local server replays the event frames of ``s08_bulk_acd_traffic`` (4,808 events of a
real FreeSWITCH 1.10.12, 40 callers and their agent legs) over TCP to one client,
right after it subscribes. Measured in the same run, same process, one core:

* ``greenswitch``: ``greenswitch.esl.InboundESL`` with a ``'*'`` handler (its own reader,
  one handler greenlet);
* ``client``: ``freeswitch.client.ESLClient`` with a ``'*'`` handler (the project parser,
  per-call lanes, backlog accounting).

Both handlers read the event name and Unique-ID, as an engine's dispatch would. The time
runs from connect until the last event reached the handler. Medians over the rounds.
Run: ``python bench/esl_client.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent.server import StreamServer

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import structlog  # noqa: E402
from greenswitch.esl import InboundESL  # noqa: E402

from freeswitch import wire  # noqa: E402
from freeswitch.client import ClientSettings, ESLClient  # noqa: E402
from freeswitch.messages import Event  # noqa: E402
from freeswitch.parser import Parser  # noqa: E402
from tests.captures import load_in  # noqa: E402


def event_frames() -> list[bytes]:
    frames = []
    for message in Parser().feed(load_in("s08_bulk_acd_traffic")):
        if isinstance(message, Event) and message.format == "plain":
            raw = message.raw_body
            frames.append(
                b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(raw) + raw
            )
    return frames


class StreamingServer:
    """auth → +OK; event → +OK, then the whole payload; exit → bye."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def handle(self, sock: Any, _address: object) -> None:
        buffer = b""
        try:
            sock.sendall(wire.encode_auth_request())
            while True:
                while b"\n\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                command, _, buffer = buffer.partition(b"\n\n")
                if command.startswith(b"auth "):
                    sock.sendall(wire.encode_command_reply("+OK accepted"))
                elif command.startswith(b"event "):
                    sock.sendall(wire.encode_command_reply("+OK event listener enabled plain"))
                    sock.sendall(self.payload)
                elif command == b"exit":
                    sock.sendall(
                        wire.encode_command_reply("+OK bye") + wire.encode_disconnect_notice()
                    )
                    return
                else:
                    sock.sendall(wire.encode_command_reply("-ERR command not found"))
        except OSError:
            return
        finally:
            sock.close()

    def stop(self) -> None:
        self.server.stop(timeout=1)


def run_greenswitch(port: int, total: int) -> float:
    done = gevent.event.Event()
    count = [0]

    def handle(event: Any) -> None:
        _ = (event.headers.get("Event-Name"), event.headers.get("Unique-ID"))
        count[0] += 1
        if count[0] == total:
            done.set()

    client = InboundESL("127.0.0.1", port, "ClueCon")
    client.register_handle("*", handle)
    started = time.perf_counter()
    client.connect()
    client.send("event plain ALL")
    if not done.wait(120):
        raise SystemExit(f"greenswitch: only {count[0]} of {total} events")
    elapsed = time.perf_counter() - started
    client.stop()
    return total / elapsed


def run_client(port: int, total: int) -> float:
    done = gevent.event.Event()
    count = [0]

    def handle(event: Event) -> None:
        _ = (event.name, event.uuid)
        count[0] += 1
        if count[0] == total:
            done.set()

    client = ESLClient(ClientSettings("127.0.0.1", port, "ClueCon", backlog=total + 1))
    client.register_handle("*", handle)
    started = time.perf_counter()
    client.connect()
    if not done.wait(120):
        raise SystemExit(f"client: only {count[0]} of {total} events")
    elapsed = time.perf_counter() - started
    client.stop()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one copy of the stream, 2 rounds")
    args = parser.parse_args()
    copies, rounds = (1, 2) if args.quick else (4, 5)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    frames = event_frames() * copies
    payload = b"".join(frames)
    server = StreamingServer(payload)
    results: dict[str, list[float]] = {"greenswitch": [], "client": []}
    try:
        for _ in range(rounds):
            results["greenswitch"].append(run_greenswitch(server.port, len(frames)))
            results["client"].append(run_client(server.port, len(frames)))
    finally:
        server.stop()
    median = {name: statistics.median(values) for name, values in results.items()}
    print(f"{len(frames)} events ({len(payload) / 1e6:.1f} MB) per round, {rounds} rounds")
    for name, values in results.items():
        spread = ", ".join(f"{v:,.0f}" for v in values)
        print(f"  {name:12s} median {median[name]:>9,.0f} events/s   ({spread})")
    ratio = median["client"] / median["greenswitch"]
    print(f"  client / greenswitch = {ratio:.2f}")
    print(
        f"RESULT client_eps={median['client']:.0f} greenswitch_eps={median['greenswitch']:.0f} "
        f"ratio={ratio:.2f} events={len(frames)}"
    )


if __name__ == "__main__":
    main()
