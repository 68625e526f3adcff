"""End to end: ``coderouter serve`` with the plugin enabled, a fake local backend that answers
out-of-memory, and a second one that works."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_headers

MESSAGES = [{"role": "user", "content": "hi"}]
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def config(gpu: FakeUpstream, spare: FakeUpstream, **settings: Any) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("gpu", gpu)
        .provider("spare", spare)
        .profile("default", ["gpu", "spare"])
        .profile("solo", ["gpu"])
        .plugin("memory_pressure", **settings)
    )


def test_skip_rests_the_backend_after_out_of_memory(
    router_process: Any, fake_upstreams: Any
) -> None:
    gpu, spare = fake_upstreams(Answer.error(500, OOM)), fake_upstreams()
    proc = router_process(config(gpu, spare, action="skip"))
    client = sdk(proc.url)
    first = chat_headers(client, stream=True)
    assert first["x-coderouter-provider"] == "spare"
    assert first["x-coderouter-fallback"].startswith("gpu=failed: HTTP 500: CUDA out of memory")
    second = chat_headers(client)
    assert second["x-coderouter-provider"] == "spare"
    assert second["x-coderouter-fallback"].startswith(
        'gpu=skipped: out of memory ("CUDA out of memory"); resting for another'
    )
    assert (gpu.count, spare.count) == (1, 2)
    log = proc.wait_for_log(2)
    assert log[1]["attempts"][0]["provider"] == "gpu"
    assert log[1]["attempts"][0]["outcome"] == "skipped"
    [guard] = proc.wait_for_log(1, event="guard")
    assert (guard["plugin"], guard["provider"], guard["phrase"], guard["action"]) == (
        "memory_pressure",
        "gpu",
        "CUDA out of memory",
        "skip",
    )
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["memory_pressure"]
    assert state["providers"]["gpu"]["ooms"] == 1
    assert 0 < state["providers"]["gpu"]["cooldown_remaining_s"] <= 120


def test_a_resting_backend_alone_gives_a_502_that_says_why(
    router_process: Any, fake_upstreams: Any
) -> None:
    gpu, spare = fake_upstreams(Answer.error(500, OOM)), fake_upstreams()
    proc = router_process(config(gpu, spare, action="skip"))
    client = sdk(proc.url)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="solo", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="solo", messages=MESSAGES)
    assert info.value.status_code == 502
    assert 'gpu skipped (out of memory ("CUDA out of memory"); resting' in info.value.message
    assert gpu.count == 1
    assert proc.wait_for_log(2)[1]["attempts"][0]["outcome"] == "skipped"


def test_warn_logs_but_keeps_sending(router_process: Any, fake_upstreams: Any) -> None:
    gpu, spare = fake_upstreams(Answer.error(500, OOM)), fake_upstreams()
    proc = router_process(config(gpu, spare))
    client = sdk(proc.url)
    for _ in range(2):
        assert chat_headers(client)["x-coderouter-fallback"].startswith("gpu=failed")
    assert gpu.count == 2
    assert [g["action"] for g in proc.wait_for_log(2, event="guard")] == ["warn", "warn"]


def test_other_errors_do_not_rest_the_backend(router_process: Any, fake_upstreams: Any) -> None:
    gpu = fake_upstreams(Answer.error(500, "no room left in the context"))
    spare = fake_upstreams()
    proc = router_process(config(gpu, spare, action="skip"))
    client = sdk(proc.url)
    for _ in range(2):
        assert chat_headers(client)["x-coderouter-fallback"].startswith("gpu=failed")
    assert gpu.count == 2
    proc.wait_for_log(2)
    assert proc.log_lines("guard") == []


def test_anthropic_ingress_sees_the_same_rest(router_process: Any, fake_upstreams: Any) -> None:
    gpu, spare = fake_upstreams(Answer.error(500, OOM)), fake_upstreams()
    proc = router_process(config(gpu, spare, action="skip"))
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    for _ in range(2):
        raw = client.messages.with_raw_response.create(model="m", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
        assert raw.headers["x-coderouter-provider"] == "spare"
    assert raw.headers["x-coderouter-fallback"].startswith("gpu=skipped: out of memory")
    assert gpu.count == 1
