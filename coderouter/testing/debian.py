"""Debian packages that tests need (``redis-server``, ``chromium``, ``postgresql``), installed
with apt-get when missing, as root on a developer's or CI's machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

__all__ = ["ensure_installed"]

INSTALL_TIMEOUT_S = 1200


def ensure_installed(
    program: str, package: str, locate: Callable[[], str | None] | None = None
) -> str:
    """The path of ``program`` (a name on ``PATH`` or an absolute path), after ``apt-get install
    -y <package>`` when it is missing. ``locate`` finds programs the package keeps off ``PATH``
    (PostgreSQL's server binaries). Raises :class:`RuntimeError` saying which step failed."""
    find = locate or (lambda: shutil.which(program))
    found = find()
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
    found = find()
    if not found:
        raise RuntimeError(f"apt-get install {package} succeeded but {program} is missing")
    return found
