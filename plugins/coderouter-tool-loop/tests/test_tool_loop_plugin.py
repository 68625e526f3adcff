"""The plugin through a fresh plugin manager: every ingress, every action, per-profile
settings, config errors and the state it reports."""

from __future__ import annotations

import json
import logging
import types
from typing import Any

import pluggy
import pytest
from coderouter_tool_loop import ToolLoopConfig, ToolLoopPlugin

from coderouter.log import RequestLog
from coderouter.plugins import load_plugins, plugin_states
from coderouter.state import EmbeddedStore
from coderouter.testing import ConfigBuilder, config_error
from coderouter.types import Draft, Reject, RequestView

ARGS = {"path": "src/app.py", "limit": 50}


def openai_body(calls: int, args: dict[str, Any] = ARGS) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix the bug"}]
    for i in range(calls):
        # Key order differs between calls: canonical JSON still sees one call.
        arguments = json.dumps(dict(reversed(list(args.items()))) if i % 2 else args)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": arguments},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "same"})
    return {"model": "m", "messages": messages}


def anthropic_body(calls: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix the bug"}]
    for i in range(calls):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "read_file", "input": ARGS},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "same"}
                ],
            }
        )
    return {"model": "m", "max_tokens": 100, "messages": messages}


def responses_body(calls: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"role": "user", "content": "fix the bug"}]
    for i in range(calls):
        items.append(
            {
                "type": "function_call",
                "call_id": f"c{i}",
                "name": "read_file",
                "arguments": json.dumps(ARGS),
            }
        )
        items.append({"type": "function_call_output", "call_id": f"c{i}", "output": "same"})
    return {"model": "m", "input": items}


BODIES = {
    "openai_chat": openai_body,
    "anthropic": anthropic_body,
    "openai_responses": responses_body,
}


def draft(ingress: str, calls: int, profile: str = "default") -> Draft:
    body = BODIES[ingress](calls)
    return Draft(RequestView(ingress, body, {}, profile=profile))  # type: ignore[arg-type]


def run(pm: pluggy.PluginManager, d: Draft) -> list[Any]:
    return [v for v in pm.hook.prepare_request(draft=d) if v is not None]


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


def started(
    pm: pluggy.PluginManager, plugin: ToolLoopPlugin, events: list[dict[str, Any]]
) -> ToolLoopPlugin:
    pm.register(plugin, name="tool_loop")
    log = RequestLog(enabled=False)
    log.listeners.append(events.append)
    app = types.SimpleNamespace(log=log, clock=lambda: 100.0, store=EmbeddedStore())
    pm.hook.startup(app=app)
    return plugin


@pytest.mark.parametrize("ingress", list(BODIES))
def test_warn_logs_a_guard_event_in_every_ingress(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]], ingress: str
) -> None:
    plugin = started(plugin_manager, ToolLoopPlugin(), events)
    d = draft(ingress, 3)
    assert run(plugin_manager, d) == []
    assert d.notes == []
    assert plugin.detections == {"read_file": 1}
    assert len(events) == 1
    assert events[0] | {"ts": 0} == events[0] | {
        "event": "guard",
        "plugin": "tool_loop",
        "action": "warn",
        "tool": "read_file",
        "count": 3,
        "profile": "default",
        "ingress": ingress,
        "ts": 0,
    }
    assert d.meta["tool_loop"] == {"tool": "read_file", "count": 3, "action": "warn"}


@pytest.mark.parametrize("ingress", list(BODIES))
def test_two_repeats_are_not_a_loop(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]], ingress: str
) -> None:
    plugin = started(plugin_manager, ToolLoopPlugin(ToolLoopConfig(action="break")), events)
    assert run(plugin_manager, draft(ingress, 2)) == []
    assert plugin.detections == {} and events == []


def test_warn_without_startup_uses_python_logging(
    plugin_manager: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    plugin_manager.register(ToolLoopPlugin(), name="tool_loop")
    with caplog.at_level(logging.WARNING, logger="coderouter.tool_loop"):
        run(plugin_manager, draft("openai_chat", 4))
    record = json.loads(caplog.records[0].getMessage())
    assert record["tool"] == "read_file" and record["count"] == 4


def test_inject_adds_a_note_naming_the_tool(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]]
) -> None:
    started(plugin_manager, ToolLoopPlugin(ToolLoopConfig(action="inject")), events)
    d = draft("anthropic", 3)
    assert run(plugin_manager, d) == []
    assert len(d.notes) == 1
    assert "`read_file` 3 times in a row" in d.notes[0]
    assert "change your approach" in d.notes[0]


def test_break_rejects_naming_tool_and_count(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]]
) -> None:
    started(plugin_manager, ToolLoopPlugin(ToolLoopConfig(action="break")), events)
    [verdict] = run(plugin_manager, draft("openai_responses", 4))
    assert isinstance(verdict, Reject)
    assert (verdict.status, verdict.error_type) == (400, "invalid_request")
    assert "`read_file` 4 times in a row" in verdict.message
    assert events[0]["action"] == "break"


def test_profile_override_decides_the_action(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]]
) -> None:
    plugin = ToolLoopPlugin(
        ToolLoopConfig(action="warn"), {"strict": ToolLoopConfig(action="break", threshold=2)}
    )
    started(plugin_manager, plugin, events)
    assert run(plugin_manager, draft("openai_chat", 2, profile="default")) == []
    [verdict] = run(plugin_manager, draft("openai_chat", 2, profile="strict"))
    assert isinstance(verdict, Reject)


def test_state_counts_detections_per_tool(
    plugin_manager: pluggy.PluginManager, events: list[dict[str, Any]]
) -> None:
    started(plugin_manager, ToolLoopPlugin(), events)
    for _ in range(3):
        run(plugin_manager, draft("openai_chat", 3))
    run(plugin_manager, draft("openai_chat", 1))
    state = plugin_states(plugin_manager)["tool_loop"]
    assert state["detections"] == {"read_file": 3}
    assert state["total"] == 3
    assert state["last"]["tool"] == "read_file" and state["last"]["seconds_ago"] == 0.0


def test_config_from_toml_with_profile_override(tmp_path: Any) -> None:
    builder = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .profile("strict", ["a"], plugins={"tool_loop": {"action": "break"}})
        .plugin("tool_loop", window=6, threshold=4)
    )
    pm = load_plugins(builder.build())
    plugin = pm.get_plugin("tool_loop")
    assert isinstance(plugin, ToolLoopPlugin)
    assert plugin.config_for("default") == ToolLoopConfig(window=6, threshold=4)
    assert plugin.config_for("strict") == ToolLoopConfig(action="break", window=6, threshold=4)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "stop"}, "plugins.tool_loop.action: unknown value 'stop'"),
        ({"threshold": 1}, "threshold must be at least 2"),
        ({"window": 3, "threshold": 4}, "threshold (4) must not be larger than window (3)"),
        ({"windw": 3}, "plugins.tool_loop.windw: unknown key"),
    ],
)
def test_bad_settings_fail_with_the_key(settings: dict[str, Any], message: str) -> None:
    assert message in str(config_error("tool_loop", settings))
