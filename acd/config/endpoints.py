"""Where the engine connects and listens: Event Socket, Redis, HTTP."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, Field, model_validator

from acd.config.problems import CrossCheckError
from acd.config.types import Frozen, List, Name, PositiveSeconds, Seconds
from acd.errors import ConfigError
from freeswitch.client_settings import ClientSettings

Role = Literal["viewer", "agent", "supervisor", "admin"]
"""HTTP API roles, each allowed what the ones before it are: viewer (read), agent (own
state), supervisor (other agents' state), admin (everything)."""


class EslSettings(Frozen):
    """The FreeSWITCH Event Socket (``event_socket.conf.xml``). Times in seconds."""

    host: str = "127.0.0.1"
    port: int = Field(default=8021, ge=1, le=65535)
    password: str = Field(default="ClueCon", repr=False)
    connect_timeout: PositiveSeconds = 5.0
    """Seconds to wait for the TCP connection and the authentication reply."""
    command_timeout: PositiveSeconds = 5.0
    """Seconds to wait for a command's reply."""
    reconnect_min: PositiveSeconds = 0.1
    """First back-off after a dropped connection, in seconds (doubles up to the max)."""
    reconnect_max: PositiveSeconds = 10.0
    """Longest back-off between reconnect attempts, in seconds."""
    idle_timeout: Seconds = 60.0
    """Seconds of silence (no event, not even the 20-second HEARTBEAT) after which the
    connection counts as dropped; 0 turns the watchdog off."""
    wakeup_interval: Seconds = 0.002
    """Seconds of quiet on the connection after which the engine writes a bare newline, so
    FreeSWITCH hands over queued events at once instead of after its ~20 ms poll (a
    median 9.5 ms off every arrival, measured); 0 turns it off."""

    @model_validator(mode="after")
    def _check_with_client(self) -> EslSettings:
        # ClientSettings owns the rules (host alphabet, password form, timeout ranges).
        try:
            self.client_settings()
        except ConfigError as error:
            # ClientSettings says "esl <setting>: <why>": report it at that setting.
            match = re.fullmatch(r"esl (\w+): (.*)", str(error), re.DOTALL)
            if match and match.group(1) in type(self).model_fields:
                setting, reason = match.groups()
                if reason.startswith("'"):  # the message is only the refused value
                    reason = f"not a valid {setting}: {reason}"
                raise CrossCheckError([((setting,), reason)]) from None
            raise ValueError(str(error)) from None
        return self

    def client_settings(self, events: tuple[str, ...] | Literal["ALL"] = "ALL") -> ClientSettings:
        """The ESL client's settings, subscribing to ``events`` (event names, CUSTOM
        subclasses as ``owner::name``). Raises :class:`~acd.errors.ConfigError` for a bad
        event name."""
        return ClientSettings(
            self.host,
            self.port,
            self.password,
            connect_timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
            events=events,
            reconnect_min=self.reconnect_min,
            reconnect_max=self.reconnect_max,
            idle_timeout=self.idle_timeout,
            wakeup_interval=self.wakeup_interval,
        )


def _redis_url(url: str) -> str:
    # The URL may carry a password: messages name the part that is wrong, never the URL.
    if not url or len(url) > 1024 or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (bad port?)") from None
    if parts.scheme in ("redis", "rediss"):
        if not parts.hostname:
            raise ValueError("needs a host: redis://host:port/db")
        if port == 0:
            raise ValueError("port must be 1-65535")
        if parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]{1,5}", parts.path):
            raise ValueError("the path must be a database number: redis://host:port/0")
    elif parts.scheme == "unix":
        if not parts.path:
            raise ValueError("needs a socket path: unix:///run/redis.sock?db=0")
    else:
        raise ValueError(f"scheme must be redis, rediss or unix, not {parts.scheme!r}")
    for key, values in parse_qs(parts.query).items():
        if key == "db" and not all(v.isdigit() for v in values):
            raise ValueError("db must be a number")
    return url


class RedisSettings(Frozen):
    """The Redis server that holds queues, agents and the queue log."""

    url: Annotated[str, AfterValidator(_redis_url)] = Field(
        default="redis://127.0.0.1:6379/0", repr=False
    )
    """``redis://[:password@]host[:port][/db]``, ``rediss://...`` (TLS) or
    ``unix:///path/to/redis.sock?db=0``."""


def _token(value: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]{16,256}", value):
        raise ValueError("must be 16-256 printable ASCII characters without spaces")
    return value


class ApiToken(Frozen):
    """A bearer token for the HTTP API (``Authorization: Bearer <token>``)."""

    token: Annotated[str, AfterValidator(_token)] = Field(repr=False)
    """The secret, at least 16 characters; generate one with ``openssl rand -hex 24``."""
    role: Role
    name: Name
    """Who holds it, for logs (the token itself is never logged)."""


class HttpSettings(Frozen):
    """The HTTP API and metrics listener."""

    host: str = Field(default="127.0.0.1", pattern=r"^[A-Za-z0-9_.:-]{1,253}$")
    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port; 0 picks a free one (tests)."""
    tokens: List[ApiToken] = ()
