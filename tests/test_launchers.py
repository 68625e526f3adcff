"""``coderouter claude`` and ``coderouter codex`` with the real clients from npm, non-interactive
(``claude -p``, ``codex exec``), against a scripted upstream behind the router they start.

The clients come from the ``client_bin`` fixture and run offline in the environment
:func:`coderouter.testing.agents.client_env` makes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_stream, free_port
from coderouter.testing.agents import client_env

RUN_TIMEOUT_S = 180
ANSWER = "Hello from the scripted upstream."
CODEROUTER = str(Path(sys.executable).parent / "coderouter")


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(Answer.sse(chat_stream([ANSWER])))
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path: Path, upstream: FakeUpstream) -> dict[str, Any]:
    port = free_port()
    config = (
        ConfigBuilder()
        .provider("local", upstream, model="scripted")
        .profile("default", ["local"])
        .server(port=port)
        .router(state_dir=str(tmp_path / "state"))
        .write(tmp_path)
    )
    return {"config": config, "port": port, "state": tmp_path / "state", "home": tmp_path / "h"}


def run_launcher(
    setup: dict[str, Any], args: list[str], bin_dir: Path | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CODEROUTER, "--config", str(setup["config"]), *args],
        env=client_env(setup["home"], bin_dir),
        cwd=setup["home"].parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def started_pid(stderr: str) -> int:
    match = re.search(r"started the router at \S+ \(pid (\d+)", stderr)
    assert match, stderr
    return int(match.group(1))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); the router was reaped when its state is not Z.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_claude_through_a_router_it_starts_and_stops(
    client_bin: Path, setup: dict[str, Any], upstream: FakeUpstream
) -> None:
    result = run_launcher(
        setup, ["claude", "-p", "Say hello.", "--output-format", "json"], client_bin
    )
    assert result.returncode == 0, result.stderr + result.stdout
    reply = json.loads(result.stdout)
    assert reply["is_error"] is False and reply["result"] == ANSWER
    bodies = upstream.bodies()
    assert bodies and all(b["stream"] is True for b in bodies)
    assert bodies[0]["model"] == "scripted"
    pid = started_pid(result.stderr)
    assert not alive(pid)
    assert not (setup["state"] / f"router-{setup['port']}.pid").exists()
    log = (setup["state"] / f"router-{setup['port']}.log").read_text()
    assert f"listening on http://127.0.0.1:{setup['port']}" in log
    assert '"ingress":"anthropic"' in log


def test_codex_exec_through_the_router_with_keep(
    client_bin: Path, setup: dict[str, Any], upstream: FakeUpstream
) -> None:
    args = ["codex", "--keep", "exec", "--skip-git-repo-check", "Say hello."]
    result = run_launcher(setup, args, client_bin)
    pid = started_pid(result.stderr)
    try:
        assert result.returncode == 0, result.stderr + result.stdout
        assert ANSWER in result.stdout
        assert alive(pid), "--keep leaves the router running"
        pid_file = setup["state"] / f"router-{setup['port']}.pid"
        assert pid_file.read_text().strip() == str(pid)
        bodies = upstream.bodies()
        assert bodies and bodies[0]["model"] == "scripted"
        assert all(b["stream"] is True for b in bodies)
        log = (setup["state"] / f"router-{setup['port']}.log").read_text()
        assert '"ingress":"openai_responses"' in log and '"profile":"default"' in log
        # A second run finds the router answering and starts none.
        again = run_launcher(setup, ["codex", "exec", "--skip-git-repo-check", "Hi."], client_bin)
        assert again.returncode == 0, again.stderr
        assert "started the router" not in again.stderr and ANSWER in again.stdout
    finally:
        os.kill(pid, 15)


def test_missing_client_says_how_to_install_it(setup: dict[str, Any]) -> None:
    for client, package in (("claude", "@anthropic-ai/claude-code"), ("codex", "@openai/codex")):
        result = run_launcher(setup, [client, "-p", "hi"], None)
        assert result.returncode == 127
        assert f"install it with: npm install -g {package}" in result.stderr
        assert "started the router" not in result.stderr
