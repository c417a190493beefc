"""The project's one exception hierarchy.

Every package raises subclasses of :class:`ACDError`; adapters convert
infrastructure errors (sockets, Redis) at their edge with ``raise X(...) from None``
so callers never need to know which library sits underneath.
Each error has a stable ``slug`` that logs and the HTTP API expose.
"""

from __future__ import annotations


class ACDError(Exception):
    """Root of every error the project raises on purpose."""

    slug = "acd-error"


class ConfigError(ACDError):
    """Bad configuration: names the file, the path inside it and the reason."""

    slug = "config-invalid"


class ValidationError(ACDError, ValueError):
    """A value from outside (API call, caller number, channel variable) was refused."""

    slug = "invalid-input"
