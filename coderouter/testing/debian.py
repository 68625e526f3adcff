"""Debian packages that tests need (``redis-server``, ``chromium``), installed with apt-get when
missing, as root on a developer's or CI's machine."""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["ensure_installed"]

INSTALL_TIMEOUT_S = 1200


def ensure_installed(program: str, package: str) -> str:
    """The path of ``program`` (a name on ``PATH`` or an absolute path), after ``apt-get install
    -y <package>`` when it is missing. Raises :class:`RuntimeError` saying which step failed."""
    found = shutil.which(program)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", package],
    ):
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"cannot install {package}: {' '.join(command)}: {exc}") from exc
        if done.returncode != 0:
            raise RuntimeError(
                f"cannot install {package}: {' '.join(command)} exited {done.returncode}:\n"
                f"{done.stderr[-2000:]}"
            )
    found = shutil.which(program)
    if not found:
        raise RuntimeError(f"apt-get install {package} succeeded but {program} is missing")
    return found
