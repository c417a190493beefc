"""``ClientSettings.wakeup_interval``: a bare newline when the connection has been quiet,
so FreeSWITCH hands over queued events without waiting for its ~20 ms poll."""

from __future__ import annotations

import socket

import gevent
import gevent.server
import pytest

from acd.errors import ConfigError
from freeswitch import wire
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.sim import Simulator
from tests.fake_esl_server import make_client, wait_until


class RawServer:
    """Auth and subscription answered, then every byte the client sends is kept."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()

    def _handle(self, sock: socket.socket, _address: object) -> None:
        sock.sendall(wire.encode_auth_request())
        buffer = bytearray()
        answered = 0
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            while answered < 2 and b"\n\n" in buffer:
                end = buffer.index(b"\n\n")
                del buffer[: end + 2]
                text = "+OK accepted" if answered == 0 else "+OK event listener enabled plain"
                sock.sendall(wire.encode_command_reply(text))
                answered += 1
            if answered == 2:
                self.raw += buffer
                buffer.clear()


def test_a_quiet_connection_gets_bare_newlines_and_nothing_else(
    clients: list[ESLClient],
) -> None:
    server = RawServer()
    try:
        client = make_client(
            clients, server.server.server_port, events=("CHANNEL_PARK",), wakeup_interval=0.002
        )
        client.connect()
        wait_until(lambda: len(server.raw) >= 5, message="no newline came")
        assert set(bytes(server.raw)) == {ord("\n")}
    finally:
        server.server.stop()


def test_newlines_between_commands_keep_replies_matched(
    sim: Simulator, clients: list[ESLClient]
) -> None:
    client = make_client(clients, sim.port, events="ALL", wakeup_interval=0.0005)
    client.connect()
    for _ in range(30):
        assert client.api("status").text  # each reply is the one for its own command
        gevent.sleep(0.002)
    job = client.bgapi("status")
    assert not job.wait(3).startswith("-ERR")
    assert "" not in sim.commands_received  # the newlines were no commands


@pytest.mark.parametrize("value", [-1, 0.0001, 2, "fast"])
def test_bad_wakeup_interval_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="wakeup_interval"):
        ClientSettings("127.0.0.1", 8021, "ClueCon", wakeup_interval=value)  # type: ignore[arg-type]
