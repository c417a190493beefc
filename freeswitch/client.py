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
(``filter`` then ``event``), then fires ``on_reconnected`` and ``on_resync_needed``
handlers so the engine can reconcile (``show channels``). A non-linger
``text/disconnect-notice`` (FreeSWITCH shutting down, s09) counts as a drop; only
:meth:`ESLClient.stop` ends the client. Of what FreeSWITCH sends, only broken framing
drops a connection: a malformed event is counted in ``events_malformed`` and skipped, and
bytes that are not UTF-8 are no error at all.

No input makes the client loop. The back-off (``reconnect_min`` doubling up to
``reconnect_max``, each wait a random 50-100 % of it, see :mod:`freeswitch.backoff`) is
not forgotten when a connection comes up: it starts again from ``reconnect_min`` only once
a connection has stayed up for ``reconnect_max`` seconds. ``on_resync_needed`` is paced
by the same policy: a signal less than ``reconnect_max`` after the previous one waits
out the back-off (signals meanwhile are merged into one; ``"reconnected"`` wins), so a
resync handler whose work makes FreeSWITCH drop the connection, or overflow the backlog,
cannot drive a reconnect or resync storm.

Filters: once any ``filter`` is set, FreeSWITCH sends only the events that match one,
including the events the client itself depends on: ``BACKGROUND_JOB`` (every ``bgapi``
result) and ``HEARTBEAT`` (the idle watchdog; neither has a ``Unique-ID``). So whenever
the user has a filter (``settings.filters``, :meth:`ESLClient.add_filter`) the client also
holds ``filter Event-Name BACKGROUND_JOB`` (and ``filter Event-Name HEARTBEAT`` when
``idle_timeout`` is on), replays them on every reconnect, and removes them again with the
user's last filter, so the unfiltered stream is not narrowed. These events therefore also
reach the ``'*'`` handler while filters are set. :meth:`ESLClient.delete_filter` never
removes the client's own filters; negative filters and raw ``filter`` commands through
:meth:`ESLClient.send` are refused (see :mod:`freeswitch.filters`).

