"""End to end: `coderouter serve` as a process, the official openai SDK as the client, fake
upstreams as real HTTP servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import attrs
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream
from coderouter.types import Usage

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def two(fake_upstreams: Any) -> tuple[FakeUpstream, FakeUpstream]:
    return fake_upstreams(), fake_upstreams()


def test_pass_through_keeps_unknown_fields_and_replaces_model(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(chat_completion("forty-two")))
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream, model="qwen2.5-coder:7b")
        .profile("default", ["local"])
    )
    proc = router_process(builder)
    raw = sdk(proc.url).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        seed=7,
        response_format={"type": "json_object"},
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        extra_body={"custom_field": {"nested": [1, 2]}},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "forty-two"
    assert raw.headers["x-coderouter-provider"] == "local"
    assert "x-coderouter-fallback" not in raw.headers
    sent = fake_upstream.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "qwen2.5-coder:7b"
    assert sent.body["seed"] == 7
    assert sent.body["response_format"] == {"type": "json_object"}
    assert sent.body["custom_field"] == {"nested": [1, 2]}
    assert sent.body["tools"][0]["function"]["name"] == "f"
    assert "client-key" not in json.dumps(sent.headers)


@pytest.mark.parametrize(
    "failure",
    [Answer.error(429, "slow down"), Answer.error(500, "boom"), Answer.drop()],
    ids=["429", "500", "dropped"],
)
def test_fallback_on_retryable_failures(router_process: Any, two: Any, failure: Answer) -> None:
    first, second = two
    first.script(failure)
    second.script(Answer.json(chat_completion("from second")))
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .profile("default", ["first", "second"])
    )
    proc = router_process(builder)
    raw = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from second"
    assert raw.headers["x-coderouter-provider"] == "second"
    assert raw.headers["x-coderouter-fallback"].startswith("first=failed")
    assert first.count == 1 and second.count == 1


def test_fallback_on_connection_refused_and_log_line(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(chat_completion("ok")))
    builder = (
        ConfigBuilder()
        .provider("down", closed_port_url())
        .provider("up", fake_upstream)
        .profile("default", ["down", "up"])
    )
    proc = router_process(builder)
    raw = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-coderouter-provider"] == "up"
    assert "down=failed: connect" in raw.headers["x-coderouter-fallback"]
    [record] = proc.wait_for_log(1)
    assert record["provider"] == "up" and record["status"] == 200
    assert record["profile"] == "default"
    assert [a["provider"] for a in record["attempts"]] == ["down"]
    assert record["latency_ms"] > 0
    # Every token class of Usage is in the log line, by its field name.
    assert set(record["usage"]) == set(attrs.fields_dict(Usage))
    assert record["usage"]["output_tokens"] == 5


def test_no_fallback_on_400(router_process: Any, two: Any) -> None:
    first, second = two
    first.script(Answer.error(400, "bad tool schema"))
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .profile("default", ["first", "second"])
    )
    proc = router_process(builder)
    with pytest.raises(openai.BadRequestError) as info:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert "bad tool schema" in str(info.value)
    assert second.count == 0


def test_all_providers_failing_gives_502_naming_each(router_process: Any, two: Any) -> None:
    first, second = two
    first.script(Answer.error(500, "gpu fell over"))
    second.script(Answer.error(503, "loading model"))
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .provider("cloud", second, paid=True)
        .profile("default", ["first", "second", "cloud"])
    )
    proc = router_process(builder)
    response = httpx.post(
        proc.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    for expected in (
        "first failed (HTTP 500: gpu fell over)",
        "second failed (HTTP 503: loading model)",
        "cloud skipped (paid provider; allow_paid is off)",
    ):
        assert expected in error["message"]
    assert second.count == 1


def test_all_rate_limited_gives_429_with_retry_after(router_process: Any, two: Any) -> None:
    first, second = two
    first.script(Answer.error(429, "slow", headers={"retry-after": "7"}))
    second.script(Answer.error(429, "slower", headers={"retry-after": "3"}))
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .profile("default", ["first", "second"])
    )
    proc = router_process(builder)
    response = httpx.post(
        proc.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"


def test_paid_gate_and_env_override(router_process: Any, two: Any) -> None:
    free, paid = two
    free.script(Answer.error(500), Answer.error(500))
    paid.script(Answer.json(chat_completion("paid answer")))
    builder = (
        ConfigBuilder()
        .provider("free", free)
        .provider("paid", paid, paid=True)
        .profile("default", ["free", "paid"])
    )
    proc = router_process(builder)
    with pytest.raises(openai.APIStatusError) as info:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 502
    assert paid.count == 0
    allowed = router_process(builder, env={"CODEROUTER_ALLOW_PAID": "1"})
    out = sdk(allowed.url).chat.completions.create(model="m", messages=MESSAGES)
    assert out.choices[0].message.content == "paid answer"
    assert paid.count == 1


def test_stream_fallback_before_commit_and_final_completion(router_process: Any, two: Any) -> None:
    first, second = two
    first.script(Answer.sse(chat_stream(["never"]), cut_after=1))
    second.script(
        Answer.sse(
            chat_stream(
                ["Hel", "lo ", "world"],
                tool_calls=[{"name": "read_file", "arguments": {"path": "a.py"}}],
            ),
            delay_s=0.01,
        )
    )
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .profile("default", ["first", "second"])
    )
    proc = router_process(builder)
    with sdk(proc.url).chat.completions.stream(
        model="m", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Hello world"
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "read_file"
    assert json.loads(message.tool_calls[0].function.arguments) == {"path": "a.py"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.prompt_tokens == 10
    assert first.requests[0].body["stream_options"] == {"include_usage": True}


def test_stream_cut_after_commit_ends_with_error_event(router_process: Any, two: Any) -> None:
    first, second = two
    frames = chat_stream(["first ", "second ", "third"])
    first.script(Answer.sse(frames, cut_after=3, delay_s=0.01))
    builder = (
        ConfigBuilder()
        .provider("first", first)
        .provider("second", second)
        .profile("default", ["first", "second"])
        .router(resume="off")
    )
    proc = router_process(builder)
    with httpx.stream(
        "POST",
        proc.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:
        assert response.status_code == 200
        body = b"".join(response.iter_bytes()).decode()
    data = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert '"content":"first "' in data[1].replace(" ", "") or "first" in data[1]
    assert "error" in json.loads(data[-1])
    assert "failed mid-stream" in json.loads(data[-1])["error"]["message"]
    assert second.count == 0
    [record] = proc.wait_for_log(1)
    assert record["status"] == 502
    first.script(Answer.sse(frames, cut_after=3))
    with (
        pytest.raises(openai.APIError, match="failed mid-stream"),
        sdk(proc.url).chat.completions.stream(model="m", messages=MESSAGES) as stream,
    ):
        stream.get_final_completion()


def test_stream_is_relayed_chunk_by_chunk(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.sse(chat_stream(["a", "b", "c", "d"]), delay_s=0.15))
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder)
    arrivals: list[float] = []
    with httpx.stream(
        "POST",
        proc.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] > 0.3


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"model": "m"}', 400, "'messages' is a required property"),
        (b'{"model": "m", "messages": "hi"}', 400, "'messages' must be a non-empty array"),
        (
            b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}',
            400,
            "'model' must be a string",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "profile": "nope"}',
            400,
            "unknown profile 'nope'",
        ),
    ],
)
def test_bad_input_is_answered_without_any_upstream(
    router_process: Any, fake_upstream: FakeUpstream, payload: bytes, status: int, fragment: str
) -> None:
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder)
    response = httpx.post(
        proc.url + "/v1/chat/completions",
        content=payload,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake_upstream.count == 0
    assert httpx.get(proc.url + "/healthz").status_code == 200


def test_body_over_limit_gets_413(router_process: Any, fake_upstream: FakeUpstream) -> None:
    builder = (
        ConfigBuilder()
        .provider("up", fake_upstream)
        .profile("default", ["up"])
        .server(max_body_bytes=4096)
    )
    proc = router_process(builder)
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 10000}]}
    response = httpx.post(proc.url + "/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert "server.max_body_bytes" in response.json()["error"]["message"]
    assert fake_upstream.count == 0


def test_profile_selection_order(router_process: Any, fake_upstreams: Any) -> None:
    ups = {name: fake_upstreams() for name in ("a", "b", "c", "d")}
    builder = ConfigBuilder()
    for name, up in ups.items():
        builder.provider(name, up)
        builder.profile(f"p{name}", [name])
    builder.router(default_profile="pa", mode_aliases={"fast": "pd"})
    proc = router_process(builder)
    url = proc.url + "/v1/chat/completions"

    def served(body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        response = httpx.post(url, json={"messages": MESSAGES, **body}, headers=headers or {})
        assert response.status_code == 200, response.text
        return response.headers["x-coderouter-profile"]

    assert served({"model": "x"}) == "pa"
    assert served({"model": "pc"}) == "pc"
    assert served({"model": "pc"}, {"x-coderouter-mode": "fast"}) == "pc"
    assert served({"model": "x"}, {"x-coderouter-mode": "fast"}) == "pd"
    assert served({"model": "pc"}, {"x-coderouter-profile": "pb"}) == "pb"
    assert served({"model": "pc", "profile": "pd"}, {"x-coderouter-profile": "pb"}) == "pd"
    assert "profile" not in ups["d"].requests[-1].body
    bad = httpx.post(url, json={"messages": MESSAGES}, headers={"x-coderouter-profile": "zz"})
    assert bad.status_code == 400
    assert "known: pa, pb, pc, pd" in bad.json()["error"]["message"]


def test_models_health_root_and_plugins(router_process: Any, fake_upstream: FakeUpstream) -> None:
    builder = (
        ConfigBuilder()
        .provider("up", fake_upstream, model="qwen3")
        .profile("default", ["up"])
        .profile("second", ["up"])
        .router(default_profile="default")
    )
    proc = router_process(builder)
    models = sdk(proc.url).models.list()
    assert [m.id for m in models.data] == ["default", "second"]
    for model in models.data:  # every listed id routes to the profile it names
        answer = httpx.post(
            proc.url + "/v1/chat/completions", json={"model": model.id, "messages": MESSAGES}
        )
        assert answer.headers["x-coderouter-profile"] == model.id
    assert httpx.head(proc.url + "/").status_code == 200
    assert httpx.get(proc.url + "/").json()["name"] == "coderouter"
    assert httpx.get(proc.url + "/healthz").json()["profiles"] == ["default", "second"]
    plugins = httpx.get(proc.url + "/-/plugins").json()
    assert plugins["enabled"] == []
    assert "example" in [p["name"] for p in plugins["installed"]]


def test_serve_prints_startup_line_and_starts_fast(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder)
    lines = [line for line in proc.stderr_text().splitlines() if "listening on" in line]
    assert len(lines) == 1
    assert f"http://127.0.0.1:{proc.port}" in lines[0]
    assert "profiles: default (up)" in lines[0] and "plugins: none" in lines[0]
    assert f"config: {proc.config_path} ·" in lines[0]
    assert proc.ready_after_s < 10


def test_sigterm_lets_inflight_stream_finish(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.sse(chat_stream(["a", "b", "c", "d", "e"]), delay_s=0.2))
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder)
    received: list[str] = []

    def consume() -> None:
        with httpx.stream(
            "POST",
            proc.url + "/v1/chat/completions",
            timeout=10,
            json={"model": "m", "messages": MESSAGES, "stream": True},
        ) as resp:
            received.extend(resp.iter_lines())

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.3)
    code = proc.stop()
    thread.join(10)
    assert code == 0
    assert "data: [DONE]" in received
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in received
        if line.startswith("data: {") and '"choices":[{' in line.replace(" ", "")
    )
    assert text == "abcde"


def test_client_disconnect_mid_stream_is_logged_and_worker_keeps_serving(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.sse(chat_stream(["a"] * 40), delay_s=0.05))
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder)
    with httpx.stream(
        "POST",
        proc.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:
        for line in response.iter_lines():
            if '"a"' in line:
                break
    [record] = proc.wait_for_log(1)
    assert record["status"] == 499
    assert record["client_disconnected"] is True
    fake_upstream.script(Answer.json(chat_completion("still here")))
    out = sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert out.choices[0].message.content == "still here"
