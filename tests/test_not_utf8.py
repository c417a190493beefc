"""FreeSWITCH does not promise UTF-8 (issue 11, part 1).

FreeSWITCH never checks channel data: a SIP display name or a dialled number can hold any
byte. Plain events %-encode such a byte (``%F1``); JSON events, ``api`` bodies
(``show channels as json``) and ``bgapi`` results carry it raw. A well-formed frame must
always parse and every header of it must be readable: bytes that are not UTF-8 are kept,
per name and value, as ``surrogateescape`` surrogates. Only the structure of a frame is a
protocol error. Header names: kept like values (FreeSWITCH writes channel variable names
unencoded into plain events as ``variable_<name>`` and never checks them either).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

import gevent.event
import gevent.socket
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeswitch import commands
from freeswitch.channel_rows import parse_show_channels
from freeswitch.client import ESLClient
from freeswitch.errors import InvalidArgument, ProtocolError
from freeswitch.messages import ApiResponse, CommandReply, Event, LogData, Message
from freeswitch.parser import Parser
from freeswitch.sim import Simulator, SimulatorError
from tests.fake_esl_server import FakeFreeSwitch, make_client, wait_until

pytestmark = pytest.mark.timeout(60)

AUTH = b"Content-Type: auth/request\n\n"


def plain_frame(inner: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


def json_frame(inner: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(inner) + inner


def api_frame(body: bytes) -> bytes:
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body


def one(data: bytes) -> Message:
    (message,) = Parser().feed(data)
    return message


def one_event(data: bytes) -> Event:
    message = one(data)
    assert isinstance(message, Event)
    return message


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# -- the issue's inputs ---------------------------------------------------------------------

ISSUE_PARK = (
    b"Event-Name: CHANNEL_PARK\nUnique-ID: u1\nCaller-Destination-Number: 1000%F1\n"
    b"variable_acd_queue: billing\n\n"
)


def test_issue_park_with_a_percent_encoded_byte_reads_every_header() -> None:
    """The issue's CHANNEL_PARK: ``.variables`` raised ProtocolError, so the caller would
    never have been queued."""
    event = one_event(plain_frame(ISSUE_PARK))
    assert event.variables == {"acd_queue": "billing"}
    assert dict(event.headers) == {
        "Event-Name": "CHANNEL_PARK",
        "Unique-ID": "u1",
        "Caller-Destination-Number": "1000\udcf1",
        "variable_acd_queue": "billing",
    }
    fresh = one_event(plain_frame(ISSUE_PARK))  # targeted lookups, before any full decode
    assert (fresh.name, fresh.uuid, fresh.destination) == ("CHANNEL_PARK", "u1", "1000\udcf1")
    assert fresh.get("variable_acd_queue") == "billing"
    assert as_bytes(fresh.destination or "") == b"1000\xf1"


SHOW_CHANNELS = (
    b'{"row_count":1,"rows":[{"uuid":"u1","direction":"inbound",'
    b'"created_epoch":"1795552634","name":"sofia/internal/0701234567@127.0.0.1:5098",'
    b'"state":"CS_EXECUTE","cid_name":"Jos\xe9","cid_num":"0701234567","dest":"1000\xf1",'
    b'"application":"park","application_data":"","context":"acd","callstate":"ACTIVE",'
    b'"call_uuid":"","presence_id":"","hostname":"vm"}]}\n'
)


def test_issue_show_channels_with_a_raw_byte_parses_into_rows() -> None:
    """The issue's api/response: it raised ProtocolError and tore the connection down."""
    _, reply = Parser().feed(AUTH + api_frame(SHOW_CHANNELS))
    assert isinstance(reply, ApiResponse) and as_bytes(reply.text) == SHOW_CHANNELS
    (row,) = parse_show_channels(reply.text)
    assert (row.uuid, row.dest, row.cid_name) == ("u1", "1000\udcf1", "Jos\udce9")
    assert row.parked and row.answered and row.created_epoch == 1795552634
    assert as_bytes(row.raw["dest"]) == b"1000\xf1"
    assert parse_show_channels(reply.raw_body) == [row]
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        commands.uuid_transfer(row.uuid, row.dest, "acd")  # cannot go back unnoticed


# -- plain events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"%zz", "%zz"),  # not two hex digits: kept as is (switch_url_decode)
        (b"100%", "100%"),
        (b"%F", "%F"),
        (b"%%41", "%A"),
        (b"%C3%A5", "\u00e5"),
        (b"%c3%a5", "\u00e5"),
        (b"%C3", "\udcc3"),  # half a character
        (b"%E2%82", "\udce2\udc82"),
        (b"%C3%28", "\udcc3("),
        (b"%ED%A0%80", "\udced\udca0\udc80"),  # an encoded surrogate is not UTF-8 either
        (b"\xf1%F1", "\udcf1\udcf1"),  # raw and encoded, the same byte
        (b"a%0Ab", "a\nb"),
    ],
)
def test_escapes_decode_per_value_like_switch_url_decode(raw: bytes, value: str) -> None:
    inner = b"Event-Name: CHANNEL_PARK\nCaller-Caller-ID-Name: " + raw + b"\nUnique-ID: u\n\n"
    assert one_event(plain_frame(inner)).caller_name == value
    event = one_event(plain_frame(inner))
    assert event.headers["Caller-Caller-ID-Name"] == value and event.uuid == "u"


