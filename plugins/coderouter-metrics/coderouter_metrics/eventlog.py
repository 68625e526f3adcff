"""The optional structured event log: one JSON line per record in a size-rotated file.

Lines are written by a background thread (``logging.handlers.QueueListener``), so the request
path only puts a record on a queue. Several workers may share one file: writes and rotation
happen under an ``flock`` on ``<file>.lock``, and a worker reopens the file when another one
rotated it, so no line lands in a rotated-away file and no rotation happens twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import queue
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["EventLog", "SharedRotatingFileHandler"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` that several processes can write at once."""

    def __init__(self, filename: str, max_bytes: int, backups: int) -> None:
        super().__init__(
            filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self.lock_path = self.baseFilename + ".lock"

    @contextlib.contextmanager
    def _interprocess_lock(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        with open(self.lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self.stream.fileno())
        if on_disk is None or (on_disk.st_ino, on_disk.st_dev) != (mine.st_ino, mine.st_dev):
            self.stream.close()
            self.stream = None  # type: ignore[assignment]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with self._interprocess_lock():
                self._reopen_if_rotated()
                super().emit(record)
                if self.stream is not None:
                    self.stream.flush()
        except Exception:
            self.handleError(record)


class EventLog:
    """Queue in the caller's thread, write in a background thread."""

    def __init__(self, path: str, *, max_bytes: int, backups: int) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.backups = backups
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.handler: SharedRotatingFileHandler | None = None
        self.listener: logging.handlers.QueueListener | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = SharedRotatingFileHandler(str(self.path), self.max_bytes, self.backups)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.listener = logging.handlers.QueueListener(self.queue, self.handler)
        self.listener.start()

    @property
    def running(self) -> bool:
        return self.listener is not None

    def write(self, record: Mapping[str, Any]) -> None:
        if self.listener is None:
            return
        line = _dumps(dict(record))
        self.queue.put_nowait(
            logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"})
        )

    def stop(self) -> None:
        """Write what is queued, then close the file."""
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.handler is not None:
            self.handler.close()
            self.handler = None