Text from FreeSWITCH is not promised to be UTF-8 (see :mod:`freeswitch.messages`): header
values, api bodies and ``bgapi`` results keep such bytes as lone surrogates
(``surrogateescape``), and a command holding surrogates is refused with
:class:`InvalidArgument` before anything is sent.
"""

from __future__ import annotations

import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

import gevent
import gevent.event
import gevent.lock
import gevent.socket
import structlog
from greenswitch.esl import InboundESL

from freeswitch.arguments import check_command_line, check_printable
from freeswitch.backoff import Backoff
from freeswitch.client_settings import ClientSettings, check_event_names
from freeswitch.commands import ApiCommand, SendMsg
from freeswitch.connection import Connection, PendingReply
from freeswitch.dispatch import Dispatcher, Handler
from freeswitch.errors import (
    CommandFailed,
    ConnectionLost,
    ESLError,
    ESLTimeout,
    InvalidArgument,
    ProtocolError,
)
from freeswitch.filters import FilterBook, check_filter, own_filters
from freeswitch.jobs import BackgroundJob, JobRegistry
from freeswitch.messages import ApiResponse, CommandReply, DisconnectNotice, Event, LogData, Message

__all__ = ["BackgroundJob", "ClientSettings", "CommandBatch", "ESLClient", "ResyncReason"]

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
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``rng`` (jitter), ``sleep`` (seconds) and ``clock`` (monotonic seconds) drive the
        reconnect and resync back-off; injectable for tests."""
        super().__init__(settings.host, settings.port, settings.password, settings.connect_timeout)
        self.settings = settings
        self._rng = rng or random.Random()
        self._sleep = sleep or gevent.sleep
        self._clock = clock or time.monotonic
        self._all_events = settings.events == "ALL"
        self._events: list[str] = [] if settings.events == "ALL" else list(settings.events)
        if settings.idle_timeout and self._events and "HEARTBEAT" not in self._events:
            self._events.append("HEARTBEAT")  # what keeps a healthy connection from idling
        self._filters = FilterBook(own_filters(bool(settings.idle_timeout)), settings.filters)
        # Held while subscriptions are replayed or changed, so the two never interleave.
        self._subscribing = gevent.lock.Semaphore()
        self._reconnect_backoff = Backoff(settings.reconnect_min, settings.reconnect_max, self._rng)
        self._connected_at = 0.0
        self._resync_backoff = Backoff(settings.reconnect_min, settings.reconnect_max, self._rng)
        self._resync_reason: ResyncReason | None = None
        self._resync_due = 0.0
        self._last_resync: float | None = None
        self._resync_pump: gevent.Greenlet | None = None
        self._lane_aliases: dict[str, str] = {}
        self._conn: Connection | None = None
        self._jobs = JobRegistry(settings.job_ttl)
        self._dispatcher = Dispatcher(settings.backlog, self._backlog_recovered)
        self._urgent = frozenset(settings.urgent_events)
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

    def alias_lane(self, uuid_: str, lane: str) -> None:
        """Handle the events of channel ``uuid_`` on lane ``lane`` from now on.

        An engine puts a call's agent leg on its caller's lane (one call, one lane), so
        the call's events are handled strictly in order whichever leg they come from.
        Register before the command that creates the channel."""
        self._lane_aliases[uuid_] = lane

    def unalias_lane(self, uuid_: str) -> None:
        """Events of ``uuid_`` go to its own lane again (the leg is gone)."""
        self._lane_aliases.pop(uuid_, None)

    def post(self, lane: str, message: Any, handler: Handler, *, urgent: bool = False) -> bool:
        """Run ``handler(message)`` on ``lane``, in order with that lane's events: how an
        engine hands work to another call's lane. ``urgent`` as for ``urgent_events``
        (:class:`ClientSettings`). False if the backlog dropped it."""
        return self._dispatcher.submit(lane, message, (handler,), urgent=urgent)

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
            with self._subscribing:
                for line in self._subscription_lines():
                    self._expect_ok(
                        conn.request(line.encode() + b"\n\n", settings.command_timeout), line
                    )
                ready = True
                conn.start_wakeup(settings.wakeup_interval)
                self._conn = conn
                self.connected = True
                self._connected_at = self._clock()
        finally:
            if not ready:
                conn.close("connect failed")
        self._up.set()
        _log.info("esl.connected", peer=peer)

    def _subscription_lines(self) -> list[str]:
        # Filters first: with no `event` yet nothing is sent, so no event is ever delivered
        # under a partial filter set (and the client's own filters are in place from the start).
        lines = self._filters.replay()
        if self._all_events:
            lines.append(f"event {self.settings.event_format} ALL")
        elif self._events:
            lines.append(self._event_command(self._events))
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
            self._signal_resync("reconnected")

    def _reconnect(self) -> None:
        backoff = self._reconnect_backoff
        if self._clock() - self._connected_at >= self.settings.reconnect_max:
            backoff.reset()  # the lost connection had been healthy: start from reconnect_min
        attempt = 0
        while not self._stopping:
            # Not reset between short-lived connections: a fault that drops every new
            # connection (say, a reply to the resync's own command) gets ever longer waits.
            self._sleep(backoff.next_delay())
            if self._stopping:
                return
            attempt += 1
            try:
                self._open()
                return
            except ESLError as exc:
                _log.warning(
                    "esl.reconnect_failed",
                    attempt=attempt,
                    error=str(exc),
                    next_delay=backoff.base,
                )

    def _signal_resync(self, reason: ResyncReason) -> None:
        """Ask for ``on_resync_needed`` handlers to run, paced like reconnects (module doc)."""
        if not self._resync_handlers or self._stopping:
            return
        if self._resync_reason != "reconnected":
            self._resync_reason = reason
        pump = self._resync_pump
        if pump is None or pump.dead:
            self._resync_pump = gevent.spawn(self._pump_resyncs)

    def _pump_resyncs(self) -> None:
        while self._resync_reason is not None and not self._stopping:
            wait = self._resync_due - self._clock()
            if wait > 0:
                # Signals arriving meanwhile merge into this one.
                self._sleep(wait)
                if self._stopping:
                    return
            reason, self._resync_reason = self._resync_reason, None
            now = self._clock()
            last = self._last_resync
            if last is None or now - last >= self.settings.reconnect_max:
                self._resync_backoff.reset()  # quiet for a while: the next may come at once
            self._last_resync = now
            self._resync_due = now + self._resync_backoff.next_delay()
            for resync in self._resync_handlers:
                gevent.spawn(self._notify, resync, reason)

    @staticmethod
    def _notify(handler: Callable[..., object], *args: Any) -> None:
        try:
            handler(*args)
        except Exception:  # noqa: BLE001 - a failing observer must not break the client
            _log.exception(
                "esl.signal_handler_failed", handler=getattr(handler, "__qualname__", repr(handler))
            )

    def _backlog_recovered(self, dropped: int) -> None:
        self._signal_resync("events_dropped")

    # -- the reader's side -------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        """Runs in the reader greenlet: must never block (it yields after an urgent
        event, see :mod:`freeswitch.dispatch`)."""
        handlers_by_name: dict[str, list[Handler]] = self.event_handlers
        if isinstance(message, Event):
            self.events_received += 1
            try:
                name = message.dispatch_key or ""
                uuid_ = message.uuid
                # Job-UUID only where it can be: looking for it in every event is a search
                # of all its headers that finds nothing.
                job_uuid = message.job_uuid if name == "BACKGROUND_JOB" or uuid_ is None else None
                if name == "BACKGROUND_JOB" and job_uuid is not None:
                    self._resolve_job(job_uuid, message)
            except ProtocolError as exc:
                self.events_malformed += 1
                _log.error("esl.event_malformed", error=str(exc), offset=exc.offset)
                return
            if uuid_ is not None:
                key = self._lane_aliases.get(uuid_, uuid_)
            else:
                key = f"job:{job_uuid}" if job_uuid else "global"
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
            urgent = name in self._urgent
            if self._dispatcher.submit(key, message, tuple(handlers), urgent=urgent) and urgent:
                # Its lane runs up to its first wait before the rest of this read is
                # routed: a yield, not a block (the reader is next in line again).
                self._dispatcher.start_lanes()
                gevent.sleep(0)

    def _resolve_job(self, job_uuid: str, event: Event) -> None:
        job = self._jobs.pop(job_uuid)
        if job is not None:
            try:
                job.resolve(event.body)
            except ProtocolError as exc:
                job.fail(exc)

    # -- commands ----------------------------------------------------------------------------

    def _submit(self, data: str, timeout: float | None) -> PendingReply:
        try:
            payload = data.encode()
        except UnicodeEncodeError as exc:
            # Surrogates: bytes from FreeSWITCH that were not UTF-8 (surrogateescape), or
            # broken text. Either way not something to send back blind.
            raise InvalidArgument(
                f"command holds {data[exc.start]!r}, which is not text"
                f" (bytes that were not UTF-8?): {data[: min(exc.start, 60)]!r}..."
            ) from None
        conn = self._conn
        if conn is None or conn.closed.is_set():
            reason = conn.close_reason if conn is not None else "never connected"
            raise ConnectionLost(f"not connected: {reason}")
        self.commands_sent += 1
        try:
            return conn.submit(
                payload, self.settings.command_timeout if timeout is None else timeout
            )
        except ESLTimeout:
            self.command_timeouts += 1
            raise

    def _request(self, data: str, timeout: float | None) -> Message:
        pending = self._submit(data, timeout)
        try:
            return pending.get()
        except ESLTimeout:
            self.command_timeouts += 1
            raise

    def submit_batch(self, batch: CommandBatch) -> list[PendingReply]:
        """Write every command of ``batch`` in one go, in order; their replies come back
        in the same order. Raises :class:`ConnectionLost` / :class:`ESLTimeout` for the
        write (then every bgapi job of the batch is forgotten)."""
        if not batch.texts:
            return []
        payloads = []
        for text in batch.texts:
            try:
                payloads.append(text.encode())
            except UnicodeEncodeError as exc:
                raise InvalidArgument(
                    f"command holds {text[exc.start]!r}, which is not text: {text[:60]!r}..."
                ) from None
        conn = self._conn
        try:
            if conn is None or conn.closed.is_set():
                reason = conn.close_reason if conn is not None else "never connected"
                raise ConnectionLost(f"not connected: {reason}")
            self.commands_sent += len(payloads)
            return conn.submit_many(payloads, self.settings.command_timeout)
        except ESLError:
            for job in batch.jobs:
                self._jobs.discard(job.job_uuid)
            raise

    def batch(self) -> CommandBatch:
        """A :class:`CommandBatch` for :meth:`submit_batch`."""
        return CommandBatch(self)

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
        ``linger``, ...). ``api``/``bgapi``/``auth``/``exit`` have their own methods, and
        ``filter`` is refused: use :meth:`add_filter` / :meth:`delete_filter`, which keep
        the client's own filters (module docstring). ``event`` sent this way is not replayed
        after a reconnect (use :meth:`subscribe`); ``nixevent``, ``noevents`` and
        ``myevents`` are the caller's responsibility: they can hide ``BACKGROUND_JOB`` and
        ``HEARTBEAT`` from the client. Raises :class:`InvalidArgument` for a refused or
        malformed command, before anything is sent."""
        text = str(command)
        lines = text.split("\n")
        for line in lines:
            check_printable(line, "command line", max_length=8192)
        if not lines[0].strip() or "" in lines[1:]:
            raise InvalidArgument(f"command is empty or contains a blank line: {text[:60]!r}")
        verb = lines[0].split(" ", 1)[0]
        # mod_event_socket matches commands case-insensitively, "filter" and "exit" as prefixes.
        lowered = lines[0].lower()
        if lowered.startswith("filter"):
            raise InvalidArgument(
                f"use add_filter/delete_filter (they keep the client's own filters),"
                f" not send({verb!r} ...)"
            )
        if verb.lower() in _RESERVED_SEND or lowered.startswith("exit"):
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
        """``filter <header> <value>``, now and on every reconnect: once any filter exists,
        FreeSWITCH sends only the events that match one. The client keeps its own events
        flowing (``BACKGROUND_JOB``, ``HEARTBEAT``; module docstring).

        Raises :class:`InvalidArgument` (nothing changes) for a header that is not
        ``[A-Za-z0-9_-]+`` or is ``add``/``delete``/``all``, an empty or non-printable value
        or one over 256 characters, and a negative filter (value starting with ``-``). The
        filter is recorded before it is sent: if sending fails (:class:`ConnectionLost`,
        :class:`ESLTimeout`, :class:`CommandFailed`, raised) it is applied by the reconnect
        that follows (a connection whose filters are in doubt is closed and rebuilt)."""
        pair = check_filter(header, value)
        with self._subscribing:
            self._send_filter_lines(self._filters.add(pair))

    def delete_filter(self, header: str, value: str) -> None:
        """``filter delete <header> <value>`` for a filter added by the user (header name
        case-insensitive, value exact); a pair the user never added is ignored. The client's
        own filters stay while the user has any filter, and go with the user's last one.
        Errors as :meth:`add_filter`."""
        pair = check_filter(header, value)
        with self._subscribing:
            self._send_filter_lines(self._filters.delete(pair))

    @property
    def filters(self) -> tuple[tuple[str, str], ...]:
        """The user's filters, as ``(header, value)`` pairs in the order added."""
        return self._filters.user

    def _send_filter_lines(self, lines: list[str]) -> None:
        conn = self._conn
        if not lines or not self.connected or conn is None:
            return  # recorded: the next (re)connect replays it
        try:
            for line in lines:
                self._expect_ok(self._request(line + "\n\n", None), line)
        except ESLError as exc:
            # What FreeSWITCH holds is now unknown: rebuild the connection, which replays
            # the filters as recorded.
            conn.close(f"filter update failed: {exc}")
            raise

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
        if self._resync_pump is not None:
            self._resync_pump.kill(block=True, timeout=timeout)
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