def test_raw_high_bytes_in_plain_names_and_values_are_kept() -> None:
    """FreeSWITCH URL-encodes values but writes names as they are: a channel variable set
    with a name that is not UTF-8 shows up as such a header name."""
    inner = (
        b"Event-Name: CHANNEL_PARK\nUnique-ID: u\xff1\nvariable_caf\xe9: cr\xe8me\n"
        b"Caller-Caller-ID-Name: Jos\xc3\xa9\n\n"
    )
    fresh = one_event(plain_frame(inner))
    assert fresh.uuid == "u\udcff1"
    assert fresh.get("variable_caf\udce9") == "cr\udce8me"
    assert fresh.caller_name == "Jos\u00e9"
    assert fresh.get("variable_caf\ud800") is None  # no byte stands for this: never found
    event = one_event(plain_frame(inner))
    assert event.variables == {"caf\udce9": "cr\udce8me"}
    assert event.dispatch_key == "CHANNEL_PARK"


def test_an_event_name_that_is_not_utf8_is_read_not_refused() -> None:
    for frame in (
        plain_frame(b"Event-Name: CUST\xffOM\nUnique-ID: u\n\n"),
        json_frame(b'{"Event-Name":"CUST\xffOM","Unique-ID":"u"}'),
    ):
        event = one_event(frame)
        assert event.name == event.dispatch_key == "CUST\udcffOM"
        assert event.uuid == "u"


def test_structure_not_bytes_is_what_makes_an_event_malformed() -> None:
    """Bytes never fail a frame; a broken header block fails on access, not in feed()."""
    event = one_event(plain_frame(b"Event-Name: X\nno separator \xff\n\n"))
    with pytest.raises(ProtocolError, match="without ': '"):
        _ = event.headers


# -- JSON events ----------------------------------------------------------------------------

JSON_PARK = (
    b'{"Event-Name":"CHANNEL_PARK","Unique-ID":"u1","Caller-Destination-Number":"1000\xf1",'
    b'"variable_na\xefve":"caf\\u00e9","variable_acd_queue":"billing"}'
)


def test_json_event_with_raw_bytes_in_values_and_names() -> None:
    """cJSON copies bytes above 31 as they are: decoded with surrogateescape before
    json.loads, per value, by the targeted lookup and the full decoder alike."""
    fresh = one_event(json_frame(JSON_PARK))
    assert fresh.destination == "1000\udcf1" and fresh.name == "CHANNEL_PARK"
    assert fresh.get("variable_acd_queue") == "billing"
    assert fresh.get("variable_na\udcefve") == "caf\u00e9"  # an escape: the full decoder
    event = one_event(json_frame(JSON_PARK))
    assert event.variables == {"na\udcefve": "caf\u00e9", "acd_queue": "billing"}
    assert event.headers["Caller-Destination-Number"] == "1000\udcf1"


def test_json_syntax_errors_are_still_located_in_bytes() -> None:
    data = json_frame(b'{"Event-Name":"X","A":"\xf1\xf1",}')
    event = one_event(data)
    with pytest.raises(ProtocolError, match="not JSON") as raised:
        _ = event.headers
    assert raised.value.offset == data.index(b"}")


# -- bodies: bgapi results, api responses, replies, log lines --------------------------------


def test_background_job_bodies_keep_their_bytes_in_both_formats() -> None:
    result = b"+OK Jos\xe9 \xf1\n"
    plain = plain_frame(
        b"Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nContent-Length: %d\n\n" % len(result) + result
    )
    json_body = b'{"Event-Name":"BACKGROUND_JOB","Job-UUID":"j1","Content-Length":"11",'
    json_body += b'"_body":"+OK Jos\xe9 \xf1\\n"}'
    for frame in (plain, json_frame(json_body)):
        event = one_event(frame)
        assert event.job_uuid == "j1" and event.body == "+OK Jos\udce9 \udcf1\n"
        assert as_bytes(event.body) == result


def test_outer_headers_and_other_bodies_keep_their_bytes() -> None:
    reply, log, api = Parser().feed(
        b"Content-Type: command/reply\nReply-Text: -ERR invalid session id [\xf1]\n\n"
        + b"Content-Type: log/data\nContent-Length: 6\nLog-Level: 7\n\nJos\xe9\n\n"
        + api_frame(b"\xff\xfe")
    )
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR invalid session id [\udcf1]" and not reply.ok
    assert isinstance(log, LogData) and log.text == "Jos\udce9\n\n" and log.level == 7
    assert isinstance(api, ApiResponse) and api.text == "\udcff\udcfe"


