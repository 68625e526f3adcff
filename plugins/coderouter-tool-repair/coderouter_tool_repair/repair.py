"""Repair of one whole answer, for scripts and the corpus report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from coderouter.wire import model as ir
from coderouter_tool_repair.calls import Call, ToolSet
from coderouter_tool_repair.transform import ToolRepairTransform

__all__ = ["answer_events", "repair_text"]


def answer_events(pieces: Iterable[str]) -> list[ir.Event]:
    """The events of a text-only answer whose text arrives in ``pieces``."""
    events: list[ir.Event] = [
        ir.MessageStart("msg_repair", "model"),
        ir.BlockStart(0, {"type": "text"}),
    ]
    events += [ir.TextDelta(0, piece) for piece in pieces]
    return [*events, ir.BlockStop(0), ir.MessageDelta("end_turn"), ir.MessageStop()]


def repair_text(
    text: str | Iterable[str],
    tools: Iterable[Mapping[str, Any]] | ToolSet,
    *,
    max_hold: int = 16384,
) -> tuple[str, list[Call]]:
    """``(remaining text, recovered calls)`` for an answer (a string, or its stream pieces)."""
    toolset = tools if isinstance(tools, ToolSet) else ToolSet(tools)
    transform = ToolRepairTransform(toolset, max_hold=max_hold, new_id=lambda: "call_0")
    events: list[ir.Event] = []
    for event in answer_events([text] if isinstance(text, str) else text):
        events += transform.feed(event)
    events += transform.flush()
    response = ir.accumulate(events)
    remaining = "".join(b.get("text", "") for b in response.content if b.get("type") == "text")
    calls = [Call(b["name"], b["input"]) for b in response.content if b.get("type") == "tool_use"]
    return remaining, calls
