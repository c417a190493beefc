"""The wallboard over HTTP: a Flask Blueprint the engine's HTTP server registers.

=============================  ==========================================================
``GET /wallboard``             the page (static HTML, CSS and JS; no figures in it)
``GET /wallboard/static/...``  its files
``GET /wallboard/data``        the figures as JSON (:meth:`Board.as_json`); the page polls
                               it every ``refresh_seconds``
=============================  ==========================================================

Access: the figures need a token the ``check_token`` callable accepts (the engine accepts
any of its HTTP API tokens, viewer or higher), given as ``Authorization: Bearer <token>``
or, for a wall TV that cannot send a header, as ``?token=<token>`` in the page's URL (the
page passes it on to ``/wallboard/data``). Give a TV a viewer token of its own.
``check_token=None`` leaves the figures open. Errors answer ``{"error": slug, "message":
text}``: 401 no or unknown token, 503 the source failed (the page keeps its last figures
and marks them stale; the cause, which may name an internal address, is logged, not
sent to the viewer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, request, send_from_directory

from wallboard.figures import BoardSettings, FiguresSource, SourceUnavailableError

STATIC = Path(__file__).resolve().parent / "static"
_log = structlog.get_logger("wallboard.web")


class Wallboard:
    """The figures of ``source`` as JSON, computed at most once per ``max_age`` seconds
    however many screens poll (default: half the refresh interval, at most 1 s)."""

    def __init__(
        self,
        settings: BoardSettings,
        source: FiguresSource,
        clock: Callable[[], float] = time.monotonic,
        max_age: float | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.clock = clock
        self.max_age = min(1.0, settings.refresh_seconds / 2) if max_age is None else max_age
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def data(self) -> dict[str, Any]:
        """The JSON of ``/wallboard/data``. Raises :class:`SourceUnavailableError`."""
        with self._lock:
            now = self.clock()
            if self._cached is not None and now - self._cached[0] < self.max_age:
                return self._cached[1]
            payload = self.source.board().as_json(self.settings)
            self._cached = (now, payload)
            return payload


def _error(status: int, slug: str, message: str) -> Response:
    reply = jsonify({"error": slug, "message": message})
    reply.status_code = status
    return reply


def _given_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return request.args.get("token") or None


def blueprint(board: Wallboard, check_token: Callable[[str], bool] | None) -> Blueprint:
    """The Blueprint serving ``/wallboard``; ``check_token(secret)`` says whether a token
    may read the figures (None: anyone may)."""
    bp = Blueprint("wallboard", __name__, url_prefix="/wallboard")

    @bp.get("")
    def _page() -> Response:
        reply = send_from_directory(STATIC, "index.html", max_age=0)
        reply.headers["Cache-Control"] = "no-store"
        return reply

    @bp.get("/static/<path:name>")
    def _static(name: str) -> Response:
        return send_from_directory(STATIC, name, max_age=300)

    @bp.get("/data")
    def _data() -> Response:
        if check_token is not None:
            secret = _given_token()
            if secret is None or not check_token(secret):
                return _error(401, "unauthorized", "a valid token is needed (?token= or Bearer)")
        try:
            payload = board.data()
        except SourceUnavailableError as exc:
            _log.warning("wallboard.data_unavailable", error=str(exc))
            return _error(503, exc.slug, "the figures cannot be read now; see the engine's log")
        reply = jsonify(payload)
        reply.headers["Cache-Control"] = "no-store"
        return reply

    return bp
