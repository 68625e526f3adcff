"""``coderouter claude`` and ``coderouter codex`` with the real clients from npm, non-interactive
(``claude -p``, ``codex exec``), against a scripted upstream behind the router they start.

The clients are installed with npm into a cache folder outside the clone when missing
(``$CODEROUTER_TEST_CLIENTS``, default ``~/.cache/coderouter-test-clients``). They never reach
the real network: every variable that points them elsewhere is removed, their home folders are
scratch folders, telemetry and update checks are off, and a proxy on a dead loopback port
catches anything that is not addressed to the loopback router.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_stream, free_port

CLIENT_PACKAGES = ("@anthropic-ai/claude-code", "@openai/codex")
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 180
ANSWER = "Hello from the scripted upstream."
CODEROUTER = str(Path(sys.executable).parent / "coderouter")


@pytest.fixture(scope="session")
def client_bin() -> Path:
    """The folder holding ``claude`` and ``codex``, installed with npm when missing."""
    cache = Path(
        os.environ.get("CODEROUTER_TEST_CLIENTS")
        or Path.home() / ".cache" / "coderouter-test-clients"
    )
    bin_dir = cache / "node_modules" / ".bin"
    if not all((bin_dir / name).exists() for name in ("claude", "codex")):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install claude and codex for the launcher tests")
        cache.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache)]
        done = subprocess.run(
            [*command, *CLIENT_PACKAGES],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install {' '.join(CLIENT_PACKAGES)} failed:\n{done.stderr[-2000:]}")
    return bin_dir


def client_env(home: Path, bin_dir: Path | None) -> dict[str, str]:
    dropped = ("ANTHROPIC_", "OPENAI_", "CODEX_", "CLAUDE_", "CODEROUTER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        {
            "HOME": str(home),
            "CODEX_HOME": str(home / ".codex"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PATH": (f"{bin_dir}:" if bin_dir else "") + "/usr/local/bin:/usr/bin:/bin",
            # Claude Code refuses to run as root outside a sandbox.
            "IS_SANDBOX": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "ALL_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    return env


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
