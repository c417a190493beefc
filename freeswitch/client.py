"""The Event Socket client: greenswitch's ``InboundESL`` shape, made fit for production.

``ESLClient`` subclasses :class:`greenswitch.esl.InboundESL` and keeps its public shape
(``connect()``, ``register_handle(name, fn)`` with ``'*'`` as the fallback,
``unregister_handle``, ``send()``, ``stop()``, use as a context manager), but replaces
the parts ESL-NOTES.md lists as missing: its reader (the project's sans-IO
:class:`~freeswitch.parser.Parser`, plain and json events), its ``send`` (``sendall``
under one write lock, a timeout on every wait), its single handler greenlet (per-call
lanes, see :mod:`freeswitch.dispatch`), and it adds reconnection.

Reconnect: when the socket drops, every command in flight fails at once with
:class:`ConnectionLost` and so does every ``bgapi`` job still waiting; a supervisor
greenlet reconnects with exponential back-off and jitter, replays the subscriptions
(``event`` and ``filter``), then fires ``on_reconnected`` and ``on_resync_needed``
handlers so the engine can reconcile (``show channels``). A non-linger
``text/disconnect-notice`` (FreeSWITCH shutting down, s09) counts as a drop; only
:meth:`ESLClient.stop` ends the client.
"""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

import gevent
import gevent.event
import gevent.socket
import structlog
from greenswitch.esl import InboundESL

from freeswitch.arguments import check_command_line, check_header_name, check_printable
from freeswitch.client_settings import ClientSettings, check_event_names
from freeswitch.commands import ApiCommand, SendMsg
from freeswitch.connection import Connection
from freeswitch.dispatch import Dispatcher, Handler
from freeswitch.errors import (
    CommandFailed,
    ConnectionLost,
    ESLError,
    ESLTimeout,
    InvalidArgument,
    ProtocolError,
)
from freeswitch.jobs import BackgroundJob, JobRegistry
from freeswitch.messages import ApiResponse, CommandReply, DisconnectNotice, Event, LogData, Message

__all__ = ["BackgroundJob", "ClientSettings", "ESLClient", "ResyncReason"]

_log = structlog.get_logger("freeswitch.client")

# Commands that would desynchronise the client's own state if sent through send().
_RESERVED_SEND = frozenset({"api", "bgapi", "auth", "exit"})

ResyncReason = Literal["reconnected", "events_dropped"]


