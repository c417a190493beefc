"""The emergency message and API-entered calendar exceptions in Redis, their watcher, and
the admin endpoints (R-CALENDAR, R-TIMEDMSG).

Keys (under the tenant's hash tag, like every engine key):

- ``acd:{tenant}:emergency``: hash ``prompt``, ``since`` (epoch seconds), ``by``; absent = off;
- ``acd:{tenant}:calendar_exceptions``: hash ``<id>`` -> JSON ``{calendar, first, last,
  hours: ["HH:MM-HH:MM"...], name}``;
- ``acd:{tenant}:hours_version``: a counter bumped on each change.

:class:`HoursWatcher` reads the version every ``interval`` seconds (one ``GET``) and, when
it moved, the two hashes, and posts :class:`~acd.engine.events.HoursChanged` to the engine
(every engine process runs one, so all see the same state within ``interval``).

Endpoints (admin role; errors as in :mod:`acd.adapters.http`; documented in
``acd/adapters/openapi.yaml``)::

    GET    /api/admin/emergency                          {"on": bool, "prompt", "since", "by"}
    PUT    /api/admin/emergency      {"prompt": "emergency"}    switch on (prompt must exist)
    DELETE /api/admin/emergency                                  switch off
    GET    /api/admin/calendars/{name}/exceptions        API-entered and file exceptions
    POST   /api/admin/calendars/{name}/exceptions
           {"date": "2027-06-18"} | {"from": ..., "to": ..., "hours": ["09:00-12:00"], "name": ...}
    DELETE /api/admin/calendars/{name}/exceptions/{exception_id}   remove an API-entered one
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import gevent
import redis
import structlog
from flask import Blueprint, Response, request
from pydantic import ValidationError as PydanticValidationError

from acd.adapters.http import AdminApi, ApiError, _json
from acd.config import Config
from acd.config.calendars import ClosedSettings, EmergencySettings, ExceptionSettings
from acd.engine.calendar import CalendarException, Calendars, format_interval, parse_interval
from acd.engine.effects import Fact
from acd.engine.events import HoursChanged
from acd.engine.hours import HoursSettings, PromptResolver, QueueHours
from acd.errors import ACDError
from acd.prompts import PromptCatalogue
from freeswitch.media import Playable

if TYPE_CHECKING:
    from acd.adapters.runner import Runner

_log = structlog.get_logger("acd.hours")

HOURS_LANE = "acd:hours"
Clock = Callable[[], float]


def hours_settings(config: Config, prompt: PromptResolver) -> HoursSettings:
    """The engine's calendars and closed actions from ``config``; the admin feature
    code's PIN is ``admin.pin`` (:mod:`acd.config.admin`)."""
    calendars = Calendars({name: cal.spec(name) for name, cal in config.calendars.items()})
    queues = {
        name: QueueHours(q.calendar, (q.closed or ClosedSettings()).action())
        for name, q in config.queues.items()
        if q.calendar is not None
    }
    emergency = config.emergency or EmergencySettings()
    return HoursSettings(
        calendars=calendars,
        queues=queues,
        prompt=prompt,
        language=config.language,
        admin_pin_sha256=config.admin.pin_digest(),
        emergency_prompt=emergency.prompt,
        languages=tuple(config.languages),
    )


class CataloguePrompts:
    """Prompt ids through the prompt catalogue (:mod:`acd.prompts`), answered from memory;
    :meth:`refresh` re-reads the customer's manifest (the watcher does, off the call path,
    on every change and every ``REFRESH_EVERY`` seconds: a prompt imported or recorded by
    phone is found without a restart)."""

    def __init__(self, directory: str) -> None:
        self.catalogue = PromptCatalogue(directory)

    def __call__(self, prompt_id: str, language: str) -> Playable:
        return self.catalogue.playable(prompt_id, language)

    def refresh(self) -> None:
        self.catalogue.refresh()


def prompt_resolver(config: Config) -> PromptResolver:
    """The engine's prompt resolver for ``config`` (:class:`CataloguePrompts`)."""
    return CataloguePrompts(config.prompts.directory)


REFRESH_EVERY = 30.0


