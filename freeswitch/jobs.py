"""``bgapi`` jobs: the waiter for a ``BACKGROUND_JOB`` event, found by ``Job-UUID``.

The client makes the Job-UUID itself and registers the job *before* sending
``bgapi <cmd>\\nJob-UUID: <u>``, so the result can never arrive unclaimed.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import gevent
import gevent.event

from freeswitch.errors import ESLError, ESLTimeout


class BackgroundJob:
    """The pending result of one ``bgapi`` command."""

    __slots__ = ("_result", "command", "created", "job_uuid")

    def __init__(self, job_uuid: str, command: str) -> None:
        self.job_uuid = job_uuid
        self.command = command
        self.created = time.monotonic()
        self._result = gevent.event.AsyncResult()

    def ready(self) -> bool:
        return bool(self._result.ready())

    def wait(self, timeout: float) -> str:
        """The job's result text (what ``api`` would have answered, e.g. ``+OK <uuid>``).

        FreeSWITCH does not promise UTF-8: bytes of the result that are not UTF-8 are kept
        as lone surrogates (``surrogateescape``; see :mod:`freeswitch.messages`), never an
        error. Raises :class:`ESLTimeout` after ``timeout`` seconds, or the error that
        ended the job (:class:`ConnectionLost` when the connection dropped first, or
        :class:`~freeswitch.errors.ProtocolError` when its event's body was malformed).
        """
        try:
            text: str = self._result.get(timeout=timeout)
        except gevent.Timeout:
            raise ESLTimeout(
                f"bgapi {self.command!r}: no BACKGROUND_JOB within {timeout}s"
            ) from None
        return text

    def resolve(self, text: str) -> None:
        self._result.set(text)

    def fail(self, error: ESLError) -> None:
        if not self._result.ready():
            self._result.set_exception(error)

    def __repr__(self) -> str:
        state = "done" if self.ready() else "pending"
        return f"<BackgroundJob {self.job_uuid} {self.command!r} {state}>"


class JobRegistry:
    """Jobs waiting for their ``BACKGROUND_JOB``, oldest first.

    A job whose event never comes (FreeSWITCH can lose it, see the ``myevents`` note in
    esl-captures/README.md) is failed with :class:`ESLTimeout` after ``ttl`` seconds, so
    the registry cannot grow without bound.
    """

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._jobs: OrderedDict[str, BackgroundJob] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: BackgroundJob) -> None:
        self.expire()
        self._jobs[job.job_uuid] = job

    def discard(self, job_uuid: str) -> None:
        self._jobs.pop(job_uuid, None)

    def pop(self, job_uuid: str) -> BackgroundJob | None:
        return self._jobs.pop(job_uuid, None)

    def expire(self) -> int:
        """Fail jobs older than the ttl; returns how many."""
        deadline = time.monotonic() - self._ttl
        expired = 0
        while self._jobs:
            job = next(iter(self._jobs.values()))
            if job.created > deadline:
                break
            self._jobs.popitem(last=False)
            job.fail(ESLTimeout(f"bgapi {job.command!r}: no BACKGROUND_JOB within {self._ttl}s"))
            expired += 1
        return expired

    def fail_all(self, error: ESLError) -> int:
        jobs, self._jobs = self._jobs, OrderedDict()
        for job in jobs.values():
            job.fail(error)
        return len(jobs)
