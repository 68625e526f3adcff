"""The loop detector on its own: canonical arguments, windows, runs, and what resets a run."""

from __future__ import annotations

from typing import Any

import pytest
from coderouter_tool_loop import Loop, ToolCall, canonical_arguments, find_loop, tool_calls


def call(name: str, **args: Any) -> ToolCall:
    return ToolCall(name, canonical_arguments(args))


def assistant(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "x", "name": name, "input": args}],
    }


def result(extra_text: str | None = None) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": "x", "content": "ok"}]
    if extra_text is not None:
        content.append({"type": "text", "text": extra_text})
    return {"role": "user", "content": content}


def test_canonical_arguments_ignore_key_order_and_spacing() -> None:
    assert canonical_arguments({"b": 1, "a": {"y": 2, "x": 1}}) == canonical_arguments(
        {"a": {"x": 1, "y": 2}, "b": 1}
    )
    assert canonical_arguments({"a": 1}) != canonical_arguments({"a": "1"})


def test_three_identical_calls_in_a_row_are_a_loop() -> None:
    calls = [
        call("ls", path="."),
        call("read", path="a"),
        call("read", path="a"),
        call("read", path="a"),
    ]
    assert find_loop(calls, window=5, threshold=3) == Loop("read", '{"path":"a"}', 3)


@pytest.mark.parametrize(
    "calls",
    [
        [call("read", path="a"), call("read", path="a")],
        [call("read", path="a"), call("ls"), call("read", path="a"), call("read", path="a")],
        [call("read", path="a"), call("read", path="b"), call("read", path="a")],
        [call("read", path="a"), call("grep", path="a"), call("read", path="a")],
        [],
    ],
    ids=["only-two", "interrupted", "other-arguments", "other-tool", "none"],
)
def test_no_loop(calls: list[ToolCall]) -> None:
    assert find_loop(calls, window=5, threshold=3) is None


def test_only_the_last_window_calls_count() -> None:
    old_run = [call("read", path="a")] * 3
    later = [call("ls"), call("grep", q="x"), call("cat", f="y")]
    assert find_loop(old_run + later, window=5, threshold=3) is None
    assert find_loop(old_run + later, window=6, threshold=3) == Loop("read", '{"path":"a"}', 3)


def test_the_longest_run_in_the_window_is_reported() -> None:
    calls = [call("ls")] * 3 + [call("read", path="a")] * 4
    found = find_loop(calls, window=8, threshold=3)
    assert found is not None and (found.name, found.count) == ("read", 4)


def test_window_caps_the_count() -> None:
    found = find_loop([call("ls")] * 9, window=5, threshold=3)
    assert found is not None and found.count == 5


def test_tool_calls_reads_assistant_blocks_in_order() -> None:
    messages = [
        {"role": "user", "content": "fix it"},
        assistant("read", {"b": 1, "a": 2}),
        result(),
        assistant("write", {"p": "x"}),
        result(),
    ]
    assert tool_calls(messages) == [
        ToolCall("read", '{"a":2,"b":1}'),
        ToolCall("write", '{"p":"x"}'),
    ]


def test_user_text_starts_a_new_run_but_tool_results_and_reminders_do_not() -> None:
    repeated = [assistant("read", {"p": "a"}), result()] * 2
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "task"}]},
        *repeated,
        {"role": "user", "content": [{"type": "text", "text": "try something else"}]},
        assistant("read", {"p": "a"}),
        result("<system-reminder>todo</system-reminder>"),
        assistant("read", {"p": "a"}),
        result(),
    ]
    assert len(tool_calls(messages)) == 2
    assert len(tool_calls(messages, reset_on_user_text=False)) == 4


def test_limit_keeps_only_the_latest_calls_in_order() -> None:
    messages = [{"role": "user", "content": "go"}]
    for i in range(6):
        messages += [assistant("read", {"i": i}), result()]
    assert [c.arguments for c in tool_calls(messages, limit=3)] == [
        '{"i":3}',
        '{"i":4}',
        '{"i":5}',
    ]
    assert len(tool_calls(messages)) == 6


def test_parallel_calls_in_one_message_keep_their_order() -> None:
    message = {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "1", "name": "a", "input": {}},
            {"type": "text", "text": "and"},
            {"type": "tool_use", "id": "2", "name": "b", "input": {}},
        ],
    }
    assert [c.name for c in tool_calls([message, result(), message])] == ["a", "b", "a", "b"]
    assert [c.name for c in tool_calls([message, result(), message], limit=3)] == ["b", "a", "b"]