class HoursStore:
    """The Redis side: emergency state and API-entered exceptions of one tenant."""

    def __init__(self, client: redis.Redis, tenant: str, clock: Clock = time.time) -> None:
        self.client = client
        self.clock = clock
        base = f"acd:{{{tenant}}}:"
        self.emergency_key = base + "emergency"
        self.exceptions_key = base + "calendar_exceptions"
        self.version_key = base + "hours_version"

    def version(self) -> int:
        return int(self.client.get(self.version_key) or 0)

    def emergency(self) -> dict[str, Any] | None:
        raw = self.client.hgetall(self.emergency_key)
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return {
            "prompt": data.get("prompt"),
            "since": float(data.get("since", 0)),
            "by": data.get("by", ""),
        }

    def set_emergency(self, prompt: str | None, by: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        if prompt is None:
            pipe.delete(self.emergency_key)
        else:
            pipe.delete(self.emergency_key)
            pipe.hset(
                self.emergency_key, mapping={"prompt": prompt, "since": self.clock(), "by": by}
            )
        pipe.incr(self.version_key)
        pipe.execute()
        _log.info("acd.emergency_set", prompt=prompt, by=by)

    def exceptions(self) -> list[tuple[str, str, CalendarException]]:
        """``(id, calendar, exception)`` of every API-entered exception, by first date."""
        found = []
        for key, raw in self.client.hgetall(self.exceptions_key).items():
            try:
                data = json.loads(raw)
                exception = CalendarException(
                    _date(data["first"]),
                    _date(data["last"]),
                    tuple(parse_interval(h) for h in data.get("hours", ())),
                    str(data.get("name", "")),
                )
            except (ValueError, KeyError, TypeError) as exc:
                _log.error("acd.bad_calendar_exception", id=key, error=str(exc))
                continue
            found.append((_text(key), str(data["calendar"]), exception))
        found.sort(key=lambda item: (item[2].first, item[0]))
        return found

    def add_exception(self, calendar: str, exception: CalendarException) -> str:
        ident = secrets.token_hex(6)
        data = {
            "calendar": calendar,
            "first": exception.first.isoformat(),
            "last": exception.last.isoformat(),
            "hours": [format_interval(h) for h in exception.hours],
            "name": exception.name,
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.exceptions_key, ident, json.dumps(data))
        pipe.incr(self.version_key)
        pipe.execute()
        return ident

    def remove_exception(self, calendar: str, ident: str) -> bool:
        raw = self.client.hget(self.exceptions_key, ident)
        if raw is None or json.loads(raw).get("calendar") != calendar:
            return False
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.exceptions_key, ident)
        pipe.incr(self.version_key)
        pipe.execute()
        return True

    def event(self) -> HoursChanged:
        """The whole current state as the engine event."""
        emergency = self.emergency()
        grouped: dict[str, list[CalendarException]] = {}
        for _ident, calendar, exception in self.exceptions():
            grouped.setdefault(calendar, []).append(exception)
        return HoursChanged(
            emergency["prompt"] if emergency else None,
            {name: tuple(items) for name, items in grouped.items()},
            self.clock(),
            since=emergency["since"] if emergency else None,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class HoursWatcher:
    """Polls the version counter; on a change posts the state to the engine's lane
    :data:`HOURS_LANE`. Also the observer of the ``emergency`` fact (the feature code),
    which it writes to Redis."""

    def __init__(self, store: HoursStore, runner: Runner, interval: float = 0.5) -> None:
        self.store = store
        self.runner = runner
        self.interval = interval
        self._seen: int | None = None
        self._greenlet: gevent.Greenlet | None = None

    def __call__(self, fact: Fact) -> None:
        if fact.kind != "emergency":
            return
        prompt = fact.data.get("prompt")
        by = fact.data.get("by")  # "feature-code:<phone>": the API's GET shows who
        # Off the call's lane: the observer must not wait for Redis on the call's path.
        gevent.spawn(
            self._write,
            prompt if isinstance(prompt, str) else None,
            by if isinstance(by, str) and by else "feature-code",
        )

    def _write(self, prompt: str | None, by: str = "feature-code") -> None:
        try:
            self.store.set_emergency(prompt, by)
            self.poll()
        except redis.RedisError as exc:
            _log.error("acd.emergency_write_failed", error=str(exc))

    def start(self) -> None:
        try:
            self.poll()
        except redis.RedisError as exc:
            _log.warning("acd.hours_poll_failed", error=str(exc))  # the loop retries
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def refresh_prompts(self) -> None:
        """Re-read the prompt catalogue the engine resolves with (if it can)."""
        hours = self.runner.engine.settings.hours
        refresh = getattr(hours.prompt, "refresh", None) if hours is not None else None
        if refresh is None:
            return
        try:
            refresh()
        except (OSError, ValueError, ACDError) as exc:
            _log.error("acd.prompts_refresh_failed", error=str(exc))

    def poll(self) -> bool:
        """Read the version; post the state if it moved. True if posted."""
        version = self.store.version()
        if version == self._seen:
            return False
        self.refresh_prompts()  # the emergency prompt may have just been recorded
        event = self.store.event()
        self._seen = version
        self.runner.post(HOURS_LANE, event)
        return True

    def _loop(self) -> None:
        refreshed = time.monotonic()
        while True:
            gevent.sleep(self.interval)
            try:
                if not self.poll() and time.monotonic() - refreshed >= REFRESH_EVERY:
                    self.refresh_prompts()
                    refreshed = time.monotonic()
            except redis.RedisError as exc:
                _log.warning("acd.hours_poll_failed", error=str(exc))


def file_exception_id(exception: CalendarException) -> str:
    """The id the admin API shows for an exception of the configuration file:
    ``file-2027-06-18`` or ``file-2027-12-27..2027-12-30``; it cannot be removed by API."""
    first, last = exception.first.isoformat(), exception.last.isoformat()
    return f"file-{first}" if first == last else f"file-{first}..{last}"


def hours_blueprint(api: AdminApi, watcher: HoursWatcher) -> Blueprint:
    """The admin endpoints (module doc), for ``AdminApi.app.register_blueprint``."""
    bp = Blueprint("acd_hours", __name__)
    store = watcher.store

    def settings() -> HoursSettings:
        hours = api.runner.engine.settings.hours
        if hours is None:
            raise ApiError(404, "not-found", "no calendars configured")
        return hours

    def body() -> dict[str, Any]:
        raw = request.get_data(cache=False)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ApiError(400, "invalid-json", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid-input", "the body must be a JSON object")
        return data

    def redis_call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except redis.RedisError as exc:
            raise ApiError(503, "store-unavailable", f"Redis: {exc}") from None

    @bp.get("/api/admin/emergency")
    def _get_emergency() -> Response:
        api._authorize("admin")
        state = redis_call(store.emergency)
        return _json(200, {"on": state is not None, **(state or {})})

    @bp.put("/api/admin/emergency")
    def _put_emergency() -> Response:
        token = api._authorize("admin")
        data = body()
        prompt = data.get("prompt", settings().emergency_prompt)
        if set(data) - {"prompt"} or not isinstance(prompt, str):
            raise ApiError(400, "invalid-input", 'the body is {"prompt": "<prompt id>"}')
        hours = settings()
        watcher.refresh_prompts()  # a prompt just imported or recorded counts
        # Every caller hears it, in its own language: refuse a prompt one of them lacks.
        missing: list[str] = []
        for language in dict.fromkeys((hours.language, *hours.languages)):
            try:
                hours.prompt(prompt, language)
            except (LookupError, ValueError):
                missing.append(language)
        if missing:
            raise ApiError(
                400,
                "unknown-prompt",
                f"prompt {prompt!r} is missing in language{'s' if len(missing) > 1 else ''}"
                f" {', '.join(missing)}: import or record it first (acd prompts import)",
            )
        redis_call(lambda: store.set_emergency(prompt, token.name))
        redis_call(watcher.poll)
        return _json(200, {"on": True, "prompt": prompt})

    @bp.delete("/api/admin/emergency")
    def _delete_emergency() -> Response:
        token = api._authorize("admin")
        redis_call(lambda: store.set_emergency(None, token.name))
        redis_call(watcher.poll)
        return _json(200, {"on": False})

    def known(name: str) -> Calendars:
        calendars = settings().calendars
        if name not in calendars:
            raise ApiError(404, "unknown-calendar", f"no calendar named {name!r}")
        return calendars

    def view(ident: str | None, exception: CalendarException, source: str) -> dict[str, Any]:
        return {
            "id": ident,
            "source": source,
            "from": exception.first.isoformat(),
            "to": exception.last.isoformat(),
            "hours": [format_interval(h) for h in exception.hours],
            "closed": not exception.hours,
            "name": exception.name,
        }

    def file_ids(calendars: Calendars, name: str) -> list[tuple[str, CalendarException]]:
        # Stable while the file keeps the exception's dates (other edits do not move it).
        return [(file_exception_id(e), e) for e in calendars.specs[name].exceptions]

    @bp.get("/api/admin/calendars/<name>/exceptions")
    def _get_exceptions(name: str) -> Response:
        api._authorize("admin")
        calendars = known(name)
        items = [view(i, e, "api") for i, c, e in redis_call(store.exceptions) if c == name]
        items += [view(i, e, "config") for i, e in file_ids(calendars, name)]
        return _json(200, {"calendar": name, "exceptions": items})

    @bp.post("/api/admin/calendars/<name>/exceptions")
    def _post_exception(name: str) -> Response:
        api._authorize("admin")
        calendars = known(name)
        try:
            exception = ExceptionSettings.model_validate(body()).exception()
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ApiError(400, "invalid-input", problems) from None
        zone = ZoneInfo(calendars.specs[name].timezone)
        today = dt.datetime.fromtimestamp(store.clock(), zone).date()
        if exception.first < today:
            raise ApiError(
                400,
                "invalid-input",
                f"{exception.first.isoformat()} is in the past (today is {today.isoformat()}"
                f" in {zone.key}): an exception is for today or a date ahead",
            )
        ident = redis_call(lambda: store.add_exception(name, exception))
        redis_call(watcher.poll)
        return _json(201, view(ident, exception, "api"))

    @bp.delete("/api/admin/calendars/<name>/exceptions/<exception_id>")
    def _delete_exception(name: str, exception_id: str) -> Response:
        api._authorize("admin")
        calendars = known(name)
        if any(i == exception_id for i, _ in file_ids(calendars, name)):
            raise ApiError(
                409,
                "from-file",
                f"exception {exception_id!r} is in the configuration file: remove it there"
                " and reload (the API removes only the exceptions it added)",
            )
        if not redis_call(lambda: store.remove_exception(name, exception_id)):
            raise ApiError(404, "unknown-exception", f"no API-entered exception {exception_id!r}")
        redis_call(watcher.poll)
        return _json(200, {"deleted": exception_id})

    return bp


__all__ = [
    "HOURS_LANE",
    "CataloguePrompts",
    "HoursStore",
    "HoursWatcher",
    "file_exception_id",
    "hours_blueprint",
    "hours_settings",
    "prompt_resolver",
]
