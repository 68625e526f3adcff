"""emulate_forced_tool_choice: which Chat ``tool_choice`` values force a call, and the body a
server that ignores the field gets instead."""

from __future__ import annotations

from typing import Any

import pytest

from coderouter.wire.edits import emulate_forced_tool_choice

TOOLS = [
    {"type": "function", "function": {"name": "Read"}},
    {"type": "function", "function": {"name": "Write"}},
    {"type": "function", "function": {"name": "Bash"}},
]


def body(choice: Any, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": "go"}],
        "tools": TOOLS,
        "tool_choice": choice,
        **extra,
    }


def tool_names(out: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in out["tools"]]


@pytest.mark.parametrize("choice", ["auto", "none", None, {"type": "function"}, 3])
def test_choices_that_force_nothing_leave_the_body(choice: Any) -> None:
    assert emulate_forced_tool_choice(body(choice)) is None


def test_no_tools_means_nothing_to_force() -> None:
    assert emulate_forced_tool_choice(body("required", tools=[])) is None


def test_allowed_tools_in_required_mode_keep_the_allowed_ones() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "name": "Read"}, {"type": "function", "name": "Bash"}],
        },
    }
    out = emulate_forced_tool_choice(body(choice))
    assert out is not None and out["tool_choice"] == choice
    assert tool_names(out) == ["Read", "Bash"]
    assert "`Read`, `Bash`" in out["messages"][0]["content"]
    assert emulate_forced_tool_choice(body({**choice, "allowed_tools": {"mode": "auto"}})) is None


def test_a_named_tool_that_is_not_declared_keeps_every_tool() -> None:
    out = emulate_forced_tool_choice(body({"type": "function", "function": {"name": "Nope"}}))
    assert out is not None and tool_names(out) == ["Read", "Write", "Bash"]


def test_the_instruction_joins_an_existing_system_message_as_a_text_part() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "go"},
    ]
    out = emulate_forced_tool_choice(
        body({"type": "function", "function": {"name": "Write"}}, messages=messages)
    )
    assert out is not None and len(out["messages"]) == 2
    parts = out["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Be brief."}
    assert "`Write`" in parts[1]["text"]
    assert messages[0]["content"] == [{"type": "text", "text": "Be brief."}], "input unchanged"
