"""Every Redis key name of the routing store, defined once.

All keys of a tenant start with ``acd:{<tenant>}:``; the braces are a Redis Cluster hash
tag, so every key a script touches hashes to the tenant's one slot. Scripts discover
some keys at run time (the agents of a queue, the queues of a contact), so
:func:`lua_prelude` generates Lua builders from the same templates, with the prefix
passed in as ``ARGV[1]``: Python and Lua cannot disagree on a name.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType

from routing.validation import check_name

# name -> template; {placeholders} are ids validated by routing.validation.
TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "queue": "queue:{queue}",  # msgpack QueueConfig
        "stats": "stats:{queue}",  # msgpack [count, mean, M2] of handle times
        "members": "members:{queue}",  # zset: logged-in agents of the queue (score 0)
        "free": "free:{queue}",  # zset: non-passive ready agents with no contact, by idle_since
        "avail": "avail:{queue}:{cls}",  # zset: same, busy with chat/email but room for cls
        "passive": "passive:{queue}",  # zset: passive agents of `free`, by idle_since
        "pavail": "pavail:{queue}:{cls}",  # zset: passive agents of `avail`, by idle_since
        "queued": "queued:{queue}",  # zset: general waiting contacts, by contact score
        "waiting": "wait:{queue}:{cls}",  # zset: the same, one channel class
        "arrivals": "arr:{queue}",  # zset: general waiting contacts, by effective arrival
        "agent": "agent:{agent}",  # msgpack agent record
        "contact": "contact:{contact}",  # msgpack contact record
        "targeted": "tgt:{agent}",  # zset: private/sticky contacts waiting for the agent
        "timers": "timers",  # zset: "<kind>|<id>" by due time
        "log": "log",  # stream: the queue log
        "agents": "agents",  # set of agent ids
        "contacts": "contacts",  # set of contact ids
        "queues": "queues",  # set of queue names
    }
)


def prefix(tenant: str) -> str:
    """``acd:{tenant}:`` -- the hash tag keeps a tenant in one Cluster slot."""
    return f"acd:{{{check_name(tenant, 'tenant')}}}:"


class Keys:
    """Key names of one tenant."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.prefix = prefix(tenant)

    def build(self, name: str, **parts: str) -> str:
        return self.prefix + TEMPLATES[name].format(**parts)

    def queue(self, queue: str) -> str:
        return self.build("queue", queue=queue)

    def stats(self, queue: str) -> str:
        return self.build("stats", queue=queue)

    def members(self, queue: str) -> str:
        return self.build("members", queue=queue)

    def free(self, queue: str) -> str:
        return self.build("free", queue=queue)

    def avail(self, queue: str, cls: str) -> str:
        return self.build("avail", queue=queue, cls=cls)

    def passive(self, queue: str) -> str:
        return self.build("passive", queue=queue)

    def pavail(self, queue: str, cls: str) -> str:
        return self.build("pavail", queue=queue, cls=cls)

    def queued(self, queue: str) -> str:
        return self.build("queued", queue=queue)

    def waiting(self, queue: str, cls: str) -> str:
        return self.build("waiting", queue=queue, cls=cls)

    def arrivals(self, queue: str) -> str:
        return self.build("arrivals", queue=queue)

    def agent(self, agent: str) -> str:
        return self.build("agent", agent=agent)

    def contact(self, contact: str) -> str:
        return self.build("contact", contact=contact)

    def targeted(self, agent: str) -> str:
        return self.build("targeted", agent=agent)

    def timers(self) -> str:
        return self.build("timers")

    def log(self) -> str:
        return self.build("log")

    def agents(self) -> str:
        return self.build("agents")

    def contacts(self) -> str:
        return self.build("contacts")

    def queues(self) -> str:
        return self.build("queues")


def _lua_builder(name: str, template: str) -> str:
    params: list[str] = []
    pieces = ["PFX"]
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        if literal:
            if not all(ch.isalnum() or ch in ":_" for ch in literal):
                raise ValueError(f"unsafe literal in key template {template!r}")
            pieces.append(f"'{literal}'")
        if field is not None:
            if not field.isidentifier():
                raise ValueError(f"bad placeholder in key template {template!r}")
            params.append(field)
            pieces.append(field)
    body = " .. ".join(pieces)
    return f"function K.{name}({', '.join(params)}) return {body} end"


def lua_prelude() -> str:
    """Lua source defining ``PFX`` (from ARGV[1]) and one ``K.<name>`` per template."""
    lines = [
        "-- Generated from routing/keys.py at registration: do not edit in a .lua file.",
        "local PFX = ARGV[1]",
        "local K = {}",
    ]
    lines += [_lua_builder(name, template) for name, template in TEMPLATES.items()]
    return "\n".join(lines) + "\n"
