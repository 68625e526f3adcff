"""What the matchers plugin adds to a request: profile selection on a 100 KB Claude Code turn.

The request is the recorded first turn of Claude Code (24 tools, three system blocks) grown to
about 100 KB with a tool call and its result, sent through the Anthropic ingress and, converted,
through the OpenAI Chat ingress. The rule set is a realistic one in which the request is tested
by every rule (no early match), so each figure is the worst case for that rule set.

Reported per ingress, as the median and 90th percentile of ``--iterations`` runs:

* ``match``: ``select_profile`` + ``prepare_request`` + ``before_attempt`` with the
  conversation already decoded (the decode is cached on the request and shared by every
  plugin, so this is what matchers itself costs);
* ``decode``: ``request.conversation()`` alone;
* ``match+decode``: the two together, on a request nobody decoded before.

    .venv/bin/python bench/bench_matchers.py [--iterations 3000] [--budget-us 50]

Exits 1 when the median ``match`` cost is over the budget.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coderouter_matchers import MatchersConfig, MatchersPlugin

from coderouter.config import ProviderConfig, converter
from coderouter.testing import ConfigBuilder
from coderouter.types import Attempt, Draft, RequestView
from coderouter.wire import wire_format

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "plugins"
    / "coderouter-matchers"
    / "tests"
    / "data"
    / "claude_code_main_turn0.json"
)
TARGET_BYTES = 100 * 1024

RULES: dict[str, Any] = {
    "default": "default",
    "rules": [
        {"name": "images", "profile": "vision", "match": {"has_image": True}},
        {"name": "haiku", "profile": "small", "match": {"model_pattern": "claude-haiku-.*"}},
        {
            "name": "infra",
            "profile": "small",
            "match": {"header": {"name": "x-team", "equals": "infra"}},
        },
        {
            "name": "paste",
            "profile": "small",
            "match": {"code_fence_ratio_min": 0.6, "has_tools": True},
        },
        {
            "name": "migrations",
            "profile": "long",
            "match": {"content_regex": r"(?i)\bmigrat(e|ion)s?\b"},
        },
        {"name": "review", "profile": "long", "match": {"content_contains": "please review"}},
        {"name": "long", "profile": "long", "match": {"content_token_count_min": 64000}},
    ],
}


def claude_code_body() -> tuple[dict[str, Any], dict[str, str]]:
    """The recorded turn grown to ~100 KB with one Read call and its (long) result."""
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    body = copy.deepcopy(recorded["body"])
    size = len(json.dumps(body))
    file_text = "\n".join(
        f"    line_{i} = compute(value_{i}, other_{i})  # step {i}" for i in range(2000)
    )
    file_text = file_text[: max(1000, TARGET_BYTES - size - 600)]
    body["messages"] += [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me read the module first."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "Read",
                    "input": {"file_path": "/repo/app/core.py"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": file_text,
                    "is_error": False,
                }
            ],
        },
    ]
    headers = {k.lower(): v for k, v in recorded["headers"].items()}
    return body, headers


def openai_body(anthropic_body: dict[str, Any]) -> dict[str, Any]:
    request = wire_format("anthropic").decode_request(anthropic_body)
    body = wire_format("openai_chat").encode_request(request, model=request.model, stream=True)
    body["max_tokens"] = request.max_tokens
    return body


def build_plugin() -> MatchersPlugin:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .profile("vision", ["a"])
        .profile("small", ["a"])
        .profile("long", ["a"])
        .build()
    )
    plugin = MatchersPlugin(converter.structure(RULES, MatchersConfig))
    plugin.check_profiles(config)
    return plugin


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered), 2),
        "p90_us": round(ordered[int(len(ordered) * 0.9)], 2),
    }


def bench_ingress(
    plugin: MatchersPlugin,
    ingress: Any,
    body: dict[str, Any],
    headers: dict[str, str],
    iterations: int,
) -> dict[str, Any]:
    provider = ProviderConfig(name="a", base_url="http://127.0.0.1:9/v1")
    decoded = RequestView(ingress, body, headers)
    decoded.conversation()

    def route(view: RequestView) -> None:
        profile = plugin.select_profile(view)
        view.profile = profile or "default"
        draft = Draft(view)
        plugin.prepare_request(draft)
        plugin.before_attempt(Attempt(draft, provider, 0, view.profile))

    def decode_only() -> None:
        RequestView(ingress, body, headers).conversation()

    def fresh() -> None:
        route(RequestView(ingress, body, headers))

    for _ in range(200):
        route(decoded)
        fresh()
    return {
        "ingress": ingress,
        "body_bytes": len(json.dumps(body)),
        "profile": plugin.select_profile(decoded),
        "estimated_tokens": plugin.tokens_of(decoded),
        "match": summary(timed(lambda: route(decoded), iterations)),
        "decode": summary(timed(decode_only, iterations)),
        "match+decode": summary(timed(fresh, iterations)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--budget-us", type=float, default=50.0)
    args = parser.parse_args(argv)
    plugin = build_plugin()
    body, headers = claude_code_body()
    results = [
        bench_ingress(plugin, "anthropic", body, headers, args.iterations),
        bench_ingress(plugin, "openai_chat", openai_body(body), headers, args.iterations),
    ]
    for result in results:
        print(json.dumps(result))
    over = [r for r in results if r["match"]["median_us"] > args.budget_us]
    for result in over:
        print(
            f"over budget: {result['ingress']} match median {result['match']['median_us']} us "
            f"> {args.budget_us} us",
            file=sys.stderr,
        )
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
