"""Errors raised by the Event Socket layer (parser, client, commands, simulator).

All of them derive from :class:`acd.errors.ACDError`, so callers handle one hierarchy;
socket and greenswitch errors are converted into these at the adapter edge.
"""

from __future__ import annotations

from acd.errors import ACDError, ValidationError


class ESLError(ACDError):
    """Root of every Event Socket error."""

    slug = "esl-error"


class ProtocolError(ESLError):
    """The byte stream from FreeSWITCH is malformed.

    The message says what was wrong; ``offset`` is the byte offset in the whole stream
    fed to the parser (counting from the first byte ever fed) where the problem was seen.
    The connection that produced it cannot be trusted any more and must be rebuilt.

    ``parsed`` holds the messages the same ``Parser.feed`` call had framed before the bad
    bytes (well-formed, in order), so a reader may still deliver them before reconnecting.
    """

    slug = "esl-protocol"

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.parsed: tuple[object, ...] = ()


class ConnectionLost(ESLError):  # noqa: N818 (names fixed by the ESL contract)
    """The socket dropped; commands in flight fail with this."""

    slug = "esl-connection-lost"


class ESLTimeout(ESLError):  # noqa: N818 (names fixed by the ESL contract)
    """Connect, authentication or a command's reply did not arrive in time."""

    slug = "esl-timeout"


class AuthFailed(ESLError):  # noqa: N818 (names fixed by the ESL contract)
    """FreeSWITCH refused the password (or rejected the connection by ACL)."""

    slug = "esl-auth-failed"


class CommandFailed(ESLError):  # noqa: N818 (names fixed by the ESL contract)
    """FreeSWITCH answered a command with ``-ERR``; ``reply`` holds FreeSWITCH's whole text.

    ``CommandFailed(reply_text)`` or ``CommandFailed("uuid_bridge failed", reply=reply_text)``.
    """

    slug = "esl-command-failed"

    def __init__(self, message: str, reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = message if reply is None else reply


class InvalidArgument(ESLError, ValidationError):  # noqa: N818 (names fixed by the ESL contract)
    """A command builder refused a value that would not be safe on an ESL command line."""

    slug = "esl-invalid-argument"
