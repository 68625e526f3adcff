"""End to end: ``coderouter serve`` with the metrics plugin, the openai and anthropic SDKs as
clients, fake upstreams as real HTTP servers; ``/metrics`` parsed with prometheus-client's own
parser."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    RouterProcess,
    chat_completion,
    chat_stream,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def scrape(url: str) -> tuple[str, dict[str, Any]]:
    """One scrape on a fresh connection: (answering worker, families by name)."""
    response = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {f.name: f for f in text_string_to_metric_families(response.text)}
    return response.headers["x-coderouter-worker"], found


def series(found: dict[str, Any], name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in keys): s.value for s in found[name].samples}


def histogram_count(found: dict[str, Any], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in found[name].samples
        if s.name == name + "_count" and all(s.labels.get(k) == v for k, v in labels.items())
    )


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def upstreams(fake_upstreams: Any) -> tuple[FakeUpstream, FakeUpstream, FakeUpstream]:
    return fake_upstreams(), fake_upstreams(), fake_upstreams()


def builder_for(
    upstreams: tuple[FakeUpstream, ...], tmp_path: Path, **settings: Any
) -> ConfigBuilder:
    cloud, flaky, local = upstreams
    return (
        ConfigBuilder()
        .provider("cloud", cloud, paid=True)
        .provider("flaky", flaky)
        .provider("local", local)
        .profile("default", ["cloud", "flaky", "local"])
        .router(state_dir=str(tmp_path / "state"))
        .plugin("metrics", **settings)
    )


def one_local(upstream: FakeUpstream, tmp_path: Path, **settings: Any) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("local", upstream)
        .profile("default", ["local"])
        .router(state_dir=str(tmp_path / "state"))
        .plugin("metrics", **settings)
    )


def post_chat(url: str) -> httpx.Response:
    """One Chat request on its own connection (so that either worker may take it)."""
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"connection": "close"},
        timeout=30,
    )
    assert response.status_code == 200
    return response


def count_busy(url: str, busy: set[int]) -> int:
    """Adds to ``busy`` the pids of the workers that have answered a request; their count."""
    doc = httpx.get(url + "/metrics.json", headers={"connection": "close"}).json()
    busy.update(w["pid"] for w in doc["workers"] if w["requests"] > 0)
    return len(busy)


def test_scripted_traffic_gives_the_documented_names_labels_and_counts(
    router_process: Any, upstreams: tuple[FakeUpstream, ...], tmp_path: Path
) -> None:
    cloud, flaky, local = upstreams
    flaky.script(Answer.error(500, "boom"))
    proc = router_process(builder_for(upstreams, tmp_path).router(resume="off"))
    client = sdk(proc.url)

    first = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert first.headers["x-coderouter-provider"] == "local"
    assert first.headers["x-coderouter-fallback"].startswith("cloud=skipped")
    for _ in range(2):
        client.chat.completions.create(model="m", messages=MESSAGES)
    flaky.script(Answer.sse(chat_stream(["Hel", "lo"], prompt_tokens=20, cached_tokens=8)))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
    flaky.script(Answer.sse(chat_stream(["a", "b", "c", "d"]), cut_after=3))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
    assert cloud.count == 0 and flaky.count == 5 and local.count == 1

    records = proc.wait_for_log(5)
    assert len(records) == 5
    _, found = scrape(proc.url)
    assert series(found, "coderouter_requests", "ingress", "profile", "provider", "outcome") == {
        ("openai_chat", "default", "local", "success"): 1.0,
        ("openai_chat", "default", "flaky", "success"): 3.0,
        ("openai_chat", "default", "flaky", "stream_error"): 1.0,
    }
    assert series(found, "coderouter_attempts", "provider", "outcome") == {
        ("flaky", "failed"): 1.0,
        ("flaky", "success"): 3.0,
        ("flaky", "failed_after_commit"): 1.0,
        ("local", "success"): 1.0,
    }
    assert series(found, "coderouter_chain_skips", "provider", "reason") == {
        ("cloud", "paid provider; allow_paid is off"): 5.0
    }
    assert series(found, "coderouter_fallbacks", "provider", "reason") == {
        ("flaky", "HTTP 500"): 1.0
    }
    assert series(found, "coderouter_stream_errors", "provider") == {("flaky",): 1.0}
    assert series(found, "coderouter_upstream_errors", "provider", "kind", "status") == {
        ("flaky", "status", "500"): 1.0,
        ("flaky", "stream_cut", ""): 1.0,
    }
    assert histogram_count(found, "coderouter_request_duration_seconds") == 5
    assert histogram_count(found, "coderouter_upstream_latency_seconds", provider="flaky") == 4
    assert histogram_count(found, "coderouter_ttft_seconds", provider="flaky") == 2
    assert histogram_count(found, "coderouter_router_overhead_seconds", ingress="openai_chat") == 5

    tokens = series(found, "coderouter_tokens", "provider", "class")
    for key, name in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cache_read_tokens", "cache_read"),
    ):
        logged = sum(r["usage"][key] for r in records if r["provider"] == "flaky" and "usage" in r)
        assert tokens.get(("flaky", name), 0.0) == logged
    assert tokens[("flaky", "cache_read")] == 8
    assert series(found, "coderouter_provider_serving", "profile", "provider") == {
        ("default", "flaky"): 1.0
    }
    assert series(found, "coderouter_events", "event") == {("request",): 5.0}
    assert found["coderouter_workers"].samples[0].value == 1


def test_two_workers_report_the_same_totals_whichever_answers(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    proc = router_process(one_local(fake_upstream, tmp_path), workers=2)

    def one(_: int) -> str:
        return post_chat(proc.url).headers["x-request-id"]

    busy: set[int] = set()

    def both_busy() -> bool:
        return count_busy(proc.url, busy) == 2

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent < 400:
            sent += len(list(pool.map(one, range(16))))
            if wait_until(both_busy, timeout_s=1.5):
                break
    assert len(busy) == 2, "one worker answered every request"
    assert len(proc.wait_for_log(sent)) == sent

    def total(found: dict[str, Any]) -> float:
        return sum(series(found, "coderouter_requests", "outcome").values())

    # Each worker sees the others' counts as of their last snapshot (at most
    # snapshot_interval_s old); once both have reported the full count, every scrape must.
    caught_up: set[str] = set()

    def both_caught_up() -> bool:
        worker, found = scrape(proc.url)
        if total(found) == sent:
            caught_up.add(worker)
        return len(caught_up) == 2

    assert wait_until(both_caught_up), f"only {caught_up} reached {sent}"
    answered: dict[str, list[float]] = {}
    for _ in range(200):
        worker, found = scrape(proc.url)
        answered.setdefault(worker, []).append(total(found))
        assert histogram_count(found, "coderouter_request_duration_seconds") == sent
        assert found["coderouter_workers"].samples[0].value == 2
        if len(answered) == 2 and min(len(v) for v in answered.values()) >= 3:
            break
    assert len(answered) == 2, "one worker answered every scrape"
    assert {value for values in answered.values() for value in values} == {sent}


def test_json_snapshot_keeps_the_newest_events_from_the_request_log(
    router_process: Any, upstreams: tuple[FakeUpstream, ...], tmp_path: Path
) -> None:
    proc = router_process(builder_for(upstreams, tmp_path, recent_events=4))
    client = sdk(proc.url)
    ids = [
        client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).headers[
            "x-request-id"
        ]
        for _ in range(6)
    ]
    doc = httpx.get(proc.url + "/metrics.json").json()
    assert [e["id"] for e in doc["events"]] == ids[-4:]
    logged = {r["id"]: r for r in proc.wait_for_log(6)}
    for event in doc["events"]:
        record = logged[event["id"]]
        assert {k: event[k] for k in record} == record
        assert event["worker"] == str(doc["worker"])
    assert doc["summary"]["requests"] == 6
    assert doc["summary"]["skips"] == 6
    cloud = doc["providers"][0]
    assert cloud["name"] == "cloud" and cloud["paid"] is True and cloud["skips"] == 6
    assert cloud["last"]["outcome"] == "skipped"
    assert doc["profiles"] == [
        {"name": "default", "providers": ["cloud", "flaky", "local"], "serving": "flaky"}
    ]


def test_event_log_file_from_two_workers_rotates_and_matches_the_request_log(
    router_process: Any, upstreams: tuple[FakeUpstream, ...], tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "events.jsonl"
    proc: RouterProcess = router_process(
        builder_for(
            upstreams,
            tmp_path,
            event_log_file=str(log_file),
            event_log_max_bytes=4000,
            event_log_backups=20,
        ),
        workers=2,
    )
    body = {"model": "m", "messages": MESSAGES}
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda _: httpx.post(
                    proc.url + "/v1/chat/completions",
                    json=body,
                    headers={"connection": "close"},
                    timeout=30,
                ),
                range(24),
            )
        )
    logged = {r["id"] for r in proc.wait_for_log(24)}
    assert len(logged) == 24
    proc.stop()
    files = [f for f in log_file.parent.iterdir() if not f.name.endswith(".lock")]
    assert len(files) > 1
    written = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {r["id"] for r in written} == logged
    assert len(written) == 24
    assert all(len(f.read_bytes()) <= 4000 for f in files)


def test_anthropic_ingress_is_labelled_and_timed(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.script(
        Answer.json(chat_completion("hi", prompt_tokens=12)),
        Answer.sse(chat_stream(["Hel", "lo"], prompt_tokens=12)),
    )
    proc = router_process(one_local(fake_upstream, tmp_path))
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    ask = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    assert client.messages.create(**ask).content[0].text == "hi"
    with client.messages.stream(**ask) as stream:
        assert stream.get_final_message().content[0].text == "Hello"
    _, found = scrape(proc.url)
    assert series(found, "coderouter_requests", "ingress", "provider", "outcome") == {
        ("anthropic", "local", "success"): 2.0
    }
    assert histogram_count(found, "coderouter_router_overhead_seconds", ingress="anthropic") == 2
    assert histogram_count(found, "coderouter_ttft_seconds", provider="local") == 1
    assert series(found, "coderouter_tokens", "class")[("input",)] == 24


def test_a_resumed_stream_is_a_success_and_counted_as_a_resume(
    router_process: Any, upstreams: tuple[FakeUpstream, ...], tmp_path: Path
) -> None:
    _, flaky, local = upstreams
    flaky.script(Answer.sse(chat_stream(["Hello ", "wor", "ld"]), cut_after=3))
    local.script(Answer.sse(chat_stream(["world", "."])))
    proc = router_process(builder_for(upstreams, tmp_path))
    stream = sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello world."
    [record] = proc.wait_for_log(1)
    assert record["provider"] == "local" and record["status"] == 200
    assert record["resumes"][0]["outcome"] == "resumed"
    assert [a["outcome"] for a in record["attempts"]] == ["skipped", "cut, resumed"]
    _, found = scrape(proc.url)
    assert series(found, "coderouter_resumes", "outcome") == {("resumed",): 1.0}
    assert series(found, "coderouter_requests", "provider", "outcome") == {
        ("local", "success"): 1.0
    }


def counter_samples(found: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of every counter and histogram, keyed by sample name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in found.values()
        if family.type in ("counter", "histogram")
        for s in family.samples
    }


def test_counters_never_go_backwards_across_workers_right_after_a_burst(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # A long snapshot interval keeps each worker's file behind its live counts for a while
    # after the burst: exactly when scrapes answered by different workers used to disagree.
    proc = router_process(one_local(fake_upstream, tmp_path, snapshot_interval_s=3.0), workers=2)

    def one(_: int) -> None:
        post_chat(proc.url)

    busy: set[int] = set()

    def both_busy() -> bool:
        return count_busy(proc.url, busy) == 2

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent < 400 and not both_busy():
            sent += len(list(pool.map(one, range(16))))
        assert len(busy) == 2, "one worker answered every request"
        sent += len(list(pool.map(one, range(48))))

    def total(found: dict[str, Any]) -> float:
        return sum(series(found, "coderouter_requests", "outcome").values())

    seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    workers: set[str] = set()
    totals: list[float] = []

    def scrape_and_compare() -> bool:
        worker, found = scrape(proc.url)
        workers.add(worker)
        samples = counter_samples(found)
        for key, before in seen.items():
            assert samples.get(key, 0.0) >= before, (
                f"{key} went from {before} to {samples.get(key)}"
            )
        seen.update(samples)
        totals.append(total(found))
        return totals[-1] == sent and len(workers) == 2

    for _ in range(100):
        scrape_and_compare()
    assert wait_until(scrape_and_compare), f"totals {totals[-5:]} never reached {sent}"
    assert len(workers) == 2, "one worker answered every scrape"
    assert totals == sorted(totals)
    assert len(proc.wait_for_log(sent)) == sent
