"""Repair of one whole answer, for scripts and the corpus report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    TextDelta,
    accumulate,
)
from coderouter_tool_repair.calls import Call, ToolSet
from coderouter_tool_repair.transform import ToolRepairTransform

__all__ = ["answer_events", "repair_text"]


def answer_events(pieces: Iterable[str]) -> list[Event]:
    """The events of a text-only answer whose text arrives in ``pieces``."""
    events: list[Event] = [MessageStart("msg_repair", "model"), BlockStart(0, {"type": "text"})]
    events += [TextDelta(0, piece) for piece in pieces]
    return [*events, BlockStop(0), MessageDelta("end_turn"), MessageStop()]


def repair_text(
    text: str | Iterable[str],
    tools: Iterable[Mapping[str, Any]] | ToolSet,
    *,
    max_hold: int = 16384,
) -> tuple[str, list[Call]]:
    """``(remaining text, recovered calls)`` for an answer (a string, or its stream pieces)."""
    toolset = tools if isinstance(tools, ToolSet) else ToolSet(tools)
    transform = ToolRepairTransform(toolset, max_hold=max_hold, new_id=lambda: "call_0")
    events: list[Event] = []
    for event in answer_events([text] if isinstance(text, str) else text):
        events += transform.feed(event)
    events += transform.flush()
    response = accumulate(events)
    remaining = "".join(b.get("text", "") for b in response.content if b.get("type") == "text")
    calls = [Call(b["name"], b["input"]) for b in response.content if b.get("type") == "tool_use"]
    return remaining, calls
