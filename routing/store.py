"""RedisRouter: the routing rules as Lua scripts in Redis (the fast path).

Every public call is ONE script call (EVALSHA of the one script, registered once), so it
is atomic and any number of engine processes may share one Redis. The script is built
from the generated key prelude (routing/keys.py), the shared library (lib_*.lua) and
every operation's own file (scripts/<operation>.lua), dispatched by name. ``now`` is
always passed in. Errors from the scripts come back as ``"<slug>: <detail>"`` and are
raised as the same exceptions the reference model raises.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

import msgpack
import redis

from acd.errors import ValidationError
from routing.api import (
    AgentProfile,
    Contact,
    LogEntry,
    NoAnswerState,
    PositionInfo,
    QueueConfig,
    Reservation,
    RouterState,
)
from routing.errors import ERRORS_BY_SLUG, StoreError
from routing.keys import Keys, lua_prelude
from routing.store_snapshot import read_snapshot
from routing.validation import (
    check_int,
    check_name,
    check_number,
    check_queue_list,
    check_time,
    parse_reservation_id,
)

LIBRARY = ("lib_records", "lib_rules", "lib_flow")
SCRIPTS = (
    "put_queue",
    "put_agent",
    "login",
    "logout",
    "pause",
    "unpause",
    "arrive",
    "abandon",
    "confirm",
    "release",
    "complete",
    "tick",
    "position",
    "pick",  # last: the dispatch tests the hot operations first
)


@functools.cache
def script_source() -> str:
    """The one Lua script: key prelude + library + every operation's file as the body of
    a function that runs only when ``ARGV[4]`` names it.

    One script rather than one per operation: Redis 6.2 keeps every loaded script's
    compiled code in one Lua heap, and its garbage collector walks that heap while each
    call allocates; thirteen copies of the library made the collector's work per call
    several times larger. Only the chosen operation's closure is created per call
    (docs/ROUTING.md, "Performance")."""
    folder = resources.files("routing") / "scripts"
    parts = [lua_prelude()]
    parts += [(folder / f"{part}.lua").read_text(encoding="utf-8") for part in LIBRARY]
    parts.append(DISPATCH)
    for name in SCRIPTS:
        body = (folder / f"{name}.lua").read_text(encoding="utf-8")
        parts.append(f"if OPERATION == '{name}' then return (function()\n{body}\nend)() end")
    parts.append("return redis.error_reply('routing-store: unknown operation ' .. OPERATION)")
    return "\n".join(parts)


DISPATCH = """
local OPERATION = tostring(ARGV[4])
table.remove(ARGV, 4) -- each operation file numbers its own slots from ARGV[4]
"""


def _text(number: float) -> str:
    # repr is the shortest text that reads back as the same double (Lua uses strtod).
    return repr(float(number))


def pack_queue(cfg: QueueConfig) -> bytes:
    steps = [
        {"after": s.after, "lv": dict(s.levels), "dl": s.drop_language, "aq": list(s.add_queues)}
        for s in cfg.escalation
    ]
    record = {
        "name": cfg.name,
        "sk": dict(cfg.skills),
        "steps": steps,
        "pw": cfg.passive_waiting,
        "pt": cfg.passive_wait_seconds,
        "cp": dict(cfg.channel_priority),
        "wrap": cfg.wrap_up_seconds,
        "rto": cfg.reservation_timeout,
        "nas": cfg.no_answer_state,
        "aht": cfg.initial_aht,
        "ms": cfg.min_samples,
        "cv": cfg.max_cv,
        "mewt": cfg.max_ewt,
    }
    packed: bytes = msgpack.packb(record)
    return packed


class RedisRouter:
    """One tenant's routing state in Redis. Safe to use from many processes at once."""

    def __init__(self, client: redis.Redis, tenant: str, log_maxlen: int = 100_000) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ValidationError("RedisRouter needs a client with decode_responses=False")
        self.client = client
        self.keys = Keys(tenant)
        self.log_maxlen = check_int(log_maxlen, "log_maxlen", 1, 10**9)
        self._anchor = [self.keys.timers(), self.keys.log()]
        self._script = client.register_script(script_source())

    # ----------------------------------------------------------------- public API

    def put_queue(self, cfg: QueueConfig, now: float) -> list[Reservation]:
        if not isinstance(cfg, QueueConfig):
            raise ValidationError(f"expected a QueueConfig: {cfg!r}")
        return self._decide("put_queue", now, pack_queue(cfg))

    def put_agent(self, profile: AgentProfile, now: float) -> list[Reservation]:
        if not isinstance(profile, AgentProfile):
            raise ValidationError(f"expected an AgentProfile: {profile!r}")
        record = {
            "id": profile.id,
            "sk": dict(profile.skills),
            "lg": list(profile.languages),
            "pv": profile.passive,
            "cc": profile.chat_capacity,
            "ce": profile.email_capacity,
        }
        return self._decide("put_agent", now, msgpack.packb(record))

    def login(self, agent_id: str, queues: Sequence[str], now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        names = check_queue_list(queues, "queues")
        return self._decide("login", now, agent_id, msgpack.packb(list(names)))

    def logout(self, agent_id: str, queues: Sequence[str] | None, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        names = b"" if queues is None else msgpack.packb(list(check_queue_list(queues, "queues")))
        return self._decide("logout", now, agent_id, names)

    def pause(self, agent_id: str, reason: str, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        check_name(reason, "pause reason")
        return self._decide("pause", now, agent_id, reason)

    def unpause(self, agent_id: str, now: float) -> list[Reservation]:
        check_name(agent_id, "agent id")
        return self._decide("unpause", now, agent_id)

    def arrive(self, contact: Contact, now: float) -> list[Reservation]:
        if not isinstance(contact, Contact):
            raise ValidationError(f"expected a Contact: {contact!r}")
        target = contact.target
        record = {
            "id": contact.id,
            "ch": contact.channel,
            "q": contact.queue,
            "arr": contact.arrival,
            "sk": dict(contact.skills),
            "lang": contact.language,
            "pr": contact.priority,
            "tg": None
            if target is None
            else {"id": target.agent_id, "kind": target.kind, "sec": target.seconds},
        }
        return self._decide("arrive", now, msgpack.packb(record))

    def abandon(self, contact_id: str, now: float) -> list[Reservation]:
        check_name(contact_id, "contact id")
        return self._decide("abandon", now, contact_id)

    def confirm(self, reservation_id: str, now: float) -> None:
        contact_id, _attempt = parse_reservation_id(reservation_id)
        self._decide("confirm", now, contact_id, reservation_id)

    def release(
        self, reservation_id: str, now: float, agent_state: NoAnswerState | None = None
    ) -> list[Reservation]:
        contact_id, _attempt = parse_reservation_id(reservation_id)
        if agent_state not in (None, "available", "paused"):
            raise ValidationError(f"agent_state must be available|paused|None: {agent_state!r}")
        return self._decide("release", now, contact_id, reservation_id, agent_state or "")

    def complete(self, contact_id: str, now: float, handle_seconds: float) -> list[Reservation]:
        check_name(contact_id, "contact id")
        handle = check_number(handle_seconds, "handle_seconds", 0.0)
        return self._decide("complete", now, contact_id, _text(handle))

    def tick(self, now: float, limit: int = 1000) -> list[Reservation]:
        check_int(limit, "limit", 1, 1_000_000)
        return self._decide("tick", now, limit)

    def position(self, contact_id: str, now: float) -> PositionInfo:
        check_name(contact_id, "contact id")
        row = self._run("position", now, contact_id)
        return PositionInfo(
            position=int(row[0]),
            announced_position=int(row[1]),
            ewt_seconds=float(row[2]),
            ewt_uncertain=bool(row[3]),
            available_agents=int(row[4]),
            staffed_agents=int(row[5]),
        )

    def pick(self, contact_id: str, agent_id: str, now: float) -> Reservation:
        check_name(contact_id, "contact id")
        check_name(agent_id, "agent id")
        return self._decide("pick", now, contact_id, agent_id)[0]

    def snapshot(self) -> RouterState:
        try:
            return read_snapshot(self.client, self.keys)
        except redis.RedisError as exc:
            raise StoreError(f"snapshot failed: {exc}") from None

    def log_tail(self, count: int) -> list[LogEntry]:
        check_int(count, "count", 1, 1_000_000)
        try:
            rows = self.client.xrevrange(self.keys.log(), count=count)
        except redis.RedisError as exc:
            raise StoreError(f"reading the log failed: {exc}") from None
        entries = []
        for _id, fields in reversed(list(rows or [])):
            text = {_text_of(key): _text_of(value) for key, value in (fields or {}).items()}
            entries.append(LogEntry(text["k"], text["a"], text["c"], text["q"], float(text["t"])))
        return entries

    # -------------------------------------------------------------------- plumbing

    def _decide(self, name: str, now: float, *args: str | bytes | int) -> list[Reservation]:
        rows = self._run(name, now, *args)
        return [Reservation(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    def _run(self, name: str, now: float, *args: str | bytes | int) -> Any:
        moment = check_time(now)
        argv = [self.keys.prefix, _text(moment), self.log_maxlen, name, *args]
        try:
            raw = self._script(keys=self._anchor, args=argv)
        except redis.ResponseError as exc:
            raise _converted(exc) from None
        except redis.RedisError as exc:
            raise StoreError(f"{name} failed: {exc}") from None
        return msgpack.unpackb(raw, raw=False)


def _text_of(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _converted(exc: redis.ResponseError) -> Exception:
    message = str(exc)
    slug, _sep, detail = message.partition(": ")
    cls = ERRORS_BY_SLUG.get(slug)
    if cls is None:
        return StoreError(f"script failed: {message}")
    return cls(detail)