class ESLClient(InboundESL):  # type: ignore[misc]  # greenswitch has no type hints
    """An inbound Event Socket connection that survives drops. See the module docstring."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """``rng`` and ``sleep`` drive the reconnect back-off (injectable for tests)."""
        super().__init__(settings.host, settings.port, settings.password, settings.connect_timeout)
        self.settings = settings
        self._rng = rng or random.Random()
        self._sleep = sleep or gevent.sleep
        self._all_events = settings.events == "ALL"
        self._events: list[str] = [] if settings.events == "ALL" else list(settings.events)
        if settings.idle_timeout and self._events and "HEARTBEAT" not in self._events:
            self._events.append("HEARTBEAT")  # what keeps a healthy connection from idling
        self._filters: list[tuple[str, str]] = list(settings.filters)
        self._conn: Connection | None = None
        self._jobs = JobRegistry(settings.job_ttl)
        self._dispatcher = Dispatcher(settings.backlog, self._backlog_recovered)
        self._reconnected_handlers: list[Callable[[], object]] = []
        self._resync_handlers: list[Callable[[ResyncReason], object]] = []
        self._supervisor: gevent.Greenlet | None = None
        self._up = gevent.event.Event()
        self._stopping = False
        self.events_received = 0
        self.events_malformed = 0
        self.commands_sent = 0
        self.command_timeouts = 0
        self.reconnects = 0

    # -- greenswitch's handler registry, typed ----------------------------------------------

    def register_handle(self, name: str, handler: Handler) -> None:
        """Call ``handler(event)`` for events named ``name`` (Event-Name, or the subclass
        for CUSTOM); ``'*'`` gets the events that have no handler of their own (only
        events: ``'DISCONNECT'`` gets disconnect notices, ``'log'`` log lines).

        Handlers run in per-call lanes: one call's events in order, calls in parallel.
        A handler may block its own call's lane, never the reader or other calls."""
        super().register_handle(name, handler)

    def unregister_handle(self, name: str, handler: Handler) -> None:
        super().unregister_handle(name, handler)

    def on_reconnected(self, handler: Callable[[], object]) -> None:
        """Call ``handler()`` after each reconnect, once subscriptions are replayed."""
        self._reconnected_handlers.append(handler)

    def on_resync_needed(self, handler: Callable[[ResyncReason], object]) -> None:
        """Call ``handler(reason)`` whenever events may have been missed: after a
        reconnect and after the backlog overflowed (once it has drained again)."""
        self._resync_handlers.append(handler)

    # -- counters ----------------------------------------------------------------------------

    @property
    def events_dropped(self) -> int:
        return self._dispatcher.dropped

    @property
    def backlog(self) -> int:
        """Events queued for handlers right now."""
        return self._dispatcher.queued

    @property
    def handler_errors(self) -> int:
        return self._dispatcher.handler_errors

    @property
    def pending_jobs(self) -> int:
        return len(self._jobs)

    def counters(self) -> dict[str, int]:
        """Plain numbers for a metrics observer (no prometheus import here)."""
        return {
            "events_received": self.events_received,
            "events_dropped": self.events_dropped,
            "events_malformed": self.events_malformed,
            "handler_errors": self.handler_errors,
            "backlog": self.backlog,
            "commands_sent": self.commands_sent,
            "command_timeouts": self.command_timeouts,
            "reconnects": self.reconnects,
            "pending_jobs": self.pending_jobs,
        }

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued event has been handled (tests, orderly shutdown)."""
        return self._dispatcher.wait_idle(timeout)

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, authenticate and subscribe; raise on failure (no retry here).

        After the first success, a supervisor keeps the connection up until :meth:`stop`.
        """
        if self._stopping:
            raise ConnectionLost("client has been stopped")
        if self._supervisor is not None:
            # The supervisor owns reconnecting; a second _open() here would race it.
            if not self._up.wait(self.settings.connect_timeout):
                raise ESLTimeout("reconnect in progress; not connected yet")
            return
        self._open()
        self._supervisor = gevent.spawn(self._supervise)

    def _open(self) -> None:
        settings = self.settings
        peer = f"{settings.host}:{settings.port}"
        try:
            sock = gevent.socket.create_connection(
                (settings.host, settings.port), timeout=settings.connect_timeout
            )
        except TimeoutError:
            raise ESLTimeout(
                f"{peer}: connect timed out after {settings.connect_timeout}s"
            ) from None
        except OSError as exc:
            raise ConnectionLost(f"{peer}: cannot connect: {exc}") from None
        sock.settimeout(settings.idle_timeout or None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, peer, self._on_message, settings.max_frame_bytes)
        ready = False
        try:
            conn.authenticate(settings.password, settings.connect_timeout)
            for line in self._subscription_lines():
                self._expect_ok(
                    conn.request(line.encode() + b"\n\n", settings.command_timeout), line
                )
            ready = True
        finally:
            if not ready:
                conn.close("connect failed")
        self._conn = conn
        self.connected = True
        self._up.set()
        _log.info("esl.connected", peer=peer)

    def _subscription_lines(self) -> list[str]:
        fmt = self.settings.event_format
        lines = []
        if self._all_events:
            lines.append(f"event {fmt} ALL")
        elif self._events:
            lines.append(self._event_command(self._events))
        lines += [f"filter {header} {value}" for header, value in self._filters]
        return lines

    def _event_command(self, names: Iterable[str]) -> str:
        plain = [n for n in names if "::" not in n]
        custom = [n for n in names if "::" in n]
        words = plain + (["CUSTOM", *custom] if custom else [])
        return f"event {self.settings.event_format} " + " ".join(words)

    @staticmethod
    def _expect_ok(reply: Message, line: str) -> CommandReply:
        if not isinstance(reply, CommandReply):
            raise CommandFailed(f"{line}: unexpected {reply.content_type}")
        if not reply.ok:
            raise CommandFailed(reply.reply_text)
        return reply

    def _supervise(self) -> None:
        while not self._stopping:
            conn = self._conn
            assert conn is not None
            conn.closed.wait()
            if self._stopping:
                return
            self.connected = False
            self._up.clear()
            failed = self._jobs.fail_all(ConnectionLost(f"{conn.peer}: {conn.close_reason}"))
            _log.warning(
                "esl.connection_lost", peer=conn.peer, reason=conn.close_reason, jobs_failed=failed
            )
            self._reconnect()
            if self._stopping:
                return
            self.reconnects += 1
            _log.info("esl.reconnected", peer=conn.peer, reconnects=self.reconnects)
            for handler in self._reconnected_handlers:
                gevent.spawn(self._notify, handler)
            for resync in self._resync_handlers:
                gevent.spawn(self._notify, resync, "reconnected")

    def _reconnect(self) -> None:
        delay = self.settings.reconnect_min
        attempt = 0
        while not self._stopping:
            # Jitter: a random 50-100 % of the back-off, so many engines restarting
            # together do not knock on FreeSWITCH in lockstep.
            self._sleep(delay * (0.5 + 0.5 * self._rng.random()))
            if self._stopping:
                return
            attempt += 1
            try:
                self._open()
                return
            except ESLError as exc:
                _log.warning(
                    "esl.reconnect_failed", attempt=attempt, error=str(exc), next_delay=delay
                )
                delay = min(delay * 2, self.settings.reconnect_max)

    @staticmethod
    def _notify(handler: Callable[..., object], *args: Any) -> None:
        try:
            handler(*args)
        except Exception:  # noqa: BLE001 - a failing observer must not break the client
            _log.exception(
                "esl.signal_handler_failed", handler=getattr(handler, "__qualname__", repr(handler))
            )

    def _backlog_recovered(self, dropped: int) -> None:
        for resync in self._resync_handlers:
            gevent.spawn(self._notify, resync, "events_dropped")

    # -- the reader's side -------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        """Runs in the reader greenlet: must never block."""
        handlers_by_name: dict[str, list[Handler]] = self.event_handlers
        if isinstance(message, Event):
            self.events_received += 1
            try:
                name = message.dispatch_key or ""
                uuid_ = message.uuid
                job_uuid = message.job_uuid
                if name == "BACKGROUND_JOB" and job_uuid is not None:
                    self._resolve_job(job_uuid, message)
            except ProtocolError as exc:
                self.events_malformed += 1
                _log.error("esl.event_malformed", error=str(exc), offset=exc.offset)
                return
            key = uuid_ or (f"job:{job_uuid}" if job_uuid else "global")
        elif isinstance(message, DisconnectNotice):
            name, key = "DISCONNECT", "global"
        elif isinstance(message, LogData):
            name, key = "log", "global"
        else:
            _log.debug("esl.message_ignored", content_type=message.content_type)
            return
        handlers = handlers_by_name.get(name)
        if not handlers and isinstance(message, Event):
            # '*' is greenswitch's fallback; here only for events, so a '*' handler
            # always receives an Event (notices and log lines have their own names).
            handlers = handlers_by_name.get("*")
        if handlers:
            self._dispatcher.submit(key, message, tuple(handlers))

    def _resolve_job(self, job_uuid: str, event: Event) -> None:
        job = self._jobs.pop(job_uuid)
        if job is not None:
            try:
                job.resolve(event.body)
            except ProtocolError as exc:
                job.fail(exc)

    # -- commands ----------------------------------------------------------------------------

    def _request(self, data: str, timeout: float | None) -> Message:
        conn = self._conn
        if conn is None or conn.closed.is_set():
            reason = conn.close_reason if conn is not None else "never connected"
            raise ConnectionLost(f"not connected: {reason}")
        self.commands_sent += 1
        try:
            return conn.request(
                data.encode(), self.settings.command_timeout if timeout is None else timeout
            )
        except ESLTimeout:
            self.command_timeouts += 1
            raise

    def api(
        self, command: ApiCommand | str, *, timeout: float | None = None, check: bool = False
    ) -> ApiResponse:
        """Run ``api <command>`` and return its answer (``check``: raise
        :class:`CommandFailed` unless it starts with ``+OK``). Use :meth:`bgapi` for
        anything slow such as ``originate``: ``api`` blocks the whole connection."""
        line = check_command_line(str(command), "api command")
        reply = self._request(f"api {line}\n\n", timeout)
        if not isinstance(reply, ApiResponse):
            text = reply.reply_text if isinstance(reply, CommandReply) else reply.content_type
            raise CommandFailed(f"api {line.split(' ', 1)[0]}: {text}")
        if check and not reply.ok:
            raise CommandFailed(reply.text.strip())
        return reply

    def bgapi(self, command: ApiCommand | str, *, timeout: float | None = None) -> BackgroundJob:
        """Send ``bgapi <command>`` with a Job-UUID of our own, registered before sending;
        return the :class:`BackgroundJob` whose ``wait()`` gives the result text."""
        line = check_command_line(str(command), "bgapi command")
        self._ensure_background_jobs()
        job = BackgroundJob(str(uuid.uuid4()), line)
        self._jobs.add(job)
        sent = False
        try:
            reply = self._request(f"bgapi {line}\nJob-UUID: {job.job_uuid}\n\n", timeout)
            self._expect_ok(reply, f"bgapi {line}")
            sent = True
        finally:
            if not sent:
                self._jobs.discard(job.job_uuid)
        return job

    def _ensure_background_jobs(self) -> None:
        if self._all_events or "BACKGROUND_JOB" in self._events:
            return
        self._events.append("BACKGROUND_JOB")
        self._expect_ok(
            self._request(self._event_command(["BACKGROUND_JOB"]) + "\n\n", None), "event"
        )

    def send(
        self, command: SendMsg | str, *, timeout: float | None = None, check: bool = False
    ) -> CommandReply:
        """Send a command answered by ``command/reply`` (``sendmsg``, ``myevents``,
        ``linger``, ...). ``api``/``bgapi``/``auth``/``exit`` have their own methods.
        ``event``/``filter`` sent this way are not replayed after a reconnect: use
        :meth:`subscribe` and :meth:`add_filter` for that."""
        text = str(command)
        lines = text.split("\n")
        for line in lines:
            check_printable(line, "command line", max_length=8192)
        if not lines[0].strip() or "" in lines[1:]:
            raise InvalidArgument(f"command is empty or contains a blank line: {text[:60]!r}")
        verb = lines[0].split(" ", 1)[0]
        if verb in _RESERVED_SEND:
            raise InvalidArgument(f"use the client's {verb} handling, not send({verb!r} ...)")
        reply = self._request(text + "\n\n", timeout)
        if not isinstance(reply, CommandReply):
            raise CommandFailed(f"{verb}: unexpected {reply.content_type}")
        if check and not reply.ok:
            raise CommandFailed(reply.reply_text)
        return reply

    def subscribe(self, *names: str) -> None:
        """Add event subscriptions now and for every reconnect."""
        new = [n for n in check_event_names(names) if n not in self._events]
        if self._all_events or not new:
            return
        self._events += new
        if self.connected:
            self._expect_ok(self._request(self._event_command(new) + "\n\n", None), "event")

    def add_filter(self, header: str, value: str) -> None:
        """``filter <header> <value>``: once any filter exists, only matching events pass
        (note: BACKGROUND_JOB has no Unique-ID, so a Unique-ID filter hides bgapi results)."""
        pair = (
            check_header_name(header, "filter header"),
            check_printable(value, "filter value", 256),
        )
        if pair in self._filters:
            return
        self._filters.append(pair)
        if self.connected:
            self._expect_ok(self._request(f"filter {pair[0]} {pair[1]}\n\n", None), "filter")

    def delete_filter(self, header: str, value: str) -> None:
        pair = (
            check_header_name(header, "filter header"),
            check_printable(value, "filter value", 256),
        )
        if pair not in self._filters:
            return
        self._filters.remove(pair)
        if self.connected:
            self._expect_ok(
                self._request(f"filter delete {pair[0]} {pair[1]}\n\n", None), "filter delete"
            )

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Say ``exit`` (best effort), close, fail what is waiting, join the greenlets."""
        self._stopping = True
        timeout = self.settings.stop_timeout
        conn = self._conn
        if conn is not None and not conn.closed.is_set():
            try:
                conn.request(b"exit\n\n", timeout)
                conn.closed.wait(timeout)  # FreeSWITCH closes after its disconnect-notice
            except ESLError as exc:
                _log.info("esl.exit_failed", error=str(exc))
            conn.close("client stopped")
        if conn is not None:
            conn.join(timeout)
        if self._supervisor is not None:
            self._supervisor.kill(block=True, timeout=timeout)
        self._jobs.fail_all(ConnectionLost("client stopped"))
        self._dispatcher.stop(timeout)
        self.connected = False
        self._up.clear()
        _log.info("esl.stopped", **self.counters())

    def __enter__(self) -> ESLClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
