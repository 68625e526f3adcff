"""The attempt loop and its hooks, ``admit_attempt`` and ``release_attempt`` included, in
process, with the upstream behind httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from coderouter import hookimpl
from coderouter.hookcalls import HookCalls
from coderouter.plugins import new_plugin_manager
from coderouter.testing import ConfigBuilder, chat_completion, chat_stream
from coderouter.types import Attempt, Chain, Draft, Reject, RequestView, Result, Skip, UpstreamError
from coderouter.wire.model import Event, TextDelta

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class Upstreams:
    """A MockTransport handler: per host, a list of answers; records requests."""

    def __init__(self, **answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.seen.append((host, json.loads(request.content)))
        queue = self.answers.get(host) or [httpx.Response(200, json=chat_completion("default"))]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def hosts(self) -> list[str]:
        return [h for h, _ in self.seen]


def build(app_client: Any, upstreams: Upstreams, *plugins: tuple[str, Any]) -> Any:
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
    return app_client(config, pm=pm, transport=httpx.MockTransport(upstreams))


class Rejecting:
    @hookimpl
    def prepare_request(self, draft: Draft) -> Reject | None:
        return Reject("looping on read_file (3 identical calls)")


class Noting:
    @hookimpl
    def prepare_request(self, draft: Draft) -> None:
        draft.add_system_note("change approach")


class SkipA:
    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        chain.skip("a", "a is unhealthy", by="test")


class SkipAtCallTime:
    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | None:
        return Skip("budget just spent") if attempt.provider.name == "a" else None


class Upper:
    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            return [TextDelta(event.index, event.text.upper())]
        return [event]

    def flush(self) -> list[Event]:
        return []


class Transforming:
    @hookimpl
    def stream_transforms(self, attempt: Attempt) -> Upper:
        return Upper()


class Observer:
    def __init__(self) -> None:
        self.results: list[Result] = []
        self.failures: list[UpstreamError] = []

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        self.results.append(result)
        attempt.response_headers["x-observed"] = "yes"

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        self.failures.append(error)


class Exploding:
    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        raise RuntimeError("plugin bug")


def test_reject_answers_without_upstream(app_client: Any) -> None:
    upstreams = Upstreams()
    client = build(app_client, upstreams, ("guard", Rejecting()))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 400
    assert result.json["error"]["message"] == "looping on read_file (3 identical calls)"
    assert upstreams.seen == []


def test_system_note_reaches_upstream(app_client: Any) -> None:
    upstreams = Upstreams()
    client = build(app_client, upstreams, ("noter", Noting()))
    client.simulate_post("/v1/chat/completions", json=BODY)
    assert upstreams.seen[0][1]["messages"][-1] == {"role": "system", "content": "change approach"}


def test_filter_chain_skip_is_reported(app_client: Any) -> None:
    upstreams = Upstreams()
    client = build(app_client, upstreams, ("skipper", SkipA()))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert upstreams.hosts() == ["b"]
    assert result.headers["x-coderouter-fallback"] == "a=skipped: a is unhealthy"


def test_before_attempt_skip(app_client: Any) -> None:
    upstreams = Upstreams()
    client = build(app_client, upstreams, ("budget", SkipAtCallTime()))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert upstreams.hosts() == ["b"]
    assert result.headers["x-coderouter-provider"] == "b"
    assert "budget just spent" in result.headers["x-coderouter-fallback"]


@pytest.mark.parametrize("stream", [False, True])
def test_transforms_apply_to_stream_and_non_stream(app_client: Any, stream: bool) -> None:
    answer = (
        httpx.Response(
            200,
            content="".join(chat_stream(["ab", "cd"])).encode(),
            headers={"content-type": "text/event-stream"},
        )
        if stream
        else httpx.Response(200, json=chat_completion("abcd"))
    )
    upstreams = Upstreams(a=[answer])
    client = build(app_client, upstreams, ("upper", Transforming()))
    result = client.simulate_post("/v1/chat/completions", json={**BODY, "stream": stream})
    if stream:
        text = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in result.text.splitlines()
            if line.startswith("data: {") and json.loads(line[6:])["choices"]
        )
    else:
        text = result.json["choices"][0]["message"]["content"]
    assert text == "ABCD"


def test_observers_see_failures_and_results_and_set_headers(app_client: Any) -> None:
    upstreams = Upstreams(a=[httpx.Response(503, json={"error": {"message": "loading"}})])
    observer = Observer()
    client = build(app_client, upstreams, ("observer", observer))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.headers["x-observed"] == "yes"
    assert [f.status for f in observer.failures] == [503]
    assert observer.failures[0].message == "loading"
    assert observer.results[0].usage.input_tokens == 10
    assert upstreams.hosts() == ["a", "b"]


def test_plugin_exception_is_a_500_in_wire_shape_and_worker_keeps_serving(app_client: Any) -> None:
    upstreams = Upstreams()
    client = build(app_client, upstreams, ("bug", Exploding()))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 500
    assert result.json["error"]["message"].startswith(
        "internal error in plugin 'bug' (filter_chain hook)"
    )
    assert client.simulate_get("/healthz").status_code == 200


def test_upstream_gets_provider_key_never_client_key(
    app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PROVIDER_KEY", "sk-provider")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=chat_completion())

    config = (
        ConfigBuilder()
        .provider("a", "http://a/v1", api_key_env="TEST_PROVIDER_KEY")
        .profile("default", ["a"])
        .router(log_requests=False)
        .build()
    )
    client = app_client(config, transport=httpx.MockTransport(handler))
    client.simulate_post(
        "/v1/chat/completions", json=BODY, headers={"authorization": "Bearer sk-client"}
    )
    assert seen[0].headers["authorization"] == "Bearer sk-provider"


@pytest.mark.parametrize(
    ("status", "moves_on"),
    [
        (401, True),
        (403, True),
        (404, True),
        (429, True),
        (500, True),
        (529, True),
        (400, False),
        (413, False),
        (422, False),
    ],
)
def test_which_statuses_move_on(app_client: Any, status: int, moves_on: bool) -> None:
    upstreams = Upstreams(a=[httpx.Response(status, json={"error": {"message": "x"}})])
    client = build(app_client, upstreams)
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert upstreams.hosts() == (["a", "b"] if moves_on else ["a"])
    assert result.status_code == (200 if moves_on else status)


def test_ingress_keys_guard_every_route_but_root_and_health(
    app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_INGRESS_KEYS", "k1, k2")
    config = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .profile("default", ["a"])
        .server(api_keys_env="TEST_INGRESS_KEYS")
        .router(log_requests=False)
        .build()
    )
    upstreams = Upstreams()
    client = app_client(config, transport=httpx.MockTransport(upstreams))
    denied = client.simulate_post("/v1/messages", json=BODY)
    assert denied.status_code == 401
    assert denied.json["error"]["type"] == "authentication_error"
    assert client.simulate_post("/v1/chat/completions", json=BODY).status_code == 401
    assert client.simulate_get("/-/plugins").status_code == 401
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_head("/").status_code == 200
    ok = client.simulate_post(
        "/v1/chat/completions", json=BODY, headers={"authorization": "Bearer k2"}
    )
    assert ok.status_code == 200
    assert client.simulate_get("/-/plugins", headers={"x-api-key": "k1"}).status_code == 200
    assert upstreams.hosts() == ["a"]


# --- admit_attempt (awaited, only when implemented) and release_attempt ---------------------


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


def test_an_admission_skip_passes_over_the_provider(app_client: Any) -> None:
    upstreams = Upstreams()
    holder = Holder({"a": Skip("budget held elsewhere")})
    client = build(app_client, upstreams, ("holder", holder))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 200
    assert upstreams.hosts() == ["b"]
    assert "a=skipped: budget held elsewhere" in result.headers["x-coderouter-fallback"]
    assert holder.ends == [("b", "after_attempt")]


def test_a_later_refusal_releases_what_an_earlier_admission_held(app_client: Any) -> None:
    upstreams = Upstreams()
    first = Holder()
    second = Holder({p: Reject("key budget spent", status=429, error_type="budget") for p in "ab"})
    client = build(app_client, upstreams, ("first", first), ("second", second))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 429
    assert result.json["error"]["message"] == "key budget spent"
    assert upstreams.hosts() == []
    assert first.ends == [("a", "release_attempt")]
    assert not first.held


def test_an_admitted_attempt_ends_in_on_failure_or_after_attempt(app_client: Any) -> None:
    upstreams = Upstreams(a=[httpx.Response(500, json={"error": {"message": "boom"}})])
    holder = Holder()
    client = build(app_client, upstreams, ("holder", holder))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 200
    assert upstreams.hosts() == ["a", "b"]
    assert holder.ends == [("a", "on_failure"), ("b", "after_attempt")]


def test_admission_is_called_only_when_a_plugin_implements_it() -> None:
    config = ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"]).build()
    pm = new_plugin_manager(config)
    calls = HookCalls(pm)
    assert not calls.implemented("admit_attempt")
    pm.register(Holder(), name="holder")
    assert calls.implemented("admit_attempt")
