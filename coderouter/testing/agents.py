"""The real coding agents from npm (``claude``, ``codex``) for tests, run offline.

They are installed with npm into a cache folder outside the clone when missing
(``$CODEROUTER_TEST_CLIENTS``, default ``~/.cache/coderouter-test-clients``). :func:`client_env`
keeps them off the real network: every variable that points them elsewhere is removed, their
home folders are scratch folders, telemetry and update checks are off, and a proxy on a dead
loopback port catches anything that is not addressed to the loopback router.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["CLIENT_PACKAGES", "ClientInstallError", "client_env", "installed_clients"]

CLIENT_PACKAGES = ("@anthropic-ai/claude-code", "@openai/codex")
INSTALL_TIMEOUT_S = 900


class ClientInstallError(RuntimeError):
    """npm is missing or the install failed (the message says which and why)."""


def installed_clients() -> Path:
    """The folder holding ``claude`` and ``codex``, installed with npm when missing."""
    cache = Path(
        os.environ.get("CODEROUTER_TEST_CLIENTS")
        or Path.home() / ".cache" / "coderouter-test-clients"
    )
    bin_dir = cache / "node_modules" / ".bin"
    if all((bin_dir / name).exists() for name in ("claude", "codex")):
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        raise ClientInstallError("npm is needed to install claude and codex for these tests")
    cache.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache)]
    done = subprocess.run(
        [*command, *CLIENT_PACKAGES], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
    )
    if done.returncode != 0:
        raise ClientInstallError(
            f"npm install {' '.join(CLIENT_PACKAGES)} failed:\n{done.stderr[-2000:]}"
        )
    return bin_dir


def client_env(home: Path, bin_dir: Path | None) -> dict[str, str]:
    """The environment a client runs in: ``home`` as its scratch home, ``bin_dir`` first on
    ``PATH``, nothing that reaches beyond the loopback."""
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
