"""Structured JSON log lines on stderr: one per request, one per notable event."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from coderouter.redact import redact

__all__ = ["RequestLog"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class RequestLog:
    """Writes one JSON object per line. ``listeners`` receive every record too (the metrics
    plugin's event list subscribes here). Records are redacted first
    (:func:`coderouter.redact.redact`): a key never reaches the log, the event log or metrics."""

    def __init__(self, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, fields: dict[str, Any]) -> None:
        fields.setdefault("ts", round(time.time(), 3))
        line = ""
        if self.enabled:
            # The line is written anyway: one scan of it, and a re-read only when it changed.
            raw = _dumps(fields)
            line = redact(raw)
            if line != raw:
                fields = json.loads(line)
        elif self.listeners:
            fields = _redacted(fields)
        for listener in self.listeners:
            listener(fields)
        if self.enabled:
            (self.stream or sys.stderr).write(line + "\n")
