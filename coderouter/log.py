"""Structured JSON log lines on stderr: one per request, one per notable event."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["RequestLog"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class RequestLog:
    """Writes one JSON object per line. ``listeners`` receive every record too (the metrics
    plugin's event list subscribes here)."""

    def __init__(self, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, fields: dict[str, Any]) -> None:
        fields.setdefault("ts", round(time.time(), 3))
        for listener in self.listeners:
            listener(fields)
        if self.enabled:
            (self.stream or sys.stderr).write(_dumps(fields) + "\n")
