"""Stopping a server process that tests started: a signal, a bounded wait, then SIGKILL."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["stop_process"]


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 10.0
) -> None:
    """Send ``sig`` and wait up to ``timeout_s``; kill the process if it is still running."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
