"""The local spool of the Postgres ledger: one append-only file per worker process holding the
rows Postgres has not committed yet.

Every row is written here before the answer goes out (one ``write``: it survives a killed
process; ``fsync`` runs off the event loop while Postgres is unreachable and at shutdown), and
the file is emptied once Postgres has committed everything in it. A worker holds an exclusive
``flock`` on its file; a file nobody holds belongs to a worker that stopped or died with rows
Postgres never got, and the next worker to look adopts it: it copies the rows into its own
spool and sends them. Rows carry an id made on the host, and Postgres ignores an id it already
has, so a row replayed twice is stored once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from pathlib import Path

import attrs

from coderouter_cost.ledger import COLUMNS, Row

__all__ = ["Orphan", "Spool", "SpooledRow", "decode", "encode"]

SUFFIX = ".jsonl"
# Past this many bytes of rows already committed, the file is rewritten with the rest.
REWRITE_BYTES = 256 * 1024

SpooledRow = tuple[str, Row]


@attrs.frozen
class Orphan:
    """A spool file left by a worker that stopped or died, locked by this one."""

    path: Path
    fd: int
    rows: list[SpooledRow]
    cut: int  # lines a crash cut short, skipped


def encode(row_id: str, row: Row) -> bytes:
    return json.dumps([row_id, *row], separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> SpooledRow | None:
    """The row of one spool line, or None for a line a crash cut short."""
    try:
        row_id, *fields = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row_id, str) or len(fields) != len(COLUMNS):
        return None
    return row_id, tuple(fields)  # type: ignore[return-value]


class Spool:
    """This worker's spool file in ``directory``, at most ``max_bytes`` long."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.path: Path | None = None
        self.size = 0
        self.unsynced = False
        self._fd = -1

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    def open(self) -> None:
        if self.is_open:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd, self.path = self._create(f"{os.getpid()}-{secrets.token_hex(4)}")
        self.size = 0

    def _create(self, stem: str) -> tuple[int, Path]:
        # Locked under a temporary name first, so no other worker ever sees the file unlocked.
        temporary = self.directory / f".{stem}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.directory / f"{stem}{SUFFIX}"
        os.replace(temporary, path)
        return fd, path

    def add(self, line: bytes) -> bool:
        """Append one encoded row; False when the spool is full or cannot be written."""
        if not self.is_open or self.size + len(line) > self.max_bytes:
            return False
        return self._append(line)

    def _append(self, data: bytes) -> bool:
        """Write ``data`` whole or not at all: what a full disk let through is cut off again,
        so no torn line spoils the row written after it."""
        try:
            if os.write(self._fd, data) == len(data):
                self.size += len(data)
                self.unsynced = True
                return True
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self.size)
        return False

    def keep_only(self, rows: list[SpooledRow]) -> None:
        """Postgres committed everything but ``rows``: empty the file, or rewrite it with
        ``rows`` once the committed part has grown past :data:`REWRITE_BYTES`."""
        if not self.is_open:
            return
        if not rows:
            os.ftruncate(self._fd, 0)
            self.size = 0
            self.unsynced = False
            return
        if self.size < REWRITE_BYTES:
            return
        assert self.path is not None
        fd, path = self._create(self.path.name.removesuffix(SUFFIX))
        data = b"".join(encode(row_id, row) for row_id, row in rows)
        os.write(fd, data)
        os.close(self._fd)
        self._fd, self.path, self.size = fd, path, len(data)
        self.unsynced = True

    def sync(self) -> None:
        """``fsync`` the file (off the event loop: it may take milliseconds)."""
        if self.is_open and self.unsynced:
            self.unsynced = False
            os.fsync(self._fd)

    def close(self) -> None:
        """Release the file: removed when empty, else left for the next worker to adopt."""
        if not self.is_open:
            return
        assert self.path is not None
        if self.size == 0:
            self.path.unlink(missing_ok=True)
        else:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1

    def claim_orphans(self) -> list[Orphan]:
        """Spool files no running worker holds, read and locked (a thread may do this: the
        files may be large). :meth:`release` each once its rows are in this spool, else
        :meth:`keep_rest`."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        claimed = []
        for name in names:
            path = self.directory / name
            if not name.endswith(SUFFIX) or path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != os.stat(path).st_ino:
                    raise FileNotFoundError(path)  # adopted and removed by another worker
                with os.fdopen(os.dup(fd), "rb") as stream:
                    lines = [line for line in stream.read().splitlines() if line]
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            rows = [r for line in lines if (r := decode(line)) is not None]
            claimed.append(Orphan(path, fd, rows, len(lines) - len(rows)))
        return claimed

    def add_all(self, rows: list[SpooledRow]) -> int:
        """Append as many of ``rows`` as fit, in one write; how many that was."""
        lines = []
        room = self.max_bytes - self.size
        for row_id, row in rows:
            line = encode(row_id, row)
            if len(line) > room:
                break
            room -= len(line)
            lines.append(line)
        if lines and self.is_open and self._append(b"".join(lines)):
            return len(lines)
        return 0

    @staticmethod
    def release(orphan: Orphan) -> None:
        """Remove an adopted file and drop its lock."""
        with contextlib.suppress(FileNotFoundError):
            orphan.path.unlink()
        os.close(orphan.fd)

    @staticmethod
    def keep_rest(orphan: Orphan, rest: list[SpooledRow]) -> None:
        """Leave an adopted file holding only ``rest``, the rows this spool had no room for,
        and drop its lock. The new file is written and synced before it takes the old one's
        place; when that fails the file stays as it was (its rows sent twice are stored once).
        """
        temporary = orphan.path.with_name(f".{orphan.path.stem}.tmp")
        data = b"".join(encode(row_id, row) for row_id, row in rest)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "no room for the rest")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, orphan.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
        finally:
            os.close(orphan.fd)