def test_frame_header_names_that_are_not_utf8_are_kept() -> None:
    """A name in mod_event_socket's own header block is never user data, but bytes in it
    still do not break the framing, so they do not end the connection either."""
    reply = one(b"Content-Type: command/reply\nX-\xff: 1\nReply-Text: +OK\n\n")
    assert isinstance(reply, CommandReply) and reply.ok and reply.frame["X-\udcff"] == "1"


# -- any bytes, any split -------------------------------------------------------------------

_NAME = st.lists(
    st.sampled_from([*b"ABXYZabxyz_-09", 0x80, 0xA9, 0xC3, 0xE9, 0xF1, 0xFF]),
    min_size=1,
    max_size=8,
).map(bytes)
_PLAIN_PIECE = st.one_of(
    st.binary(max_size=4).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"%F1", b"%C3%A5", b"%C3", b"%zz", b"%", b"%0A", b"%25", b": "]),
)
_PLAIN_VALUE = st.lists(_PLAIN_PIECE, max_size=6).map(b"".join)
_JSON_VALUE = st.binary(max_size=16).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c not in b'"\\')
)


def _first_wins(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def _split_feed(data: bytes, cut: int) -> list[Message]:
    parser = Parser()
    cut = cut % (len(data) + 1)
    return parser.feed(data[:cut]) + parser.feed(data[cut:])


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(_NAME, _PLAIN_VALUE), max_size=8), cut=st.integers(0, 4096))
def test_any_bytes_in_plain_values_and_names_parse_and_read(
    headers: list[tuple[bytes, bytes]], cut: int
) -> None:
    inner = b"Event-Name: CHANNEL_PARK\n"
    inner += b"".join(name + b": " + value + b"\n" for name, value in headers) + b"\n"
    data = AUTH + plain_frame(inner) + AUTH
    expected = _first_wins(
        [("Event-Name", "CHANNEL_PARK")]
        + [
            (
                name.decode("utf-8", "surrogateescape"),
                # urllib's unquote keeps a % without two hex digits, as switch_url_decode does
                unquote_to_bytes(value).decode("utf-8", "surrogateescape"),
            )
            for name, value in headers
        ]
    )
    messages = _split_feed(data, cut)
    assert [m.content_type for m in messages] == [
        "auth/request",
        "text/event-plain",
        "auth/request",
    ]
    fresh = messages[1]
    assert isinstance(fresh, Event)
    for name, value in expected.items():
        assert fresh.get(name) == value, name
    event = _split_feed(data, cut)[1]
    assert isinstance(event, Event)
    assert dict(event.headers) == expected
    assert event.name == "CHANNEL_PARK"


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(_NAME, _JSON_VALUE), max_size=8), cut=st.integers(0, 4096))
def test_any_bytes_in_json_values_and_names_parse_and_read(
    headers: list[tuple[bytes, bytes]], cut: int
) -> None:
    members = [b'"Event-Name":"CHANNEL_PARK"']
    members += [b'"' + name + b'":"' + value + b'"' for name, value in headers]
    data = json_frame(b"{" + b",".join(members) + b"}")
    expected = _first_wins(
        [("Event-Name", "CHANNEL_PARK")]
        + [
            (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
            for n, v in headers
        ]
    )
    (fresh,) = _split_feed(data, cut)
    assert isinstance(fresh, Event)
    for name, value in expected.items():
        assert fresh.get(name) == value, name
    (event,) = _split_feed(data, cut)
    assert isinstance(event, Event) and dict(event.headers) == expected


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=64), cut=st.integers(0, 256))
def test_any_bytes_in_an_api_body_parse_and_read(body: bytes, cut: int) -> None:
    messages = _split_feed(api_frame(body) + AUTH, cut)
    assert [m.content_type for m in messages] == ["api/response", "auth/request"]
    reply = messages[0]
    assert isinstance(reply, ApiResponse) and as_bytes(reply.text) == body


# -- the client: no reconnect loop, nothing sent back blind ----------------------------------


