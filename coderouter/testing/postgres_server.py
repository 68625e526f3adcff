"""A real PostgreSQL server (Debian's ``postgresql``) as a process on a free loopback port, with
its cluster in a temp dir, for tests of the Postgres cost ledger. Installed with apt-get when it
is missing.

PostgreSQL refuses to run as root: as root the cluster dir belongs to the ``postgres`` system
user (the Debian package creates it) and ``initdb`` and ``postgres`` run as that user through
``setpriv``, which execs in place, so signals reach the server itself.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from coderouter.testing.debian import ensure_installed
from coderouter.testing.process import stop_process, wait_ready
from coderouter.testing.upstream import free_port

__all__ = ["PostgresServer", "ensure_postgres_server"]

SYSTEM_USER = "postgres"
SUPERUSER = "coderouter"


def _server_binary() -> str | None:
    # Debian keeps the server binaries off PATH, one directory per major version.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major)
    return found[-1] if found else None


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def ensure_postgres_server() -> Path:
    """The directory of ``postgres``, ``initdb`` and ``pg_isready``, installing the Debian
    package first when it is missing."""
    return Path(ensure_installed("postgres", "postgresql", _server_binary)).parent


class PostgresServer:
    """``postgres`` on ``127.0.0.1:<free port>`` with a fresh cluster (no durability: tests
    only). :meth:`stop` and :meth:`start` again (same port, same data) let a test take the
    database away mid-run and bring it back; :meth:`create_database` gives each test its own."""

    def __init__(self, bindir: Path | None = None, *, port: int | None = None) -> None:
        self.bindir = bindir or ensure_postgres_server()
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="coderouter-postgres-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as_user = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--init-groups",
                "--",
            ]
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        self.start()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, command: list[str]) -> str:
        done = subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, timeout=120, cwd=self.dir
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def start(self, timeout_s: float = 30.0) -> None:
        if self.running:
            return
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *self._as_user,
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.dir}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        if not wait_ready(self.process, self.ready, timeout_s):
            self.stop()
            text = self.log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"postgres did not start on port {self.port}:\n{text}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        done = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            timeout=10,
        )
        return done.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` and return its unaligned, tuples-only output."""
        return self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn(database),
                "-c",
                sql,
            ]
        ).strip()

    def create_database(self, name: str) -> str:
        """A new empty database ``name``; its DSN."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        """A fast shutdown: open sessions are disconnected, as when a database goes away."""
        if self.process is None:
            return
        stop_process(self.process, signal.SIGINT)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