class CommandBatch:
    """Commands collected to go out in one write (:meth:`ESLClient.submit_batch`): an
    engine's effects for one event become one system call instead of one per command.
    Each method validates at once and returns the index of the command's reply."""

    def __init__(self, client: ESLClient) -> None:
        self._client = client
        self.texts: list[str] = []
        self.jobs: list[BackgroundJob] = []

    def api(self, command: ApiCommand) -> int:
        line = check_command_line(str(command), "api command")
        self.texts.append(f"api {line}\n\n")
        return len(self.texts) - 1

    def send(self, message: SendMsg) -> int:
        if not isinstance(message, SendMsg):
            raise InvalidArgument(f"batch.send takes a SendMsg: {message!r}")
        self.texts.append(message.text + "\n\n")
        return len(self.texts) - 1

    def bgapi(self, command: ApiCommand) -> tuple[BackgroundJob, int]:
        """Register the job now (before anything is written, as :meth:`ESLClient.bgapi`)."""
        line = check_command_line(str(command), "bgapi command")
        client = self._client
        client._ensure_background_jobs()
        job = BackgroundJob(str(uuid.uuid4()), line)
        client._jobs.add(job)
        self.jobs.append(job)
        self.texts.append(f"bgapi {line}\nJob-UUID: {job.job_uuid}\n\n")
        return job, len(self.texts) - 1