def test_resync_reading_show_channels_with_a_raw_byte_keeps_the_connection(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    """The issue's loop: the reply tore the connection down, the resync handler asked
    again, and the client reconnected about a hundred times a second."""
    fake.api_handler = lambda cmd: (
        SHOW_CHANNELS.decode("utf-8", "surrogateescape") if cmd.startswith("show") else "+OK\n"
    )
    client = make_client(clients, fake.port)
    dests: list[str] = []
    client.on_resync_needed(
        lambda reason: dests.extend(
            row.dest for row in parse_show_channels(client.api(commands.show_channels()).text)
        )
    )
    reconnected = gevent.event.Event()
    client.on_reconnected(reconnected.set)
    client.connect()
    fake.drop_connections()
    assert reconnected.wait(5)
    wait_until(lambda: dests == ["1000\udcf1"])
    assert client.api("status").ok
    assert (client.reconnects, fake.connections) == (1, 2)


def test_a_command_holding_surrogates_is_refused_before_sending(
    fake: FakeFreeSwitch, clients: list[ESLClient]
) -> None:
    client = make_client(clients, fake.port)
    client.connect()
    sent = list(fake.received)
    for call in (
        lambda: client.api("uuid_transfer u1 1000\udcf1"),
        lambda: client.bgapi("uuid_transfer u1 1000\udcf1"),
        lambda: client.send("sendmsg u1\ncall-command: hangup\nhangup-cause: \udcf1"),
    ):
        with pytest.raises(InvalidArgument, match="not UTF-8"):
            call()
    assert fake.received == sent
    assert client.api("status").ok


# -- against the simulator: FreeSWITCH's bytes, both ways -----------------------------------


class RawSocket:
    """A bare Event Socket connection (gevent's socket: the simulator runs in this
    process): bytes out, the project's parser in."""

    def __init__(self, port: int) -> None:
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=5)
        self.parser = Parser()
        self.pending: list[Message] = []
        assert isinstance(self.next(), Message)  # auth/request
        assert self.command(b"auth ClueCon").content_type == "command/reply"

    def next(self) -> Message:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the simulator closed the connection"
            self.pending += self.parser.feed(data)
        return self.pending.pop(0)

    def command(self, line: bytes) -> Message:
        self.sock.sendall(line + b"\n\n")
        return self.next()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(sim: Simulator) -> Iterator[RawSocket]:
    connection = RawSocket(sim.port)
    yield connection
    connection.close()


def test_simulator_answers_commands_with_bad_bytes_and_keeps_serving(
    sim: Simulator, raw: RawSocket
) -> None:
    """mod_event_socket takes a command's bytes as they are; the simulator does too: an
    unknown command gets its error reply, echoing the bytes, and the next one works."""
    reply = raw.command(b"api no_such\xf1 x")
    assert (
        isinstance(reply, ApiResponse)
        and reply.raw_body == b"-ERR no_such\xf1 Command not found!\n"
    )
    reply = raw.command(b"filter Event-Name /[/")  # a regex that does not compile
    assert isinstance(reply, CommandReply) and reply.ok
    caller = sim.place_call()
    reply = raw.command(b"api uuid_setvar " + caller.encode() + b" acd_note caf\xe9")
    assert isinstance(reply, ApiResponse) and reply.text == "+OK\n"
    reply = raw.command(b"api uuid_getvar " + caller.encode() + b" acd_note")
    assert isinstance(reply, ApiResponse) and reply.raw_body == b"caf\xe9"
    reply = raw.command(b"api status")
    assert isinstance(reply, ApiResponse) and reply.text.startswith("UP ")


@pytest.mark.parametrize("event_format", ["plain", "json"])
def test_a_display_name_that_is_not_utf8_reaches_the_client_intact(
    sim: Simulator, clients: list[ESLClient], event_format: str
) -> None:
    """End to end: the simulator writes the byte as FreeSWITCH does (%E9 in plain, raw in
    JSON and in show channels); the client reads every header and every row."""
    client = make_client(clients, sim.port, events=("CHANNEL_PARK",), event_format=event_format)
    parked: list[Event] = []
    client.register_handle("CHANNEL_PARK", parked.append)
    client.connect()
    caller = sim.place_call(caller_name="Jos\udce9", variables={"acd_queue": "billing"})
    wait_until(lambda: len(parked) == 1)
    (event,) = parked
    assert (event.uuid, event.caller_name) == (caller, "Jos\udce9")
    assert event.variables["acd_queue"] == "billing"
    wire = b"Caller-Caller-ID-Name: Jos%E9\n" if event_format == "plain" else b'"Jos\xe9"'
    assert wire in event.raw_body
    reply = client.api(commands.show_channels())
    assert b'"cid_name":"Jos\xe9"' in reply.raw_body
    (row,) = parse_show_channels(reply.text)
    assert (row.uuid, row.cid_name) == (caller, "Jos\udce9")
    assert client.reconnects == 0 and client.events_malformed == 0


def test_simulator_refuses_text_that_stands_for_no_bytes(sim: Simulator) -> None:
    with pytest.raises(SimulatorError, match="stands for no byte"):
        sim.place_call(caller_name="Jos\ud800")
    with pytest.raises(SimulatorError, match="stands for no byte"):
        sim.inject_event([("Event-Name", "CUSTOM"), ("X", "\ud800")])
    assert sim.channels == {}
