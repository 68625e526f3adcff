"""``admit_attempt`` (awaited, only when implemented) and ``release_attempt``: in process, the
upstream behind httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from coderouter import hookimpl
from coderouter.hookcalls import HookCalls
from coderouter.plugins import new_plugin_manager
from coderouter.testing import ConfigBuilder, chat_completion
from coderouter.types import Attempt, Reject, Result, Skip, UpstreamError

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class Holder:
    """Holds something for each attempt it admits and says how each attempt ended."""

    def __init__(self, refuse: dict[str, Skip | Reject] | None = None) -> None:
        self.refuse = refuse or {}
        self.held: set[int] = set()
        self.ends: list[tuple[str, str]] = []

    @hookimpl
    async def admit_attempt(self, attempt: Attempt) -> Skip | Reject | None:
        await asyncio.sleep(0)  # a real wait on the event loop, as a store round trip
        verdict = self.refuse.get(attempt.provider.name)
        if verdict is None:
            self.held.add(id(attempt))
        return verdict

    def _end(self, attempt: Attempt, how: str) -> None:
        if id(attempt) in self.held:
            self.held.discard(id(attempt))
            self.ends.append((attempt.provider.name, how))

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        self._end(attempt, "after_attempt")

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        self._end(attempt, "on_failure")

    @hookimpl
    def release_attempt(self, attempt: Attempt) -> None:
        self._end(attempt, "release_attempt")


def build(app_client: Any, seen: list[str], *plugins: tuple[str, Any], fail: str = "") -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        json.loads(request.content)
        if request.url.host == fail:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return httpx.Response(200, json=chat_completion("fine"))

    config = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .provider("b", "http://b/v1")
        .profile("default", ["a", "b"])
        .router(log_requests=False)
        .build()
    )
    pm = new_plugin_manager(config)
    for name, plugin in reversed(plugins):
        pm.register(plugin, name=name)
    return app_client(config, pm=pm, transport=httpx.MockTransport(answer))


def test_an_admission_skip_passes_over_the_provider(app_client: Any) -> None:
    seen: list[str] = []
    holder = Holder({"a": Skip("budget held elsewhere")})
    client = build(app_client, seen, ("holder", holder))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 200
    assert seen == ["b"]
    assert "a=skipped: budget held elsewhere" in result.headers["x-coderouter-fallback"]
    assert holder.ends == [("b", "after_attempt")]


def test_a_later_refusal_releases_what_an_earlier_admission_held(app_client: Any) -> None:
    seen: list[str] = []
    first = Holder()
    second = Holder({p: Reject("key budget spent", status=429, error_type="budget") for p in "ab"})
    client = build(app_client, seen, ("first", first), ("second", second))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 429
    assert result.json["error"]["message"] == "key budget spent"
    assert seen == []
    assert first.ends == [("a", "release_attempt")]
    assert not first.held


def test_an_admitted_attempt_ends_in_on_failure_or_after_attempt(app_client: Any) -> None:
    seen: list[str] = []
    holder = Holder()
    client = build(app_client, seen, ("holder", holder), fail="a")
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 200
    assert seen == ["a", "b"]
    assert holder.ends == [("a", "on_failure"), ("b", "after_attempt")]


def test_admission_is_called_only_when_a_plugin_implements_it() -> None:
    config = ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"]).build()
    pm = new_plugin_manager(config)
    calls = HookCalls(pm)
    assert not calls.implemented("admit_attempt")
    pm.register(Holder(), name="holder")
    assert calls.implemented("admit_attempt")
