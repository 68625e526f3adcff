"""Server processes that tests start: waiting until one answers, stopping it (a signal, a bounded
wait, then SIGKILL)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

__all__ = ["stop_process", "wait_ready"]


def wait_ready(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout_s: float
) -> bool:
    """Poll ``ready`` until it is true (True), or the process exits or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


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
