"""Filters never hide the events the client itself relies on (issue 11, part 2).

Once any ``filter`` is set, mod_event_socket sends only matching events, BACKGROUND_JOB and
HEARTBEAT included (event_handler in mod_event_socket.c; the simulator applies the same
rules). These tests run the client against the simulator over TCP, and the sans-IO
FilterBook against a model of FreeSWITCH's filter list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.errors import ConfigError
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.errors import InvalidArgument
from freeswitch.filters import (
    BACKGROUND_JOB_FILTER,
    HEARTBEAT_FILTER,
    FilterBook,
    check_filter,
    own_filters,
)
from freeswitch.messages import Event
from freeswitch.sim import Simulator
from tests.fake_esl_server import free_port, make_client, wait_until

pytestmark = pytest.mark.timeout(60)

OTHER = "00000000-0000-4000-8000-000000000001"


def server_filters(sim: Simulator) -> list[tuple[str, str]]:
    """What the simulated FreeSWITCH holds for the one client connected."""
    wait_until(lambda: len(sim.listeners) == 1, message="one listener")
    return list(sim.listeners[0].filters)


def test_bgapi_works_with_a_unique_id_filter(sim: Simulator, clients: list[ESLClient]) -> None:
    """The issue's input: filters=(("Unique-ID", uuid),) then bgapi("status").wait(3)."""
    client = make_client(clients, sim.port, filters=(("Unique-ID", OTHER),))
    client.connect()
    assert client.bgapi("status").wait(3).startswith("UP ")
    assert server_filters(sim) == [BACKGROUND_JOB_FILTER, ("Unique-ID", OTHER)]


def test_the_user_filter_still_narrows_the_stream(sim: Simulator, clients: list[ESLClient]) -> None:
    """The client's own filters let its own events through, not other calls' events."""
    parked: list[str | None] = []
    client = make_client(clients, sim.port, events=("CHANNEL_PARK",))
    client.register_handle("CHANNEL_PARK", lambda e: parked.append(e.uuid))
    client.connect()
    client.add_filter("Unique-ID", OTHER)
    sim.place_call()  # filtered out
    sim.place_call(uuid=OTHER)
    # The BACKGROUND_JOB is fired after both parks, so it arrives after them.
    assert client.bgapi("status").wait(3).startswith("UP ")
    assert client.wait_idle(2)
    assert parked == [OTHER]


