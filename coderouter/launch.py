"""``coderouter claude`` and ``coderouter codex``: one command instead of exports and config edits.

The launcher uses the router answering on the configured port, or starts one in the background
(its log and pid in the state dir) and stops it when the client exits unless ``--keep`` is
given; then it runs the client with the environment (Claude Code) or ``-c`` overrides (codex)
that point it at the router with a placeholder key: the router holds the upstream keys.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from coderouter.config import Config

__all__ = [
    "CLIENTS",
    "BackgroundRouter",
    "Client",
    "LaunchOptions",
    "client_command",
    "launch",
    "local_url",
    "parse_launch_args",
    "router_answers",
]

PLACEHOLDER_KEY = "coderouter"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@attrs.frozen
class Client:
    binary: str
    title: str
    npm_package: str


CLIENTS = {
    "claude": Client("claude", "Claude Code", "@anthropic-ai/claude-code"),
    "codex": Client("codex", "codex", "@openai/codex"),
}


@attrs.frozen
class LaunchOptions:
    keep: bool = False
    profile: str | None = None
    client_args: tuple[str, ...] = ()


def parse_launch_args(args: Sequence[str]) -> LaunchOptions:
    """The launcher's own options come first; everything from the first other argument (or
    after ``--``) goes to the client untouched, its own ``--help`` included."""
    keep, profile, rest = False, None, list(args)
    while rest:
        head = rest[0]
        if head == "--keep":
            keep = True
            rest.pop(0)
        elif head == "--profile" and len(rest) > 1:
            profile = rest[1]
            del rest[:2]
        elif head.startswith("--profile="):
            profile = head.partition("=")[2]
            rest.pop(0)
        elif head == "--":
            rest.pop(0)
            break
        else:
            break
    return LaunchOptions(keep=keep, profile=profile, client_args=tuple(rest))


def local_url(config: Config) -> str:
    """Where a client on this machine reaches the configured server."""
    host = config.server.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}"


def router_answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a CodeRouter answers ``/healthz`` at ``url`` (not just anything on the port)."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=timeout_s) as response:
            body = json.loads(response.read(65536))
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("status") == "ok" and "profiles" in body


def ingress_key(config: Config) -> str:
    """A key the router accepts: the first of ``server.api_keys_env`` when set, else a
    placeholder (a loopback router without ingress keys accepts any)."""
    if config.server.api_keys_env:
        keys = os.environ.get(config.server.api_keys_env, "")
        for key in keys.split(","):
            if key.strip():
                return key.strip()
    return PLACEHOLDER_KEY


@attrs.define
class BackgroundRouter:
    """A ``coderouter serve`` this launcher started."""

    process: subprocess.Popen[bytes]
    log_path: Path
    pid_path: Path

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self.pid_path.unlink(missing_ok=True)


def start_router(
    config: Config,
    url: str,
    *,
    timeout_s: float = START_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> BackgroundRouter:
    """``coderouter serve`` in its own session (a Ctrl-C meant for the client does not reach
    it), logging into the state dir; returns once it answers, or raises ``RuntimeError``."""
    state = config.state_path
    state.mkdir(parents=True, exist_ok=True)
    port = config.server.port
    log_path = state / f"router-{port}.log"
    pid_path = state / f"router-{port}.pid"
    command = [sys.executable, "-m", "coderouter.cli"]
    if config.source != "<built-in default>":
        command += ["--config", config.source]
    command.append("serve")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    pid_path.write_text(f"{process.pid}\n")
    router = BackgroundRouter(process, log_path, pid_path)
    deadline = clock() + timeout_s
    while clock() < deadline:
        if process.poll() is not None:
            router.stop()
            raise RuntimeError(
                f"the router exited with status {process.returncode} before answering; "
                f"its log ({log_path}) ends with:\n{_tail(log_path)}"
            )
        if router_answers(url, timeout_s=0.5):
            return router
        time.sleep(0.1)
    router.stop()
    raise RuntimeError(
        f"the router did not answer at {url} within {timeout_s:.0f} s; its log is {log_path}"
    )


def _tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def client_command(
    client: str, binary: str, config: Config, url: str, options: LaunchOptions
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that point ``client`` at the router."""
    env = dict(os.environ)
    key = ingress_key(config)
    profile = options.profile or config.router.default_profile
    if client == "claude":
        # With both set Claude Code would send the user's real key (x-api-key) to the router.
        env.pop("ANTHROPIC_API_KEY", None)
        env["ANTHROPIC_BASE_URL"] = url
        env["ANTHROPIC_AUTH_TOKEN"] = key
        if options.profile:
            # A model that names a profile selects it, for the main and the small model.
            env["ANTHROPIC_MODEL"] = profile
            env["ANTHROPIC_SMALL_FAST_MODEL"] = profile
        return [binary, *options.client_args], env
    env["CODEROUTER_API_KEY"] = key
    overrides = {
        "model_provider": "coderouter",
        "model_providers.coderouter.name": "CodeRouter",
        "model_providers.coderouter.base_url": url + "/v1",
        "model_providers.coderouter.wire_api": "responses",
        "model_providers.coderouter.env_key": "CODEROUTER_API_KEY",
        "model": profile,
    }
    flags: list[str] = []
    for name, value in overrides.items():
        flags += ["-c", f"{name}={json.dumps(value)}"]
    return [binary, *flags, *options.client_args], env


def launch(client: str, args: Sequence[str], config: Config) -> int:
    spec = CLIENTS[client]
    options = parse_launch_args(args)
    if options.profile is not None and options.profile not in config.profiles:
        known = ", ".join(config.profiles)
        print(
            f"error: --profile: unknown profile {options.profile!r} in {config.source} "
            f"(known: {known})",
            file=sys.stderr,
        )
        return 2
    binary = shutil.which(spec.binary)
    if binary is None:
        print(
            f"error: {spec.binary} ({spec.title}) is not installed or not on PATH; "
            f"install it with: npm install -g {spec.npm_package}",
            file=sys.stderr,
        )
        return 127
    url = local_url(config)
    router: BackgroundRouter | None = None
    if not router_answers(url):
        try:
            router = start_router(config, url)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        note = "left running" if options.keep else "stopped when the client exits"
        print(
            f"coderouter: started the router at {url} (pid {router.process.pid}, {note}; "
            f"log: {router.log_path})",
            file=sys.stderr,
        )
    command, env = client_command(client, binary, config, url, options)
    if router is None or options.keep:
        os.execvpe(command[0], command, env)
    return _run_then_stop(command, env, router)


def _run_then_stop(command: list[str], env: dict[str, str], router: BackgroundRouter) -> int:
    # The terminal's Ctrl-C goes to the client (same process group); the launcher stays to
    # stop the router afterwards.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        returncode = subprocess.call(command, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
        router.stop()
    return returncode if returncode >= 0 else 128 - returncode
