"""``coderouter status`` against a running router with traffic: the one-screen view, ``--json``
and ``--watch`` redrawing in place in a real terminal (a pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

CODEROUTER = str(Path(sys.executable).parent / "coderouter")
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def busy_router(router_process: Any, fake_upstreams: Any, tmp_path: Path) -> Any:
    broken: FakeUpstream = fake_upstreams(Answer.error(500, "model runner crashed"))
    working: FakeUpstream = fake_upstreams(Answer.json(chat_completion("fine")))
    builder = (
        ConfigBuilder()
        .provider("broken", broken)
        .provider("working", working)
        .profile("default", ["broken", "working"])
        .plugin("backend_health", action="skip", threshold=1)
        .plugin("metrics", snapshot_interval_s=0.1, state_refresh_s=0.1)
        .router(state_dir=str(tmp_path / "state"))
    )
    proc = router_process(builder)
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="x", max_retries=0)
    for _ in range(4):
        client.chat.completions.create(model="default", messages=MESSAGES)
    return proc


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODEROUTER, "status", *args], capture_output=True, text=True, timeout=60)


def test_status_shows_each_provider_of_the_chain(busy_router: Any) -> None:
    result = status("--url", busy_router.url, "--width", "120")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"at {busy_router.url}" in out and "today 4 requests, 0 failed" in out
    # Started moments ago: today's figures begin at the router's start, and the note says so.
    assert "requests and spend: today, " in out and "since the router started at" in out
    assert "profile default" in out
    broken = next(line for line in out.splitlines() if line.startswith("│ broken"))
    assert "unhealthy, open" in broken and "s left" in broken
    working = next(line for line in out.splitlines() if line.startswith("│ working"))
    assert "healthy" in working and " ms" in working and "│    4 │" in working
    assert "  broken, " in out and "HTTP 500" in out


def test_status_json(busy_router: Any) -> None:
    result = status("--url", busy_router.url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["requests"] == 4 and data["plugins"] == ["backend_health", "metrics"]
    assert data["today"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert time.time() - 120 < data["counted_since"] <= time.time()
    (profile,) = data["profiles"]
    rows = {row["name"]: row for row in profile["providers"]}
    assert list(rows) == ["broken", "working"]
    assert rows["broken"]["health"] == "unhealthy" and rows["broken"]["circuit"] == "open"
    assert rows["broken"]["cooldown_s"] > 0
    assert "HTTP 500" in rows["broken"]["last_error"]
    assert rows["broken"]["last_error_ago_s"] >= 0
    assert rows["working"]["requests"] == 4 and rows["working"]["p50_ms"] > 0
    assert rows["working"]["last_error"] is None


def test_status_watch_redraws_in_place_in_a_terminal(busy_router: Any) -> None:
    leader, follower = pty.openpty()
    command = [CODEROUTER, "status", "--url", busy_router.url, "--watch", "--interval", "0.2"]
    proc = subprocess.Popen(
        [*command, "--count", "3"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"},
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert screen.count("profile default") >= 3
    assert "\x1b[2K" in screen or "\x1b[1A" in screen  # cursor moves back up to redraw


def test_status_without_a_router_says_so(tmp_path: Path) -> None:
    result = status("--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot read http://127.0.0.1:9/healthz")
    assert "start it with: coderouter serve" in result.stderr
