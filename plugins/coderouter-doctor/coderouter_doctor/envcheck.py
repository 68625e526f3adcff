"""``coderouter doctor --env [PATH]``: is the file holding the keys safe?

Readable by group or others: a warning with the ``chmod 600`` fix. Tracked by git: an error
(the keys are in the history). In a git work tree but not ignored: a warning.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Literal

import attrs

from coderouter.config import Config

__all__ = ["Finding", "check_env_file", "env_exit_code"]

GIT_TIMEOUT_S = 10.0
Level = Literal["ok", "warn", "error"]


@attrs.frozen
class Finding:
    level: Level
    message: str


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """``git -C <dir> args``, or ``None`` when git is missing or hangs."""
    try:
        return subprocess.run(
            ["git", "-C", str(path.parent), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _keys_in(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.strip().removeprefix("export ").strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def check_env_file(path: Path, config: Config | None = None) -> list[Finding]:
    if not path.is_file():
        return [Finding("error", f"{path}: no such file")]
    findings: list[Finding] = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        findings.append(
            Finding(
                "warn", f"{path} is readable by group or others (mode {mode:o}): chmod 600 {path}"
            )
        )
    inside = _git(path, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0:
        findings.append(Finding("ok", f"{path} is not in a git work tree"))
    else:
        tracked = _git(path, "ls-files", "--error-unmatch", path.name)
        ignored = _git(path, "check-ignore", "-q", path.name)
        if tracked is not None and tracked.returncode == 0:
            findings.append(
                Finding(
                    "error",
                    f"{path} is tracked by git: its keys are in the history; "
                    f"git rm --cached {path.name}, add it to .gitignore and rotate the keys",
                )
            )
        elif ignored is not None and ignored.returncode != 0:
            findings.append(
                Finding("warn", f"{path} is not ignored by git: add {path.name} to .gitignore")
            )
    if config is not None:
        wanted = sorted({p.api_key_env for p in config.providers if p.api_key_env})
        try:
            present = _keys_in(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            return [*findings, Finding("error", f"{path}: cannot read it: {exc}")]
        missing = [name for name in wanted if name not in present]
        if missing:
            findings.append(
                Finding("warn", f"{path} has no {', '.join(missing)} (api_key_env of the config)")
            )
    if not any(f.level != "ok" for f in findings):
        findings.append(Finding("ok", f"{path}: mode {mode:o}, safe"))
    return findings


def env_exit_code(findings: list[Finding]) -> int:
    if any(f.level == "error" for f in findings):
        return 1
    return 2 if any(f.level == "warn" for f in findings) else 0
