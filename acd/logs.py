"""structlog set-up shared by the CLI, the demo and the engine."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing, so a replaced or
    closed stream (test capture, daemon re-exec) never strands the loggers."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", json: bool = False) -> None:
    """Key-value lines for people, JSON lines for log shippers; both to stderr."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_as_text_io(_CurrentStderr())),
        # Module-level loggers must follow a later reconfiguration, so no caching.
        cache_logger_on_first_use=False,
    )


def _as_text_io(stream: _CurrentStderr) -> TextIO:
    return stream  # type: ignore[return-value]  # structlog only calls write() and flush()
