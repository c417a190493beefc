"""One Event Socket TCP connection: its socket, parser, reader greenlet and the FIFO of
commands waiting for their replies.

A connection lives once: when its socket drops it fails every command in flight with
:class:`ConnectionLost` and sets :attr:`Connection.closed`; the client then builds a
new one (greenswitch cannot reconnect the same object, see ESL-NOTES.md).

FreeSWITCH answers commands strictly in order and a reply always precedes the events
its command causes, so replies resolve a FIFO: the waiter is appended and the bytes
written under one lock, which keeps the FIFO in wire order. Writes use ``sendall``
(greenswitch uses ``send``, which may write only part of a command).
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable

import gevent
import gevent.event
import gevent.lock
import structlog

from freeswitch.errors import AuthFailed, ConnectionLost, ESLTimeout, ProtocolError
from freeswitch.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Message,
    RudeRejection,
)
from freeswitch.parser import Parser

_log = structlog.get_logger("freeswitch.connection")

_RECV_BYTES = 256 * 1024


class PendingReply:
    """The reply to a command already written (:meth:`Connection.submit`)."""

    __slots__ = ("_peer", "_timeout", "_waiter")

    def __init__(self, waiter: gevent.event.AsyncResult, timeout: float, peer: str) -> None:
        self._waiter = waiter
        self._timeout = timeout
        self._peer = peer

    def ready(self) -> bool:
        return bool(self._waiter.ready())

    def get(self) -> Message:
        """The reply; raises :class:`ESLTimeout` after the command's timeout (seconds,
        counted from now) or :class:`ConnectionLost` if the connection dropped first."""
        try:
            reply: Message = self._waiter.get(timeout=self._timeout)
        except gevent.Timeout:
            raise ESLTimeout(f"{self._peer}: no reply within {self._timeout}s") from None
        return reply


class Connection:
    """A socket that has been connected; call :meth:`authenticate` next."""

    def __init__(
        self,
        sock: socket.socket,
        peer: str,
        on_message: Callable[[Message], None],
        max_frame_bytes: int,
    ) -> None:
        self.peer = peer
        self._sock = sock
        self._on_message = on_message
        self._parser = Parser(max_frame_bytes)
        self._pending: deque[gevent.event.AsyncResult] = deque()
        self._write_lock = gevent.lock.Semaphore()
        self._auth_request = gevent.event.Event()
        self._rejected: str | None = None
        self.close_reason = ""
        self.closed = gevent.event.Event()
        self._reader = gevent.spawn(self._read_loop)
        self._last_write = time.monotonic()
        self._waker: gevent.Greenlet | None = None

    # -- reading ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        sock = self._sock
        try:
            while not self.closed.is_set():
                data = sock.recv(_RECV_BYTES)
                if not data:
                    self.close("closed by FreeSWITCH")
                    return
                try:
                    messages = self._parser.feed(data)
                except ProtocolError as exc:
                    for message in exc.parsed:
                        if isinstance(message, Message):
                            self._route(message)
                    _log.error(
                        "esl.protocol_error", peer=self.peer, error=str(exc), offset=exc.offset
                    )
                    self.close(f"protocol error: {exc}")
                    return
                received = time.perf_counter()
                for message in messages:
                    message.received = received
                    self._route(message)
        except TimeoutError:
            # Only set with the client's idle_timeout: FreeSWITCH's HEARTBEAT stopped.
            self.close(f"no data from FreeSWITCH for {sock.gettimeout()}s")
        except OSError as exc:
            self.close(f"socket error: {exc}")

    def _route(self, message: Message) -> None:
        if isinstance(message, CommandReply | ApiResponse):
            if not self._pending:
                # A reply nobody asked for: replies and waiters no longer line up.
                self.close(f"unexpected {message.content_type} with no command waiting")
                return
            self._pending.popleft().set(message)
        elif isinstance(message, AuthRequest):
            self._auth_request.set()
        elif isinstance(message, RudeRejection):
            self._rejected = message.text.strip() or "rude rejection"
            self.close(f"rejected by FreeSWITCH: {self._rejected}")
        elif isinstance(message, DisconnectNotice):
            self._on_message(message)
            if message.linger:
                _log.info("esl.linger", peer=self.peer)
            else:
                # FreeSWITCH closes the socket right after the notice (s01, s09).
                self.close("disconnect-notice from FreeSWITCH")
        else:
            self._on_message(message)

    # -- writing ---------------------------------------------------------------------------

    def request(self, data: bytes, timeout: float) -> Message:
        """Write one complete command and wait for its reply.

        Raises :class:`ConnectionLost` if the socket is or goes down before the reply,
        :class:`ESLTimeout` if the reply takes longer than ``timeout``. A reply that comes
        after its timeout still takes its place in the FIFO, so later replies stay matched.
        """
        return self.submit(data, timeout).get()

    def submit_many(self, payloads: list[bytes], timeout: float) -> list[PendingReply]:
        """Write several complete commands in one ``sendall`` (one system call for a call's
        commands) and return their pending replies, in order. Raises like :meth:`submit`."""
        waiters = [gevent.event.AsyncResult() for _ in payloads]
        with self._write_lock:
            if self.closed.is_set():
                raise ConnectionLost(f"{self.peer}: {self.close_reason}")
            self._pending.extend(waiters)
            timer = gevent.Timeout(timeout)
            timer.start()
            try:
                self._sock.sendall(b"".join(payloads))
                self._last_write = time.monotonic()
            except gevent.Timeout as fired:
                if fired is not timer:
                    raise
                self.close("write timed out")
                raise ESLTimeout(f"{self.peer}: writing commands took over {timeout}s") from None
            except OSError as exc:
                self.close(f"write failed: {exc}")
                raise ConnectionLost(f"{self.peer}: write failed: {exc}") from None
            finally:
                timer.close()
        return [PendingReply(waiter, timeout, self.peer) for waiter in waiters]

    def submit(self, data: bytes, timeout: float) -> PendingReply:
        """Write one complete command and return at once; :meth:`PendingReply.get` waits
        for its reply. Commands from many greenlets pipeline on the connection: the FIFO
        keeps each reply with its command. Raises like :meth:`request` for the write."""
        return self.submit_many([data], timeout)[0]

    def start_wakeup(self, interval: float) -> None:
        """Write a bare newline whenever nothing was written for ``interval`` seconds, so
        FreeSWITCH hands over queued events at once (``ClientSettings.wakeup_interval``)."""
        if self._waker is None and interval > 0:
            self._waker = gevent.spawn(self._wake_loop, interval)

    def _wake_loop(self, interval: float) -> None:
        while not self.closed.is_set():
            gevent.sleep(interval)
            if time.monotonic() - self._last_write < interval or self._write_lock.locked():
                continue  # a command just went out (or is going out): that wakes it
            with self._write_lock:
                if self.closed.is_set():
                    return
                try:
                    self._sock.sendall(b"\n")
                except OSError as exc:
                    self.close(f"write failed: {exc}")
                    return
                self._last_write = time.monotonic()

    def authenticate(self, password: str, timeout: float) -> None:
        """Wait for ``auth/request`` and answer it; raise on timeout or refusal."""
        arrived = self._auth_request.wait(timeout)
        if self._rejected is not None:
            raise AuthFailed(f"{self.peer}: {self._rejected}")
        if self.closed.is_set():
            raise ConnectionLost(f"{self.peer}: {self.close_reason} before auth/request")
        if not arrived:
            raise ESLTimeout(f"{self.peer}: no auth/request within {timeout}s")
        reply = self.request(f"auth {password}\n\n".encode(), timeout)
        if not isinstance(reply, CommandReply) or not reply.ok:
            text = reply.reply_text if isinstance(reply, CommandReply) else reply.content_type
            raise AuthFailed(f"{self.peer}: auth refused: {text}")

    # -- closing ---------------------------------------------------------------------------

    def close(self, reason: str) -> None:
        """Close the socket and fail every waiting command; idempotent."""
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        self._auth_request.set()
        try:
            self._sock.close()
        except OSError as exc:
            _log.debug("esl.close_failed", peer=self.peer, error=str(exc))
        if self._waker is not None and self._waker is not gevent.getcurrent():
            self._waker.kill(block=False)
        pending, self._pending = self._pending, deque()
        for waiter in pending:
            waiter.set_exception(ConnectionLost(f"{self.peer}: {reason}"))
        _log.info("esl.connection_closed", peer=self.peer, reason=reason, failed=len(pending))

    def join(self, timeout: float) -> None:
        """Wait for the reader greenlet to finish (after :meth:`close`)."""
        self._reader.join(timeout)
