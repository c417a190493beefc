"""Events as the simulator fires them: header lists plus lazily cached wire encodings.

The common header block (``Event-Name`` … ``Event-Sequence``) is built like
``switch_event_prep_for_delivery``: one global ``Event-Sequence`` counter and a
``Core-UUID`` per simulator run (both start again on a simulated restart), dates in local
time, GMT and epoch microseconds.
"""

from __future__ import annotations

import time
import uuid as uuid_module
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from freeswitch.sim.channels import Channel
from freeswitch.sim.templates import CALLING, EVENTS_WITH_VARIABLES
from freeswitch.wire import encode_event_json, encode_event_plain

Headers = list[tuple[str, str]]


@dataclass(eq=False)
class SimEvent:
    """One fired event. ``name`` decides subscriptions; ``headers`` is what goes on the wire.

    For ``PRIVATE_COMMAND`` the first wire header is not ``Event-Name`` (FreeSWITCH reuses
    the command message), which is why the name is kept apart from the headers.
    """

    name: str
    headers: Headers
    body: str = ""
    subclass: str | None = None
    _plain: bytes | None = field(default=None, repr=False)
    _json: bytes | None = field(default=None, repr=False)

    def get(self, name: str) -> str | None:
        """First header of that name, case-insensitively as switch_event_get_header."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def unique_id(self) -> str | None:
        return self.get("Unique-ID")

    def encode(self, fmt: str) -> bytes:
        """The frame for a listener in ``fmt`` ("plain" or "json"), encoded once."""
        if fmt == "json":
            if self._json is None:
                self._json = encode_event_json(self.headers, self.body)
            return self._json
        if self._plain is None:
            self._plain = encode_event_plain(self.headers, self.body)
        return self._plain


class EventFactory:
    """Builds header lists; owns the sequence counter and the Core-UUID."""

    def __init__(self, hostname: str, ipv4: str, ipv6: str) -> None:
        self.hostname = hostname
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.core_uuid = str(uuid_module.uuid4())
        self.sequence = 0
        self.started = time.time()

    def restart(self) -> None:
        """What a FreeSWITCH restart does to the stream: new Core-UUID, sequence from 0."""
        self.core_uuid = str(uuid_module.uuid4())
        self.sequence = 0
        self.started = time.time()

    @staticmethod
    def now_us() -> int:
        return time.time_ns() // 1000

    def base(self, name: str, calling_key: str | None = None) -> Headers:
        self.sequence += 1
        now = time.time()
        calling = CALLING.get(calling_key or name, ("switch_event.c", "switch_event_fire", "1"))
        return [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", self.hostname),
            ("FreeSWITCH-Switchname", self.hostname),
            ("FreeSWITCH-IPv4", self.ipv4),
            ("FreeSWITCH-IPv6", self.ipv6),
            ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))),
            ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))),
            ("Event-Date-Timestamp", str(int(now * 1_000_000))),
            ("Event-Calling-File", calling[0]),
            ("Event-Calling-Function", calling[1]),
            ("Event-Calling-Line-Number", calling[2]),
            ("Event-Sequence", str(self.sequence)),
        ]

    def plain(self, name: str, extra: Iterable[tuple[str, str]] = (), body: str = "") -> SimEvent:
        """A non-channel event (API, BACKGROUND_JOB, HEARTBEAT, SHUTDOWN, ...)."""
        return SimEvent(name, self.base(name) + list(extra), body)

    def custom(self, subclass: str, extra: Iterable[tuple[str, str]] = ()) -> SimEvent:
        """A CUSTOM event: FreeSWITCH puts Event-Subclass before Event-Name."""
        key = "CUSTOM_" + subclass.replace("::", "_").upper()
        headers = [("Event-Subclass", subclass), *self.base("CUSTOM", key), *extra]
        return SimEvent("CUSTOM", headers, subclass=subclass)

    def channel(
        self,
        name: str,
        channel: Channel,
        other: Channel | None = None,
        *,
        before: Sequence[tuple[str, str]] = (),
        after: Sequence[tuple[str, str]] = (),
        prefix: Sequence[tuple[str, str]] = (),
        calling_key: str | None = None,
    ) -> SimEvent:
        """A channel event: base, ``before``, channel data, ``after``, then variables.

        ``prefix`` goes in front of everything (the PRIVATE_COMMAND quirk).
        """
        headers = [*prefix, *self.base(name, calling_key), *before]
        headers.extend(channel.data_headers(other))
        headers.extend(after)
        if name in EVENTS_WITH_VARIABLES:
            headers.extend(channel.variable_headers())
        return SimEvent(name, headers)
