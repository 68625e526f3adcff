"""Each matcher, rule order, the default, and how the chosen rule is recorded.

Requests are built by hand in the OpenAI Chat and the Anthropic wire formats; every rule must
decide the same way for both.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from coderouter_matchers import MatchersConfig, MatchersPlugin
from coderouter_matchers.facts import code_fence_ratio, latest_turn

from coderouter.config import ProviderConfig, structure
from coderouter.testing import READ_TOOL, anthropic_image, anthropic_tool_image_turns, chat_tool
from coderouter.types import Attempt, Draft, RequestView
from coderouter.wire.tokens import TokenCounter, estimate_request_tokens

DATA = Path(__file__).parent / "data"
PNG = "iVBORw0KGgo="

# --- building requests in either wire format ------------------------------------------------


def _chat_content(parts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind, value in parts:
        if kind == "text":
            out.append({"type": "text", "text": value})
        else:
            out.append(
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{value}"}}
            )
    return out


def _anthropic_content(parts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind, value in parts:
        if kind == "text":
            out.append({"type": "text", "text": value})
        else:
            out.append(anthropic_image(value))
    return out


def chat(
    turns: list[tuple[str, list[tuple[str, str]]]],
    *,
    model: str = "gpt-4o",
    tools: bool = False,
    headers: dict[str, str] | None = None,
) -> RequestView:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    for role, parts in turns:
        messages.append({"role": role, "content": _chat_content(parts)})
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 100}
    if tools:
        body["tools"] = [chat_tool(READ_TOOL)]
    return RequestView("openai_chat", body, headers or {})


def anthropic(
    turns: list[tuple[str, list[tuple[str, str]]]],
    *,
    model: str = "gpt-4o",
    tools: bool = False,
    headers: dict[str, str] | None = None,
) -> RequestView:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": role, "content": _anthropic_content(parts)} for role, parts in turns],
    }
    if tools:
        body["tools"] = [READ_TOOL]
    return RequestView("anthropic", body, headers or {})


Build = Callable[..., RequestView]
FORMATS = pytest.mark.parametrize("build", [chat, anthropic], ids=["openai_chat", "anthropic"])


def plugin(*rules: dict[str, Any], default: str | None = None) -> MatchersPlugin:
    settings = {"default": default, "rules": list(rules)}
    return MatchersPlugin(structure(settings, MatchersConfig, source="test"))


def rule(profile: str, **match: Any) -> dict[str, Any]:
    return {"name": profile, "profile": profile, "match": match}


def user(text: str) -> tuple[str, list[tuple[str, str]]]:
    return ("user", [("text", text)])


# --- the matchers ---------------------------------------------------------------------------


@FORMATS
def test_has_image_looks_at_the_latest_user_turn(build: Build) -> None:
    matchers = plugin(rule("vision", has_image=True))
    with_image = build([("user", [("text", "what is this?"), ("image", PNG)])])
    earlier_image = build(
        [("user", [("image", PNG)]), ("assistant", [("text", "a cat")]), user("write a poem")]
    )
    assert matchers.select_profile(with_image) == "vision"
    assert matchers.select_profile(earlier_image) is None
    assert plugin(rule("text", has_image=False)).select_profile(earlier_image) == "text"


@FORMATS
def test_has_tools(build: Build) -> None:
    matchers = plugin(rule("agent", has_tools=True), rule("chat", has_tools=False))
    assert matchers.select_profile(build([user("hi")], tools=True)) == "agent"
    assert matchers.select_profile(build([user("hi")])) == "chat"


@FORMATS
def test_content_contains_and_regex_read_only_the_latest_user_text(build: Build) -> None:
    matchers = plugin(
        rule("sql", content_contains="SELECT"),
        rule("migrate", content_regex=r"(?i)\bmigrat(e|ion)\b"),
    )
    assert matchers.select_profile(build([user("why is SELECT * slow?")])) == "sql"
    assert matchers.select_profile(build([user("Please MIGRATE the schema")])) == "migrate"
    older = build([user("SELECT 1"), ("assistant", [("text", "1")]), user("thanks")])
    assert matchers.select_profile(older) is None
    assert matchers.select_profile(build([user("select 1")])) is None


@FORMATS
def test_code_fence_ratio_min(build: Build) -> None:
    code = "```python\n" + "x = 1\n" * 40 + "```"
    matchers = plugin(rule("code", code_fence_ratio_min=0.8))
    assert matchers.select_profile(build([user(f"fix:\n{code}")])) == "code"
    assert matchers.select_profile(build([user("explain this at length " * 20 + code)])) is None


def test_code_fence_ratio_counts_fenced_characters() -> None:
    assert code_fence_ratio("") == 0.0
    assert code_fence_ratio("no fences here") == 0.0
    assert code_fence_ratio("```abcd```") == 1.0
    assert code_fence_ratio("xxxxxxxxxx```ab```") == pytest.approx(8 / 18)
    assert code_fence_ratio("intro ```open fence runs to the end") == pytest.approx(29 / 35)


@FORMATS
def test_model_pattern_must_match_the_whole_model_name(build: Build) -> None:
    matchers = plugin(rule("small", model_pattern="claude-haiku-.*"))
    assert matchers.select_profile(build([user("hi")], model="claude-haiku-4-5")) == "small"
    assert matchers.select_profile(build([user("hi")], model="my-claude-haiku-4-5")) is None
    assert matchers.select_profile(build([user("hi")], model="claude-sonnet-4-5")) is None


@FORMATS
def test_header_equals_regex_and_presence(build: Build) -> None:
    equals = plugin(rule("infra", header={"name": "X-Team", "equals": "infra"}))
    regex = plugin(rule("infra", header={"name": "x-team", "regex": "infra|ops"}))
    present = plugin(rule("tagged", header={"name": "x-team"}))
    infra = build([user("hi")], headers={"x-team": "infra"})
    ops = build([user("hi")], headers={"x-team": "ops"})
    untagged = build([user("hi")])
    assert equals.select_profile(infra) == "infra"
    assert equals.select_profile(ops) is None
    assert regex.select_profile(ops) == "infra"
    assert regex.select_profile(build([user("hi")], headers={"x-team": "ops-east"})) is None
    assert present.select_profile(ops) == "tagged"
    assert present.select_profile(untagged) is None


def claude_code_turn(name: str = "claude_code_main_turn0.json") -> RequestView:
    recorded = json.loads((DATA / name).read_text(encoding="utf-8"))
    return RequestView(
        "anthropic", recorded["body"], {k.lower(): v for k, v in recorded["headers"].items()}
    )


def test_content_token_count_min_counts_system_messages_and_tools() -> None:
    view = claude_code_turn()
    expected = estimate_request_tokens(view.conversation())
    assert 15_000 < expected < 25_000
    assert plugin(rule("long", content_token_count_min=15_000)).select_profile(view) == "long"
    assert plugin(rule("long", content_token_count_min=25_000)).select_profile(view) is None
    body = dict(view.body, tools=[])
    without_tools = RequestView("anthropic", body, view.headers)
    short = plugin(rule("long", content_token_count_min=15_000))
    assert short.select_profile(without_tools) is None


def test_token_counter_agrees_with_the_host_estimate_and_reuses_tool_counts() -> None:
    counter = TokenCounter(max_entries=2)
    first = claude_code_turn()
    second = claude_code_turn("claude_code_main_turn1_tool_result.json")
    for view in (first, second):
        exact = estimate_request_tokens(view.conversation())
        assert abs(counter(view.conversation()) - exact) <= 3
    assert len(counter) == 1
    other_tools = [
        {**t, "description": t["description"] + " (v2)"} for t in first.conversation().tools
    ]
    counter.tools_tokens(other_tools)
    counter.tools_tokens([READ_TOOL])
    assert len(counter) == 1


@FORMATS
def test_agent_loop_keeps_routing_on_the_users_own_words(build: Build) -> None:
    matchers = plugin(rule("sql", content_contains="SELECT"))
    view = build([user("optimise SELECT queries in db.py")], tools=True)
    body = view.body
    if view.ingress == "openai_chat":
        body["messages"] += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Read", "arguments": '{"path": "db.py"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "import sqlite3"},
        ]
    else:
        body["messages"] += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "db.py"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "import sqlite3"}
                ],
            },
        ]
    assert matchers.select_profile(view) == "sql"


def test_images_returned_by_a_tool_count_as_images_of_the_turn() -> None:
    turn = latest_turn(anthropic_tool_image_turns(PNG))
    assert turn.has_image is True
    assert turn.text == "look at shot.png"


# --- rules: AND, order, default -------------------------------------------------------------


@FORMATS
def test_all_matchers_of_a_rule_must_hold(build: Build) -> None:
    matchers = plugin(
        {
            "name": "haiku-tools",
            "profile": "small",
            "match": {"model_pattern": "claude-haiku-.*", "has_tools": True},
        }
    )
    assert (
        matchers.select_profile(build([user("hi")], model="claude-haiku-4-5", tools=True))
        == "small"
    )
    assert matchers.select_profile(build([user("hi")], model="claude-haiku-4-5")) is None
    assert matchers.select_profile(build([user("hi")], tools=True)) is None


@FORMATS
def test_first_matching_rule_wins_and_default_applies_otherwise(build: Build) -> None:
    matchers = plugin(
        rule("vision", has_image=True), rule("agent", has_tools=True), default="default"
    )
    both = build([("user", [("text", "see"), ("image", PNG)])], tools=True)
    assert matchers.select_profile(both) == "vision"
    assert matchers.select_profile(build([user("hi")], tools=True)) == "agent"
    assert matchers.select_profile(build([user("hi")])) == "default"


def test_without_default_an_unmatched_request_is_left_to_the_router() -> None:
    assert plugin(rule("vision", has_image=True)).select_profile(chat([user("hi")])) is None


def test_rules_that_fail_on_the_model_never_decode_the_conversation() -> None:
    matchers = plugin(rule("small", model_pattern="claude-haiku-.*", has_image=True))
    view = chat([user("hi")], model="gpt-4o")
    assert matchers.select_profile(view) is None
    assert view._conversation is None


# --- recording the rule ---------------------------------------------------------------------


def attempt_for(draft: Draft) -> Attempt:
    provider = ProviderConfig(name="local", base_url="http://127.0.0.1:9/v1")
    return Attempt(draft, provider, 0, draft.request.profile)


def test_the_matched_rule_reaches_draft_meta_log_and_headers() -> None:
    matchers = plugin(
        {"name": "haiku", "profile": "small", "match": {"model_pattern": "claude-haiku-.*"}}
    )
    view = chat([user("hi")], model="claude-haiku-4-5")
    view.profile = matchers.select_profile(view) or ""
    draft = Draft(view)
    assert matchers.prepare_request(draft) is None
    assert draft.meta["matched_rule"] == "haiku"
    attempt = attempt_for(draft)
    assert matchers.before_attempt(attempt) is None
    assert attempt.log_fields == {"matched_rule": "haiku"}
    assert attempt.response_headers == {"x-coderouter-rule": "haiku"}
    assert not matchers._pending


def test_nothing_is_recorded_without_a_rule_match() -> None:
    matchers = plugin(rule("vision", has_image=True), default="default")
    view = chat([user("hi")])
    assert matchers.select_profile(view) == "default"
    draft = Draft(view)
    matchers.prepare_request(draft)
    attempt = attempt_for(draft)
    matchers.before_attempt(attempt)
    assert "matched_rule" not in draft.meta
    assert attempt.log_fields == {} and attempt.response_headers == {}


def test_a_request_chosen_by_another_step_gets_no_rule() -> None:
    matchers = plugin(rule("small", model_pattern=".*"))
    view = chat([user("hi")])
    draft = Draft(view)
    matchers.prepare_request(draft)
    assert "matched_rule" not in draft.meta


def test_a_remembered_rule_is_dropped_with_its_request() -> None:
    matchers = plugin(rule("small", model_pattern=".*"))
    view = chat([user("hi")])
    assert matchers.select_profile(view) == "small"
    assert len(matchers._pending) == 1
    del view
    gc.collect()
    assert not matchers._pending


def test_describe_state_counts_rules_default_and_misses() -> None:
    matchers = plugin(rule("vision", has_image=True), default="default")
    matchers.select_profile(chat([("user", [("image", PNG)])]))
    matchers.select_profile(chat([user("hi")]))
    matchers.select_profile(chat([user("hi")]))
    assert matchers.describe_state() == {
        "rules": [{"name": "vision", "profile": "vision", "matched": 1}],
        "default": "default",
        "default_used": 2,
        "no_match": 0,
    }
    lonely = plugin(rule("vision", has_image=True))
    lonely.select_profile(chat([user("hi")]))
    assert lonely.describe_state()["no_match"] == 1