def test_deleting_the_last_user_filter_restores_the_full_stream(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    client = make_client(clients, sim.port, events=("CHANNEL_PARK",))
    parked: list[str | None] = []
    client.register_handle("CHANNEL_PARK", lambda e: parked.append(e.uuid))
    client.connect()
    client.add_filter("Unique-ID", OTHER)
    assert server_filters(sim) == [BACKGROUND_JOB_FILTER, ("Unique-ID", OTHER)]
    client.delete_filter("unique-id", OTHER)  # FreeSWITCH compares names case-insensitively
    assert server_filters(sim) == []
    assert client.filters == ()
    caller = sim.place_call()
    wait_until(lambda: parked == [caller])


def test_user_cannot_delete_the_clients_own_filter(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    """FreeSWITCH deletes every copy of a (name, value) pair, so the client installs each
    pair once and keeps its own while the user has any filter."""
    client = make_client(clients, sim.port, filters=(("Unique-ID", OTHER),))
    client.connect()
    client.add_filter("Event-Name", "BACKGROUND_JOB")  # the same pair as the client's own
    client.delete_filter("Event-Name", "BACKGROUND_JOB")
    assert server_filters(sim) == [BACKGROUND_JOB_FILTER, ("Unique-ID", OTHER)]
    assert client.bgapi("status").wait(3).startswith("UP ")
    with pytest.raises(InvalidArgument, match="add_filter"):
        client.send("filter delete Event-Name BACKGROUND_JOB")
    with pytest.raises(InvalidArgument, match="keyword"):
        client.delete_filter("all", "x")  # `filter delete all` would remove every filter
    assert server_filters(sim) == [BACKGROUND_JOB_FILTER, ("Unique-ID", OTHER)]


def test_reconnect_replays_own_and_user_filters_before_the_subscription(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    client = make_client(clients, sim.port, events=("CHANNEL_PARK",), idle_timeout=30.0)
    client.connect()
    client.add_filter("Unique-ID", OTHER)
    sim.drop_connections()
    wait_until(lambda: client.reconnects == 1 and client.connected)
    expected = [BACKGROUND_JOB_FILTER, HEARTBEAT_FILTER, ("Unique-ID", OTHER)]
    assert server_filters(sim) == expected
    replayed = sim.commands_received[-4:]
    assert replayed == [
        "filter Event-Name BACKGROUND_JOB",
        "filter Event-Name HEARTBEAT",
        f"filter Unique-ID {OTHER}",
        "event plain CHANNEL_PARK HEARTBEAT",
    ]
    assert client.bgapi("status").wait(3).startswith("UP ")


@pytest.fixture
def beating_sim() -> Iterator[Simulator]:
    simulator = Simulator(port=0, time_scale=0.01, heartbeat_interval=0.02).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def test_idle_watchdog_keeps_hearing_heartbeats_through_a_filter(
    beating_sim: Simulator, clients: list[ESLClient]
) -> None:
    """With idle_timeout on and a Unique-ID filter, HEARTBEAT still arrives, so a healthy
    connection is not taken for a dead one. 20 heartbeats span 0.4 s, twice the watchdog."""
    client = make_client(
        clients,
        beating_sim.port,
        events=("CHANNEL_PARK",),
        idle_timeout=0.2,
        filters=(("Unique-ID", OTHER),),
    )
    beats: list[Event] = []
    client.register_handle("HEARTBEAT", beats.append)
    client.connect()
    wait_until(lambda: len(beats) >= 20, message="heartbeats hidden by the filter")
    assert client.reconnects == 0


# -- refused filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Unique-ID", "-abc", "negative"),
        ("Event-Name", " +-HEARTBEAT", "negative"),
        ("Unique-ID", "", "empty"),
        ("Unique-ID", "+", "empty"),
        ("delete", "Unique-ID", "keyword"),
        ("ADD", "Unique-ID x", "keyword"),
        ("all", "x", "keyword"),
        ("Unique ID", "x", "filter header"),
        ("Unique-ID", "a\nb", "control character"),
        ("Unique-ID", "1000\udcf1", "not UTF-8"),  # bytes FreeSWITCH sent that were not UTF-8
    ],
)
def test_filters_that_would_break_the_guarantee_are_refused(
    header: str, value: str, reason: str, clients: list[ESLClient]
) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        check_filter(header, value)
    with pytest.raises(ConfigError, match=reason):
        ClientSettings("127.0.0.1", 8021, "ClueCon", filters=((header, value),))
    client = make_client(clients, free_port(), events=("CHANNEL_PARK",))  # never connected
    with pytest.raises(InvalidArgument, match=reason):
        client.add_filter(header, value)
    assert client.filters == ()


def test_positive_prefixes_and_regexes_are_accepted() -> None:
    assert check_filter("Unique-ID", "+abc") == ("Unique-ID", "+abc")
    assert check_filter("Event-Name", "/^CHANNEL_/") == ("Event-Name", "/^CHANNEL_/")


# -- the bookkeeping against a model of FreeSWITCH's filter list ----------------------------

EVENTS = [
    {"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j1"},
    {"Event-Name": "HEARTBEAT"},
    {"Event-Name": "CHANNEL_PARK", "Unique-ID": "u1"},
    {"Event-Name": "CHANNEL_PARK", "Unique-ID": "u2"},
    {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "u1"},
    {"Event-Name": "DTMF", "Unique-ID": "u2", "DTMF-Digit": "5"},
]
USER_PAIRS = st.sampled_from(
    [
        ("Unique-ID", "u1"),
        ("unique-id", "u1"),
        ("Unique-ID", "u2"),
        ("Event-Name", "CHANNEL_PARK"),
        ("Event-Name", "BACKGROUND_JOB"),
        ("Event-Name", "/.*/"),
        ("Event-Name", "/^DTMF$/"),
        ("DTMF-Digit", "+5"),
    ]
)


class FreeSwitchFilters:
    """mod_event_socket's filter list: `filter` appends, `filter delete N V` drops every
    copy (name case-insensitive, value exact); an event passes with no filter or when a
    positive filter matches one of its headers (case-insensitive, or /regex/)."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def run(self, line: str) -> None:
        words = line.split(" ", 3)
        assert words[0] == "filter"
        if words[1] == "delete":
            name, value = words[2], words[3]
            self.pairs = [
                p for p in self.pairs if not (p[0].lower() == name.lower() and p[1] == value)
            ]
        else:
            self.pairs.append((words[1], line.split(" ", 2)[2]))

    def passing(self) -> set[int]:
        return {i for i, event in enumerate(EVENTS) if self._passes(event)}

    def _passes(self, event: dict[str, str]) -> bool:
        if not self.pairs:
            return True
        headers = {k.lower(): v for k, v in event.items()}
        for name, value in self.pairs:
            seen = headers.get(name.lower())
            if seen is None:
                continue
            compare = value.lstrip("+ ")
            if value.startswith("/"):
                if re.search(value[1:].rpartition("/")[0], seen):
                    return True
            elif seen.lower() == compare.lower():
                return True
        return False


@settings(max_examples=200, deadline=None)
@given(
    watchdog=st.booleans(),
    steps=st.lists(st.tuples(st.booleans(), USER_PAIRS), max_size=12),
)
def test_filter_book_keeps_own_events_and_never_narrows_mid_change(
    watchdog: bool, steps: list[tuple[bool, tuple[str, str]]]
) -> None:
    """Random adds and deletes: FreeSWITCH ends up holding exactly `installed()`; the
    client's events pass whenever any filter is set; no filter means the full stream; and
    no state while a change's commands run is narrower than both ends of it."""
    own = own_filters(watchdog)
    book = FilterBook(own)
    server = FreeSwitchFilters()
    own_events = {0, 1} if watchdog else {0}
    for add, pair in steps:
        before = server.passing()
        lines = book.add(pair) if add else book.delete(pair)
        after_model = FreeSwitchFilters()
        for line in book.replay():
            after_model.run(line)
        after = after_model.passing()
        for line in lines:
            server.run(line)
            assert server.passing() >= before & after, (line, lines)
        assert server.passing() == after
        assert sorted(server.pairs) == sorted(book.installed())
        assert len({(n.lower(), v) for n, v in server.pairs}) == len(server.pairs)
        assert own_events <= server.passing()
        if not book.user:
            assert server.pairs == []
            assert server.passing() == set(range(len(EVENTS)))
