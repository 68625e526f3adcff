"""A real ``redis-server`` (Debian's package) as a process on a free loopback port, with its
own temp dir, for tests of the Redis state store. Installed with apt-get when it is missing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from coderouter.testing.debian import ensure_installed
from coderouter.testing.process import stop_process, wait_ready
from coderouter.testing.upstream import free_port

__all__ = ["RedisServer", "ensure_redis_server"]


def ensure_redis_server() -> str:
    """The path of ``redis-server``, installing the Debian package first when it is missing."""
    return ensure_installed("redis-server", "redis-server")


class RedisServer:
    """``redis-server`` on ``127.0.0.1:<free port>``, nothing saved to disk. :meth:`stop` and
    :meth:`start` again (same port) let a test take Redis away mid-run and bring it back."""

    def __init__(self, binary: str | None = None, *, port: int | None = None) -> None:
        self.binary = binary or ensure_redis_server()
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="coderouter-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_ready(self.process, self.ping, timeout_s):
            self.stop()
            text = (self.dir / "redis.log").read_text(errors="replace")
            raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
