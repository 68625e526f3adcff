"""What a plugin author relies on: the guard accessors on ``RequestView`` in every ingress
format, the guard example of docs/plugins/guide.md run as written, ``emit`` without a
``startup`` hook, and a plugin's exception answered and logged under the plugin's name."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from coderouter import Plugin, hookimpl
from coderouter.log import RequestLog
from coderouter.plugins import new_plugin_manager
from coderouter.testing import ConfigBuilder, chat_completion
from coderouter.types import Attempt, Chain, Draft, RequestView, Result, ToolResult

ROOT = Path(__file__).resolve().parent.parent
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
PATHS = {
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "anthropic": "/v1/messages",
}


def chat_body(output: str, *, is_error: bool = False) -> dict[str, Any]:
    return {
        "model": "m",
        "tools": [
            {"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}},
        ],
        "messages": [
            {"role": "system", "content": "you are terse"},
            {"role": "user", "content": "run the tests"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and read the key"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "bash", "arguments": "{}"},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "read", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "3 failed"},
            {"role": "tool", "tool_call_id": "c2", "content": output},
        ],
    }


def responses_body(output: str, *, is_error: bool = False) -> dict[str, Any]:
    return {
        "model": "m",
        "tools": [
            {"type": "function", "name": "bash", "parameters": {"type": "object"}},
            {"type": "function", "name": "read", "parameters": {"type": "object"}},
        ],
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "run the tests"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "and read the key"}]},
            {"type": "function_call", "call_id": "c1", "name": "bash", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "read", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "3 failed"},
            {"type": "function_call_output", "call_id": "c2", "output": output},
        ],
    }


def anthropic_body(output: str, *, is_error: bool = False) -> dict[str, Any]:
    return {
        "model": "m",
        "max_tokens": 100,
        "tools": [
            {"name": "bash", "input_schema": {"type": "object"}},
            {"name": "read", "input_schema": {"type": "object"}},
        ],
        "messages": [
            {"role": "user", "content": "run the tests"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "text", "text": "and read the key"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "c1", "name": "bash", "input": {}},
                    {"type": "tool_use", "id": "c2", "name": "read", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "3 failed"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "c2",
                        "content": [{"type": "text", "text": output}],
                        "is_error": is_error,
                    },
                ],
            },
        ],
    }


BODIES = {
    "openai_chat": chat_body,
    "openai_responses": responses_body,
    "anthropic": anthropic_body,
}


# --- the accessors -----------------------------------------------------------------------------


@pytest.mark.parametrize("ingress", list(BODIES))
def test_guard_accessors_read_every_ingress_format_alike(ingress: Any) -> None:
    view = RequestView(ingress, BODIES[ingress]("no key here"), {})
    assert view.last_user_text() == "and read the key"
    assert view.last_tool_results() == [
        ToolResult("c1", "bash", "3 failed"),
        ToolResult("c2", "read", "no key here"),
    ]
    assert view.tool_names() == ["bash", "read"]


def test_a_tool_result_marked_as_error_says_so() -> None:
    view = RequestView("anthropic", anthropic_body("denied", is_error=True), {})
    assert [r.is_error for r in view.last_tool_results()] == [False, True]


@pytest.mark.parametrize("ingress", list(BODIES))
def test_a_turn_that_ends_with_the_user_has_no_tool_results(ingress: Any) -> None:
    body = BODIES[ingress]("x")
    key = "input" if ingress == "openai_responses" else "messages"
    items = body[key]
    last_user = max(i for i, m in enumerate(items) if "read the key" in json.dumps(m))
    body[key] = items[: last_user + 1]
    view = RequestView(ingress, body, {})
    assert view.last_tool_results() == []
    assert view.last_user_text() == "and read the key"


def test_no_user_text_and_no_tools_are_empty() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": "hi"}]}
    view = RequestView("anthropic", body, {})
    assert (view.last_user_text(), view.last_tool_results(), view.tool_names()) == ("", [], [])


# --- the guide's guard, run as written ---------------------------------------------------------


def guide_guard() -> type[Plugin]:
    text = (ROOT / "docs" / "plugins" / "guide.md").read_text()
    found = re.search(r"```python\n(# coderouter_keyguard/__init__.py\n.*?)```", text, re.S)
    assert found, "docs/plugins/guide.md lost its guard example"
    namespace: dict[str, Any] = {"__name__": "coderouter_keyguard"}
    exec(compile(found.group(1), "guide.md", "exec"), namespace)
    guard: type[Plugin] = namespace["KeyGuard"]
    assert "startup" not in vars(guard), "the example must work without a startup hook"
    return guard


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(200, json=chat_completion("done"))


def app_with(app_client: Any, *plugins: tuple[str, Any]) -> tuple[Any, Upstream, io.StringIO]:
    config = (
        ConfigBuilder().provider("local", "http://local/v1").profile("default", ["local"]).build()
    )
    pm = new_plugin_manager(config)
    for name, plugin in reversed(plugins):
        pm.register(plugin, name=name)
    stream = io.StringIO()
    upstream = Upstream()
    client = app_client(
        config, pm=pm, transport=httpx.MockTransport(upstream), log=RequestLog(stream=stream)
    )
    return client, upstream, stream


def records(stream: io.StringIO, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [r for r in lines if r.get("event") == event]


def error_message(ingress: str, body: dict[str, Any]) -> str:
    if ingress == "anthropic":
        assert body["type"] == "error"
    message: str = body["error"]["message"]
    return message


@pytest.mark.parametrize("ingress", list(BODIES))
def test_guide_guard_rejects_in_the_client_format_and_logs_with_the_request_id(
    app_client: Any, ingress: str
) -> None:
    guard = guide_guard()
    client, upstream, log = app_with(app_client, ("key_guard", guard(guard.Config())))
    result = client.simulate_post(PATHS[ingress], json=BODIES[ingress](KEY))
    assert result.status_code == 400
    message = error_message(ingress, result.json)
    assert message.startswith("key_guard: the output of read holds a private key")
    assert upstream.calls == 0
    [event] = records(log, "guard")
    assert event["plugin"] == "key_guard" and event["tool"] == "read"
    assert event["request_id"] == result.headers["x-request-id"]
    [line] = records(log, "request")
    assert line["id"] == event["request_id"] and line["status"] == 400


def test_guide_guard_lets_a_clean_turn_through(app_client: Any) -> None:
    guard = guide_guard()
    client, upstream, log = app_with(app_client, ("key_guard", guard(guard.Config())))
    result = client.simulate_post(PATHS["openai_chat"], json=chat_body("fine"))
    assert result.status_code == 200 and upstream.calls == 1
    assert records(log, "guard") == []


# --- a plugin's exception ----------------------------------------------------------------------


class BuggyPrepare:
    @hookimpl
    def prepare_request(self, draft: Draft) -> None:
        raise KeyError("markers")


class BuggyFilter(Plugin):
    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        raise ValueError("bad chain")


class BuggyObserver:
    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        raise ZeroDivisionError("division by zero")


LEAKED = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"


class LeakyPrepare:
    @hookimpl
    def prepare_request(self, draft: Draft) -> None:
        raise RuntimeError(f"upstream refused key {LEAKED}")


class Quiet:
    @hookimpl
    def prepare_request(self, draft: Draft) -> None:
        return None


@pytest.mark.parametrize("ingress", list(BODIES))
@pytest.mark.parametrize(
    ("plugin", "hook", "error"),
    [
        (BuggyPrepare, "prepare_request", "KeyError"),
        (BuggyFilter, "filter_chain", "ValueError"),
        (BuggyObserver, "after_attempt", "ZeroDivisionError"),
    ],
)
def test_a_plugin_exception_is_a_500_naming_the_plugin_with_its_traceback_logged(
    app_client: Any,
    caplog: pytest.LogCaptureFixture,
    ingress: str,
    plugin: type,
    hook: str,
    error: str,
) -> None:
    client, _, log = app_with(app_client, ("quiet", Quiet()), ("buggy", plugin()))
    with caplog.at_level(logging.ERROR, logger="coderouter"):
        result = client.simulate_post(PATHS[ingress], json=BODIES[ingress]("fine"))
    assert result.status_code == 500
    assert error_message(ingress, result.json) == (
        f"internal error in plugin 'buggy' ({hook} hook): {error}; "
        "the router's log has the traceback"
    )
    [logged] = [r for r in caplog.records if "plugin 'buggy'" in r.getMessage()]
    assert logged.exc_info is not None and logged.exc_info[0].__name__ == error
    assert f"in {hook}" in caplog.text  # the plugin's own frame is in the traceback
    [event] = records(log, "internal_error")
    assert (event["plugin"], event["hook"]) == ("buggy", hook)
    assert event["error"].startswith(error)
    assert client.simulate_get("/healthz").status_code == 200


def test_a_logged_plugin_traceback_has_keys_redacted(
    app_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, log = app_with(app_client, ("leaky", LeakyPrepare()))
    with caplog.at_level(logging.ERROR, logger="coderouter"):
        result = client.simulate_post(PATHS["openai_chat"], json=BODIES["openai_chat"]("fine"))
    assert result.status_code == 500
    assert "in prepare_request" in caplog.text  # the traceback is still there
    assert "upstream refused key [redacted]" in caplog.text
    assert LEAKED not in caplog.text
    assert LEAKED not in log.getvalue()
